//! `slx iam-policy`: the IAM policy a deployer needs for one stage, to
//! attach to the CI role or user that runs slx; `--read-only` for a role
//! that may only look (a pull request's plan); `--roles`, the roles the
//! stage runs with; `--function-role`, what a role made elsewhere for its
//! functions needs.

use super::Outcome;
use super::stage;
use crate::cli::{GlobalArgs, IamPolicyArgs};
use crate::deploy::deployer_policy;
use crate::names::StageArns;
use crate::ui::Ui;

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: IamPolicyArgs,
) -> miette::Result<Outcome> {
    let (project, _) = stage::resolve(ui, global, &args.target.stage)?;
    // The account: slx.toml's `account` if the stage is pinned, else the
    // caller's, else a wildcard (the policy is still scoped by name).
    let (region, account, caller_arn) = match &project.account {
        Some(account) => (
            global.region.clone().or_else(|| project.region.clone()),
            account.clone(),
            String::new(),
        ),
        None => match stage::connect(ui, global, &project).await {
            Ok((reader, _writer)) => match reader.caller_identity().await {
                Ok(identity) => (
                    Some(reader.region().to_string()),
                    identity.account,
                    identity.arn,
                ),
                Err(error) => {
                    ui.warn(format!(
                        "could not identify the account ({}); the policy uses `*` for it",
                        error.detail
                    ));
                    (Some(reader.region().to_string()), "*".into(), String::new())
                }
            },
            Err(error) => {
                ui.warn(format!(
                    "no AWS configuration ({error}); the policy uses `*` for the region and account"
                ));
                (None, "*".into(), String::new())
            }
        },
    };
    let region = region.unwrap_or_else(|| "*".into());
    let arns = StageArns::new(project.names(), &region, &account, &caller_arn);
    let document = if args.roles {
        crate::deploy::policy::stage_roles(&project, &arns)
    } else if args.function_role {
        crate::deploy::policy::stage_roles(&project, &arns)["roles"][0].take()
    } else {
        deployer_policy::document(&arns, &project, args.read_only)
    };
    let text = serde_json::to_string_pretty(&document).unwrap_or_default();
    ui.result(text, &document);
    Ok(Outcome::Success)
}
