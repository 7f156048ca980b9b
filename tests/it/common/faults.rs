//! A fault-injecting HTTP proxy in front of moto: it forwards every AWS
//! request, except that requests matching a rule get a fabricated AWS
//! error instead, a given number of times. Deploys go through it to prove
//! that throttling and conflicts are retried and that a failed step is
//! completed by the next deploy.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Answer `times` requests whose method matches and whose URL path ends
/// with `url_part` (or whose body or `X-Amz-Target` contains it) with
/// `status` and an AWS error `code`.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub method: &'static str,
    pub url_part: &'static str,
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
    pub times: usize,
}

struct Shared {
    upstream: String,
    faults: Mutex<Vec<Fault>>,
    injected: Mutex<Vec<String>>,
}

pub(crate) struct FaultyProxy {
    pub endpoint: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FaultyProxy {
    pub(crate) async fn start(upstream: &str, faults: Vec<Fault>) -> FaultyProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            faults: Mutex::new(faults),
            injected: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultyProxy {
            endpoint,
            shared,
            server,
        }
    }

    /// `METHOD url → code` for each fabricated error, in order.
    pub(crate) fn injected(&self) -> Vec<String> {
        self.shared.injected.lock().unwrap().clone()
    }

    /// Faults not yet used up.
    pub(crate) fn remaining(&self) -> usize {
        self.shared
            .faults
            .lock()
            .unwrap()
            .iter()
            .map(|f| f.times)
            .sum()
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let url = format!(
        "{}{}",
        shared.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let path = uri.path().to_string();
    let text = String::from_utf8_lossy(&body).into_owned();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let fault = {
        let mut faults = shared.faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|f| {
                f.times > 0
                    && f.method == method.as_str()
                    && (path.ends_with(f.url_part)
                        || text.contains(f.url_part)
                        || target.contains(f.url_part))
            })
            .map(|f| {
                f.times -= 1;
                f.clone()
            })
    };
    if let Some(fault) = fault {
        shared
            .injected
            .lock()
            .unwrap()
            .push(format!("{method} {url} → {}", fault.code));
        let body = serde_json::json!({ "__type": fault.code, "message": fault.message, "Message": fault.message }).to_string();
        return (
            StatusCode::from_u16(fault.status).unwrap(),
            [
                ("x-amzn-errortype", fault.code),
                ("content-type", "application/json"),
            ],
            body,
        )
            .into_response();
    }
    let forwarded = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(&url);
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        let request = request.body(body.to_vec()).unwrap();
        let mut response = agent.run(request).unwrap();
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let bytes = response.body_mut().read_to_vec().unwrap_or_default();
        (status, headers, bytes)
    })
    .await
    .unwrap();
    let (status, response_headers, bytes) = forwarded;
    let mut response = Response::new(axum::body::Body::from(bytes));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    for (name, value) in response_headers {
        if name == "content-length" || name == "transfer-encoding" || name == "connection" {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::try_from(name),
            axum::http::HeaderValue::try_from(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}
