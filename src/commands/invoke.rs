use serde_json::json;

use super::{Outcome, load_config, project_dir, stage};
use crate::aws::InvokeAnswer;
use crate::cli::{GlobalArgs, InvokeArgs};
use crate::config;
use crate::contract::proxy::{HttpResponse, decode_response};
use crate::handler;
use crate::invoke;
use crate::local::gateway;
use crate::local::pool::Outcome as LocalOutcome;
use crate::local::runtime_api::Answer;
use crate::ui::Ui;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(super) enum InvokeFailed {
    #[error("the function failed ({kind}): {detail}")]
    #[diagnostic(
        code(slx::invoke::function_error),
        help("see the log tail above, or `slx logs --stage {stage}`")
    )]
    Function {
        kind: String,
        detail: String,
        stage: String,
    },
    #[error("the stage answered {status}")]
    #[diagnostic(
        code(slx::invoke::server_error),
        help("see the log tail above, or `slx logs --stage {stage}`")
    )]
    ServerError { status: u16, stage: String },
    #[error("{failed} of {total} messages failed; the rest were done")]
    #[diagnostic(
        code(slx::invoke::messages_failed),
        help(
            "Lambda returns only the failed messages to the queue; see the log above, or `slx logs --stage {stage}`"
        )
    )]
    Messages {
        failed: usize,
        total: usize,
        stage: String,
    },
    #[error("API Gateway would answer 502: {reason}")]
    #[diagnostic(
        code(slx::invoke::bad_response),
        help("the handler must answer an API Gateway proxy response")
    )]
    Malformed { reason: String },
}

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: InvokeArgs) -> miette::Result<Outcome> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, &args.stage)?;
    let base = std::env::current_dir().unwrap_or(project_dir(&config));
    let request_id = format!("slx-invoke-{}", std::process::id());
    if let Some(name) = &args.handler {
        let handler = project.event_handler(name)?;
        let app_dir = project_dir(&config);
        let call = HandlerCall {
            handler,
            args: &args,
            base: &base,
            app_dir: &app_dir,
            request_id: &request_id,
        };
        return run_handler(ui, global, &project, call).await;
    }
    if args.data.len() > 1 {
        return Err(invoke::RequestError::Data {
            path: "--data".into(),
            reason: "an HTTP request has one body; give `--data` once".into(),
        }
        .into());
    }
    let body = invoke::body_of(args.data.first().map(String::as_str), &base)?;
    let event = invoke::build_event(
        &project,
        args.request.as_deref().unwrap_or_default(),
        body,
        &args.headers,
        &request_id,
    )?;
    if args.local {
        let app_dir = project_dir(&config);
        return run_local(ui, global, &project, &app_dir, &request_id, &event).await;
    }
    let (reader, _writer) = stage::connect(ui, global, &project).await?;
    let answer = invoke::invoke_alias(&reader, &project.names(), None, &event).await?;
    report(ui, &args.stage, answer)
}

/// One `--handler` invocation's inputs.
struct HandlerCall<'a> {
    handler: &'a config::EventFunction,
    args: &'a InvokeArgs,
    /// Where `--data @file` paths start.
    base: &'a std::path::Path,
    app_dir: &'a std::path::Path,
    request_id: &'a str,
}

