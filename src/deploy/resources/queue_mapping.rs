//! SQS handlers' sources: one event source mapping per handler, from its
//! queue to its stage alias (`name:alias`), with batch item failures
//! reported when slx.toml says so (the default). A mapping has no tags: it
//! is the stage's because it is listed under the stage's handler function,
//! and it is found again by function and queue ARN.
//! <https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html>
//! Never creates, changes or deletes a queue.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, RETRY_ROLE, Resource,
};
use crate::aws::{AwsError, ErrorClass, QueueInfo, QueueMapping, QueueMappingSpec, Reader};
use crate::config::EventSource;
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::names::{StageArns, StageNames};

pub(crate) struct QueueMappingKind;

/// The mappings of the stage's handlers, and the queues slx.toml names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QueuesState {
    /// Each handler's mappings.
    pub(crate) mappings: BTreeMap<String, Vec<QueueMapping>>,
    /// Each handler's mappings being deleted (`Deleting`), by queue ARN:
    /// not the handler's any more, but one of the same queue waits for
    /// them to go.
    pub(crate) deleting: BTreeMap<String, BTreeSet<String>>,
    /// Each queue slx.toml names (sources and `on_failure`), as written:
    /// `None` when it does not exist.
    pub(crate) queues: BTreeMap<String, Option<QueueInfo>>,
}

/// Variant names are the plan's `action` names (`create_queue_mapping`).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum QueueAction {
    CreateQueueMapping {
        handler: String,
        mapping: QueueMappingSpec,
        /// The read saw a mapping of this queue and function being
        /// deleted: wait until it is gone (else no wait, no extra call).
        #[serde(skip)]
        after_deletion: bool,
    },
    UpdateQueueMapping {
        handler: String,
        uuid: String,
        mapping: QueueMappingSpec,
    },
    DeleteQueueMapping {
        handler: String,
        uuid: String,
        queue_arn: String,
    },
}

impl ActionInfo for QueueAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            QueueAction::CreateQueueMapping {
                handler, mapping, ..
            } => format!(
                "handler {handler}: receive messages of {} in batches of up to {}",
                queue_name(&mapping.queue_arn),
                mapping.batch_size
            ),
            QueueAction::UpdateQueueMapping {
                handler, mapping, ..
            } => format!(
                "handler {handler}: update how it receives {} (batches of up to {}, window {}s, failures {})",
                queue_name(&mapping.queue_arn),
                mapping.batch_size,
                mapping.batch_window,
                if mapping.report_failures {
                    "per message"
                } else {
                    "per batch"
                }
            ),
            QueueAction::DeleteQueueMapping {
                handler, queue_arn, ..
            } => format!(
                "handler {handler}: stop receiving messages of {}",
                queue_name(queue_arn)
            ),
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // Lambda checks the role may receive from the queue, and maps
            // the queue to the handler's alias.
            QueueAction::CreateQueueMapping { handler, .. }
            | QueueAction::UpdateQueueMapping { handler, .. } => {
                vec![
                    Need::on(Kind::EventFunction, handler),
                    Need::all(Kind::Role),
                ]
            }
            QueueAction::DeleteQueueMapping { .. } => Vec::new(),
        }
    }

    fn instance(&self) -> Option<&str> {
        match self {
            QueueAction::CreateQueueMapping { handler, .. }
            | QueueAction::UpdateQueueMapping { handler, .. }
            | QueueAction::DeleteQueueMapping { handler, .. } => Some(handler),
        }
    }

    fn change(&self) -> Change {
        match self {
            QueueAction::CreateQueueMapping { .. } => Change::Create,
            QueueAction::UpdateQueueMapping { .. } => Change::Update,
            QueueAction::DeleteQueueMapping { .. } => Change::Delete,
        }
    }
}

/// The queue's name, the last part of its ARN.
fn queue_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// `sqs jobs (batches of up to 10)`: handler `handler`'s queue, if it
/// has one.
pub(crate) fn deployed_source(state: &QueuesState, handler: &str) -> Option<String> {
    let mapping = state.mappings.get(handler)?.first()?;
    Some(format!(
        "sqs {} (batches of up to {})",
        queue_name(&mapping.spec.queue_arn),
        mapping.spec.batch_size
    ))
}

/// `(name, account)` of a queue slx.toml names by name or ARN.
pub(crate) fn queue_reference(queue: &str) -> (&str, Option<&str>) {
    match queue.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [_, "sqs", _, account, name] => (name, Some(account)),
                _ => (queue, None),
            }
        }
        None => (queue, None),
    }
}

