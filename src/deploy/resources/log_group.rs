//! The function's log group (`/aws/lambda/<app>-<stage>`), created by slx
//! so that it is tagged and has a retention before Lambda writes to it.

use serde::Serialize;

use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource, all_of,
    not_ours,
};
use crate::aws::{AwsError, ErrorClass, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::names::{StageArns, StageNames};

pub(crate) struct LogGroup;

/// What making, tagging, keeping and deleting a log group calls.
pub(crate) const LOG_GROUP_ACTIONS: &[&str] = &[
    "logs:CreateLogGroup",
    "logs:TagResource",
    "logs:TagLogGroup",
    "logs:ListTagsForResource",
    "logs:PutRetentionPolicy",
    "logs:DeleteLogGroup",
];

/// The log group as CloudWatch holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogGroupState {
    /// `None`: events never expire.
    pub(crate) retention_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum LogGroupAction {
    CreateLogGroup { log_group: String },
    SetLogRetention { log_group: String, days: u32 },
    DeleteLogGroup { log_group: String },
}

impl ActionInfo for LogGroupAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            LogGroupAction::CreateLogGroup { log_group } => format!("create log group {log_group}"),
            LogGroupAction::SetLogRetention { days, .. } => {
                format!("set log retention to {days} days")
            }
            LogGroupAction::DeleteLogGroup { log_group } => format!("delete log group {log_group}"),
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // Deleted after the function, which could otherwise log again
            // and make Lambda recreate the group untagged.
            LogGroupAction::DeleteLogGroup { .. } => all_of(&[Kind::Function]),
            _ => Vec::new(),
        }
    }

    fn change(&self) -> Change {
        match self {
            LogGroupAction::CreateLogGroup { .. } => Change::Create,
            LogGroupAction::SetLogRetention { .. } => Change::Update,
            LogGroupAction::DeleteLogGroup { .. } => Change::Delete,
        }
    }

    fn before_build(&self) -> bool {
        !matches!(self, LogGroupAction::DeleteLogGroup { .. })
    }
}

/// The log group `group` of the stage, if it exists; refused if it
/// exists without the stage's tags (another app's logs, or logs Lambda
/// created for a function slx does not own, are never adopted or deleted).
pub(crate) async fn read_group(
    reader: &Reader,
    names: &StageNames,
    group: &str,
) -> Result<Option<LogGroupState>, AwsError> {
    let Some(info) = reader.log_group(group).await? else {
        return Ok(None);
    };
    let tags = match &info.arn {
        Some(arn) => reader.log_group_tags(arn).await?,
        None => Default::default(),
    };
    if !names.owns(&tags) {
        return Err(not_ours(
            format!("read log group {group}"),
            &format!("log group {group}"),
        ));
    }
    Ok(Some(LogGroupState {
        retention_days: info.retention_days,
    }))
}

/// The actions that make `group` exist with `days` of retention.
pub(crate) fn plan_group(
    group: &str,
    days: u32,
    current: Option<&LogGroupState>,
) -> Vec<LogGroupAction> {
    let retention = LogGroupAction::SetLogRetention {
        log_group: group.to_string(),
        days,
    };
    match current {
        None => vec![
            LogGroupAction::CreateLogGroup {
                log_group: group.to_string(),
            },
            retention,
        ],
        Some(state) if state.retention_days != Some(days) => vec![retention],
        Some(_) => vec![],
    }
}

impl Resource for LogGroup {
    type Actual = Option<LogGroupState>;
    type Action = LogGroupAction;

    type Reads<'a> = ();

    fn reads(_: &Actual) -> Self::Reads<'_> {}

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        read_group(reader, names, &names.log_group).await
    }

    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<LogGroupAction> {
        plan_group(
            &desired.arns.log_group,
            desired.log_retention_days,
            own.as_ref(),
        )
    }

    fn plan_removal(
        names: &StageNames,
        own: &Self::Actual,
        _: Self::Reads<'_>,
    ) -> Vec<LogGroupAction> {
        match own {
            Some(_) => vec![LogGroupAction::DeleteLogGroup {
                log_group: names.log_group.clone(),
            }],
            None => vec![],
        }
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        vec![
            // DescribeLogGroups is authorized on no resource type: only
            // `*` grants it (a log group's ARN is refused).
            // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html
            Grant::new(
                "FindLogGroup",
                &["logs:DescribeLogGroups"],
                vec!["*".into()],
            ),
            Grant::new(
                "StageLogGroup",
                LOG_GROUP_ACTIONS,
                vec![arns.log_group_arn(), arns.log_streams_arn()],
            ),
        ]
    }

    async fn apply(action: &LogGroupAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match action {
            LogGroupAction::CreateLogGroup { log_group: name } => {
                let tags = ctx.arns.tags();
                ctx.call_tolerating(step, ErrorClass::AlreadyExists, || {
                    w.create_log_group(name, &tags)
                })
                .await
            }
            LogGroupAction::SetLogRetention {
                log_group: name,
                days,
            } => {
                ctx.call(step, RETRY_ALWAYS, || w.set_retention(name, *days))
                    .await
            }
            LogGroupAction::DeleteLogGroup { log_group: name } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || w.delete_log_group(name))
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::desired::tests::desired;
    use crate::deploy::resources::fixtures::{action_names, converged, names};

    fn planned(desired: &Desired, actual: &Actual) -> Vec<LogGroupAction> {
        LogGroup::plan(desired, &actual.log_group, ())
    }

    #[test]
    fn the_log_group_is_made_with_its_retention_and_kept_to_it() {
        let desired = desired();
        assert_eq!(
            action_names(&planned(&desired, &Actual::default())),
            ["create_log_group", "set_log_retention"]
        );
        let mut actual = converged(&desired);
        assert_eq!(planned(&desired, &actual), Vec::new());
        actual.log_group = Some(LogGroupState {
            retention_days: Some(90),
        });
        assert_eq!(
            planned(&desired, &actual),
            [LogGroupAction::SetLogRetention {
                log_group: "/aws/lambda/shop-dev".into(),
                days: 14
            }]
        );
        let removal = LogGroup::plan_removal(&names(), &actual.log_group, ());
        assert_eq!(action_names(&removal), ["delete_log_group"]);
    }
}
