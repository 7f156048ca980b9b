//! A deploy, as one function of named steps: read the stage (while the
//! build runs, and while the steps harmless before the new code exists
//! run under the lease: on a first deploy the role propagates in IAM
//! while cargo compiles), plan with the code, take the lease, apply,
//! judge the new version's checks, watch a canary, verify through the
//! alias. Returns a report that `slx deploy` renders; speaks through a
//! `Narrator` only.
//!
//! Never: print, read the terminal, decide exit codes, or change what a
//! stage serves before the zip exists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::apply::{self, Applied, StepReport};
use super::canary::{self, CanarySpec, CanaryStarted};
use super::checks::{self, Verdict};
use super::desired::{Code, Desired};
use super::lease::{self, Lease, with_lease};
use super::narrator::Narrator;
use super::plan::{Plan, plan};
use super::resources::alias::{NewVersionChecks, PublishedVersion};
use super::resources::api::ImportWarnings;
use super::resources::domain::{CreatedDomain, CustomDomain};
use super::resources::provisioned;
use super::resources::{self, Action, Actual, Outputs, alias::AliasAction, api};
use super::{Stage, preflight};
use crate::aws::{Reader, Writer};
use crate::config::Project;
use crate::handler;
use crate::names::StageArns;
use crate::pace::{Clock, Sleeper};

/// What a deploy is asked to do, its flags resolved.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// `--zip`: deploy these bytes instead of building.
    pub(crate) zip: Option<PathBuf>,
    /// `slx plan` / `--dry-run`: read and plan, change nothing.
    pub(crate) dry_run: bool,
    pub(crate) lock_timeout: Duration,
    /// `--skip-checks`: a new version takes traffic without its checks.
    pub(crate) skip_checks: bool,
    /// The canary of this deploy (flags over slx.toml), if any.
    pub(crate) canary: Option<CanarySpec>,
    /// The published version's description (`slx versions` shows it).
    pub(crate) release: String,
}

/// Where the deploy goes: the resolved stage, its app, its AWS.
pub(crate) struct Opened {
    pub(crate) project: Project,
    pub(crate) app_dir: PathBuf,
    pub(crate) reader: Reader,
    pub(crate) writer: Writer,
}

/// What a deploy did.
pub(crate) enum Deployed {
    /// A dry run: what it would do.
    Planned(Plan),
    Applied(Box<Report>),
}

/// A deploy that ran, for the command to render.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) arns: StageArns,
    pub(crate) api_id: String,
    /// What the stage serves now.
    pub(crate) version: String,
    pub(crate) changed: bool,
    pub(crate) code_sha256: String,
    /// Every step, in the order of the full plan.
    pub(crate) steps: Vec<StepReport>,
    /// API Gateway's warnings from the import.
    pub(crate) warnings: Vec<String>,
    pub(crate) lease_wait: Duration,
    /// The new version's checks, before it took traffic.
    pub(crate) checks: Option<Verdict>,
    pub(crate) checks_skipped: bool,
    /// The checks again through the alias, once it moved.
    pub(crate) verification: Option<Verdict>,
    /// The same checks while they run: they read, so they need no lease,
    /// and run while it is released ([`deploy`] waits for them).
    verifying: Option<tokio::task::JoinHandle<Verdict>>,
    pub(crate) canary: Option<CanaryReport>,
    /// The new version's checks refused it: published, not serving.
    pub(crate) refused: Option<Verdict>,
    pub(crate) custom_domain: Option<CustomDomain>,
    pub(crate) took: Duration,
}

/// `promoted` or `rolled_back` in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CanaryOutcome {
    Promoted,
    RolledBack,
}

/// How a canary ended.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CanaryReport {
    #[serde(flatten)]
    pub(crate) started: CanaryStarted,
    pub(crate) outcome: CanaryOutcome,
    pub(crate) reason: Option<String>,
    pub(crate) errors: f64,
    pub(crate) throttles: f64,
    pub(crate) invocations: f64,
    pub(crate) seconds: f64,
}

impl CanaryReport {
    pub(crate) fn rolled_back(&self) -> bool {
        self.outcome == CanaryOutcome::RolledBack
    }
}

/// The build, running on its own thread, or the zip given.
enum Build {
    Running(tokio::task::JoinHandle<Result<handler::Artifact, handler::BuildError>>),
    Given(Code),
}

