//! What a deploy refuses before its first write, and what it warns
//! about, for the stage's event sources and custom domain: the things AWS
//! would refuse half-way through (a bucket or queue that does not exist, a
//! queue whose visibility timeout is shorter than the function's timeout,
//! a rule that overlaps another on the same bucket, a certificate in
//! another region) or that slx must not do (take over a base path of
//! someone else's domain), said up front with the fix.
//!
//! Pure: judges `Desired` against what was read.

use crate::aws::LambdaNotification;
use crate::config::{EventSource, key_filters_overlap, limits};
use crate::contract::iam_pattern;

use super::desired::Desired;
use super::resources::Actual;
use super::resources::bucket_notification;

/// Why the stage's sources cannot be deployed as slx.toml says.
#[derive(Debug, thiserror::Error, miette::Diagnostic, PartialEq, Eq)]
#[error("{problem}")]
#[diagnostic(code(slx::deploy::sources), help("{fix}"))]
pub(crate) struct SourceRefused {
    pub(crate) problem: String,
    pub(crate) fix: String,
}

/// Refuses what AWS would refuse; the warnings for what it would accept
/// but the user should know.
pub(crate) fn check(desired: &Desired, actual: &Actual) -> Result<Vec<String>, SourceRefused> {
    let buckets = &actual.bucket_notification.buckets;
    let queues = &actual.queue_mapping.queues;
    for event in &desired.events {
        let handler = &event.handler;
        let queues_named = match &event.source {
            EventSource::Sqs(source) => Some(&source.queue),
            _ => None,
        };
        for queue in queues_named.into_iter().chain(&event.on_failure_queue) {
            if let Some(problem) = limits::queue_region_problem(queue, &desired.arns.region) {
                return Err(SourceRefused {
                    problem: format!("handler {handler}: {problem}"),
                    fix: limits::QUEUE_REGION_FIX.into(),
                });
            }
        }
        match &event.source {
            EventSource::S3(source) => {
                if !matches!(buckets.get(&source.bucket), Some(Some(_))) {
                    return Err(SourceRefused {
                        problem: format!(
                            "bucket {} (the source of handler {handler}) does not exist",
                            source.bucket
                        ),
                        fix: "create the bucket first: slx never creates or deletes buckets, they hold your data (or correct `bucket` in slx.toml)".into(),
                    });
                }
            }
            EventSource::Sqs(source) => match queues.get(&source.queue) {
                Some(Some(queue)) if queue.visibility_timeout < event.timeout => {
                    // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
                    return Err(SourceRefused {
                        problem: format!(
                            "queue {}'s visibility timeout ({} s) is shorter than handler {handler}'s timeout ({} s): Lambda refuses the mapping, since a message could be handed out again while it is still being handled",
                            source.queue, queue.visibility_timeout, event.timeout
                        ),
                        fix: format!(
                            "raise the queue's VisibilityTimeout to at least {} s (AWS recommends six times the function's timeout: {} s), or lower the handler's `timeout`",
                            event.timeout,
                            event.timeout * 6
                        ),
                    });
                }
                Some(Some(_)) => {}
                _ => return Err(missing_queue(&source.queue, handler, "its source")),
            },
            EventSource::Schedule(_) | EventSource::Authorizer(_) => {}
        }
        if let Some(queue) = &event.on_failure_queue
            && !matches!(queues.get(queue), Some(Some(_)))
        {
            return Err(missing_queue(queue, handler, "`on_failure`"));
        }
    }
    for (_, bucket, entry) in bucket_notification::wanted(desired) {
        let Some(Some(document)) = buckets.get(&bucket) else {
            continue;
        };
        if let Some(other) = document.others().iter().find(|o| overlaps(&entry, o)) {
            // https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-filtering.html
            return Err(SourceRefused {
                problem: format!(
                    "handler {}'s rule on bucket {bucket} overlaps the bucket's notification `{}` (to {}): S3 refuses two rules for the same event type whose prefixes and suffixes can both match one key",
                    entry.id.trim_start_matches(&format!("slx-{}-", desired.arns.function)),
                    other.id,
                    other.function_arn
                ),
                fix: "give the handler a `prefix` or `suffix` that the other rule cannot match, or change the other rule".into(),
            });
        }
    }
    check_domain(desired, actual)?;
    Ok(recursion_warnings(desired))
}

fn missing_queue(queue: &str, handler: &str, role: &str) -> SourceRefused {
    SourceRefused {
        problem: format!("queue {queue} ({role} of handler {handler}) does not exist"),
        fix: "create the queue first: slx never creates or deletes queues, they hold your data (or correct the name in slx.toml)".into(),
    }
}

