//! CloudWatch Logs Live Tail as real AWS streams it. moto answers
//! `StartLiveTail` with the events that already exist and ends the
//! session; real Live Tail sends only events ingested *after* the session
//! started, in an update about once a second (at most 500 per update,
//! flagged `sampled` beyond that), and keeps the session open until the
//! client leaves or three hours pass (`SessionTimeoutException`).
// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartLiveTail.html
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CloudWatchLogs_LiveTail.html
//!
//! The session is built from moto's own events: `FilterLogEvents` once at
//! the start (what is already there is never sent) and once a second
//! after, each new event id sent once. Frames use the AWS event-stream
//! encoding the SDK reads (`aws-smithy-eventstream`).

use std::collections::HashSet;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use hyper::body::{Body, Frame};
use serde_json::{Value, json};

/// Most events one update carries; beyond it Live Tail samples.
const MAX_PER_UPDATE: usize = 500;
/// How often an update is sent.
const UPDATE_EVERY: Duration = Duration::from_secs(1);

/// The session's body: frames as the session task produces them; the
/// task stops when the client goes away (this body is dropped).
pub(crate) struct Frames(tokio::sync::mpsc::Receiver<Bytes>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|frame| frame.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// What the session needs to read moto's events.
pub(crate) trait EventSource: Send + Sync + 'static {
    /// Every event of `group` matching `pattern`, as moto's
    /// `FilterLogEvents` returns them (all pages).
    fn events(
        &self,
        group: String,
        pattern: Option<String>,
    ) -> impl std::future::Future<Output = Vec<Value>> + Send;
}

/// The log group name in an identifier (an ARN, with or without `:*`, or
/// a name).
pub(crate) fn group_name(identifier: &str) -> String {
    let name = identifier
        .split_once(":log-group:")
        .map_or(identifier, |(_, name)| name);
    name.strip_suffix(":*").unwrap_or(name).to_string()
}

fn frame(event_type: &str, payload: &Value) -> Bytes {
    message(("event", ":event-type", event_type), payload)
}

fn exception(code: &str, text: &str) -> Bytes {
    message(
        ("exception", ":exception-type", code),
        &json!({ "message": text }),
    )
}

/// One event-stream message: `:message-type`, the header naming its kind
/// (`:event-type` or `:exception-type`), a JSON payload.
fn message((message_type, kind_header, kind): (&str, &str, &str), payload: &Value) -> Bytes {
    let text = |value: &str| HeaderValue::String(value.to_string().into());
    let headers = vec![
        Header::new(":message-type", text(message_type)),
        Header::new(kind_header.to_string(), text(kind)),
        Header::new(":content-type", text("application/json")),
    ];
    let message = Message::new_from_parts(headers, payload.to_string().into_bytes());
    let mut buffer = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut buffer)
        .expect("an event-stream frame encodes");
    Bytes::from(buffer)
}

/// A session on the first log group of the request: returns the body to
/// answer with; the updates run on a task of their own.
pub(crate) async fn start(
    source: impl EventSource,
    request: &Value,
    session_limit: Duration,
) -> Frames {
    let identifiers: Vec<String> = request["logGroupIdentifiers"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let pattern = request["logEventFilterPattern"]
        .as_str()
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let groups: Vec<(String, String)> = identifiers
        .iter()
        .map(|id| (id.clone(), group_name(id)))
        .collect();
    // What exists now is never sent.
    let mut seen = HashSet::new();
    for (_, group) in &groups {
        for event in source.events(group.clone(), pattern.clone()).await {
            seen.insert(event_id(&event));
        }
    }
    let start = json!({
        "requestId": uuid::Uuid::new_v4().to_string(),
        "sessionId": uuid::Uuid::new_v4().to_string(),
        "logGroupIdentifiers": identifiers,
        "logStreamNames": [],
        "logStreamNamePrefixes": [],
        "logEventFilterPattern": pattern.clone().unwrap_or_default(),
    });
    tokio::spawn(async move {
        if sender.send(frame("sessionStart", &start)).await.is_err() {
            return;
        }
        let ends = tokio::time::Instant::now() + session_limit;
        loop {
            tokio::time::sleep(UPDATE_EVERY).await;
            if tokio::time::Instant::now() >= ends {
                let _ = sender
                    .send(exception(
                        "SessionTimeoutException",
                        "Live Tail session has ended as the session's maximum duration of 3 hours has been reached",
                    ))
                    .await;
                return;
            }
            let mut fresh = Vec::new();
            for (identifier, group) in &groups {
                for event in source.events(group.clone(), pattern.clone()).await {
                    if seen.insert(event_id(&event)) {
                        fresh.push(json!({
                            "logStreamName": event["logStreamName"],
                            "logGroupIdentifier": identifier,
                            "message": event["message"],
                            "timestamp": event["timestamp"],
                            "ingestionTime": event["ingestionTime"],
                        }));
                    }
                }
            }
            fresh.sort_by_key(|event| event["timestamp"].as_i64().unwrap_or_default());
            let sampled = fresh.len() > MAX_PER_UPDATE;
            fresh.truncate(MAX_PER_UPDATE);
            let update = json!({
                "sessionMetadata": { "sampled": sampled },
                "sessionResults": fresh,
            });
            if sender.send(frame("sessionUpdate", &update)).await.is_err() {
                return; // the client went away
            }
        }
    });
    Frames(receiver)
}

fn event_id(event: &Value) -> String {
    event["eventId"].as_str().map_or_else(
        || {
            format!(
                "{}:{}:{}",
                event["logStreamName"], event["timestamp"], event["message"]
            )
        },
        str::to_string,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_name_their_group() {
        assert_eq!(
            group_name("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/shop-dev:*"),
            "/aws/lambda/shop-dev"
        );
        assert_eq!(
            group_name("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/shop-dev"),
            "/aws/lambda/shop-dev"
        );
        assert_eq!(group_name("/aws/lambda/shop-dev"), "/aws/lambda/shop-dev");
    }

    #[test]
    fn frames_decode_as_the_sdk_reads_them() {
        let bytes = frame("sessionUpdate", &json!({ "sessionResults": [] }));
        let message = aws_smithy_eventstream::frame::read_message_from(&mut bytes.clone()).unwrap();
        let header = |name: &str| {
            message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .and_then(|h| h.value().as_string().ok())
                .map(|s| s.as_str().to_string())
        };
        assert_eq!(header(":message-type").as_deref(), Some("event"));
        assert_eq!(header(":event-type").as_deref(), Some("sessionUpdate"));
        assert_eq!(&message.payload()[..], br#"{"sessionResults":[]}"#);
    }
}
