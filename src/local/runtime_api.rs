//! A Lambda Runtime API (`/2018-06-01/runtime/...`) on 127.0.0.1: hands
//! queued invocations to whichever handler process asks for the next one,
//! and returns each answer (or error) to the caller that queued it.
//!
//! It never starts or kills processes and never interprets payloads.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, oneshot};

use super::quotas;

/// What a handler answered to one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `POST .../{id}/response`: the function's result payload.
    Response(Vec<u8>),
    /// `POST .../{id}/error`: the function reported an error.
    Error { error_type: String, body: Vec<u8> },
}

impl Answer {
    /// A reported error as Lambda's Invoke returns it: the document the
    /// runtime posted (`errorType`, `errorMessage`), or, when that is not
    /// a JSON object, one made of the error type header and the text.
    // https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html#runtimes-api-invokeerror
    pub fn error_document(error_type: &str, body: &[u8]) -> serde_json::Value {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(document @ serde_json::Value::Object(_)) => document,
            _ => serde_json::json!({
                "errorType": error_type,
                "errorMessage": String::from_utf8_lossy(body),
            }),
        }
    }

    /// A reported error in one line: `Handler.Error: what it said`.
    pub fn error_line(error_type: &str, body: &[u8]) -> String {
        let document = Answer::error_document(error_type, body);
        let text = |key: &str| document[key].as_str().unwrap_or_default().to_string();
        match (text("errorType"), text("errorMessage")) {
            (kind, message) if kind.is_empty() => format!("{error_type}: {message}"),
            (kind, message) => format!("{kind}: {message}"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvokeError {
    #[error("the function did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("the runtime API shut down before the function answered")]
    Abandoned,
}

struct Pending {
    request_id: String,
    payload: Vec<u8>,
    deadline_ms: u128,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Pending>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_errors: Mutex<Vec<Vec<u8>>>,
    function_arn: String,
}

/// A running Runtime API server.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts on an ephemeral port of 127.0.0.1.
    pub async fn start(function_arn: &str) -> std::io::Result<RuntimeApi> {
        let shared = Arc::new(Shared {
            function_arn: function_arn.to_string(),
            ..Shared::default()
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(report_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // Handlers address it as 127.0.0.1:PORT; a web page by DNS
        // rebinding could not (host_guard).
        let names = crate::local::host_guard::LocalNames {
            port: addr.port(),
            extra: Vec::new(),
        };
        let app = crate::local::host_guard::guarded(app, names);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            addr,
            shared,
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Queues one invocation and waits for its answer, up to `timeout`.
    pub async fn invoke(
        &self,
        request_id: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Answer, InvokeError> {
        let (sender, receiver) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .expect("lock poisoned")
            .insert(request_id.to_string(), sender);
        let deadline_ms = now_ms() + timeout.as_millis();
        self.shared
            .queue
            .lock()
            .expect("lock poisoned")
            .push_back(Pending {
                request_id: request_id.to_string(),
                payload,
                deadline_ms,
            });
        self.shared.queued.notify_one();
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(InvokeError::Abandoned),
            Err(_) => {
                self.shared
                    .waiting
                    .lock()
                    .expect("lock poisoned")
                    .remove(request_id);
                Err(InvokeError::TimedOut(timeout))
            }
        }
    }

    /// Bodies posted to `/runtime/init/error` so far.
    pub fn init_errors(&self) -> Vec<Vec<u8>> {
        self.shared
            .init_errors
            .lock()
            .expect("lock poisoned")
            .clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let pending = loop {
        // Register interest before checking, so a push between the check
        // and the wait is not missed.
        let notified = shared.queued.notified();
        if let Some(pending) = shared.queue.lock().expect("lock poisoned").pop_front() {
            break pending;
        }
        notified.await;
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", pending.request_id.clone());
    set(
        "lambda-runtime-deadline-ms",
        pending.deadline_ms.to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        shared.function_arn.clone(),
    );
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{}",
            now_ms() / 1000,
            pending.request_id.replace('-', "").get(..24).unwrap_or("0")
        ),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, pending.payload).into_response()
}

fn deliver(shared: &Shared, id: &str, answer: Answer) -> StatusCode {
    match shared.waiting.lock().expect("lock poisoned").remove(id) {
        Some(sender) => {
            let _ = sender.send(answer);
            StatusCode::ACCEPTED
        }
        // Unknown or already timed out: Lambda answers 400 here too.
        None => StatusCode::BAD_REQUEST,
    }
}

/// A response over Lambda's 6 MB (+100 bytes) fails the invocation with
/// `Function.ResponseSizeTooLarge`, as on Lambda, and the runtime client
/// gets 413.
// https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
async fn respond(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Body,
) -> StatusCode {
    match quotas::read_limited(body, quotas::MAX_RESPONSE_BYTES, true).await {
        Ok(payload) => deliver(&shared, &id, Answer::Response(payload)),
        Err(unread) => {
            let detail = match unread {
                quotas::Unread::TooLarge { seen, .. } => format!(
                    "Response payload size ({seen} bytes) exceeded maximum allowed payload size ({} bytes).",
                    quotas::MAX_RESPONSE_BYTES
                ),
                quotas::Unread::Broken(error) => format!("the response broke off: {error}"),
            };
            let error_type = "Function.ResponseSizeTooLarge".to_string();
            let body = serde_json::json!({ "errorType": error_type, "errorMessage": detail });
            deliver(
                &shared,
                &id,
                Answer::Error {
                    error_type,
                    body: body.to_string().into_bytes(),
                },
            );
            StatusCode::PAYLOAD_TOO_LARGE
        }
    }
}

async fn report_error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    // An error report is kept up to the response quota; the rest is cut.
    let body = match quotas::read_limited(body, quotas::MAX_RESPONSE_BYTES, false).await {
        Ok(body) => body,
        Err(_) => b"(the error report was larger than 6 MB)".to_vec(),
    };
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_string();
    deliver(&shared, &id, Answer::Error { error_type, body })
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    shared
        .init_errors
        .lock()
        .expect("lock poisoned")
        .push(body.to_vec());
    StatusCode::ACCEPTED
}
