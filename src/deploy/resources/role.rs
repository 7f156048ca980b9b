//! The stage's IAM role (`<app>-<stage>-role`) and its one inline policy:
//! Lambda may assume it; the function may write its own logs, plus what
//! `[[permissions]]` grants.

use serde::Serialize;

use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource, all_of,
    not_ours,
};
use crate::aws::{AwsError, ErrorClass, NewRole, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::deploy::policy;
use crate::names::{POLICY_NAME, StageArns, StageNames};

pub(crate) struct Role;

/// What reading, making, changing and deleting a stage's role calls.
pub(crate) const ROLE_ACTIONS: &[&str] = &[
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:CreateRole",
    "iam:TagRole",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DeleteRole",
];

/// The role as IAM holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleState {
    /// The inline policy, canonical JSON; `None` if it is missing.
    pub(crate) policy: Option<String>,
    /// Who may assume it, canonical JSON.
    pub(crate) trust_policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum RoleAction {
    CreateRole {
        role: String,
        trust_policy: String,
    },
    PutRolePolicy {
        role: String,
        document: String,
        /// Set right after `CreateRole`: nothing runs with the role yet.
        new_role: bool,
    },
    /// Replace who may assume the role (e.g. a role made by an older slx,
    /// without the `aws:SourceAccount` guard).
    SetTrustPolicy {
        role: String,
        trust_policy: String,
    },
    DeleteRole {
        role: String,
    },
}

impl ActionInfo for RoleAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            RoleAction::CreateRole { role, .. } => format!("create IAM role {role}"),
            RoleAction::PutRolePolicy { role, .. } => format!("set the inline policy of {role}"),
            RoleAction::SetTrustPolicy { role, .. } => format!("set who may assume {role}"),
            RoleAction::DeleteRole { role } => format!("delete IAM role {role}"),
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // A role still used by a function is not deleted first.
            RoleAction::DeleteRole { .. } => all_of(&[Kind::Function, Kind::EventFunction]),
            _ => Vec::new(),
        }
    }

    fn change(&self) -> Change {
        match self {
            RoleAction::CreateRole { .. } => Change::Create,
            RoleAction::PutRolePolicy { .. } | RoleAction::SetTrustPolicy { .. } => Change::Update,
            RoleAction::DeleteRole { .. } => Change::Delete,
        }
    }

    fn before_build(&self) -> bool {
        // A new role only gains what it will need; changing the policy of
        // a role the live function runs with waits for the new code.
        match self {
            RoleAction::CreateRole { .. } => true,
            RoleAction::PutRolePolicy { new_role, .. } => *new_role,
            RoleAction::SetTrustPolicy { .. } | RoleAction::DeleteRole { .. } => false,
        }
    }
}

/// The role `role` of the stage, if it exists; refused if it exists
/// without the stage's tags.
pub(crate) async fn read_role(
    reader: &Reader,
    names: &StageNames,
    role: &str,
) -> Result<Option<RoleState>, AwsError> {
    let Some(info) = reader.role(role).await? else {
        return Ok(None);
    };
    // A role of that name that slx did not create (no stage tags) is
    // neither given a policy nor deleted.
    if !names.owns(&info.tags) {
        return Err(not_ours(
            format!("read IAM role {role}"),
            &format!("IAM role {role}"),
        ));
    }
    let document = reader.role_policy(role, POLICY_NAME).await?;
    Ok(Some(RoleState {
        policy: document.and_then(|d| policy::canonical_from_iam(&d)),
        trust_policy: info
            .trust_policy
            .as_deref()
            .and_then(policy::canonical_from_iam),
    }))
}

/// The actions that give role `role` this trust policy and inline policy.
pub(crate) fn plan_role(
    role: &str,
    trust_policy: &str,
    document: &str,
    actual: Option<&RoleState>,
) -> Vec<RoleAction> {
    let put = |new_role| RoleAction::PutRolePolicy {
        role: role.to_string(),
        document: document.to_string(),
        new_role,
    };
    match actual {
        None => vec![
            RoleAction::CreateRole {
                role: role.to_string(),
                trust_policy: trust_policy.to_string(),
            },
            put(true),
        ],
        Some(state) => {
            let mut actions = Vec::new();
            if state.trust_policy.as_deref() != Some(trust_policy) {
                actions.push(RoleAction::SetTrustPolicy {
                    role: role.to_string(),
                    trust_policy: trust_policy.to_string(),
                });
            }
            if state.policy.as_deref() != Some(document) {
                actions.push(put(false));
            }
            actions
        }
    }
}

