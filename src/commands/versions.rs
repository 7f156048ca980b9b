//! `slx versions`: the stage's published versions, newest last, with the
//! one its alias serves marked. Read-only.

use serde_json::json;

use super::Outcome;
use super::stage;
use crate::aws::{Reader, VersionInfo};
use crate::cli::{GlobalArgs, StatusArgs};
use crate::names::StageNames;
use crate::ui::Ui;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("stage {stage} of {app} is not deployed")]
#[diagnostic(
    code(slx::stage::not_deployed),
    help("deploy it first: `slx deploy --stage {stage}`")
)]
pub(super) struct NotDeployed {
    app: String,
    stage: String,
}

impl NotDeployed {
    pub(super) fn of(names: &StageNames) -> NotDeployed {
        NotDeployed {
            app: names.app.clone(),
            stage: names.stage.clone(),
        }
    }
}

/// The version the stage's alias serves, and every published version
/// (oldest first); an error when the stage is not deployed.
pub(super) async fn served_and_published(
    reader: &Reader,
    names: &StageNames,
) -> miette::Result<(String, Vec<VersionInfo>)> {
    let (served, listed) = tokio::try_join!(
        reader.function(&names.function, Some(&names.alias)),
        reader.versions(&names.function),
    )?;
    let current = served
        .map(|f| f.version)
        .ok_or_else(|| NotDeployed::of(names))?;
    Ok((current, listed))
}

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: StatusArgs) -> miette::Result<Outcome> {
    let (project, _) = stage::resolve(ui, global, &args.stage)?;
    let (reader, _writer) = stage::connect(ui, global, &project).await?;
    let names = project.names();
    let (current, listed) = served_and_published(&reader, &names).await?;
    let mut text = format!("versions of {} (newest last):\n", names.function);
    for v in &listed {
        let marker = if v.version == current { "*" } else { " " };
        text.push_str(&format!(
            "{marker} {:>4}  {}  {}\n",
            v.version,
            v.last_modified,
            if v.description.is_empty() {
                "-"
            } else {
                &v.description
            }
        ));
    }
    text.push_str(&format!("* = served by stage {}", names.stage));
    ui.result(
        text,
        &json!({ "stage": names.stage, "current": current, "versions": listed }),
    );
    Ok(Outcome::Success)
}
