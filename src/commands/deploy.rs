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
use super::{ChecksFailed, Outcome, load_config, project_dir};
use crate::aws::{Reader, Writer};
use crate::cli::{DeployArgs, GlobalArgs};
use crate::config::CanarySpec;
use crate::config::{self, Project};
use crate::deploy::apply::{self, Applied, StepReport, Target};
use crate::deploy::canary::{self, CanaryStarted};
use crate::deploy::checks;
use crate::deploy::desired::{Code, Desired};
use crate::deploy::lease::{self, Lease};
use crate::deploy::plan::{Plan, plan};
use crate::deploy::resources::domain::CustomDomain;
use crate::deploy::resources::{self, Actual, Outputs, api};
use crate::deploy::{self};
use crate::handler;
use crate::names::StageArns;
use crate::pace::{Clock, Sleeper};
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
    let started = Instant::now();
    let release = release.unwrap_or_else(|| release_note(&app_dir));
    let (reader, writer) = stage::connect(ui, global, &project).await?;
    let (code, arns, actual, prepared, mut lease, seen) = match &args.zip {
        Some(path) => {
            let (zip, sha256) = handler::load_prebuilt(path, project.arch)?;
            let ((arns, actual), seen) = read_and_look(&reader, &project).await?;
            let code = Code { zip, sha256 };
            (code, arns, actual, Applied::default(), None, seen)
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
    let finished = finish(
        ui,
        &args,
        started,
        &stage,
        actual,
        code,
        release,
        prepared,
        public_urls,
        &mut lease,
        seen,
    )
    .await;
    // Released on every path (`finish` releases before it reports).
    stage::release_lease(ui, lease).await;
    finished
}

/// What AWS holds for the stage, and (at once, saving a round trip when
/// the lease is taken later) a peek at the stage's lease.
async fn read_and_look(
    reader: &Reader,
    project: &Project,
) -> Result<((StageArns, Actual), Option<lease::Found>), crate::aws::AwsError> {
    let names = project.names();
    let (read, seen) = tokio::join!(
        deploy::locate_and_read(reader, project),
        lease::peek(reader, &names)
    );
    Ok((read?, seen))
}

/// What `build_while_preparing` hands on: the code, the stage's ARNs,
/// what AWS held, what already ran, the lease if taken, else the look.
type Prepared = (
    Code,
    StageArns,
    Actual,
    Applied,
    Option<Lease>,
    Option<lease::Found>,
);

/// Builds the zip while AWS is read and, unless this is a dry run, while
/// the steps harmless before the new code exists run (under the stage's
/// lease, taken only if there are any).
async fn build_while_preparing(
    ui: &Ui,
    args: &DeployArgs,
    project: &Project,
    app_dir: &Path,
    reader: &Reader,
    writer: &Writer,
    release: &str,
) -> miette::Result<Prepared> {
    ui.step(format!("building {} ({})", project.app, project.arch));
    let build = {
        let (project, app_dir, ui) = (project.clone(), app_dir.to_path_buf(), ui.clone());
        tokio::task::spawn_blocking(move || handler::build_if_changed(&project, &app_dir, &ui))
    };
    let prepare = async {
        let names = project.names();
        let ((arns, actual), seen) = read_and_look(reader, project).await?;
        // Planned with no code: the early steps do not depend on it.
        let unbuilt = Desired::new(project, &arns, "", release.to_string());
        // Before the first write: what AWS would refuse half-way.
        deploy::preflight::check(&unbuilt, &actual)?;
        let early = |actual: &Actual| plan(&names, Some(&unbuilt), actual).before_build();
        if args.dry_run || early(&actual).is_empty() {
            return Ok::<_, miette::Report>((arns, actual, Applied::default(), None, seen));
        }
        let timeout = args.release.lock_timeout;
        let lease = stage::take_lease(ui, reader, writer, &names, "deploy", timeout, seen).await?;
        let under_lease = async {
            // Read again under the lease: another deploy may have changed
            // the stage since the first read.
            let actual = resources::read(reader, &names).await?;
            let target = Target::new(writer, reader, &arns);
            let early = early(&actual);
            let apply = apply::apply(&target, None, &early, Outputs::default(), ui);
            let prepared = lease
                .fenced(apply)
                .await?
                .map_err(apply::ApplyError::into_report)?;
            Ok::<_, miette::Report>((actual, prepared))
        };
        match under_lease.await {
            Ok((actual, prepared)) => Ok((arns, actual, prepared, Some(lease), None)),
            Err(error) => {
                stage::release_lease(ui, Some(lease)).await;
                Err(error)
            }
        }
    };
    let (built, prepared) = tokio::join!(build, prepare);
    let built = built.map_err(|e| miette::miette!("the build stopped unexpectedly: {e}"));
    let (arns, actual, prepared, lease, seen) = prepared?;
    let artifact = match built.and_then(|b| b.map_err(miette::Report::from)) {
        Ok(artifact) => artifact,
        Err(error) => {
            if !prepared.steps.is_empty() {
                ui.warn(
                    "the build failed; what was created meanwhile (role, log group, API) is tagged and kept: the next deploy reuses it",
                );
            }
            stage::release_lease(ui, lease).await;
            return Err(error);
        }
    };
    let zip = match std::fs::read(&artifact.zip) {
        Ok(zip) => zip,
        Err(e) => {
            stage::release_lease(ui, lease).await;
            return Err(miette::miette!(
                "cannot read {}: {e}",
                artifact.zip.display()
            ));
        }
    };
    let code = Code {
        zip,
        sha256: artifact.code_sha256,
    };
    Ok((code, arns, actual, prepared, lease, seen))
}

/// Plans with the code, takes the lease if something is to change and
/// it is not held yet, applies what `prepared` did not, releases, reports.
#[allow(clippy::too_many_arguments)]
async fn finish(
    ui: &Ui,
    args: &DeployArgs,
    started: Instant,
    stage: &Stage,
    actual: Actual,
    code: Code,
    release: String,
    prepared: Applied,
    public_urls: bool,
    lease: &mut Option<Lease>,
    seen: Option<lease::Found>,
) -> miette::Result<Outcome> {
    let arns = &stage.arns;
    let mut actual = actual;
    api::refuse_duplicates(arns.names(), &actual)?;
    let mut desired = Desired::new(&stage.project, arns, &code.sha256, release);
    // A handler that runs itself without end costs real money: said in
    // every output mode.
    for warning in deploy::preflight::check(&desired, &actual)? {
        ui.alert(warning);
    }
    let checks_skipped = args.release.skip_checks && !desired.checks.is_empty();
    if checks_skipped {
        // Loud in every mode: traffic moves to untested code.
        ui.alert(format!(
            "--skip-checks: a new version takes stage {}'s traffic without its {} [[checks]]",
            arns.stage,
            desired.checks.len()
        ));
        desired = desired.without_checks();
    }
    desired.canary = canary_choice(args, stage.project.canary);
    let mut full = plan(arns.names(), Some(&desired), &actual);
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
    if !full.is_empty() && lease.is_none() {
        let names = arns.names();
        let taken = stage::take_lease(
            ui,
            &stage.reader,
            &stage.writer,
            names,
            "deploy",
            args.release.lock_timeout,
            seen,
        )
        .await?;
        *lease = Some(taken);
        // Read again under the lease: what another deploy did meanwhile
        // is planned from, not overwritten blindly.
        actual = resources::read(&stage.reader, names).await?;
        api::refuse_duplicates(names, &actual)?;
        deploy::preflight::check(&desired, &actual)?;
        full = plan(names, Some(&desired), &actual);
    }
    let done = Plan::of(prepared.steps.iter().map(|s| s.action.clone()).collect());
    let rest = full.without(&done);
    let target = stage.target();
    let apply = apply::apply(&target, Some(&code), &rest, prepared.outputs.clone(), ui);
    let result = match lease.as_ref() {
        Some(lease) => lease.fenced(apply).await?,
        // Nothing to apply: nothing needs the lease.
        None => apply.await,
    };
    // Failed checks are a verdict on the new version, reported like a
    // deploy (what ran, the version left unpointed) before exiting 3.
    let (applied, refused) = match result {
        Ok(applied) => (applied, None),
        Err(error) => match error.applied.outputs.checks.clone() {
            Some(verdict) if !verdict.ok() => (error.applied, Some(verdict)),
            _ => return Err(error.into_report()),
        },
    };
    let lease_wait = lease.as_ref().map_or(0.0, |l| l.waited.as_secs_f64());
    // A canary is watched and decided under the lease: nobody else may
    // move the alias meanwhile.
    let canary = match (&applied.outputs.canary, &refused) {
        (Some(started), None) => {
            Some(watch_canary(ui, stage, started, &desired.checks, lease.as_ref()).await?)
        }
        _ => None,
    };
    stage::release_lease(ui, lease.take()).await;
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
    let version = match &canary {
        Some(report) if report.rolled_back() => report.started.previous.clone(),
        _ => outputs
            .published_version
            .clone()
            .or_else(|| actual.alias.served.as_ref().map(|f| f.version.clone()))
            .unwrap_or_default(),
    };
    // The alias moved to a checked version: check once more through it.
    let rolled_back = canary.as_ref().is_some_and(CanaryReport::rolled_back);
    let verification = match (&outputs.checks, &refused) {
        (Some(_), None) if !rolled_back => {
            let on = checks::On::Alias;
            Some(checks::run(&stage.reader, arns.names(), on, &desired.checks).await)
        }
        _ => None,
    };
    for verdict in outputs.checks.iter().chain(&verification) {
        ui.step(verdict.summary());
    }
    let url = public_urls.then(|| arns.invoke_url(&api_id));
    let custom_domain = desired
        .domain
        .as_ref()
        .map(|domain| CustomDomain::of(domain, &actual.domain, outputs.domain_target.as_ref()));
    let mut where_ = url
        .clone()
        .unwrap_or_else(|| format!("REST API {api_id} (on the endpoint above: no public URL)"));
    if let Some(domain) = &custom_domain {
        where_.push_str(&format!("\n{}", domain.line()));
    }
    let changed = !full.is_empty();
    let text = if let Some(report) = canary.as_ref().filter(|_| rolled_back) {
        format!(
            "canary rolled back: {}; stage {} serves version {} again",
            report.reason.as_deref().unwrap_or("rolled back"),
            arns.stage,
            report.started.previous
        )
    } else if let Some(verdict) = &refused {
        format!(
            "{} (version {version} published, not serving)\n  {}",
            verdict.summary(),
            verdict.failures().join("\n  ")
        )
    } else if changed {
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
            "custom_domain": custom_domain,
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
            "lease_wait_seconds": lease_wait,
            "checks": outputs.checks,
            "checks_skipped": checks_skipped,
            "verification": verification,
            "canary": canary,
            "seconds": started.elapsed().as_secs_f64(),
        }),
    );
    if let Some(report) = canary.filter(|_| rolled_back) {
        return Err(CanaryRolledBack {
            version: report.started.version,
            reason: report.reason.unwrap_or_default(),
            previous: report.started.previous,
        }
        .into());
    }
    if let Some(verdict) = refused {
        return Err(ChecksFailed::before_move(&verdict).into());
    }
    if let Some(verdict) = verification.filter(|v| !v.ok()) {
        return Err(ChecksFailed::after_move(&verdict, &arns.stage).into());
    }
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

