//! Operating a deployed stage against moto: undeploy, rollback, versions
//! and version pruning, with their bad inputs.

use crate::common::moto::Moto;
use crate::common::stage::{
    Project, aws, function_exists, log_groups_under, role_exists, served_config, zips,
};
use crate::common::stdout_json;

/// Everything the stage could own, as the SDK sees it (not through slx).
async fn leftovers(moto: &Moto, app: &str, stage: &str) -> Vec<String> {
    let aws = aws(moto).await;
    let name = format!("{app}-{stage}");
    let mut found = Vec::new();
    if role_exists(&aws, &format!("{name}-role")).await {
        found.push("role".to_string());
    }
    if function_exists(&aws, &name).await {
        found.push("function".to_string());
    }
    if !log_groups_under(&aws, &format!("/aws/lambda/{name}"))
        .await
        .is_empty()
    {
        found.push("log group".to_string());
    }
    let apis = aws.apigateway.get_rest_apis().send().await.unwrap();
    for api in apis.items() {
        let tags = api.tags().cloned().unwrap_or_default();
        if api.name() == Some(name.as_str())
            || (tags.get("slx:app").map(String::as_str) == Some(app)
                && tags.get("slx:stage").map(String::as_str) == Some(stage))
        {
            found.push(format!("api {}", api.id().unwrap()));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn undeploy_removes_everything_and_only_that_stage() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.deploy("dev", &zips().v1);
    project.deploy("prod", &zips().v1);
    assert_eq!(leftovers(&moto, "shop", "dev").await.len(), 4);

    let output = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(output.status.success());
    assert_eq!(stdout_json(&output)["changed"], true);
    assert!(leftovers(&moto, "shop", "dev").await.is_empty());
    // The other stage is untouched and still in sync.
    assert_eq!(leftovers(&moto, "shop", "prod").await.len(), 4);
    let prod = project.deploy("prod", &zips().v1);
    assert_eq!(prod["changed"], false);

    // Idempotent: a stage that does not exist is a success.
    let output = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(output.status.success());
    assert_eq!(stdout_json(&output)["changed"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn undeploy_can_keep_logs_and_refuses_without_yes_when_not_interactive() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.deploy("dev", &zips().v1);

    // stdin is not a terminal here: no --yes, no undeploy.
    let output = project.slx(&["undeploy", "--stage", "dev"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("pass --yes"));
    assert_eq!(leftovers(&moto, "shop", "dev").await.len(), 4);

    // `-q`: the result alone, no plan before it.
    let output = project.slx(&[
        "undeploy",
        "--stage",
        "dev",
        "--yes",
        "--keep-logs",
        "-q",
        "--output",
        "text",
    ]);
    assert!(output.status.success());
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(!said.contains("plan for stage"), "{said}");
    assert_eq!(leftovers(&moto, "shop", "dev").await, ["log group"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_moves_the_alias_without_uploading() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let v1 = project.deploy("dev", &zips().v1);
    let v2 = project.deploy("dev", &zips().v2);
    assert_eq!(v2["version"], "2");

    moto.start_recording();
    let output = project.slx(&["rollback", "--stage", "dev"]);
    assert!(output.status.success());
    let mutating = moto.writes();
    // Only the alias moves, under the stage's lease: taken, then
    // released (a tombstone made, its own generation and the last
    // deploy's tombstone deleted).
    assert_eq!(mutating.len(), 5, "{mutating:?}");
    assert_eq!(
        (mutating[0].as_str(), mutating[2].as_str()),
        ("CreateLogGroup", "CreateLogGroup"),
        "{mutating:?}"
    );
    assert!(mutating[1].contains("/aliases/dev"), "{mutating:?}");
    assert!(
        mutating[3..].iter().all(|write| write == "DeleteLogGroup"),
        "{mutating:?}"
    );
    let report = stdout_json(&output);
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str()),
        (Some("2"), Some("1"))
    );

    let aws = aws(&moto).await;
    assert_eq!(
        served_config(&aws).await.code_sha256().unwrap(),
        v1["code_sha256"].as_str().unwrap()
    );
    // Status says what the alias serves, not `$LATEST` (v2's code).
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["code_sha256"], v1["code_sha256"], "{status}");
    let text = project.slx(&["status", "--stage", "dev", "--output", "text"]);
    let said = String::from_utf8_lossy(&text.stdout);
    assert!(
        said.contains("$LATEST differs from what the alias serves: code"),
        "{said}"
    );

    // Forward again to a named version, then back: the alias follows.
    let alias_version = || async {
        aws.lambda
            .get_alias()
            .function_name("shop-dev")
            .name("dev")
            .send()
            .await
            .unwrap()
            .function_version()
            .unwrap()
            .to_string()
    };
    assert_eq!(alias_version().await, "1");
    let output = project.slx(&["rollback", "--stage", "dev", "--to", "2"]);
    assert!(output.status.success());
    assert_eq!(alias_version().await, "2");
    let output = project.slx(&["rollback", "--stage", "dev", "--to", "1"]);
    assert!(output.status.success());
    assert_eq!(alias_version().await, "1");
    // Nothing older than version 1; an unknown version; an undeployed stage.
    let output = project.slx(&["rollback", "--stage", "dev"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no version older than 1"));
    let output = project.slx(&["rollback", "--stage", "dev", "--to", "42"]);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("version 42 of this stage does not exist")
    );
    let output = project.slx(&["rollback", "--stage", "qa"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("stage qa of shop is not deployed"));
}

/// Moto numbers a new version `count + 1`, reusing numbers after a
/// deletion (AWS never does), so this test stops publishing once it has
/// pruned; that the aliased version is never pruned is unit-tested in
/// `deploy::versions`.
#[tokio::test(flavor = "multi_thread")]
async fn versions_list_their_commit_and_old_ones_are_pruned() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.edit("timeout = 10", "timeout = 10\nkeep_versions = 2");
    for (index, zip) in [&zips().v1, &zips().v2].iter().enumerate() {
        let report = project.deploy("dev", zip);
        assert_eq!(report["version"], (index + 1).to_string());
    }
    // The plan names the versions it deletes: with 2 kept, publishing a
    // third prunes version 1.
    let v1 = zips().v1.to_str().unwrap();
    let plan = stdout_json(&project.slx(&["plan", "--zip", v1]));
    let prune: Vec<&serde_json::Value> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "prune_versions")
        .collect();
    assert_eq!(prune.len(), 1, "{plan}");
    assert_eq!(prune[0]["versions"], serde_json::json!(["1"]));
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(report["version"], "3");
    let output = project.slx(&["versions", "--stage", "dev"]);
    assert!(output.status.success());
    let listed = stdout_json(&output);
    let numbers: Vec<&str> = listed["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["2", "3"], "version 1 was pruned");
    assert_eq!(listed["current"], "3");
    let description = listed["versions"][1]["description"].as_str().unwrap();
    assert!(
        description.starts_with("slx ") && description.contains(" at 20"),
        "{description}"
    );
}

/// Each published version says which commit it came from, and whether
/// the work tree had uncommitted changes.
#[tokio::test(flavor = "multi_thread")]
async fn versions_name_the_commit_and_a_dirty_tree() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(&project.dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git runs");
        assert!(output.status.success(), "git {args:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "first"]);
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    project.deploy("dev", &zips().v1);
    project.edit("memory = 256", "memory = 384");
    project.deploy("dev", &zips().v1);
    let listed = stdout_json(&project.slx(&["versions", "--stage", "dev"]));
    let description = |index: usize| {
        listed["versions"][index]["description"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        description(0).contains(&format!("from git {commit} at 20")),
        "{}",
        description(0)
    );
    assert!(
        description(1).contains(&format!("from git {commit} (dirty) at 20")),
        "{}",
        description(1)
    );
}

/// The request slx sends: the API Gateway event, to the alias, asking for
/// the log tail. Moto cannot run the function (no Docker); the answers of
/// real code (status, body, log tail, function errors, JSON) are checked
/// through the simulator in tests/it/simulated.rs.
#[tokio::test(flavor = "multi_thread")]
async fn invoke_sends_the_api_gateway_event_to_the_alias() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.deploy("dev", &zips().v1);
    moto.start_recording();
    let output = project.slx(&[
        "invoke",
        "--stage",
        "dev",
        "POST /orders/42?x=1",
        "--data",
        r#"{"item":"tea","quantity":2}"#,
        "-H",
        "x-test: yes",
    ]);
    let recorded = moto.recorded();
    let call = recorded
        .iter()
        .find(|r| r.url.contains("/invocations"))
        .expect("an Invoke request");
    assert!(
        call.url
            .contains("/functions/shop-dev/invocations?Qualifier=dev"),
        "{}",
        call.url
    );
    assert_eq!(call.headers["X-Amz-Log-Type"], "Tail");
    let event: serde_json::Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(event["resource"], "/orders/{id}");
    assert_eq!(event["path"], "/orders/42");
    assert_eq!(event["httpMethod"], "POST");
    assert_eq!(event["pathParameters"]["id"], "42");
    assert_eq!(event["queryStringParameters"]["x"], "1");
    assert_eq!(event["headers"]["x-test"], "yes");
    assert_eq!(event["requestContext"]["stage"], "dev");
    assert_eq!(event["body"], r#"{"item":"tea","quantity":2}"#);
    // Moto's answer without Docker is an error, which slx reports.
    assert_eq!(output.status.code(), Some(1));

    // A path no route serves is refused before any request.
    moto.start_recording();
    let output = project.slx(&["invoke", "--stage", "dev", "GET /nowhere"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("no route in slx.toml matches GET /nowhere")
    );
    assert!(moto.recorded().is_empty());
}
