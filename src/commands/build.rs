use std::time::Duration;

use super::{Outcome, load_config, project_dir};
use crate::cli::{BuildArgs, GlobalArgs};
use crate::config;
use crate::handler::{self, Progress};
use crate::ui::{self, Ui};

impl Progress for Ui {
    fn step_done(&self, what: &str, took: Duration) {
        self.done(what, took);
    }
}

pub(super) fn run(ui: &Ui, global: &GlobalArgs, args: BuildArgs) -> miette::Result<Outcome> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, &args.stage)?;
    ui.step(format!(
        "building {} ({}) for stage {}",
        project.app, project.arch, project.stage
    ));
    let artifact = handler::build(&project, &project_dir(&config), ui)?;
    let text = format!(
        "{}: {} zip ({} binary, glibc {}), sha256 {} in {}",
        artifact.zip.display(),
        ui::bytes(artifact.size_bytes),
        ui::bytes(artifact.binary_bytes),
        artifact.max_glibc.as_deref().unwrap_or("static"),
        artifact.code_sha256,
        ui::seconds(Duration::from_secs_f64(artifact.build_seconds)),
    );
    ui.result(text, &artifact);
    Ok(Outcome::Success)
}
