//! Commands that operate on a deployed stage without building:
//! undeploy, rollback, versions.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::json;

use super::Outcome;
use super::deploy::{open_and_read_stage, open_stage, print_plan};
use crate::aws::{AwsError, TokioSleeper};
use crate::cli::{GlobalArgs, RollbackArgs, StatusArgs, UndeployArgs};
use crate::deploy::apply::{self, ApplyInput};
use crate::deploy::plan::{Action, plan};
use crate::deploy::{self, read, versions};
use crate::ui::Ui;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum OperateError {
    #[error("refusing to undeploy stage {stage} without confirmation: stdin is not a terminal")]
    #[diagnostic(
        code(slx::undeploy::confirm),
        help("pass --yes to confirm in scripts and CI")
    )]
    NeedsYes { stage: String },
    #[error("undeploy of stage {stage} cancelled")]
    #[diagnostic(code(slx::undeploy::cancelled))]
    Cancelled { stage: String },
    #[error("stage {stage} of {app} is not deployed")]
    #[diagnostic(
        code(slx::stage::not_deployed),
        help("deploy it first: `slx deploy --stage {stage}`")
    )]
    NotDeployed { app: String, stage: String },
    #[error("after undeploy, these still exist: {leftovers}")]
    #[diagnostic(
        code(slx::undeploy::leftovers),
        help("run `slx undeploy` again; if they persist, delete them in the AWS console")
    )]
    Leftovers { leftovers: String },
}

pub(super) async fn undeploy(
    ui: &Ui,
    global: &GlobalArgs,
    args: UndeployArgs,
) -> miette::Result<Outcome> {
    let (_, _, session, actual) = open_and_read_stage(ui, global, &args.stage).await?;
    let target = &session.target;
    let actions: Vec<Action> = plan(None, &actual)
        .into_iter()
        .filter(|a| !(args.keep_logs && *a == Action::DeleteLogGroup))
        .collect();
    if actions.is_empty() {
        ui.result(
            format!(
                "stage {} of {} is not deployed: nothing to remove",
                target.stage, target.app
            ),
            &json!({ "stage": target.stage, "removed": [], "changed": false }),
        );
        return Ok(Outcome::Success);
    }
    if !ui.is_json() {
        print_plan(ui, &target.function_name, &target.stage, &actions);
    }
    if !args.yes {
        confirm(&target.stage)?;
    }
    let input = ApplyInput {
        target,
        desired: None,
        actual: &actual,
        zip: None,
        description: String::new(),
    };
    let applied = apply::apply(&session.clients, &TokioSleeper, &input, &actions, ui).await?;
    // Verify from AWS itself that nothing of the stage is left.
    let after = read::read(&session.clients, target).await?;
    let leftovers: Vec<String> = plan(None, &after)
        .iter()
        .filter(|a| !(args.keep_logs && **a == Action::DeleteLogGroup))
        .map(|a| a.describe(&target.function_name))
        .collect();
    if !leftovers.is_empty() {
        return Err(OperateError::Leftovers {
            leftovers: leftovers.join("; "),
        }
        .into());
    }
    ui.result(
        format!(
            "removed stage {} of {}{}",
            target.stage,
            target.app,
            if args.keep_logs {
                " (log group kept)"
            } else {
                ""
            }
        ),
        &json!({ "stage": target.stage, "removed": applied.steps, "changed": true }),
    );
    Ok(Outcome::Success)
}

fn confirm(stage: &str) -> Result<(), OperateError> {
    if !std::io::stdin().is_terminal() {
        return Err(OperateError::NeedsYes {
            stage: stage.into(),
        });
    }
    eprint!("remove stage {stage} and everything above? type the stage name to confirm: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == stage {
        Ok(())
    } else {
        Err(OperateError::Cancelled {
            stage: stage.into(),
        })
    }
}

/// The version the stage's alias serves; an error when not deployed.
async fn served_version(session: &deploy::Session) -> miette::Result<String> {
    let target = &session.target;
    read::alias_version(&session.clients, target)
        .await?
        .ok_or_else(|| {
            OperateError::NotDeployed {
                app: target.app.clone(),
                stage: target.stage.clone(),
            }
            .into()
        })
}

pub(super) async fn rollback(
    ui: &Ui,
    global: &GlobalArgs,
    args: RollbackArgs,
) -> miette::Result<Outcome> {
    let started = std::time::Instant::now();
    let (_, _, session) = open_stage(ui, global, &args.stage).await?;
    let target = &session.target;
    let c = &session.clients;
    let current = served_version(&session).await?;
    let listed = versions::list(c, &target.function_name).await?;
    let numbers: Vec<String> = listed.iter().map(|v| v.version.clone()).collect();
    let to = versions::rollback_target(&numbers, &current, args.to.as_deref())?;
    c.lambda
        .update_alias()
        .function_name(&target.function_name)
        .name(&target.stage)
        .function_version(&to)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(format!("point alias {} at version {to}", target.stage), &e)
        })?;
    let info = listed.iter().find(|v| v.version == to);
    ui.result(
        format!(
            "stage {} now serves version {to} (was {current}) in {}{}",
            target.stage,
            crate::ui::seconds(started.elapsed()),
            info.map(|i| format!("\n  {}", i.description))
                .unwrap_or_default()
        ),
        &json!({ "stage": target.stage, "from": current, "to": to, "version": info }),
    );
    Ok(Outcome::Success)
}

pub(super) async fn versions(
    ui: &Ui,
    global: &GlobalArgs,
    args: StatusArgs,
) -> miette::Result<Outcome> {
    let (_, _, session) = open_stage(ui, global, &args.stage).await?;
    let target = &session.target;
    let c = &session.clients;
    let current = Some(served_version(&session).await?);
    let listed = versions::list(c, &target.function_name).await?;
    let mut text = format!("versions of {} (newest last):\n", target.function_name);
    for v in &listed {
        let marker = if Some(&v.version) == current.as_ref() {
            "*"
        } else {
            " "
        };
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
    text.push_str(&format!("* = served by stage {}", target.stage));
    ui.result(
        text,
        &json!({ "stage": target.stage, "current": current, "versions": listed }),
    );
    Ok(Outcome::Success)
}
