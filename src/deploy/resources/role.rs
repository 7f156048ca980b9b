//! The stage's IAM role (`<app>-<stage>-role`) and its one inline policy:
//! Lambda may assume it; the function may write its own logs, plus what
//! `[[permissions]]` grants.
//!
//! With `permissions_boundary`, every role it makes carries that managed
//! policy as its boundary, set before anything else is written to it; a
//! boundary slx.toml does not name is left as it is (an administrator's).
//! With `role`, the stage's functions use a role made elsewhere: this
//! kind makes none and writes no policy. The one it made for the stage
//! before stays while the stage does (its published versions still run
//! with it: rollback), and undeploy deletes it if the deployer may still
//! see it (a policy printed for `role` grants no IAM action but
//! `iam:PassRole`).
//!
//! Lambda releases a VPC function's network interfaces with this role, up
//! to 45 minutes after the function left the VPC or was deleted: while it
//! still holds any, the role keeps what Lambda needs for that, and
//! undeploy keeps the role with only that; the next deploy or undeploy
//! after they are gone drops it.

use serde::Serialize;

use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource, Status,
    StatusView, all_of, not_ours,
};
use crate::aws::{AwsError, ErrorClass, NewRole, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::deploy::policy;
use crate::names::{POLICY_NAME, StageArns, StageNames};

pub(crate) struct Role;

/// What reading, making, changing and deleting a stage's role calls.
const ROLE_ACTIONS: &[&str] = &[
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:CreateRole",
    "iam:TagRole",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DeleteRole",
];

/// What may change what a role can do: with a boundary, allowed only
/// while the role carries (or the request sets) slx.toml's.
const BOUNDED_ACTIONS: &[&str] = &[
    "iam:CreateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
];

/// The rest of `ROLE_ACTIONS`: reads, tags and deletion, which give the
/// role nothing, and who may assume it, which gives whoever may no more
/// than the boundary. (parliament's copy of AWS's reference lists no
/// `iam:PermissionsBoundary` for `UpdateAssumeRolePolicy`, AWS's current
/// one does: a condition on it could refuse the trust update wherever IAM
/// does not set the key.)
const UNBOUNDED_ACTIONS: &[&str] = &[
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:TagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DeleteRole",
];

/// The deployer's grants on one role slx makes (`sid` names them:
/// `StageRole`, `SchedulerRole`). With a permissions boundary, whatever
/// changes what the role may do is allowed only with that boundary
/// (`iam:PermissionsBoundary`: the one the request sets on CreateRole
/// and PutRolePermissionsBoundary, the one the role carries on the
/// others), and guards deny removing or changing it, whatever else the
/// deployer is granted.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html#access_policies_boundaries-delegate
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
pub(crate) fn role_grants(sid: &str, role_arn: &str, boundary: Option<&str>) -> Vec<Grant> {
    let Some(boundary) = boundary else {
        return vec![Grant::new(sid, ROLE_ACTIONS, vec![role_arn.to_string()])];
    };
    let on_role = || vec![role_arn.to_string()];
    vec![
        Grant::new(sid, UNBOUNDED_ACTIONS, on_role()),
        Grant::new(format!("{sid}InBoundary"), BOUNDED_ACTIONS, on_role())
            .when(serde_json::json!({ "ArnEquals": { "iam:PermissionsBoundary": boundary } })),
        Grant::new(
            format!("{sid}KeepsBoundary"),
            &["iam:DeleteRolePermissionsBoundary"],
            on_role(),
        )
        .denied(),
        Grant::new(format!("{sid}OnlyInBoundary"), BOUNDED_ACTIONS, on_role())
            .when(serde_json::json!({
                "ArnNotEquals": { "iam:PermissionsBoundary": boundary }
            }))
            .denied(),
    ]
}

/// What a function waits for before it runs with the stage's role: the
/// actions that make it (its instance of this kind). The actions that
/// retire a role (`RETIRED`) wait for the functions instead.
pub(crate) const MADE: &str = "made";
const RETIRED: &str = "retired";

/// The role as IAM holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleState {
    /// The inline policy, canonical JSON; `None` if it is missing.
    pub(crate) policy: Option<String>,
    /// Who may assume it, canonical JSON.
    pub(crate) trust_policy: Option<String>,
    /// The ARN of its permissions boundary.
    pub(crate) boundary: Option<String>,
    /// The network interfaces Lambda still holds for the stage's
    /// functions (read only while the policy lets Lambda release them).
    pub(crate) interfaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum RoleAction {
    CreateRole {
        role: String,
        trust_policy: String,
        /// slx.toml's `permissions_boundary`, set as the role is made.
        boundary: Option<String>,
    },
    /// Give a role made without it (by an older slx, or before slx.toml
    /// named one) slx.toml's permissions boundary, before anything else
    /// is written to it.
    SetBoundary {
        role: String,
        boundary: String,
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
    /// An undeployed stage's role, kept with only what Lambda needs to
    /// release the network interfaces it still holds.
    KeepForInterfaces {
        role: String,
        document: String,
        interfaces: Vec<String>,
    },
}

impl ActionInfo for RoleAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            RoleAction::CreateRole { role, .. } => format!("create IAM role {role}"),
            RoleAction::SetBoundary { role, boundary } => {
                format!("set the permissions boundary of {role} to {boundary}")
            }
            RoleAction::PutRolePolicy { role, .. } => format!("set the inline policy of {role}"),
            RoleAction::SetTrustPolicy { role, .. } => format!("set who may assume {role}"),
            RoleAction::DeleteRole { role } => format!("delete IAM role {role}"),
            RoleAction::KeepForInterfaces {
                role, interfaces, ..
            } => format!(
                "keep IAM role {role} with only what Lambda needs to release {} \
                 (it may take 45 minutes; the next slx undeploy deletes the role)",
                interfaces.join(", ")
            ),
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // A role still used by a function is not deleted first.
            RoleAction::DeleteRole { .. } | RoleAction::KeepForInterfaces { .. } => {
                all_of(&[Kind::Function, Kind::EventFunction])
            }
            _ => Vec::new(),
        }
    }

    fn instance(&self) -> Option<&str> {
        match self {
            RoleAction::DeleteRole { .. } | RoleAction::KeepForInterfaces { .. } => Some(RETIRED),
            _ => Some(MADE),
        }
    }

    fn change(&self) -> Change {
        match self {
            RoleAction::CreateRole { .. } => Change::Create,
            RoleAction::PutRolePolicy { .. }
            | RoleAction::SetBoundary { .. }
            | RoleAction::SetTrustPolicy { .. }
            | RoleAction::KeepForInterfaces { .. } => Change::Update,
            RoleAction::DeleteRole { .. } => Change::Delete,
        }
    }

    fn before_build(&self) -> bool {
        // A new role only gains what it will need; changing the policy of
        // a role the live function runs with waits for the new code.
        match self {
            // A boundary only narrows what the role may do.
            RoleAction::CreateRole { .. } | RoleAction::SetBoundary { .. } => true,
            RoleAction::PutRolePolicy { new_role, .. } => *new_role,
            RoleAction::SetTrustPolicy { .. }
            | RoleAction::DeleteRole { .. }
            | RoleAction::KeepForInterfaces { .. } => false,
        }
    }
}

