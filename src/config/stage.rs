//! Resolves one stage: built-in defaults, then `[app]`, then
//! `[stages.NAME]`. A pure function of the config and the stage name.

use thiserror::Error;

use super::limits;
use super::model::{Arch, Config, EventFunction, Project, Settings};

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
    #[error("the environment of stage `{stage}` is {size} bytes; Lambda allows {limit}")]
    #[diagnostic(
        code(slx::stage::env_size),
        help("move large values to SSM Parameter Store")
    )]
    EnvTooLarge {
        stage: String,
        size: usize,
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
}

/// The settings of `stage`, every layer applied. Stages that have no
/// `[stages.NAME]` table get `[app]` as it is.
pub fn resolve(config: &Config, stage: &str) -> Result<Project, StageError> {
    if let Some(problem) = limits::name_problem(stage) {
        return Err(StageError::BadName {
            stage: stage.into(),
            problem,
        });
    }
    if let Some(problem) = limits::resource_name_problem(&config.name, stage) {
        return Err(StageError::TooLong {
            stage: stage.into(),
            problem,
        });
    }
    let overlay = config.stages.get(stage);
    let layered = overlay.map_or(config.settings.clone(), |o| {
        overlay_settings(&config.settings, &o.settings)
    });
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
        .chain(authorizer_handlers(config))
        .collect();
    for handler in &handlers {
        let scheduled = matches!(handler.source, crate::config::EventSource::Schedule(_));
        if let Some(problem) =
            limits::event_function_problem(&config.name, stage, &handler.name, scheduled)
        {
            return Err(StageError::TooLong {
                stage: stage.into(),
                problem: format!("event handler `{}`: {problem}", handler.name),
            });
        }
    }
    // Lambda refuses provisioned concurrency above the reservation.
    // https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html
    if let (Some(provisioned), Some(reserved)) =
        (layered.provisioned_concurrency, layered.concurrency)
        && provisioned > reserved
    {
        return Err(StageError::ProvisionedAboveReserved {
            stage: stage.into(),
            provisioned,
            reserved,
        });
    }
    let memory = layered.memory.unwrap_or(DEFAULT_MEMORY_MB);
    let timeout = layered.timeout.unwrap_or(DEFAULT_TIMEOUT_S);
    let events = handlers
        .iter()
        .map(|handler| EventFunction {
            memory_mb: handler.memory.unwrap_or(memory),
            timeout_s: handler.timeout.unwrap_or(timeout),
            handler: handler.clone(),
        })
        .collect();
    let mut secrets = config.secrets.clone();
    if let Some(overlay) = overlay {
        secrets.extend(overlay.secrets.clone());
    }
    let fetches_secrets =
        !config.secrets.is_empty() || config.stages.values().any(|s| !s.secrets.is_empty());
    let size = limits::env_size(&env);
    if size > limits::ENV_BYTES {
        return Err(StageError::EnvTooLarge {
            stage: stage.into(),
            size,
            limit: limits::ENV_BYTES,
        });
    }
    Ok(Project {
        app: config.name.clone(),
        stage: stage.to_string(),
        arch: layered.arch.unwrap_or(DEFAULT_ARCH),
        memory,
        timeout,
        region: layered.region,
        account: layered.account,
        profile: layered.profile,
        log_retention_days: layered
            .log_retention_days
            .unwrap_or(DEFAULT_LOG_RETENTION_DAYS),
        keep_versions: layered.keep_versions.unwrap_or(DEFAULT_KEEP_VERSIONS),
        throttle: layered.throttle,
        concurrency: layered.concurrency,
        canary: layered.canary,
        ephemeral_storage: layered
            .ephemeral_storage
            .unwrap_or(DEFAULT_EPHEMERAL_STORAGE_MB),
        layers: layered.layers.unwrap_or_default(),
        tracing: layered.tracing.unwrap_or(false),
        vpc: layered.vpc,
        provisioned_concurrency: layered.provisioned_concurrency,
        cors: layered.cors,
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
            .then(|| layered.usage_plan.unwrap_or_default()),
        domain: layered.domain,
        authorizers: config.authorizers.clone(),
        env,
        routes: super::model::api_routes(&config.routes, config.router.as_deref()),
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
fn authorizer_handlers(config: &Config) -> impl Iterator<Item = crate::config::EventHandler> + '_ {
    config.authorizers.iter().filter_map(|authorizer| {
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

fn overlay_settings(base: &Settings, top: &Settings) -> Settings {
    Settings {
        arch: top.arch.or(base.arch),
        memory: top.memory.or(base.memory),
        timeout: top.timeout.or(base.timeout),
        region: top.region.clone().or_else(|| base.region.clone()),
        account: top.account.clone().or_else(|| base.account.clone()),
        profile: top.profile.clone().or_else(|| base.profile.clone()),
        log_retention_days: top.log_retention_days.or(base.log_retention_days),
        keep_versions: top.keep_versions.or(base.keep_versions),
        throttle: top.throttle.or(base.throttle),
        concurrency: top.concurrency.or(base.concurrency),
        canary: top.canary.or(base.canary),
        ephemeral_storage: top.ephemeral_storage.or(base.ephemeral_storage),
        layers: top.layers.clone().or_else(|| base.layers.clone()),
        tracing: top.tracing.or(base.tracing),
        vpc: top.vpc.clone().or_else(|| base.vpc.clone()),
        provisioned_concurrency: top.provisioned_concurrency.or(base.provisioned_concurrency),
        cors: top.cors.clone().or_else(|| base.cors.clone()),
        usage_plan: top.usage_plan.or(base.usage_plan),
        domain: top.domain.clone().or_else(|| base.domain.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::config::model::StageOverlay;

    fn config() -> Config {
        Config {
            path: "slx.toml".into(),
            source: Arc::new(String::new()),
            name: "shop".into(),
            settings: Settings {
                memory: Some(256),
                region: Some("eu-west-1".into()),
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
                        memory: Some(512),
                        arch: Some(Arch::Arm64),
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