impl Build {
    fn start(request: &Request, opened: &Opened, narrator: &dyn Narrator) -> miette::Result<Build> {
        let project = &opened.project;
        if let Some(path) = &request.zip {
            let (zip, sha256) = handler::load_prebuilt(path, project.arch)?;
            return Ok(Build::Given(Code { zip, sha256 }));
        }
        narrator.step(&format!("building {} ({})", project.app, project.arch));
        let (project, app_dir) = (project.clone(), opened.app_dir.clone());
        let progress = narrator.build_progress();
        Ok(Build::Running(tokio::task::spawn_blocking(move || {
            handler::build_if_changed(&project, &app_dir, progress.as_ref())
        })))
    }

    /// The code, once built. `prepared` says whether steps ran meanwhile
    /// (then a failed build says what they left).
    async fn finish(self, prepared: bool, narrator: &dyn Narrator) -> miette::Result<Code> {
        let handle = match self {
            Build::Given(code) => return Ok(code),
            Build::Running(handle) => handle,
        };
        let built = handle
            .await
            .map_err(|e| miette::miette!("the build stopped unexpectedly: {e}"))
            .and_then(|built| built.map_err(miette::Report::from));
        let artifact = match built {
            Ok(artifact) => artifact,
            Err(error) => {
                if prepared {
                    narrator.warn(
                        "the build failed; what was created meanwhile (role, log group, API) is tagged and kept: the next deploy reuses it",
                    );
                }
                return Err(error);
            }
        };
        let zip = std::fs::read(&artifact.zip)
            .map_err(|e| miette::miette!("cannot read {}: {e}", artifact.zip.display()))?;
        Ok(Code {
            zip,
            sha256: artifact.code_sha256,
        })
    }
}

/// Deploys `opened` as `request` asks: the steps, in order.
pub(crate) async fn deploy(
    opened: Opened,
    request: &Request,
    narrator: &dyn Narrator,
) -> miette::Result<Deployed> {
    let started = Instant::now();
    let mut deployed = deploy_and_release(opened, request, narrator, started).await?;
    if let Deployed::Applied(report) = &mut deployed
        && let Some(verifying) = report.verifying.take()
    {
        let verdict = verifying
            .await
            .map_err(|error| miette::miette!("the checks through the alias stopped: {error}"))?;
        narrator.step(&verdict.summary());
        report.verification = Some(verdict);
        report.took = started.elapsed();
    }
    Ok(deployed)
}

/// [`deploy`] up to the lease's release: the checks through the alias may
/// still run.
async fn deploy_and_release(
    opened: Opened,
    request: &Request,
    narrator: &dyn Narrator,
    started: Instant,
) -> miette::Result<Deployed> {
    let build = Build::start(request, &opened, narrator)?;
    let (stage, actual, seen) = open(opened).await?;
    let names = stage.arns.names();
    // Planned with no code: the early steps do not depend on it.
    let by_route = crate::handler::authorizers_by_route(&stage.project, &stage.app_dir);
    warn_token_authorizers_by_route(&stage.project, &by_route, narrator);
    let unbuilt = Desired::new(
        &stage.project,
        &stage.arns,
        "",
        request.release.clone(),
        by_route,
    );
    // Before the first write: what AWS would refuse half-way.
    preflight::check(&unbuilt, &actual)?;
    refuse_over_quotas(&stage, &unbuilt, request.dry_run, narrator)?;
    if actual.usage_plan.keys_unread {
        if !request.dry_run {
            return Err(super::resources::usage_plan::keys_unread_refusal().into());
        }
        narrator.alert(super::resources::usage_plan::KEYS_UNREAD);
    }
    let early = |actual: &Actual| plan(names, Some(&unbuilt), actual).before_build();
    let ask = |seen| lease::Ask {
        reader: &stage.reader,
        writer: &stage.writer,
        names,
        command: "deploy",
        timeout: request.lock_timeout,
        seen,
        ends_stage: false,
    };
    if !request.dry_run && !early(&actual).is_empty() {
        // While cargo compiles, what cannot change what the stage serves
        // is created: under the lease, held until the deploy ends.
        return with_lease(narrator, ask(seen), async |lease: &Lease| {
            let actual = resources::read(&stage.reader, names).await?;
            let target = stage.target();
            let early = early(&actual);
            let prepared = lease.apply(&target, &early, narrator.steps()).await?;
            let code = build.finish(!prepared.steps.is_empty(), narrator).await?;
            let planned = planned(&stage, &unbuilt, request, code, actual, started, narrator)?;
            apply_rest(&stage, planned, prepared, Some(lease), narrator).await
        })
        .await;
    }
    let code = build.finish(false, narrator).await?;
    let planned = planned(&stage, &unbuilt, request, code, actual, started, narrator)?;
    if request.dry_run {
        return Ok(Deployed::Planned(planned.full));
    }
    if planned.full.is_empty() {
        // Nothing to change: nothing needs the lease.
        return apply_rest(&stage, planned, Applied::default(), None, narrator).await;
    }
    with_lease(narrator, ask(seen), async |lease: &Lease| {
        // Read again under the lease: what another deploy did meanwhile
        // is planned from, not overwritten blindly.
        let actual = resources::read(&stage.reader, names).await?;
        let planned = planned_again(&stage, planned, actual)?;
        apply_rest(&stage, planned, Applied::default(), Some(lease), narrator).await
    })
    .await
}