/// slx.toml's queue handlers and their mappings.
pub(crate) fn wanted(
    desired: &Desired,
    queues: &BTreeMap<String, Option<QueueInfo>>,
) -> Vec<(String, QueueMappingSpec)> {
    let arns = &desired.arns;
    desired
        .events
        .iter()
        .filter_map(|event| match &event.source {
            EventSource::Sqs(source) => Some((
                event.handler.clone(),
                QueueMappingSpec {
                    queue_arn: match queues.get(&source.queue) {
                        Some(Some(info)) => info.arn.clone(),
                        _ => arns.queue_arn(&source.queue),
                    },
                    function: format!("{}:{}", event.function, arns.alias),
                    batch_size: source.batch_size,
                    batch_window: source.batch_window,
                    report_failures: source.report_failures,
                },
            )),
            _ => None,
        })
        .collect()
}

fn delete(handler: &str, mapping: &QueueMapping) -> QueueAction {
    QueueAction::DeleteQueueMapping {
        handler: handler.to_string(),
        uuid: mapping.uuid.clone(),
        queue_arn: mapping.spec.queue_arn.clone(),
    }
}

impl Resource for QueueMappingKind {
    type Actual = QueuesState;
    type Action = QueueAction;

    type Reads<'a> = ();

    fn reads(_: &Actual) -> Self::Reads<'_> {}

    async fn read(
        reader: &Reader,
        names: &StageNames,
        found: &Found,
    ) -> Result<QueuesState, AwsError> {
        let handlers = found.handlers(reader, names).await?;
        // A mapping being deleted is not the handler's any more: one
        // wanted again is created anew (once it is gone).
        let mappings = handlers.iter().map(|handler| async move {
            let function = format!("{}:{}", names.event_function(handler), names.alias);
            let found = reader.queue_mappings(&function).await?;
            Ok::<_, AwsError>((handler.clone(), found))
        });
        let queues = names.referenced.queues.iter().map(|queue| async move {
            let (name, account) = queue_reference(queue);
            Ok::<_, AwsError>((queue.clone(), reader.queue(name, account).await?))
        });
        let (mappings, queues) = tokio::try_join!(
            futures_util::future::try_join_all(mappings),
            futures_util::future::try_join_all(queues),
        )?;
        let mut state = QueuesState {
            queues: queues.into_iter().collect(),
            ..QueuesState::default()
        };
        for (handler, found) in mappings {
            let (going, current): (Vec<_>, Vec<_>) = found.into_iter().partition(|m| m.deleting);
            if !going.is_empty() {
                let arns = going.into_iter().map(|m| m.spec.queue_arn).collect();
                state.deleting.insert(handler.clone(), arns);
            }
            if !current.is_empty() {
                state.mappings.insert(handler, current);
            }
        }
        Ok(state)
    }

    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<QueueAction> {
        let current = own;
        let wanted = wanted(desired, &current.queues);
        let mut actions = Vec::new();
        for (handler, spec) in &wanted {
            let existing = current
                .mappings
                .get(handler)
                .map(Vec::as_slice)
                .unwrap_or_default();
            match existing.iter().find(|m| m.spec.queue_arn == spec.queue_arn) {
                None => actions.push(QueueAction::CreateQueueMapping {
                    handler: handler.clone(),
                    mapping: spec.clone(),
                    after_deletion: current
                        .deleting
                        .get(handler)
                        .is_some_and(|going| going.contains(&spec.queue_arn)),
                }),
                Some(mapping) if mapping.spec != *spec => {
                    actions.push(QueueAction::UpdateQueueMapping {
                        handler: handler.clone(),
                        uuid: mapping.uuid.clone(),
                        mapping: spec.clone(),
                    })
                }
                Some(_) => {}
            }
            // The handler's queue changed: the old one stops sending.
            actions.extend(
                existing
                    .iter()
                    .filter(|m| m.spec.queue_arn != spec.queue_arn)
                    .map(|m| delete(handler, m)),
            );
        }
        for (handler, mappings) in &current.mappings {
            if !wanted.iter().any(|(h, _)| h == handler) {
                actions.extend(mappings.iter().map(|m| delete(handler, m)));
            }
        }
        actions
    }

