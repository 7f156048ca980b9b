//! S3 handlers' sources: for each, a permission on the handler's alias
//! that lets S3 invoke it (statement `slx-s3-invoke`, scoped to the
//! bucket's ARN and the stage's account), and an entry in the bucket's
//! notification configuration (`Id = slx-<app>-<stage>-<handler>`).
//!
//! The notification configuration is one document per bucket, shared with
//! whoever else listens to it: slx rewrites only its own entries and sends
//! everything else back as S3 returned it, re-reading the document right
//! before each write. S3 checks the permission when the entry is written,
//! so the permission comes first, and goes last.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/how-to-enable-disable-notification-intro.html>
//! Never creates, changes or deletes a bucket.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::event_function::HandlerState;
use super::{ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource};
use crate::aws::{
    AwsError, BucketNotifications, ErrorClass, LambdaNotification, NewPermission, Reader,
};
use crate::config::{EventSource, S3EventKind};
use crate::deploy::deployer_policy::{Grant, handler_grants};
use crate::deploy::desired::Desired;
use crate::names::{S3_PERMISSION_ID, StageArns, StageNames};

pub(crate) struct BucketNotification;

/// S3 handlers' permissions and the buckets they listen to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BucketsState {
    /// The bucket ARN each handler's alias lets S3 invoke it for.
    pub(crate) permissions: BTreeMap<String, String>,
    /// Each bucket slx.toml names or a permission points at (`None`: it
    /// does not exist).
    pub(crate) buckets: BTreeMap<String, Option<BucketNotifications>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum BucketAction {
    /// Let S3 invoke the handler's alias for events of `bucket`.
    AddS3Permission {
        handler: String,
        function: String,
        alias: String,
        bucket: String,
        /// A statement for another bucket is removed first.
        replace: bool,
    },
    /// Make slx's entries in `bucket`'s notification configuration these
    /// (none: remove them); every other entry stays as it is.
    SetBucketNotifications {
        bucket: String,
        entries: Vec<LambdaNotification>,
        /// The ids that are slx's in this stage: what is replaced.
        owned: BTreeSet<String>,
        /// The handlers `entries` invoke: what it waits for.
        #[serde(skip)]
        handlers: BTreeSet<String>,
    },
    RemoveS3Permission {
        handler: String,
        function: String,
        alias: String,
    },
}

impl ActionInfo for BucketAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            BucketAction::AddS3Permission {
                handler, bucket, ..
            } => format!("handler {handler}: allow bucket {bucket} to invoke it"),
            BucketAction::SetBucketNotifications {
                bucket, entries, ..
            } if entries.is_empty() => {
                format!("remove slx's entries from bucket {bucket}'s notifications (others kept)")
            }
            BucketAction::SetBucketNotifications {
                bucket, entries, ..
            } => {
                let rules: Vec<String> = entries.iter().map(describe_entry).collect();
                format!(
                    "set slx's entries in bucket {bucket}'s notifications (others kept): {}",
                    rules.join("; ")
                )
            }
            BucketAction::RemoveS3Permission { handler, .. } => {
                format!("handler {handler}: stop allowing S3 to invoke it")
            }
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // Both name the handlers' aliases.
            BucketAction::AddS3Permission { handler, .. } => {
                vec![Need::on(Kind::EventFunction, handler)]
            }
            BucketAction::SetBucketNotifications { handlers, .. } => handlers
                .iter()
                .map(|handler| Need::on(Kind::EventFunction, handler))
                .collect(),
            BucketAction::RemoveS3Permission { .. } => Vec::new(),
        }
    }

    /// A permission is one handler's; a bucket's configuration serves
    /// all of its handlers (no instance: it waits for, and is waited
    /// for by, every handler's step of this kind).
    fn instance(&self) -> Option<&str> {
        match self {
            BucketAction::AddS3Permission { handler, .. }
            | BucketAction::RemoveS3Permission { handler, .. } => Some(handler),
            BucketAction::SetBucketNotifications { .. } => None,
        }
    }

    fn change(&self) -> Change {
        match self {
            BucketAction::AddS3Permission { .. } => Change::Create,
            BucketAction::SetBucketNotifications { entries, .. } if entries.is_empty() => {
                Change::Delete
            }
            BucketAction::SetBucketNotifications { .. } => Change::Update,
            BucketAction::RemoveS3Permission { .. } => Change::Delete,
        }
    }
}