/// `--handler NAME`: the event its source would send, to the handler's
/// function (built for this machine with `--local`, else the stage's).
async fn run_handler(
    ui: &Ui,
    global: &GlobalArgs,
    project: &config::Project,
    call: HandlerCall<'_>,
) -> miette::Result<Outcome> {
    let HandlerCall {
        handler,
        args,
        base,
        app_dir,
        request_id,
    } = call;
    let data = args
        .data
        .iter()
        .map(|data| invoke::body_of(Some(data), base))
        .collect::<Result<Vec<_>, _>>()?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let event_for = |arns: &crate::names::StageArns| {
        invoke::source_event(
            handler,
            arns,
            args.s3_key.as_deref(),
            &data,
            args.event.as_deref(),
            request_id,
            now_ms,
        )
    };
    if args.local {
        let event = event_for(&super::dev::local_arns(project, global))?;
        let local = super::dev::Local {
            project,
            app_dir,
            global,
            ui,
        };
        let (outcome, log_tail) = invoke_locally(&local, Some(handler), request_id, &event).await?;
        let failure = local_failure(&outcome);
        let payload = match outcome {
            LocalOutcome::Answered(Answer::Response(payload)) => payload,
            _ => Vec::new(),
        };
        return report_event(ui, project, handler, &event, &payload, &log_tail, failure);
    }
    let (reader, _writer) = stage::connect(ui, global, project).await?;
    let identity = reader.caller_identity().await?;
    let arns = crate::names::StageArns::new(
        project.names(),
        reader.region(),
        &identity.account,
        &identity.arn,
    );
    let event = event_for(&arns)?;
    let answer = invoke::invoke_alias(
        &reader,
        &project.names(),
        Some(&handler.handler.name),
        &event,
    )
    .await?;
    if !answer.log_tail.is_empty() && !ui.is_json() {
        eprintln!(
            "--- log tail ---\n{}",
            crate::ui::printable(answer.log_tail.trim_end())
        );
    }
    let failure = answer.function_error.as_ref().map(|kind| {
        let detail = String::from_utf8_lossy(&answer.payload).into_owned();
        function_error(
            kind,
            &serde_json::from_slice(&answer.payload).unwrap_or_else(|_| json!(detail)),
        )
    });
    let payload = if failure.is_some() {
        Vec::new()
    } else {
        answer.payload
    };
    report_event(
        ui,
        project,
        handler,
        &event,
        &payload,
        &answer.log_tail,
        failure,
    )
}

