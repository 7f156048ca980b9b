//! `slx logs --follow`: CloudWatch Live Tail first (events pushed as they
//! are ingested), polling with a short look-back when Live Tail is not
//! available or ends. Each event reaches the sink once, whichever path
//! delivered it.
//!
//! Reads through the `Reader` only; time through the injected clock and
//! sleeper. Printing is the sink's business.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{RawEvent, Seen, fetch};
use crate::aws::{AwsError, LogQuery, Reader};
use crate::pace::{Clock, Sleeper};

/// How far back each poll looks, for events CloudWatch indexes late (an
/// event can become searchable tens of seconds after its timestamp).
const LOOK_BACK: Duration = Duration::from_secs(60);
const POLL_EVERY: Duration = Duration::from_secs(1);

/// Where followed events go.
pub(crate) trait EventSink {
    /// Prints events not printed before; false stops following (stdout
    /// closed: `slx logs -f | head`).
    fn print(&mut self, events: &[RawEvent]) -> bool;
    /// A line about the follow itself (which source, fallbacks).
    fn notice(&self, text: &str);
}

/// Milliseconds since the epoch.
pub(crate) fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Hands `sink` only events it has not seen.
struct Fresh<'a, S: EventSink> {
    sink: &'a mut S,
    seen: Seen,
}

impl<S: EventSink> Fresh<'_, S> {
    fn offer(&mut self, events: &[RawEvent]) -> bool {
        let fresh: Vec<RawEvent> = events
            .iter()
            .filter(|event| self.seen.first_time(event))
            .cloned()
            .collect();
        self.sink.print(&fresh)
    }
}

/// Prints what `query` matches now, then follows new events until the
/// sink stops it. `Ok(false)` when the log group does not exist.
pub(crate) async fn follow(
    reader: &Reader,
    mut query: LogQuery,
    keep_following: bool,
    sink: &mut impl EventSink,
    clock: &dyn Clock,
    sleeper: &dyn Sleeper,
) -> Result<bool, AwsError> {
    let since_ms = query.start_ms;
    let Some(events) = fetch(reader, &query).await? else {
        return Ok(false);
    };
    let mut fresh = Fresh {
        sink,
        seen: Seen::default(),
    };
    if !fresh.offer(&events) || !keep_following {
        return Ok(true);
    }
    let live = match reader.log_group(&query.log_group).await {
        Ok(Some(group)) => match group.arn {
            Some(arn) => match reader.live_tail(&arn, query.pattern.as_deref()).await {
                Ok(live) => Some(live),
                Err(error) => {
                    fresh.sink.notice(&format!(
                        "Live Tail is not available ({}); polling instead",
                        error.detail
                    ));
                    None
                }
            },
            None => None,
        },
        _ => None,
    };
    if let Some(mut live) = live {
        fresh.sink.notice(&format!(
            "following {} with Live Tail (Ctrl-C to stop)",
            query.log_group
        ));
        // Catch up on what arrived between the first read and the
        // session's start; duplicates are dropped.
        let caught_up = fetch(reader, &query).await?.unwrap_or_default();
        if !fresh.offer(&caught_up) {
            return Ok(true);
        }
        let mut told_sampled = false;
        loop {
            match live.next().await {
                Ok(Some((events, sampled))) => {
                    if sampled && !told_sampled {
                        told_sampled = true;
                        fresh.sink.notice(
                            "Live Tail is sampling (over 500 events a second): not every event is shown; `slx logs` without -f reads them all",
                        );
                    }
                    let events: Vec<RawEvent> = events.into_iter().map(RawEvent::from).collect();
                    if !fresh.offer(&events) {
                        return Ok(true);
                    }
                }
                Ok(None) => {
                    fresh
                        .sink
                        .notice("the Live Tail session ended; polling instead");
                    break;
                }
                Err(error) => {
                    fresh.sink.notice(&format!(
                        "Live Tail stopped ({}); polling instead",
                        error.detail
                    ));
                    break;
                }
            }
        }
    } else {
        fresh
            .sink
            .notice(&format!("following {} (Ctrl-C to stop)", query.log_group));
    }
    loop {
        sleeper.sleep(POLL_EVERY).await;
        let window = millis(clock.wall().checked_sub(LOOK_BACK).unwrap_or(UNIX_EPOCH));
        query.start_ms = window.max(since_ms);
        let events = fetch(reader, &query).await?.unwrap_or_default();
        if !fresh.offer(&events) {
            return Ok(true);
        }
        fresh
            .seen
            .forget_before(window - LOOK_BACK.as_millis() as i64);
    }
}
