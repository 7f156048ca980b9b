use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::{Outcome, load_config, project_dir};
use crate::aws::{AwsSettings, TokioSleeper};
use crate::build;
use crate::cli::{DeployArgs, GlobalArgs, StatusArgs};
use crate::config;
use crate::deploy;
use crate::deploy::apply::{self, ApplyInput, StepReport, StepReporter};
use crate::deploy::model::Actual;
use crate::deploy::plan::{Action, plan};
use crate::ui::{self, Ui};

impl StepReporter for Ui {
    fn step_done(&self, step: &StepReport) {
        self.done(&step.description, Duration::from_secs_f64(step.seconds));
    }
}

pub(super) fn aws_settings(global: &GlobalArgs) -> AwsSettings {
    AwsSettings {
        profile: global.profile.clone(),
        region_flag: global.region.clone(),
        region_config: None,
        endpoint_url: global.endpoint_url.clone(),
    }
}

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: DeployArgs) -> miette::Result<Outcome> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, &args.stage)?;
    let app_dir = project_dir(&config);
    let (zip, code_sha256) = match &args.zip {
        Some(path) => build::load_prebuilt(path, project.arch)?,
        None => {
            ui.step(format!("building {} ({})", project.app, project.arch));
            let artifact = build::build(&project, &app_dir, ui)?;
            let zip = std::fs::read(&artifact.zip)
                .map_err(|e| miette::miette!("cannot read {}: {e}", artifact.zip.display()))?;
            (zip, artifact.code_sha256)
        }
    };

    let started = Instant::now();
    let (session, actual) = deploy::connect_and_read(&aws_settings(global), &project).await?;
    let target = &session.target;
    let desired = deploy::desired(&project, target, &code_sha256);
    let actions = plan(Some(&desired), &actual);
    ui.done(
        format!(
            "read {} in {} ({} to change)",
            target.function_name,
            target.region,
            actions.len()
        ),
        started.elapsed(),
    );

    if args.dry_run {
        print_plan(ui, &target.function_name, &target.stage, &actions);
        return Ok(exit_for(args.detailed_exitcode, !actions.is_empty()));
    }

    let input = ApplyInput {
        target,
        desired: Some(&desired),
        actual: &actual,
        zip: Some(&zip),
        description: version_description(&app_dir),
    };
    let applied = apply::apply(&session.clients, &TokioSleeper, &input, &actions, ui).await?;
    let api_id = applied
        .rest_api_id
        .clone()
        .or_else(|| actual.api.as_ref().map(|a| a.id.clone()))
        .unwrap_or_default();
    let version = applied
        .published_version
        .clone()
        .or_else(|| actual.alias.as_ref().map(|(v, _)| v.clone()))
        .unwrap_or_default();
    let url = target.invoke_url(&api_id);
    let changed = !actions.is_empty();
    let text = if changed {
        format!(
            "deployed {} (version {version}) in {}\n{url}",
            target.function_name,
            ui::seconds(started.elapsed())
        )
    } else {
        format!(
            "{} is up to date (version {version})\n{url}",
            target.function_name
        )
    };
    ui.result(
        text,
        &json!({
            "url": url,
            "function_name": target.function_name,
            "function_arn": format!("arn:aws:lambda:{}:{}:function:{}", target.region, target.account, target.function_name),
            "alias_arn": target.alias_arn(),
            "version": version,
            "rest_api_id": api_id,
            "stage": target.stage,
            "region": target.region,
            "changed": changed,
            "code_sha256": code_sha256,
            "steps": applied.steps,
            "seconds": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(exit_for(args.detailed_exitcode, changed))
}

fn exit_for(detailed: bool, changed: bool) -> Outcome {
    if detailed && changed {
        Outcome::Changed
    } else {
        Outcome::Success
    }
}

pub(super) fn print_plan(ui: &Ui, function_name: &str, stage: &str, actions: &[Action]) {
    let mut text = if actions.is_empty() {
        format!("no changes: stage {stage} matches slx.toml and the code")
    } else {
        format!(
            "plan for stage {stage}: {} {}\n",
            actions.len(),
            if actions.len() == 1 {
                "change"
            } else {
                "changes"
            }
        )
    };
    for action in actions {
        let sign = match action {
            Action::DeleteApi
            | Action::DeleteFunction
            | Action::DeleteLogGroup
            | Action::DeleteRole => '-',
            Action::CreateRole
            | Action::CreateLogGroup
            | Action::CreateFunction
            | Action::CreateApi
            | Action::AddInvokePermission { .. } => '+',
            _ => '~',
        };
        text.push_str(&format!("  {sign} {}\n", action.describe(function_name)));
    }
    ui.result(
        text.trim_end(),
        &json!({ "stage": stage, "changes": actions.len(), "actions": actions }),
    );
}

/// `slx <version> from git abc1234 (dirty) at 2026-11-26T19:10:59Z`:
/// kept in each published version's description for `slx versions`.
fn version_description(dir: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(sha) => {
            let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
            format!("git {sha}{}", if dirty { " (dirty)" } else { "" })
        }
        None => "no git".to_string(),
    };
    format!(
        "slx {} from {commit} at {}",
        env!("CARGO_PKG_VERSION"),
        humantime::format_rfc3339_seconds(SystemTime::now())
    )
}

/// slx.toml, the resolved stage and a connected session: what every
/// command that works on a deployed stage starts with.
pub(super) async fn open_stage(
    ui: &Ui,
    global: &GlobalArgs,
    stage: &str,
) -> miette::Result<(config::Config, config::Project, deploy::Session)> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, stage)?;
    let session = deploy::connect(&aws_settings(global), &project).await?;
    Ok((config, project, session))
}