impl Resource for Role {
    type Actual = Option<RoleState>;
    type Action = RoleAction;

    type Reads<'a> = ();

    fn reads(_: &Actual) -> Self::Reads<'_> {}

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        read_role(reader, names, &names.role).await
    }

    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<RoleAction> {
        plan_role(
            &desired.arns.role,
            &desired.trust_policy,
            &desired.role_policy,
            own.as_ref(),
        )
    }

    fn plan_removal(names: &StageNames, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<RoleAction> {
        match own {
            Some(_) => vec![RoleAction::DeleteRole {
                role: names.role.clone(),
            }],
            None => vec![],
        }
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        let mut pass = Grant::new("PassRoleToLambda", &["iam:PassRole"], vec![arns.role_arn()]);
        pass.condition = Some(serde_json::json!({
            "StringEquals": { "iam:PassedToService": arns.lambda_principal() }
        }));
        vec![
            Grant::new("StageRole", ROLE_ACTIONS, vec![arns.role_arn()]),
            pass,
        ]
    }

    async fn apply(action: &RoleAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match action {
            RoleAction::CreateRole { role, trust_policy } => {
                let new = NewRole {
                    name: role.clone(),
                    trust_policy: trust_policy.clone(),
                    description: format!(
                        "{} role of slx app {} stage {}",
                        if *role == ctx.arns.scheduler_role {
                            "EventBridge Scheduler"
                        } else {
                            "Lambda"
                        },
                        ctx.arns.app,
                        ctx.arns.stage
                    ),
                    tags: ctx.arns.tags(),
                };
                ctx.call_tolerating(step, ErrorClass::AlreadyExists, || w.create_role(&new))
                    .await
            }
            RoleAction::PutRolePolicy { role, document, .. } => {
                ctx.call(step, RETRY_ALWAYS, || {
                    w.put_role_policy(role, POLICY_NAME, document)
                })
                .await
            }
            RoleAction::SetTrustPolicy { role, trust_policy } => {
                ctx.call(step, RETRY_ALWAYS, || {
                    w.update_trust_policy(role, trust_policy)
                })
                .await
            }
            RoleAction::DeleteRole { role } => {
                // IAM refuses to delete a role that still has a policy.
                ctx.call_tolerating(step, ErrorClass::NotFound, || {
                    w.delete_role_policy(role, POLICY_NAME)
                })
                .await?;
                ctx.call_tolerating(step, ErrorClass::NotFound, || w.delete_role(role))
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

    fn planned(desired: &Desired, actual: &Actual) -> Vec<RoleAction> {
        Role::plan(desired, &actual.role, ())
    }

    #[test]
    fn a_role_is_made_with_its_policy_and_left_alone_once_it_matches() {
        let desired = desired();
        assert_eq!(
            action_names(&planned(&desired, &Actual::default())),
            ["create_role", "put_role_policy"]
        );
        assert_eq!(planned(&desired, &converged(&desired)), Vec::new());
    }

    #[test]
    fn a_changed_policy_or_trust_is_written_again_and_removal_deletes_the_role() {
        let desired = desired();
        let mut actual = converged(&desired);
        if let Some(role) = actual.role.as_mut() {
            role.policy = Some("{older}".into());
            role.trust_policy = Some("{older}".into());
        }
        assert_eq!(
            action_names(&planned(&desired, &actual)),
            ["set_trust_policy", "put_role_policy"]
        );
        let removal = Role::plan_removal(&names(), &actual.role, ());
        assert_eq!(action_names(&removal), ["delete_role"]);
        assert_eq!(Role::plan_removal(&names(), &None, ()), Vec::new());
    }
}
