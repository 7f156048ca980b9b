//! Deploys through `slx-sim`, the simulator of what real AWS does that
//! moto does not: per-call latency, IAM role propagation, Lambda's
//! Pending / InProgress states, API Gateway's quotas, and Invoke that
//! runs the deployed `bootstrap`.

use serde_json::Value;
use slx_sim::{Behaviours, Simulator};

use crate::common::moto::Moto;
use crate::common::stage::{Project, paced, steps, zips};
use crate::common::stdout_json;

/// Real AWS's timing at the suite's pace (a tenth): a role propagates in
/// 0.8 s, a new function is Pending for 0.15 s, an update InProgress for
/// 0.1 s, CreateDeployment is allowed once every 0.5 s; slx's own waits
/// are scaled alike.
fn real_aws_paced() -> Behaviours {
    paced(Behaviours::realistic())
}

fn outcomes(sim: &Simulator, outcome: &str) -> usize {
    sim.events().iter().filter(|e| e.outcome == outcome).count()
}

/// The writes the simulator saw from event `seq` on.
pub(crate) fn writes_since(sim: &Simulator, seq: usize) -> Vec<String> {
    sim.events()
        .into_iter()
        .filter(|e| e.seq >= seq && e.mutating)
        .map(|e| format!("{} {}", e.operation, e.outcome))
        .collect()
}

#[test]
fn a_stage_converges_through_real_aws_timing_states_and_quotas() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, real_aws_paced());

    let first = project.deploy("dev", &zips().v1);
    assert_eq!(first["version"], "1");
    // The role was refused while IAM propagated it, and slx kept trying.
    assert!(
        outcomes(&sim, "refused InvalidParameterValueException") >= 1,
        "{:?}",
        sim.injected()
    );
    // A code change, then a config change right after it (InProgress)
    // and a route change right after that (CreateDeployment's quota).
    let code = project.deploy("dev", &zips().v2);
    assert_eq!(code["version"], "2");
    project.edit("memory = 256", "memory = 512");
    project.edit("\"GET /health\"", "\"GET /healthz\"");
    let config = project.deploy("dev", &zips().v2);
    assert_eq!(config["version"], "3");
    assert!(steps(&config).contains(&"deploy_api".to_string()));
    // Lambda showed the new function Pending and each update InProgress,
    // and slx waited for it to be ready before changing it again: Lambda
    // never had to refuse a mutation of a busy function.
    assert!(outcomes(&sim, "state Pending") >= 1, "{:?}", sim.injected());
    assert!(
        outcomes(&sim, "state InProgress") >= 2,
        "{:?}",
        sim.injected()
    );
    assert_eq!(
        outcomes(&sim, "refused ResourceConflictException"),
        0,
        "{:?}",
        sim.injected()
    );

    let before = sim.events().len();
    let noop = project.deploy("dev", &zips().v2);
    assert_eq!(noop["changed"], false);
    assert_eq!(writes_since(&sim, before), Vec::<String>::new());

    let output = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(output.status.success());
}

fn invoke(project: &Project, request: &str, data: Option<&str>) -> Value {
    let mut args = vec!["invoke", "--stage", "dev", request];
    if let Some(data) = data {
        args.extend(["--data", data]);
    }
    let output = project.slx(&args);
    assert!(output.status.success(), "invoke failed");
    stdout_json(&output)
}

