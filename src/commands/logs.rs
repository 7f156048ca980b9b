//! `slx logs`: print a stage's log events, optionally following them.

use std::io::Write;
use std::time::SystemTime;

use super::{Outcome, load_config, stage};
use crate::aws::LogQuery;
use crate::cli::{GlobalArgs, LogsArgs};
use crate::config;
use crate::logs::{self, EventSink, RawEvent, Renderer};
use crate::ui::Ui;

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: LogsArgs) -> miette::Result<Outcome> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, &args.stage)?;
    let start = logs::parse_since(&args.since, SystemTime::now())?;
    let names = project.names();
    // The HTTP API's function, or one event handler's.
    let function = match &args.handler {
        Some(name) => names.event_function(&project.event_handler(name)?.handler.name),
        None => names.function.clone(),
    };
    let log_group = crate::names::log_group_of(&function);
    let (reader, _writer) = stage::connect(ui, global, &project).await?;
    let query = LogQuery {
        log_group: log_group.clone(),
        start_ms: logs::millis(start),
        pattern: args.filter.clone(),
    };
    let mut printer = Printer {
        ui,
        request_id: args.request_id.as_deref(),
        renderer: Renderer::default(),
    };
    let pace = reader.pace();
    let following = logs::follow(&reader, query, args.follow, &mut printer, &pace, &pace);
    let exists = tokio::select! {
        result = following => result?,
        _ = tokio::signal::ctrl_c() => true,
    };
    if !exists {
        ui.step(format!(
            "no logs for {function} yet: the log group {log_group} does not exist (deploy with `slx deploy --stage {}`)",
            project.stage
        ));
    }
    Ok(Outcome::Success)
}

struct Printer<'a> {
    ui: &'a Ui,
    request_id: Option<&'a str>,
    renderer: Renderer,
}

impl EventSink for Printer<'_> {
    fn print(&mut self, events: &[RawEvent]) -> bool {
        let mut out = std::io::stdout().lock();
        for event in events {
            let rendered = self.renderer.render(event);
            if let Some(wanted) = self.request_id
                && rendered.request_id.as_deref() != Some(wanted)
                && !event.message.contains(wanted)
            {
                continue;
            }
            let line = if self.ui.is_json() {
                serde_json::to_string(&rendered).unwrap_or_default()
            } else {
                crate::ui::printable(&rendered.text_line()).into_owned()
            };
            if writeln!(out, "{line}").is_err() {
                return false;
            }
        }
        out.flush().is_ok()
    }

    fn notice(&self, text: &str) {
        self.ui.step(text);
    }
}
