//! `slx rollback`: point the stage's alias at an older version. No build,
//! no upload: one `PointAlias` action, applied like any plan.

use serde_json::json;

use super::stage::{self, Stage};
use super::{Outcome, versions::served_and_published};
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::deploy::apply::{self, ApplyError};
use crate::deploy::plan::Plan;
use crate::deploy::resources::Action;
use crate::deploy::resources::alias::AliasAction;
use crate::deploy::{self, versions};
use crate::ui::Ui;

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: RollbackArgs,
) -> miette::Result<Outcome> {
    let started = std::time::Instant::now();
    let (project, app_dir) = stage::resolve(ui, global, &args.stage)?;
    let (reader, writer) = stage::connect(ui, global, &project).await?;
    let names = project.names();
    let (arns, (current, listed)) = tokio::try_join!(
        async {
            deploy::locate(&reader, &project)
                .await
                .map_err(miette::Report::from)
        },
        served_and_published(&reader, &names),
    )?;
    let numbers: Vec<String> = listed.iter().map(|v| v.version.clone()).collect();
    let to = versions::rollback_target(&numbers, &current, args.to.as_deref())?;
    let stage = Stage {
        project,
        app_dir,
        reader,
        writer,
        arns,
    };
    let plan = Plan::of(vec![Action::Alias(AliasAction::PointAlias {
        function: names.function.clone(),
        alias: names.alias.clone(),
        version: to.clone(),
    })]);
    apply::apply(&stage.target(), None, &plan, Default::default(), ui)
        .await
        .map_err(ApplyError::into_report)?;
    let info = listed.iter().find(|v| v.version == to);
    ui.result(
        format!(
            "stage {} now serves version {to} (was {current}) in {}{}",
            names.stage,
            crate::ui::seconds(started.elapsed()),
            info.map(|i| format!("\n  {}", i.description))
                .unwrap_or_default()
        ),
        &json!({ "stage": names.stage, "from": current, "to": to, "version": info }),
    );
    Ok(Outcome::Success)
}