/// What an event handler answered: its response (for a queue handler,
/// the messages it failed), or how it failed.
fn report_event(
    ui: &Ui,
    project: &config::Project,
    handler: &config::EventFunction,
    event: &serde_json::Value,
    payload: &[u8],
    log_tail: &str,
    failure: Option<serde_json::Value>,
) -> miette::Result<Outcome> {
    let name = &handler.handler.name;
    let response: serde_json::Value = if payload.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(payload).unwrap_or_else(|_| json!(String::from_utf8_lossy(payload)))
    };
    let failed: Vec<String> = response["batchItemFailures"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["itemIdentifier"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let text = match &failure {
        Some(failure) => format!("`{name}` failed: {}", failure["error"]),
        None if failed.is_empty() => format!("`{name}` answered: {response}"),
        None => format!(
            "`{name}` answered: {response}\nfailed messages: {}",
            crate::ui::printable(&failed.join(", "))
        ),
    };
    ui.result(
        text,
        &json!({
            "handler": name,
            "function": project.names().event_function(name),
            "response": response,
            "failed_messages": failed,
            "log_tail": log_tail,
            "function_error": failure,
        }),
    );
    if let Some(failure) = failure {
        return Err(InvokeFailed::Function {
            kind: failure["kind"].as_str().unwrap_or("Unhandled").to_string(),
            detail: failure["error"].to_string(),
            stage: project.stage.clone(),
        }
        .into());
    }
    if !failed.is_empty() {
        return Err(InvokeFailed::Messages {
            failed: failed.len(),
            total: event["Records"].as_array().map_or(0, Vec::len),
            stage: project.stage.clone(),
        }
        .into());
    }
    Ok(Outcome::Success)
}

/// The same request through the handler built for this machine, with the
/// answers API Gateway would give (`slx dev`'s path, for one request).
async fn run_local(
    ui: &Ui,
    global: &GlobalArgs,
    project: &config::Project,
    app_dir: &std::path::Path,
    request_id: &str,
    event: &serde_json::Value,
) -> miette::Result<Outcome> {
    let local = super::dev::Local {
        project,
        app_dir,
        global,
        ui,
    };
    let (outcome, log_tail) = invoke_locally(&local, None, request_id, event).await?;
    let failure = local_failure(&outcome);
    let (response, note) = gateway::answer_for(outcome, true);
    if let Some(note) = note {
        ui.warn(note);
    }
    print_response(ui, &response, &log_tail, failure);
    status_outcome(&project.stage, response.status)
}

/// `event` through the stage's function (or `event_handler`'s) built for this
/// machine: its outcome and what it printed, as Lambda's log tail.
async fn invoke_locally(
    local: &super::dev::Local<'_>,
    event_handler: Option<&config::EventFunction>,
    request_id: &str,
    event: &serde_json::Value,
) -> miette::Result<(LocalOutcome, String)> {
    let binary = handler::build_native(local.project, local.app_dir, local.ui)?;
    let book = super::dev::LogBook::default();
    let pool = super::dev::pool_for(local, event_handler, binary, 1, Some(book.clone()));
    let outcome = pool
        .invoke(request_id, serde_json::to_vec(event).unwrap_or_default())
        .await;
    // Lines printed before the answer may still be in the pipe.
    pool.shutdown().await;
    Ok((outcome, tail_of(&book)))
}

/// What the local function printed, cut as Lambda cuts its log tail: the
/// last 4 KB (at a character boundary).
fn tail_of(book: &super::dev::LogBook) -> String {
    const TAIL_BYTES: usize = 4096;
    let text = book.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut start = text.len().saturating_sub(TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

/// Lambda reports a reported error, a timeout and a dead process alike
/// as an unhandled function error, with this error type.
fn local_failure(outcome: &LocalOutcome) -> Option<serde_json::Value> {
    match outcome {
        LocalOutcome::Answered(Answer::Error { error_type, body }) => Some(function_error(
            "Unhandled",
            &Answer::error_document(error_type, body),
        )),
        LocalOutcome::TimedOut => Some(function_error(
            "Unhandled",
            &json!({ "errorType": "Sandbox.Timedout", "errorMessage": "Task timed out" }),
        )),
        LocalOutcome::Crashed(reason) => Some(function_error(
            "Unhandled",
            &json!({ "errorType": "Runtime.ExitError", "errorMessage": reason }),
        )),
        LocalOutcome::Answered(Answer::Response(_)) => None,
    }
}

/// `function_error` in the JSON report: Lambda's `X-Amz-Function-Error`
/// and the error document it returned.
fn function_error(kind: &str, document: &serde_json::Value) -> serde_json::Value {
    json!({ "kind": kind, "error": document })
}

fn report(ui: &Ui, stage: &str, answer: InvokeAnswer) -> miette::Result<Outcome> {
    if !answer.log_tail.is_empty() && !ui.is_json() {
        eprintln!(
            "--- log tail ---\n{}",
            crate::ui::printable(answer.log_tail.trim_end())
        );
    }
    if let Some(kind) = answer.function_error {
        let detail = String::from_utf8_lossy(&answer.payload).into_owned();
        let document = serde_json::from_slice(&answer.payload).unwrap_or_else(|_| json!(detail));
        // What a caller of the stage would get: API Gateway answers 502
        // for a function error.
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/handle-errors-in-lambda-integration.html
        print_response(
            ui,
            &gateway::function_failed(),
            &answer.log_tail,
            Some(function_error(&kind, &document)),
        );
        return Err(InvokeFailed::Function {
            kind,
            detail,
            stage: stage.to_string(),
        }
        .into());
    }
    let response: HttpResponse =
        decode_response(&answer.payload).map_err(|e| InvokeFailed::Malformed { reason: e.0 })?;
    print_response(ui, &response, &answer.log_tail, None);
    status_outcome(stage, response.status)
}

fn print_response(
    ui: &Ui,
    response: &HttpResponse,
    log_tail: &str,
    failure: Option<serde_json::Value>,
) {
    let body_text = String::from_utf8_lossy(&response.body).into_owned();
    let mut text = format!("HTTP {}\n", response.status);
    for (name, value) in &response.headers {
        let header = format!("{name}: {value}");
        text.push_str(&crate::ui::printable(&header));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&crate::ui::printable(&body_text));
    ui.result(
        text,
        &json!({
            "status": response.status,
            "headers": response.headers,
            "body": body_text,
            "log_tail": log_tail,
            "function_error": failure,
        }),
    );
}

/// Exit 1 on what a caller would see as a server error.
fn status_outcome(stage: &str, status: u16) -> miette::Result<Outcome> {
    if status >= 500 {
        return Err(InvokeFailed::ServerError {
            status,
            stage: stage.to_string(),
        }
        .into());
    }
    Ok(Outcome::Success)
}
