//! `slx doctor`: gathers what `crate::doctor` judges (the toolchain, the
//! host's glibc, slx.toml's archs and pinned accounts, the deployer's
//! identity) and prints one line per check, with the fix. Read-only:
//! its one AWS call is `sts:GetCallerIdentity`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::Outcome;
use super::stage;
use crate::cli::{DoctorArgs, GlobalArgs};
use crate::config::{self, Arch};
use crate::doctor::{Check, Findings, Identity, Status, checks};
use crate::ui::Ui;

/// How long the identity call may take (no network: it fails, not hangs).
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(15);

/// Some checks failed (exit 1): the report says which, with the fixes.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{failed} of {total} checks failed")]
#[diagnostic(
    code(slx::doctor::failed),
    help("apply the fixes above, then run `slx doctor` again")
)]
pub(super) struct DoctorFailed {
    failed: usize,
    total: usize,
}

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: DoctorArgs) -> miette::Result<Outcome> {
    let tools = tokio::task::spawn_blocking(crate::handler::toolchain::detect);
    let cargo = tokio::task::spawn_blocking(cargo_version);
    let glibc = tokio::task::spawn_blocking(host_glibc);
    // slx.toml, when there is one: its archs and pinned accounts. One
    // that cannot be read is a failed check, not a missing file.
    let (config, config_problem) = match super::load_config(ui, global) {
        Ok(config) => (Some(config), None),
        Err(config::ConfigError::NotFound { .. }) => (None, None),
        Err(error) => (None, Some(error.to_string())),
    };
    let (archs, pinned) = match &config {
        Some(config) => stage_facts(config),
        None => (vec![Arch::X86_64], BTreeMap::new()),
    };
    let identity = identity(ui, global, config.as_ref(), &args.stage).await;
    let found = Findings {
        cargo: cargo.await.ok().flatten(),
        tools: tools.await.unwrap_or_default(),
        host_glibc: glibc.await.ok().flatten(),
        archs,
        identity,
        pinned,
        config_problem,
    };
    let checks = checks(&found);
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let text = checks.iter().map(line).collect::<Vec<_>>().join("\n");
    let text = match (&config, failed) {
        (None, _) if found.config_problem.is_none() => {
            format!("{text}\n(no slx.toml here: checked for x86_64 and no pinned accounts)")
        }
        (Some(_), 0) => format!("{text}\nready: slx can build and deploy this app"),
        _ => text,
    };
    ui.result(text, &json!({ "checks": checks, "ok": failed == 0 }));
    if failed > 0 {
        return Err(DoctorFailed {
            failed,
            total: checks.len(),
        }
        .into());
    }
    Ok(Outcome::Success)
}

/// `ok    cargo: cargo 1.95.0`, `FAIL  ...: ... (fix: ...)`.
fn line(check: &Check) -> String {
    let mark = match check.status {
        Status::Ok => "ok  ",
        Status::Warn => "warn",
        Status::Fail => "FAIL",
    };
    match &check.fix {
        Some(fix) => format!("{mark}  {}: {} (fix: {fix})", check.check, check.detail),
        None => format!("{mark}  {}: {}", check.check, check.detail),
    }
}

fn cargo_version() -> Option<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The version `ldd --version` names on its first line (glibc's ldd).
fn host_glibc() -> Option<String> {
    let output = Command::new("ldd").arg("--version").output().ok()?;
    crate::doctor::glibc_of_ldd(String::from_utf8_lossy(&output.stdout).lines().next()?)
}

/// The archs slx.toml's stages build for, and each stage's pinned account.
fn stage_facts(config: &config::Config) -> (Vec<Arch>, BTreeMap<String, String>) {
    let mut archs = vec![config.settings.resolved().arch];
    let mut pinned = BTreeMap::new();
    for name in config.stages.keys() {
        let settings = config.settings_of(name).resolved();
        if !archs.contains(&settings.arch) {
            archs.push(settings.arch);
        }
        if let Some(account) = settings.account {
            pinned.insert(name.clone(), account);
        }
    }
    (archs, pinned)
}

/// Who the credentials are, in `stage`'s settings when slx.toml has it.
async fn identity(
    ui: &Ui,
    global: &GlobalArgs,
    config: Option<&config::Config>,
    stage_name: &str,
) -> Identity {
    let project = config.and_then(|c| config::resolve(c, stage_name).ok());
    let connected = match &project {
        Some(project) => stage::connect(ui, global, project).await,
        None => stage::connect_bare(ui, global).await,
    };
    let reader = match connected {
        Ok((reader, _)) => reader,
        Err(report) if report.downcast_ref::<crate::aws::SetupError>().is_some() => {
            return Identity::NoRegion;
        }
        Err(report) => {
            return Identity::Failed {
                reason: report.to_string(),
                fix: "see the error above".into(),
            };
        }
    };
    match tokio::time::timeout(IDENTITY_TIMEOUT, reader.caller_identity()).await {
        Ok(Ok(identity)) => Identity::Known {
            account: identity.account,
            arn: identity.arn,
            region: reader.region().to_string(),
        },
        Ok(Err(error)) => Identity::Failed {
            reason: error.detail.clone(),
            fix: error.hint.clone().unwrap_or_else(|| {
                "configure credentials: `aws configure`, `aws sso login`, or AWS_* variables".into()
            }),
        },
        Err(_) => Identity::Failed {
            reason: format!("no answer from STS in {} s", IDENTITY_TIMEOUT.as_secs()),
            fix: "check the network (and a proxy or --endpoint-url)".into(),
        },
    }
}
