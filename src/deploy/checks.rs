//! Smoke checks (`[[checks]]` in slx.toml): each check's request, shaped
//! as API Gateway would send it, goes to one version of the function (the
//! new one before the stage alias moves to it, or the alias afterwards)
//! and the answer is judged against what the check expects.
//!
//! Planning and judging are pure; only `run` calls AWS, through the
//! `Reader` (an Invoke changes nothing the stage serves). Never moves an
//! alias: the caller decides what a verdict means.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::aws::{Backoff, ErrorClass, InvokeAnswer, Reader, retry};
use crate::config::{Check, Project};
use crate::contract::proxy::{self, HttpResponse, MatchedRoute, RequestLine};
use crate::contract::routes;
use crate::names::StageNames;

/// A check with its request parsed and the route it reaches, resolved
/// when planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PlannedCheck {
    #[serde(flatten)]
    pub(crate) check: Check,
    #[serde(skip)]
    pub(crate) line: RequestLine,
    #[serde(skip)]
    pub(crate) route: MatchedRoute,
}

/// The project's checks with their routes (validation guarantees each
/// request parses and reaches one).
pub(crate) fn plan(project: &Project) -> Vec<PlannedCheck> {
    project
        .checks
        .iter()
        .filter_map(|check| {
            let line = proxy::parse_request_line(&check.request).ok()?;
            let matched = routes::find(&project.routes, &line.method, &line.path)?;
            Some(PlannedCheck {
                check: check.clone(),
                route: MatchedRoute::new(matched, &project.binary_media()),
                line,
            })
        })
        .collect()
}

/// The API Gateway event for `planned` (pure: the time is given), as
/// `slx invoke` builds it.
pub(crate) fn event(planned: &PlannedCheck, stage: &str, request_id: &str, now_ms: u64) -> Value {
    let check = &planned.check;
    let body = check.body.clone().unwrap_or_default().into_bytes();
    crate::invoke::event_for(
        planned.line.clone(),
        &planned.route,
        body,
        &check.headers,
        stage,
        request_id,
        now_ms,
        // A version is checked as through the API's own URL.
        None,
    )
}

/// What came back from one invocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Observed {
    Response(HttpResponse),
    /// Lambda reported a function error (`X-Amz-Function-Error`).
    FunctionError {
        kind: String,
        detail: String,
    },
    /// The function answered something that is not a proxy response
    /// (API Gateway would answer 502).
    Malformed(String),
    /// The Invoke call itself failed.
    CallFailed(String),
}

impl Observed {
    pub(crate) fn of(answer: &InvokeAnswer) -> Observed {
        match &answer.function_error {
            Some(kind) => Observed::FunctionError {
                kind: kind.clone(),
                detail: String::from_utf8_lossy(&answer.payload).into_owned(),
            },
            None => match proxy::decode_response(&answer.payload) {
                Ok(response) => Observed::Response(response),
                Err(error) => Observed::Malformed(error.0),
            },
        }
    }
}

/// Whether `observed` is what `check` expects; the first reason if not.
pub(crate) fn judge(check: &Check, observed: &Observed) -> Result<(), String> {
    let response = match observed {
        Observed::Response(response) => response,
        Observed::FunctionError { kind, detail } => {
            return Err(format!("function error ({kind}): {}", excerpt(detail)));
        }
        Observed::Malformed(reason) => {
            return Err(format!("not an API Gateway proxy response: {reason}"));
        }
        Observed::CallFailed(reason) => return Err(format!("the invocation failed: {reason}")),
    };
    if response.status != check.status {
        return Err(format!(
            "status {}, expected {}",
            response.status, check.status
        ));
    }
    let body = String::from_utf8_lossy(&response.body);
    if let Some(text) = &check.contains
        && !body.contains(text.as_str())
    {
        return Err(format!("the body does not contain {text:?}"));
    }
    if !check.json.is_empty() {
        let Ok(document) = serde_json::from_str::<Value>(&body) else {
            return Err("the body is not JSON".into());
        };
        for (pointer, expected) in &check.json {
            let expected: Value = serde_json::from_str(expected).unwrap_or(Value::Null);
            match document.pointer(pointer) {
                Some(found) if *found == expected => {}
                Some(found) => {
                    return Err(format!("{pointer} is {found}, expected {expected}"));
                }
                None => return Err(format!("{pointer} is missing, expected {expected}")),
            }
        }
    }
    Ok(())
}