#[test]
fn remote_invoke_runs_the_code_the_stage_serves() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    project.deploy("dev", &zips().v1);

    let answer = invoke(&project, "POST /greet", Some(r#"{"name":"sim"}"#));
    assert_eq!(answer["status"], 200);
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], "hello, sim!", "the deployed v1 answered");
    let tail = answer["log_tail"].as_str().unwrap();
    assert!(
        tail.contains("START RequestId:")
            && tail.contains("Version: 1")
            && tail.contains("REPORT RequestId:"),
        "{tail}"
    );
    let answer = invoke(
        &project,
        "POST /orders/42",
        Some(r#"{"item":"tea","quantity":2}"#),
    );
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], "42", "{body}");
    // The handler's own 400 for a body that is not JSON.
    let answer = invoke(&project, "POST /greet", Some("not json"));
    assert_eq!(answer["status"], 400);

    // What the stage serves follows the alias: a new version, a rollback.
    project.deploy("dev", &zips().v2);
    let answer = invoke(&project, "POST /greet", Some(r#"{"name":"sim"}"#));
    assert!(
        answer["body"]
            .as_str()
            .unwrap()
            .contains("hello, dear sim!"),
        "{answer}"
    );
    assert!(answer["log_tail"].as_str().unwrap().contains("Version: 2"));
    let output = project.slx(&["rollback", "--stage", "dev"]);
    assert!(output.status.success());
    let answer = invoke(&project, "POST /greet", Some(r#"{"name":"sim"}"#));
    assert!(
        answer["body"].as_str().unwrap().contains("hello, sim!"),
        "{answer}"
    );

    // Lambda writes what ran to the function's log group: `slx logs` reads it.
    let output = project.slx(&["logs", "--stage", "dev", "--output", "text"]);
    assert!(output.status.success());
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(
        logs.contains("START (version 1)") && logs.contains("REPORT"),
        "{logs}"
    );
    assert!(outcomes(&sim, "invoked") >= 5);
}

#[test]
fn undeploy_waits_out_iam_still_showing_a_deleted_role() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(
        &moto,
        Behaviours {
            iam_read_lag_s: 3.0,
            ..Behaviours::default()
        },
    );
    project.deploy("dev", &zips().v1);
    let output = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(
        output.status.success(),
        "a role IAM still shows is not a leftover"
    );
    assert!(outcomes(&sim, "stale") >= 1, "{:?}", sim.injected());
    let output = project.slx(&["status", "--stage", "dev"]);
    assert_eq!(stdout_json(&output)["deployed"], false);
}

#[test]
fn an_idle_inactive_function_is_updated_without_waiting_for_active() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    project.deploy("dev", &zips().v1);
    // Lambda reports a function nobody invoked for weeks as Inactive; it
    // may be updated as it is (waiting for Active would never end).
    sim.set_behaviours(Behaviours {
        inactive_when_idle: true,
        ..Behaviours::default()
    });
    let report = project.deploy("dev", &zips().v2);
    assert_eq!(report["version"], "2");
    assert_eq!(steps(&report), ["update_code", "publish_and_point_alias"]);
}

/// A function that exits or runs past its timeout: Lambda answers a
/// function error; `slx invoke` prints API Gateway's 502 with the error
/// document and the log tail, and exits 1; the next request gets a fresh
/// environment.
#[test]
fn remote_invoke_reports_function_errors_as_the_stage_would() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (_sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    // v2 has the test handlers compiled in; these routes reach them.
    project.edit(
        "\"GET /health\" = \"health\"",
        "\"GET /health\" = \"health\"\n\"GET /crash\" = \"crash\"\n\"GET /sleepy\" = \"sleepy\"",
    );
    project.edit("timeout = 10", "timeout = 2");
    project.deploy("dev", &zips().v2);

    for (request, error_type, logged) in [
        ("GET /crash", "Runtime.ExitError", "about to crash"),
        (
            "GET /sleepy",
            "Sandbox.Timedout",
            "Task timed out after 2.00 seconds",
        ),
    ] {
        let output = project.slx(&["invoke", "--stage", "dev", request]);
        assert_eq!(output.status.code(), Some(1), "{request}");
        let answer = stdout_json(&output);
        assert_eq!(answer["status"], 502, "{answer}");
        assert_eq!(
            serde_json::from_str::<Value>(answer["body"].as_str().unwrap()).unwrap()["message"],
            "Internal server error"
        );
        assert_eq!(answer["function_error"]["kind"], "Unhandled", "{answer}");
        assert_eq!(answer["function_error"]["error"]["errorType"], error_type);
        assert!(
            answer["log_tail"].as_str().unwrap().contains(logged),
            "{request}: {answer}"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("the function failed (Unhandled)"),
            "{stderr}"
        );
    }
    // Text mode: the 502 on stdout, the log tail and the error on stderr.
    let output = project.slx(&["invoke", "--stage", "dev", "GET /crash", "--output", "text"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("HTTP 502"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--- log tail ---"));

    let answer = invoke(&project, "POST /greet", Some(r#"{"name":"sim"}"#));
    assert_eq!(answer["function_error"], Value::Null);
    assert!(
        answer["body"]
            .as_str()
            .unwrap()
            .contains("hello, dear sim!"),
        "{answer}"
    );
}

/// On a terminal, a step that takes a while is shown running with its
/// elapsed time on one redrawn line; in a pipe (CI), never.
#[test]
fn a_terminal_sees_long_steps_running_and_a_pipe_does_not() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let behaviours = Behaviours {
        role_propagation_s: 3.0,
        ..Behaviours::default()
    };
    let (_sim, project) = Project::behind_simulator(&moto, behaviours);
    let zip = crate::common::stage::zips()
        .v1
        .to_str()
        .unwrap()
        .to_string();
    let command = project.command(&[
        "deploy", "--stage", "dev", "--zip", &zip, "--output", "text",
    ]);
    let output = crate::common::under_terminal(&command);
    assert!(output.status.success(), "deploy under a terminal");
    let seen = String::from_utf8_lossy(&output.stdout);
    // A redrawn line: cleared, then a spinner frame (whichever the
    // step had reached).
    assert!(
        !crate::common::live_lines(&seen).is_empty(),
        "no live line: {seen}"
    );
    assert!(seen.contains("create function shop-dev ("), "{seen}");
    // The same in a pipe: plain lines only.
    let piped = project.slx(&[
        "deploy", "--stage", "dev", "--zip", &zip, "--output", "text",
    ]);
    assert!(!String::from_utf8_lossy(&piped.stderr).contains('\x1b'));
}
