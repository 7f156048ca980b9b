//! The stage's usage plan (`<app>-<stage>`, tagged) and its API keys
//! (`<app>-<stage>-NAME`, tagged with `slx:key`). API Gateway accepts a
//! key on a route that requires one (`api_key = true`) only when the key
//! is in a usage plan covering the API's stage, so a stage with such a
//! route gets a plan (its limits from `[usage_plan]`, none unless set),
//! and every key of the stage is kept in it.
//!
//! Keys are made and revoked by `slx keys`, never by a deploy; they go
//! with the stage on undeploy. A plan whose routes no longer need keys
//! is deleted, and its keys stay for when they do again.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html>

use std::collections::BTreeSet;

use serde::Serialize;

use super::api::ApiState;
use super::{
    ActionInfo, Actual, ApiRef, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource,
    all_of,
};
use crate::aws::{
    ApiKeyInfo, AwsError, ErrorClass, NewUsagePlan, PlanChange, PlanLimits, Reader, UsagePlanInfo,
};
use crate::config::UsagePlan;
use crate::deploy::deployer_policy::{Grant, api_gateway_grants};
use crate::deploy::desired::Desired;
use crate::names::{StageArns, StageNames, TAG_KEY};

pub(crate) struct UsagePlanKind;

/// A usage plan of the stage and the keys it holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanState {
    pub(crate) info: UsagePlanInfo,
    pub(crate) key_ids: BTreeSet<String>,
}

/// The stage's usage plans and keys as API Gateway holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct UsagePlans {
    /// The plan (the first one named and tagged as the stage's).
    pub(crate) plan: Option<PlanState>,
    /// Further plans named and tagged as the stage's (a create repeated
    /// after a lost answer): removed.
    pub(crate) duplicates: Vec<PlanState>,
    /// The stage's keys, without their values.
    pub(crate) keys: Vec<StageKey>,
    /// The credentials may not read the stage's keys (a read-only role,
    /// kept from their values): `keys` and each plan's `key_ids` are
    /// then unknown, and the plan leaves keys out.
    pub(crate) keys_unread: bool,
}

/// An API key of the stage: its name as `slx keys` knows it, and as
/// API Gateway lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageKey {
    pub(crate) name: String,
    pub(crate) info: ApiKeyInfo,
}

impl UsagePlans {
    /// The stage key called `name` (as `slx keys` knows it).
    pub(crate) fn key(&self, name: &str) -> Option<&StageKey> {
        self.keys.iter().find(|key| key.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum UsagePlanAction {
    CreateUsagePlan {
        name: String,
        api: ApiRef,
        stage: String,
        limits: PlanLimits,
        /// The stage's keys, put in the new plan.
        keys: Vec<String>,
    },
    UpdateUsagePlan {
        id: String,
        /// New limits, when they change.
        #[serde(skip_serializing_if = "Option::is_none")]
        limits: Option<PlanLimits>,
        /// The API whose stage the plan must cover, when it does not.
        #[serde(skip_serializing_if = "Option::is_none")]
        attach: Option<ApiRef>,
        stage: String,
        /// `(API, stage)` pairs it covers and must not.
        detach: Vec<(String, String)>,
        /// Keys of the stage it does not hold yet.
        add_keys: Vec<String>,
    },
    /// Stops covering every API stage (API Gateway refuses to delete a
    /// plan that covers any), then deletes the plan.
    DeleteUsagePlan {
        id: String,
        detach: Vec<(String, String)>,
    },
    /// `slx keys create NAME`: a new key, put in the plan.
    CreateApiKey { name: String, plan: String },
    /// `slx keys revoke NAME`, and undeploy.
    DeleteApiKey { id: String, name: String },
}

// Rates come from validated, finite TOML numbers.
impl Eq for UsagePlanAction {}

/// `10 requests/s (bursts of 20), 1000 a day`, or `no limits`.
pub(crate) fn describe_limits(limits: &PlanLimits) -> String {
    let mut parts = Vec::new();
    if let Some((rate, burst)) = limits.throttle {
        parts.push(format!("{rate} requests/s (bursts of {burst})"));
    }
    if let Some((limit, period)) = &limits.quota {
        parts.push(format!("{limit} a {}", period.to_ascii_lowercase()));
    }
    if parts.is_empty() {
        return "no limits".into();
    }
    parts.join(", ")
}

/// A new API key (an output of `CreateApiKey`): its id, and its value
/// (shown once, then never again).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreatedKey {
    pub(crate) id: String,
    pub(crate) value: SecretValue,
}

/// A value never written to logs: its `Debug` hides it.
#[derive(Clone, PartialEq)]
pub(crate) struct SecretValue(pub(crate) String);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(..)")
    }
}

