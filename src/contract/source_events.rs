//! The events S3, SQS and EventBridge Scheduler send an `[events.NAME]`
//! function, field for field as AWS documents them, for `slx invoke
//! --handler` and `slx dev`; and the input slx gives each schedule.
//!
//! Pure: the clock, ids, region and account are passed in.
// S3: https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
// SQS: https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html
// Scheduler: https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html

use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::config::{S3EventKind, S3Source, ScheduleSource, SqsSource};
use crate::names::StageArns;

/// Where and when an event is made.
#[derive(Debug, Clone)]
pub(crate) struct Origin<'a> {
    pub(crate) arns: &'a StageArns,
    pub(crate) now_ms: u64,
    /// Seeds the ids in the event (request ids, message ids).
    pub(crate) id: &'a str,
}

impl Origin<'_> {
    /// `2026-11-27T17:30:00.123Z`, as AWS writes event times.
    fn time(&self) -> String {
        jiff::Timestamp::from_millisecond(self.now_ms as i64)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default()
    }
}

/// What S3 leaves unencoded in an event's object key: S3 writes keys
/// form-encoded (a space as `+`), keeping `/` and the unreserved marks.
const KEY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b' ');

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One S3 object event: `key` written (with `content`) or removed.
pub(crate) fn s3_event(
    source: &S3Source,
    handler: &str,
    key: &str,
    content: &[u8],
    kind: S3EventKind,
    origin: &Origin<'_>,
) -> Value {
    let encoded = utf8_percent_encode(key, KEY_KEEP)
        .to_string()
        .replace(' ', "+");
    // S3's sequencer grows with time per key; a removed object's record
    // has no size or ETag.
    let sequencer = format!("{:016X}", origin.now_ms);
    let object = match kind {
        S3EventKind::Created => json!({
            "key": encoded,
            "size": content.len(),
            "eTag": hex(&Md5::digest(content)),
            "sequencer": sequencer,
        }),
        S3EventKind::Removed => json!({ "key": encoded, "sequencer": sequencer }),
    };
    let event_name = match kind {
        S3EventKind::Created => "ObjectCreated:Put",
        S3EventKind::Removed => "ObjectRemoved:Delete",
    };
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": origin.arns.region,
            "eventTime": origin.time(),
            "eventName": event_name,
            "userIdentity": { "principalId": "AWS:SLXLOCAL" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {
                "x-amz-request-id": origin.id,
                "x-amz-id-2": format!("slx/{}", origin.id),
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": origin.arns.s3_notification_id(handler),
                "bucket": {
                    "name": source.bucket,
                    "ownerIdentity": { "principalId": "SLXLOCAL" },
                    "arn": origin.arns.bucket_arn(&source.bucket),
                },
                "object": object,
            },
        }]
    })
}

