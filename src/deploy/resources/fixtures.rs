//! What the plan tests of every kind start from: a stage exactly as the
//! test `Desired` describes it, and the pieces it is made of. Tests only.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Actual;
use super::alias::AliasState;
use super::api::{ApiState, PathState};
use super::log_group::LogGroupState;
use super::permission::Statement;
use super::role::RoleState;
use crate::aws::{FunctionInfo, StageInfo, VersionInfo};
use crate::config::Method;
use crate::deploy::desired::Desired;
use crate::names::StageNames;

pub(crate) fn names() -> StageNames {
    StageNames::new("shop", "dev")
}

pub(crate) fn function(desired: &Desired, version: &str) -> FunctionInfo {
    FunctionInfo {
        version: version.into(),
        code_sha256: desired.code_sha256.clone(),
        arch: desired.arch,
        memory: desired.memory,
        timeout: desired.timeout,
        env: desired.env.clone(),
        role_arn: desired.arns.role_arn(),
        arn: desired.arns.function_arn(),
        ephemeral_storage: desired.ephemeral_storage,
        layers: desired.layers.clone(),
        tracing: desired.tracing,
        vpc: desired.vpc.clone(),
        description: desired.described(),
        creation_failed: None,
    }
}

pub(crate) fn version(number: &str, sha: &str) -> VersionInfo {
    VersionInfo {
        version: number.into(),
        description: String::new(),
        last_modified: String::new(),
        code_sha256: sha.into(),
    }
}

/// AWS exactly as `desired` describes it.
pub(crate) fn converged(desired: &Desired) -> Actual {
    let uri = desired.arns.integration_uri();
    let path = |id: &str, methods: &[Method]| PathState {
        id: id.into(),
        methods: methods.iter().map(|m| (*m, Some(uri.clone()))).collect(),
    };
    Actual {
        role: Some(RoleState {
            policy: Some(desired.role_policy.clone()),
            trust_policy: Some(desired.trust_policy.clone()),
            boundary: desired.permissions_boundary.clone(),
            interfaces: Vec::new(),
        }),
        log_group: Some(LogGroupState {
            retention_days: Some(desired.log_retention_days),
        }),
        function: Some(function(desired, "$LATEST")),
        alias: AliasState {
            served: Some(function(desired, "1")),
            versions: vec![version("1", &desired.code_sha256)],
            canary: None,
        },
        api: Some(ApiState {
            binary_media_types: desired.binary_media_types.clone(),
            definition: Some(crate::deploy::openapi::definition(desired).digest),
            id: "api".into(),
            paths: BTreeMap::from([
                ("/".into(), path("r0", &[])),
                ("/greet".into(), path("r1", &[Method::Post])),
                ("/orders".into(), path("r2", &[])),
                ("/orders/{id}".into(), path("r3", &[Method::Post])),
            ]),
            duplicates: vec![],
            stage: Some(StageInfo {
                deployment_id: Some("d1".into()),
                throttle: None,
                tracing: false,
                deployment_description: Some(format!(
                    "slx test; routes sha256:{}",
                    crate::deploy::openapi::definition(desired).digest
                )),
            }),
        }),
        permission: Some(Statement {
            source_arn: Some(desired.arns.api_source_arn("api")),
        }),
        deployment: (),
        concurrency: None,
        provisioned: None,
        throttle: (),
        stage_tracing: (),
        ..Actual::default()
    }
}

/// The `action` name of each of `actions`, in order.
pub(crate) fn action_names<A: Serialize>(actions: &[A]) -> Vec<String> {
    actions
        .iter()
        .map(|a| {
            serde_json::to_value(a).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}
