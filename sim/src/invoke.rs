//! Lambda `Invoke`, answered by running the invoked version's real code:
//! moto cannot run a function without Docker, so the simulator keeps every
//! zip that passes through it (by CodeSha256) and, for an Invoke, starts
//! that version's `bootstrap` with its environment against a Lambda
//! Runtime API of its own, as Lambda does. Environments stay warm and are
//! reused one invocation at a time, per version.
//!
//! Answers as Lambda does: status 200 with the function's payload;
//! `X-Amz-Function-Error: Unhandled` and an error document when the
//! function reports an error, crashes or times out; `X-Amz-Executed-Version`;
//! the last 4 KB of the log in `X-Amz-Log-Result` for `LogType: Tail`.
//! <https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html>
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot, watch};

/// Lambda's synchronous payload limit, request and response.
pub(crate) const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// How much of the log `LogType: Tail` returns.
const TAIL_BYTES: usize = 4096;

/// What the function's configuration says, as `GetFunction` reports it.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub(crate) function_name: String,
    pub(crate) function_arn: String,
    pub(crate) version: String,
    pub(crate) code_sha256: String,
    pub(crate) timeout: Duration,
    pub(crate) memory_mb: u64,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) region: String,
}

impl Version {
    /// From a `GetFunction` answer.
    pub(crate) fn from_get_function(answer: &serde_json::Value, region: &str) -> Option<Version> {
        let config = &answer["Configuration"];
        Some(Version {
            function_name: config["FunctionName"].as_str()?.to_string(),
            function_arn: config["FunctionArn"].as_str()?.to_string(),
            version: config["Version"].as_str().unwrap_or("$LATEST").to_string(),
            code_sha256: config["CodeSha256"].as_str()?.to_string(),
            timeout: Duration::from_secs(config["Timeout"].as_u64().unwrap_or(3)),
            memory_mb: config["MemorySize"].as_u64().unwrap_or(128),
            env: config["Environment"]["Variables"]
                .as_object()
                .map(|vars| {
                    vars.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            region: region.to_string(),
        })
    }
}

/// What one invocation produced.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) payload: Bytes,
    /// `Unhandled` when the function failed.
    pub(crate) function_error: Option<&'static str>,
    pub(crate) executed_version: String,
    pub(crate) request_id: String,
    /// START, the function's lines, END, REPORT.
    pub(crate) log: Vec<String>,
}

impl Answer {
    /// The `X-Amz-Log-Result` header: base64 of the log's last 4 KB.
    pub(crate) fn log_tail(&self) -> String {
        let text = self.log.join("\n") + "\n";
        let bytes = text.as_bytes();
        let tail = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        base64::engine::general_purpose::STANDARD.encode(tail)
    }
}

enum Outcome {
    Response(Bytes),
    Error(Bytes),
}

struct Invocation {
    id: String,
    payload: Bytes,
    deadline_ms: u128,
    function_arn: String,
}

/// The Runtime API one environment's process talks to.
struct RuntimeState {
    next: AsyncMutex<mpsc::Receiver<Invocation>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Bytes>>,
}

/// One warm execution environment: a running bootstrap.
struct Environment {
    send: mpsc::Sender<Invocation>,
    runtime: Arc<RuntimeState>,
    exited: watch::Receiver<bool>,
    log: Arc<Mutex<Vec<String>>>,
    child_stop: Option<oneshot::Sender<()>>,
}

impl Drop for Environment {
    fn drop(&mut self) {
        if let Some(stop) = self.child_stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Every environment, by (function, version, code).
#[derive(Default)]
pub(crate) struct Invoker {
    idle: Mutex<HashMap<(String, String, String), Vec<Environment>>>,
    dir: Mutex<Option<tempfile::TempDir>>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The ELF machine of a binary: 0x3E x86-64, 0xB7 aarch64.
fn elf_machine(binary: &[u8]) -> Option<u16> {
    (binary.len() > 20 && binary.starts_with(b"\x7fELF"))
        .then(|| u16::from_le_bytes([binary[18], binary[19]]))
}

fn unzip_bootstrap(zip: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| format!("bad zip: {e}"))?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|_| "the zip has no bootstrap".to_string())?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read bootstrap: {e}"))?;
    Ok(bytes)
}

impl Invoker {
    /// Runs `payload` through `version`, whose zip is `zip`.
    pub(crate) async fn invoke(
        &self,
        version: &Version,
        zip: &[u8],
        payload: Bytes,
    ) -> Result<Answer, String> {
        let key = (
            version.function_name.clone(),
            version.version.clone(),
            version.code_sha256.clone(),
        );
        let reused = self
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&key)
            .and_then(Vec::pop);
        let mut environment = match reused {
            Some(environment) if !*environment.exited.borrow() => environment,
            _ => self.start(version, zip).await?,
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        environment
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let started = Instant::now();
        let (done, outcome) = oneshot::channel();
        environment
            .runtime
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id.clone(), done);
        let invocation = Invocation {
            id: request_id.clone(),
            payload,
            deadline_ms: now_ms() + version.timeout.as_millis(),
            function_arn: version.function_arn.clone(),
        };
        let _ = environment.send.send(invocation).await;
        let mut exited = environment.exited.clone();
        let result = tokio::select! {
            outcome = outcome => outcome.ok(),
            _ = exited.wait_for(|gone| *gone) => None,
            _ = tokio::time::sleep(version.timeout) => {
                let seconds = version.timeout.as_secs_f64();
                let answer = self.finish(&mut environment, version, &request_id, started, Some(
                    Outcome::Error(Bytes::from(serde_json::json!({
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": format!("RequestId: {request_id} Error: Task timed out after {seconds:.2} seconds"),
                    }).to_string())),
                ), Some(format!("{} {request_id} Task timed out after {seconds:.2} seconds", timestamp())));
                // A timed-out environment is not reused.
                return Ok(answer);
            }
        };
        let crashed = result.is_none();
        let init_error = environment
            .runtime
            .init_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let outcome = result.or_else(|| {
            let body = init_error.unwrap_or_else(|| {
                Bytes::from(
                    serde_json::json!({
                        "errorType": "Runtime.ExitError",
                        "errorMessage": format!("RequestId: {request_id} Error: Runtime exited without providing a reason"),
                    })
                    .to_string(),
                )
            });
            Some(Outcome::Error(body))
        });
        settle_log(&environment.log).await;
        let answer = self.finish(
            &mut environment,
            version,
            &request_id,
            started,
            outcome,
            None,
        );
        if !crashed {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_default()
                .push(environment);
        }
        Ok(answer)
    }

