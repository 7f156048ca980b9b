//! The stage's Lambda function (`<app>-<stage>`): its code and settings
//! as `$LATEST`. What the stage serves is the alias (see `alias`); this
//! module only makes `$LATEST` what the next version must be.
//!
//! Every mutation waits until Lambda reports the function ready
//! (`State` Active, no update in progress), as AWS requires:
//! <https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html>

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, RETRY_ROLE,
    Resource, all_of, not_ours,
};
use crate::aws::{AwsError, ErrorClass, FunctionInfo, FunctionSpec, FunctionUpdate, Reader};
use crate::config::{Arch, Vpc};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::{Desired, Wanted};
use crate::names::{StageArns, StageNames};

pub(crate) struct Function;

/// What reading, making, changing and deleting a function calls.
pub(crate) const FUNCTION_ACTIONS: &[&str] = &[
    "lambda:GetFunction",
    "lambda:ListTags",
    "lambda:TagResource",
    "lambda:CreateFunction",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:DeleteFunction",
];

/// Which function settings differ from slx.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub(crate) struct ConfigChange {
    pub(crate) memory: Option<u32>,
    pub(crate) timeout: Option<u32>,
    pub(crate) env: bool,
    pub(crate) role: bool,
    pub(crate) ephemeral_storage: Option<u32>,
    pub(crate) layers: bool,
    pub(crate) tracing: Option<bool>,
    pub(crate) vpc: bool,
    /// The new description (slx.toml's `description` beside slx's words).
    pub(crate) description: Option<String>,
}

/// Environment variables in a plan: names only. Values may be secrets,
/// and `slx plan --output json` ends up in CI logs.
fn env_names<S: Serializer>(env: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(env.keys())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum FunctionAction {
    CreateFunction {
        function: String,
        /// The `[events.NAME]` handler it serves (tagged `slx:handler`).
        #[serde(skip_serializing_if = "Option::is_none")]
        handler: Option<String>,
        role_arn: String,
        arch: Arch,
        memory: u32,
        timeout: u32,
        #[serde(serialize_with = "env_names")]
        env: BTreeMap<String, String>,
        code_sha256: String,
        ephemeral_storage: u32,
        layers: Vec<String>,
        tracing: bool,
        vpc: Option<Vpc>,
        description: String,
    },
    /// Upload the zip (also how the architecture changes).
    UpdateCode {
        function: String,
        code_sha256: String,
        arch: Arch,
        arch_change: Option<Arch>,
    },
    UpdateConfig {
        function: String,
        change: ConfigChange,
        /// The new role ARN, when `change.role`.
        #[serde(skip_serializing_if = "Option::is_none")]
        role_arn: Option<String>,
        /// The new environment, when `change.env` (names only in JSON).
        #[serde(skip)]
        env: Option<BTreeMap<String, String>>,
        /// The new layers, when `change.layers`.
        #[serde(skip_serializing_if = "Option::is_none")]
        layers: Option<Vec<String>>,
        /// The new VPC (`null`: none), when `change.vpc`.
        #[serde(skip_serializing_if = "Option::is_none")]
        vpc: Option<Option<Vpc>>,
    },
    /// Deletes the function with its versions, alias and permission.
    DeleteFunction { function: String },
    /// Deletes a function Lambda could not create (it takes no update),
    /// so that it is created again.
    DeleteFailedFunction { function: String, reason: String },
}

impl ActionInfo for FunctionAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            FunctionAction::CreateFunction { function, .. } => {
                format!("create function {function}")
            }
            FunctionAction::UpdateCode {
                arch_change: Some(arch),
                ..
            } => format!("upload code (architecture → {arch})"),
            FunctionAction::UpdateCode { .. } => "upload code".into(),
            FunctionAction::UpdateConfig { change, .. } => {
                let mut parts = Vec::new();
                if let Some(memory) = change.memory {
                    parts.push(format!("memory → {memory} MB"));
                }
                if let Some(timeout) = change.timeout {
                    parts.push(format!("timeout → {timeout}s"));
                }
                if change.env {
                    parts.push("environment".into());
                }
                if change.role {
                    parts.push("role".into());
                }
                if let Some(size) = change.ephemeral_storage {
                    parts.push(format!("/tmp → {size} MB"));
                }
                if change.layers {
                    parts.push("layers".into());
                }
                if let Some(tracing) = change.tracing {
                    parts.push(format!("tracing → {}", if tracing { "on" } else { "off" }));
                }
                if change.vpc {
                    parts.push("VPC".into());
                }
                if change.description.is_some() {
                    parts.push("description".into());
                }
                format!("update configuration ({})", parts.join(", "))
            }
            FunctionAction::DeleteFunction { function } => {
                format!("delete function {function} and its versions")
            }
            FunctionAction::DeleteFailedFunction { function, reason } => {
                format!(
                    "delete function {function}, which Lambda could not create ({reason}), to create it again"
                )
            }
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            FunctionAction::CreateFunction { .. } => vec![Need::on(Kind::Role, super::role::MADE)],
            FunctionAction::UpdateConfig { change, .. } if change.role => {
                vec![Need::on(Kind::Role, super::role::MADE)]
            }
            FunctionAction::UpdateCode { .. } | FunctionAction::UpdateConfig { .. } => Vec::new(),
            // The API stops calling it first.
            FunctionAction::DeleteFunction { .. } => all_of(&[Kind::Api]),
            // It never served anything.
            FunctionAction::DeleteFailedFunction { .. } => Vec::new(),
        }
    }

    fn change(&self) -> Change {
        match self {
            FunctionAction::CreateFunction { .. } => Change::Create,
            FunctionAction::DeleteFunction { .. } | FunctionAction::DeleteFailedFunction { .. } => {
                Change::Delete
            }
            _ => Change::Update,
        }
    }
}