/// Whether S3 would consider two rules overlapping: a common event type
/// (`s3:ObjectCreated:*` covers `s3:ObjectCreated:Put`), and a key both
/// prefixes and both suffixes can match.
fn overlaps(a: &LambdaNotification, b: &LambdaNotification) -> bool {
    let family = |event: &str| {
        event
            .rsplit_once(':')
            .map_or(event.to_string(), |(f, _)| f.to_string())
    };
    let common_event = a.events.iter().any(|x| {
        b.events
            .iter()
            .any(|y| x == y || (family(x) == family(y) && (x.ends_with(":*") || y.ends_with(":*"))))
    });
    common_event && key_filters_overlap(a.key_filters(), b.key_filters())
}

/// S3 handlers whose role may write where their own events come from:
/// every object they write would run them again, without end.
// https://docs.aws.amazon.com/lambda/latest/dg/with-s3.html (recursive invocation)
/// The custom domain: its certificate must be in the stage's region
/// (a regional domain's is; slx.toml may not name the region), and a
/// base path of someone else's domain that serves another API is not
/// slx's to take.
fn check_domain(desired: &Desired, actual: &Actual) -> Result<(), SourceRefused> {
    let Some(domain) = &desired.domain else {
        return Ok(());
    };
    let region = &desired.arns.region;
    if let Some(found) = crate::config::gateway::certificate_region(&domain.certificate)
        && found != region
    {
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-regional-api-custom-domain-create.html
        return Err(SourceRefused {
            problem: format!(
                "the certificate of {} is in {found}, the stage deploys to {region}: a regional custom domain needs a certificate in its own region",
                domain.name
            ),
            fix: format!(
                "request or import a certificate for {} in {region} (ACM, region {region}) and set its ARN as `certificate`",
                domain.name
            ),
        });
    }
    let names = desired.arns.names();
    let Some(existing) = actual.domain.named(&domain.name) else {
        return Ok(());
    };
    if names.owns(&existing.info.tags) {
        return Ok(());
    }
    let base_path = domain.base_path.clone().unwrap_or_default();
    let api = actual.api.as_ref().map(|api| api.id.as_str());
    match existing.mappings.iter().find(|m| m.base_path == base_path) {
        Some(mapping) if !(Some(mapping.rest_api_id.as_str()) == api && mapping.stage == names.stage) => {
            Err(SourceRefused {
                problem: format!(
                    "{} already serves REST API {} (stage {}); {} was not created by slx, so slx will not take that mapping over",
                    super::resources::domain::custom_url(&domain.name, &base_path),
                    mapping.rest_api_id,
                    mapping.stage,
                    domain.name
                ),
                fix: "choose another `base_path` in [stages.NAME.domain], or remove that mapping in the API Gateway console".into(),
            })
        }
        _ => Ok(()),
    }
}