/// The canary of this deploy: `--no-canary`, else `--canary` (with
/// `--for`, else slx.toml's watch, else 5 minutes), else slx.toml's.
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
        }),
        None => configured.map(|c| CanarySpec {
            watch: args.canary_for.unwrap_or(c.watch),
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

/// `promoted` or `rolled_back` in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum CanaryOutcome {
    Promoted,
    RolledBack,
}

impl CanaryReport {
    fn rolled_back(&self) -> bool {
        self.outcome == CanaryOutcome::RolledBack
    }
}

/// How a canary ended, for the report.
#[derive(Debug, Clone, serde::Serialize)]
struct CanaryReport {
    #[serde(flatten)]
    started: CanaryStarted,
    outcome: CanaryOutcome,
    reason: Option<String>,
    errors: f64,
    throttles: f64,
    seconds: f64,
}

/// Watches the canary until the decision, then moves the alias all the
/// way to the new version or back to the old one (an apply step, under
/// the lease). Ctrl-C asks which, on a terminal; elsewhere it rolls back.
async fn watch_canary(
    ui: &Ui,
    stage: &Stage,
    started: &CanaryStarted,
    checks: &[checks::PlannedCheck],
    lease: Option<&Lease>,
) -> miette::Result<CanaryReport> {
    let arns = &stage.arns;
    let since = SystemTime::now();
    let pace = stage.reader.pace();
    let begun = pace.now();
    let every = canary::poll_interval(started.spec.watch);
    // Ctrl-C is ours from before the watch is announced (the first poll
    // installs the handler): a signal sent once the line is out always
    // reaches the question below instead of killing the process.
    let mut interrupt = Box::pin(futures_util::FutureExt::fuse(tokio::signal::ctrl_c()));
    let _ = futures_util::FutureExt::now_or_never(interrupt.as_mut());
    ui.step(format!(
        "canary: version {} gets {}% of stage {} for {} (version {} keeps the rest); watching its errors, throttles and checks",
        started.version,
        started.spec.percent,
        arns.stage,
        humantime::format_duration(started.spec.watch),
        started.previous
    ));
    let mut seen = canary::Observation::default();
    let decision = loop {
        let interrupted = tokio::select! {
            () = pace.sleep(every) => false,
            _ = &mut interrupt => true,
        };
        if interrupted {
            break ask_after_interrupt(ui, started).await;
        }
        seen = observe(stage, started, checks, since).await?;
        match canary::decide(&seen, pace.now() - begun, started.spec.watch) {
            canary::Decision::Watch => continue,
            decided => break decided,
        }
    };
    let (version, outcome, reason) = match decision {
        canary::Decision::RollBack(reason) => {
            (&started.previous, CanaryOutcome::RolledBack, Some(reason))
        }
        _ => (&started.version, CanaryOutcome::Promoted, None),
    };
    super::point_alias(ui, &stage.target(), lease, version).await?;
    match &reason {
        Some(reason) => ui.alert(format!(
            "canary rolled back: {reason}; stage {} serves version {} again",
            arns.stage, started.previous
        )),
        None => ui.step(format!(
            "canary promoted: version {} serves all of stage {}",
            started.version, arns.stage
        )),
    }
    Ok(CanaryReport {
        started: started.clone(),
        outcome,
        reason,
        errors: seen.total_errors(),
        throttles: seen.total_throttles(),
        seconds: (pace.now() - begun).as_secs_f64(),
    })
}

/// The new version's errors and throttles since the canary began, and its
/// checks run once more.
async fn observe(
    stage: &Stage,
    started: &CanaryStarted,
    checks: &[checks::PlannedCheck],
    since: SystemTime,
) -> miette::Result<canary::Observation> {
    let arns = &stage.arns;
    let series = |metric: &'static str| {
        let reader = &stage.reader;
        async move {
            reader
                .version_metric(&arns.function, &arns.alias, &started.version, metric, since)
                .await
                .map(|points| {
                    points
                        .into_iter()
                        .map(|(_, value)| value)
                        .collect::<Vec<f64>>()
                })
        }
    };
    let verdict = async {
        let on = checks::On::Version(&started.version);
        match checks {
            [] => None,
            _ => Some(checks::run(&stage.reader, arns.names(), on, checks).await),
        }
    };
    let (errors, throttles, verdict) = tokio::join!(series("Errors"), series("Throttles"), verdict);
    let hint = "the canary is left as it is: `slx deploy` promotes it, `slx rollback` ends it";
    Ok(canary::Observation {
        errors: errors.map_err(|e| miette::Report::new(e).wrap_err(hint))?,
        throttles: throttles.map_err(|e| miette::Report::new(e).wrap_err(hint))?,
        failed_checks: verdict.map(|v| v.failures()).unwrap_or_default(),
    })
}

/// Ctrl-C during the watch: ask on a terminal, roll back otherwise.
async fn ask_after_interrupt(ui: &Ui, started: &CanaryStarted) -> canary::Decision {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return canary::Decision::RollBack("interrupted, with no terminal to ask".into());
    }
    ui.alert(format!(
        "interrupted: promote version {} to all traffic (p) or roll back to version {} (r)? [r] ",
        started.version, started.previous
    ));
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    match answer {
        Ok(Ok(line)) if line.trim().eq_ignore_ascii_case("p") => canary::Decision::Promote,
        _ => canary::Decision::RollBack("interrupted; the user chose to roll back".into()),
    }
}