/// Which settings of `current` differ from what `wanted` describes.
pub(crate) fn config_change(wanted: &Wanted<'_>, current: &FunctionInfo) -> ConfigChange {
    let desired = wanted.desired;
    ConfigChange {
        memory: (current.memory != wanted.memory).then_some(wanted.memory),
        timeout: (current.timeout != wanted.timeout).then_some(wanted.timeout),
        env: current.env != *wanted.env,
        role: current.role_arn != desired.arns.role_arn(),
        ephemeral_storage: (current.ephemeral_storage != desired.ephemeral_storage)
            .then_some(desired.ephemeral_storage),
        layers: current.layers != desired.layers,
        tracing: (current.tracing != desired.tracing).then_some(desired.tracing),
        vpc: current.vpc != desired.vpc,
        // `$LATEST`'s only: a published version's description is its
        // release's, so what an alias serves is never judged by it.
        description: None,
    }
}

/// Whether `current` runs exactly the code and settings `wanted` says.
pub(crate) fn matches(wanted: &Wanted<'_>, current: &FunctionInfo) -> bool {
    current.code_sha256 == wanted.desired.code_sha256
        && current.arch == wanted.desired.arch
        && config_change(wanted, current) == ConfigChange::default()
}

/// The actions that make `current` (`$LATEST`, if the function exists)
/// what `wanted` describes.
pub(crate) fn plan_function(
    wanted: &Wanted<'_>,
    current: Option<&FunctionInfo>,
) -> Vec<FunctionAction> {
    let desired = wanted.desired;
    let function = wanted.function.to_string();
    // One Lambda could not create takes no update: it is made again.
    let failed = current.and_then(|c| c.creation_failed.clone());
    let mut actions: Vec<FunctionAction> = failed
        .map(|reason| FunctionAction::DeleteFailedFunction {
            function: function.clone(),
            reason,
        })
        .into_iter()
        .collect();
    let current = current.filter(|c| c.creation_failed.is_none());
    let Some(current) = current else {
        actions.push(FunctionAction::CreateFunction {
            function,
            handler: wanted.handler.map(str::to_string),
            role_arn: desired.arns.role_arn(),
            arch: desired.arch,
            memory: wanted.memory,
            timeout: wanted.timeout,
            env: wanted.env.clone(),
            code_sha256: desired.code_sha256.clone(),
            ephemeral_storage: desired.ephemeral_storage,
            layers: desired.layers.clone(),
            tracing: desired.tracing,
            vpc: desired.vpc.clone(),
            description: desired.described(),
        });
        return actions;
    };
    if current.code_sha256 != desired.code_sha256 || current.arch != desired.arch {
        actions.push(FunctionAction::UpdateCode {
            function: function.clone(),
            code_sha256: desired.code_sha256.clone(),
            arch: desired.arch,
            arch_change: (current.arch != desired.arch).then_some(desired.arch),
        });
    }
    let mut change = config_change(wanted, current);
    change.description =
        Some(desired.described()).filter(|described| *described != current.description);
    if change != ConfigChange::default() {
        actions.push(FunctionAction::UpdateConfig {
            function,
            role_arn: change.role.then(|| desired.arns.role_arn()),
            env: change.env.then(|| wanted.env.clone()),
            layers: change.layers.then(|| desired.layers.clone()),
            vpc: change.vpc.then(|| desired.vpc.clone()),
            change,
        });
    }
    actions
}

impl Resource for Function {
    type Actual = Option<FunctionInfo>;
    type Action = FunctionAction;

    type Reads<'a> = ();

