//! slx-sim: a seeded simulator of what real AWS does, in front of moto.
//!
//! moto stores what is provisioned but answers at once, accepts a role
//! the moment it exists, reports every function Active, has no rate
//! limits, never fails, and cannot run a function without Docker. Real AWS
//! does all of that. The simulator forwards every request to moto and, as
//! configured in `Behaviours`, adds per-call latency, IAM role
//! propagation, Lambda's Pending / InProgress states and the conflicts
//! they cause, API Gateway's control-plane quotas, random 5xx answers,
//! connection resets, slow answers, lost responses and explicit faults,
//! S3's checks on a bucket's notification configuration (each Lambda
//! destination must allow S3 first; no overlapping rules), and answers
//! Lambda `Invoke` by running the deployed `bootstrap`.
//!
//! Used by slx's tests (in process, `Simulator::start`), by the
//! benchmarks and the demo (the `slx-sim` binary). Its control API:
//! `GET /_sim/events`, `GET|POST /_sim/behaviours`.

mod behaviours;
mod bucket_notifications;
mod interfaces;
mod invoke;
mod live_tail;
mod proxy;
mod recorder;
mod request;
mod rng;
mod world;

use std::sync::Arc;

pub use behaviours::{Behaviours, Fault, Latency};
use hyper_util::rt::TokioIo;
pub use invoke::runner;
pub use proxy::Event;
use proxy::Shared;

/// A running simulator: its own thread and runtime, so that tests that
/// block on a child process do not stall it. Stops when dropped.
pub struct Simulator {
    /// `http://127.0.0.1:PORT`: point `AWS_ENDPOINT_URL` here.
    pub endpoint: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Simulator {
    /// Starts a simulator in front of `upstream` (moto's endpoint) on a
    /// free loopback port (or `port`).
    pub fn start(upstream: &str, behaviours: Behaviours) -> std::io::Result<Simulator> {
        Simulator::start_on(upstream, behaviours, 0)
    }

    pub fn start_on(
        upstream: &str,
        behaviours: Behaviours,
        port: u16,
    ) -> std::io::Result<Simulator> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let endpoint = format!("http://{address}");
        let recorder = recorder::Recorder::from_env(address.port());
        let shared = Arc::new(Shared::new(upstream, behaviours, recorder));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let serving = shared.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("slx-sim".into())
            .spawn(move || runtime.block_on(serve(listener, serving, stopped)))?;
        Ok(Simulator {
            endpoint,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Every request handled so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.shared
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `OPERATION → outcome` of each request not simply forwarded.
    pub fn injected(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e.outcome != "forwarded" && e.outcome != "invoked")
            .map(|e| format!("{} → {}", e.operation, e.outcome))
            .collect()
    }

    /// Explicit faults not yet used up.
    pub fn faults_remaining(&self) -> usize {
        self.shared
            .behaviours
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .faults
            .iter()
            .map(|f| f.times)
            .sum()
    }

    /// Waits until no request is being handled (a request whose client
    /// went away is still carried out and recorded), for up to `within`;
    /// whether it came to rest.
    pub fn wait_idle(&self, within: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        while self
            .shared
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
        {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        true
    }

    /// Waits until every request being handled is a held one (the rest
    /// answered: a killed client's requests whose bytes had all arrived
    /// included, admitted under the behaviours of now), steadily for
    /// 25 ms, for up to `within`; whether it did. A test that kills a
    /// client at a held write waits for this before changing the
    /// behaviours, so that no request of the dead client is admitted
    /// under the new ones.
    pub fn wait_settled(&self, within: std::time::Duration) -> bool {
        let load = |count: &std::sync::atomic::AtomicUsize| {
            count.load(std::sync::atomic::Ordering::SeqCst)
        };
        let deadline = std::time::Instant::now() + within;
        let mut steady_since = None;
        loop {
            let now = std::time::Instant::now();
            if load(&self.shared.in_flight) == load(&self.shared.held) {
                let since = *steady_since.get_or_insert(now);
                if now - since >= std::time::Duration::from_millis(25) {
                    return true;
                }
            } else {
                steady_since = None;
            }
            if now > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Replaces the behaviours (and reseeds).
    pub fn set_behaviours(&self, behaviours: Behaviours) {
        self.shared.set_behaviours(behaviours);
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    // Each request is handled in a task of its own: as on
                    // AWS, a client that goes away (killed, timed out)
                    // does not stop what it asked for.
                    let service = hyper::service::service_fn(move |request| {
                        let handling = tokio::spawn(proxy::handle(shared.clone(), request));
                        async move { handling.await.unwrap_or(Err(proxy::Dropped)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}
