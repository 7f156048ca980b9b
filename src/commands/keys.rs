//! `slx keys create|list|revoke NAME --stage S`: the stage's API keys,
//! for routes with `api_key = true`. A key's value is printed once, by
//! `create`, and never again: not by `list`, `status` or any log.
//! Create and revoke are one action each of the usage plan's kind,
//! applied under the stage's lease like a deploy.

use serde_json::json;

use super::Outcome;
use super::stage;
use crate::aws::{Reader, Writer};
use crate::cli::{GlobalArgs, KeyArgs, KeysAction, StatusArgs};
use crate::config::Project;
use crate::deploy::apply::Target;
use crate::deploy::plan::Plan;
use crate::deploy::resources::usage_plan::{CreatedKey, UsagePlanAction, UsagePlans, read_plans};
use crate::deploy::resources::{Action, Outputs};
use crate::names::StageArns;
use crate::ui::Ui;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(super) enum KeysError {
    #[error("no route of stage {stage} requires an API key")]
    #[diagnostic(
        code(slx::keys::not_required),
        help(
            "add `api_key = true` to the routes partners call, e.g. `\"GET /reports\" = {{ handler = \"reports\", api_key = true }}`, and deploy"
        )
    )]
    NotRequired { stage: String },
    #[error("stage {stage} has no usage plan yet")]
    #[diagnostic(
        code(slx::keys::no_plan),
        help("deploy it first (`slx deploy --stage {stage}`): keys go in its usage plan")
    )]
    NoPlan { stage: String },
    #[error("`{name}` cannot name a key: {problem}")]
    #[diagnostic(
        code(slx::keys::bad_name),
        help("use lowercase letters, digits and `-`, starting with a letter, e.g. `partner-a`")
    )]
    BadName { name: String, problem: String },
    #[error("stage {stage} already has a key `{name}`")]
    #[diagnostic(
        code(slx::keys::exists),
        help("choose another name, or `slx keys revoke {name} --stage {stage}` first")
    )]
    Exists { stage: String, name: String },
    #[error("stage {stage} has no key `{name}`")]
    #[diagnostic(code(slx::keys::unknown), help("{help}"))]
    Unknown {
        stage: String,
        name: String,
        help: String,
    },
}

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    action: KeysAction,
) -> miette::Result<Outcome> {
    match action {
        KeysAction::List(args) => list(ui, global, args).await,
        KeysAction::Create(args) => create(ui, global, args).await,
        KeysAction::Revoke(args) => revoke(ui, global, args).await,
    }
}

/// The stage's keys, its names, and its usage plans.
async fn open(
    ui: &Ui,
    global: &GlobalArgs,
    stage_name: &str,
) -> miette::Result<(Project, Reader, Writer, StageArns, UsagePlans)> {
    let (project, _) = stage::resolve(ui, global, stage_name)?;
    let (reader, writer) = stage::connect(ui, global, &project).await?;
    let names = project.names();
    let (arns, plans) = tokio::try_join!(
        async {
            crate::deploy::locate(&reader, &project)
                .await
                .map_err(miette::Report::from)
        },
        async {
            read_plans(&reader, &names)
                .await
                .map_err(miette::Report::from)
        },
    )?;
    Ok((project, reader, writer, arns, plans))
}

async fn list(ui: &Ui, global: &GlobalArgs, args: StatusArgs) -> miette::Result<Outcome> {
    let (project, _, _, _, plans) = open(ui, global, &args.stage).await?;
    let mut keys: Vec<_> = plans.keys.iter().collect();
    keys.sort_by(|a, b| a.name.cmp(&b.name));
    let held = |id: &str| plans.plan.as_ref().is_some_and(|p| p.key_ids.contains(id));
    let mut text = match keys.is_empty() {
        true => format!("stage {} has no API keys", project.stage),
        false => format!(
            "API keys of stage {} (values are shown only at creation):",
            project.stage
        ),
    };
    for key in &keys {
        text.push_str(&format!(
            "\n  {:<20} {:<12} {}{}",
            key.name,
            key.info.id,
            created(key.info.created),
            match (key.info.enabled, held(&key.info.id)) {
                (false, _) => "  (disabled)",
                (true, false) => "  (not in the usage plan: `slx deploy` puts it back)",
                (true, true) => "",
            }
        ));
    }
    let listed: Vec<_> = keys
        .iter()
        .map(|key| {
            json!({
                "name": key.name,
                "id": key.info.id,
                "enabled": key.info.enabled,
                "created": created(key.info.created),
                "in_usage_plan": held(&key.info.id),
            })
        })
        .collect();
    ui.result(text, &json!({ "stage": project.stage, "keys": listed }));
    Ok(Outcome::Success)
}

