//! S3: a bucket's notification configuration, the one document an S3
//! event handler shares with whoever else listens to the bucket.
//!
//! `PutBucketNotificationConfiguration` replaces the whole document, so a
//! write is always read-modify-write: the entries slx owns (their `Id`
//! starts with the stage's prefix) are replaced and everything else
//! (other teams' Lambda, queue and topic entries, EventBridge) is sent
//! back exactly as S3 returned it. slx never creates or deletes buckets.
//!
//! API reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketNotificationConfiguration.html>

use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, S3KeyFilter,
};

use std::collections::BTreeSet;

use super::{AwsError, Reader, Writer, absent};

/// One Lambda entry of a bucket's notification configuration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub(crate) struct LambdaNotification {
    pub(crate) id: String,
    /// The function (alias) S3 invokes.
    pub(crate) function_arn: String,
    /// S3's event types (`s3:ObjectCreated:*`), sorted.
    pub(crate) events: Vec<String>,
    pub(crate) prefix: Option<String>,
    pub(crate) suffix: Option<String>,
}

/// A bucket's notification configuration, split into the entries of one
/// owner (by `Id` prefix) and everything else, kept as S3 returned it.
#[derive(Debug, Clone)]
pub(crate) struct BucketNotifications {
    /// The owner's Lambda entries, sorted by id.
    pub(crate) owned: Vec<LambdaNotification>,
    /// Every entry the owner does not own, untouched.
    others: NotificationConfiguration,
}

impl Default for BucketNotifications {
    fn default() -> Self {
        BucketNotifications {
            owned: Vec::new(),
            others: NotificationConfiguration::builder().build(),
        }
    }
}

impl PartialEq for BucketNotifications {
    fn eq(&self, other: &Self) -> bool {
        self.owned == other.owned && self.others == other.others
    }
}

impl Eq for BucketNotifications {}

impl LambdaNotification {
    /// Its prefix and suffix (`None`: any).
    pub(crate) fn key_filters(&self) -> (Option<&str>, Option<&str>) {
        (self.prefix.as_deref(), self.suffix.as_deref())
    }
}

impl BucketNotifications {
    /// The rules of every entry that belongs to others (Lambda, queue
    /// and topic), as plain data: S3 refuses a rule of ours that overlaps
    /// one of them.
    pub(crate) fn others(&self) -> Vec<LambdaNotification> {
        let entry = notification;
        let others = &self.others;
        let lambda = others
            .lambda_function_configurations()
            .iter()
            .map(|c| entry(c.id(), c.lambda_function_arn(), c.events(), c.filter()));
        let queues = others
            .queue_configurations()
            .iter()
            .map(|c| entry(c.id(), c.queue_arn(), c.events(), c.filter()));
        let topics = others
            .topic_configurations()
            .iter()
            .map(|c| entry(c.id(), c.topic_arn(), c.events(), c.filter()));
        lambda.chain(queues).chain(topics).collect()
    }

    /// The same document with the owner's entries replaced by `owned`.
    pub(crate) fn with_owned(&self, owned: Vec<LambdaNotification>) -> BucketNotifications {
        BucketNotifications {
            owned,
            others: self.others.clone(),
        }
    }

    fn document(&self) -> Result<NotificationConfiguration, AwsError> {
        let mut lambda = spelled_as_modelled(self.others.lambda_function_configurations(), |e| {
            &mut e.filter
        });
        for entry in &self.owned {
            let rules: Vec<FilterRule> = [
                (FilterRuleName::Prefix, &entry.prefix),
                (FilterRuleName::Suffix, &entry.suffix),
            ]
            .into_iter()
            .filter_map(|(name, value)| {
                value
                    .as_ref()
                    .map(|v| FilterRule::builder().name(name).value(v).build())
            })
            .collect();
            let mut built = LambdaFunctionConfiguration::builder()
                .id(&entry.id)
                .lambda_function_arn(&entry.function_arn)
                .set_events(Some(
                    entry
                        .events
                        .iter()
                        .map(|e| Event::from(e.as_str()))
                        .collect(),
                ));
            if !rules.is_empty() {
                built = built.filter(
                    NotificationConfigurationFilter::builder()
                        .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                        .build(),
                );
            }
            lambda.push(built.build().map_err(|e| {
                AwsError::fatal(
                    format!("write the notification entry {}", entry.id),
                    e.to_string(),
                    "report this as a bug in slx",
                )
            })?);
        }
        let topics = spelled_as_modelled(self.others.topic_configurations(), |e| &mut e.filter);
        let queues = spelled_as_modelled(self.others.queue_configurations(), |e| &mut e.filter);
        Ok(NotificationConfiguration::builder()
            .set_topic_configurations(Some(topics))
            .set_queue_configurations(Some(queues))
            .set_lambda_function_configurations(Some(lambda))
            .set_event_bridge_configuration(self.others.event_bridge_configuration().cloned())
            .build())
    }
}

/// Another owner's `entries`, each `filter` with its rule names as the
/// model spells them (`with_model_rule_names`).
fn spelled_as_modelled<T: Clone>(
    entries: &[T],
    filter: impl Fn(&mut T) -> &mut Option<NotificationConfigurationFilter>,
) -> Vec<T> {
    entries
        .iter()
        .cloned()
        .map(|mut entry| {
            let slot = filter(&mut entry);
            *slot = slot.take().map(with_model_rule_names);
            entry
        })
        .collect()
}