fn recursion_warnings(desired: &Desired) -> Vec<String> {
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(&desired.role_policy) else {
        return Vec::new();
    };
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    let list = |value: &serde_json::Value| -> Vec<String> {
        match value {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut warnings = Vec::new();
    for event in &desired.events {
        let EventSource::S3(source) = &event.source else {
            continue;
        };
        if !source.events.contains(&crate::config::S3EventKind::Created) {
            continue;
        }
        // A key the handler's own rule matches.
        let key = format!(
            "{}x{}",
            source.prefix.as_deref().unwrap_or(""),
            source.suffix.as_deref().unwrap_or("")
        );
        let object = format!("{}/{key}", desired.arns.bucket_arn(&source.bucket));
        let writes = statements.iter().any(|statement| {
            statement["Effect"] == "Allow"
                && list(&statement["Action"])
                    .iter()
                    .any(|a| iam_pattern::matches(&a.to_ascii_lowercase(), "s3:putobject"))
                && list(&statement["Resource"])
                    .iter()
                    .any(|r| iam_pattern::matches(r, &object))
        });
        if writes {
            warnings.push(format!(
                "handler {} may write to bucket {}{}, where its own events come from: each object it writes there runs it again (give what it writes another prefix, or narrow [[permissions]])",
                event.handler,
                source.bucket,
                source
                    .prefix
                    .as_deref()
                    .map(|p| format!(" under {p}"))
                    .unwrap_or_default()
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(events: &[&str], prefix: Option<&str>, suffix: Option<&str>) -> LambdaNotification {
        LambdaNotification {
            id: "x".into(),
            function_arn: "arn".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            prefix: prefix.map(str::to_string),
            suffix: suffix.map(str::to_string),
        }
    }

    /// Lambda maps only queues of the function's region; a queue ARN of
    /// another region is refused before any write, even when a queue of
    /// the same name exists in the stage's region.
    #[test]
    fn a_queue_of_another_region_is_refused_first() {
        use crate::aws::QueueInfo;
        use crate::config::SqsSource;
        let mut desired = crate::deploy::desired::tests::desired();
        let elsewhere = "arn:aws:sqs:us-east-1:123456789012:jobs";
        desired.events = vec![crate::deploy::desired::tests::event(
            "on_job",
            EventSource::Sqs(SqsSource {
                queue: elsewhere.into(),
                batch_size: 10,
                batch_window: 0,
                report_failures: true,
            }),
        )];
        let mut actual = Actual::default();
        // What the lookup by name finds: the stage region's `jobs`.
        actual.queue_mapping.queues.insert(
            elsewhere.into(),
            Some(QueueInfo {
                arn: "arn:aws:sqs:eu-west-1:123456789012:jobs".into(),
                visibility_timeout: 60,
            }),
        );
        let refused = check(&desired, &actual).unwrap_err();
        assert!(
            refused
                .problem
                .contains("is in us-east-1, the stage's functions in eu-west-1"),
            "{refused:?}"
        );
        // The same queue of the stage's region is fine.
        let here = "arn:aws:sqs:eu-west-1:123456789012:jobs";
        let EventSource::Sqs(source) = &mut desired.events[0].source else {
            unreachable!()
        };
        source.queue = here.into();
        let found = actual.queue_mapping.queues.remove(elsewhere).unwrap();
        actual.queue_mapping.queues.insert(here.into(), found);
        assert!(check(&desired, &actual).is_ok());
        // And `on_failure` is held to the same region.
        desired.events[0].on_failure_queue = Some("arn:aws:sqs:us-west-2:123456789012:dead".into());
        assert!(
            check(&desired, &actual)
                .unwrap_err()
                .problem
                .contains("us-west-2")
        );
    }

    #[test]
    fn rules_overlap_as_s3_decides() {
        let created = ["s3:ObjectCreated:*"];
        let ours = rule(&created, Some("incoming/"), None);
        // Another rule for every key of the same type overlaps.
        assert!(overlaps(&ours, &rule(&created, None, None)));
        assert!(overlaps(
            &ours,
            &rule(&["s3:ObjectCreated:Put"], None, None)
        ));
        assert!(overlaps(
            &ours,
            &rule(&created, Some("incoming/csv/"), None)
        ));
        // Disjoint prefixes, suffixes or event types do not.
        assert!(!overlaps(&ours, &rule(&created, Some("archive/"), None)));
        assert!(!overlaps(&ours, &rule(&["s3:ObjectRemoved:*"], None, None)));
        let csv = rule(&created, None, Some(".csv"));
        assert!(!overlaps(&csv, &rule(&created, None, Some(".json"))));
        assert!(overlaps(&csv, &rule(&created, None, Some("s.csv"))));
    }

    #[test]
    fn iam_wildcards() {
        assert!(iam_pattern::matches(
            "arn:aws:s3:::uploads/*",
            "arn:aws:s3:::uploads/incoming/x"
        ));
        assert!(iam_pattern::matches("*", "anything"));
        assert!(iam_pattern::matches("s3:put*", "s3:putobject"));
        assert!(iam_pattern::matches(
            "arn:aws:s3:::up?oads/*",
            "arn:aws:s3:::uploads/a"
        ));
        assert!(!iam_pattern::matches(
            "arn:aws:s3:::uploads/out/*",
            "arn:aws:s3:::uploads/incoming/x"
        ));
        assert!(!iam_pattern::matches("s3:getobject", "s3:putobject"));
    }

    #[test]
    fn a_missing_bucket_or_a_short_visibility_timeout_is_refused_with_the_fix() {
        use crate::aws::QueueInfo;
        use crate::config::S3Source;
        use crate::deploy::desired::EventDesired;
        use crate::deploy::desired::tests::jobs_queue;
        let event = |handler: &str, source| EventDesired {
            timeout: 60,
            ..crate::deploy::desired::tests::event(handler, source)
        };
        let mut desired = crate::deploy::desired::tests::desired();
        desired.events = vec![event(
            "on_upload",
            EventSource::S3(S3Source {
                bucket: "uploads".into(),
                events: vec![crate::config::S3EventKind::Created],
                prefix: None,
                suffix: None,
            }),
        )];
        let refused = check(&desired, &Actual::default()).unwrap_err();
        assert!(
            refused
                .problem
                .contains("bucket uploads (the source of handler on_upload) does not exist")
        );
        assert!(refused.fix.contains("slx never creates or deletes buckets"));

        desired.events = vec![event("on_job", jobs_queue())];
        let mut actual = Actual::default();
        actual.queue_mapping.queues.insert(
            "jobs".into(),
            Some(QueueInfo {
                arn: "arn:aws:sqs:eu-west-1:123456789012:jobs".into(),
                visibility_timeout: 30,
            }),
        );
        let refused = check(&desired, &actual).unwrap_err();
        assert!(
            refused.problem.contains(
                "visibility timeout (30 s) is shorter than handler on_job's timeout (60 s)"
            )
        );
        assert!(
            refused
                .fix
                .contains("six times the function's timeout: 360 s")
        );
        actual
            .queue_mapping
            .queues
            .get_mut("jobs")
            .unwrap()
            .as_mut()
            .unwrap()
            .visibility_timeout = 360;
        assert_eq!(check(&desired, &actual), Ok(vec![]));
    }
}
