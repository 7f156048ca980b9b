//! The functions of the stage's `[events.NAME]` handlers: for each, a
//! function `<app>-<stage>-NAME` (tagged `slx:handler = NAME`) from the
//! stage's one zip, its log group, its stage alias (what the handler's
//! source invokes), its published versions, and where its failed
//! asynchronous invocations go (`on_failure`).
//!
//! A handler's function is found by name and tag like everything else;
//! one no longer in slx.toml is found by listing the functions whose
//! names start with the stage's (see `discover`) and removed, after its
//! source stopped sending it events.
//! Never touches the API's function, nor any source.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::alias::{point, publish};
use super::bucket_notification::BucketsState;
use super::function::{self, FunctionAction, wait_ready};
use super::log_group::{LogGroup, LogGroupAction, LogGroupState, plan_group, read_group};
use super::permission::Statement;
use super::queue_mapping::QueuesState;
use super::schedule::SchedulesState;
use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ROLE, Resource, Status,
    StatusView, not_ours,
};
use crate::aws::{AwsError, ErrorClass, FunctionInfo, Reader, VersionInfo};
use crate::deploy::deployer_policy::{Grant, handler_grants};
use crate::deploy::desired::{Desired, EventDesired};
use crate::deploy::versions;
use crate::names::{StageArns, StageNames, TAG_HANDLER, log_group_of};

pub(crate) struct EventFunction;

/// One handler's function as AWS holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HandlerState {
    /// `$LATEST`; `None` when only the log group is left.
    pub(crate) latest: Option<FunctionInfo>,
    /// The version the stage alias serves.
    pub(crate) served: Option<FunctionInfo>,
    pub(crate) versions: Vec<VersionInfo>,
    pub(crate) log_group: Option<LogGroupState>,
    /// The on-failure destination of the alias's asynchronous invocations.
    pub(crate) on_failure: Option<String>,
}

/// What one handler's function needs done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum HandlerStep {
    LogGroup(LogGroupAction),
    Function(FunctionAction),
    Alias(HandlerAlias),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum HandlerAlias {
    /// Publish `$LATEST` and point the handler's stage alias at it.
    PublishHandler {
        function: String,
        alias: String,
        code_sha256: String,
        alias_exists: bool,
        description: String,
    },
    PruneHandlerVersions {
        function: String,
        keep: u32,
        versions: Vec<String>,
    },
    /// Where failed asynchronous invocations go (`None`: nowhere).
    SetOnFailure {
        function: String,
        alias: String,
        destination: Option<String>,
    },
}

/// A step for one handler's function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct EventFunctionAction {
    pub(crate) handler: String,
    #[serde(flatten)]
    pub(crate) step: HandlerStep,
    /// Part of removing a handler slx.toml no longer has (said in the
    /// plan line; a stage's undeploy removes every handler and says so
    /// once).
    #[serde(skip)]
    pub(crate) retired: bool,
}

impl ActionInfo for EventFunctionAction {
    fn describe(&self, names: &StageNames) -> String {
        let what = match &self.step {
            HandlerStep::LogGroup(action) => action.describe(names),
            HandlerStep::Function(FunctionAction::DeleteFunction { function }) => {
                format!("delete function {function}, its versions and alias")
            }
            HandlerStep::Function(action) => action.describe(names),
            HandlerStep::Alias(HandlerAlias::PublishHandler { .. }) => {
                "publish a version and point the stage alias at it".into()
            }
            HandlerStep::Alias(HandlerAlias::PruneHandlerVersions { keep, versions, .. }) => {
                format!(
                    "prune version{} {} (keeping the newest {keep})",
                    if versions.len() == 1 { "" } else { "s" },
                    versions.join(", ")
                )
            }
            HandlerStep::Alias(HandlerAlias::SetOnFailure {
                destination: Some(queue),
                ..
            }) => format!("send failed events to {queue}"),
            HandlerStep::Alias(HandlerAlias::SetOnFailure {
                destination: None, ..
            }) => "stop sending failed events to a queue".into(),
        };
        let retired = if self.retired {
            " (no longer in slx.toml)"
        } else {
            ""
        };
        format!("handler {}: {what}{retired}", self.handler)
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match &self.step {
            // Its sources stop sending it events first.
            HandlerStep::Function(FunctionAction::DeleteFunction { .. }) => {
                [Kind::Schedule, Kind::BucketNotification, Kind::QueueMapping]
                    .into_iter()
                    .map(|source| Need::on(source, &self.handler))
                    .collect()
            }
            HandlerStep::Function(_) => vec![Need::on(Kind::Role, super::role::MADE)],
            // The new version's first event finds the role's new policy.
            HandlerStep::Alias(HandlerAlias::PublishHandler { .. }) => {
                vec![Need::on(Kind::Role, super::role::MADE)]
            }
            _ => Vec::new(),
        }
    }

