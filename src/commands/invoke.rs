use serde_json::json;

use super::{Outcome, load_config, project_dir, stage};
use crate::aws::InvokeAnswer;
use crate::cli::{GlobalArgs, InvokeArgs};
use crate::config;
use crate::handler;
use crate::invoke;
use crate::local::event::{HttpResponse, decode_response};
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
    let body = invoke::body_of(
        args.data.as_deref(),
        &std::env::current_dir().unwrap_or(project_dir(&config)),
    )?;
    let request_id = format!("slx-invoke-{}", std::process::id());
    let event = invoke::build_event(
        &project.routes,
        &args.request,
        body,
        &args.headers,
        &project.stage,
        &request_id,
    )?;
    if args.local {
        let app_dir = project_dir(&config);
        return run_local(ui, global, &project, &app_dir, &request_id, &event).await;
    }
    let (reader, _writer) = stage::connect(ui, global, &project).await?;
    let answer = invoke::invoke_alias(&reader, &project.names(), &event).await?;
    report(ui, &args.stage, answer)
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
    let binary = handler::build_native(project, app_dir, ui)?;
    let pool = super::dev::pool_for(project, binary, 1, global, ui);
    let outcome = pool
        .invoke(request_id, serde_json::to_vec(event).unwrap_or_default())
        .await;
    // Lambda reports a reported error, a timeout and a dead process alike
    // as an unhandled function error, with this error type.
    let failure = match &outcome {
        LocalOutcome::Answered(Answer::Error { error_type, body }) => Some(function_error(
            "Unhandled",
            &json!({ "errorType": error_type, "errorMessage": String::from_utf8_lossy(body) }),
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
    };
    let (response, note) = gateway::answer_for(outcome);
    if let Some(note) = note {
        ui.warn(note);
    }
    print_response(ui, &response, "", failure);
    status_outcome(&project.stage, response.status)
}

/// `function_error` in the JSON report: Lambda's `X-Amz-Function-Error`
/// and the error document it returned.
fn function_error(kind: &str, document: &serde_json::Value) -> serde_json::Value {
    json!({ "kind": kind, "error": document })
}

fn report(ui: &Ui, stage: &str, answer: InvokeAnswer) -> miette::Result<Outcome> {
    if !answer.log_tail.is_empty() && !ui.is_json() {
        eprintln!("--- log tail ---\n{}", answer.log_tail.trim_end());
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
        text.push_str(&format!("{name}: {value}\n"));
    }
    text.push('\n');
    text.push_str(&body_text);
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
