//! Handler processes for `slx dev`, with Lambda's semantics: one
//! invocation at a time per process, more processes for concurrent
//! requests (up to a limit), the function timeout enforced by killing the
//! process, a crashed process replaced by a fresh one on the next request.
//!
//! Each process gets its own Runtime API, so the pool always knows which
//! process serves which request. Processes' output is passed to a sink,
//! line by line, tagged with the request id they are serving.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

use super::runtime_api::{Answer, InvokeError, RuntimeApi};

/// Receives each line a handler process prints: (request id, line).
pub type LogSink = Arc<dyn Fn(Option<&str>, &str) + Send + Sync>;

/// How to start handler processes.
#[derive(Clone)]
pub struct PoolConfig {
    /// The environment of every process (Lambda's variables and `[env]`).
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub concurrency: usize,
    pub function_arn: String,
    pub sink: LogSink,
}

/// What became of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Answered(Answer),
    /// The function ran past its timeout; its process was killed.
    TimedOut,
    /// The process died (or could not start); the detail says how.
    Crashed(String),
}

struct Worker {
    generation: u64,
    child: Child,
    api: RuntimeApi,
    serving: Arc<Mutex<Option<String>>>,
    /// The tasks passing its stdout and stderr to the sink.
    forwarders: Vec<tokio::task::JoinHandle<()>>,
}

impl Worker {
    /// Kills the process and waits until what it printed has reached the
    /// sink (its pipes at end of file). A process's own child may hold a
    /// pipe open: never more than a moment.
    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        for forwarder in self.forwarders {
            let _ = tokio::time::timeout(Duration::from_secs(2), forwarder).await;
        }
    }
}

struct Shared {
    config: PoolConfig,
    /// (generation, binary): a reload bumps the generation.
    binary: Mutex<(u64, PathBuf)>,
    idle: Mutex<Vec<Worker>>,
    slots: Semaphore,
}

/// A pool of handler processes running one binary.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl Pool {
    pub fn new(binary: PathBuf, config: PoolConfig) -> Pool {
        let slots = Semaphore::new(config.concurrency.max(1));
        Pool {
            shared: Arc::new(Shared {
                config,
                binary: Mutex::new((0, binary)),
                idle: Mutex::new(Vec::new()),
                slots,
            }),
        }
    }

    /// Starts a process ahead of the first request (a cold start paid at
    /// start-up, not by the first caller).
    pub async fn warm(&self) -> Result<(), String> {
        let worker = self.spawn().await?;
        self.shared.idle.lock().expect("lock poisoned").push(worker);
        Ok(())
    }

    /// Runs one invocation on a free process.
    pub async fn invoke(&self, request_id: &str, payload: Vec<u8>) -> Outcome {
        let Ok(_slot) = self.shared.slots.acquire().await else {
            return Outcome::Crashed("the pool is shut down".into());
        };
        let mut worker = match self.take_idle() {
            Some(worker) => worker,
            None => match self.spawn().await {
                Ok(worker) => worker,
                Err(reason) => return Outcome::Crashed(reason),
            },
        };
        *worker.serving.lock().expect("lock poisoned") = Some(request_id.to_string());
        let timeout = self.shared.config.timeout;
        let outcome = tokio::select! {
            answer = worker.api.invoke(request_id, payload, timeout) => match answer {
                Ok(answer) => Outcome::Answered(answer),
                Err(InvokeError::TimedOut(_)) => Outcome::TimedOut,
                Err(InvokeError::Abandoned) => Outcome::Crashed("the runtime API stopped".into()),
            },
            status = worker.child.wait() => Outcome::Crashed(match status {
                Ok(status) => format!("the process exited ({status})"),
                Err(error) => format!("the process could not be awaited: {error}"),
            }),
        };
        // `serving` keeps this request's id until the next invocation: the
        // process's last lines (printed before it answered or crashed) may
        // still be in the pipe, and belong to this request.
        match outcome {
            Outcome::Answered(_) => self.release(worker),
            // A timed-out or crashed process is never reused; its last
            // lines (a panic's message) are this request's.
            _ => worker.stop().await,
        }
        outcome
    }

    /// Stops every idle process, with all they printed passed to the
    /// sink: a one-shot run (`slx invoke --local`) reads its log tail
    /// after this, as lines printed before the answer may still be in
    /// the pipe when the answer arrives.
    pub async fn shutdown(&self) {
        let idle = std::mem::take(&mut *self.shared.idle.lock().expect("lock poisoned"));
        for worker in idle {
            worker.stop().await;
        }
    }

    fn take_idle(&self) -> Option<Worker> {
        let generation = self.shared.binary.lock().expect("lock poisoned").0;
        let mut idle = self.shared.idle.lock().expect("lock poisoned");
        while let Some(mut worker) = idle.pop() {
            if worker.generation == generation {
                return Some(worker);
            }
            let _ = worker.child.start_kill();
        }
        None
    }

    fn release(&self, mut worker: Worker) {
        let generation = self.shared.binary.lock().expect("lock poisoned").0;
        if worker.generation == generation {
            self.shared.idle.lock().expect("lock poisoned").push(worker);
        } else {
            let _ = worker.child.start_kill();
        }
    }

    async fn spawn(&self) -> Result<Worker, String> {
        let (generation, binary) = self.shared.binary.lock().expect("lock poisoned").clone();
        let config = &self.shared.config;
        let api = RuntimeApi::start(&config.function_arn)
            .await
            .map_err(|e| format!("cannot start a runtime API: {e}"))?;
        let mut child = Command::new(&binary)
            .env_clear()
            .envs(config.env.iter().cloned())
            .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let serving = Arc::new(Mutex::new(None));
        let mut forwarders = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            forwarders.push(forward(stdout, serving.clone(), config.sink.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            forwarders.push(forward(stderr, serving.clone(), config.sink.clone()));
        }
        Ok(Worker {
            generation,
            child,
            api,
            serving,
            forwarders,
        })
    }
}

fn forward(
    stream: impl AsyncRead + Unpin + Send + 'static,
    serving: Arc<Mutex<Option<String>>>,
    sink: LogSink,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let id = serving.lock().expect("lock poisoned").clone();
            sink(id.as_deref(), &line);
        }
    })
}