/// Refuses a stage over one of API Gateway's quotas (a plan only says
/// so): its import would fail half way through the deploy.
fn refuse_over_quotas(
    stage: &Stage,
    unbuilt: &Desired,
    dry_run: bool,
    narrator: &dyn Narrator,
) -> miette::Result<()> {
    let document = super::openapi::definition(unbuilt).document;
    let over = super::quotas::over(&stage.project, Some(document.to_string().len()));
    if over.is_empty() {
        return Ok(());
    }
    if !dry_run {
        return Err(super::quotas::OverQuotas {
            stage: stage.arns.stage.clone(),
            over,
        }
        .into());
    }
    for quota in &over {
        narrator.alert(&quota.describe());
    }
    Ok(())
}

/// Says, once per deploy, which authorizers slx caches for less than
/// slx.toml's `ttl` (a token authorizer that takes the route).
fn warn_token_authorizers_by_route(
    project: &crate::config::Project,
    by_route: &std::collections::BTreeSet<String>,
    narrator: &dyn Narrator,
) {
    for authorizer in &project.authorizers {
        // On stderr in every mode: slx caches for less than slx.toml says.
        if let Some(note) = authorizer.caching_note(by_route.contains(&authorizer.name)) {
            narrator.alert(&note);
        }
    }
}

/// The stage located (account, partition), what AWS holds for it and (at
/// once, saving a round trip when the lease is taken later) a look at
/// its lease.
async fn open(opened: Opened) -> miette::Result<(Stage, Actual, Option<lease::Found>)> {
    let names = opened.project.names();
    let (read, seen) = tokio::join!(
        super::locate_and_read(&opened.reader, &opened.project),
        lease::peek(&opened.reader, &names)
    );
    let (arns, actual) = read?;
    let stage = Stage {
        project: opened.project,
        app_dir: opened.app_dir,
        reader: opened.reader,
        writer: opened.writer,
        arns,
    };
    Ok((stage, actual, seen))
}

/// The desired state with the code, and the plan from it.
struct Planned {
    code: Code,
    desired: Desired,
    actual: Actual,
    full: Plan,
    checks_skipped: bool,
    /// When the deploy started: the report's durations count from it.
    started: Instant,
}

/// Plans with the code: what would refuse the deploy, `--skip-checks`
/// and the canary applied.
/// `unbuilt`: the stage planned before the code was known (what it takes
/// from lib.rs, the authorizers by route, is read once, there).
fn planned(
    stage: &Stage,
    unbuilt: &Desired,
    request: &Request,
    code: Code,
    actual: Actual,
    started: Instant,
    narrator: &dyn Narrator,
) -> miette::Result<Planned> {
    let arns = &stage.arns;
    api::refuse_duplicates(arns.names(), &actual)?;
    let mut desired = Desired::new(
        &stage.project,
        arns,
        &code.sha256,
        request.release.clone(),
        unbuilt.authorizers_by_route.clone(),
    );
    // A handler that runs itself without end costs real money: said in
    // every output mode.
    for warning in preflight::check(&desired, &actual)? {
        narrator.alert(&warning);
    }
    let checks_skipped = request.skip_checks && !desired.checks.is_empty();
    if checks_skipped {
        // Loud in every mode: traffic moves to untested code.
        narrator.alert(&format!(
            "--skip-checks: a new version takes stage {}'s traffic without its {} [[checks]]",
            arns.stage,
            desired.checks.len()
        ));
        desired = desired.without_checks();
    }
    desired.canary = request.canary;
    let full = plan(arns.names(), Some(&desired), &actual);
    narrator.done(
        &format!(
            "read {} in {} ({} to change)",
            arns.function,
            arns.region,
            full.len()
        ),
        started.elapsed(),
    );
    Ok(Planned {
        code,
        desired,
        actual,
        full,
        checks_skipped,
        started,
    })
}