/// A batch of SQS messages with these bodies, as Lambda's poller sends it.
pub(crate) fn sqs_event(source: &SqsSource, bodies: &[String], origin: &Origin<'_>) -> Value {
    let sent = origin.now_ms.to_string();
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(index, body)| {
            let message_id = format!("{}-{index}", origin.id);
            json!({
                "messageId": message_id,
                "receiptHandle": format!("slx-local-{message_id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent,
                    "SenderId": "SLXLOCAL",
                    "ApproximateFirstReceiveTimestamp": sent,
                },
                "messageAttributes": {},
                "md5OfBody": hex(&Md5::digest(body.as_bytes())),
                "eventSource": "aws:sqs",
                "eventSourceARN": origin.arns.queue_arn(&source.queue),
                "awsRegion": origin.arns.region,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// What a schedule's function receives: EventBridge Scheduler sends the
/// target's input as it is, with its context attributes filled in. The
/// deploy writes it with the placeholders; locally they are given.
pub(crate) fn schedule_payload(
    source: &ScheduleSource,
    time: &str,
    execution_id: &str,
    attempt: &str,
    schedule_arn: &str,
) -> Value {
    json!({
        "time": time,
        "input": source.input.clone().unwrap_or(Value::Null),
        "execution_id": execution_id,
        "attempt": attempt,
        "schedule_arn": schedule_arn,
    })
}

/// A run of a schedule due now.
pub(crate) fn schedule_event(source: &ScheduleSource, handler: &str, origin: &Origin<'_>) -> Value {
    // Scheduler's scheduled time has whole seconds.
    let due = Origin {
        now_ms: origin.now_ms / 1000 * 1000,
        ..origin.clone()
    };
    let time = due.time().replace(".000Z", "Z");
    schedule_payload(
        source,
        &time,
        origin.id,
        "1",
        &origin.arns.schedule_arn(handler),
    )
}

/// The call a function authorizer is asked about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AuthorizedCall {
    pub(crate) api_id: String,
    pub(crate) method: String,
    /// The request's path (`/orders/42`) and the resource it matched
    /// (`/orders/{id}`).
    pub(crate) path: String,
    pub(crate) resource: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) source_ip: String,
}

/// The event API Gateway sends a function authorizer about `call`: a
/// `TOKEN` event with the header's value, or a `REQUEST` event with the
/// request's headers, query and path.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
pub(crate) fn authorizer_event(
    source: &crate::config::AuthorizerSource,
    call: &AuthorizedCall,
    origin: &Origin<'_>,
) -> Value {
    let arns = origin.arns;
    let method_arn = format!(
        "arn:{}:execute-api:{}:{}:{}/{}/{}/{}",
        arns.partition.id,
        arns.region,
        arns.account,
        call.api_id,
        arns.stage,
        call.method,
        call.path.trim_start_matches('/')
    );
    if !source.request {
        let token = call
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&source.header))
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        return json!({
            "type": "TOKEN",
            "authorizationToken": token,
            "methodArn": method_arn,
        });
    }
    let single = |pairs: &[(String, String)]| -> serde_json::Map<String, Value> {
        pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
    };
    json!({
        "type": "REQUEST",
        "methodArn": method_arn,
        "resource": call.resource,
        "path": call.path,
        "httpMethod": call.method,
        "headers": single(&call.headers),
        "queryStringParameters": single(&call.query),
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {
            "accountId": arns.account,
            "apiId": call.api_id,
            "httpMethod": call.method,
            "path": format!("/{}{}", arns.stage, call.path),
            "resourcePath": call.resource,
            "stage": arns.stage,
            "requestId": origin.id,
            "identity": { "sourceIp": call.source_ip },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::StageNames;

    fn arns() -> StageArns {
        StageArns::new(
            StageNames::new("shop", "dev"),
            "eu-west-1",
            "123456789012",
            "",
        )
    }

    #[test]
    fn an_s3_key_is_form_encoded_as_s3_writes_it() {
        let arns = arns();
        let origin = Origin {
            arns: &arns,
            now_ms: 1_764_264_600_123,
            id: "r1",
        };
        let source = S3Source {
            bucket: "shop-uploads".into(),
            events: vec![S3EventKind::Created],
            prefix: None,
            suffix: None,
        };
        let event = s3_event(
            &source,
            "on_upload",
            "incoming/my photo+1 (ü).jpg",
            b"abc",
            S3EventKind::Created,
            &origin,
        );
        let record = &event["Records"][0];
        assert_eq!(
            record["s3"]["object"]["key"],
            "incoming/my+photo%2B1+%28%C3%BC%29.jpg"
        );
        assert_eq!(record["s3"]["object"]["size"], 3);
        assert_eq!(
            record["s3"]["object"]["eTag"],
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(record["eventTime"], "2025-11-27T17:30:00.123Z");
        assert_eq!(record["s3"]["configurationId"], "slx-shop-dev-on_upload");
        assert_eq!(record["s3"]["bucket"]["arn"], "arn:aws:s3:::shop-uploads");
        let removed = s3_event(
            &source,
            "on_upload",
            "a",
            b"",
            S3EventKind::Removed,
            &origin,
        );
        assert_eq!(removed["Records"][0]["eventName"], "ObjectRemoved:Delete");
        assert!(removed["Records"][0]["s3"]["object"].get("size").is_none());
    }

    /// Dotted path of every field (data maps not entered).
    fn paths(value: &Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = format!("{prefix}.{key}");
                    out.insert(path.clone());
                    if key != "messageAttributes" && key != "attributes" {
                        paths(child, &path, out);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    paths(item, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }

    fn shape(value: &Value) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        paths(value, "", &mut out);
        out
    }

    fn origin(arns: &StageArns) -> Origin<'_> {
        Origin {
            arns,
            now_ms: 1_764_264_600_123,
            id: "r1",
        }
    }

    #[test]
    fn the_s3_event_has_the_fields_of_aws_sample_and_parses_as_one() {
        let sample: Value = serde_json::from_str(include_str!(
            "../../tests/it/fixtures/aws/s3-object-created.json"
        ))
        .unwrap();
        let arns = arns();
        let source = S3Source {
            bucket: "shop-uploads".into(),
            events: vec![S3EventKind::Created],
            prefix: None,
            suffix: None,
        };
        let ours = s3_event(
            &source,
            "on_upload",
            "a b.jpg",
            b"x",
            S3EventKind::Created,
            &origin(&arns),
        );
        // A version id exists only in versioned buckets (README of the
        // fixtures).
        let mut expected = shape(&sample);
        expected.remove(".Records[].s3.object.versionId");
        assert_eq!(shape(&ours), expected);
        let parsed: aws_lambda_events::s3::S3Event = serde_json::from_value(ours).unwrap();
        let object = &parsed.records[0].s3.object;
        assert_eq!(object.key.as_deref(), Some("a+b.jpg"));
        assert_eq!(object.size, Some(1));
        assert_eq!(
            parsed.records[0].event_name.as_deref(),
            Some("ObjectCreated:Put")
        );
    }

    #[test]
    fn the_sqs_event_has_the_fields_of_aws_sample_and_parses_as_one() {
        let sample: Value = serde_json::from_str(include_str!(
            "../../tests/it/fixtures/aws/sqs-receive-message.json"
        ))
        .unwrap();
        let arns = arns();
        let source = SqsSource {
            queue: "shop-jobs".into(),
            batch_size: 10,
            batch_window: 0,
            report_failures: true,
        };
        let ours = sqs_event(&source, &["{}".into(), "two".into()], &origin(&arns));
        // Only a message sent with attributes has their digest.
        let mut expected = shape(&sample);
        expected.remove(".Records[].md5OfMessageAttributes");
        assert_eq!(shape(&ours), expected);
        let parsed: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(ours).unwrap();
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.records[1].body.as_deref(), Some("two"));
        assert_eq!(
            parsed.records[0].event_source_arn.as_deref(),
            Some("arn:aws:sqs:eu-west-1:123456789012:shop-jobs")
        );
        // MD5 of "two", as SQS computes md5OfBody.
        assert_eq!(
            parsed.records[1].md5_of_body.as_deref(),
            Some("b8a9f715dbb64fd5c56e7783c6820a61")
        );
    }

    #[test]
    fn a_schedule_run_carries_its_due_time_and_input() {
        let arns = arns();
        let source = ScheduleSource {
            expression: "rate(1 hour)".into(),
            timezone: None,
            input: Some(json!({"report": "daily"})),
        };
        let run = schedule_event(&source, "nightly", &origin(&arns));
        assert_eq!(run["time"], "2025-11-27T17:30:00Z");
        assert_eq!(run["input"], json!({"report": "daily"}));
        assert_eq!(
            run["schedule_arn"],
            "arn:aws:scheduler:eu-west-1:123456789012:schedule/shop-dev/nightly"
        );
    }
}
