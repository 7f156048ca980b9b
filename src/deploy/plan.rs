//! The plan: a pure function of (desired, actual) giving the ordered
//! actions that make AWS match slx.toml. `None` as desired plans the
//! removal of everything the stage owns (undeploy).
//!
//! Never performs I/O; the applier executes what this returns.

use std::collections::BTreeSet;

use serde::Serialize;

use super::model::{Actual, Desired, Permission};
use crate::config::Arch;

/// Which function settings differ from slx.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ConfigChange {
    pub memory: Option<u32>,
    pub timeout: Option<u32>,
    pub env: bool,
    pub role: bool,
}

/// One step of a deploy, in the order it must run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    CreateRole,
    PutRolePolicy,
    CreateLogGroup,
    SetLogRetention {
        days: u32,
    },
    CreateFunction,
    /// Upload the zip (also how the architecture changes).
    UpdateCode {
        arch_change: Option<Arch>,
    },
    UpdateConfig {
        change: ConfigChange,
    },
    /// Publish `$LATEST` as a version and point the stage alias at it.
    PublishAndPointAlias,
    /// Delete published versions beyond the newest `keep` (never the
    /// aliased one).
    PruneVersions {
        keep: u32,
    },
    CreateApi,
    /// Replace the API's routes with slx.toml's (one OpenAPI import);
    /// `add` and `remove` say what changes, as `METHOD /path`.
    SetRoutes {
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// Grant the API the right to invoke the alias; `replace` drops a
    /// statement that names an older API first.
    AddInvokePermission {
        replace: bool,
    },
    /// Make API changes live: a new deployment on the stage.
    DeployApi,
    DeleteApi,
    DeleteFunction,
    DeleteLogGroup,
    DeleteRole,
}

impl Action {
    /// A line for `slx plan`.
    pub fn describe(&self, desired_name: &str) -> String {
        match self {
            Action::CreateRole => format!("create IAM role {desired_name}-role"),
            Action::PutRolePolicy => "set the role's inline policy".into(),
            Action::CreateLogGroup => format!("create log group /aws/lambda/{desired_name}"),
            Action::SetLogRetention { days } => format!("set log retention to {days} days"),
            Action::CreateFunction => format!("create function {desired_name}"),
            Action::UpdateCode {
                arch_change: Some(arch),
            } => {
                format!("upload code (architecture → {arch})")
            }
            Action::UpdateCode { arch_change: None } => "upload code".into(),
            Action::UpdateConfig { change } => {
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
                format!("update configuration ({})", parts.join(", "))
            }
            Action::PublishAndPointAlias => {
                "publish a version and point the stage alias at it".into()
            }
            Action::PruneVersions { keep } => format!("prune versions beyond the newest {keep}"),
            Action::CreateApi => format!("create REST API {desired_name}"),
            Action::SetRoutes { add, remove } => {
                let mut parts: Vec<String> = add.iter().map(|r| format!("+{r}")).collect();
                parts.extend(remove.iter().map(|r| format!("-{r}")));
                format!("set routes ({})", parts.join(", "))
            }
            Action::AddInvokePermission { .. } => "allow the API to invoke the alias".into(),
            Action::DeployApi => "deploy the API to its stage".into(),
            Action::DeleteApi => format!("delete REST API {desired_name}"),
            // Its versions, alias and invoke permission go with it.
            Action::DeleteFunction => format!("delete function {desired_name} and its versions"),
            Action::DeleteLogGroup => format!("delete log group /aws/lambda/{desired_name}"),
            Action::DeleteRole => format!("delete IAM role {desired_name}-role"),
        }
    }
}

/// The actions that take `actual` to `desired`, in dependency order.
pub fn plan(desired: Option<&Desired>, actual: &Actual) -> Vec<Action> {
    match desired {
        Some(desired) => plan_deploy(desired, actual),
        None => plan_removal(actual),
    }
}