    fn reads(_: &Actual) -> Self::Reads<'_> {}

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        let step = format!("read function {}", names.function);
        let Some(function) = reader.function(&names.function, None).await? else {
            return Ok(None);
        };
        let tags = reader.function_tags(&function.arn).await?;
        if !names.owns(&tags) {
            return Err(not_ours(step, &format!("function {}", names.function)));
        }
        Ok(Some(function))
    }

    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<FunctionAction> {
        plan_function(&desired.api_function(), own.as_ref())
    }

    fn plan_removal(
        names: &StageNames,
        own: &Self::Actual,
        _: Self::Reads<'_>,
    ) -> Vec<FunctionAction> {
        match own {
            Some(_) => vec![FunctionAction::DeleteFunction {
                function: names.function.clone(),
            }],
            None => vec![],
        }
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        vec![Grant::new(
            "StageFunction",
            FUNCTION_ACTIONS,
            vec![arns.function_arn(), format!("{}:*", arns.function_arn())],
        )]
    }

    async fn apply(action: &FunctionAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match action {
            FunctionAction::CreateFunction {
                function,
                handler,
                role_arn,
                arch,
                memory,
                timeout,
                env,
                code_sha256,
                ephemeral_storage,
                layers,
                tracing,
                vpc,
                description,
            } => {
                let zip = ctx.zip(code_sha256, step)?;
                let spec = FunctionSpec {
                    name: function.clone(),
                    role_arn: role_arn.clone(),
                    arch: *arch,
                    memory: *memory,
                    timeout: *timeout,
                    env: env.clone(),
                    ephemeral_storage: *ephemeral_storage,
                    layers: layers.clone(),
                    tracing: *tracing,
                    vpc: vpc.clone(),
                    description: description.clone(),
                    tags: match handler {
                        Some(handler) => ctx.arns.handler_tags(handler),
                        None => ctx.arns.tags(),
                    },
                };
                ctx.call(step, RETRY_ROLE, || w.create_function(&spec, zip))
                    .await?;
                changed(ctx, function);
                wait_ready(ctx, function, step).await
            }
            FunctionAction::UpdateCode {
                function,
                code_sha256,
                arch,
                ..
            } => {
                let zip = ctx.zip(code_sha256, step)?;
                wait_ready(ctx, function, step).await?;
                ctx.call(step, RETRY_ALWAYS, || w.update_code(function, zip, *arch))
                    .await?;
                changed(ctx, function);
                wait_ready(ctx, function, step).await
            }
            FunctionAction::UpdateConfig {
                function,
                change,
                role_arn,
                env,
                layers,
                vpc,
            } => {
                wait_ready(ctx, function, step).await?;
                let update = FunctionUpdate {
                    role_arn: role_arn.clone(),
                    memory: change.memory,
                    timeout: change.timeout,
                    env: env.clone(),
                    ephemeral_storage: change.ephemeral_storage,
                    layers: layers.clone(),
                    tracing: change.tracing,
                    vpc: vpc.clone(),
                    description: change.description.clone(),
                };
                ctx.call(step, RETRY_ROLE, || w.update_config(function, &update))
                    .await?;
                changed(ctx, function);
                wait_ready(ctx, function, step).await
            }
            FunctionAction::DeleteFunction { function }
            | FunctionAction::DeleteFailedFunction { function, .. } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || {
                    w.delete_function(function, None)
                })
                .await
            }
        }
    }
}

/// The functions seen ready and not changed since in this apply: a
/// later step skips waiting for them (an output shared by the steps that
/// change functions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReadyFunctions(pub(crate) std::collections::BTreeSet<String>);

/// The functions this apply changed: a failed update of one of them is
/// this apply's failure, any other a past one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChangedFunctions(pub(crate) std::collections::BTreeSet<String>);

fn changed(ctx: &ApplyContext<'_>, function: &str) {
    let mut outputs = ctx.outputs();
    outputs.get_mut::<ReadyFunctions>().0.remove(function);
    outputs
        .get_mut::<ChangedFunctions>()
        .0
        .insert(function.to_string());
}

