//! `slx invoke`: one request, shaped exactly as API Gateway would send it
//! (same router and event as `slx dev`), or one event of an event
//! handler's source (S3, SQS, a schedule), through Lambda's Invoke API on
//! the stage's alias, with the log tail Lambda returns.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::aws::{AwsError, InvokeAnswer, Reader};
use crate::config::{EventFunction, EventSource, Route, S3EventKind};
use crate::contract::proxy::{self, GatewayContext, HttpRequest, MatchedRoute};
use crate::contract::routes;
use crate::contract::source_events::{self, Origin};
use crate::names::{StageArns, StageNames};

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
    #[error("{problem}")]
    #[diagnostic(code(slx::invoke::event), help("{help}"))]
    EventFlags { problem: String, help: String },
    #[error("cannot read the event from {path}: {reason}")]
    #[diagnostic(
        code(slx::invoke::event_file),
        help("the file holds the whole event as JSON, as Lambda would receive it")
    )]
    EventFile { path: String, reason: String },
}

/// The event `handler`'s source would send, from `slx invoke`'s flags:
/// `--event FILE` as it is; else S3: an object created (or, for a
/// handler of removals only, removed) at `--s3-key`, with `--data` as its
/// content; SQS: one message per `--data`; a schedule: a run due now.
pub(crate) fn source_event(
    handler: &EventFunction,
    arns: &StageArns,
    s3_key: Option<&str>,
    data: &[Vec<u8>],
    event_file: Option<&Path>,
    request_id: &str,
    now_ms: u64,
) -> Result<Value, RequestError> {
    if let Some(path) = event_file {
        let text = std::fs::read(path).map_err(|e| RequestError::EventFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        return serde_json::from_slice(&text).map_err(|e| RequestError::EventFile {
            path: path.display().to_string(),
            reason: format!("not JSON: {e}"),
        });
    }
    let name = &handler.handler.name;
    let flags = |problem: String, help: &str| RequestError::EventFlags {
        problem,
        help: help.to_string(),
    };
    let origin = Origin {
        arns,
        now_ms,
        id: request_id,
    };
    match &handler.handler.source {
        EventSource::S3(source) => {
            let Some(key) = s3_key else {
                return Err(flags(
                    format!("`{name}` is an S3 handler: its event names an object"),
                    "add `--s3-key incoming/photo.jpg` (and `--data @file` for the object's content)",
                ));
            };
            if data.len() > 1 {
                return Err(flags(
                    "an S3 event names one object: give `--data` once".into(),
                    "`--data @photo.jpg` is the object's content",
                ));
            }
            let kind = if source.events.contains(&S3EventKind::Created) {
                S3EventKind::Created
            } else {
                S3EventKind::Removed
            };
            let content = data.first().map_or(&[][..], Vec::as_slice);
            Ok(source_events::s3_event(
                source, name, key, content, kind, &origin,
            ))
        }
        EventSource::Sqs(source) => {
            if s3_key.is_some() {
                return Err(flags(
                    format!("`{name}` is a queue handler; `--s3-key` is for S3 handlers"),
                    "give each message's body with `--data`",
                ));
            }
            if data.is_empty() {
                return Err(flags(
                    format!("`{name}` is a queue handler: its event carries messages"),
                    "add `--data '{\"job\": \"resize\"}'`, once per message of the batch",
                ));
            }
            let bodies: Vec<String> = data
                .iter()
                .map(|body| String::from_utf8_lossy(body).into_owned())
                .collect();
            Ok(source_events::sqs_event(source, &bodies, &origin))
        }
        EventSource::Schedule(source) => {
            if s3_key.is_some() || !data.is_empty() {
                return Err(flags(
                    format!(
                        "`{name}` runs on a schedule; its event takes no `--s3-key` or `--data`"
                    ),
                    "its input is slx.toml's `input`; or give a whole event with `--event FILE`",
                ));
            }
            Ok(source_events::schedule_event(source, name, &origin))
        }
        EventSource::Authorizer(source) => {
            if s3_key.is_some() || data.len() > 1 {
                return Err(flags(
                    format!("`{name}` is an authorizer: its event carries one token"),
                    "give the token with `--data` (it arrives in its header)",
                ));
            }
            let token = data
                .first()
                .map(|token| String::from_utf8_lossy(token).into_owned())
                .unwrap_or_default();
            let call = source_events::AuthorizedCall {
                api_id: "invoke".into(),
                method: "GET".into(),
                path: "/".into(),
                resource: "/".into(),
                headers: vec![(source.header.clone(), token)],
                query: vec![],
                source_ip: "127.0.0.1".into(),
            };
            Ok(source_events::authorizer_event(source, &call, &origin))
        }
    }
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
    project: &crate::config::Project,
    line: &str,
    body: Vec<u8>,
    headers: &[String],
    request_id: &str,
) -> Result<Value, RequestError> {
    let (routes, stage) = (&project.routes, &project.stage);
    let proxy::RequestLine {
        method,
        path,
        query,
    } = proxy::parse_request_line(line).map_err(RequestError::Line)?;
    let Some(matched) = routes::find(routes, &method, &path) else {
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
    let route = MatchedRoute::new(matched, &project.binary_media());
    let line = proxy::RequestLine {
        method,
        path,
        query,
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // Through the stage's custom domain when it maps the API under a
    // base path: what callers of the stage send.
    let mapped = proxy::MappedDomain::of(project.domain.as_ref());
    Ok(event_for(
        line, &route, body, &pairs, stage, request_id, now_ms, mapped,
    ))
}

/// The event API Gateway sends for a request that reached `route`: slx's
/// host and user agent, JSON content type for a body, then `headers`
/// (lower-case names; each replaces a default of the same name). Pure:
/// the time is given. `slx invoke` and the smoke checks share it.
#[allow(clippy::too_many_arguments)] // each is one fact of the event
pub(crate) fn event_for(
    line: proxy::RequestLine,
    route: &MatchedRoute,
    body: Vec<u8>,
    headers: &[(String, String)],
    stage: &str,
    request_id: &str,
    now_ms: u64,
    mapped: Option<proxy::MappedDomain>,
) -> Value {
    let host = mapped
        .as_ref()
        .map_or_else(|| "localhost".to_string(), |m| m.domain.clone());
    let mut header_pairs = vec![
        ("host".to_string(), host),
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
        mapped,
    };
    proxy::rest_event(&request, route, &context)
}

/// Sends `event` to the stage's alias through Lambda's Invoke API: of
/// the HTTP function, or of event handler `handler`'s function.
pub(crate) async fn invoke_alias(
    reader: &Reader,
    names: &StageNames,
    handler: Option<&str>,
    event: &Value,
) -> Result<InvokeAnswer, AwsError> {
    let payload = serde_json::to_vec(event).unwrap_or_default();
    let function = handler.map_or_else(|| names.function.clone(), |h| names.event_function(h));
    reader.invoke(&function, &names.alias, payload).await
}
