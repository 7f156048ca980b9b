//! The two sides a deploy compares: what slx.toml and the build want
//! (`Desired`) and what AWS holds now (`Actual`), as plain data.
//!
//! No SDK types here: the reader translates AWS answers into these, so the
//! planner stays pure and testable without AWS.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::{Arch, Method, Project};

/// Lambda settings slx manages on the function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionConfig {
    pub memory: u32,
    pub timeout: u32,
    pub env: BTreeMap<String, String>,
    pub role_arn_suffix: String,
}

/// What the stage should look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desired {
    pub function_name: String,
    pub role_name: String,
    pub log_group: String,
    pub log_retention_days: u32,
    pub arch: Arch,
    pub code_sha256: String,
    pub config: FunctionConfig,
    /// Inline policy document of the role (JSON text).
    pub role_policy: String,
    /// `path → methods`, paths as API Gateway writes them (`/orders/{id}`).
    pub routes: BTreeMap<String, BTreeSet<Method>>,
    pub stage: String,
    /// Published versions to keep; older ones are pruned after a publish.
    pub keep_versions: u32,
}

impl Desired {
    pub fn new(project: &Project, code_sha256: &str, role_policy: String) -> Desired {
        let mut routes: BTreeMap<String, BTreeSet<Method>> = BTreeMap::new();
        for route in &project.routes {
            routes
                .entry(route.path.to_string())
                .or_default()
                .insert(route.method);
        }
        Desired {
            function_name: project.function_name(),
            role_name: project.role_name(),
            log_group: project.log_group(),
            log_retention_days: project.log_retention_days,
            arch: project.arch,
            code_sha256: code_sha256.to_string(),
            config: FunctionConfig {
                memory: project.memory,
                timeout: project.timeout,
                env: project.env.clone(),
                role_arn_suffix: format!(":role/{}", project.role_name()),
            },
            role_policy,
            routes,
            stage: project.stage.clone(),
            keep_versions: project.keep_versions,
        }
    }
}

/// A function as Lambda reports it (for `$LATEST` or a published version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionState {
    pub code_sha256: String,
    pub arch: Arch,
    pub memory: u32,
    pub timeout: u32,
    pub env: BTreeMap<String, String>,
    pub role_arn: String,
}

/// One API Gateway resource and the methods on it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceState {
    pub id: String,
    pub methods: BTreeSet<Method>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiState {
    pub id: String,
    /// Keyed by full path (`/`, `/orders`, `/orders/{id}`).
    pub resources: BTreeMap<String, ResourceState>,
    /// Whether the stage named after the slx stage exists.
    pub stage_exists: bool,
}

/// What AWS holds for the stage now. `None` means absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actual {
    /// Role exists, with its current inline policy (if any).
    pub role: Option<Option<String>>,
    /// Log group exists, with its retention (if any).
    pub log_group: Option<Option<u32>>,
    pub function: Option<FunctionState>,
    /// The alias's version number and that version's state.
    pub alias: Option<(String, FunctionState)>,
    pub api: Option<ApiState>,
    /// The API's one invoke permission on the alias.
    pub permission: Permission,
}

/// The state of the API's invoke permission (statement `slx-apigateway-invoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Permission {
    #[default]
    Missing,
    /// The statement exists but names another API (the API was recreated).
    Stale,
    Current,
}