    fn instance(&self) -> Option<&str> {
        Some(&self.handler)
    }

    fn change(&self) -> Change {
        match &self.step {
            HandlerStep::LogGroup(action) => action.change(),
            HandlerStep::Function(action) => action.change(),
            HandlerStep::Alias(HandlerAlias::PruneHandlerVersions { .. }) => Change::Delete,
            HandlerStep::Alias(_) => Change::Update,
        }
    }

    fn before_build(&self) -> bool {
        match &self.step {
            HandlerStep::LogGroup(action) => action.before_build(),
            _ => false,
        }
    }
}

/// The stage's event handler functions that exist, found by listing the
/// functions and log groups named like them and keeping those tagged as
/// the stage's; plus slx.toml's handlers, whose names are known.
pub(crate) async fn discover(
    reader: &Reader,
    names: &StageNames,
) -> Result<BTreeSet<String>, AwsError> {
    let prefix = names.event_function_prefix();
    let group_prefix = log_group_of(&prefix);
    let (functions, groups) = tokio::try_join!(
        reader.functions_starting_with(&prefix),
        reader.log_groups_under(&group_prefix),
    )?;
    // The deployer may read the tags of the stage's resources only
    // (`tagged_as_stage`): another stage's are denied, so not ours.
    let function_tags = functions.iter().map(|f| async {
        let tags = AwsError::unless_denied(reader.function_tags(&f.arn).await)?.unwrap_or_default();
        Ok::<_, AwsError>((f.name.clone(), tags))
    });
    let group_tags = groups.iter().map(|g| async {
        let tags =
            AwsError::unless_denied(reader.log_group_tags(&g.arn).await)?.unwrap_or_default();
        Ok::<_, AwsError>((g.name.clone(), tags))
    });
    let (function_tags, group_tags) = tokio::try_join!(
        futures_util::future::try_join_all(function_tags),
        futures_util::future::try_join_all(group_tags),
    )?;
    let mut handlers = names.referenced.handlers.clone();
    // Another stage's resources share the prefix when its name extends
    // this one's (`dev` and `dev-eu`): their tags tell them apart.
    for (function, tags) in function_tags {
        if let Some(handler) = tags.get(TAG_HANDLER)
            && names.owns(&tags)
            && names.event_function(handler) == function
        {
            handlers.insert(handler.clone());
        }
    }
    for (group, tags) in group_tags {
        if let Some(handler) = group.strip_prefix(&group_prefix)
            && names.owns(&tags)
            && !handler.is_empty()
        {
            handlers.insert(handler.to_string());
        }
    }
    Ok(handlers)
}

/// Reads one handler's function, log group, alias and versions.
async fn read_handler(
    reader: &Reader,
    names: &StageNames,
    handler: &str,
) -> Result<HandlerState, AwsError> {
    let function = names.event_function(handler);
    let group = log_group_of(&function);
    let (latest, log_group) = tokio::try_join!(
        reader.function(&function, None),
        read_group(reader, names, &group),
    )?;
    let Some(latest) = latest else {
        return Ok(HandlerState {
            log_group,
            ..HandlerState::default()
        });
    };
    let tags = reader.function_tags(&latest.arn).await?;
    if !names.owns(&tags) || tags.get(TAG_HANDLER).map(String::as_str) != Some(handler) {
        return Err(not_ours(
            format!("read function {function}"),
            &format!("function {function}"),
        ));
    }
    let (served, versions, on_failure) = tokio::try_join!(
        reader.function(&function, Some(&names.alias)),
        reader.versions(&function),
        reader.on_failure(&function, &names.alias),
    )?;
    Ok(HandlerState {
        latest: Some(latest),
        served,
        versions,
        log_group,
        on_failure,
    })
}