    fn finish(
        &self,
        environment: &mut Environment,
        version: &Version,
        request_id: &str,
        started: Instant,
        outcome: Option<Outcome>,
        extra_line: Option<String>,
    ) -> Answer {
        let took = started.elapsed().as_secs_f64() * 1000.0;
        let mut log = vec![format!(
            "START RequestId: {request_id} Version: {}",
            version.version
        )];
        log.extend(
            environment
                .log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..),
        );
        log.extend(extra_line);
        log.push(format!("END RequestId: {request_id}"));
        log.push(format!(
            "REPORT RequestId: {request_id}\tDuration: {took:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            took.ceil() as u64,
            version.memory_mb,
            version.memory_mb.min(64),
        ));
        let (payload, function_error) = match outcome {
            Some(Outcome::Response(body)) => (body, None),
            Some(Outcome::Error(body)) if !body.is_empty() => (body, Some("Unhandled")),
            _ => (Bytes::from_static(b"null"), Some("Unhandled")),
        };
        Answer {
            payload,
            function_error,
            executed_version: version.version.clone(),
            request_id: request_id.to_string(),
            log,
        }
    }

    fn bootstrap_path(&self, version: &Version, zip: &[u8]) -> Result<(PathBuf, bool), String> {
        let binary = unzip_bootstrap(zip)?;
        let arm = elf_machine(&binary) == Some(0xB7);
        let mut dir = self.dir.lock().unwrap_or_else(|p| p.into_inner());
        if dir.is_none() {
            *dir = Some(tempfile::tempdir().map_err(|e| e.to_string())?);
        }
        let hex: String = version
            .code_sha256
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        let path = dir
            .as_ref()
            .map(|d| d.path().join(hex))
            .ok_or("no work directory")?;
        let bootstrap = path.join("bootstrap");
        if !bootstrap.exists() {
            std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
            let partial = path.join("bootstrap.partial");
            std::fs::write(&partial, &binary).map_err(|e| e.to_string())?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
            std::fs::rename(&partial, &bootstrap).map_err(|e| e.to_string())?;
        }
        Ok((bootstrap, arm))
    }

    /// Starts an environment: the Runtime API, then the bootstrap.
    async fn start(&self, version: &Version, zip: &[u8]) -> Result<Environment, String> {
        let (bootstrap, arm) = self.bootstrap_path(version, zip)?;
        let (send, receive) = mpsc::channel(1);
        let runtime = Arc::new(RuntimeState {
            next: AsyncMutex::new(receive),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_fail))
            .with_state(runtime.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let (child_stop, stop) = oneshot::channel::<()>();
        let mut command = command_for(&bootstrap, arm);
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &version.function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", &version.version)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                version.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", version.function_name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream(&version.version))
            .env("AWS_REGION", &version.region)
            .env("AWS_DEFAULT_REGION", &version.region)
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env(
                "LAMBDA_TASK_ROOT",
                bootstrap.parent().unwrap_or(Path::new("/")),
            )
            .env("TZ", ":UTC")
            .envs(version.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bootstrap.display()))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        let (exited_send, exited) = watch::channel(false);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        tokio::spawn(async move {
            tokio::select! {
                _ = child.wait() => {}
                _ = stop => { let _ = child.kill().await; }
            }
            let _ = exited_send.send(true);
            server.abort();
        });
        Ok(Environment {
            send,
            runtime,
            exited,
            log,
            child_stop: Some(child_stop),
        })
    }
}

