//! docs/output.md promises each command's `--output json` fields: every
//! command runs here through the real binary against the simulator (so
//! `invoke` gets a real answer), and what it printed is compared with the
//! table. `slx build` is checked where it is built (tests/it/build.rs).

use std::collections::BTreeSet;

use serde_json::Value;
use slx_sim::Behaviours;

use crate::common::moto::Moto;
use crate::common::stage::{Project, zips};
use crate::common::{assert_documented, documented_outputs, run, slx, stdout_json};

struct Checked {
    rows: BTreeSet<String>,
}

impl Checked {
    /// `output` succeeded (or failed, when `ok` is false) and printed the
    /// fields documented for `row`; returns the object.
    fn json(&mut self, row: &str, output: &std::process::Output, ok: bool) -> Value {
        assert_eq!(output.status.success(), ok, "`{row}` exit status");
        let value = stdout_json(output);
        assert_documented(row, &value);
        self.rows.insert(row.to_string());
        value
    }
}

#[test]
fn every_command_prints_the_json_fields_docs_output_md_lists() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (_sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    let zips = zips();
    let mut checked = Checked {
        rows: BTreeSet::new(),
    };

    let elsewhere = tempfile::tempdir().unwrap();
    let output = run(slx(elsewhere.path()).args(["init", "other", "--output", "json"]));
    let init = checked.json("slx init", &output, true);
    assert_eq!(init["name"], "other");
    assert!(init["files"].as_array().unwrap().len() >= 3, "{init}");

    // A timeout above API Gateway's 29 s is valid, with a located warning.
    project.edit("timeout = 10", "timeout = 60");
    let valid = checked.json("slx validate", &project.slx(&["validate"]), true);
    let warning = &valid["warnings"][0];
    let mut fields: Vec<_> = warning.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["column", "file", "help", "key", "line", "message"],
        "{warning}"
    );
    assert_eq!(warning["key"], "app.timeout");
    project.edit("timeout = 60", "timeout = 10");
    project.edit("memory = 256", "memroy = 256");
    let invalid = checked.json("slx validate (invalid)", &project.slx(&["validate"]), false);
    assert_eq!(invalid["valid"], false);
    assert!(
        invalid["errors"][0]["help"]
            .as_str()
            .unwrap()
            .contains("memory")
    );
    project.edit("memroy = 256", "memory = 256");

    let output = project.slx(&["status", "--stage", "dev"]);
    checked.json("slx status (not deployed)", &output, true);
    let v1 = zips.v1.to_str().unwrap();
    let plan = checked.json("slx plan", &project.slx(&["plan", "--zip", v1]), true);
    assert!(plan["changes"].as_u64().unwrap() > 0);
    let deployed = checked.json(
        "slx deploy",
        &project.deploy_output("dev", &zips.v1, &[]),
        true,
    );
    assert_eq!(deployed["changed"], true);
    project.deploy("dev", &zips.v2);
    let status = checked.json(
        "slx status",
        &project.slx(&["status", "--stage", "dev"]),
        true,
    );
    assert_eq!(status["version"], "2");
    let versions = checked.json(
        "slx versions",
        &project.slx(&["versions", "--stage", "dev"]),
        true,
    );
    assert_eq!(versions["current"], "2");
    let output = project.slx(&["promote", "--from", "dev", "--to", "prod"]);
    let promoted = checked.json("slx promote", &output, true);
    assert_eq!(promoted["stage"], "prod");
    let rollback = checked.json(
        "slx rollback",
        &project.slx(&["rollback", "--stage", "dev"]),
        true,
    );
    assert_eq!(
        (rollback["from"].as_str(), rollback["to"].as_str()),
        (Some("2"), Some("1"))
    );

    let output = project.slx(&[
        "invoke",
        "--stage",
        "dev",
        "POST /greet",
        "--data",
        r#"{"name":"json"}"#,
    ]);
    let invoked = checked.json("slx invoke", &output, true);
    assert_eq!(invoked["status"], 200);

    let output = project.slx(&["logs", "--stage", "dev"]);
    assert!(output.status.success());
    let events: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert!(events.len() >= 3, "START, REPORT and more: {events:?}");
    for event in &events {
        assert_documented("slx logs (each event)", event);
    }
    checked.rows.insert("slx logs (each event)".into());

    let output = project.slx(&["iam-policy", "--stage", "dev"]);
    checked.json("slx iam-policy", &output, true);
    let output = project.slx(&["iam-policy", "--stage", "dev", "--roles"]);
    let roles = checked.json("slx iam-policy --roles", &output, true);
    assert_eq!(roles["roles"][0]["name"], "shop-dev-role", "{roles}");
    let output = project.slx(&["iam-policy", "--stage", "dev", "--function-role"]);
    let role = checked.json("slx iam-policy --function-role", &output, true);
    assert_eq!(role["made_by"], "slx", "{role}");

    let output = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    let undeployed = checked.json("slx undeploy", &output, true);
    assert_eq!(undeployed["changed"], true);

    checked.rows.insert("slx build".into());
    // Checked by tests/it/events.rs, which has an app with event handlers.
    checked.rows.insert("slx invoke --handler".into());
    // Checked by tests/it/api_keys.rs, whose app has keyed routes.
    // And by tests/it/cli.rs, which checks the doctor against moto.
    for row in [
        "slx keys create",
        "slx keys list",
        "slx keys revoke",
        "slx doctor",
    ] {
        checked.rows.insert(row.into());
    }
    let documented: BTreeSet<String> = documented_outputs().into_keys().collect();
    assert_eq!(checked.rows, documented, "every documented row is checked");
}
