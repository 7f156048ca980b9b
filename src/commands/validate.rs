use serde_json::json;

use super::{Outcome, config_path};
use crate::cli::{GlobalArgs, ValidateArgs};
use crate::config::{self, ConfigError};
use crate::ui::Ui;

pub(super) fn run(ui: &Ui, global: &GlobalArgs, args: ValidateArgs) -> miette::Result<Outcome> {
    let path = config_path(global)?;
    let config = match config::load(&path) {
        Ok(config) => config,
        Err(ConfigError::Invalid(report)) if ui.is_json() => {
            ui.result("", &json!({ "valid": false, "errors": report.located() }));
            return Err(miette::Report::new(report));
        }
        Err(error) => return Err(error.into()),
    };
    let warnings = config::warnings_report(&config)
        .map(|r| r.located())
        .unwrap_or_default();
    for warning in &warnings {
        ui.warn(warning.to_string());
    }
    let stages: Vec<String> = match &args.stage {
        Some(stage) => vec![stage.clone()],
        None => config.stages.keys().cloned().collect(),
    };
    // API Gateway's quotas, per stage (a stage may have had one raised):
    // a warning here, a refusal before any write at deploy.
    let mut over_quotas = Vec::new();
    for stage in &stages {
        let project = config::resolve(&config, stage)?;
        for over in crate::deploy::quotas::over(&project, None) {
            ui.warn(format!("stage {stage}: {}", over.describe()));
            over_quotas.push(json!({
                "stage": stage,
                "quota": over.name,
                "used": over.used,
                "limit": over.limit,
                "raised_quotas_key": over.key,
            }));
        }
    }
    let router = match &config.router {
        Some(router) => format!(" and the router `{router}` for every other path"),
        None => String::new(),
    };
    let summary = format!(
        "{} is valid: app `{}`, {} {}{router}, stages: {}",
        path.display(),
        config.name,
        config.routes.len(),
        if config.routes.len() == 1 {
            "route"
        } else {
            "routes"
        },
        if stages.is_empty() {
            "none declared".to_string()
        } else {
            stages.join(", ")
        }
    );
    ui.result(
        summary,
        &json!({
            "valid": true,
            "app": config.name,
            "routes": config.routes.iter().map(|r| r.key()).collect::<Vec<_>>(),
            "router": config.router,
            "stages": stages,
            "warnings": warnings,
            "over_quotas": over_quotas,
        }),
    );
    Ok(Outcome::Success)
}
