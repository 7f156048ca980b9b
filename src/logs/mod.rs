//! `slx logs`: a stage's CloudWatch events in time order, with each line
//! tagged by the request it belongs to and Lambda's START/END/REPORT lines
//! made readable; `--follow` polls with a short look-back and de-duplicates.
//!
//! Parsing and rendering are pure; `fetch` reads through the `Reader`;
//! `follow` keeps reading (Live Tail, then polling) until told to stop.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::aws::{AwsError, LogEvent, LogQuery, Reader};

mod follow;
pub(crate) use follow::{EventSink, follow, millis};

#[derive(Debug, thiserror::Error, miette::Diagnostic, PartialEq, Eq)]
#[error("`{text}` is not a time or a duration")]
#[diagnostic(
    code(slx::logs::since),
    help("use a duration such as 10m, 2h or 1d, or a UTC time such as 2026-11-26T10:00")
)]
pub(crate) struct SinceError {
    pub text: String,
}

/// `10m` / `2h` / `1d` ago, or an absolute UTC time (`2026-11-26T10:00`,
/// seconds and `Z` optional).
pub(crate) fn parse_since(text: &str, now: SystemTime) -> Result<SystemTime, SinceError> {
    let error = || SinceError {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    if let Ok(duration) = humantime::parse_duration(trimmed) {
        return now.checked_sub(duration).ok_or_else(error);
    }
    let mut candidate = trimmed.replace(' ', "T");
    if candidate.len() == 16 {
        candidate.push_str(":00");
    }
    if candidate.len() == 10 {
        candidate.push_str("T00:00:00");
    }
    let candidate = candidate.trim_end_matches('Z');
    humantime::parse_rfc3339_weak(candidate).map_err(|_| error())
}

/// One CloudWatch event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEvent {
    pub id: String,
    pub timestamp_ms: i64,
    pub stream: String,
    pub message: String,
}

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Start,
    End,
    Report,
    Log,
}

/// An event ready to print.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Rendered {
    pub timestamp: String,
    pub request_id: Option<String>,
    pub kind: Kind,
    pub message: String,
    pub stream: String,
}

/// Tracks which request each log stream is serving, so that lines a
/// handler prints without an id are still attributed to their request.
#[derive(Debug, Default)]
pub(crate) struct Renderer {
    current: HashMap<String, String>,
}

impl Renderer {
    pub(crate) fn render(&mut self, event: &RawEvent) -> Rendered {
        let message = event.message.trim_end();
        let (kind, request_id, text) = if let Some(rest) = message.strip_prefix("START RequestId: ")
        {
            let id = first_word(rest);
            self.current.insert(event.stream.clone(), id.clone());
            let version = rest.split("Version: ").nth(1).map(str::trim).unwrap_or("?");
            (Kind::Start, Some(id), format!("START (version {version})"))
        } else if let Some(rest) = message.strip_prefix("END RequestId: ") {
            let id = first_word(rest);
            (Kind::End, Some(id), "END".to_string())
        } else if let Some(rest) = message.strip_prefix("REPORT RequestId: ") {
            let id = first_word(rest);
            self.current.remove(&event.stream);
            (Kind::Report, Some(id), readable_report(rest))
        } else {
            (
                Kind::Log,
                self.current.get(&event.stream).cloned(),
                message.to_string(),
            )
        };
        Rendered {
            timestamp: format_timestamp(event.timestamp_ms),
            request_id,
            kind,
            message: text,
            stream: event.stream.clone(),
        }
    }
}

