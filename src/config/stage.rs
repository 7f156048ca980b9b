//! Resolves one stage: built-in defaults, then `[app]`, then
//! `[stages.NAME]`. A pure function of the config and the stage name.

use thiserror::Error;

use super::limits;
use super::model::{Arch, Config, EventFunction, Project};
use super::stage_check::{self, Refusal};

pub const DEFAULT_ARCH: Arch = Arch::X86_64;
pub const DEFAULT_MEMORY_MB: u32 = 128;
pub const DEFAULT_TIMEOUT_S: u32 = 10;
pub const DEFAULT_LOG_RETENTION_DAYS: u32 = 30;
pub const DEFAULT_KEEP_VERSIONS: u32 = 10;
/// Lambda's default `/tmp`.
pub const DEFAULT_EPHEMERAL_STORAGE_MB: u32 = 512;

/// Why a stage cannot be resolved.
#[derive(Debug, Error, miette::Diagnostic, PartialEq, Eq)]
pub enum StageError {
    #[error("invalid stage name `{stage}`: {problem}")]
    #[diagnostic(
        code(slx::stage::name),
        help("use lowercase letters, digits and `-`, starting with a letter, e.g. `prod`")
    )]
    BadName {
        stage: String,
        problem: &'static str,
    },
    #[error("stage `{stage}` cannot be deployed: {problem}")]
    #[diagnostic(
        code(slx::stage::too_long),
        help("shorten the app name or the stage name")
    )]
    TooLong { stage: String, problem: String },
    #[error(
        "the environment of {function} in stage `{stage}` is {size} bytes{added}; Lambda allows {limit} in total"
    )]
    #[diagnostic(
        code(slx::stage::env_size),
        help(
            "move large values to SSM Parameter Store or Secrets Manager (`[secrets]` adds only their names) and read them at start-up"
        )
    )]
    EnvTooLarge {
        stage: String,
        function: String,
        size: usize,
        /// `, with slx's SLX_SECRETS (120 bytes)`, or nothing.
        added: String,
        limit: usize,
    },
    #[error(
        "stage `{stage}` keeps {provisioned} instances warm (`provisioned_concurrency`) but reserves only {reserved} (`concurrency`)"
    )]
    #[diagnostic(
        code(slx::stage::provisioned),
        help(
            "Lambda refuses more provisioned than reserved concurrency: raise `concurrency` or lower `provisioned_concurrency`"
        )
    )]
    ProvisionedAboveReserved {
        stage: String,
        provisioned: u32,
        reserved: u32,
    },
    #[error(
        "stage `{stage}` runs its functions with a role made elsewhere (`role`), but schedule `{handler}` needs a role EventBridge Scheduler assumes"
    )]
    #[diagnostic(code(slx::stage::scheduler_role), help("{fix}"))]
    SchedulerRoleMissing {
        stage: String,
        handler: String,
        fix: &'static str,
    },
}

impl StageError {
    /// The error that refuses stage `stage`.
    pub(crate) fn of(stage: &str, refusal: Refusal) -> StageError {
        let stage = stage.to_string();
        match refusal {
            Refusal::BadName { problem } => StageError::BadName { stage, problem },
            Refusal::TooLong { problem } => StageError::TooLong { stage, problem },
            Refusal::HandlerTooLong {
                handler, problem, ..
            } => StageError::TooLong {
                stage,
                problem: format!("event handler `{handler}`: {problem}"),
            },
            Refusal::EnvTooLarge {
                size,
                function,
                added,
            } => StageError::EnvTooLarge {
                stage,
                function,
                size,
                added: stage_check::describe_added(&added),
                limit: limits::ENV_BYTES,
            },
            Refusal::ProvisionedAboveReserved {
                provisioned,
                reserved,
                ..
            } => StageError::ProvisionedAboveReserved {
                stage,
                provisioned,
                reserved,
            },
            Refusal::SchedulerRoleMissing { handler, .. } => StageError::SchedulerRoleMissing {
                stage,
                handler,
                fix: stage_check::SCHEDULER_ROLE_FIX,
            },
        }
    }
}

