//! The local API Gateway of `slx dev`: HTTP on 127.0.0.1 in, API Gateway
//! REST proxy events out to the handler pool, and the proxy responses back
//! as HTTP, with API Gateway's own answers for what never reaches the
//! function (403 for no route, 504 for a timeout, 502 for a crash or a
//! malformed response).

use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

use super::event::{self, GatewayContext, HttpRequest, HttpResponse, MatchedRoute};
use super::pool::{Outcome, Pool};
use super::router;
use super::runtime_api::Answer;
use crate::config::Route;

/// One line per request, for the console.
pub type AccessLog = Arc<dyn Fn(&AccessEntry) + Send + Sync>;

#[derive(Debug, Clone)]
pub struct AccessEntry {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub millis: u128,
    pub request_id: String,
    /// Why API Gateway answered instead of the function, if it did.
    pub note: Option<String>,
}

pub struct GatewayState {
    pub routes: RwLock<Vec<Route>>,
    pub pool: RwLock<Pool>,
    pub stage: String,
    pub access_log: AccessLog,
}

pub fn router(state: Arc<GatewayState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

fn gateway_answer(status: u16, message: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-amzn-errortype".into(), "slx-local".into()),
        ],
        body: serde_json::json!({ "message": message })
            .to_string()
            .into_bytes(),
    }
}

/// What API Gateway answers for an invocation's outcome, and a note when
/// the answer did not come from the function. Shared by `slx dev` and
/// `slx invoke --local`.
pub fn answer_for(outcome: Outcome) -> (HttpResponse, Option<String>) {
    match outcome {
        Outcome::Answered(Answer::Response(payload)) => match event::decode_response(&payload) {
            Ok(decoded) => (decoded, None),
            Err(error) => (
                gateway_answer(502, "Internal server error"),
                Some(error.to_string()),
            ),
        },
        Outcome::Answered(Answer::Error { error_type, body }) => (
            gateway_answer(502, "Internal server error"),
            Some(format!(
                "function error {error_type}: {}",
                String::from_utf8_lossy(&body)
            )),
        ),
        Outcome::TimedOut => (
            gateway_answer(504, "Endpoint request timed out"),
            Some("the function timed out; its process was stopped".into()),
        ),
        Outcome::Crashed(reason) => (
            gateway_answer(502, "Internal server error"),
            Some(format!(
                "the function crashed: {reason}; a new process serves the next request"
            )),
        ),
    }
}

/// The answer to a request no route serves (path or method).
pub fn no_route() -> HttpResponse {
    gateway_answer(403, "Missing Authentication Token")
}

fn to_http(answer: HttpResponse) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

async fn handle(
    State(state): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let path = uri.path().to_string();
    let query = event::parse_query(uri.query().unwrap_or(""));
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let matched = {
        let routes = state.routes.read().expect("lock poisoned");
        router::find(&routes, method.as_str(), &path).map(|m| MatchedRoute {
            resource: m.resource,
            path_parameters: m.path_parameters,
        })
    };
    let (answer, note) = match matched {
        // API Gateway's answer to a path or method it has no route for.
        None => (no_route(), Some("no route".to_string())),
        Some(route) => {
            let request = HttpRequest {
                method: method.to_string(),
                path: path.clone(),
                query,
                headers: header_pairs,
                body: body.to_vec(),
                source_ip: peer.ip().to_string(),
            };
            let context = GatewayContext {
                stage: state.stage.clone(),
                request_id: request_id.clone(),
                account_id: "000000000000".into(),
                api_id: "local".into(),
                time_epoch_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            };
            let payload = serde_json::to_vec(&event::rest_event(&request, &route, &context))
                .unwrap_or_default();
            let pool = state.pool.read().expect("lock poisoned").clone();
            answer_for(pool.invoke(&request_id, payload).await)
        }
    };
    let response = to_http(answer);
    (state.access_log)(&AccessEntry {
        method: method.to_string(),
        path,
        status: response.status().as_u16(),
        millis: started.elapsed().as_millis(),
        request_id,
        note,
    });
    response
}
