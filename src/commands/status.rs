//! `slx status`: what is deployed, and how it differs from slx.toml and
//! the last local build (the plan a deploy would make, as drift).

use serde_json::json;

use super::Outcome;
use super::stage::{self, open_and_read};
use crate::cli::{GlobalArgs, StatusArgs};
use crate::deploy::desired::Desired;
use crate::deploy::lease;
use crate::deploy::plan::plan;
use crate::deploy::resources::{self, Actual, StatusView};
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
        // An undeployed VPC stage's role, kept for Lambda.
        let held = crate::deploy::resources::role::held_interfaces(&actual.role);
        let kept = if held.is_empty() {
            String::new()
        } else {
            format!(
                "; its IAM role {} stays until Lambda releases {}, then `slx undeploy --stage {}` deletes it",
                arns.role,
                held.join(", "),
                arns.stage
            )
        };
        ui.result(
            format!(
                "stage {} of {} is not deployed (run `slx deploy --stage {}`){kept}",
                arns.stage, arns.app, arns.stage
            ),
            &json!({
                "deployed": false,
                "stage": arns.stage,
                "function_name": arns.function,
                "held_interfaces": held,
            }),
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
    let by_route = crate::handler::authorizers_by_route(&stage.project, &stage.app_dir);
    let desired = Desired::new(&stage.project, arns, &compare_sha, String::new(), by_route);
    let drift: Vec<String> = plan(arns.names(), Some(&desired), &actual)
        .actions()
        .map(|a| a.info().describe(arns.names()))
        .collect();
    let view = StatusView {
        arns,
        domain: stage.project.domain.as_ref(),
        local_sha: local_sha.as_deref(),
        public_urls: stage::public_urls(&stage.reader),
    };
    let (text, json) = describe(&view, &actual, &drift, changing.as_deref());
    ui.result(text, &json);
    Ok(Outcome::Success)
}

/// The text and JSON of a deployed stage's status: what every kind
/// shows, the lease's holder, and how the stage differs from slx.toml.
fn describe(
    view: &StatusView<'_>,
    actual: &Actual,
    drift: &[String],
    changing: Option<&str>,
) -> (String, serde_json::Value) {
    let arns = view.arns;
    let mut status = resources::status(view, actual);
    if let Some(holder) = changing {
        status = status.line("change", format!("in progress: {holder}"));
    }
    let mut text = format!(
        "stage {} of {} in {}\n{}",
        arns.stage,
        arns.app,
        arns.region,
        status.text()
    );
    if drift.is_empty() {
        text.push_str("in sync with slx.toml");
    } else {
        text.push_str(&format!(
            "differs from local ({}):\n    {}",
            drift.len(),
            drift.join("\n    ")
        ));
    }
    let json = status
        .field("deployed", true)
        .field("stage", &arns.stage)
        .field("function_name", &arns.function)
        .field("local_code_sha256", view.local_sha)
        .field("in_sync", drift.is_empty())
        .field("differences", drift)
        .field("change_in_progress", changing)
        .fields;
    (text, serde_json::Value::Object(json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{Canary, ScheduleSpec};
    use crate::deploy::desired::tests::desired;
    use crate::deploy::resources::event_function::HandlerState;
    use crate::deploy::resources::fixtures::{converged, function};

    /// A stage with a canary, a custom domain, a scheduled handler and
    /// a change under way.
    fn shown() -> (String, serde_json::Value) {
        let desired = desired();
        let mut actual = converged(&desired);
        actual.alias.canary = Some(Canary {
            version: "2".into(),
            weight: 0.1,
        });
        let handler = function(&desired, "$LATEST");
        actual.event_function.insert(
            "nightly".into(),
            HandlerState {
                served: Some(function(&desired, "3")),
                latest: Some(handler),
                ..HandlerState::default()
            },
        );
        actual.schedule.schedules.push(ScheduleSpec {
            name: "nightly".into(),
            expression: "rate(1 hour)".into(),
            timezone: None,
            target_arn: String::new(),
            role_arn: String::new(),
            input: String::new(),
        });
        if let Some(role) = actual.role.as_mut() {
            role.interfaces = vec!["eni-1".into()];
        }
        let domain = crate::config::Domain {
            name: "api.example.com".into(),
            certificate: "arn:aws:acm:eu-west-1:1:certificate/c".into(),
            base_path: Some("v1".into()),
            hosted_zone: None,
        };
        let view = StatusView {
            arns: &desired.arns,
            domain: Some(&domain),
            local_sha: Some("other"),
            public_urls: true,
        };
        describe(
            &view,
            &actual,
            &["~ something".into()],
            Some("deploy by ci"),
        )
    }

    #[test]
    fn a_deployed_stage_shows_each_kind_in_its_place() {
        let (text, json) = shown();
        let lines: Vec<&str> = text.lines().collect();
        let expected_starts = [
            "stage dev of shop in eu-west-1",
            "  function  shop-dev (x86_64, 256 MB, 10s)",
            "  alias     dev → version 1",
            "  code      sha-1 (differs from the last local build)",
            "  api       api",
            "  url       https://api.execute-api.eu-west-1.amazonaws.com/dev",
            "  routes    POST /greet, POST /orders/{id}",
            "  domain    https://api.example.com/v1",
            "  handler   nightly → shop-dev-nightly version 3, schedule rate(1 hour)",
            "  role      keeps what Lambda needs to release eni-1",
            "  change    in progress: deploy by ci",
            "  canary    10% to version 2 (unfinished",
            "differs from local (1):",
            "    ~ something",
        ];
        assert_eq!(lines.len(), expected_starts.len(), "{text}");
        for (line, start) in lines.iter().zip(expected_starts) {
            assert!(line.starts_with(start), "{line:?} should start {start:?}");
        }
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "arch",
                "canary",
                "change_in_progress",
                "code_sha256",
                "custom_domain",
                "deployed",
                "differences",
                "function_name",
                "handlers",
                "held_interfaces",
                "in_sync",
                "local_code_sha256",
                "memory",
                "rest_api_id",
                "routes",
                "stage",
                "timeout",
                "url",
                "version",
            ]
        );
        assert_eq!(json["version"], "1");
        assert_eq!(json["handlers"][0]["source"], "schedule rate(1 hour)");
        assert_eq!(json["custom_domain"]["url"], "https://api.example.com/v1");
        assert_eq!(json["routes"][1], "POST /orders/{id}");
    }

    /// After a rollback the alias serves an older version while `$LATEST`
    /// keeps the newer code: status says what is served, and that
    /// `$LATEST` differs.
    #[test]
    fn a_rolled_back_stage_shows_what_the_alias_serves() {
        let desired = desired();
        let mut actual = converged(&desired);
        let latest = actual.function.as_mut().unwrap();
        latest.code_sha256 = "sha-2".into();
        latest.memory = 512;
        let view = StatusView {
            arns: &desired.arns,
            domain: None,
            local_sha: Some("sha-2"),
            public_urls: false,
        };
        let (text, json) = describe(&view, &actual, &[], None);
        assert!(
            text.contains("  function  shop-dev (x86_64, 256 MB, 10s)\n"),
            "{text}"
        );
        assert!(
            text.contains("  code      sha-1 (differs from the last local build)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  latest    $LATEST differs from what the alias serves: code sha-2, 512 MB"
            ),
            "{text}"
        );
        assert_eq!(json["code_sha256"], "sha-1");
        assert_eq!(json["memory"], 256);
        // The order: the latest line after the code line.
        let code = text.find("  code ").unwrap();
        let latest = text.find("  latest ").unwrap();
        assert!(code < latest && latest < text.find("  api ").unwrap());
    }
}
