//! What S3 checks when a bucket's notification configuration is written,
//! which moto does not: every Lambda destination must already allow S3
//! to invoke it, and no two rules may send the same event type for a key
//! both could match.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/how-to-enable-disable-notification-intro.html>
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-filtering.html>

use crate::world::Refusal;

/// One entry of a `NotificationConfiguration` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    /// The Lambda function's ARN (`None` for a queue or topic).
    pub(crate) function: Option<String>,
    pub(crate) events: Vec<String>,
    pub(crate) prefix: String,
    pub(crate) suffix: String,
}

/// The inner text of each `<name>…</name>` in `xml` (not nested).
fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

/// The rules of a `PutBucketNotificationConfiguration` body.
pub(crate) fn rules(xml: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (entry, target) in [
        ("CloudFunctionConfiguration", Some("CloudFunction")),
        ("QueueConfiguration", None),
        ("TopicConfiguration", None),
    ] {
        for body in elements(xml, entry) {
            let filter = |name: &str| {
                elements(body, "FilterRule")
                    .into_iter()
                    .find(|rule| {
                        elements(rule, "Name")
                            .first()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    })
                    .and_then(|rule| elements(rule, "Value").first().map(|v| v.to_string()))
                    .unwrap_or_default()
            };
            rules.push(Rule {
                function: target.and_then(|t| elements(body, t).first().map(|f| f.to_string())),
                events: elements(body, "Event")
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                prefix: filter("prefix"),
                suffix: filter("suffix"),
            });
        }
    }
    rules
}

/// `s3:ObjectCreated:*` covers `s3:ObjectCreated:Put`.
fn common_event(a: &Rule, b: &Rule) -> bool {
    let family = |e: &str| {
        e.rsplit_once(':')
            .map_or(e.to_string(), |(f, _)| f.to_string())
    };
    a.events.iter().any(|x| {
        b.events
            .iter()
            .any(|y| x == y || (family(x) == family(y) && (x.ends_with(":*") || y.ends_with(":*"))))
    })
}

fn overlap(a: &Rule, b: &Rule) -> bool {
    common_event(a, b)
        && (a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix))
        && (a.suffix.ends_with(&b.suffix) || b.suffix.ends_with(&a.suffix))
}

/// `(function, qualifier)` of a Lambda ARN.
pub(crate) fn function_of(arn: &str) -> Option<(String, String)> {
    let rest = arn.split(":function:").nth(1)?;
    let (name, qualifier) = rest.split_once(':').unwrap_or((rest, ""));
    Some((name.to_string(), qualifier.to_string()))
}

/// S3's verdict on a new document; `may_invoke` says whether a function
/// (and qualifier) lets S3 invoke it.
pub(crate) fn check(
    rules: &[Rule],
    may_invoke: impl Fn(&str, &str) -> bool,
) -> Result<(), Refusal> {
    for (i, a) in rules.iter().enumerate() {
        if rules[i + 1..].iter().any(|b| overlap(a, b)) {
            return Err(Refusal {
                status: 400,
                code: "InvalidArgument",
                message: "Configurations overlap. Configurations on the same bucket cannot share a common event type.".into(),
            });
        }
    }
    let unvalidated: Vec<&str> = rules
        .iter()
        .filter_map(|r| r.function.as_deref())
        .filter(|arn| {
            function_of(arn).is_none_or(|(name, qualifier)| !may_invoke(&name, &qualifier))
        })
        .collect();
    if !unvalidated.is_empty() {
        return Err(Refusal {
            status: 400,
            code: "InvalidArgument",
            message: format!(
                "Unable to validate the following destination configurations: {}",
                unvalidated.join(", ")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = "<NotificationConfiguration><QueueConfiguration><Id>audit</Id><Queue>arn:aws:sqs:us-east-1:1:audit</Queue><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>reports/</Value></FilterRule></S3Key></Filter></QueueConfiguration><CloudFunctionConfiguration><Id>slx</Id><CloudFunction>arn:aws:lambda:us-east-1:1:function:shop-dev-up:dev</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>Prefix</Name><Value>incoming/</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration></NotificationConfiguration>";

    #[test]
    fn a_destination_must_allow_s3_first() {
        let rules = rules(DOCUMENT);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].prefix, "incoming/", "Lambda entries first");
        assert_eq!(rules[1].prefix, "reports/");
        let refused = check(&rules, |_, _| false).unwrap_err();
        assert!(refused.message.contains("function:shop-dev-up:dev"));
        assert!(check(&rules, |f, q| f == "shop-dev-up" && q == "dev").is_ok());
    }

    #[test]
    fn overlapping_rules_are_refused() {
        let overlapping = DOCUMENT.replace("incoming/", "reports/2026/");
        let refused = check(&rules(&overlapping), |_, _| true).unwrap_err();
        assert!(refused.message.contains("overlap"));
    }
}