/// `planned` against what AWS holds now (read again under the lease).
fn planned_again(stage: &Stage, planned: Planned, actual: Actual) -> miette::Result<Planned> {
    let names = stage.arns.names();
    api::refuse_duplicates(names, &actual)?;
    preflight::check(&planned.desired, &actual)?;
    let full = plan(names, Some(&planned.desired), &actual);
    Ok(Planned {
        actual,
        full,
        ..planned
    })
}

/// Applies what `prepared` did not, judges the checks, watches the
/// canary (under the lease: nobody else may move the alias meanwhile)
/// and verifies through the alias.
async fn apply_rest(
    stage: &Stage,
    planned: Planned,
    prepared: Applied,
    lease: Option<&Lease>,
    narrator: &dyn Narrator,
) -> miette::Result<Deployed> {
    let Planned {
        code,
        desired,
        actual,
        full,
        checks_skipped,
        started,
    } = planned;
    let arns = &stage.arns;
    let done = Plan::of(prepared.steps.iter().map(|s| s.action.clone()).collect());
    let rest = full.without(&done);
    let unguarded = stage.target();
    let target = match lease {
        Some(lease) => lease.guard(&unguarded),
        None => unguarded,
    };
    let apply = apply::apply(
        &target,
        Some(&code),
        &rest,
        prepared.outputs.clone(),
        narrator.steps(),
    );
    let result = match lease {
        Some(lease) => lease.fenced(apply).await?,
        None => apply.await,
    };
    // Failed checks are a verdict on the new version, reported like a
    // deploy (what ran, the version left unpointed).
    let (applied, refused) = match result {
        Ok(applied) => (applied, None),
        Err(error) => match error.applied.outputs.get::<NewVersionChecks>().cloned() {
            Some(NewVersionChecks(verdict)) if !verdict.ok() => (error.applied, Some(verdict)),
            _ => return Err(error.into_report()),
        },
    };
    // The alias moved (or shares traffic with a canary): Lambda allocates
    // the stage's provisioned concurrency to the new version anew, and
    // the verification and the canary's traffic wait for warm instances.
    if refused.is_none()
        && desired.provisioned_concurrency.is_some()
        && applied.outputs.get::<PublishedVersion>().is_some()
    {
        let pace = stage.reader.pace();
        let (function, alias) = (&arns.function, &arns.alias);
        provisioned::wait_allocated(&stage.reader, function, alias, &pace, &pace).await?;
    }
    let canary = match (applied.outputs.get::<CanaryStarted>(), &refused) {
        (Some(canary), None) => {
            Some(watch_canary(stage, canary, &desired.checks, lease, narrator).await?)
        }
        _ => None,
    };
    let mut steps: Vec<StepReport> = prepared.steps.into_iter().chain(applied.steps).collect();
    steps.sort_by_key(|s| full.actions().position(|a| *a == s.action));
    let mut outputs = applied.outputs;
    let api_id = outputs
        .take::<api::CreatedApi>()
        .map(|api| api.0)
        .or_else(|| actual.api.as_ref().map(|a| a.id.clone()))
        .unwrap_or_default();
    let rolled_back = canary.as_ref().is_some_and(CanaryReport::rolled_back);
    let version = match &canary {
        Some(report) if rolled_back => report.started.previous.clone(),
        _ => outputs
            .take::<PublishedVersion>()
            .map(|published| published.0)
            .or_else(|| actual.alias.served.as_ref().map(|f| f.version.clone()))
            .unwrap_or_default(),
    };
    // The alias moved to a checked version: check once more through it.
    let new_version_checks = outputs.take::<NewVersionChecks>().map(|checks| checks.0);
    let verifying = match (&new_version_checks, &refused) {
        (Some(_), None) if !rolled_back => {
            let (reader, names) = (stage.reader.clone(), arns.names().clone());
            let planned = desired.checks.clone();
            Some(tokio::spawn(async move {
                checks::run(&reader, &names, checks::On::Alias, &planned).await
            }))
        }
        _ => None,
    };
    if let Some(verdict) = &new_version_checks {
        narrator.step(&verdict.summary());
    }
    let custom_domain = desired.domain.as_ref().map(|domain| {
        let created = outputs.get::<CreatedDomain>().map(|created| &created.0);
        CustomDomain::of(domain, &actual.domain, created)
    });
    Ok(Deployed::Applied(Box::new(Report {
        arns: arns.clone(),
        api_id,
        version,
        changed: !full.is_empty(),
        code_sha256: code.sha256,
        steps,
        warnings: outputs.take::<ImportWarnings>().unwrap_or_default().0,
        lease_wait: lease.map_or(Duration::ZERO, |l| l.waited),
        checks: new_version_checks,
        checks_skipped,
        verification: None,
        verifying,
        canary,
        refused,
        custom_domain,
        took: started.elapsed(),
    })))
}

