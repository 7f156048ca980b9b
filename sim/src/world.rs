//! What the simulator remembers of the AWS it fronts: when each role was
//! created (IAM propagation), each function's Pending / InProgress
//! window, when each rate-limited API Gateway operation may next run, and
//! every zip that passed through (by CodeSha256) so Invoke can run it.
//!
//! Decisions only: the proxy asks, forwards, and tells it what happened.

use std::collections::HashMap;
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::behaviours::Behaviours;

/// An AWS error the simulator answers instead of moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    /// Lambda, given a role IAM has not propagated yet.
    pub(crate) fn lambda_role() -> Refusal {
        Refusal {
            status: 400,
            code: "InvalidParameterValueException",
            message: "The role defined for the function cannot be assumed by Lambda.".into(),
        }
    }

    /// EventBridge Scheduler, given a role it cannot assume yet.
    // https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html
    pub(crate) fn scheduler_role() -> Refusal {
        Refusal {
            status: 400,
            code: "ValidationException",
            message: "The execution role you provide must allow AWS EventBridge Scheduler to assume the role.".into(),
        }
    }
}

#[derive(Debug, Default)]
struct FunctionWindow {
    pending_until: Option<Instant>,
    in_progress_until: Option<Instant>,
    /// The reason code its last update failed with (reported once that
    /// update is no longer in progress), until an update succeeds.
    update_failed: Option<String>,
    /// The reason code its creation failed with (reported once Pending is
    /// over): `State: Failed` for good.
    create_failed: Option<String>,
}

/// The state a function reports now, if the simulator overrides moto's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    Pending,
    InProgress,
}

#[derive(Debug, Default)]
pub(crate) struct World {
    roles: HashMap<String, Instant>,
    functions: HashMap<String, FunctionWindow>,
    next_allowed: HashMap<&'static str, Instant>,
    code: HashMap<String, Bytes>,
    /// The last `GetRole` answer for each role, and when a role was deleted.
    role_answers: HashMap<String, Bytes>,
    deleted_roles: HashMap<String, Instant>,
    /// Statement ids of each function's (and qualifier's) policy.
    statements: std::collections::HashSet<(String, String, String)>,
    /// Each REST API's binary media types, as its last OpenAPI import set
    /// them (moto ignores `x-amazon-apigateway-binary-media-types`).
    binary_media_types: HashMap<String, Vec<String>>,
    /// Settings an `UpdateFunctionConfiguration` changed that moto ignores
    /// there (it keeps `CreateFunction`'s): each function's, by field.
    function_settings: HashMap<String, serde_json::Map<String, serde_json::Value>>,
    /// The same, as each published version (function, version) took them.
    version_settings: HashMap<(String, String), serde_json::Map<String, serde_json::Value>>,
    /// Provisioned concurrency per (function, alias): the instances
    /// requested, when they are all allocated (moto has no such API), and
    /// the reason the allocation then fails, if it does.
    provisioned: HashMap<(String, String), (u32, Instant, Option<String>)>,
    /// Event source mappings deleted (moto forgets them at once) that
    /// Lambda still lists as `Deleting`, until then.
    deleting_mappings: Vec<(serde_json::Value, Instant)>,
    /// Schedule groups deleted (moto forgets them at once) that Scheduler
    /// still shows as `DELETING`, until then.
    deleting_groups: HashMap<String, Instant>,
    /// The network interfaces Lambda made for functions in a VPC.
    pub(crate) interfaces: crate::interfaces::Interfaces,
}

/// A provisioned concurrency configuration, as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProvisionedConfig {
    pub(crate) requested: u32,
    /// All allocated (`READY`), or the allocation over (`FAILED` with
    /// `failure`); else `IN_PROGRESS` with none yet.
    pub(crate) ready: bool,
    pub(crate) failure: Option<String>,
}

/// The `UpdateFunctionConfiguration` fields Lambda applies and moto drops.
// https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html
const SETTINGS_MOTO_DROPS: [&str; 2] = ["EphemeralStorage", "TracingConfig"];

/// API Gateway's control-plane limits, per account: one call per interval.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
// ("API Gateway quotas for configuring and running a REST API").
const QUOTAS: &[(&str, f64)] = &[
    ("CreateRestApi", 3.0),
    ("CreateDeployment", 5.0),
    ("PutRestApi", 1.0),
    ("DeleteRestApi", 30.0),
];

