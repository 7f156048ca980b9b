//! `slx deploy` and `slx plan`: the flags made a request, the deploy run
//! by the engine (`deploy::run`), its report rendered as text or JSON,
//! its verdict an exit code.

use serde_json::json;

use super::stage::{self, print_plan};
use super::{ChecksFailed, Outcome, load_config, project_dir};
use crate::cli::{DeployArgs, GlobalArgs};
use crate::config::CanarySpec;
use crate::config::{self};
use crate::deploy::run::{self, Deployed, Opened, Request};
use crate::ui::{self, Ui};

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: DeployArgs) -> miette::Result<Outcome> {
    run_with_release(ui, global, args, None).await
}

/// `run`, with the published version's description given (`promote`
/// records where its code came from) instead of made from git.
pub(super) async fn run_with_release(
    ui: &Ui,
    global: &GlobalArgs,
    args: DeployArgs,
    release: Option<String>,
) -> miette::Result<Outcome> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, &args.stage)?;
    let app_dir = project_dir(&config);
    let release = release.unwrap_or_else(|| run::release_note(&app_dir));
    let (reader, writer) = stage::connect(ui, global, &project).await?;
    let public_urls = stage::public_urls(&reader);
    let names = project.names();
    let request = Request {
        zip: args.zip.clone(),
        dry_run: args.dry_run,
        lock_timeout: args.release.lock_timeout,
        skip_checks: args.release.skip_checks,
        canary: canary_choice(&args, project.canary),
        release,
    };
    let opened = Opened {
        project,
        app_dir,
        reader,
        writer,
    };
    let report = match run::deploy(opened, &request, ui).await? {
        Deployed::Planned(plan) => {
            print_plan(ui, &names, &plan);
            return Ok(exit_for(args.detailed_exitcode, !plan.is_empty()));
        }
        Deployed::Applied(report) => report,
    };
    render(ui, &report, public_urls)?;
    Ok(exit_for(args.detailed_exitcode, report.changed))
}

/// Prints what a deploy did; the canary's or the checks' verdict, if it
/// went against the new version, as the error that sets the exit code.
fn render(ui: &Ui, report: &run::Report, public_urls: bool) -> miette::Result<()> {
    let arns = &report.arns;
    let version = &report.version;
    for warning in &report.warnings {
        ui.warn(format!("API Gateway: {warning}"));
    }
    let url = public_urls.then(|| arns.invoke_url(&report.api_id));
    let mut where_ = url.clone().unwrap_or_else(|| {
        format!(
            "REST API {} (on the endpoint above: no public URL)",
            report.api_id
        )
    });
    if let Some(domain) = &report.custom_domain {
        where_.push_str(&format!("\n{}", domain.line()));
    }
    let rolled_back = report.canary.as_ref().filter(|c| c.rolled_back());
    let text = if let Some(canary) = rolled_back {
        format!(
            "canary rolled back: {}; stage {} serves version {} again",
            canary.reason.as_deref().unwrap_or("rolled back"),
            arns.stage,
            canary.started.previous
        )
    } else if let Some(verdict) = &report.refused {
        format!(
            "{} (version {version} published, not serving)\n  {}",
            verdict.summary(),
            verdict.failures().join("\n  ")
        )
    } else if report.changed {
        format!(
            "deployed {} (version {version}) in {}\n{where_}",
            arns.function,
            ui::seconds(report.took)
        )
    } else {
        format!(
            "{} is up to date (version {version})\n{where_}",
            arns.function
        )
    };
    ui.result(
        text,
        &json!({
            "url": url,
            "custom_domain": report.custom_domain,
            "function_name": arns.function,
            "function_arn": arns.function_arn(),
            "alias_arn": arns.alias_arn(),
            "version": version,
            "rest_api_id": report.api_id,
            "stage": arns.stage,
            "region": arns.region,
            "changed": report.changed,
            "code_sha256": report.code_sha256,
            "steps": report.steps,
            "warnings": report.warnings,
            "lease_wait_seconds": report.lease_wait.as_secs_f64(),
            "checks": report.checks,
            "checks_skipped": report.checks_skipped,
            "verification": report.verification,
            "canary": report.canary,
            "seconds": report.took.as_secs_f64(),
        }),
    );
    if let Some(canary) = rolled_back {
        return Err(CanaryRolledBack {
            version: canary.started.version.clone(),
            reason: canary.reason.clone().unwrap_or_default(),
            previous: canary.started.previous.clone(),
        }
        .into());
    }
    if let Some(verdict) = &report.refused {
        return Err(ChecksFailed::before_move(verdict).into());
    }
    if let Some(verdict) = report.verification.as_ref().filter(|v| !v.ok()) {
        return Err(ChecksFailed::after_move(verdict, &arns.stage).into());
    }
    Ok(())
}

fn exit_for(detailed: bool, changed: bool) -> Outcome {
    if detailed && changed {
        Outcome::Changed
    } else {
        Outcome::Success
    }
}

/// The canary of this deploy: `--no-canary`, else `--canary` (with
/// `--for` and `--min-invocations`, else slx.toml's, else 5 minutes and
/// 20), else slx.toml's.
fn canary_choice(args: &DeployArgs, configured: Option<CanarySpec>) -> Option<CanarySpec> {
    let args = &args.release;
    if args.no_canary {
        return None;
    }
    match args.canary {
        Some(percent) => Some(CanarySpec {
            percent,
            watch: args
                .canary_for
                .or(configured.map(|c| c.watch))
                .unwrap_or(CanarySpec::DEFAULT_WATCH),
            min_invocations: args
                .min_invocations
                .or(configured.map(|c| c.min_invocations))
                .unwrap_or(CanarySpec::DEFAULT_MIN_INVOCATIONS),
        }),
        None => configured.map(|c| CanarySpec {
            watch: args.canary_for.unwrap_or(c.watch),
            min_invocations: args.min_invocations.unwrap_or(c.min_invocations),
            ..c
        }),
    }
}

/// A canary rolled back by slx (exit code 4).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("canary rolled back: {reason}")]
#[diagnostic(
    code(slx::canary::rolled_back),
    help(
        "version {version} no longer takes traffic; the stage serves version {previous}. `slx logs` shows what failed"
    )
)]
pub(crate) struct CanaryRolledBack {
    version: String,
    previous: String,
    reason: String,
}
