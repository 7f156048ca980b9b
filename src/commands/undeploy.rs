//! `slx undeploy`: remove everything the stage owns (the plan from
//! nothing), after confirmation, then check from AWS that nothing is left
//! but a role Lambda still needs to release network interfaces with,
//! which the next undeploy deletes.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use serde_json::json;

use super::Outcome;
use super::stage::{open_and_read, print_plan};
use crate::aws::AwsError;
use crate::cli::{GlobalArgs, UndeployArgs};
use crate::deploy::Stage;
use crate::deploy::lease;
use crate::deploy::lease::{Ask, with_lease};
use crate::deploy::plan::{Plan, plan};
use crate::deploy::resources::log_group::LogGroupAction;
use crate::deploy::resources::{self, Action, Actual};
use crate::names::StageNames;
use crate::pace::{Clock, Sleeper};
use crate::ui::Ui;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(super) enum UndeployError {
    #[error("refusing to undeploy stage {stage} without confirmation: stdin is not a terminal")]
    #[diagnostic(
        code(slx::undeploy::confirm),
        help("pass --yes to confirm in scripts and CI")
    )]
    NeedsYes { stage: String },
    #[error("undeploy of stage {stage} cancelled")]
    #[diagnostic(code(slx::undeploy::cancelled))]
    Cancelled { stage: String },
    #[error("after undeploy, these still exist: {leftovers}")]
    #[diagnostic(
        code(slx::undeploy::leftovers),
        help("run `slx undeploy` again; if they persist, delete them in the AWS console")
    )]
    Leftovers { leftovers: String },
}

/// The removal plan, keeping the log group when asked.
/// Whether `action` deletes a log group: the API function's or a handler's.
fn deletes_logs(action: &Action) -> bool {
    use crate::deploy::resources::event_function::{EventFunctionAction, HandlerStep};
    matches!(
        action,
        Action::LogGroup(LogGroupAction::DeleteLogGroup { .. })
            | Action::EventFunction(EventFunctionAction {
                step: HandlerStep::LogGroup(LogGroupAction::DeleteLogGroup { .. }),
                ..
            })
    )
}

fn removal(names: &StageNames, actual: &Actual, keep_logs: bool) -> Plan {
    let actions = plan(names, None, actual)
        .actions()
        .filter(|a| !(keep_logs && deletes_logs(a)))
        .cloned()
        .collect();
    Plan::of(actions)
}

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: UndeployArgs,
) -> miette::Result<Outcome> {
    let (stage, actual) = open_and_read(ui, global, &args.stage).await?;
    if actual.usage_plan.keys_unread {
        return Err(crate::deploy::resources::usage_plan::keys_unread_refusal().into());
    }
    let names = stage.arns.names();
    let plan = removal(names, &actual, args.keep_logs);
    // A lease left by a killed slx is the stage's too: removed below.
    let seen = lease::look(&stage.reader, names).await?;
    let leases = seen.as_ref().map_or(0, |found| found.generations.len());
    if plan.is_empty() && leases == 0 {
        ui.result(
            format!(
                "stage {} of {} is not deployed: nothing to remove",
                names.stage, names.app
            ),
            &json!({ "stage": names.stage, "removed": [], "changed": false, "held_interfaces": [] }),
        );
        return Ok(Outcome::Success);
    }
    // What will go, before it goes: not with `-q`, which prints only
    // the result.
    if !ui.is_json() && !ui.is_quiet() {
        print_plan(ui, names, &plan);
    }
    if !args.yes {
        confirm(&names.stage)?;
    }
    let ask = Ask {
        reader: &stage.reader,
        writer: &stage.writer,
        names,
        command: "undeploy",
        timeout: args.lock_timeout,
        seen,
        ends_stage: true,
    };
    // The lease's release deletes every generation (a killed slx's too)
    // and leaves no tombstone: nothing of the stage stays.
    let (applied, leftovers, held) = with_lease(ui, ask, async |lease| {
        // Read again under the lease: a deploy may have run meanwhile.
        let actual = resources::read(&stage.reader, names).await?;
        let plan = removal(names, &actual, args.keep_logs);
        let target = stage.target();
        let applied = lease.apply(&target, &plan, ui).await?;
        // What it read the role kept for: the removal kept the role.
        let held = resources::role::held_interfaces(&actual.role);
        let pace = stage.reader.pace();
        let keeps_role = !held.is_empty();
        let leftovers = leftovers_after(&stage, args.keep_logs, keeps_role, &pace, &pace).await?;
        Ok((applied, leftovers, held))
    })
    .await?;
    if !leftovers.is_empty() {
        return Err(UndeployError::Leftovers {
            leftovers: leftovers.join("; "),
        }
        .into());
    }
    let kept_role = if held.is_empty() {
        String::new()
    } else {
        format!(
            "; IAM role {} is kept until Lambda releases {} (up to 45 minutes): \
             `slx undeploy --stage {}` then deletes it",
            names.role,
            held.join(", "),
            names.stage
        )
    };
    ui.result(
        format!(
            "removed stage {} of {}{}{kept_role}",
            names.stage,
            names.app,
            if args.keep_logs {
                " (log group kept)"
            } else {
                ""
            }
        ),
        &json!({
            "stage": names.stage,
            "removed": applied.steps,
            "changed": true,
            "held_interfaces": held,
        }),
    );
    Ok(Outcome::Success)
}

/// What of the stage AWS still shows (but the role, when the removal
/// kept it for Lambda), asked again with backoff for up to 30 s: IAM
/// (and other control planes) are eventually consistent, and a role
/// deleted a moment ago can still be read.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
async fn leftovers_after(
    stage: &Stage,
    keep_logs: bool,
    keeps_role: bool,
    clock: &dyn Clock,
    sleeper: &dyn Sleeper,
) -> Result<Vec<String>, AwsError> {
    let names = stage.arns.names();
    let deadline = clock.now() + Duration::from_secs(30);
    let mut delay = Duration::from_millis(500);
    loop {
        let after = resources::read(&stage.reader, names).await?;
        let leftovers: Vec<String> = removal(names, &after, keep_logs)
            .actions()
            .filter(|action| !(keeps_role && matches!(action, Action::Role(_))))
            .map(|a| a.info().describe(names))
            .collect();
        if leftovers.is_empty() || clock.now() + delay > deadline {
            return Ok(leftovers);
        }
        sleeper.sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn confirm(stage: &str) -> Result<(), UndeployError> {
    if !std::io::stdin().is_terminal() {
        return Err(UndeployError::NeedsYes {
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
        Err(UndeployError::Cancelled {
            stage: stage.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::resources::event_function::{EventFunctionAction, HandlerStep};
    use crate::deploy::resources::function::FunctionAction;

    #[test]
    fn keep_logs_keeps_every_functions_log_group() {
        let handler = |step| {
            Action::EventFunction(EventFunctionAction {
                handler: "on_job".into(),
                step,
                retired: false,
            })
        };
        assert!(deletes_logs(&Action::LogGroup(
            LogGroupAction::DeleteLogGroup {
                log_group: "/aws/lambda/shop-dev".into()
            }
        )));
        assert!(deletes_logs(&handler(HandlerStep::LogGroup(
            LogGroupAction::DeleteLogGroup {
                log_group: "/aws/lambda/shop-dev-on_job".into()
            }
        ))));
        assert!(!deletes_logs(&handler(HandlerStep::Function(
            FunctionAction::DeleteFunction {
                function: "shop-dev-on_job".into()
            }
        ))));
    }
}
