//! `slx rollback`: point the stage's alias at an older version. No build,
//! no upload: one `PointAlias` action, applied like any plan, under the
//! stage's lease.

use serde_json::json;

use super::stage;
use super::{Outcome, versions::served_and_published};
use crate::aws::{Canary, Reader, VersionInfo, Writer};
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::deploy::apply::Target;
use crate::deploy::lease::{self, Lease};
use crate::deploy::plan::Plan;
use crate::deploy::resources::alias::AliasAction;
use crate::deploy::resources::{Action, event_function};
use crate::deploy::{self, versions};
use crate::names::{StageArns, StageNames};
use crate::ui::Ui;

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: RollbackArgs,
) -> miette::Result<Outcome> {
    let started = std::time::Instant::now();
    let (project, _) = stage::resolve(ui, global, &args.stage)?;
    let (reader, writer) = stage::connect(ui, global, &project).await?;
    let names = project.names();
    // Before any write: the account is the pinned one, and there is a
    // version to go back to.
    let (arns, (current, listed), canary, seen) = tokio::try_join!(
        async {
            deploy::locate(&reader, &project)
                .await
                .map_err(miette::Report::from)
        },
        served_and_published(&reader, &names),
        async {
            reader
                .alias_canary(&names.function, &names.alias)
                .await
                .map_err(miette::Report::from)
        },
        // A look at the lease saves a round trip when taking it.
        async { Ok(lease::peek(&reader, &names).await) },
    )?;
    let numbers: Vec<String> = listed.iter().map(|v| v.version.clone()).collect();
    rollback_to(&numbers, &current, canary.as_ref(), args.to.as_deref())?;
    let timeout = args.lock_timeout;
    let ask = lease::Ask {
        reader: &reader,
        writer: &writer,
        names: &names,
        command: "rollback",
        timeout,
        seen,
        ends_stage: false,
    };
    let (names, current, to, info, handlers) = lease::with_lease(ui, ask, async |lease| {
        roll_back(ui, &args, &arns, &reader, &writer, lease).await
    })
    .await?;
    // The version now served, checked through the alias like after a
    // deploy: a verdict, not a gate (the alias has already moved).
    let planned = crate::deploy::checks::plan(&project);
    if args.skip_checks && !planned.is_empty() {
        ui.alert(format!(
            "--skip-checks: stage {} serves version {to} without its {} [[checks]] run",
            names.stage,
            planned.len()
        ));
    }
    let verification = if planned.is_empty() || args.skip_checks {
        None
    } else {
        let on = crate::deploy::checks::On::Alias;
        let verdict = crate::deploy::checks::run(&reader, &names, on, &planned).await;
        ui.step(verdict.summary());
        Some(verdict)
    };
    ui.result(
        format!(
            "stage {} now serves version {to} (was {current}) in {}{}",
            names.stage,
            crate::ui::seconds(started.elapsed()),
            info.as_ref()
                .map(|i| format!("\n  {}", i.description))
                .unwrap_or_default()
                + &handlers
                    .iter()
                    .map(|h| format!("\n  handler {} now serves version {}", h.handler, h.to))
                    .collect::<String>()
        ),
        &json!({
            "stage": names.stage,
            "from": current,
            "to": to,
            "version": info,
            "handlers": handlers,
            "verification": verification,
        }),
    );
    if let Some(verdict) = verification.filter(|v| !v.ok()) {
        return Err(super::ChecksFailed::after_move(&verdict, &names.stage).into());
    }
    Ok(Outcome::Success)
}

/// Under the lease: reads the versions again (a deploy may have run
/// meanwhile), moves the alias; returns the stage's names, the version
/// served before and after, and the new one's details.
async fn roll_back(
    ui: &Ui,
    args: &RollbackArgs,
    arns: &StageArns,
    reader: &Reader,
    writer: &Writer,
    lease: &Lease,
) -> miette::Result<(
    StageNames,
    String,
    String,
    Option<VersionInfo>,
    Vec<HandlerMoved>,
)> {
    let names = arns.names().clone();
    let canary = async {
        reader
            .alias_canary(&names.function, &names.alias)
            .await
            .map_err(miette::Report::from)
    };
    let ((current, listed), canary) =
        tokio::try_join!(served_and_published(reader, &names), canary)?;
    let numbers: Vec<String> = listed.iter().map(|v| v.version.clone()).collect();
    let to = rollback_to(&numbers, &current, canary.as_ref(), args.to.as_deref())?;
    if canary.is_some() && args.to.is_none() {
        ui.step(format!(
            "ending the canary: version {current} takes all of stage {} again",
            names.stage
        ));
    }
    let info = listed.into_iter().find(|v| v.version == to);
    // The handlers' aliases go back with the API's: one release.
    let handlers = match &info {
        Some(info) => handlers_of_release(ui, reader, &names, info).await?,
        None => Vec::new(),
    };
    let mut actions = vec![Action::Alias(AliasAction::PointAlias {
        function: names.function.clone(),
        alias: names.alias.clone(),
        version: to.clone(),
    })];
    actions.extend(handlers.iter().map(|moved| {
        Action::Alias(AliasAction::PointAlias {
            function: names.event_function(&moved.handler),
            alias: names.alias.clone(),
            version: moved.to.clone(),
        })
    }));
    let plan = Plan::of(actions);
    let target = Target::new(writer, reader, arns);
    lease.apply(&target, &plan, ui).await?;
    Ok((names, current, to, info, handlers))
}

/// An event handler's alias moved by a rollback.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct HandlerMoved {
    handler: String,
    from: Option<String>,
    to: String,
}

/// Where each event handler's alias goes for the release of `target`
/// (the API's version): the handler's version of that release. A handler
/// without one (it came later) keeps what it serves, said in a warning.
async fn handlers_of_release(
    ui: &Ui,
    reader: &Reader,
    names: &StageNames,
    target: &VersionInfo,
) -> miette::Result<Vec<HandlerMoved>> {
    let handlers = event_function::discover(reader, names).await?;
    let reads = handlers.iter().map(|handler| async move {
        let function = names.event_function(handler);
        let (served, listed) = tokio::try_join!(
            reader.function(&function, Some(&names.alias)),
            reader.versions(&function),
        )?;
        Ok::<_, crate::aws::AwsError>((handler.clone(), served.map(|f| f.version), listed))
    });
    let mut moved = Vec::new();
    for (handler, served, listed) in futures_util::future::try_join_all(reads).await? {
        if served.is_none() && listed.is_empty() {
            continue;
        }
        match versions::same_release(target, &listed) {
            Some(to) if Some(&to) != served.as_ref() => moved.push(HandlerMoved {
                handler,
                from: served,
                to,
            }),
            Some(_) => {}
            None => ui.warn(format!(
                "handler {handler} has no version from that release (it was added later): it keeps serving version {}",
                served.as_deref().unwrap_or("(none)")
            )),
        }
    }
    Ok(moved)
}

/// Where a rollback points the alias: with a canary in progress (a deploy
/// killed while watching it) and no `--to`, at the version it serves,
/// which ends the canary; otherwise the version before the served one.
fn rollback_to(
    numbers: &[String],
    current: &str,
    canary: Option<&Canary>,
    to: Option<&str>,
) -> Result<String, versions::RollbackError> {
    match (canary, to) {
        (Some(_), None) => Ok(current.to_string()),
        _ => versions::rollback_target(numbers, current, to),
    }
}