/// The bootstrap, under qemu-user when its architecture is not the host's.
fn command_for(bootstrap: &Path, arm: bool) -> tokio::process::Command {
    let (program, args) = runner(bootstrap, arm);
    let mut command = tokio::process::Command::new(program);
    command.args(args);
    command
}

/// How to run a Lambda `bootstrap` (arm64 when `arm`, else x86_64) on
/// this machine: directly on a host of its architecture, else under
/// qemu-user with the Debian cross glibc as its sysroot. No architecture
/// is assumed for the host (the suite runs on x86_64 and aarch64 alike).
pub fn runner(bootstrap: &Path, arm: bool) -> (std::ffi::OsString, Vec<std::ffi::OsString>) {
    let target = if arm { "aarch64" } else { "x86_64" };
    if std::env::consts::ARCH == target {
        return (bootstrap.as_os_str().to_owned(), Vec::new());
    }
    (
        format!("qemu-{target}").into(),
        vec![
            "-L".into(),
            format!("/usr/{target}-linux-gnu").into(),
            bootstrap.as_os_str().to_owned(),
        ],
    )
}

/// Waits until the function's output pipes are read up to what it wrote
/// before it answered: other tasks read them, and Lambda's log tail holds
/// every line written before the response. Done when no line arrives for
/// 25 ms (at most 500 ms).
async fn settle_log(log: &Mutex<Vec<String>>) {
    let lines = || log.lock().unwrap_or_else(|p| p.into_inner()).len();
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut seen = lines();
    loop {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let now = lines();
        if now == seen || Instant::now() > deadline {
            return;
        }
        seen = now;
    }
}

/// `2026/11/27/[3]0123abcd...`: Lambda's log stream naming.
pub(crate) fn log_stream(version: &str) -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}/{month:02}/{day:02}/[{version}]{}",
        uuid::Uuid::new_v4().simple()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn timestamp() -> String {
    let ms = now_ms();
    let secs = (ms / 1000) as i64;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        ms % 1000
    )
}

async fn next(State(runtime): State<Arc<RuntimeState>>) -> Response {
    let invocation = runtime.next.lock().await.recv().await;
    let Some(invocation) = invocation else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    };
    put("lambda-runtime-aws-request-id", invocation.id);
    put(
        "lambda-runtime-deadline-ms",
        invocation.deadline_ms.to_string(),
    );
    put(
        "lambda-runtime-invoked-function-arn",
        invocation.function_arn,
    );
    put(
        "lambda-runtime-trace-id",
        // X-Ray's trace id: version 1, the time in hex, 96 random bits.
        // https://docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html#xray-api-traceids
        format!(
            "Root=1-{:08x}-{};Parent={};Sampled=1",
            now_ms() / 1000,
            &uuid::Uuid::new_v4().simple().to_string()[..24],
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        ),
    );
    (StatusCode::OK, headers, invocation.payload).into_response()
}

fn settle(runtime: &RuntimeState, id: &str, outcome: Outcome) -> StatusCode {
    match runtime
        .waiting
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id)
    {
        Some(waiting) => {
            let _ = waiting.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn respond(
    State(runtime): State<Arc<RuntimeState>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    if body.len() > PAYLOAD_LIMIT {
        let error = serde_json::json!({
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({PAYLOAD_LIMIT} bytes)."),
        });
        return settle(
            &runtime,
            &id,
            Outcome::Error(Bytes::from(error.to_string())),
        );
    }
    settle(&runtime, &id, Outcome::Response(body))
}

async fn fail(
    State(runtime): State<Arc<RuntimeState>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    settle(&runtime, &id, Outcome::Error(body))
}

async fn init_fail(State(runtime): State<Arc<RuntimeState>>, body: Bytes) -> StatusCode {
    *runtime.init_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(body);
    StatusCode::ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_for_log_streams() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_419), (2025, 11, 27));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert!(log_stream("3").contains("/[3]"));
    }

    #[test]
    fn the_log_tail_is_the_last_4_kb() {
        let answer = Answer {
            payload: Bytes::new(),
            function_error: None,
            executed_version: "1".into(),
            request_id: "r".into(),
            log: vec!["x".repeat(5000), "END".into()],
        };
        let tail = base64::engine::general_purpose::STANDARD
            .decode(answer.log_tail())
            .unwrap();
        assert_eq!(tail.len(), TAIL_BYTES);
        assert!(tail.ends_with(b"END\n"));
    }
}