impl ActionInfo for UsagePlanAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            UsagePlanAction::CreateUsagePlan {
                name, limits, keys, ..
            } => {
                let keys = match keys.len() {
                    0 => String::new(),
                    n => format!(", with the stage's {n} API key{}", plural(n)),
                };
                format!(
                    "create usage plan {name} ({}{keys}); it and the stage's keys go with `slx undeploy`",
                    describe_limits(limits)
                )
            }
            UsagePlanAction::UpdateUsagePlan {
                id,
                limits,
                attach,
                add_keys,
                ..
            } => {
                let mut parts = Vec::new();
                if let Some(limits) = limits {
                    parts.push(describe_limits(limits));
                }
                if attach.is_some() {
                    parts.push("cover the stage's API".into());
                }
                if !add_keys.is_empty() {
                    let n = add_keys.len();
                    parts.push(format!("add {n} API key{}", plural(n)));
                }
                if parts.is_empty() {
                    parts.push("stop covering other API stages".into());
                }
                format!("update usage plan {id} ({})", parts.join(", "))
            }
            UsagePlanAction::DeleteUsagePlan { id, .. } => format!("delete usage plan {id}"),
            UsagePlanAction::CreateApiKey { name, .. } => format!("create API key {name}"),
            UsagePlanAction::DeleteApiKey { id, name } => format!("delete API key {name} ({id})"),
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // The plan names the API's stage, which a deployment makes.
            UsagePlanAction::CreateUsagePlan { .. } | UsagePlanAction::UpdateUsagePlan { .. } => {
                all_of(&[Kind::Deployment])
            }
            _ => Vec::new(),
        }
    }

    fn change(&self) -> Change {
        match self {
            UsagePlanAction::CreateUsagePlan { .. } | UsagePlanAction::CreateApiKey { .. } => {
                Change::Create
            }
            UsagePlanAction::UpdateUsagePlan { .. } => Change::Update,
            UsagePlanAction::DeleteUsagePlan { .. } | UsagePlanAction::DeleteApiKey { .. } => {
                Change::Delete
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// slx.toml's plan as API Gateway writes it.
pub(crate) fn limits_of(plan: &UsagePlan) -> PlanLimits {
    PlanLimits {
        throttle: plan.rate.zip(plan.burst),
        quota: plan
            .quota
            .map(|quota| (quota.limit, quota.period.as_str().to_ascii_uppercase())),
    }
}

/// Reads the stage's usage plans (with their keys) and API keys.
pub(crate) async fn read_plans(
    reader: &Reader,
    names: &StageNames,
) -> Result<UsagePlans, AwsError> {
    let prefix = names.api_key_prefix();
    let (plans, keys) = tokio::join!(
        reader.usage_plans_named(names.usage_plan()),
        reader.api_keys_named(&prefix),
    );
    // Reading keys can be denied on purpose (`slx iam-policy --read-only`:
    // API Gateway answers their values to whoever may list them).
    let mut keys_unread = false;
    let keys = unless_denied(keys, &mut keys_unread)?;
    let owned: Vec<_> = plans?
        .into_iter()
        .filter(|plan| names.owns(&plan.tags))
        .collect();
    let mut states = Vec::new();
    for info in owned {
        let key_ids = unless_denied(reader.usage_plan_key_ids(&info.id).await, &mut keys_unread)?;
        states.push(PlanState {
            info,
            key_ids: key_ids.into_iter().collect(),
        });
    }
    let mut states = states.into_iter();
    Ok(UsagePlans {
        plan: states.next(),
        duplicates: states.collect(),
        keys: keys
            .into_iter()
            .filter(|key| names.owns(&key.tags))
            .filter_map(|info| {
                let name = info.tags.get(TAG_KEY)?.clone();
                Some(StageKey { name, info })
            })
            .collect(),
        keys_unread,
    })
}

/// What `slx plan` says when it could not read the stage's keys.
pub(crate) const KEYS_UNREAD: &str = "these credentials may not read the stage's API keys \
    (`slx iam-policy --read-only` denies them: API Gateway answers their values): \
    the plan leaves changes to keys out";

/// Why a command that writes stops when it could not read the keys: it
/// would plan without them (keys left behind, or attached twice).
pub(crate) fn keys_unread_refusal() -> AwsError {
    AwsError::fatal(
        "read the stage's API keys",
        "these credentials may not read them",
        "run it with the deployer's policy (`slx iam-policy`, without --read-only)",
    )
}

/// What a read of keys gave, or nothing when the credentials may not
/// read them (`unread` then says so).
fn unless_denied<T>(read: Result<Vec<T>, AwsError>, unread: &mut bool) -> Result<Vec<T>, AwsError> {
    let found = AwsError::unless_denied(read)?;
    *unread |= found.is_none();
    Ok(found.unwrap_or_default())
}

fn delete_plan(plan: &PlanState) -> UsagePlanAction {
    UsagePlanAction::DeleteUsagePlan {
        id: plan.info.id.clone(),
        detach: plan.info.api_stages.clone(),
    }
}

/// `CreateUsagePlan`, never blindly repeated: a lost call's plan, found
/// by name and tags, is used (`super::create_once`).
async fn create_plan(
    ctx: &ApplyContext<'_>,
    plan: &NewUsagePlan,
    step: &str,
) -> Result<String, AwsError> {
    super::create_once(
        ctx,
        step,
        || ctx.writer.create_usage_plan(plan),
        || async {
            let names = ctx.arns.names();
            Ok(ctx
                .reader
                .usage_plans_named(&plan.name)
                .await?
                .into_iter()
                .find(|found| names.owns(&found.tags))
                .map(|made| made.id))
        },
    )
    .await
}

impl Resource for UsagePlanKind {
    type Actual = UsagePlans;
    type Action = UsagePlanAction;

    type Reads<'a> = &'a Option<ApiState>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        &actual.api
    }

    async fn read(reader: &Reader, names: &StageNames, _: &Found) -> Result<UsagePlans, AwsError> {
        read_plans(reader, names).await
    }

    fn plan(desired: &Desired, own: &Self::Actual, reads: Self::Reads<'_>) -> Vec<UsagePlanAction> {
        let current = own;
        let mut actions: Vec<UsagePlanAction> =
            current.duplicates.iter().map(delete_plan).collect();
        let Some(wanted) = &desired.usage_plan else {
            actions.extend(current.plan.iter().map(delete_plan));
            return actions;
        };
        let limits = limits_of(wanted);
        let stage = desired.arns.stage.clone();
        let api = match reads {
            Some(api) => ApiRef::Existing(api.id.clone()),
            None => ApiRef::New,
        };
        let key_ids = current.keys.iter().map(|key| key.info.id.clone());
        let Some(plan) = &current.plan else {
            actions.push(UsagePlanAction::CreateUsagePlan {
                name: desired.arns.usage_plan().to_string(),
                api,
                stage,
                limits,
                keys: key_ids.collect(),
            });
            return actions;
        };
        // The stage's API stage (a new API's is covered by no plan yet).
        let serves = |(api_id, s): &(String, String)| {
            matches!(&api, ApiRef::Existing(id) if id == api_id) && *s == stage
        };
        let covered = plan.info.api_stages.iter().any(serves);
        let detach: Vec<(String, String)> = plan
            .info
            .api_stages
            .iter()
            .filter(|pair| !serves(pair))
            .cloned()
            .collect();
        let add_keys: Vec<String> = key_ids.filter(|id| !plan.key_ids.contains(id)).collect();
        let limits = (plan.info.limits != limits).then_some(limits);
        if covered && detach.is_empty() && add_keys.is_empty() && limits.is_none() {
            return actions;
        }
        actions.push(UsagePlanAction::UpdateUsagePlan {
            id: plan.info.id.clone(),
            limits,
            attach: (!covered).then_some(api),
            stage,
            detach,
            add_keys,
        });
        actions
    }

    fn plan_removal(
        _: &StageNames,
        own: &Self::Actual,
        _: Self::Reads<'_>,
    ) -> Vec<UsagePlanAction> {
        let current = own;
        current
            .keys
            .iter()
            .map(|key| UsagePlanAction::DeleteApiKey {
                id: key.info.id.clone(),
                name: key.name.clone(),
            })
            .chain(
                current
                    .plan
                    .iter()
                    .chain(&current.duplicates)
                    .map(delete_plan),
            )
            .collect()
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        // API Gateway authorises by HTTP method on resource paths; a
        // plan's or key's id is made by API Gateway, so the grant cannot
        // name the stage's alone.
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html
        api_gateway_grants(
            arns,
            "StageUsagePlanAndKeys",
            &arns.usage_plans_and_keys_arns(),
            &["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
        )
    }

    async fn apply(action: &UsagePlanAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match action {
            UsagePlanAction::CreateUsagePlan {
                name,
                api,
                stage,
                limits,
                keys,
            } => {
                let plan = NewUsagePlan {
                    name: name.clone(),
                    description: ctx.arns.description(),
                    api_id: ctx.api_id(api, step)?,
                    stage: stage.clone(),
                    limits: limits.clone(),
                    tags: ctx.arns.tags(),
                };
                let id = create_plan(ctx, &plan, step).await?;
                for key in keys {
                    add_key(ctx, &id, key, step).await?;
                }
                Ok(())
            }
            UsagePlanAction::UpdateUsagePlan {
                id,
                limits,
                attach,
                stage,
                detach,
                add_keys,
            } => {
                let change = PlanChange {
                    limits: limits.clone(),
                    attach: match attach {
                        Some(api) => Some((ctx.api_id(api, step)?, stage.clone())),
                        None => None,
                    },
                    detach: detach.clone(),
                };
                ctx.call(step, RETRY_ALWAYS, || w.update_usage_plan(id, &change))
                    .await?;
                for key in add_keys {
                    add_key(ctx, id, key, step).await?;
                }
                Ok(())
            }
            UsagePlanAction::DeleteUsagePlan { id, detach } => {
                if !detach.is_empty() {
                    let change = PlanChange {
                        detach: detach.clone(),
                        ..PlanChange::default()
                    };
                    ctx.call_tolerating(step, ErrorClass::NotFound, || {
                        w.update_usage_plan(id, &change)
                    })
                    .await?;
                }
                ctx.call_tolerating(step, ErrorClass::NotFound, || w.delete_usage_plan(id))
                    .await
            }
            UsagePlanAction::CreateApiKey { name, plan } => {
                let names = ctx.arns.names();
                let full = names.api_key(name);
                let tags = names.api_key_tags(name);
                let description = format!("{}; slx keys create {name}", ctx.arns.description());
                // Sent once: a repeat would make a second key. A lost
                // answer leaves a key the next `slx keys list` shows.
                let (id, value) = w
                    .create_api_key(&full, &description, &tags)
                    .await
                    .map_err(|e| e.in_step(step))?;
                ctx.outputs().put(CreatedKey {
                    id: id.clone(),
                    value: SecretValue(value),
                });
                add_key(ctx, plan, &id, step).await
            }
            UsagePlanAction::DeleteApiKey { id, .. } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || w.delete_api_key(id))
                    .await
            }
        }
    }
}

/// Puts `key` in `plan`; one already there (a lost answer's) is fine.
async fn add_key(
    ctx: &ApplyContext<'_>,
    plan: &str,
    key: &str,
    step: &str,
) -> Result<(), AwsError> {
    ctx.call(step, RETRY_ALWAYS, || async {
        match ctx.writer.add_usage_plan_key(plan, key).await {
            Err(error)
                if matches!(
                    error.class,
                    ErrorClass::Conflict | ErrorClass::AlreadyExists
                ) =>
            {
                let held = ctx.reader.usage_plan_key_ids(plan).await?;
                if held.iter().any(|id| id == key) {
                    Ok(())
                } else {
                    Err(error)
                }
            }
            other => other,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::deploy::desired::tests::desired;
    use crate::deploy::resources::fixtures::{action_names, converged};

    fn with_plan() -> Desired {
        let mut desired = desired();
        desired.usage_plan = Some(UsagePlan {
            rate: Some(10.0),
            burst: Some(20),
            quota: None,
        });
        desired
    }

    fn key(id: &str) -> StageKey {
        StageKey {
            name: id.into(),
            info: ApiKeyInfo {
                id: id.into(),
                name: format!("shop-dev-{id}"),
                enabled: true,
                created: None,
                tags: HashMap::new(),
            },
        }
    }

    fn plan_state(id: &str, api: &str, limits: PlanLimits, keys: &[&str]) -> PlanState {
        PlanState {
            info: UsagePlanInfo {
                id: id.into(),
                tags: HashMap::new(),
                api_stages: vec![(api.into(), "dev".into())],
                limits,
            },
            key_ids: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn a_new_plan_covers_the_api_this_deploy_creates_with_every_key() {
        let desired = with_plan();
        let own = UsagePlans {
            keys: vec![key("k1")],
            ..UsagePlans::default()
        };
        let actions = UsagePlanKind::plan(&desired, &own, &None);
        assert_eq!(
            actions,
            [UsagePlanAction::CreateUsagePlan {
                name: "shop-dev".into(),
                api: ApiRef::New,
                stage: "dev".into(),
                limits: PlanLimits {
                    throttle: Some((10.0, 20)),
                    quota: None
                },
                keys: vec!["k1".into()],
            }]
        );
        // The plan names the API's stage, which the deployment makes.
        assert_eq!(actions[0].needs(), [Need::all(Kind::Deployment)]);
    }

    #[test]
    fn an_existing_plan_is_updated_only_in_what_differs() {
        let desired = with_plan();
        let api = converged(&desired).api;
        let limits = limits_of(desired.usage_plan.as_ref().unwrap());
        let own = UsagePlans {
            plan: Some(plan_state("p1", "api", limits.clone(), &["k1"])),
            keys: vec![key("k1")],
            ..UsagePlans::default()
        };
        assert!(UsagePlanKind::plan(&desired, &own, &api).is_empty());
        // A new key, and a plan still covering an API that is gone.
        let own = UsagePlans {
            plan: Some(plan_state("p1", "old", limits, &["k1"])),
            keys: vec![key("k1"), key("k2")],
            ..UsagePlans::default()
        };
        assert_eq!(
            UsagePlanKind::plan(&desired, &own, &api),
            [UsagePlanAction::UpdateUsagePlan {
                id: "p1".into(),
                limits: None,
                attach: Some(ApiRef::Existing("api".into())),
                stage: "dev".into(),
                detach: vec![("old".into(), "dev".into())],
                add_keys: vec!["k2".into()],
            }]
        );
    }

    #[test]
    fn a_plan_no_route_needs_goes_but_its_keys_stay_until_undeploy() {
        let desired = desired();
        let limits = PlanLimits::default();
        let own = UsagePlans {
            plan: Some(plan_state("p1", "api", limits.clone(), &["k1"])),
            duplicates: vec![plan_state("p2", "api", limits, &[])],
            keys: vec![key("k1")],
            keys_unread: false,
        };
        let actions = UsagePlanKind::plan(&desired, &own, &None);
        assert_eq!(
            action_names(&actions),
            ["delete_usage_plan", "delete_usage_plan"],
            "the duplicate and the plan"
        );
        let removal = UsagePlanKind::plan_removal(desired.arns.names(), &own, &None);
        assert_eq!(
            action_names(&removal),
            ["delete_api_key", "delete_usage_plan", "delete_usage_plan"]
        );
    }
}
