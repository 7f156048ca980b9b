use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::deploy::aws_settings;
use super::{Outcome, load_config};
use crate::aws;
use crate::cli::{GlobalArgs, LogsArgs};
use crate::config;
use crate::logs::{self, Query, RawEvent, Renderer, Seen};
use crate::ui::Ui;

/// How far back each follow poll looks, for events CloudWatch indexes late.
const LOOK_BACK: Duration = Duration::from_secs(10);
const POLL_EVERY: Duration = Duration::from_secs(1);

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: LogsArgs) -> miette::Result<Outcome> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, &args.stage)?;
    let start = logs::parse_since(&args.since, SystemTime::now())?;
    let clients = crate::deploy::load_clients(&aws_settings(global), &project).await?;
    let mut query = Query {
        log_group: project.log_group(),
        start_ms: millis(start),
        pattern: args.filter.clone(),
    };
    let mut renderer = Renderer::default();
    let mut seen = Seen::default();
    let mut printer = Printer {
        ui,
        request_id: args.request_id.as_deref(),
    };

    let Some(events) = logs::fetch(&clients, &query).await? else {
        ui.step(format!(
            "no logs for {} yet: the log group {} does not exist (deploy with `slx deploy --stage {}`)",
            project.function_name(),
            query.log_group,
            project.stage
        ));
        return Ok(Outcome::Success);
    };
    if !printer.print_new(&events, &mut renderer, &mut seen) {
        return Ok(Outcome::Success);
    }
    if !args.follow {
        return Ok(Outcome::Success);
    }
    let mut live = match logs::log_group_arn(&clients, &query.log_group).await {
        Ok(Some(arn)) => {
            match logs::LiveTail::start(&clients, &arn, args.filter.as_deref()).await {
                Ok(live) => Some(live),
                Err(error) => {
                    ui.step(format!(
                        "Live Tail is not available ({}); polling instead",
                        error.detail
                    ));
                    None
                }
            }
        }
        _ => None,
    };
    let follow = async {
        if let Some(live) = live.as_mut() {
            ui.step(format!(
                "following {} with Live Tail (Ctrl-C to stop)",
                query.log_group
            ));
            // Catch up on what arrived between the first read and the
            // session's start; duplicates are dropped by `seen`.
            let caught_up = logs::fetch(&clients, &query).await?.unwrap_or_default();
            if !printer.print_new(&caught_up, &mut renderer, &mut seen) {
                return Ok::<_, aws::AwsError>(());
            }
            loop {
                match live.next().await {
                    Ok(Some(events)) => {
                        if !printer.print_new(&events, &mut renderer, &mut seen) {
                            return Ok(());
                        }
                    }
                    Ok(None) => {
                        ui.step("the Live Tail session ended; polling instead");
                        break;
                    }
                    Err(error) => {
                        ui.step(format!(
                            "Live Tail stopped ({}); polling instead",
                            error.detail
                        ));
                        break;
                    }
                }
            }
        } else {
            ui.step(format!("following {} (Ctrl-C to stop)", query.log_group));
        }
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            let now = SystemTime::now();
            let window = millis(now.checked_sub(LOOK_BACK).unwrap_or(UNIX_EPOCH));
            query.start_ms = window.max(millis(start));
            let events = logs::fetch(&clients, &query).await?.unwrap_or_default();
            if !printer.print_new(&events, &mut renderer, &mut seen) {
                return Ok(());
            }
            seen.forget_before(window - LOOK_BACK.as_millis() as i64);
        }
    };
    tokio::select! {
        result = follow => result?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(Outcome::Success)
}

fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Printer<'a> {
    ui: &'a Ui,
    request_id: Option<&'a str>,
}

impl Printer<'_> {
    /// Prints the events not printed before; false once stdout is closed
    /// (`slx logs | head`), which ends the command quietly.
    fn print_new(&mut self, events: &[RawEvent], renderer: &mut Renderer, seen: &mut Seen) -> bool {
        let mut out = std::io::stdout().lock();
        for event in events {
            if !seen.first_time(event) {
                continue;
            }
            let rendered = renderer.render(event);
            if let Some(wanted) = self.request_id
                && rendered.request_id.as_deref() != Some(wanted)
                && !event.message.contains(wanted)
            {
                continue;
            }
            let line = if self.ui.is_json() {
                serde_json::to_string(&rendered).unwrap_or_default()
            } else {
                rendered.text_line()
            };
            if writeln!(out, "{line}").is_err() {
                return false;
            }
        }
        out.flush().is_ok()
    }
}
