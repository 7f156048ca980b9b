//! Smoke checks (`[[checks]]`) through the real binary and the simulator,
//! whose Invoke runs each version's real bootstrap: a version that fails
//! them never takes the stage's traffic.

use serde_json::Value;
use slx_sim::Behaviours;

use crate::common::moto::Moto;
use crate::common::stage::{Project, steps, zips};
use crate::common::stdout_json;

/// What the stage serves now: the greeting of `POST /greet` through the
/// alias (v1 says "hello, sim!", v2 "hello, dear sim!").
fn served_greeting(project: &Project) -> String {
    let answer = project.greet("dev", "sim");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    body["message"].as_str().unwrap().to_string()
}

#[test]
fn a_version_that_fails_its_checks_never_takes_the_stage() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (_sim, project) = Project::behind_simulator(&moto, Behaviours::default());

    // The project's check (POST /greet → 200 with the name) passes on v1:
    // checked on the version, then again through the alias after it moved.
    let first = project.deploy("dev", &zips().v1);
    assert_eq!(first["checks"]["target"], "version 1", "{first}");
    assert_eq!(
        (
            first["checks"]["passed"].as_u64(),
            first["checks"]["failed"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(first["checks"]["results"][0]["request"], "POST /greet");
    assert_eq!(first["checks"]["results"][0]["status"], 200);
    assert_eq!(first["verification"]["target"], "alias dev");
    assert_eq!(first["verification"]["passed"], 1);
    assert_eq!(first["checks_skipped"], false);
    assert_eq!(served_greeting(&project), "hello, sim!");

    // A route whose handler panics in v2 (500), and a check on it.
    project.edit(
        "\"GET /health\" = \"health\"",
        "\"GET /health\" = \"health\"\n\"GET /boom\" = \"boom\"",
    );
    project.edit(
        "[stages.prod]",
        "[[checks]]\nrequest = \"GET /boom\"\n\n[stages.prod]",
    );
    let plan = project.slx(&[
        "plan",
        "--stage",
        "dev",
        "--zip",
        zips().v2.to_str().unwrap(),
        "--output",
        "text",
    ]);
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains("run 2 checks on it"), "{plan}");

    let output = project.deploy_output("dev", &zips().v2, &[]);
    assert_eq!(output.status.code(), Some(3), "failed checks exit 3");
    let report = stdout_json(&output);
    assert_eq!(report["version"], "2", "published, left unpointed");
    assert_eq!(
        (
            report["checks"]["passed"].as_u64(),
            report["checks"]["failed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let boom = report["checks"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["request"] == "GET /boom")
        .unwrap();
    assert_eq!(boom["passed"], false);
    assert_eq!(boom["status"], 500);
    assert_eq!(boom["problem"], "status 500, expected 200");
    assert!(
        boom["body"]
            .as_str()
            .unwrap()
            .contains("Internal server error"),
        "{boom}"
    );
    assert_eq!(report["verification"], Value::Null);
    // The new routes did not go live either: no API deployment ran.
    assert!(
        !steps(&report).contains(&"deploy_api".to_string()),
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the stage alias was not moved"), "{stderr}");
    assert!(
        stderr.contains("GET /boom: status 500, expected 200"),
        "{stderr}"
    );
    assert_eq!(served_greeting(&project), "hello, sim!", "v1 still serves");
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["version"], "1");

    // --skip-checks moves the stage anyway, and says so.
    let output = project.deploy_output("dev", &zips().v2, &["--skip-checks"]);
    assert!(output.status.success());
    let report = stdout_json(&output);
    assert_eq!(report["checks_skipped"], true);
    assert_eq!(report["checks"], Value::Null);
    assert_eq!(report["verification"], Value::Null);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--skip-checks"), "{stderr}");
    assert_eq!(served_greeting(&project), "hello, dear sim!");

    // A rollback checks what it moved to, through the alias: v1 has no
    // /boom handler, so the verdict fails (exit 3) though the alias moved.
    let output = project.slx(&["rollback", "--stage", "dev"]);
    assert_eq!(output.status.code(), Some(3));
    let rolled = stdout_json(&output);
    assert_eq!(rolled["to"], "1");
    assert_eq!(rolled["verification"]["failed"], 1, "{rolled}");
    assert_eq!(served_greeting(&project), "hello, sim!");
    // `--skip-checks`: moved without the verdict, said loudly.
    let args = |to| ["rollback", "--stage", "dev", "--to", to, "--skip-checks"];
    assert!(project.slx(&args("2")).status.success());
    let output = project.slx(&args("1"));
    assert!(output.status.success(), "the failing check was not run");
    assert_eq!(stdout_json(&output)["verification"], Value::Null);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("--skip-checks"), "{said}");
    project.edit("[[checks]]\nrequest = \"GET /boom\"\n\n", "");
    let output = project.slx(&["rollback", "--stage", "dev", "--to", "2"]);
    assert!(output.status.success());
    let rolled = stdout_json(&output);
    assert_eq!(rolled["verification"]["passed"], 1, "{rolled}");
    assert_eq!(rolled["verification"]["failed"], 0);
}