/// Watches the canary until the decision, then moves the alias all the
/// way to the new version or back to the old one (an apply step, under
/// the lease). An interruption asks the narrator which.
async fn watch_canary(
    stage: &Stage,
    started: &CanaryStarted,
    checks: &[checks::PlannedCheck],
    lease: Option<&Lease>,
    narrator: &dyn Narrator,
) -> miette::Result<CanaryReport> {
    let arns = &stage.arns;
    let since = SystemTime::now();
    let pace = stage.reader.pace();
    let begun = pace.now();
    let every = canary::poll_interval(started.spec.watch);
    // Interruptions are ours from before the watch is announced (the
    // first poll installs the handler): one that comes once the line is
    // out is always answered instead of killing the process.
    let mut interrupt = futures_util::FutureExt::fuse(narrator.interrupt());
    let _ = futures_util::FutureExt::now_or_never(&mut interrupt);
    narrator.step(&format!(
        "canary: version {} gets {}% of stage {} for {} (version {} keeps the rest); watching its errors, throttles and checks, then deciding once CloudWatch has the whole window ({} later) and it saw at least {} invocations",
        started.version,
        started.spec.percent,
        arns.stage,
        humantime::format_duration(started.spec.watch),
        started.previous,
        humantime::format_duration(canary::METRICS_SETTLE),
        started.spec.min_invocations
    ));
    let mut seen = canary::Observation::default();
    let decision = loop {
        let interrupted = tokio::select! {
            () = pace.sleep(every) => false,
            () = &mut interrupt => true,
        };
        if interrupted {
            break narrator.after_interrupt(started).await;
        }
        seen = observe(stage, started, checks, since).await?;
        match canary::decide(&seen, pace.now() - begun, &started.spec) {
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
    point_alias(stage, lease, version, narrator).await?;
    match &reason {
        Some(reason) => narrator.alert(&format!(
            "canary rolled back: {reason}; stage {} serves version {} again",
            arns.stage, started.previous
        )),
        None => narrator.step(&format!(
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
        invocations: seen.total_invocations(),
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
    let (errors, throttles, invocations, verdict) = tokio::join!(
        series("Errors"),
        series("Throttles"),
        series("Invocations"),
        verdict
    );
    let hint = "the canary is left as it is: `slx deploy` promotes it, `slx rollback` ends it";
    Ok(canary::Observation {
        errors: errors.map_err(|e| miette::Report::new(e).wrap_err(hint))?,
        throttles: throttles.map_err(|e| miette::Report::new(e).wrap_err(hint))?,
        invocations: invocations.map_err(|e| miette::Report::new(e).wrap_err(hint))?,
        failed_checks: verdict.map(|v| v.failures()).unwrap_or_default(),
    })
}

/// Points the stage's alias at `version` (ending the canary), as a
/// one-step plan applied under `lease`.
async fn point_alias(
    stage: &Stage,
    lease: Option<&Lease>,
    version: &str,
    narrator: &dyn Narrator,
) -> miette::Result<()> {
    let names = stage.arns.names();
    let plan = Plan::of(vec![Action::Alias(AliasAction::PointAlias {
        function: names.function.clone(),
        alias: names.alias.clone(),
        version: version.to_string(),
    })]);
    let unguarded = stage.target();
    let target = match lease {
        Some(lease) => lease.guard(&unguarded),
        None => unguarded,
    };
    let apply = apply::apply(&target, None, &plan, Outputs::default(), narrator.steps());
    match lease {
        Some(lease) => lease.fenced(apply).await?,
        None => apply.await,
    }
    .map_err(apply::ApplyError::into_report)?;
    Ok(())
}

/// `slx <version> from git abc1234 (dirty) at 2026-11-26T19:10:59Z`:
/// kept in each published version's description for `slx versions`.
pub(crate) fn release_note(dir: &Path) -> String {
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