/// The steps that make one handler's function what slx.toml says.
fn plan_handler(desired: &Desired, event: &EventDesired, state: &HandlerState) -> Vec<HandlerStep> {
    let mut steps: Vec<HandlerStep> = plan_group(
        &log_group_of(&event.function),
        desired.log_retention_days,
        state.log_group.as_ref(),
    )
    .into_iter()
    .map(HandlerStep::LogGroup)
    .collect();
    let wanted = desired.event_function(event);
    let function_steps = function::plan_function(&wanted, state.latest.as_ref());
    let serves_current = state
        .served
        .as_ref()
        .is_some_and(|served| function::matches(&wanted, served));
    let function_changes = !function_steps.is_empty();
    steps.extend(function_steps.into_iter().map(HandlerStep::Function));
    if function_changes || !serves_current {
        steps.push(HandlerStep::Alias(HandlerAlias::PublishHandler {
            function: event.function.clone(),
            alias: desired.arns.alias.clone(),
            code_sha256: desired.code_sha256.clone(),
            alias_exists: state.served.is_some(),
            description: desired.release.clone(),
        }));
        let prune = versions::to_prune_after_publish(
            &state.versions,
            &desired.code_sha256,
            function_changes,
            desired.keep_versions,
            None,
        );
        if !prune.is_empty() {
            steps.push(HandlerStep::Alias(HandlerAlias::PruneHandlerVersions {
                function: event.function.clone(),
                keep: desired.keep_versions,
                versions: prune,
            }));
        }
    }
    if state.on_failure != event.on_failure {
        steps.push(HandlerStep::Alias(HandlerAlias::SetOnFailure {
            function: event.function.clone(),
            alias: desired.arns.alias.clone(),
            destination: event.on_failure.clone(),
        }));
    }
    steps
}

/// The removal of one handler's function and log group (`retired`: of
/// one slx.toml no longer has, in a deploy).
fn plan_handler_removal(
    names: &StageNames,
    handler: &str,
    state: &HandlerState,
    retired: bool,
) -> Vec<EventFunctionAction> {
    let function = names.event_function(handler);
    let mut steps = Vec::new();
    if state.latest.is_some() {
        steps.push(HandlerStep::Function(FunctionAction::DeleteFunction {
            function: function.clone(),
        }));
    }
    if state.log_group.is_some() {
        steps.push(HandlerStep::LogGroup(LogGroupAction::DeleteLogGroup {
            log_group: log_group_of(&function),
        }));
    }
    steps
        .into_iter()
        .map(|step| EventFunctionAction {
            handler: handler.to_string(),
            step,
            retired,
        })
        .collect()
}

impl Resource for EventFunction {
    /// Every handler function that exists, by handler name.
    type Actual = BTreeMap<String, HandlerState>;
    type Action = EventFunctionAction;

    /// Its sources, for its status line (its plan reads nothing else).
    type Reads<'a> = Sources<'a>;