fn plan_deploy(desired: &Desired, actual: &Actual) -> Vec<Action> {
    let mut actions = Vec::new();
    match &actual.role {
        None => actions.extend([Action::CreateRole, Action::PutRolePolicy]),
        Some(policy) if policy.as_deref() != Some(desired.role_policy.as_str()) => {
            actions.push(Action::PutRolePolicy);
        }
        Some(_) => {}
    }
    match actual.log_group {
        None => actions.extend([
            Action::CreateLogGroup,
            Action::SetLogRetention {
                days: desired.log_retention_days,
            },
        ]),
        Some(days) if days != Some(desired.log_retention_days) => {
            actions.push(Action::SetLogRetention {
                days: desired.log_retention_days,
            });
        }
        Some(_) => {}
    }
    let mut function_changed = false;
    match &actual.function {
        None => {
            actions.push(Action::CreateFunction);
            function_changed = true;
        }
        Some(current) => {
            if current.code_sha256 != desired.code_sha256 || current.arch != desired.arch {
                let arch_change = (current.arch != desired.arch).then_some(desired.arch);
                actions.push(Action::UpdateCode { arch_change });
                function_changed = true;
            }
            let change = config_change(desired, current);
            if change != ConfigChange::default() {
                actions.push(Action::UpdateConfig { change });
                function_changed = true;
            }
        }
    }
    // The alias must serve exactly what slx.toml and the zip describe. It
    // also catches a deploy that updated $LATEST but died before publishing.
    let alias_current = actual.alias.as_ref().is_some_and(|(_, version)| {
        version.code_sha256 == desired.code_sha256
            && version.arch == desired.arch
            && config_change(desired, version) == ConfigChange::default()
    });
    if function_changed || !alias_current {
        actions.push(Action::PublishAndPointAlias);
        // A new function has one version: nothing to prune yet.
        if actual.function.is_some() {
            actions.push(Action::PruneVersions {
                keep: desired.keep_versions,
            });
        }
    }

    let mut api_changed = false;
    let empty = Default::default();
    let resources = match &actual.api {
        None => {
            actions.push(Action::CreateApi);
            api_changed = true;
            &empty
        }
        Some(api) => &api.resources,
    };
    let existing: BTreeSet<String> = resources
        .iter()
        .flat_map(|(path, r)| r.methods.iter().map(move |m| format!("{m} {path}")))
        .collect();
    let wanted: BTreeSet<String> = desired
        .routes
        .iter()
        .flat_map(|(path, methods)| methods.iter().map(move |m| format!("{m} {path}")))
        .collect();
    // Paths left without methods (e.g. after a console edit) also differ.
    let stray_paths = resources
        .iter()
        .any(|(path, r)| path != "/" && r.methods.is_empty() && !is_parent_of_route(path, desired));
    let add: Vec<String> = wanted.difference(&existing).cloned().collect();
    let remove: Vec<String> = existing.difference(&wanted).cloned().collect();
    if !add.is_empty() || !remove.is_empty() || stray_paths {
        actions.push(Action::SetRoutes { add, remove });
        api_changed = true;
    }
    match actual.permission {
        Permission::Current if actual.api.is_some() => {}
        Permission::Stale | Permission::Current => {
            actions.push(Action::AddInvokePermission { replace: true })
        }
        Permission::Missing => actions.push(Action::AddInvokePermission { replace: false }),
    }
    let stage_missing = actual.api.as_ref().is_none_or(|api| !api.stage_exists);
    if api_changed || stage_missing {
        actions.push(Action::DeployApi);
    }
    actions
}

fn config_change(desired: &Desired, current: &super::model::FunctionState) -> ConfigChange {
    ConfigChange {
        memory: (current.memory != desired.config.memory).then_some(desired.config.memory),
        timeout: (current.timeout != desired.config.timeout).then_some(desired.config.timeout),
        env: current.env != desired.config.env,
        role: !current.role_arn.ends_with(&desired.config.role_arn_suffix),
    }
}