/// The network interfaces Lambda still holds for the stage's functions,
/// as the role's read found them (none without the role).
pub(crate) fn held_interfaces(role: &Option<RoleState>) -> Vec<String> {
    role.as_ref()
        .map(|role| role.interfaces.clone())
        .unwrap_or_default()
}

/// The role slx made as `role` for a stage whose slx.toml now names one
/// made elsewhere (`external`): as `read_role`, but absent when the
/// deployer may not read it, as the policy for that setting does not,
/// and never the role made elsewhere itself, should it bear that name.
pub(crate) async fn read_replaced_role(
    reader: &Reader,
    names: &StageNames,
    role: &str,
    external: Option<&str>,
) -> Result<Option<RoleState>, AwsError> {
    if external.is_some_and(|arn| arn.rsplit('/').next() == Some(role)) {
        return Ok(None);
    }
    Ok(AwsError::unless_denied(read_role(reader, names, role).await)?.flatten())
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
        boundary: info.permissions_boundary,
        interfaces: Vec::new(),
    }))
}

/// What one of the stage's roles should be: who may assume it, its
/// inline policy, and the permissions boundary slx.toml names.
pub(crate) struct WantedRole<'a> {
    pub(crate) role: &'a str,
    pub(crate) trust_policy: &'a str,
    pub(crate) document: &'a str,
    pub(crate) boundary: Option<&'a str>,
}