/// The first 300 characters, for reports.
fn excerpt(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// One check's outcome, as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CheckResult {
    pub(crate) request: String,
    pub(crate) passed: bool,
    /// The status that came back, when a response did.
    pub(crate) status: Option<u16>,
    /// Why it failed.
    pub(crate) problem: Option<String>,
    /// The start of the body that came back, when it failed.
    pub(crate) body: Option<String>,
    pub(crate) seconds: f64,
}

/// Every check's outcome against one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Verdict {
    /// What was invoked: `version 7` or `alias prod`.
    pub(crate) target: String,
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) results: Vec<CheckResult>,
}

impl Verdict {
    pub(crate) fn ok(&self) -> bool {
        self.failed == 0
    }

    fn of(target: String, results: Vec<CheckResult>) -> Verdict {
        let passed = results.iter().filter(|r| r.passed).count();
        Verdict {
            target,
            passed,
            failed: results.len() - passed,
            results,
        }
    }

    /// `checks on version 7: 2 of 2 passed` (one line).
    pub(crate) fn summary(&self) -> String {
        format!(
            "checks on {}: {} of {} passed",
            self.target,
            self.passed,
            self.passed + self.failed
        )
    }

    /// One line per failed check, with what came back.
    pub(crate) fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| {
                let mut line = format!(
                    "{}: {}",
                    r.request,
                    r.problem.as_deref().unwrap_or("failed")
                );
                if let Some(body) = &r.body {
                    line.push_str(&format!("; body: {body}"));
                }
                line
            })
            .collect()
    }
}

/// What the checks invoke.
#[derive(Debug, Clone, Copy)]
pub(crate) enum On<'a> {
    /// A published version (before the alias moves to it).
    Version(&'a str),
    /// The stage's alias (what the stage serves).
    Alias,
}