/// Whether `path` is a parent of a routed path (`/orders` of `/orders/{id}`).
fn is_parent_of_route(path: &str, desired: &Desired) -> bool {
    let prefix = format!("{path}/");
    desired
        .routes
        .keys()
        .any(|route| route.starts_with(&prefix))
}

fn plan_removal(actual: &Actual) -> Vec<Action> {
    let mut actions = Vec::new();
    if actual.api.is_some() {
        actions.push(Action::DeleteApi);
    }
    if actual.function.is_some() {
        actions.push(Action::DeleteFunction);
    }
    if actual.log_group.is_some() {
        actions.push(Action::DeleteLogGroup);
    }
    if actual.role.is_some() {
        actions.push(Action::DeleteRole);
    }
    actions
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::config::Method;

    use super::*;
    use crate::deploy::model::{ApiState, FunctionConfig, FunctionState, ResourceState};

    fn desired() -> Desired {
        Desired {
            function_name: "shop-dev".into(),
            role_name: "shop-dev-role".into(),
            log_group: "/aws/lambda/shop-dev".into(),
            log_retention_days: 14,
            arch: Arch::X86_64,
            code_sha256: "sha-1".into(),
            config: FunctionConfig {
                memory: 256,
                timeout: 10,
                env: BTreeMap::from([("GREETING".into(), "hello".into())]),
                role_arn_suffix: ":role/shop-dev-role".into(),
            },
            role_policy: "{policy}".into(),
            routes: BTreeMap::from([
                ("/greet".into(), BTreeSet::from([Method::Post])),
                ("/orders/{id}".into(), BTreeSet::from([Method::Post])),
            ]),
            stage: "dev".into(),
            keep_versions: 10,
        }
    }

    fn function(desired: &Desired) -> FunctionState {
        FunctionState {
            code_sha256: desired.code_sha256.clone(),
            arch: desired.arch,
            memory: desired.config.memory,
            timeout: desired.config.timeout,
            env: desired.config.env.clone(),
            role_arn: "arn:aws:iam::123456789012:role/shop-dev-role".into(),
        }
    }

    /// AWS exactly as `desired` describes it.
    fn converged(desired: &Desired) -> Actual {
        let resource = |id: &str, methods: &[Method]| ResourceState {
            id: id.into(),
            methods: methods.iter().copied().collect(),
        };
        Actual {
            role: Some(Some(desired.role_policy.clone())),
            log_group: Some(Some(desired.log_retention_days)),
            function: Some(function(desired)),
            alias: Some(("1".into(), function(desired))),
            api: Some(ApiState {
                id: "api".into(),
                resources: BTreeMap::from([
                    ("/".into(), resource("r0", &[])),
                    ("/greet".into(), resource("r1", &[Method::Post])),
                    ("/orders".into(), resource("r2", &[])),
                    ("/orders/{id}".into(), resource("r3", &[Method::Post])),
                ]),
                stage_exists: true,
            }),
            permission: Permission::Current,
        }
    }

    #[test]
    fn creates_everything_in_dependency_order() {
        let actions = plan(Some(&desired()), &Actual::default());
        assert_eq!(
            actions,
            vec![
                Action::CreateRole,
                Action::PutRolePolicy,
                Action::CreateLogGroup,
                Action::SetLogRetention { days: 14 },
                Action::CreateFunction,
                Action::PublishAndPointAlias,
                Action::CreateApi,
                Action::SetRoutes {
                    add: vec!["POST /greet".into(), "POST /orders/{id}".into()],
                    remove: vec![],
                },
                Action::AddInvokePermission { replace: false },
                Action::DeployApi,
            ]
        );
    }

    #[test]
    fn nothing_to_do_when_aws_matches() {
        let desired = desired();
        assert_eq!(plan(Some(&desired), &converged(&desired)), vec![]);
    }

    #[test]
    fn code_change_uploads_code_only_and_publishes() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.code_sha256 = "sha-2".into();
        assert_eq!(
            plan(Some(&desired), &actual),
            vec![
                Action::UpdateCode { arch_change: None },
                Action::PublishAndPointAlias,
                Action::PruneVersions { keep: 10 }
            ]
        );
    }

    #[test]
    fn memory_change_updates_config_only() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.config.memory = 512;
        assert_eq!(
            plan(Some(&desired), &actual),
            vec![
                Action::UpdateConfig {
                    change: ConfigChange {
                        memory: Some(512),
                        ..ConfigChange::default()
                    }
                },
                Action::PublishAndPointAlias,
                Action::PruneVersions { keep: 10 }
            ]
        );
    }

    #[test]
    fn env_change_is_a_config_change() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.config.env.insert("NEW".into(), "1".into());
        let actions = plan(Some(&desired), &actual);
        assert_eq!(
            actions[0],
            Action::UpdateConfig {
                change: ConfigChange {
                    env: true,
                    ..ConfigChange::default()
                }
            }
        );
        assert_eq!(actions.len(), 3);
    }

    #[test]
    fn arch_change_reuploads_code() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.arch = Arch::Arm64;
        desired.code_sha256 = "sha-arm".into();
        assert_eq!(
            plan(Some(&desired), &actual)[0],
            Action::UpdateCode {
                arch_change: Some(Arch::Arm64)
            }
        );
    }

    #[test]
    fn route_added_sets_routes_and_redeploys() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired
            .routes
            .insert("/health".into(), BTreeSet::from([Method::Get]));
        assert_eq!(
            plan(Some(&desired), &actual),
            vec![
                Action::SetRoutes {
                    add: vec!["GET /health".into()],
                    remove: vec![],
                },
                Action::DeployApi,
            ]
        );
    }

    #[test]
    fn route_removed_sets_routes_and_redeploys() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.routes.remove("/orders/{id}");
        assert_eq!(
            plan(Some(&desired), &actual),
            vec![
                Action::SetRoutes {
                    add: vec![],
                    remove: vec!["POST /orders/{id}".into()],
                },
                Action::DeployApi,
            ]
        );
    }

    #[test]
    fn a_path_without_methods_left_behind_is_cleaned_up() {
        let desired = desired();
        let mut actual = converged(&desired);
        let api = actual.api.as_mut().unwrap();
        api.resources
            .insert("/stray".into(), ResourceState::default());
        assert_eq!(
            plan(Some(&desired), &actual),
            vec![
                Action::SetRoutes {
                    add: vec![],
                    remove: vec![]
                },
                Action::DeployApi
            ]
        );
    }

    #[test]
    fn a_permission_for_an_older_api_is_replaced() {
        let desired = desired();
        let mut actual = converged(&desired);
        actual.permission = Permission::Stale;
        assert_eq!(
            plan(Some(&desired), &actual),
            vec![Action::AddInvokePermission { replace: true }]
        );
    }

    #[test]
    fn half_finished_deploy_publishes_what_latest_already_has() {
        let desired = desired();
        let mut actual = converged(&desired);
        // $LATEST got the new code, the process died before publishing.
        let mut old = function(&desired);
        old.code_sha256 = "sha-0".into();
        actual.alias = Some(("1".into(), old));
        assert_eq!(
            plan(Some(&desired), &actual),
            vec![
                Action::PublishAndPointAlias,
                Action::PruneVersions { keep: 10 }
            ]
        );
        // ...or before the API stage was deployed.
        let mut actual = converged(&desired);
        actual.api.as_mut().unwrap().stage_exists = false;
        assert_eq!(plan(Some(&desired), &actual), vec![Action::DeployApi]);
    }

    #[test]
    fn removal_deletes_what_exists_dependents_first() {
        let desired = desired();
        assert_eq!(
            plan(None, &converged(&desired)),
            vec![
                Action::DeleteApi,
                Action::DeleteFunction,
                Action::DeleteLogGroup,
                Action::DeleteRole,
            ]
        );
        assert_eq!(plan(None, &Actual::default()), vec![]);
    }
}