/// `created under incoming/ → shop-dev-on_upload`.
fn describe_entry(entry: &LambdaNotification) -> String {
    let mut text = kinds(entry).join("+");
    if let Some(prefix) = &entry.prefix {
        text.push_str(&format!(" under {prefix}"));
    }
    if let Some(suffix) = &entry.suffix {
        text.push_str(&format!(" ending {suffix}"));
    }
    let target = entry
        .function_arn
        .rsplit_once(":function:")
        .map_or(entry.function_arn.as_str(), |(_, f)| f);
    format!("{text} → {target}")
}

/// `created`, `removed`: the kinds of object event an entry sends.
fn kinds(entry: &LambdaNotification) -> Vec<&'static str> {
    entry
        .events
        .iter()
        .filter_map(|e| S3EventKind::of_aws_event(e))
        .map(S3EventKind::as_str)
        .collect()
}

/// `s3://bucket/prefix*suffix (created)`: handler `handler`'s source as
/// the bucket's notification configuration holds it, if it has one.
pub(crate) fn deployed_source(
    names: &StageNames,
    state: &BucketsState,
    handler: &str,
) -> Option<String> {
    let id = names.s3_notification_id(handler);
    state.buckets.iter().find_map(|(bucket, document)| {
        let entry = document.as_ref()?.owned.iter().find(|e| e.id == id)?;
        Some(format!(
            "s3://{bucket}/{}*{} ({})",
            entry.prefix.as_deref().unwrap_or(""),
            entry.suffix.as_deref().unwrap_or(""),
            kinds(entry).join(", ")
        ))
    })
}

/// slx.toml's S3 handlers: (handler, bucket, entry).
pub(crate) fn wanted(desired: &Desired) -> Vec<(String, String, LambdaNotification)> {
    let arns = &desired.arns;
    desired
        .events
        .iter()
        .filter_map(|event| match &event.source {
            EventSource::S3(source) => {
                let mut events: Vec<String> = source
                    .events
                    .iter()
                    .map(|k| k.aws_event().to_string())
                    .collect();
                events.sort();
                Some((
                    event.handler.clone(),
                    source.bucket.clone(),
                    LambdaNotification {
                        id: arns.s3_notification_id(&event.handler),
                        function_arn: arns.event_alias_arn(&event.handler),
                        events,
                        prefix: source.prefix.clone(),
                        suffix: source.suffix.clone(),
                    },
                ))
            }
            _ => None,
        })
        .collect()
}

/// The ids of every handler slx.toml or AWS knows for the stage.
fn owned_ids(names: &StageNames, handlers: impl Iterator<Item = String>) -> BTreeSet<String> {
    handlers.map(|h| names.s3_notification_id(&h)).collect()
}

/// The bucket a permission statement's source ARN names.
fn bucket_of(arn: &str) -> Option<&str> {
    arn.split_once(":s3:::").map(|(_, bucket)| bucket)
}

/// The bucket ARN slx's S3 statement in a function policy allows.
fn s3_statement(policy: &str) -> Option<String> {
    let document: serde_json::Value = serde_json::from_str(policy).ok()?;
    let statement = document["Statement"]
        .as_array()?
        .iter()
        .find(|statement| statement["Sid"] == S3_PERMISSION_ID)?;
    statement["Condition"]["ArnLike"]["AWS:SourceArn"]
        .as_str()
        .map(str::to_string)
}

impl Resource for BucketNotification {
    type Actual = BucketsState;
    type Action = BucketAction;