/// `open_stage`, and what AWS holds for it (read while the account id is
/// looked up).
pub(super) async fn open_and_read_stage(
    ui: &Ui,
    global: &GlobalArgs,
    stage: &str,
) -> miette::Result<(config::Config, config::Project, deploy::Session, Actual)> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, stage)?;
    let (session, actual) = deploy::connect_and_read(&aws_settings(global), &project).await?;
    Ok((config, project, session, actual))
}

pub(super) async fn status(
    ui: &Ui,
    global: &GlobalArgs,
    args: StatusArgs,
) -> miette::Result<Outcome> {
    let (config, project, session, actual) = open_and_read_stage(ui, global, &args.stage).await?;
    let app_dir = project_dir(&config);
    let target = &session.target;
    let Some(function) = &actual.function else {
        ui.result(
            format!("stage {} of {} is not deployed (run `slx deploy --stage {}`)", target.stage, target.app, target.stage),
            &json!({ "deployed": false, "stage": target.stage, "function_name": target.function_name }),
        );
        return Ok(Outcome::Success);
    };
    // Compare against the last local build when there is one; otherwise
    // only configuration and routes can be compared.
    let local_zip = build::last_built_zip(&app_dir, project.arch);
    let local_sha = std::fs::read(&local_zip)
        .ok()
        .map(|zip| build::archive::code_sha256(&zip));
    let compare_sha = local_sha
        .clone()
        .unwrap_or_else(|| function.code_sha256.clone());
    let desired = deploy::desired(&project, target, &compare_sha);
    let drift: Vec<String> = plan(Some(&desired), &actual)
        .iter()
        .map(|a| a.describe(&target.function_name))
        .collect();
    let api_id = actual.api.as_ref().map(|a| a.id.clone());
    let url = api_id.as_deref().map(|id| target.invoke_url(id));
    let routes: Vec<String> = actual
        .api
        .iter()
        .flat_map(|api| api.resources.iter())
        .flat_map(|(path, r)| r.methods.iter().map(move |m| format!("{m} {path}")))
        .collect();
    let version = actual.alias.as_ref().map(|(v, _)| v.clone());
    let mut text = format!(
        "stage {} of {} in {}\n  function  {} ({}, {} MB, {}s)\n  alias     {} → version {}\n  code      {}{}\n  api       {}\n  url       {}\n  routes    {}\n",
        target.stage,
        target.app,
        target.region,
        target.function_name,
        function.arch,
        function.memory,
        function.timeout,
        target.stage,
        version.as_deref().unwrap_or("(missing)"),
        function.code_sha256,
        match &local_sha {
            Some(sha) if *sha == function.code_sha256 =>
                " (same as the last local build)".to_string(),
            Some(_) => " (differs from the last local build)".to_string(),
            None => " (no local build to compare; run `slx build`)".to_string(),
        },
        api_id.as_deref().unwrap_or("(missing)"),
        url.as_deref().unwrap_or("-"),
        if routes.is_empty() {
            "-".to_string()
        } else {
            routes.join(", ")
        },
    );
    if drift.is_empty() {
        text.push_str("in sync with slx.toml");
    } else {
        text.push_str(&format!(
            "differs from local ({}):\n    {}",
            drift.len(),
            drift.join("\n    ")
        ));
    }
    ui.result(
        text,
        &json!({
            "deployed": true,
            "stage": target.stage,
            "function_name": target.function_name,
            "arch": function.arch,
            "memory": function.memory,
            "timeout": function.timeout,
            "version": version,
            "code_sha256": function.code_sha256,
            "local_code_sha256": local_sha,
            "rest_api_id": api_id,
            "url": url,
            "routes": routes,
            "in_sync": drift.is_empty(),
            "differences": drift,
        }),
    );
    Ok(Outcome::Success)
}