/// Waits until `function` accepts the next mutation: State Active and no
/// update in progress. Skipped when it was seen ready and not changed.
pub(crate) async fn wait_ready(
    ctx: &ApplyContext<'_>,
    function: &str,
    step: &str,
) -> Result<(), AwsError> {
    if ctx
        .outputs()
        .get_mut::<ReadyFunctions>()
        .0
        .contains(function)
    {
        return Ok(());
    }
    let started = ctx.clock.now();
    let deadline = started + Duration::from_secs(300);
    let mut delay = READY_POLL_FIRST;
    loop {
        let readiness = ctx
            .call(step, &[ErrorClass::Transient], || {
                ctx.reader.readiness(function)
            })
            .await?;
        let reason = readiness.reason.as_deref().unwrap_or("no reason given");
        if readiness.creation_failed() {
            return Err(AwsError {
                step: step.into(),
                class: ErrorClass::Fatal,
                code: readiness.reason_code,
                detail: format!("Lambda reports the function could not be created: {reason}"),
                hint: Some("fix the cause and deploy again".into()),
            });
        }
        if readiness.update_failed() {
            let ours = ctx
                .outputs()
                .get_mut::<ChangedFunctions>()
                .0
                .contains(function);
            if ours {
                return Err(AwsError {
                    step: step.into(),
                    class: ErrorClass::Fatal,
                    code: readiness.reason_code,
                    detail: format!(
                        "Lambda could not apply the update: {reason}; the function keeps its previous code and configuration"
                    ),
                    hint: Some(
                        "fix the cause (for a VPC: free IP addresses in its subnets, or other subnets) and deploy again".into(),
                    ),
                });
            }
            // An earlier run's update failed: the previous configuration
            // serves, and Lambda takes the next update.
            ctx.outputs()
                .get_mut::<ReadyFunctions>()
                .0
                .insert(function.to_string());
            return Ok(());
        }
        if readiness.ready() {
            ctx.outputs()
                .get_mut::<ReadyFunctions>()
                .0
                .insert(function.to_string());
            return Ok(());
        }
        if ctx.clock.now() > deadline {
            return Err(AwsError {
                step: step.into(),
                class: ErrorClass::Conflict,
                code: None,
                detail: "the function did not become ready within 5 minutes".into(),
                hint: Some("check the function in the Lambda console, then deploy again".into()),
            });
        }
        ctx.sleep(delay).await;
        if ctx.clock.now() > started + READY_POLL_OFTEN_FOR {
            delay = (delay * 2).min(Duration::from_secs(3));
        }
    }
}

/// How long after a mutation `wait_ready` looks every [`READY_POLL_FIRST`]:
/// an update or a new function usually settles within a second or two,
/// and every moment between its settling and the next look is on the
/// deploy's critical path (a doubling pause from 200 ms found a 1 s
/// update at 1.5 s). Longer waits (a function in a VPC: a minute) back
/// off to a look every 3 s.
const READY_POLL_OFTEN_FOR: Duration = Duration::from_secs(3);
const READY_POLL_FIRST: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::desired::tests::desired;
    use crate::deploy::resources::fixtures::{action_names, converged, names};

    fn planned(desired: &Desired, actual: &Actual) -> Vec<FunctionAction> {
        Function::plan(desired, &actual.function, ())
    }

    /// Lambda takes no update of a function it could not create: it is
    /// deleted, saying why, and created again.
    #[test]
    fn a_function_lambda_could_not_create_is_made_again() {
        let desired = desired();
        let mut actual = converged(&desired);
        actual.function.as_mut().unwrap().creation_failed =
            Some("Subnet out of addresses (SubnetOutOfIPAddresses)".into());
        let actions = planned(&desired, &actual);
        assert_eq!(
            action_names(&actions),
            ["delete_failed_function", "create_function"]
        );
        assert!(
            actions[0]
                .describe(&names())
                .contains("which Lambda could not create (Subnet out of addresses"),
            "{}",
            actions[0].describe(&names())
        );
        assert_eq!(actions[0].change(), Change::Delete);
        assert!(actions[0].needs().is_empty(), "it never served anything");
    }

    #[test]
    fn a_new_function_is_created_with_every_setting_and_a_matching_one_is_left_alone() {
        let desired = desired();
        let created = planned(&desired, &Actual::default());
        assert_eq!(action_names(&created), ["create_function"]);
        let json = serde_json::to_value(&created[0]).unwrap();
        assert_eq!(
            (json["memory"].as_u64(), json["role_arn"].as_str()),
            (
                Some(256),
                Some("arn:aws:iam::123456789012:role/shop-dev-role")
            )
        );
        assert_eq!(planned(&desired, &converged(&desired)), Vec::new());
    }

    #[test]
    fn new_code_uploads_and_a_new_setting_updates_only_what_changed() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.code_sha256 = "sha-2".into();
        desired.timeout = 30;
        let actions = planned(&desired, &actual);
        assert_eq!(action_names(&actions), ["update_code", "update_config"]);
        let FunctionAction::UpdateConfig { change, env, .. } = &actions[1] else {
            panic!("{actions:?}")
        };
        assert_eq!(
            change,
            &ConfigChange {
                timeout: Some(30),
                ..ConfigChange::default()
            }
        );
        assert_eq!(env, &None, "the environment is sent only when it changed");
        let removal = Function::plan_removal(&names(), &actual.function, ());
        assert_eq!(action_names(&removal), ["delete_function"]);
    }
}
