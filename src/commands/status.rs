//! `slx status`: what is deployed, and how it differs from slx.toml and
//! the last local build (the plan a deploy would make, as drift).

use serde_json::json;

use super::Outcome;
use super::stage::{self, open_and_read};
use crate::cli::{GlobalArgs, StatusArgs};
use crate::deploy::desired::Desired;
use crate::deploy::lease;
use crate::deploy::plan::plan;
use crate::deploy::resources::event_function;
use crate::handler;
use crate::ui::Ui;

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: StatusArgs) -> miette::Result<Outcome> {
    let (stage, actual) = open_and_read(ui, global, &args.stage).await?;
    let arns = &stage.arns;
    let changing = lease::current_holder(&stage.reader, arns.names())
        .await?
        .map(|holder| {
            holder.map_or_else(
                || "by a process whose lease names no owner".to_string(),
                |h| h.describe(),
            )
        });
    let Some(function) = &actual.function else {
        ui.result(
            format!(
                "stage {} of {} is not deployed (run `slx deploy --stage {}`)",
                arns.stage, arns.app, arns.stage
            ),
            &json!({ "deployed": false, "stage": arns.stage, "function_name": arns.function }),
        );
        return Ok(Outcome::Success);
    };
    // Compare against the last local build when there is one; otherwise
    // only configuration and routes can be compared.
    let local_zip = handler::last_built_zip(&stage.app_dir, stage.project.arch);
    let local_sha = std::fs::read(&local_zip)
        .ok()
        .map(|zip| handler::archive::code_sha256(&zip));
    let compare_sha = local_sha
        .clone()
        .unwrap_or_else(|| function.code_sha256.clone());
    let desired = Desired::new(&stage.project, arns, &compare_sha, String::new());
    let drift: Vec<String> = plan(arns.names(), Some(&desired), &actual)
        .actions()
        .map(|a| a.info().describe(arns.names()))
        .collect();
    let api_id = actual.api.as_ref().map(|a| a.id.clone());
    let url = api_id
        .as_deref()
        .filter(|_| stage::public_urls(&stage.reader))
        .map(|id| arns.invoke_url(id));
    let routes: Vec<String> = actual
        .api
        .iter()
        .flat_map(|api| api.routes_to(Some(&arns.integration_uri())))
        .collect();
    let custom_domain = stage.project.domain.as_ref().map(|domain| {
        crate::deploy::resources::domain::CustomDomain::of(domain, &actual.domain, None)
    });
    let version = actual.alias.served.as_ref().map(|f| f.version.clone());
    let handlers = event_function::deployed_handlers(arns.names(), &actual);
    let mut text = format!(
        "stage {} of {} in {}\n  function  {} ({}, {} MB, {}s)\n  alias     {} → version {}\n  code      {}{}\n  api       {}\n  url       {}\n  routes    {}\n",
        arns.stage,
        arns.app,
        arns.region,
        arns.function,
        function.arch,
        function.memory,
        function.timeout,
        arns.alias,
        version.as_deref().unwrap_or("(missing)"),
        function.code_sha256,
        match &local_sha {
            Some(sha) if *sha == function.code_sha256 =>
                " (same as the last local build)".to_string(),
            Some(_) => " (differs from the last local build)".to_string(),
            None => " (no local build to compare; run `slx build`)".to_string(),
        },
        api_id.as_deref().unwrap_or("(missing)"),
        url.as_deref().unwrap_or("-"),
        if routes.is_empty() {
            "-".to_string()
        } else {
            routes.join(", ")
        },
    );
    if let Some(domain) = &custom_domain {
        text.push_str(&format!("  domain    {}\n", domain.line()));
    }
    for handler in &handlers {
        text.push_str(&format!(
            "  handler   {} → {} version {}, {}\n",
            handler.handler,
            handler.function,
            handler.version.as_deref().unwrap_or("(missing)"),
            handler.source
        ));
    }
    if let Some(holder) = &changing {
        text.push_str(&format!("  change    in progress: {holder}\n"));
    }
    if let Some(canary) = &actual.alias.canary {
        text.push_str(&format!(
            "  canary    {:.0}% to version {} (unfinished: `slx deploy` promotes it, `slx rollback` ends it)\n",
            canary.weight * 100.0,
            canary.version
        ));
    }
    if drift.is_empty() {
        text.push_str("in sync with slx.toml");
    } else {
        text.push_str(&format!(
            "differs from local ({}):\n    {}",
            drift.len(),
            drift.join("\n    ")
        ));
    }
    ui.result(
        text,
        &json!({
            "deployed": true,
            "stage": arns.stage,
            "function_name": arns.function,
            "arch": function.arch,
            "memory": function.memory,
            "timeout": function.timeout,
            "version": version,
            "code_sha256": function.code_sha256,
            "local_code_sha256": local_sha,
            "rest_api_id": api_id,
            "url": url,
            "custom_domain": custom_domain,
            "routes": routes,
            "in_sync": drift.is_empty(),
            "differences": drift,
            "change_in_progress": changing,
            "canary": actual.alias.canary,
            "handlers": handlers,
        }),
    );
    Ok(Outcome::Success)
}