    type Reads<'a> = &'a BTreeMap<String, HandlerState>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        &actual.event_function
    }

    async fn read(
        reader: &Reader,
        names: &StageNames,
        found: &Found,
    ) -> Result<BucketsState, AwsError> {
        let handlers = found.handlers(reader, names).await?;
        let policies = handlers.iter().map(|handler| async move {
            let function = names.event_function(handler);
            let policy = reader.policy(&function, &names.alias).await?;
            Ok::<_, AwsError>((handler.clone(), policy.as_deref().and_then(s3_statement)))
        });
        let permissions: BTreeMap<String, String> = futures_util::future::try_join_all(policies)
            .await?
            .into_iter()
            .filter_map(|(handler, arn)| Some((handler, arn?)))
            .collect();
        let mut buckets: BTreeSet<String> = names.referenced.buckets.clone();
        buckets.extend(
            permissions
                .values()
                .filter_map(|arn| bucket_of(arn))
                .map(str::to_string),
        );
        let owned = owned_ids(names, handlers.iter().cloned());
        let owned = &owned;
        let reads = buckets.into_iter().map(|bucket| async move {
            let document = reader.bucket_notifications(&bucket, owned).await?;
            Ok::<_, AwsError>((bucket, document))
        });
        Ok(BucketsState {
            permissions,
            buckets: futures_util::future::try_join_all(reads)
                .await?
                .into_iter()
                .collect(),
        })
    }

    fn plan(desired: &Desired, own: &Self::Actual, reads: Self::Reads<'_>) -> Vec<BucketAction> {
        let arns = &desired.arns;
        let current = own;
        let wanted = wanted(desired);
        let mut actions = Vec::new();
        for (handler, bucket, _) in &wanted {
            let arn = arns.bucket_arn(bucket);
            let existing = current.permissions.get(handler);
            if existing != Some(&arn) {
                actions.push(BucketAction::AddS3Permission {
                    handler: handler.clone(),
                    function: arns.event_function(handler),
                    alias: arns.alias.clone(),
                    bucket: bucket.clone(),
                    replace: existing.is_some(),
                });
            }
        }
        let owned = owned_ids(
            arns,
            desired
                .events
                .iter()
                .map(|e| e.handler.clone())
                .chain(reads.keys().cloned())
                .chain(current.permissions.keys().cloned()),
        );
        for (bucket, document) in &current.buckets {
            // A missing bucket slx.toml names is refused before the plan
            // runs; one a removed handler listened to has nothing left.
            let Some(document) = document else { continue };
            let on_bucket = || wanted.iter().filter(|(_, b, _)| b == bucket);
            let mut entries: Vec<LambdaNotification> =
                on_bucket().map(|(_, _, entry)| entry.clone()).collect();
            entries.sort();
            if entries != document.owned {
                actions.push(BucketAction::SetBucketNotifications {
                    bucket: bucket.clone(),
                    entries,
                    owned: owned.clone(),
                    handlers: on_bucket().map(|(handler, _, _)| handler.clone()).collect(),
                });
            }
        }
        for handler in current.permissions.keys() {
            let still_s3 = wanted.iter().any(|(h, _, _)| h == handler);
            // A removed handler's permission goes with its function.
            let function_stays = desired.events.iter().any(|e| &e.handler == handler);
            if !still_s3 && function_stays {
                actions.push(BucketAction::RemoveS3Permission {
                    handler: handler.clone(),
                    function: arns.event_function(handler),
                    alias: arns.alias.clone(),
                });
            }
        }
        actions
    }

    fn plan_removal(
        names: &StageNames,
        own: &Self::Actual,
        reads: Self::Reads<'_>,
    ) -> Vec<BucketAction> {
        let current = own;
        let owned = owned_ids(
            names,
            reads.keys().chain(current.permissions.keys()).cloned(),
        );
        current
            .buckets
            .iter()
            .filter_map(|(bucket, document)| {
                let has_ours = document.as_ref().is_some_and(|d| !d.owned.is_empty());
                has_ours.then(|| BucketAction::SetBucketNotifications {
                    bucket: bucket.clone(),
                    entries: Vec::new(),
                    owned: owned.clone(),
                    handlers: BTreeSet::new(),
                })
            })
            .collect()
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        // Only buckets of the stage's account.
        let buckets = Grant::new(
            "HandlerBucketNotifications",
            &["s3:GetBucketNotification", "s3:PutBucketNotification"],
            vec![arns.bucket_arn("*")],
        )
        .when(serde_json::json!({
            "StringEquals": { "s3:ResourceAccount": arns.account }
        }));
        let mut grants = vec![buckets];
        grants.extend(handler_grants(
            arns,
            "HandlerInvokePermissions",
            &[
                "lambda:GetPolicy",
                "lambda:AddPermission",
                "lambda:RemovePermission",
            ],
            arns.handler_functions_arns(),
            &["lambda:GetPolicy", "lambda:RemovePermission"],
            arns.event_functions_arns().to_vec(),
        ));
        grants
    }

    async fn apply(action: &BucketAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        let account = &ctx.arns.account;
        match action {
            BucketAction::AddS3Permission {
                function,
                alias,
                bucket,
                replace,
                ..
            } => {
                if *replace {
                    ctx.call_tolerating(step, ErrorClass::NotFound, || {
                        w.remove_permission(function, alias, S3_PERMISSION_ID)
                    })
                    .await?;
                }
                let permission = NewPermission {
                    function_name: function.clone(),
                    qualifier: alias.clone(),
                    statement_id: S3_PERMISSION_ID.to_string(),
                    principal: ctx.arns.s3_principal().to_string(),
                    source_arn: ctx.arns.bucket_arn(bucket),
                    source_account: Some(account.clone()),
                };
                // A lost answer's statement is already there.
                ctx.call_tolerating(step, ErrorClass::AlreadyExists, || {
                    w.add_permission(&permission)
                })
                .await
            }
            BucketAction::SetBucketNotifications {
                bucket,
                entries,
                owned,
                ..
            } => {
                // Read again right before writing: whatever others changed
                // since the plan's read is kept too.
                let current = ctx
                    .call(step, RETRY_ALWAYS, || {
                        ctx.reader.bucket_notifications(bucket, owned)
                    })
                    .await?;
                let Some(current) = current else {
                    return Err(AwsError::fatal(
                        step,
                        format!("bucket {bucket} does not exist"),
                        "create the bucket (slx never creates buckets), or correct `bucket` in slx.toml",
                    ));
                };
                let document = current.with_owned(entries.clone());
                ctx.call(step, RETRY_ALWAYS, || {
                    w.put_bucket_notifications(bucket, account, &document)
                })
                .await
            }
            BucketAction::RemoveS3Permission {
                function, alias, ..
            } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || {
                    w.remove_permission(function, alias, S3_PERMISSION_ID)
                })
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_names_the_bucket() {
        let policy = r#"{"Statement":[{"Sid":"other"},{"Sid":"slx-s3-invoke","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::uploads"}}}]}"#;
        let arn = s3_statement(policy).unwrap();
        assert_eq!(bucket_of(&arn), Some("uploads"));
        assert_eq!(s3_statement(r#"{"Statement":[{"Sid":"other"}]}"#), None);
    }

    #[test]
    fn an_entry_reads_as_its_rule_and_function() {
        let entry = LambdaNotification {
            id: "slx-shop-dev-on_upload".into(),
            function_arn: "arn:aws:lambda:eu-west-1:1:function:shop-dev-on_upload:dev".into(),
            events: vec!["s3:ObjectCreated:*".into()],
            prefix: Some("incoming/".into()),
            suffix: Some(".csv".into()),
        };
        assert_eq!(
            describe_entry(&entry),
            "created under incoming/ ending .csv → shop-dev-on_upload:dev"
        );
    }
}
