//! The stage's schedules: an EventBridge Scheduler schedule group named
//! after the stage (tagged: schedules take no tags), one schedule per
//! schedule handler, named after it, and the role Scheduler assumes to
//! invoke the handlers' aliases (`<app>-<stage>-sched`), which may invoke
//! exactly those.
//!
//! Scheduler rather than EventBridge rules: it reads cron and rate
//! expressions in an IANA time zone, and its `Input` placeholders give the
//! handler the scheduled time.
//! <https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html>

use serde::Serialize;

use super::role::{self, RoleAction, RoleState};
use super::{ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ROLE, Resource};
use crate::aws::{AwsError, ErrorClass, GroupInfo, Reader, ScheduleSpec};
use crate::config::EventSource;
use crate::contract::source_events::schedule_payload;
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::deploy::policy;
use crate::names::{StageArns, StageNames};

pub(crate) struct Schedule;

/// The stage's schedule group, its schedules and the scheduler role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SchedulesState {
    pub(crate) group: bool,
    /// A group of the stage's name is being deleted (`DELETING`): one
    /// made again must wait until it is gone.
    pub(crate) group_deleting: bool,
    pub(crate) schedules: Vec<ScheduleSpec>,
    pub(crate) role: Option<RoleState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum ScheduleAction {
    Role(RoleAction),
    Schedule(ScheduleStep),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum ScheduleStep {
    CreateScheduleGroup {
        group: String,
        /// The read saw a group of this name being deleted: wait until it
        /// is gone before making it (else no wait, and no extra call).
        #[serde(skip)]
        after_deletion: bool,
    },
    PutSchedule {
        group: String,
        schedule: ScheduleSpec,
        exists: bool,
    },
    DeleteSchedule {
        group: String,
        name: String,
    },
    /// Deletes the group with its schedules.
    DeleteScheduleGroup {
        group: String,
    },
}

impl ActionInfo for ScheduleAction {
    fn describe(&self, names: &StageNames) -> String {
        match self {
            ScheduleAction::Role(action) => action.describe(names),
            ScheduleAction::Schedule(step) => match step {
                ScheduleStep::CreateScheduleGroup { group, .. } => {
                    format!("create schedule group {group}")
                }
                ScheduleStep::PutSchedule {
                    schedule, exists, ..
                } => format!(
                    "{} schedule {}: {}",
                    if *exists { "update" } else { "create" },
                    schedule.name,
                    when(schedule)
                ),
                ScheduleStep::DeleteSchedule { name, .. } => format!("delete schedule {name}"),
                ScheduleStep::DeleteScheduleGroup { group } => {
                    format!("delete schedule group {group} and its schedules")
                }
            },
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // A schedule invokes its handler's alias.
            ScheduleAction::Schedule(ScheduleStep::PutSchedule { schedule, .. }) => {
                vec![Need::on(Kind::EventFunction, &schedule.name)]
            }
            _ => Vec::new(),
        }
    }

    /// A schedule is named after its handler; the group and the role
    /// serve them all.
    fn instance(&self) -> Option<&str> {
        match self {
            ScheduleAction::Schedule(ScheduleStep::PutSchedule { schedule, .. }) => {
                Some(&schedule.name)
            }
            ScheduleAction::Schedule(ScheduleStep::DeleteSchedule { name, .. }) => Some(name),
            _ => None,
        }
    }

    fn change(&self) -> Change {
        match self {
            ScheduleAction::Role(action) => action.change(),
            ScheduleAction::Schedule(ScheduleStep::CreateScheduleGroup { .. }) => Change::Create,
            ScheduleAction::Schedule(ScheduleStep::PutSchedule { exists, .. }) => {
                if *exists {
                    Change::Update
                } else {
                    Change::Create
                }
            }
            ScheduleAction::Schedule(_) => Change::Delete,
        }
    }
}

/// `rate(1 hour)`, or `cron(0 3 * * ? *) (Europe/Paris)` outside UTC.
fn when(schedule: &ScheduleSpec) -> String {
    match schedule.timezone.as_deref() {
        Some(zone) if zone != "UTC" => format!("{} ({zone})", schedule.expression),
        _ => schedule.expression.clone(),
    }
}

/// `schedule rate(1 hour)`: handler `handler`'s schedule, if it has one.
pub(crate) fn deployed_source(state: &SchedulesState, handler: &str) -> Option<String> {
    let schedule = state.schedules.iter().find(|s| s.name == handler)?;
    Some(format!("schedule {}", when(schedule)))
}

/// The schedules slx.toml wants, by handler.
pub(crate) fn wanted(desired: &Desired) -> Vec<ScheduleSpec> {
    let arns = &desired.arns;
    desired
        .events
        .iter()
        .filter_map(|event| match &event.source {
            EventSource::Schedule(source) => Some(ScheduleSpec {
                name: event.handler.clone(),
                expression: source.expression.clone(),
                // Scheduler reads an expression without one in UTC, and
                // says so when read back: sent explicitly, it compares.
                timezone: Some(source.timezone.clone().unwrap_or_else(|| "UTC".into())),
                target_arn: arns.event_alias_arn(&event.handler),
                role_arn: arns.scheduler_role_arn(),
                // Scheduler fills the placeholders in on every run.
                input: schedule_payload(
                    source,
                    "<aws.scheduler.scheduled-time>",
                    "<aws.scheduler.execution-id>",
                    "<aws.scheduler.attempt-number>",
                    "<aws.scheduler.schedule-arn>",
                )
                .to_string(),
            }),
            _ => None,
        })
        .collect()
}

fn removal(names: &StageNames, actual: &SchedulesState) -> Vec<ScheduleAction> {
    let mut actions = Vec::new();
    if actual.group {
        actions.push(ScheduleAction::Schedule(
            ScheduleStep::DeleteScheduleGroup {
                group: names.schedule_group().to_string(),
            },
        ));
    }
    if actual.role.is_some() {
        actions.push(ScheduleAction::Role(RoleAction::DeleteRole {
            role: names.scheduler_role.clone(),
        }));
    }
    actions
}

impl Resource for Schedule {
    type Actual = SchedulesState;
    type Action = ScheduleAction;

    type Reads<'a> = ();

    fn reads(_: &Actual) -> Self::Reads<'_> {}

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        let group = names.schedule_group();
        let role = async {
            if !names.referenced.makes_scheduler_role() {
                let external = names.referenced.scheduler_role.as_deref();
                role::read_replaced_role(reader, names, &names.scheduler_role, external).await
            } else {
                role::read_role(reader, names, &names.scheduler_role).await
            }
        };
        let (found, role) = tokio::try_join!(reader.schedule_group(group), role)?;
        // A group being deleted is as good as gone: one wanted again is
        // created anew, once it is.
        let Some(GroupInfo::Active(tags)) = found else {
            return Ok(SchedulesState {
                role,
                group_deleting: found == Some(GroupInfo::Deleting),
                ..SchedulesState::default()
            });
        };
        if !names.owns(&tags) {
            return Err(super::not_ours(
                format!("read schedule group {group}"),
                &format!("schedule group {group}"),
            ));
        }
        Ok(SchedulesState {
            group: true,
            group_deleting: false,
            schedules: reader.schedules(group).await?,
            role,
        })
    }

    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<ScheduleAction> {
        let arns = &desired.arns;
        let wanted = wanted(desired);
        let current = own;
        if wanted.is_empty() {
            return removal(arns, current);
        }
        let handlers: Vec<&str> = wanted.iter().map(|s| s.name.as_str()).collect();
        // A role made elsewhere: the one slx made before goes once the
        // schedules use it (last, below).
        let external = !arns.referenced.makes_scheduler_role();
        let mut actions: Vec<ScheduleAction> = if external {
            Vec::new()
        } else {
            role::plan_role(
                &role::WantedRole {
                    role: &arns.scheduler_role,
                    trust_policy: &policy::scheduler_trust_policy(arns),
                    document: &policy::scheduler_policy(arns, &handlers),
                    boundary: desired.permissions_boundary.as_deref(),
                },
                current.role.as_ref(),
            )
            .into_iter()
            .map(ScheduleAction::Role)
            .collect()
        };
        let group = arns.schedule_group().to_string();
        if !current.group {
            actions.push(ScheduleAction::Schedule(
                ScheduleStep::CreateScheduleGroup {
                    group: group.clone(),
                    after_deletion: current.group_deleting,
                },
            ));
        }
        for schedule in &wanted {
            let existing = current.schedules.iter().find(|s| s.name == schedule.name);
            if existing != Some(schedule) {
                actions.push(ScheduleAction::Schedule(ScheduleStep::PutSchedule {
                    group: group.clone(),
                    schedule: schedule.clone(),
                    exists: existing.is_some(),
                }));
            }
        }
        for stale in &current.schedules {
            if !wanted.iter().any(|s| s.name == stale.name) {
                actions.push(ScheduleAction::Schedule(ScheduleStep::DeleteSchedule {
                    group: group.clone(),
                    name: stale.name.clone(),
                }));
            }
        }
        if external && current.role.is_some() {
            actions.push(ScheduleAction::Role(RoleAction::DeleteRole {
                role: arns.scheduler_role.clone(),
            }));
        }
        actions
    }

    fn plan_removal(
        names: &StageNames,
        own: &Self::Actual,
        _: Self::Reads<'_>,
    ) -> Vec<ScheduleAction> {
        removal(names, own)
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        let pass = Grant::new(
            "PassRoleToScheduler",
            &["iam:PassRole"],
            vec![arns.scheduler_role_arn()],
        )
        .when(serde_json::json!({
            "StringEquals": { "iam:PassedToService": arns.scheduler_principal() }
        }));
        let schedules = Grant::new(
            "StageSchedules",
            &[
                "scheduler:GetScheduleGroup",
                "scheduler:CreateScheduleGroup",
                "scheduler:DeleteScheduleGroup",
                "scheduler:ListTagsForResource",
                "scheduler:TagResource",
                "scheduler:GetSchedule",
                "scheduler:CreateSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:DeleteSchedule",
            ],
            vec![arns.schedule_group_arn(), arns.schedules_arn()],
        );
        // ListSchedules is authorised on "*" only.
        // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html
        let find = Grant::new(
            "FindSchedules",
            &["scheduler:ListSchedules"],
            vec!["*".into()],
        );
        if !arns.referenced.makes_scheduler_role() {
            let pass = arns.referenced.scheduler_role.is_some().then_some(pass);
            return pass.into_iter().chain([schedules, find]).collect();
        }
        let mut grants = role::role_grants(
            "SchedulerRole",
            &arns.scheduler_role_arn(),
            arns.referenced.permissions_boundary.as_deref(),
        );
        grants.extend([pass, schedules, find]);
        grants
    }

    async fn apply(action: &ScheduleAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        let schedule_step = match action {
            ScheduleAction::Role(role_action) => return role::Role::apply(role_action, ctx).await,
            ScheduleAction::Schedule(schedule_step) => schedule_step,
        };
        match schedule_step {
            ScheduleStep::CreateScheduleGroup {
                group,
                after_deletion,
            } => {
                if *after_deletion {
                    wait_group_deleted(ctx, group, step).await?;
                }
                let tags = ctx.arns.tags();
                ctx.call_tolerating(step, ErrorClass::AlreadyExists, || {
                    w.create_schedule_group(group, &tags)
                })
                .await
            }
            ScheduleStep::PutSchedule {
                group,
                schedule,
                exists,
            } => {
                // Scheduler checks that it may assume the role, which a
                // role just made may not allow yet (IAM propagation).
                let created = ctx
                    .call(step, RETRY_ROLE, || {
                        w.put_schedule(group, schedule, *exists)
                    })
                    .await;
                match created {
                    // An earlier attempt made it: update it instead.
                    Err(e) if e.class == ErrorClass::AlreadyExists && !*exists => {
                        ctx.call(step, RETRY_ROLE, || w.put_schedule(group, schedule, true))
                            .await
                    }
                    other => other,
                }
            }
            ScheduleStep::DeleteSchedule { group, name } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || {
                    w.delete_schedule(group, name)
                })
                .await
            }
            ScheduleStep::DeleteScheduleGroup { group } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || {
                    w.delete_schedule_group(group)
                })
                .await
            }
        }
    }
}