/// Lambda's CodeSha256: base64 of the zip's SHA-256.
pub(crate) fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

/// The role name at the end of a role ARN.
pub(crate) fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

impl World {
    /// An import (`PutRestApi`, mode overwrite, as slx sends it) replaces
    /// the API's definition, binary media types included: those of the
    /// document's `x-amazon-apigateway-binary-media-types`, none without.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-binary-media-types.html
    pub(crate) fn api_imported(&mut self, api_id: &str, document: &serde_json::Value) {
        let types = document["x-amazon-apigateway-binary-media-types"]
            .as_array()
            .map(|types| {
                types
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        self.binary_media_types.insert(api_id.to_string(), types);
    }

    /// The binary media types an import set on `api_id`, if one did.
    pub(crate) fn binary_media_types(&self, api_id: &str) -> Option<&Vec<String>> {
        self.binary_media_types.get(api_id)
    }

    pub(crate) fn role_created(&mut self, name: &str, now: Instant) {
        self.roles.insert(name.to_string(), now);
        self.deleted_roles.remove(name);
    }

    /// Lambda (or EventBridge Scheduler) refuses a role IAM has not yet
    /// propagated, with `refusal`.
    pub(crate) fn check_role(
        &self,
        role_arn: &str,
        behaviours: &Behaviours,
        now: Instant,
        refusal: impl FnOnce() -> Refusal,
    ) -> Result<(), Refusal> {
        if self.role_propagated(role_arn, behaviours, now) {
            Ok(())
        } else {
            Err(refusal())
        }
    }

    fn role_propagated(&self, role_arn: &str, behaviours: &Behaviours, now: Instant) -> bool {
        self.roles.get(role_name(role_arn)).is_none_or(|created| {
            now >= *created + behaviours.scaled(behaviours.role_propagation_s)
        })
    }

    pub(crate) fn role_read(&mut self, name: &str, answer: Bytes) {
        self.role_answers.insert(name.to_string(), answer);
    }

    pub(crate) fn role_deleted(&mut self, name: &str, now: Instant) {
        self.deleted_roles.insert(name.to_string(), now);
    }

    /// A deleted role's last `GetRole` answer, while IAM still shows it.
    pub(crate) fn stale_role(
        &self,
        name: &str,
        behaviours: &Behaviours,
        now: Instant,
    ) -> Option<Bytes> {
        let deleted = self.deleted_roles.get(name)?;
        (now < *deleted + behaviours.scaled(behaviours.iam_read_lag_s))
            .then(|| self.role_answers.get(name).cloned())
            .flatten()
    }

    pub(crate) fn function_created(&mut self, name: &str, behaviours: &Behaviours, now: Instant) {
        self.function_settings.remove(name);
        let window = self.functions.entry(name.to_string()).or_default();
        window.pending_until = Some(now + behaviours.scaled(behaviours.pending_s));
        window.in_progress_until = None;
        window.create_failed = behaviours.create_failure.clone();
    }

    /// The reason code `name`'s creation failed with, once Pending is over.
    pub(crate) fn creation_failure(&self, name: &str, now: Instant) -> Option<String> {
        let window = self.functions.get(name)?;
        let pending = window.pending_until.is_some_and(|until| now < until);
        window.create_failed.clone().filter(|_| !pending)
    }

    pub(crate) fn function_updated(&mut self, name: &str, behaviours: &Behaviours, now: Instant) {
        let window = self.functions.entry(name.to_string()).or_default();
        window.in_progress_until = Some(now + behaviours.scaled(behaviours.in_progress_s));
        window.update_failed = None;
    }

    /// An update of `name` that Lambda accepted and then failed with
    /// `reason_code`: in progress as any update, then `Failed`, the
    /// previous configuration still in place.
    pub(crate) fn function_update_failed(
        &mut self,
        name: &str,
        reason_code: &str,
        behaviours: &Behaviours,
        now: Instant,
    ) {
        let window = self.functions.entry(name.to_string()).or_default();
        window.in_progress_until = Some(now + behaviours.scaled(behaviours.in_progress_s));
        window.update_failed = Some(reason_code.to_string());
    }

    /// The reason code `name`'s last update failed with, once it is no
    /// longer in progress.
    pub(crate) fn update_failure(&self, name: &str, now: Instant) -> Option<String> {
        let window = self.functions.get(name)?;
        let in_progress = window.in_progress_until.is_some_and(|until| now < until);
        window.update_failed.clone().filter(|_| !in_progress)
    }

    /// An `UpdateFunctionConfiguration` of `name` succeeded with `body`.
    pub(crate) fn function_configured(&mut self, name: &str, body: &serde_json::Value) {
        for field in SETTINGS_MOTO_DROPS {
            if let Some(value) = body.get(field) {
                self.function_settings
                    .entry(name.to_string())
                    .or_default()
                    .insert(field.to_string(), value.clone());
            }
        }
    }

    /// A version of `name` was published: it keeps `$LATEST`'s settings.
    pub(crate) fn version_published(&mut self, name: &str, version: &str) {
        if let Some(settings) = self.function_settings.get(name).cloned() {
            self.version_settings
                .insert((name.to_string(), version.to_string()), settings);
        }
    }

    /// What Lambda would report for `version` (`$LATEST` or a number) of
    /// `name` where moto does not.
    pub(crate) fn function_settings(
        &self,
        name: &str,
        version: &str,
    ) -> Option<&serde_json::Map<String, serde_json::Value>> {
        if version == "$LATEST" {
            self.function_settings.get(name)
        } else {
            self.version_settings
                .get(&(name.to_string(), version.to_string()))
        }
    }

    /// Whether a function of this name was created (through the
    /// simulator) and not deleted.
    pub(crate) fn function_exists(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// `PutProvisionedConcurrencyConfig`: allocated `allocation` later.
    pub(crate) fn provision(
        &mut self,
        function: &str,
        alias: &str,
        count: u32,
        ready_at: Instant,
        failure: Option<String>,
    ) {
        self.provisioned.insert(
            (function.to_string(), alias.to_string()),
            (count, ready_at, failure),
        );
    }

    /// `DeleteEventSourceMapping` of `mapping` (as its answer shows it):
    /// listed as `Deleting` until `gone_at`.
    pub(crate) fn mapping_deleted(&mut self, mut mapping: serde_json::Value, gone_at: Instant) {
        mapping["State"] = serde_json::json!("Deleting");
        self.deleting_mappings.push((mapping, gone_at));
    }

    /// The mappings still being deleted at `now` whose function is
    /// `function` (a name, `name:qualifier` or an ARN).
    pub(crate) fn deleting_mappings(
        &mut self,
        function: &str,
        now: Instant,
    ) -> Vec<serde_json::Value> {
        self.deleting_mappings.retain(|(_, gone_at)| *gone_at > now);
        self.deleting_mappings
            .iter()
            .map(|(mapping, _)| mapping)
            .filter(|mapping| {
                // By function name: moto answers the unqualified ARN of a
                // mapping made on an alias.
                let name_of = |reference: &str| {
                    let name = reference.split(":function:").last().unwrap_or(reference);
                    name.split(':').next().unwrap_or(name).to_string()
                };
                let arn = mapping["FunctionArn"].as_str().unwrap_or_default();
                name_of(arn) == name_of(function)
            })
            .cloned()
            .collect()
    }

    /// `DeleteScheduleGroup` of `name`: `DELETING` until `gone_at`.
    pub(crate) fn group_deleted(&mut self, name: &str, gone_at: Instant) {
        self.deleting_groups.insert(name.to_string(), gone_at);
    }

    /// Whether schedule group `name` is being deleted at `now`.
    pub(crate) fn group_deleting(&mut self, name: &str, now: Instant) -> bool {
        self.deleting_groups.retain(|_, gone_at| *gone_at > now);
        self.deleting_groups.contains_key(name)
    }

    /// The alias moved to another version: its provisioned concurrency
    /// (if any) is allocated again, ready at `ready_at`.
    pub(crate) fn reprovision(&mut self, function: &str, alias: &str, ready_at: Instant) {
        if let Some(config) = self
            .provisioned
            .get_mut(&(function.to_string(), alias.to_string()))
        {
            config.1 = ready_at;
        }
    }

    /// `DeleteProvisionedConcurrencyConfig` (or the alias deleted):
    /// whether there was one.
    pub(crate) fn unprovision(&mut self, function: &str, alias: &str) -> bool {
        self.provisioned
            .remove(&(function.to_string(), alias.to_string()))
            .is_some()
    }

    pub(crate) fn provisioned(
        &self,
        function: &str,
        alias: &str,
        now: Instant,
    ) -> Option<ProvisionedConfig> {
        self.provisioned
            .get(&(function.to_string(), alias.to_string()))
            .map(|(requested, ready_at, failure)| ProvisionedConfig {
                requested: *requested,
                ready: now >= *ready_at,
                failure: failure.clone(),
            })
    }

    pub(crate) fn function_deleted(&mut self, name: &str) {
        self.provisioned.retain(|(function, _), _| function != name);
        self.function_settings.remove(name);
        self.version_settings
            .retain(|(function, _), _| function != name);
        self.functions.remove(name);
        self.statements.retain(|(function, _, _)| function != name);
    }

    /// Lambda refuses a statement id its policy already has (moto adds a
    /// second one).
    // https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html
    pub(crate) fn check_statement(
        &self,
        function: &str,
        qualifier: &str,
        sid: &str,
    ) -> Result<(), Refusal> {
        if self
            .statements
            .contains(&(function.into(), qualifier.into(), sid.into()))
        {
            return Err(Refusal {
                status: 409,
                code: "ResourceConflictException",
                message: format!(
                    "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn statement_added(&mut self, function: &str, qualifier: &str, sid: &str) {
        self.statements
            .insert((function.into(), qualifier.into(), sid.into()));
    }

    pub(crate) fn statement_removed(&mut self, function: &str, qualifier: &str, sid: &str) {
        self.statements
            .remove(&(function.to_string(), qualifier.to_string(), sid.to_string()));
    }

    /// Whether `$LATEST` of `name` is still being created or updated.
    pub(crate) fn busy(&self, name: &str, now: Instant) -> Option<Busy> {
        let window = self.functions.get(name)?;
        if window.pending_until.is_some_and(|until| now < until) {
            Some(Busy::Pending)
        } else if window.in_progress_until.is_some_and(|until| now < until) {
            Some(Busy::InProgress)
        } else {
            None
        }
    }

    /// Lambda refuses to change or publish a function it is still
    /// creating or updating, and to invoke one it is still creating.
    // https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
    pub(crate) fn check_function(
        &self,
        name: &str,
        operation: &str,
        now: Instant,
    ) -> Result<(), Refusal> {
        let guarded = matches!(
            operation,
            "UpdateFunctionCode" | "UpdateFunctionConfiguration" | "PublishVersion"
        );
        match self.busy(name, now) {
            Some(Busy::Pending) if guarded || operation == "Invoke" => Err(Refusal {
                status: 409,
                code: "ResourceConflictException",
                message: "The operation cannot be performed at this time. The function is currently in the following state: Pending".into(),
            }),
            Some(Busy::InProgress) if guarded => Err(Refusal {
                status: 409,
                code: "ResourceConflictException",
                message: format!(
                    "The operation cannot be performed at this time. An update is in progress for resource: {name}"
                ),
            }),
            // A function Lambda could not create takes only a deletion.
            // https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
            _ if (guarded || operation == "Invoke")
                && self.creation_failure(name, now).is_some() =>
            {
                Err(Refusal {
                    status: 409,
                    code: "ResourceConflictException",
                    message: "The operation cannot be performed at this time. The function is currently in the following state: Failed".into(),
                })
            }
            _ => Ok(()),
        }
    }

    /// API Gateway's rate limits: refuse a call that comes too soon after
    /// the last one of the same operation.
    pub(crate) fn check_quota(
        &mut self,
        operation: &str,
        behaviours: &Behaviours,
        now: Instant,
    ) -> Result<(), Refusal> {
        let Some((name, interval)) = QUOTAS.iter().find(|(name, _)| *name == operation) else {
            return Ok(());
        };
        if self.next_allowed.get(name).is_some_and(|next| now < *next) {
            return Err(Refusal {
                status: 429,
                code: "TooManyRequestsException",
                message: "Too Many Requests".into(),
            });
        }
        self.next_allowed
            .insert(name, now + behaviours.scaled(*interval));
        Ok(())
    }

    /// Keeps a zip that was uploaded; returns its CodeSha256.
    pub(crate) fn keep_code(&mut self, zip: Bytes) -> String {
        let sha = code_sha256(&zip);
        self.code.insert(sha.clone(), zip);
        sha
    }

    pub(crate) fn code(&self, sha: &str) -> Option<Bytes> {
        self.code.get(sha).cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn behaviours() -> Behaviours {
        Behaviours {
            role_propagation_s: 8.0,
            pending_s: 2.0,
            in_progress_s: 1.0,
            time_scale: 0.5,
            ..Behaviours::default()
        }
    }

    #[test]
    fn a_new_role_is_refused_until_it_propagates() {
        let b = behaviours();
        let mut world = World::default();
        let t0 = Instant::now();
        world.role_created("shop-dev-role", t0);
        let arn = "arn:aws:iam::123456789012:role/shop-dev-role";
        let refused = world
            .check_role(arn, &b, t0 + Duration::from_secs(3), Refusal::lambda_role)
            .unwrap_err();
        assert_eq!(refused.code, "InvalidParameterValueException");
        // 8 s at time scale 0.5.
        assert!(
            world
                .check_role(arn, &b, t0 + Duration::from_secs(4), Refusal::lambda_role)
                .is_ok()
        );
        assert!(
            world
                .check_role("arn:aws:iam::1:role/older", &b, t0, Refusal::lambda_role)
                .is_ok()
        );
    }

    #[test]
    fn pending_then_in_progress_guard_updates_and_invokes() {
        let b = behaviours();
        let mut world = World::default();
        let t0 = Instant::now();
        world.function_created("f", &b, t0);
        assert_eq!(world.busy("f", t0), Some(Busy::Pending));
        assert!(world.check_function("f", "Invoke", t0).is_err());
        assert!(world.check_function("f", "UpdateFunctionCode", t0).is_err());
        assert!(world.check_function("f", "GetFunction", t0).is_ok());
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(world.busy("f", t1), None);
        world.function_updated("f", &b, t1);
        assert_eq!(world.busy("f", t1), Some(Busy::InProgress));
        assert!(world.check_function("f", "PublishVersion", t1).is_err());
        assert!(
            world.check_function("f", "Invoke", t1).is_ok(),
            "the old code serves"
        );
        assert_eq!(world.busy("f", t1 + Duration::from_millis(500)), None);
    }

    #[test]
    fn api_gateway_quotas_space_out_calls() {
        let b = Behaviours::default();
        let mut world = World::default();
        let t0 = Instant::now();
        assert!(world.check_quota("CreateDeployment", &b, t0).is_ok());
        let refused = world.check_quota("CreateDeployment", &b, t0 + Duration::from_secs(4));
        assert_eq!(refused.unwrap_err().status, 429);
        assert!(
            world
                .check_quota("CreateDeployment", &b, t0 + Duration::from_secs(5))
                .is_ok()
        );
        assert!(world.check_quota("GetRestApis", &b, t0).is_ok());
    }

    #[test]
    fn settings_moto_drops_are_kept_for_latest_and_each_published_version() {
        let mut world = World::default();
        world.function_configured(
            "shop-dev",
            &serde_json::json!({"EphemeralStorage": {"Size": 2048}, "MemorySize": 256}),
        );
        world.version_published("shop-dev", "1");
        world.function_configured(
            "shop-dev",
            &serde_json::json!({"TracingConfig": {"Mode": "Active"}}),
        );
        let latest = world.function_settings("shop-dev", "$LATEST").unwrap();
        assert_eq!(latest["EphemeralStorage"]["Size"], 2048);
        assert_eq!(latest["TracingConfig"]["Mode"], "Active");
        assert!(!latest.contains_key("MemorySize"), "moto applies that one");
        let one = world.function_settings("shop-dev", "1").unwrap();
        assert!(!one.contains_key("TracingConfig"), "set after version 1");
        assert!(world.function_settings("shop-dev", "2").is_none());
        world.function_deleted("shop-dev");
        assert!(world.function_settings("shop-dev", "$LATEST").is_none());
        assert!(world.function_settings("shop-dev", "1").is_none());
    }
}
