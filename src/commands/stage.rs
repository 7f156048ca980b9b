//! The composition root of every command that works on a deployed stage:
//! slx.toml → the resolved project → an AWS reader and writer → the
//! stage's names and ARNs (and, where asked, what AWS holds). Also the
//! shared ways a plan and its steps are shown.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use super::{load_config, project_dir};
use crate::aws::{self, AwsSettings, Reader, Writer};
use crate::cli::GlobalArgs;
use crate::config::{self, Project};
use crate::deploy::Stage;
use crate::deploy::apply::{StepReport, StepReporter};
use crate::deploy::canary::{CanaryStarted, Decision};
use crate::deploy::narrator::{Narrator, Waiting};
use crate::deploy::plan::{self, Plan};
use crate::deploy::resources::Actual;
use crate::deploy::{self};
use crate::endpoint::{self, InsecureEndpoint};
use crate::names::StageNames;
use crate::ui::Ui;

/// The AWS settings: flags, then slx.toml's region, then the profile.
fn aws_settings(global: &GlobalArgs, project: &Project) -> AwsSettings {
    AwsSettings {
        profile: profile_for(
            global.profile.as_deref(),
            std::env::var("AWS_PROFILE").ok().as_deref(),
            project.profile.as_deref(),
        ),
        region_flag: global.region.clone(),
        region_config: project.region.clone(),
        endpoint_url: global.endpoint_url.clone(),
    }
}

/// The AWS profile: `--profile`, then `AWS_PROFILE`, then the stage's
/// `profile` in slx.toml; `None` lets the SDK use its default.
fn profile_for(flag: Option<&str>, env: Option<&str>, stage: Option<&str>) -> Option<String> {
    flag.or(env.filter(|p| !p.is_empty()))
        .or(stage)
        .map(str::to_string)
}

/// A reader and a writer for `project`'s region. An endpoint override is
/// announced, and refused over plain http to another machine unless
/// `--insecure-endpoint`.
pub(super) async fn connect(
    ui: &Ui,
    global: &GlobalArgs,
    project: &Project,
) -> miette::Result<(Reader, Writer)> {
    connect_with(ui, global, &aws_settings(global, project)).await
}

/// `connect` without slx.toml: the flags' and the environment's profile
/// and region only.
pub(super) async fn connect_bare(ui: &Ui, global: &GlobalArgs) -> miette::Result<(Reader, Writer)> {
    let settings = AwsSettings {
        profile: profile_for(
            global.profile.as_deref(),
            std::env::var("AWS_PROFILE").ok().as_deref(),
            None,
        ),
        region_flag: global.region.clone(),
        region_config: None,
        endpoint_url: global.endpoint_url.clone(),
    };
    connect_with(ui, global, &settings).await
}

async fn connect_with(
    ui: &Ui,
    global: &GlobalArgs,
    settings: &AwsSettings,
) -> miette::Result<(Reader, Writer)> {
    let announce = |source_name: String, url: String| -> miette::Result<()> {
        if endpoint::insecure(&url) && !global.insecure_endpoint {
            return Err(InsecureEndpoint { url, source_name }.into());
        }
        ui.alert(format!(
            "AWS requests go to {url} ({source_name}), not to AWS: it receives every request body and signature"
        ));
        Ok(())
    };
    // The flag and the environment are checked before anything loads.
    let found = endpoint::overrides(global.endpoint_url.as_deref(), std::env::vars());
    for (source_name, url) in found.clone() {
        announce(source_name, url)?;
    }
    // A profile's `endpoint_url` is known once the configuration is
    // loaded, which sends nothing: still before any request.
    let (reader, writer) = aws::connect(settings).await?;
    if let Some(url) = reader.endpoint()
        && !found.iter().any(|(_, known)| known == url)
    {
        announce("the profile's endpoint_url".into(), url.to_string())?;
    }
    Ok((reader, writer))
}

/// Whether the stage's URLs are AWS's (no endpoint override): a URL on
/// `amazonaws.com` is never printed for a stage that lives elsewhere.
pub(super) fn public_urls(reader: &Reader) -> bool {
    reader.endpoint().is_none() && endpoint::overrides(None, std::env::vars()).is_empty()
}

