//! One file per subcommand: the glue that runs the pipeline stages in
//! order and hands results to `ui`; `stage` opens a stage for all of
//! them. No business logic lives here.

mod build;
mod deploy;
mod dev;
mod doctor;
mod iam_policy;
mod init;
mod invoke;
mod keys;
mod logs;
mod promote;
mod rollback;
mod stage;
mod status;
mod undeploy;
mod validate;
mod versions;

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::config::{self, ConfigError};
use crate::ui::Ui;

/// How a command ended, when it did not fail: maps to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// `--detailed-exitcode`: success, and something changed (exit 2).
    Changed,
}

pub async fn run(cli: Cli) -> miette::Result<Outcome> {
    let ui = Ui::new(cli.global.output, cli.global.quiet, cli.global.color);
    match cli.command {
        Command::Init(args) => init::run(&ui, args),
        Command::Validate(args) => validate::run(&ui, &cli.global, args),
        Command::Build(args) => build::run(&ui, &cli.global, args),
        Command::Dev(args) => dev::run(&ui, &cli.global, args).await,
        Command::Plan(mut args) => {
            args.dry_run = true;
            deploy::run(&ui, &cli.global, args).await
        }
        Command::Deploy(args) => deploy::run(&ui, &cli.global, args).await,
        Command::Status(args) => status::run(&ui, &cli.global, args).await,
        Command::Invoke(args) => invoke::run(&ui, &cli.global, args).await,
        Command::Logs(args) => logs::run(&ui, &cli.global, args).await,
        Command::Undeploy(args) => undeploy::run(&ui, &cli.global, args).await,
        Command::Rollback(args) => rollback::run(&ui, &cli.global, args).await,
        Command::Promote(args) => promote::run(&ui, &cli.global, args).await,
        Command::Versions(args) => versions::run(&ui, &cli.global, args).await,
        Command::IamPolicy(args) => iam_policy::run(&ui, &cli.global, args).await,
        Command::Keys(action) => keys::run(&ui, &cli.global, action).await,
        Command::Doctor(args) => doctor::run(&ui, &cli.global, args).await,
        Command::Man => {
            let page = clap_mangen::Man::new(Cli::command());
            page.render(&mut std::io::stdout())
                .map_err(|e| miette::miette!("cannot write the man page: {e}"))?;
            Ok(Outcome::Success)
        }
        Command::Completions(args) => {
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "slx", &mut std::io::stdout());
            Ok(Outcome::Success)
        }
    }
}

/// The exit code of a failed command: 3 when smoke checks failed, 4 when
/// a canary was rolled back, 5 when
/// another slx process held the stage for longer than `--lock-timeout`
/// or took it over from this one, 1 for every other error.
pub fn exit_code(report: &miette::Report) -> u8 {
    use crate::exit::Exit;
    if report.downcast_ref::<ChecksFailed>().is_some() {
        return Exit::ChecksFailed.code();
    }
    if report.downcast_ref::<deploy::CanaryRolledBack>().is_some() {
        return Exit::CanaryRolledBack.code();
    }
    match report.downcast_ref::<crate::deploy::lease::LeaseError>() {
        Some(
            crate::deploy::lease::LeaseError::Busy { .. }
            | crate::deploy::lease::LeaseError::Lost { .. },
        ) => Exit::StageBusy.code(),
        _ => Exit::Error.code(),
    }
}

/// Smoke checks failed (exit code 3): on a new version, which then does
/// not take the stage's traffic, or through the alias after it moved.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum ChecksFailed {
    #[error("{summary}: the stage alias was not moved\n  {failures}")]
    #[diagnostic(
        code(slx::checks::failed),
        help(
            "the stage still serves what it served; the new version stays unpointed (pruned later). Fix the handler or the check and deploy again; `--skip-checks` deploys without them"
        )
    )]
    BeforeMove { summary: String, failures: String },
    #[error("{summary} after the stage alias moved\n  {failures}")]
    #[diagnostic(
        code(slx::checks::after_move),
        help("the stage serves this version; `slx rollback --stage {stage}` moves it back")
    )]
    AfterMove {
        summary: String,
        failures: String,
        stage: String,
    },
}

impl ChecksFailed {
    pub(crate) fn before_move(verdict: &crate::deploy::checks::Verdict) -> ChecksFailed {
        ChecksFailed::BeforeMove {
            summary: verdict.summary(),
            failures: verdict.failures().join("\n  "),
        }
    }

    pub(crate) fn after_move(
        verdict: &crate::deploy::checks::Verdict,
        stage: &str,
    ) -> ChecksFailed {
        ChecksFailed::AfterMove {
            summary: verdict.summary(),
            failures: verdict.failures().join("\n  "),
            stage: stage.to_string(),
        }
    }
}

/// The slx.toml to use: `--config`, else the nearest one upwards.
pub(crate) fn config_path(global: &GlobalArgs) -> Result<PathBuf, ConfigError> {
    if let Some(path) = &global.config {
        return Ok(path.clone());
    }
    let cwd = std::env::current_dir().map_err(|source| ConfigError::Read {
        path: PathBuf::from("."),
        source,
    })?;
    find_config(&cwd).ok_or(ConfigError::NotFound { dir: cwd })
}

fn find_config(start: &Path) -> Option<PathBuf> {
    let here = start.join(config::FILE_NAME);
    if here.is_file() {
        // Relative, so messages say `slx.toml:5:1` rather than a long path.
        return Some(PathBuf::from(config::FILE_NAME));
    }
    start
        .ancestors()
        .map(|dir| dir.join(config::FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// The directory of the app crate: where slx.toml is.
pub(crate) fn project_dir(config: &config::Config) -> PathBuf {
    match config.path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Loads the config and prints its warnings.
pub(crate) fn load_config(ui: &Ui, global: &GlobalArgs) -> Result<config::Config, ConfigError> {
    let config = config::load(&config_path(global)?)?;
    if let Some(report) = config::warnings_report(&config) {
        for warning in report.located() {
            ui.warn(warning.to_string());
        }
    }
    Ok(config)
}