    fn reads(actual: &Actual) -> Sources<'_> {
        Sources {
            buckets: &actual.bucket_notification,
            schedules: &actual.schedule,
            queues: &actual.queue_mapping,
            authorizers: &actual.authorizer_permission,
        }
    }

    /// Each handler's function, the version it serves and what runs it.
    fn status(view: &StatusView<'_>, own: &Self::Actual, sources: Sources<'_>) -> Status {
        let handlers = deployed_handlers(view.arns.names(), own, &sources);
        let mut status = Status::default();
        for handler in &handlers {
            status = status.line(
                "handler",
                format!(
                    "{} → {} version {}, {}",
                    handler.handler,
                    handler.function,
                    handler.version.as_deref().unwrap_or("(missing)"),
                    handler.source
                ),
            );
        }
        status.field("handlers", handlers)
    }

    async fn read(
        reader: &Reader,
        names: &StageNames,
        found: &Found,
    ) -> Result<Self::Actual, AwsError> {
        let handlers = found.handlers(reader, names).await?;
        let reads = handlers.iter().map(|handler| async move {
            let state = read_handler(reader, names, handler).await?;
            Ok::<_, AwsError>((handler.clone(), state))
        });
        let states = futures_util::future::try_join_all(reads).await?;
        Ok(states
            .into_iter()
            .filter(|(_, state)| *state != HandlerState::default())
            .collect())
    }

    /// Each handler's function as slx.toml says; those it no longer has
    /// are removed, after their sources stopped sending them events
    /// (their removal `needs` those sources' steps).
    fn plan(desired: &Desired, own: &Self::Actual, _: Sources<'_>) -> Vec<EventFunctionAction> {
        let none = HandlerState::default();
        let declared = desired.events.iter().flat_map(|event| {
            let state = own.get(&event.handler).unwrap_or(&none);
            plan_handler(desired, event, state)
                .into_iter()
                .map(|step| EventFunctionAction {
                    handler: event.handler.clone(),
                    step,
                    retired: false,
                })
        });
        let retired = own
            .iter()
            .filter(|(handler, _)| !desired.events.iter().any(|e| &e.handler == *handler))
            .flat_map(|(handler, state)| plan_handler_removal(&desired.arns, handler, state, true));
        declared.chain(retired).collect()
    }

    fn plan_removal(
        names: &StageNames,
        own: &Self::Actual,
        _: Self::Reads<'_>,
    ) -> Vec<EventFunctionAction> {
        own.iter()
            .flat_map(|(handler, state)| plan_handler_removal(names, handler, state, false))
            .collect()
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        let mut grants = vec![
            // ListFunctions is authorised on "*" only.
            // https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html
            Grant::new(
                "FindHandlerFunctions",
                &["lambda:ListFunctions"],
                vec!["*".into()],
            ),
        ];
        // What the handlers' functions are read and changed with, and
        // what a retired one (known by its tags only) is read and deleted
        // with.
        let on_functions: [(&str, &[&str], &[&str]); 3] = [
            (
                "HandlerFunctions",
                function::FUNCTION_ACTIONS,
                &[
                    "lambda:GetFunction",
                    "lambda:ListTags",
                    "lambda:DeleteFunction",
                ],
            ),
            (
                "HandlerVersionsAndAliases",
                super::alias::VERSION_ACTIONS,
                &["lambda:ListVersionsByFunction", "lambda:GetAlias"],
            ),
            (
                "HandlerFailureDestinations",
                &[
                    "lambda:GetFunctionEventInvokeConfig",
                    "lambda:PutFunctionEventInvokeConfig",
                    "lambda:DeleteFunctionEventInvokeConfig",
                ],
                &["lambda:GetFunctionEventInvokeConfig"],
            ),
        ];
        for (sid, actions, retired) in on_functions {
            grants.extend(handler_grants(
                arns,
                sid,
                actions,
                arns.handler_functions_arns(),
                retired,
                arns.event_functions_arns().to_vec(),
            ));
        }
        grants.extend(handler_grants(
            arns,
            "HandlerLogGroups",
            super::log_group::LOG_GROUP_ACTIONS,
            arns.handler_log_groups_arns(),
            &["logs:ListTagsForResource", "logs:DeleteLogGroup"],
            arns.event_log_groups_arns().to_vec(),
        ));
        grants
    }

    async fn apply(action: &EventFunctionAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match &action.step {
            HandlerStep::LogGroup(inner) => LogGroup::apply(inner, ctx).await,
            HandlerStep::Function(inner) => function::Function::apply(inner, ctx).await,
            HandlerStep::Alias(HandlerAlias::PublishHandler {
                function,
                alias,
                code_sha256,
                alias_exists,
                description,
            }) => {
                let version = publish(ctx, step, function, code_sha256, description).await?;
                point(ctx, step, function, alias, &version, *alias_exists).await
            }
            HandlerStep::Alias(HandlerAlias::PruneHandlerVersions {
                function, versions, ..
            }) => {
                for version in versions {
                    ctx.call_tolerating(step, ErrorClass::NotFound, || {
                        w.delete_function(function, Some(version))
                    })
                    .await?;
                }
                Ok(())
            }
            HandlerStep::Alias(HandlerAlias::SetOnFailure {
                function,
                alias,
                destination,
            }) => {
                wait_ready(ctx, function, step).await?;
                // Lambda checks the role may send to the queue: a policy
                // just written may not have reached Lambda yet.
                let call = || w.set_on_failure(function, alias, destination.as_deref());
                match destination {
                    Some(_) => ctx.call(step, RETRY_ROLE, call).await,
                    None => ctx.call_tolerating(step, ErrorClass::NotFound, call).await,
                }
            }
        }
    }
}

/// A deployed event handler, as `slx status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DeployedHandler {
    pub(crate) handler: String,
    pub(crate) function: String,
    /// The version its stage alias serves.
    pub(crate) version: Option<String>,
    /// What runs it, as deployed: `s3://bucket/prefix* (created)`,
    /// `schedule rate(1 hour)`, `sqs queue (batches of up to 10)`, or
    /// `no source`.
    pub(crate) source: String,
}

/// The state of the kinds that send a handler events.
pub(crate) struct Sources<'a> {
    buckets: &'a BucketsState,
    schedules: &'a SchedulesState,
    queues: &'a QueuesState,
    authorizers: &'a BTreeMap<String, Option<Statement>>,
}

/// Every handler function the stage has, with the source AWS holds for it.
fn deployed_handlers(
    names: &StageNames,
    own: &BTreeMap<String, HandlerState>,
    sources: &Sources<'_>,
) -> Vec<DeployedHandler> {
    own.iter()
        .filter(|(_, state)| state.latest.is_some())
        .map(|(handler, state)| DeployedHandler {
            handler: handler.clone(),
            function: names.event_function(handler),
            version: state.served.as_ref().map(|f| f.version.clone()),
            source: deployed_source(names, sources, handler),
        })
        .collect()
}

