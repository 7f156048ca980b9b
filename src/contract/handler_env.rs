//! The environment slx gives a function it deploys (or runs in `slx
//! dev`) beside the app's own: which event handler it serves, how a queue
//! handler reports failures, which secrets to fetch. slx's code generator
//! writes the handler that reads these variables; the deploy and `slx
//! dev` set them. Pure: names and values, no I/O.

/// Set on an `[events.NAME]` function to NAME: the generated entry point
/// then serves that event handler instead of the HTTP API (one zip for
/// every function of the stage).
pub(crate) const HANDLER_VAR: &str = "SLX_HANDLER";
/// Set on a queue handler's function: `false` when its event source
/// mapping does not report batch item failures, so that one failed
/// message fails the batch instead of being deleted with the rest.
pub(crate) const REPORT_FAILURES_VAR: &str = "SLX_REPORT_BATCH_FAILURES";

/// Set on a function whose stage has `[secrets]`: `NAME=ssm:/path` lines,
/// what the generated handler fetches at cold start (references, never
/// values).
pub(crate) const SECRETS_VAR: &str = "SLX_SECRETS";

/// The variable naming the stage's secrets, when it has any.
pub(crate) fn secrets_env(secrets: &[crate::config::Secret]) -> Option<(String, String)> {
    (!secrets.is_empty()).then(|| {
        let lines: Vec<String> = secrets
            .iter()
            .map(|s| format!("{}={}", s.name, s.source.reference()))
            .collect();
        (SECRETS_VAR.to_string(), lines.join("\n"))
    })
}

/// The environment slx adds to an `[events.NAME]` function, deployed or
/// run locally.
pub(crate) fn event_env(handler: &crate::config::EventHandler) -> Vec<(String, String)> {
    let mut env = vec![(HANDLER_VAR.to_string(), handler.name.clone())];
    if let crate::config::EventSource::Sqs(source) = &handler.source {
        env.push((
            REPORT_FAILURES_VAR.to_string(),
            source.report_failures.to_string(),
        ));
    }
    env
}