/// The actions that make role `wanted.role` what it should be; the
/// boundary comes first, so no policy is ever written outside it.
pub(crate) fn plan_role(wanted: &WantedRole<'_>, actual: Option<&RoleState>) -> Vec<RoleAction> {
    let WantedRole {
        role,
        trust_policy,
        document,
        boundary,
    } = *wanted;
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
                boundary: boundary.map(str::to_string),
            },
            put(true),
        ],
        Some(state) => {
            let mut actions = Vec::new();
            if let Some(boundary) = boundary
                && state.boundary.as_deref() != Some(boundary)
            {
                actions.push(RoleAction::SetBoundary {
                    role: role.to_string(),
                    boundary: boundary.to_string(),
                });
            }
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
        if let Some(external) = &names.referenced.function_role {
            return read_replaced_role(reader, names, &names.role, Some(external)).await;
        }
        let Some(mut state) = read_role(reader, names, &names.role).await? else {
            return Ok(None);
        };
        // Only a stage that is or was in a VPC pays for this read.
        if state
            .policy
            .as_deref()
            .is_some_and(policy::releases_interfaces)
        {
            state.interfaces = reader
                .lambda_interfaces(&names.function)
                .await?
                .into_iter()
                .map(|interface| interface.id)
                .collect();
        }
        Ok(Some(state))
    }

    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<RoleAction> {
        if desired.arns.referenced.function_role.is_some() {
            // The stage's older versions still run with the role slx
            // made, if any: undeploy deletes it.
            return Vec::new();
        }
        let held = own.as_ref().is_some_and(|role| !role.interfaces.is_empty());
        let document = if held {
            policy::with_interface_release(&desired.role_policy)
        } else {
            desired.role_policy.clone()
        };
        plan_role(
            &WantedRole {
                role: &desired.arns.role,
                trust_policy: &desired.trust_policy,
                document: &document,
                boundary: desired.permissions_boundary.as_deref(),
            },
            own.as_ref(),
        )
    }

    fn plan_removal(names: &StageNames, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<RoleAction> {
        match own {
            Some(role) if !role.interfaces.is_empty() => vec![RoleAction::KeepForInterfaces {
                role: names.role.clone(),
                document: policy::interface_release_only(),
                interfaces: role.interfaces.clone(),
            }],
            Some(_) => vec![RoleAction::DeleteRole {
                role: names.role.clone(),
            }],
            None => vec![],
        }
    }

    fn status(_: &StatusView<'_>, own: &Self::Actual, _: Self::Reads<'_>) -> Status {
        match own {
            Some(role) if !role.interfaces.is_empty() => Status::default()
                .line(
                    "role",
                    format!(
                        "keeps what Lambda needs to release {} (the next deploy or undeploy after it has drops that)",
                        role.interfaces.join(", ")
                    ),
                )
                .field("held_interfaces", &role.interfaces),
            Some(_) => Status::default().field("held_interfaces", Vec::<String>::new()),
            None => Status::default(),
        }
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        let pass = Grant::new("PassRoleToLambda", &["iam:PassRole"], vec![arns.role_arn()]).when(
            serde_json::json!({
                "StringEquals": { "iam:PassedToService": arns.lambda_principal() }
            }),
        );
        if arns.referenced.function_role.is_some() {
            return vec![pass];
        }
        let mut grants = role_grants(
            "StageRole",
            &arns.role_arn(),
            arns.referenced.permissions_boundary.as_deref(),
        );
        grants.extend([
            pass,
            // Which network interfaces Lambda still holds for the stage's
            // functions; EC2 allows this read only on "*".
            Grant::new(
                "LambdaNetworkInterfaces",
                &["ec2:DescribeNetworkInterfaces"],
                vec!["*".to_string()],
            ),
        ]);
        grants
    }

    async fn apply(action: &RoleAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match action {
            RoleAction::CreateRole {
                role,
                trust_policy,
                boundary,
            } => {
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
                    permissions_boundary: boundary.clone(),
                };
                ctx.call_tolerating(step, ErrorClass::AlreadyExists, || w.create_role(&new))
                    .await
            }
            RoleAction::PutRolePolicy { role, document, .. }
            | RoleAction::KeepForInterfaces { role, document, .. } => {
                ctx.call(step, RETRY_ALWAYS, || {
                    w.put_role_policy(role, POLICY_NAME, document)
                })
                .await
            }
            RoleAction::SetBoundary { role, boundary } => {
                ctx.call(step, RETRY_ALWAYS, || {
                    w.put_role_permissions_boundary(role, boundary)
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

    /// slx.toml's boundary: set as the role is made, set first on a role
    /// without it, and one slx.toml does not name is left alone.
    #[test]
    fn a_permissions_boundary_is_set_before_anything_else_is_written() {
        let boundary = "arn:aws:iam::123456789012:policy/slx-boundary";
        let mut desired = desired();
        desired.permissions_boundary = Some(boundary.into());
        let created = planned(&desired, &Actual::default());
        let [RoleAction::CreateRole { boundary: set, .. }, _] = created.as_slice() else {
            panic!("{created:?}");
        };
        assert_eq!(set.as_deref(), Some(boundary));

        let mut actual = converged(&desired);
        assert_eq!(planned(&desired, &actual), Vec::new());
        let role = actual.role.as_mut().unwrap();
        role.boundary = None;
        role.policy = Some("{older}".into());
        let changed = planned(&desired, &actual);
        assert_eq!(action_names(&changed), ["set_boundary", "put_role_policy"]);
        assert!(changed[0].before_build());
        assert!(
            changed[0]
                .describe(&names())
                .ends_with("to arn:aws:iam::123456789012:policy/slx-boundary")
        );

        // Without the setting, an administrator's boundary stays.
        desired.permissions_boundary = None;
        let role = actual.role.as_mut().unwrap();
        role.boundary = Some("arn:aws:iam::123456789012:policy/org".into());
        role.policy = Some(desired.role_policy.clone());
        assert_eq!(planned(&desired, &actual), Vec::new());
    }

    /// With a role made elsewhere, slx writes none; the one it made
    /// before stays for the stage's older versions, until undeploy.
    #[test]
    fn a_role_made_elsewhere_leaves_the_one_slx_made_to_undeploy() {
        let mut desired = desired();
        let mut names = desired.arns.names().clone();
        names.referenced.function_role = Some("arn:aws:iam::123456789012:role/ops/shop".into());
        desired.arns = StageArns::new(names, "eu-west-1", "123456789012", "");
        assert_eq!(planned(&desired, &Actual::default()), Vec::new());
        let actual = converged(&desired);
        assert_eq!(planned(&desired, &actual), Vec::new());
        let removal = Role::plan_removal(desired.arns.names(), &actual.role, ());
        assert_eq!(action_names(&removal), ["delete_role"]);
        assert!(
            Role::deployer_grants(&desired.arns)
                .iter()
                .all(|grant| grant.actions == ["iam:PassRole"])
        );
    }

    /// A stage out of its VPC, whose interfaces Lambda still holds: the
    /// policy keeps what Lambda releases them with, undeploy keeps the
    /// role with only that, and once they are gone both drop it.
    #[test]
    fn a_role_outlives_the_network_interfaces_lambda_releases_with_it() {
        let desired = desired();
        let mut actual = converged(&desired);
        let role = actual.role.as_mut().unwrap();
        role.interfaces = vec!["eni-1".into()];
        let deploy = planned(&desired, &actual);
        let [RoleAction::PutRolePolicy { document, .. }] = deploy.as_slice() else {
            panic!("{deploy:?}");
        };
        assert_eq!(
            *document,
            policy::with_interface_release(&desired.role_policy)
        );

        let removal = Role::plan_removal(&names(), &actual.role, ());
        let [RoleAction::KeepForInterfaces { document, .. }] = removal.as_slice() else {
            panic!("{removal:?}");
        };
        assert_eq!(*document, policy::interface_release_only());
        assert!(removal[0].describe(&names()).contains("release eni-1"));

        // Released: the kept statement goes, and so does the kept role.
        let role = actual.role.as_mut().unwrap();
        role.interfaces.clear();
        role.policy = Some(policy::with_interface_release(&desired.role_policy));
        assert_eq!(
            action_names(&planned(&desired, &actual)),
            ["put_role_policy"]
        );
        let removal = Role::plan_removal(&names(), &actual.role, ());
        assert_eq!(action_names(&removal), ["delete_role"]);
    }
}