fn deployed_source(names: &StageNames, sources: &Sources<'_>, handler: &str) -> String {
    super::bucket_notification::deployed_source(names, sources.buckets, handler)
        .or_else(|| super::schedule::deployed_source(sources.schedules, handler))
        .or_else(|| super::queue_mapping::deployed_source(sources.queues, handler))
        .or_else(|| {
            let statement = sources.authorizers.get(handler)?.as_ref()?;
            Some(format!(
                "authorizer of the API ({})",
                statement.source_arn.as_deref().unwrap_or("no source")
            ))
        })
        .unwrap_or_else(|| "no source".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EventSource, ScheduleSource};
    use crate::deploy::desired::tests::{desired, event};
    use crate::deploy::resources::fixtures::{self, action_names, version};

    fn with_handler() -> Desired {
        let mut desired = desired();
        desired.events = vec![event(
            "nightly",
            EventSource::Schedule(ScheduleSource {
                expression: "rate(1 hour)".into(),
                timezone: None,
                input: None,
            }),
        )];
        desired
    }

    /// The handler's function as `desired` describes it.
    fn converged(desired: &Desired) -> BTreeMap<String, HandlerState> {
        let event = &desired.events[0];
        let info = |number: &str| FunctionInfo {
            memory: event.memory,
            timeout: event.timeout,
            env: event.env.clone(),
            arn: desired.arns.event_function_arn(&event.handler),
            ..fixtures::function(desired, number)
        };
        BTreeMap::from([(
            event.handler.clone(),
            HandlerState {
                latest: Some(info("$LATEST")),
                served: Some(info("1")),
                versions: vec![version("1", &desired.code_sha256)],
                log_group: Some(LogGroupState {
                    retention_days: Some(desired.log_retention_days),
                }),
                on_failure: None,
            },
        )])
    }

    fn plan(desired: &Desired, own: &BTreeMap<String, HandlerState>) -> Vec<EventFunctionAction> {
        let actual = Actual::default();
        EventFunction::plan(desired, own, EventFunction::reads(&actual))
    }

    #[test]
    fn a_new_handler_gets_its_log_group_function_and_alias_in_its_own_chain() {
        let desired = with_handler();
        let actions = plan(&desired, &BTreeMap::new());
        assert_eq!(
            action_names(&actions),
            [
                "create_log_group",
                "set_log_retention",
                "create_function",
                "publish_handler"
            ]
        );
        assert!(actions.iter().all(|a| a.instance() == Some("nightly")));
        assert!(actions[0].before_build(), "a log group is harmless early");
        assert!(!actions[2].before_build());
        // The function and its first version run with the role's policy.
        assert_eq!(
            actions[2].needs(),
            [Need::on(Kind::Role, super::super::role::MADE)]
        );
        assert_eq!(
            actions[3].needs(),
            [Need::on(Kind::Role, super::super::role::MADE)]
        );
    }

    #[test]
    fn a_converged_handler_needs_nothing_and_new_code_is_published() {
        let mut desired = with_handler();
        let own = converged(&desired);
        assert_eq!(plan(&desired, &own), []);
        desired.code_sha256 = "sha-2".into();
        assert_eq!(
            action_names(&plan(&desired, &own)),
            ["update_code", "publish_handler"]
        );
        desired.code_sha256 = "sha-1".into();
        desired.events[0].on_failure = Some("arn:aws:sqs:eu-west-1:1:dead".into());
        assert_eq!(action_names(&plan(&desired, &own)), ["set_on_failure"]);
    }

    #[test]
    fn a_handler_slx_toml_no_longer_has_goes_after_its_sources() {
        let with = with_handler();
        let own = converged(&with);
        let mut without = with.clone();
        without.events.clear();
        let actions = plan(&without, &own);
        assert_eq!(
            action_names(&actions),
            ["delete_function", "delete_log_group"]
        );
        assert!(actions.iter().all(|a| a.retired));
        assert_eq!(
            actions[0].describe(without.arns.names()),
            "handler nightly: delete function shop-dev-nightly, its versions and alias (no longer in slx.toml)"
        );
        assert_eq!(
            actions[0].needs(),
            [
                Need::on(Kind::Schedule, "nightly"),
                Need::on(Kind::BucketNotification, "nightly"),
                Need::on(Kind::QueueMapping, "nightly"),
            ]
        );
        // An undeploy removes the same, and says it once for the stage.
        let actual = Actual::default();
        let removal =
            EventFunction::plan_removal(without.arns.names(), &own, EventFunction::reads(&actual));
        assert_eq!(action_names(&removal), action_names(&actions));
        assert!(removal.iter().all(|a| !a.retired));
    }
}