/// Runs every check, concurrently, against the stage's function `on` a
/// version or its alias.
pub(crate) async fn run(
    reader: &Reader,
    names: &StageNames,
    on: On<'_>,
    planned: &[PlannedCheck],
) -> Verdict {
    let (function, stage) = (names.function.as_str(), names.stage.as_str());
    let (qualifier, target) = match on {
        On::Version(version) => (version, format!("version {version}")),
        On::Alias => (names.alias.as_str(), format!("alias {}", names.alias)),
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let runs = planned
        .iter()
        .enumerate()
        .map(|(index, planned)| async move {
            let started = Instant::now();
            let request_id = format!("slx-check-{}-{index}", std::process::id());
            let payload =
                serde_json::to_vec(&event(planned, stage, &request_id, now_ms)).unwrap_or_default();
            // A throttle, a 5xx or a function still settling is retried; what
            // the function itself answers is judged as it is.
            let invoked = retry(
                &reader.pace(),
                Backoff::default(),
                &[ErrorClass::Transient, ErrorClass::Conflict],
                || reader.invoke(function, qualifier, payload.clone()),
            )
            .await;
            let observed = match invoked {
                Ok(answer) => Observed::of(&answer),
                Err(error) => Observed::CallFailed(error.to_string()),
            };
            let judged = judge(&planned.check, &observed);
            let (status, body) = match &observed {
                Observed::Response(response) => (
                    Some(response.status),
                    Some(excerpt(&String::from_utf8_lossy(&response.body))),
                ),
                _ => (None, None),
            };
            CheckResult {
                request: planned.check.request.clone(),
                passed: judged.is_ok(),
                status,
                body: body.filter(|_| judged.is_err()),
                problem: judged.err(),
                seconds: started.elapsed().as_secs_f64(),
            }
        });
    Verdict::of(target, futures_util::future::join_all(runs).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16) -> Check {
        Check {
            request: "GET /health".into(),
            headers: Vec::new(),
            body: None,
            status,
            contains: None,
            json: Vec::new(),
        }
    }

    fn response(status: u16, body: &str) -> Observed {
        Observed::Response(HttpResponse {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            base64: false,
        })
    }

    #[test]
    fn status_body_text_and_json_pointers_are_each_judged() {
        assert_eq!(judge(&check(200), &response(200, "")), Ok(()));
        assert_eq!(
            judge(&check(200), &response(500, "boom")),
            Err("status 500, expected 200".into())
        );
        let mut wants_ok = check(200);
        wants_ok.contains = Some("ok".into());
        assert!(judge(&wants_ok, &response(200, r#"{"status":"ok"}"#)).is_ok());
        assert_eq!(
            judge(&wants_ok, &response(200, "fine")),
            Err("the body does not contain \"ok\"".into())
        );
        let mut pointers = check(200);
        pointers.json = vec![
            ("/status".into(), "\"ok\"".into()),
            ("/items/0/count".into(), "2".into()),
        ];
        let good = r#"{"status":"ok","items":[{"count":2}]}"#;
        assert!(judge(&pointers, &response(200, good)).is_ok());
        assert_eq!(
            judge(
                &pointers,
                &response(200, r#"{"status":"ok","items":[{"count":3}]}"#)
            ),
            Err("/items/0/count is 3, expected 2".into())
        );
        assert_eq!(
            judge(&pointers, &response(200, r#"{"status":"ok"}"#)),
            Err("/items/0/count is missing, expected 2".into())
        );
        assert_eq!(
            judge(&pointers, &response(200, "<html>")),
            Err("the body is not JSON".into())
        );
    }

    #[test]
    fn function_errors_and_malformed_answers_fail() {
        let crashed = Observed::FunctionError {
            kind: "Unhandled".into(),
            detail: r#"{"errorType":"Runtime.ExitError"}"#.into(),
        };
        assert!(
            judge(&check(200), &crashed)
                .unwrap_err()
                .starts_with("function error (Unhandled): {\"errorType\"")
        );
        assert!(judge(&check(200), &Observed::Malformed("no statusCode".into())).is_err());
        assert!(judge(&check(200), &Observed::CallFailed("throttled".into())).is_err());
    }

    #[test]
    fn a_check_event_reaches_its_route_with_its_headers_and_body() {
        let request = "POST /orders/42?verbose=1";
        let planned = PlannedCheck {
            check: Check {
                request: request.into(),
                headers: vec![("x-api-key".into(), "k".into())],
                body: Some(r#"{"item":"tea"}"#.into()),
                ..check(201)
            },
            line: proxy::parse_request_line(request).unwrap(),
            route: MatchedRoute {
                resource: "/orders/{id}".into(),
                path_parameters: std::collections::BTreeMap::from([("id".into(), "42".into())]),
                binary: Default::default(),
            },
        };
        let event = event(&planned, "prod", "req-1", 1_795_720_259_000);
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["path"], "/orders/42");
        assert_eq!(event["resource"], "/orders/{id}");
        assert_eq!(event["pathParameters"]["id"], "42");
        assert_eq!(event["queryStringParameters"]["verbose"], "1");
        assert_eq!(event["headers"]["x-api-key"], "k");
        assert_eq!(event["headers"]["content-type"], "application/json");
        assert_eq!(event["body"], r#"{"item":"tea"}"#);
        assert_eq!(event["requestContext"]["stage"], "prod");
    }

    #[test]
    fn the_summary_counts_and_failures_name_the_request_and_answer() {
        let verdict = Verdict::of(
            "version 3".into(),
            vec![
                CheckResult {
                    request: "GET /health".into(),
                    passed: true,
                    status: Some(200),
                    problem: None,
                    body: None,
                    seconds: 0.01,
                },
                CheckResult {
                    request: "GET /boom".into(),
                    passed: false,
                    status: Some(500),
                    problem: Some("status 500, expected 200".into()),
                    body: Some("{\"message\":\"Internal server error\"}".into()),
                    seconds: 0.02,
                },
            ],
        );
        assert!(!verdict.ok());
        assert_eq!(verdict.summary(), "checks on version 3: 1 of 2 passed");
        assert_eq!(
            verdict.failures(),
            vec![
                "GET /boom: status 500, expected 200; body: {\"message\":\"Internal server error\"}"
                    .to_string()
            ]
        );
    }
}