fn first_word(text: &str) -> String {
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `Duration: 1.23 ms\tBilled Duration: 2 ms\t...` →
/// `REPORT 1.23 ms (billed 2 ms), memory 20/128 MB, init 30.12 ms`.
fn readable_report(rest: &str) -> String {
    let field = |name: &str| {
        rest.split('\t')
            .find_map(|part| part.trim().strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let mut text = format!(
        "REPORT {}",
        field("Duration:").unwrap_or_else(|| "?".into())
    );
    if let Some(billed) = field("Billed Duration:") {
        text.push_str(&format!(" (billed {billed})"));
    }
    if let (Some(used), Some(size)) = (field("Max Memory Used:"), field("Memory Size:")) {
        let used = used.trim_end_matches(" MB");
        text.push_str(&format!(", memory {used}/{size}"));
    }
    if let Some(init) = field("Init Duration:") {
        text.push_str(&format!(", init {init}"));
    }
    text
}

fn format_timestamp(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

impl Rendered {
    pub(crate) fn text_line(&self) -> String {
        format!(
            "{}  {:<36}  {}",
            self.timestamp,
            self.request_id.as_deref().unwrap_or("-"),
            self.message
        )
    }
}

impl From<LogEvent> for RawEvent {
    fn from(event: LogEvent) -> RawEvent {
        RawEvent {
            // CloudWatch's event id, when there is one; else the content.
            id: event
                .id
                .unwrap_or_else(|| content_key(&event.stream, event.timestamp_ms, &event.message)),
            timestamp_ms: event.timestamp_ms,
            stream: event.stream,
            message: event.message,
        }
    }
}

/// Every event matching `query`, in time order; `None` when the log group
/// does not exist yet.
pub(crate) async fn fetch(
    reader: &Reader,
    query: &LogQuery,
) -> Result<Option<Vec<RawEvent>>, AwsError> {
    let Some(events) = reader.log_events(query).await? else {
        return Ok(None);
    };
    let mut events: Vec<RawEvent> = events.into_iter().map(RawEvent::from).collect();
    // Stable: events with equal timestamps keep CloudWatch's order.
    events.sort_by_key(|e| e.timestamp_ms);
    Ok(Some(events))
}

/// Live Tail events carry no event id; this identifies them (and the
/// polled events they may overlap with) by content.
pub(crate) fn content_key(stream: &str, timestamp_ms: i64, message: &str) -> String {
    format!("{stream}\u{0}{timestamp_ms}\u{0}{message}")
}

/// Remembers recently printed event ids so the follow look-back never
/// prints an event twice; forgets ids older than the look-back window.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    ids: HashSet<String>,
    order: VecDeque<(i64, String)>,
}

impl Seen {
    /// True the first time an event is offered. Events are known by their
    /// CloudWatch id and by their content, so an event seen through Live
    /// Tail (no id) is not printed again when polling takes over. (Two
    /// identical lines in one stream in the same millisecond print once.)
    pub(crate) fn first_time(&mut self, event: &RawEvent) -> bool {
        let content = content_key(&event.stream, event.timestamp_ms, &event.message);
        if self.ids.contains(&event.id) || self.ids.contains(&content) {
            return false;
        }
        for key in [event.id.clone(), content] {
            self.ids.insert(key.clone());
            self.order.push_back((event.timestamp_ms, key));
        }
        true
    }

    pub(crate) fn forget_before(&mut self, ms: i64) {
        while let Some((timestamp, _)) = self.order.front() {
            if *timestamp >= ms {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.ids.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, ms: i64, stream: &str, message: &str) -> RawEvent {
        RawEvent {
            id: id.into(),
            timestamp_ms: ms,
            stream: stream.into(),
            message: message.into(),
        }
    }

    #[test]
    fn since_accepts_durations_and_utc_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_720_259);
        assert_eq!(parse_since("10m", now), Ok(now - Duration::from_secs(600)));
        assert_eq!(parse_since("2h", now), Ok(now - Duration::from_secs(7200)));
        let at = parse_since("2026-11-26T10:00", now).unwrap();
        assert_eq!(
            humantime::format_rfc3339_seconds(at).to_string(),
            "2026-11-26T10:00:00Z"
        );
        assert!(parse_since("2026-11-26T10:00:30Z", now).is_ok());
        assert!(parse_since("2026-11-26", now).is_ok());
        assert_eq!(
            parse_since("yesterday-ish", now),
            Err(SinceError {
                text: "yesterday-ish".into()
            })
        );
    }

    #[test]
    fn lines_are_attributed_to_the_request_their_stream_serves() {
        let mut renderer = Renderer::default();
        let start = renderer.render(&event(
            "1",
            1000,
            "s1",
            "START RequestId: abc-1 Version: 3\n",
        ));
        assert_eq!(
            (
                start.kind,
                start.request_id.as_deref(),
                start.message.as_str()
            ),
            (Kind::Start, Some("abc-1"), "START (version 3)")
        );
        let other = renderer.render(&event("2", 1001, "s2", "START RequestId: zzz-9 Version: 3"));
        assert_eq!(other.request_id.as_deref(), Some("zzz-9"));
        let line = renderer.render(&event("3", 1002, "s1", "hello from the handler\n"));
        assert_eq!(line.request_id.as_deref(), Some("abc-1"));
        let report = renderer.render(&event(
            "4",
            1003,
            "s1",
            "REPORT RequestId: abc-1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 30.12 ms\t",
        ));
        assert_eq!(
            report.message,
            "REPORT 1.23 ms (billed 2 ms), memory 20/128 MB, init 30.12 ms"
        );
        let after = renderer.render(&event("5", 1004, "s1", "stray line"));
        assert_eq!(after.request_id, None);
        assert_eq!(after.timestamp, "1970-01-01T00:00:01.004Z");
    }

    /// docs/deploy.md quotes a REPORT line as slx prints it: it must be what
    /// the renderer makes of Lambda's REPORT line with those figures.
    #[test]
    fn the_report_line_in_the_docs_is_what_slx_prints() {
        let docs = include_str!("../../docs/deploy.md");
        let printed = readable_report(
            "Duration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\tMax Memory Used: 21 MB\tInit Duration: 30.12 ms\t",
        );
        assert!(
            docs.contains(&format!("`{printed}`")),
            "docs/deploy.md should quote `{printed}`"
        );
    }
    #[test]
    fn an_event_seen_live_is_not_printed_again_when_polled() {
        let mut seen = Seen::default();
        let live = event(&content_key("s", 5, "m"), 5, "s", "m");
        let polled = event("cloudwatch-id-1", 5, "s", "m");
        assert!(seen.first_time(&live));
        assert!(!seen.first_time(&polled));
    }

    #[test]
    fn seen_deduplicates_within_the_window() {
        let mut seen = Seen::default();
        let e = event("a", 10, "s", "m");
        assert!(seen.first_time(&e));
        assert!(!seen.first_time(&e));
        seen.forget_before(11);
        assert!(seen.first_time(&e));
    }
}
