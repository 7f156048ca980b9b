//! `slx deploy` and `slx plan`: build (or load `--zip`), read, plan, apply.
//!
//! Without `--zip` the build runs while AWS is read and while the steps
//! that are harmless before the new code exists run (a new stage's role,
//! log group and API): on a first deploy the role propagates in IAM while
//! cargo compiles. Nothing that changes what the stage serves runs before
//! the zip exists.

use std::path::Path;
use std::time::{Instant, SystemTime};

use serde_json::json;

use super::stage::{self, Stage, print_plan};
use super::{Outcome, load_config, project_dir};
use crate::aws::{Reader, Writer};
use crate::cli::{DeployArgs, GlobalArgs};
use crate::config::{self, Project};
use crate::deploy::apply::{self, Applied, StepReport, Target};
use crate::deploy::desired::{Code, Desired};
use crate::deploy::plan::{Plan, plan};
use crate::deploy::resources::{Actual, Outputs, api};
use crate::deploy::{self};
use crate::handler;
use crate::names::StageArns;
use crate::ui::{self, Ui};

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: DeployArgs) -> miette::Result<Outcome> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, &args.stage)?;
    let app_dir = project_dir(&config);
    let started = Instant::now();
    let release = release_note(&app_dir);
    let (reader, writer) = stage::connect(ui, global, &project).await?;
    let (code, arns, actual, prepared) = match &args.zip {
        Some(path) => {
            let (zip, sha256) = handler::load_prebuilt(path, project.arch)?;
            let (arns, actual) = deploy::locate_and_read(&reader, &project).await?;
            (Code { zip, sha256 }, arns, actual, Applied::default())
        }
        None => {
            build_while_preparing(ui, &args, &project, &app_dir, &reader, &writer, &release).await?
        }
    };
    let stage = Stage {
        project,
        app_dir,
        reader,
        writer,
        arns,
    };
    let public_urls = stage::public_urls(&stage.reader);
    finish(
        ui,
        &args,
        started,
        &stage,
        &actual,
        code,
        release,
        prepared,
        public_urls,
    )
    .await
}

/// Builds the zip while AWS is read and, unless this is a dry run, while
/// the steps harmless before the new code exists run. Returns the code,
/// the stage's ARNs, what AWS held before, and what already ran.
async fn build_while_preparing(
    ui: &Ui,
    args: &DeployArgs,
    project: &Project,
    app_dir: &Path,
    reader: &Reader,
    writer: &Writer,
    release: &str,
) -> miette::Result<(Code, StageArns, Actual, Applied)> {
    ui.step(format!("building {} ({})", project.app, project.arch));
    let build = {
        let (project, app_dir, ui) = (project.clone(), app_dir.to_path_buf(), ui.clone());
        tokio::task::spawn_blocking(move || handler::build_if_changed(&project, &app_dir, &ui))
    };
    let prepare = async {
        let (arns, actual) = deploy::locate_and_read(reader, project).await?;
        // Planned with no code: the early steps do not depend on it.
        let early = if args.dry_run {
            Plan::default()
        } else {
            let unbuilt = Desired::new(project, &arns, "", release.to_string());
            plan(&project.names(), Some(&unbuilt), &actual).before_build()
        };
        let target = Target::new(writer, reader, &arns);
        let prepared = apply::apply(&target, None, &early, Outputs::default(), ui)
            .await
            .map_err(apply::ApplyError::into_report)?;
        Ok::<_, miette::Report>((arns, actual, prepared))
    };
    let (built, prepared) = tokio::join!(build, prepare);
    let built = built.map_err(|e| miette::miette!("the build stopped unexpectedly: {e}"))?;
    let artifact = match (built, &prepared) {
        (Ok(artifact), _) => artifact,
        (Err(error), Ok((_, _, prepared))) if !prepared.steps.is_empty() => {
            ui.warn(
                "the build failed; what was created meanwhile (role, log group, API) is tagged and kept: the next deploy reuses it",
            );
            return Err(error.into());
        }
        (Err(error), _) => return Err(error.into()),
    };
    let (arns, actual, prepared) = prepared?;
    let zip = std::fs::read(&artifact.zip)
        .map_err(|e| miette::miette!("cannot read {}: {e}", artifact.zip.display()))?;
    let code = Code {
        zip,
        sha256: artifact.code_sha256,
    };
    Ok((code, arns, actual, prepared))
}

/// Plans with the code, applies what `prepared` did not, reports.
#[allow(clippy::too_many_arguments)]
async fn finish(
    ui: &Ui,
    args: &DeployArgs,
    started: Instant,
    stage: &Stage,
    actual: &Actual,
    code: Code,
    release: String,
    prepared: Applied,
    public_urls: bool,
) -> miette::Result<Outcome> {
    let arns = &stage.arns;
    api::refuse_duplicates(arns.names(), actual)?;
    let desired = Desired::new(&stage.project, arns, &code.sha256, release);
    let full = plan(arns.names(), Some(&desired), actual);
    ui.done(
        format!(
            "read {} in {} ({} to change)",
            arns.function,
            arns.region,
            full.len()
        ),
        started.elapsed(),
    );
    if args.dry_run {
        print_plan(ui, arns.names(), &full);
        return Ok(exit_for(args.detailed_exitcode, !full.is_empty()));
    }
    let done = Plan::of(prepared.steps.iter().map(|s| s.action.clone()).collect());
    let rest = full.without(&done);
    let applied = apply::apply(
        &stage.target(),
        Some(&code),
        &rest,
        prepared.outputs.clone(),
        ui,
    )
    .await
    .map_err(apply::ApplyError::into_report)?;
    // Every step, in the order of the full plan.
    let mut steps: Vec<StepReport> = prepared.steps.into_iter().chain(applied.steps).collect();
    steps.sort_by_key(|s| full.actions().position(|a| *a == s.action));
    let outputs = applied.outputs;
    for warning in &outputs.warnings {
        ui.warn(format!("API Gateway: {warning}"));
    }
    let api_id = outputs
        .api_id
        .clone()
        .or_else(|| actual.api.as_ref().map(|a| a.id.clone()))
        .unwrap_or_default();
    let version = outputs
        .published_version
        .clone()
        .or_else(|| actual.alias.served.as_ref().map(|f| f.version.clone()))
        .unwrap_or_default();
    let url = public_urls.then(|| arns.invoke_url(&api_id));
    let where_ = url
        .clone()
        .unwrap_or_else(|| format!("REST API {api_id} (on the endpoint above: no public URL)"));
    let changed = !full.is_empty();
    let text = if changed {
        format!(
            "deployed {} (version {version}) in {}\n{where_}",
            arns.function,
            ui::seconds(started.elapsed())
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
            "function_name": arns.function,
            "function_arn": arns.function_arn(),
            "alias_arn": arns.alias_arn(),
            "version": version,
            "rest_api_id": api_id,
            "stage": arns.stage,
            "region": arns.region,
            "changed": changed,
            "code_sha256": code.sha256,
            "steps": steps,
            "warnings": outputs.warnings,
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

/// `slx <version> from git abc1234 (dirty) at 2026-11-26T19:10:59Z`:
/// kept in each published version's description for `slx versions`.
fn release_note(dir: &Path) -> String {
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