/// slx.toml's stage `stage`, connected and located (account, partition),
/// and what AWS holds for it (read while the account is looked up).
pub(super) async fn open_and_read(
    ui: &Ui,
    global: &GlobalArgs,
    stage: &str,
) -> miette::Result<(Stage, Actual)> {
    let (project, app_dir) = resolve(ui, global, stage)?;
    let (reader, writer) = connect(ui, global, &project).await?;
    let (arns, actual) = deploy::locate_and_read(&reader, &project).await?;
    let stage = Stage {
        project,
        app_dir,
        reader,
        writer,
        arns,
    };
    Ok((stage, actual))
}

/// slx.toml's stage `stage`, resolved, and the app's directory.
pub(super) fn resolve(
    ui: &Ui,
    global: &GlobalArgs,
    stage: &str,
) -> miette::Result<(Project, PathBuf)> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, stage)?;
    Ok((project, project_dir(&config)))
}

impl StepReporter for Ui {
    fn step_started(&self, description: &str) {
        self.running(description);
    }

    fn step_failed(&self, description: &str) {
        self.stopped(description);
    }

    fn step_done(&self, step: &StepReport) {
        self.stopped(&step.description);
        self.done(&step.description, Duration::from_secs_f64(step.seconds));
    }
}

/// The engine speaks to the terminal (or the JSON consumer) through the
/// `Ui`; a canary's watch is interrupted by Ctrl-C, and a terminal is
/// asked what to do then.
impl Narrator for Ui {
    fn steps(&self) -> &dyn StepReporter {
        self
    }

    fn step(&self, line: &str) {
        Ui::step(self, line);
    }

    fn done(&self, line: &str, took: Duration) {
        Ui::done(self, line, took);
    }

    fn alert(&self, line: &str) {
        Ui::alert(self, line);
    }

    fn warn(&self, line: &str) {
        Ui::warn(self, line);
    }

    fn waiting(&self, description: &str) {
        self.running(description);
    }

    fn waited(&self, description: &str) {
        self.stopped(description);
    }

    fn build_progress(&self) -> Box<dyn crate::handler::Progress + Send> {
        Box::new(self.clone())
    }

    fn interrupt(&self) -> Waiting<'static, ()> {
        Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }

    fn after_interrupt<'a>(&'a self, started: &'a CanaryStarted) -> Waiting<'a, Decision> {
        Box::pin(ask_after_interrupt(self, started))
    }
}

/// Ctrl-C during a canary's watch: ask on a terminal, roll back otherwise.
async fn ask_after_interrupt(ui: &Ui, started: &CanaryStarted) -> Decision {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Decision::RollBack("interrupted, with no terminal to ask".into());
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
        Ok(Ok(line)) if line.trim().eq_ignore_ascii_case("p") => Decision::Promote,
        _ => Decision::RollBack("interrupted; the user chose to roll back".into()),
    }
}

/// Prints `plan` as `slx plan` shows it: one signed line per action.
pub(super) fn print_plan(ui: &Ui, names: &StageNames, plan: &Plan) {
    let count = plan.len();
    let mut text = if plan.is_empty() {
        format!(
            "no changes: stage {} matches slx.toml and the code",
            names.stage
        )
    } else {
        format!(
            "plan for stage {}: {count} {}\n",
            names.stage,
            if count == 1 { "change" } else { "changes" }
        )
    };
    for action in plan.actions() {
        text.push_str(&format!(
            "  {} {}\n",
            plan::sign(action),
            action.info().describe(names)
        ));
    }
    ui.result(
        text.trim_end(),
        &json!({ "stage": names.stage, "changes": count, "actions": plan }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_then_the_environment_then_the_stage_choose_the_profile() {
        assert_eq!(
            profile_for(Some("cli"), Some("env"), Some("toml")).as_deref(),
            Some("cli")
        );
        assert_eq!(
            profile_for(None, Some("env"), Some("toml")).as_deref(),
            Some("env")
        );
        assert_eq!(
            profile_for(None, Some(""), Some("toml")).as_deref(),
            Some("toml")
        );
        assert_eq!(profile_for(None, None, None), None);
    }
}