/// `2026-11-27T10:00:00Z`, or empty when unknown.
fn created(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

async fn create(ui: &Ui, global: &GlobalArgs, args: KeyArgs) -> miette::Result<Outcome> {
    if let Some(problem) = crate::config::limits::name_problem(&args.name) {
        return Err(KeysError::BadName {
            name: args.name,
            problem: problem.into(),
        }
        .into());
    }
    let (project, reader, writer, arns, plans) = open(ui, global, &args.stage).await?;
    if !project.routes.iter().any(|route| route.api_key) {
        return Err(KeysError::NotRequired {
            stage: project.stage,
        }
        .into());
    }
    let Some(plan) = &plans.plan else {
        return Err(KeysError::NoPlan {
            stage: project.stage,
        }
        .into());
    };
    if plans.key(&args.name).is_some() {
        return Err(KeysError::Exists {
            stage: project.stage,
            name: args.name,
        }
        .into());
    }
    let action = UsagePlanAction::CreateApiKey {
        name: args.name.clone(),
        plan: plan.info.id.clone(),
    };
    let outputs = apply(ui, &reader, &writer, &arns, action, args.lock_timeout).await?;
    let Some(key) = outputs.get::<CreatedKey>() else {
        return Err(miette::miette!(
            "API Gateway made the key but did not return it"
        ));
    };
    ui.result(
        format!(
            "API key {} of stage {}:\n  {}\nstore it now: slx never shows it again (callers send it as the `x-api-key` header)",
            args.name, project.stage, key.value.0
        ),
        &json!({
            "stage": project.stage,
            "name": args.name,
            "id": key.id,
            "value": key.value.0,
        }),
    );
    Ok(Outcome::Success)
}

async fn revoke(ui: &Ui, global: &GlobalArgs, args: KeyArgs) -> miette::Result<Outcome> {
    let (project, reader, writer, arns, plans) = open(ui, global, &args.stage).await?;
    let Some(key) = plans.key(&args.name) else {
        let known: Vec<&str> = plans.keys.iter().map(|k| k.name.as_str()).collect();
        let help = match crate::config::closest_match(&args.name, &known) {
            Some(best) => format!("did you mean `{best}`?"),
            None if known.is_empty() => format!("stage {} has no keys", project.stage),
            None => format!("its keys: {}", known.join(", ")),
        };
        return Err(KeysError::Unknown {
            stage: project.stage,
            name: args.name,
            help,
        }
        .into());
    };
    let action = UsagePlanAction::DeleteApiKey {
        id: key.info.id.clone(),
        name: args.name.clone(),
    };
    apply(ui, &reader, &writer, &arns, action, args.lock_timeout).await?;
    ui.result(
        format!(
            "API key {} of stage {} revoked: calls with it are refused (403)",
            args.name, project.stage
        ),
        &json!({ "stage": project.stage, "name": args.name, "id": key.info.id }),
    );
    Ok(Outcome::Success)
}

/// Applies one action under the stage's lease.
async fn apply(
    ui: &Ui,
    reader: &Reader,
    writer: &Writer,
    arns: &StageArns,
    action: UsagePlanAction,
    timeout: std::time::Duration,
) -> miette::Result<Outputs> {
    let ask = crate::deploy::lease::Ask {
        reader,
        writer,
        names: arns.names(),
        command: "keys",
        timeout,
        seen: None,
        ends_stage: false,
    };
    let plan = Plan::of(vec![Action::UsagePlan(action)]);
    let target = Target::new(writer, reader, arns);
    crate::deploy::lease::with_lease(ui, ask, async |lease| {
        Ok(lease.apply(&target, &plan, ui).await?.outputs)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_times_are_rfc3339_utc() {
        assert_eq!(created(Some(1_795_720_259)), "2026-11-26T19:10:59Z");
        assert_eq!(created(None), "");
    }

    #[test]
    fn the_value_never_shows_in_debug_output() {
        let key = crate::deploy::resources::usage_plan::CreatedKey {
            id: "k1".into(),
            value: crate::deploy::resources::usage_plan::SecretValue("s3cr3t-value".into()),
        };
        assert!(!format!("{key:?}").contains("s3cr3t"));
    }
}