/// `filter` with its rule names as S3's API model spells them (`prefix`,
/// `suffix`): S3 answers them capitalised, and another owner's entry is
/// written back with the rest of the document. The same rules, in the
/// only spelling the model admits.
/// <https://github.com/aws/aws-sdk/issues/389>
fn with_model_rule_names(
    mut filter: NotificationConfigurationFilter,
) -> NotificationConfigurationFilter {
    let rules = filter
        .key
        .as_mut()
        .and_then(|key| key.filter_rules.as_mut());
    for rule in rules.into_iter().flatten() {
        rule.name =
            rule.name
                .take()
                .map(|name| match name.as_str().to_ascii_lowercase().as_str() {
                    "prefix" => FilterRuleName::Prefix,
                    "suffix" => FilterRuleName::Suffix,
                    _ => name,
                });
    }
    filter
}

/// An entry's rules as plain data, events sorted.
fn notification(
    id: Option<&str>,
    target: &str,
    events: &[Event],
    filter: Option<&NotificationConfigurationFilter>,
) -> LambdaNotification {
    let mut events: Vec<String> = events.iter().map(|e| e.as_str().to_string()).collect();
    events.sort();
    LambdaNotification {
        id: id.unwrap_or_default().to_string(),
        function_arn: target.to_string(),
        events,
        prefix: rule(filter, FilterRuleName::Prefix),
        suffix: rule(filter, FilterRuleName::Suffix),
    }
}

/// The value of the filter rule `name`. S3 answers with `Prefix` and
/// `Suffix` though it is sent (and the SDK names them) `prefix` and
/// `suffix`: names are compared without case.
/// <https://github.com/aws/aws-sdk/issues/389>
fn rule(filter: Option<&NotificationConfigurationFilter>, name: FilterRuleName) -> Option<String> {
    filter?
        .key()?
        .filter_rules()
        .iter()
        .find(|r| {
            r.name()
                .is_some_and(|n| n.as_str().eq_ignore_ascii_case(name.as_str()))
        })
        .and_then(|r| r.value().map(str::to_string))
}

impl Reader {
    /// The notification configuration of `bucket` (`None`: no such
    /// bucket), with the Lambda entries whose id is in `owned` apart.
    pub(crate) async fn bucket_notifications(
        &self,
        bucket: &str,
        owned: &BTreeSet<String>,
    ) -> Result<Option<BucketNotifications>, AwsError> {
        let answer = self
            .clients
            .s3
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("read the notification configuration of bucket {bucket}"),
                    &e,
                )
            });
        let Some(answer) = absent(answer)? else {
            return Ok(None);
        };
        let (owned, foreign): (Vec<_>, Vec<_>) = answer
            .lambda_function_configurations()
            .iter()
            .cloned()
            .partition(|entry| entry.id().is_some_and(|id| owned.contains(id)));
        let mut owned: Vec<LambdaNotification> = owned
            .iter()
            .map(|c| notification(c.id(), c.lambda_function_arn(), c.events(), c.filter()))
            .collect();
        owned.sort();
        let others = NotificationConfiguration::builder()
            .set_topic_configurations(Some(answer.topic_configurations().to_vec()))
            .set_queue_configurations(Some(answer.queue_configurations().to_vec()))
            .set_lambda_function_configurations(Some(foreign))
            .set_event_bridge_configuration(answer.event_bridge_configuration().cloned())
            .build();
        Ok(Some(BucketNotifications { owned, others }))
    }
}

impl Writer {
    /// Replaces `bucket`'s notification configuration with `document`.
    pub(crate) async fn put_bucket_notifications(
        &self,
        bucket: &str,
        account: &str,
        document: &BucketNotifications,
    ) -> Result<(), AwsError> {
        let step = format!("write the notification configuration of bucket {bucket}");
        self.clients
            .s3
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .expected_bucket_owner(account)
            .notification_configuration(document.document()?)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::types::S3KeyFilter;

    use super::*;

    #[test]
    fn filter_rules_read_back_as_s3_names_them() {
        let rule_named = |name: &str, value: &str| {
            FilterRule::builder()
                .name(FilterRuleName::from(name))
                .value(value)
                .build()
        };
        let filter = NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(rule_named("Prefix", "incoming/"))
                    .filter_rules(rule_named("Suffix", ".csv"))
                    .build(),
            )
            .build();
        assert_eq!(
            rule(Some(&filter), FilterRuleName::Prefix).as_deref(),
            Some("incoming/")
        );
        assert_eq!(
            rule(Some(&filter), FilterRuleName::Suffix).as_deref(),
            Some(".csv")
        );
        assert_eq!(rule(None, FilterRuleName::Prefix), None);
    }

    /// Another owner's entry goes back with its rules spelled as S3's
    /// model admits them, whatever S3 answered.
    #[test]
    fn others_rules_are_written_as_the_model_spells_them() {
        use aws_sdk_s3::types::QueueConfiguration;
        let answered = QueueConfiguration::builder()
            .queue_arn("arn:aws:sqs:us-east-1:1:audit")
            .events(Event::from("s3:ObjectCreated:*"))
            .filter(
                NotificationConfigurationFilter::builder()
                    .key(
                        S3KeyFilter::builder()
                            .filter_rules(
                                FilterRule::builder()
                                    .name(FilterRuleName::from("Prefix"))
                                    .value("reports/")
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        let written = spelled_as_modelled(&[answered], |e| &mut e.filter);
        let rule = &written[0]
            .filter
            .as_ref()
            .unwrap()
            .key
            .as_ref()
            .unwrap()
            .filter_rules()[0];
        assert_eq!(rule.name(), Some(&FilterRuleName::Prefix));
        assert_eq!(rule.value(), Some("reports/"));
    }
}