/// How long a schedule group may take to be deleted before slx stops
/// waiting.
const GROUP_DELETION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Waits until no group named `group` is being deleted: Scheduler keeps a
/// deleted group `DELETING` until its schedules are gone, and refuses one
/// of the same name meanwhile (a schedule added back soon after the last
/// was removed, a deploy right after an undeploy).
/// <https://docs.aws.amazon.com/scheduler/latest/APIReference/API_DeleteScheduleGroup.html>
async fn wait_group_deleted(
    ctx: &ApplyContext<'_>,
    group: &str,
    step: &str,
) -> Result<(), AwsError> {
    let gone = || async {
        let found = ctx
            .call(step, super::RETRY_ALWAYS, || {
                ctx.reader.schedule_group(group)
            })
            .await?;
        Ok((found != Some(GroupInfo::Deleting)).then_some(()))
    };
    let late = || {
        AwsError::fatal(
            step,
            format!(
                "schedule group {group} is still being deleted after {} minutes",
                GROUP_DELETION_TIMEOUT.as_secs() / 60
            ),
            "run the deploy again once `aws scheduler get-schedule-group` no longer finds it",
        )
    };
    let pace = (GROUP_DELETION_TIMEOUT, std::time::Duration::from_secs(2));
    super::poll(ctx.sleeper, ctx.clock, pace, gone, late).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScheduleSource;
    use crate::deploy::desired::tests::{desired, event};
    use crate::deploy::resources::fixtures::action_names;

    fn scheduled(handlers: &[&str]) -> Desired {
        let mut desired = desired();
        desired.events = handlers
            .iter()
            .map(|handler| {
                event(
                    handler,
                    EventSource::Schedule(ScheduleSource {
                        expression: "rate(1 hour)".into(),
                        timezone: None,
                        input: None,
                    }),
                )
            })
            .collect();
        desired
    }

    /// Scheduler exactly as `desired` describes it.
    fn converged(desired: &Desired) -> SchedulesState {
        let specs = wanted(desired);
        let handlers: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        SchedulesState {
            group: true,
            group_deleting: false,
            role: Some(RoleState {
                policy: Some(policy::scheduler_policy(&desired.arns, &handlers)),
                trust_policy: Some(policy::scheduler_trust_policy(&desired.arns)),
                boundary: desired.permissions_boundary.clone(),
                interfaces: Vec::new(),
            }),
            schedules: specs,
        }
    }

    fn plan(desired: &Desired, own: &SchedulesState) -> Vec<ScheduleAction> {
        Schedule::plan(desired, own, ())
    }

    #[test]
    fn a_first_schedule_brings_its_role_and_group_and_waits_for_its_handler() {
        let desired = scheduled(&["nightly", "hourly"]);
        let actions = plan(&desired, &SchedulesState::default());
        assert_eq!(
            action_names(&actions),
            [
                "create_role",
                "put_role_policy",
                "create_schedule_group",
                "put_schedule",
                "put_schedule"
            ]
        );
        // Each schedule waits for its own handler's function only, and
        // not for the other schedule.
        assert_eq!(
            actions[3].needs(),
            [Need::on(Kind::EventFunction, "nightly")]
        );
        assert_eq!(actions[3].instance(), Some("nightly"));
        assert_eq!(actions[4].instance(), Some("hourly"));
        assert_eq!(actions[2].instance(), None, "the group serves them all");
        let ScheduleAction::Schedule(ScheduleStep::PutSchedule { schedule, .. }) = &actions[3]
        else {
            panic!("{actions:?}")
        };
        assert_eq!(schedule.timezone.as_deref(), Some("UTC"), "sent explicitly");
        assert_eq!(schedule.target_arn, desired.arns.event_alias_arn("nightly"));
    }

    #[test]
    fn only_what_differs_is_sent_and_a_removed_schedule_is_deleted() {
        let desired = scheduled(&["nightly", "hourly"]);
        let mut own = converged(&desired);
        assert!(plan(&desired, &own).is_empty());
        own.schedules[0].expression = "rate(2 hours)".into();
        let fewer = scheduled(&["hourly"]);
        let actions = plan(&fewer, &own);
        // The role may now invoke one alias fewer; nightly's schedule goes.
        assert_eq!(
            action_names(&actions),
            ["put_role_policy", "delete_schedule"]
        );
        assert_eq!(actions[1].instance(), Some("nightly"));
        let changed = plan(&desired, &own);
        assert!(matches!(
            &changed[..],
            [ScheduleAction::Schedule(ScheduleStep::PutSchedule {
                exists: true,
                ..
            })]
        ));
    }

    #[test]
    fn without_schedules_the_group_and_role_go_as_in_an_undeploy() {
        let desired = scheduled(&["nightly"]);
        let own = converged(&desired);
        let none = scheduled(&[]);
        let actions = plan(&none, &own);
        assert_eq!(
            action_names(&actions),
            ["delete_schedule_group", "delete_role"]
        );
        assert_eq!(Schedule::plan_removal(none.arns.names(), &own, ()), actions);
        assert!(plan(&none, &SchedulesState::default()).is_empty());
        // Wanted again while that group is still being deleted: it is
        // made once the old one is gone (and only then is there a wait).
        let deleting = SchedulesState {
            group_deleting: true,
            ..SchedulesState::default()
        };
        let create = |state: &SchedulesState| {
            plan(&desired, state)
                .into_iter()
                .find_map(|action| match action {
                    ScheduleAction::Schedule(ScheduleStep::CreateScheduleGroup {
                        after_deletion,
                        ..
                    }) => Some(after_deletion),
                    _ => None,
                })
        };
        assert_eq!(create(&deleting), Some(true));
        assert_eq!(create(&SchedulesState::default()), Some(false));
    }
}