/// The settings of `stage`, every layer applied. Stages that have no
/// `[stages.NAME]` table get `[app]` as it is.
pub fn resolve(config: &Config, stage: &str) -> Result<Project, StageError> {
    let settings = config.settings_of(stage);
    let overlay = config.stages.get(stage);
    let mut env = config.env.clone();
    if let Some(overlay) = overlay {
        env.extend(overlay.env.clone());
    }
    // Function authorizers are event handlers too: each its own
    // function, called by API Gateway.
    let handlers: Vec<crate::config::EventHandler> = overlay
        .and_then(|o| o.events.as_ref())
        .unwrap_or(&config.events)
        .iter()
        .cloned()
        .chain(authorizer_handlers(&config.authorizers))
        .collect();
    let mut secrets = config.secrets.clone();
    if let Some(overlay) = overlay {
        secrets.extend(overlay.secrets.clone());
    }
    let routes = super::model::api_routes(&config.routes, config.router.as_deref());
    let checked = stage_check::Stage {
        app: Some(&config.name),
        name: Some(stage),
        settings: &settings,
        env: &env,
        handlers: &handlers,
        secrets: &secrets,
        routes: &routes,
    };
    if let Some(refusal) = stage_check::refusals(&checked).into_iter().next() {
        return Err(StageError::of(stage, refusal));
    }
    let settings = settings.resolved();
    let events = handlers
        .iter()
        .map(|handler| EventFunction {
            memory_mb: handler.memory.unwrap_or(settings.memory),
            timeout_s: handler.timeout.unwrap_or(settings.timeout),
            handler: handler.clone(),
        })
        .collect();
    let fetches_secrets =
        !config.secrets.is_empty() || config.stages.values().any(|s| !s.secrets.is_empty());
    Ok(Project {
        app: config.name.clone(),
        stage: stage.to_string(),
        binary_media_types: match config.router {
            Some(_) => vec![super::model::ROUTER_BINARY_MEDIA_TYPES.to_string()],
            None => config.binary_media_types.clone(),
        },
        // API keys work only through a usage plan: a stage with a route
        // that requires one gets a plan, without limits unless set.
        usage_plan: config
            .routes
            .iter()
            .any(|route| route.api_key)
            .then(|| settings.usage_plan.unwrap_or_default()),
        settings,
        authorizers: config.authorizers.clone(),
        env,
        routes,
        router: config.router.clone(),
        permissions: config.permissions.clone(),
        checks: config
            .checks
            .iter()
            .chain(overlay.iter().flat_map(|o| o.checks.iter()))
            .cloned()
            .collect(),
        events,
        secrets: secrets.into_values().collect(),
        fetches_secrets,
        serves_cors: config.settings.cors.is_some()
            || config.stages.values().any(|s| s.settings.cors.is_some()),
    })
}

/// The `[authorizers.NAME]` with `function`, as the event handlers that
/// serve them.
pub(crate) fn authorizer_handlers(
    authorizers: &[crate::config::Authorizer],
) -> impl Iterator<Item = crate::config::EventHandler> + '_ {
    authorizers.iter().filter_map(|authorizer| {
        let (function, source) = authorizer.function()?;
        Some(crate::config::EventHandler {
            name: authorizer.name.clone(),
            handler: function.to_string(),
            source: crate::config::EventSource::Authorizer(source),
            memory: None,
            timeout: None,
            on_failure: None,
            span: 0..0,
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::config::model::{Set, Settings, StageOverlay};

    /// A value a table set (where does not matter here).
    fn set<T>(value: T) -> Option<Set<T>> {
        Some(Set { value, span: 0..0 })
    }

    fn config() -> Config {
        Config {
            path: "slx.toml".into(),
            source: Arc::new(String::new()),
            name: "shop".into(),
            settings: Settings {
                memory: set(256),
                region: set("eu-west-1".into()),
                ..Settings::default()
            },
            env: BTreeMap::from([
                ("GREETING".into(), "hello".into()),
                ("COLOR".into(), "blue".into()),
            ]),
            routes: vec![],
            router: None,
            binary_media_types: vec![],
            authorizers: vec![],
            stages: BTreeMap::from([(
                "prod".into(),
                StageOverlay {
                    settings: Settings {
                        memory: set(512),
                        arch: set(Arch::Arm64),
                        ..Settings::default()
                    },
                    env: BTreeMap::from([("GREETING".into(), "hi".into())]),
                    checks: vec![],
                    events: None,
                    secrets: BTreeMap::new(),
                },
            )]),
            permissions: vec![],
            checks: vec![],
            events: vec![],
            secrets: BTreeMap::new(),
            warnings: vec![],
        }
    }

    #[test]
    fn undeclared_stage_gets_app_settings_over_defaults() {
        let project = resolve(&config(), "dev").unwrap();
        assert_eq!(project.memory, 256);
        assert_eq!(project.arch, DEFAULT_ARCH);
        assert_eq!(project.timeout, DEFAULT_TIMEOUT_S);
        assert_eq!(project.region.as_deref(), Some("eu-west-1"));
        assert_eq!(project.env["GREETING"], "hello");
        assert_eq!(project.names().function, "shop-dev");
    }

    #[test]
    fn stage_overrides_app_and_merges_env() {
        let project = resolve(&config(), "prod").unwrap();
        assert_eq!(project.memory, 512);
        assert_eq!(project.arch, Arch::Arm64);
        assert_eq!(project.region.as_deref(), Some("eu-west-1"));
        assert_eq!(project.env["GREETING"], "hi");
        assert_eq!(project.env["COLOR"], "blue");
        assert_eq!(project.names().role, "shop-prod-role");
        assert_eq!(project.names().log_group, "/aws/lambda/shop-prod");
    }

    #[test]
    fn bad_stage_names_are_refused() {
        assert!(matches!(
            resolve(&config(), "Prod"),
            Err(StageError::BadName { .. })
        ));
        assert!(matches!(
            resolve(&config(), &"p".repeat(60)),
            Err(StageError::TooLong { .. })
        ));
    }

    #[test]
    fn oversized_stage_env_is_refused() {
        let mut config = config();
        config.env.insert("BIG".into(), "x".repeat(5000));
        assert!(matches!(
            resolve(&config, "dev"),
            Err(StageError::EnvTooLarge { .. })
        ));
    }
}
