//! `slx invoke`: one request, shaped exactly as API Gateway would send it
//! (same router and event as `slx dev`), through Lambda's Invoke API on
//! the stage's alias, with the log tail Lambda returns.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::aws::{AwsError, InvokeAnswer, Reader};
use crate::config::Route;
use crate::local::event::{self, GatewayContext, HttpRequest, MatchedRoute};
use crate::local::router;
use crate::names::StageNames;

#[derive(Debug, thiserror::Error, miette::Diagnostic, PartialEq, Eq)]
pub(crate) enum RequestError {
    #[error("{0}")]
    #[diagnostic(
        code(slx::invoke::request),
        help("write the request as \"METHOD /path?query\", e.g. \"POST /orders/42\"")
    )]
    Line(String),
    #[error("no route in slx.toml matches {method} {path}")]
    #[diagnostic(
        code(slx::invoke::no_route),
        help("routes: {routes}; API Gateway would answer 403 Missing Authentication Token")
    )]
    NoRoute {
        method: String,
        path: String,
        routes: String,
    },
    #[error("cannot read the request body from {path}: {reason}")]
    #[diagnostic(code(slx::invoke::data))]
    Data { path: String, reason: String },
    #[error("header `{0}` is not `Name: value`")]
    #[diagnostic(code(slx::invoke::header), help("e.g. -H 'x-api-key: abc'"))]
    Header(String),
}

/// Reads `--data`: inline text, or `@file`.
pub(crate) fn body_of(data: Option<&str>, base: &Path) -> Result<Vec<u8>, RequestError> {
    match data {
        None => Ok(Vec::new()),
        Some(text) => match text.strip_prefix('@') {
            Some(file) => std::fs::read(base.join(file)).map_err(|e| RequestError::Data {
                path: file.to_string(),
                reason: e.to_string(),
            }),
            None => Ok(text.as_bytes().to_vec()),
        },
    }
}

/// The API Gateway event for a request line, body and headers.
pub(crate) fn build_event(
    routes: &[Route],
    line: &str,
    body: Vec<u8>,
    headers: &[String],
    stage: &str,
    request_id: &str,
) -> Result<Value, RequestError> {
    let event::RequestLine {
        method,
        path,
        query,
    } = event::parse_request_line(line).map_err(RequestError::Line)?;
    let Some(matched) = router::find(routes, &method, &path) else {
        return Err(RequestError::NoRoute {
            method,
            path,
            routes: routes.iter().map(Route::key).collect::<Vec<_>>().join(", "),
        });
    };
    let mut pairs = Vec::with_capacity(headers.len());
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| RequestError::Header(header.clone()))?;
        pairs.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let route = MatchedRoute::from(matched);
    let line = event::RequestLine {
        method,
        path,
        query,
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Ok(event_for(
        line, &route, body, &pairs, stage, request_id, now_ms,
    ))
}

/// The event API Gateway sends for a request that reached `route`: slx's
/// host and user agent, JSON content type for a body, then `headers`
/// (lower-case names; each replaces a default of the same name). Pure:
/// the time is given. `slx invoke` and the smoke checks share it.
pub(crate) fn event_for(
    line: event::RequestLine,
    route: &MatchedRoute,
    body: Vec<u8>,
    headers: &[(String, String)],
    stage: &str,
    request_id: &str,
    now_ms: u64,
) -> Value {
    let mut header_pairs = vec![
        ("host".to_string(), "localhost".to_string()),
        (
            "user-agent".to_string(),
            format!("slx/{}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    if !body.is_empty() {
        header_pairs.push(("content-type".into(), "application/json".into()));
    }
    for (name, value) in headers {
        header_pairs.retain(|(n, _)| n != name);
        header_pairs.push((name.clone(), value.clone()));
    }
    let request = HttpRequest {
        method: line.method,
        path: line.path,
        query: line.query,
        headers: header_pairs,
        body,
        source_ip: "127.0.0.1".into(),
    };
    let context = GatewayContext {
        stage: stage.to_string(),
        request_id: request_id.to_string(),
        account_id: String::new(),
        api_id: "slx-invoke".into(),
        time_epoch_ms: now_ms,
    };
    event::rest_event(&request, route, &context)
}

/// Sends `event` to the stage's alias through Lambda's Invoke API.
pub(crate) async fn invoke_alias(
    reader: &Reader,
    names: &StageNames,
    event: &Value,
) -> Result<InvokeAnswer, AwsError> {
    let payload = serde_json::to_vec(event).unwrap_or_default();
    reader.invoke(&names.function, &names.alias, payload).await
}