    fn plan_removal(_: &StageNames, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<QueueAction> {
        own.mappings
            .iter()
            .flat_map(|(handler, mappings)| mappings.iter().map(|m| delete(handler, m)))
            .collect()
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        let mut grants = vec![
            // Event source mappings are authorised on the mapping's ARN,
            // which is a random id; the create is scoped to the stage's
            // functions by condition.
            // https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html
            // Listing is authorized on no resource type: only `*`.
            // https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html
            Grant::new(
                "ListHandlerQueueMappings",
                &["lambda:ListEventSourceMappings"],
                vec!["*".into()],
            ),
        ];
        let current = arns.handler_functions_arns();
        if !current.is_empty() {
            // Made, changed and read only for the handlers slx.toml names.
            // https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html
            let for_current = serde_json::json!({ "ArnLike": { "lambda:FunctionArn": current } });
            grants.push(
                Grant::new(
                    "HandlerQueueMappings",
                    &[
                        "lambda:GetEventSourceMapping",
                        "lambda:UpdateEventSourceMapping",
                        "lambda:DeleteEventSourceMapping",
                    ],
                    vec![arns.event_source_mappings_arn()],
                )
                .when(for_current.clone()),
            );
            grants.push(
                Grant::new(
                    "CreateHandlerQueueMappings",
                    &["lambda:CreateEventSourceMapping"],
                    vec!["*".into()],
                )
                .when(for_current),
            );
        }
        // A retired handler's mapping is read and deleted by its
        // function's name: mappings carry no tags to tell another
        // stage's apart by (docs/ci.md).
        grants.push(
            Grant::new(
                "RetiredHandlerQueueMappings",
                &[
                    "lambda:GetEventSourceMapping",
                    "lambda:DeleteEventSourceMapping",
                ],
                vec![arns.event_source_mappings_arn()],
            )
            .when(serde_json::json!({
                "ArnLike": { "lambda:FunctionArn": arns.event_functions_arns().to_vec() }
            })),
        );
        // Looked up by the names slx.toml gives.
        let queues: Vec<String> = arns
            .referenced
            .queues
            .iter()
            .map(|queue| arns.queue_arn(queue))
            .collect();
        if !queues.is_empty() {
            grants.push(Grant::new(
                "LookUpQueues",
                &["sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
                queues,
            ));
        }
        grants
    }

    async fn apply(action: &QueueAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match action {
            QueueAction::CreateQueueMapping {
                mapping,
                after_deletion,
                ..
            } => {
                if *after_deletion {
                    wait_deleted(ctx, mapping, step).await?;
                }
                // Lambda refuses the mapping until it sees the role may
                // receive from the queue (IAM propagation).
                ctx.call(step, RETRY_ROLE, || w.create_queue_mapping(mapping))
                    .await
            }
            QueueAction::UpdateQueueMapping { uuid, mapping, .. } => {
                ctx.call(step, RETRY_ROLE, || w.update_queue_mapping(uuid, mapping))
                    .await
            }
            QueueAction::DeleteQueueMapping { uuid, .. } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || w.delete_queue_mapping(uuid))
                    .await
            }
        }
    }
}

/// How long a mapping may take to go away before slx stops waiting.
const DELETION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Waits until no mapping of `mapping`'s queue and function is being
/// deleted: Lambda refuses a new one until the old is gone (a source
/// removed and added again, a deploy right after an undeploy).
async fn wait_deleted(
    ctx: &ApplyContext<'_>,
    mapping: &QueueMappingSpec,
    step: &str,
) -> Result<(), AwsError> {
    let gone = || async {
        let mappings = ctx
            .call(step, RETRY_ALWAYS, || {
                ctx.reader.queue_mappings(&mapping.function)
            })
            .await?;
        let going = mappings
            .iter()
            .any(|m| m.deleting && m.spec.queue_arn == mapping.queue_arn);
        Ok((!going).then_some(()))
    };
    let late = || {
        AwsError::fatal(
            step,
            format!(
                "the earlier mapping of {} is still being deleted after {} minutes",
                queue_name(&mapping.queue_arn),
                DELETION_TIMEOUT.as_secs() / 60
            ),
            "run the deploy again once `aws lambda list-event-source-mappings` no longer shows it",
        )
    };
    let pace = (DELETION_TIMEOUT, std::time::Duration::from_secs(2));
    super::poll(ctx.sleeper, ctx.clock, pace, gone, late).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_named_by_name_or_arn() {
        assert_eq!(queue_reference("jobs"), ("jobs", None));
        assert_eq!(
            queue_reference("arn:aws:sqs:eu-west-1:123456789012:jobs.fifo"),
            ("jobs.fifo", Some("123456789012"))
        );
        assert_eq!(queue_name("arn:aws:sqs:eu-west-1:1:jobs"), "jobs");
    }

    /// A mapping of the same queue still being deleted: the new one is
    /// made once it is gone, and only then does the apply wait.
    #[test]
    fn a_mapping_made_while_the_old_one_is_deleted_waits_for_it() {
        let mut desired = crate::deploy::desired::tests::desired();
        desired.events = vec![crate::deploy::desired::tests::event(
            "on_job",
            crate::deploy::desired::tests::jobs_queue(),
        )];
        let queue = desired.arns.queue_arn("jobs");
        let after_deletion =
            |state: &QueuesState| match &QueueMappingKind::plan(&desired, state, ())[..] {
                [QueueAction::CreateQueueMapping { after_deletion, .. }] => *after_deletion,
                other => panic!("{other:?}"),
            };
        assert!(!after_deletion(&QueuesState::default()));
        let deleting = QueuesState {
            deleting: BTreeMap::from([("on_job".to_string(), BTreeSet::from([queue]))]),
            ..QueuesState::default()
        };
        assert!(after_deletion(&deleting));
    }
}
