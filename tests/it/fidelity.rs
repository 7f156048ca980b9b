//! What real AWS requires and moto would let slide: ownership of every
//! resource by tag, the role's trust policy, a permission left behind by
//! a deleted API. Each test fails on the engine before these fixes.

use crate::common::moto::Moto;
use crate::common::stage::{
    Project, alias_statements, aws, dev_stage, log_groups_under, role_exists, steps, zips,
};
use crate::common::{run, scaffold, slx, stdout_json};

const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn decoded(document: &str) -> String {
    percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_or_log_group_slx_did_not_create_is_never_adopted_or_deleted() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let aws = aws(&moto).await;
    let v1 = zips().v1.to_str().unwrap();

    // Someone else's role with the stage's name: no slx tags.
    aws.iam
        .create_role()
        .role_name("shop-dev-role")
        .assume_role_policy_document(LAMBDA_TRUST)
        .send()
        .await
        .unwrap();
    moto.start_recording();
    let output = project.slx(&["deploy", "--stage", "dev", "--zip", v1]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("IAM role shop-dev-role exists but is not tagged as this app's stage"),
        "{err}"
    );
    assert_eq!(moto.writes(), Vec::<String>::new(), "nothing was written");
    let output = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(role_exists(&aws, "shop-dev-role").await);
    aws.iam
        .delete_role()
        .role_name("shop-dev-role")
        .send()
        .await
        .unwrap();

    // The same for a log group.
    aws.logs
        .create_log_group()
        .log_group_name("/aws/lambda/shop-dev")
        .send()
        .await
        .unwrap();
    moto.start_recording();
    let output = project.slx(&["deploy", "--stage", "dev", "--zip", v1]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("log group /aws/lambda/shop-dev exists but is not tagged"),
        "{err}"
    );
    assert_eq!(moto.writes(), Vec::<String>::new());
    let output = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        log_groups_under(&aws, "/aws/lambda/shop-dev").await.len(),
        1,
        "left alone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_lambda_acting_for_this_account_may_assume_the_role() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.deploy("dev", &zips().v1);
    let aws = aws(&moto).await;
    let trust = |role: aws_sdk_iam::operation::get_role::GetRoleOutput| {
        decoded(role.role().unwrap().assume_role_policy_document().unwrap())
    };
    let role = aws
        .iam
        .get_role()
        .role_name("shop-dev-role")
        .send()
        .await
        .unwrap();
    let document = trust(role);
    assert!(
        document.contains(r#""aws:SourceAccount":"123456789012""#),
        "{document}"
    );

    // A role made before the guard existed is brought up to date.
    aws.iam
        .update_assume_role_policy()
        .role_name("shop-dev-role")
        .policy_document(LAMBDA_TRUST)
        .send()
        .await
        .unwrap();
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(steps(&report), ["set_trust_policy"]);
    let role = aws
        .iam
        .get_role()
        .role_name("shop-dev-role")
        .send()
        .await
        .unwrap();
    assert!(trust(role).contains("aws:SourceAccount"));
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recreated_api_replaces_the_permission_the_deleted_one_left() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let first = project.deploy("dev", &zips().v1);
    let old_api = first["rest_api_id"].as_str().unwrap().to_string();
    let aws = aws(&moto).await;
    aws.apigateway
        .delete_rest_api()
        .rest_api_id(&old_api)
        .send()
        .await
        .unwrap();

    // The alias still holds the statement naming the deleted API: adding
    // one with the same id would be refused (409).
    let report = project.deploy("dev", &zips().v1);
    let new_api = report["rest_api_id"].as_str().unwrap();
    assert_ne!(new_api, old_api);
    assert!(steps(&report).contains(&"add_invoke_permission".to_string()));
    let statements = alias_statements(&aws).await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert!(
        statements[0].to_string().contains(&format!("{new_api}/*")),
        "{statements:?}"
    );
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["in_sync"], true, "{status}");
}

#[test]
fn an_endpoint_override_is_announced_and_plain_http_elsewhere_is_refused() {
    let _timing = crate::common::timing();
    // No region and no credentials: had slx not refused first, it would
    // have failed before any request left this machine.
    let (_temp, dir) = scaffold("shop");
    let output = run(slx(&dir)
        .args([
            "plan",
            "--stage",
            "dev",
            "--endpoint-url",
            "http://aws-proxy.example.com:4566",
        ])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_EC2_METADATA_DISABLED", "true"));
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(
            "refusing to send AWS requests over plain http to http://aws-proxy.example.com:4566"
        ),
        "{err}"
    );
    assert!(err.contains("--insecure-endpoint"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_on_another_endpoint_is_announced_and_gets_no_aws_url() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let output = project.deploy_output("dev", &zips().v1, &["--output", "text"]);
    assert!(output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&format!("AWS requests go to {}", moto.endpoint)),
        "{err}"
    );
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(!out.contains("amazonaws.com"), "{out}");
    assert!(out.contains("no public URL"), "{out}");
    // Also in JSON mode, on stderr, with stdout still one JSON document.
    let output = project.slx(&["status", "--stage", "dev"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("AWS requests go to"));
    assert_eq!(stdout_json(&output)["url"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_logs_never_show_environment_values_or_the_session_token() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.edit(
        "GREETING = \"hello\"",
        "GREETING = \"hello\"\nDB_PASSWORD = \"hunter2-secret-value\"",
    );
    let zip = zips().v1.to_str().unwrap().to_string();
    // Two first deploys (each sends every variable), one per way of
    // asking for verbose output.
    for (stage, flag, log) in [("dev", "-vv", None), ("qa", "-v", Some("trace"))] {
        let mut command = project.command(&[
            "deploy", "--stage", stage, "--zip", &zip, flag, "--output", "text",
        ]);
        command.env("AWS_SESSION_TOKEN", "session-token-abc123");
        if let Some(log) = log {
            command.env("SLX_LOG", log);
        }
        let output = run(&mut command);
        assert!(output.status.success());
        let err = String::from_utf8_lossy(&output.stderr);
        // Verbose output is there...
        assert!(err.lines().count() > 3, "{err}");
        // ...without the secrets.
        assert!(
            !err.contains("hunter2-secret-value"),
            "{flag} {log:?}: env value in {err}"
        );
        assert!(
            !err.contains("session-token-abc123"),
            "{flag} {log:?}: session token in {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_imported_but_never_deployed_are_deployed_by_the_next_deploy() {
    let _timing = crate::common::timing();
    use slx_sim::{Behaviours, Fault};
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    project.deploy("dev", &zips().v1);

    // A route change whose deployment fails: the import happened, the
    // stage still serves the old routes.
    project.edit("\"GET /health\"", "\"GET /healthz\"");
    sim.set_behaviours(Behaviours {
        faults: vec![Fault {
            method: "POST".into(),
            url_part: "/deployments".into(),
            status: 400,
            code: "BadRequestException".into(),
            message: "injected failure".into(),
            times: 1,
        }],
        ..Behaviours::default()
    });
    let output = project.deploy_output("dev", &zips().v1, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(sim.faults_remaining(), 0);

    // The API's working definition already matches slx.toml; only the
    // stage's deployment tells that it is not live.
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(steps(&report), ["deploy_api"]);
    let aws = aws(&moto).await;
    let api_id = report["rest_api_id"].as_str().unwrap();
    let stage = dev_stage(&aws, api_id).await;
    let deployment = aws
        .apigateway
        .get_deployment()
        .rest_api_id(api_id)
        .deployment_id(stage.deployment_id().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        deployment.description().unwrap().contains("routes sha256:"),
        "{deployment:?}"
    );
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployer_without_list_tags_is_told_the_missing_permission_not_that_the_function_is_foreign()
 {
    let _timing = crate::common::timing();
    use slx_sim::Behaviours;
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(
        &moto,
        Behaviours {
            denied: vec!["lambda:ListTags".into()],
            ..Behaviours::default()
        },
    );
    project.deploy("dev", &zips().v1);
    // The function now exists: its ownership must be checked.
    let output = project.deploy_output("dev", &zips().v1, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("may not call lambda:ListTags"), "{err}");
    assert!(!err.contains("not tagged"), "{err}");
    // Allowed again, the same stage deploys as its own.
    sim.set_behaviours(Behaviours::default());
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_create_rest_api_answer_makes_no_second_api() {
    let _timing = crate::common::timing();
    use slx_sim::{Behaviours, Fault};
    let moto = Moto::start();
    let lost = Fault {
        method: "POST".into(),
        url_part: "/restapis".into(),
        status: 0,
        code: String::new(),
        message: String::new(),
        times: 1,
    };
    let (sim, project) = Project::behind_simulator(
        &moto,
        Behaviours {
            faults: vec![lost],
            ..Behaviours::default()
        },
    );
    let output = project.deploy_output("dev", &zips().v1, &[]);
    assert_eq!(sim.faults_remaining(), 0, "the answer was lost");
    assert!(output.status.success(), "the created API is found and used");
    let aws = aws(&moto).await;
    let apis = aws.apigateway.get_rest_apis().send().await.unwrap();
    assert_eq!(apis.items().len(), 1, "{apis:?}");
    assert_eq!(
        stdout_json(&output)["rest_api_id"],
        apis.items()[0].id().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_apis_tagged_as_the_stage_are_refused_by_deploy_and_removed_by_undeploy() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let first = project.deploy("dev", &zips().v1);
    let serving = first["rest_api_id"].as_str().unwrap().to_string();
    let aws = aws(&moto).await;
    let twin = aws
        .apigateway
        .create_rest_api()
        .name("shop-dev")
        .tags("slx:app", "shop")
        .tags("slx:stage", "dev")
        .send()
        .await
        .unwrap();
    let twin = twin.id().unwrap().to_string();
    let output = project.deploy_output("dev", &zips().v1, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("2 REST APIs named shop-dev are tagged as this stage's"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{serving} is the one serving")),
        "{err}"
    );
    assert!(err.contains(&twin), "{err}");
    let output = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(output.status.success());
    let apis = aws.apigateway.get_rest_apis().send().await.unwrap();
    assert!(apis.items().is_empty(), "{apis:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_pinned_to_another_account_is_never_touched() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.deploy("dev", &zips().v1);
    // moto's account is 123456789012; pin the stage elsewhere.
    project.edit(
        "[stages.prod]",
        "[stages.dev]\naccount = \"000000000000\"\n\n[stages.prod]",
    );
    moto.start_recording();
    for command in [
        vec![
            "deploy",
            "--stage",
            "dev",
            "--zip",
            zips().v2.to_str().unwrap(),
        ],
        vec!["undeploy", "--stage", "dev", "--yes"],
        vec!["rollback", "--stage", "dev"],
    ] {
        let output = project.slx(&command);
        assert_eq!(output.status.code(), Some(1), "{command:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.contains("stage dev is pinned to account 000000000000 in slx.toml, but these credentials are for account 123456789012"),
            "{command:?}: {err}"
        );
    }
    assert_eq!(moto.writes(), Vec::<String>::new(), "nothing was changed");
    project.edit("account = \"000000000000\"", "account = \"123456789012\"");
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);
}

/// Every action an IAM policy document allows.
pub(crate) fn policy_actions(policy: &serde_json::Value) -> std::collections::BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// The IAM actions of every call `sim` saw that `allowed` (the actions
/// of `slx iam-policy`) lacks: none, or the test fails naming them.
pub(crate) fn assert_policy_covers(
    sim: &slx_sim::Simulator,
    allowed: &std::collections::BTreeSet<String>,
) -> std::collections::BTreeSet<String> {
    let called: std::collections::BTreeSet<String> = sim.events().iter().map(iam_action).collect();
    let outside: Vec<&String> = called.difference(allowed).collect();
    assert!(
        outside.is_empty(),
        "calls outside `slx iam-policy`: {outside:?}"
    );
    called
}

/// `slx iam-policy --stage STAGE` of `project` covers every call `sim` saw.
pub(crate) fn assert_iam_policy_covers(
    project: &crate::common::stage::Project,
    sim: &slx_sim::Simulator,
    stage: &str,
) {
    let policy = crate::common::stdout_json(&project.slx(&["iam-policy", "--stage", stage]));
    assert_policy_covers(sim, &policy_actions(&policy));
}

/// The IAM action a recorded request needs.
pub(crate) fn iam_action(event: &slx_sim::Event) -> String {
    match (event.service.as_str(), event.operation.as_str()) {
        ("apigateway", _) => format!("apigateway:{}", event.method),
        ("lambda", "Invoke") => "lambda:InvokeFunction".into(),
        // S3's IAM actions drop "Configuration".
        ("s3", operation) => format!("s3:{}", operation.trim_end_matches("Configuration")),
        (service, operation) => format!("{service}:{operation}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_policy_covers_every_call_of_a_whole_lifecycle() {
    let _timing = crate::common::timing();
    use slx_sim::Behaviours;
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    let policy = stdout_json(&project.slx(&["iam-policy", "--stage", "dev"]));
    let allowed = policy_actions(&policy);
    // Scoped to the stage and moto's account.
    assert!(
        policy
            .to_string()
            .contains("arn:aws:lambda:us-east-1:123456789012:function:shop-dev")
    );

    let v1 = zips().v1.to_str().unwrap().to_string();
    project.deploy("dev", &zips().v1);
    project.deploy("dev", &zips().v2);
    project.edit("memory = 256", "memory = 512");
    project.edit("\"GET /health\"", "\"GET /healthz\"");
    project.deploy("dev", &zips().v2);

    // A pull request's role (`--read-only`) can run every command that
    // only looks, and its policy holds no write.
    let read_only = stdout_json(&project.slx(&["iam-policy", "--stage", "dev", "--read-only"]));
    let readable = policy_actions(&read_only);
    assert!(readable.is_subset(&allowed) && readable.len() < allowed.len());
    let before = sim.events().len();
    for command in [
        vec!["plan", "--stage", "dev", "--zip", v1.as_str()],
        vec!["status", "--stage", "dev"],
        vec!["versions", "--stage", "dev"],
        vec!["logs", "--stage", "dev"],
        vec!["doctor", "--stage", "dev"],
    ] {
        let output = project.slx(&command);
        assert!(output.status.success(), "{command:?}");
    }
    let events = sim.events();
    let looked: std::collections::BTreeSet<String> =
        events[before..].iter().map(iam_action).collect();
    let outside: Vec<&String> = looked.difference(&readable).collect();
    assert!(
        outside.is_empty(),
        "calls outside the read-only policy: {outside:?}"
    );
    assert!(looked.len() >= 10, "{looked:?}");
    let writes: Vec<&String> = events[before..]
        .iter()
        .filter(|e| e.mutating)
        .map(|e| &e.operation)
        .collect();
    assert!(writes.is_empty(), "looking wrote: {writes:?}");

    for command in [
        vec!["plan", "--stage", "dev", "--zip", v1.as_str()],
        vec!["status", "--stage", "dev"],
        vec!["versions", "--stage", "dev"],
        vec!["rollback", "--stage", "dev"],
        vec![
            "invoke",
            "--stage",
            "dev",
            "POST /greet",
            "--data",
            r#"{"name":"iam"}"#,
        ],
        vec!["logs", "--stage", "dev"],
        vec!["undeploy", "--stage", "dev", "--yes"],
    ] {
        let output = project.slx(&command);
        assert!(output.status.success(), "{command:?}");
    }
    let called = assert_policy_covers(&sim, &allowed);
    // The lifecycle did exercise the policy.
    assert!(called.len() >= 25, "{called:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_is_guarded_by_a_throttle_and_a_concurrency_limit() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.edit(
        "[stages.prod]",
        "[stages.dev]\nthrottle = { rate = 50, burst = 100 }\nconcurrency = 5\n\n[stages.prod]",
    );
    let report = project.deploy("dev", &zips().v1);
    let first = steps(&report);
    assert!(first.contains(&"set_throttle".to_string()), "{first:?}");
    assert!(first.contains(&"set_concurrency".to_string()), "{first:?}");
    let aws = aws(&moto).await;
    let api_id = report["rest_api_id"].as_str().unwrap();
    let stage = dev_stage(&aws, api_id).await;
    let all = &stage.method_settings().unwrap()["*/*"];
    assert_eq!(all.throttling_rate_limit(), 50.0);
    assert_eq!(all.throttling_burst_limit(), 100);
    let concurrency = aws
        .lambda
        .get_function_concurrency()
        .function_name("shop-dev")
        .send()
        .await
        .unwrap();
    assert_eq!(concurrency.reserved_concurrent_executions(), Some(5));
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);

    // The limit lifted when the key goes.
    project.edit("concurrency = 5\n", "");
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(steps(&report), ["set_concurrency"]);
    let concurrency = aws
        .lambda
        .get_function_concurrency()
        .function_name("shop-dev")
        .send()
        .await
        .unwrap();
    assert_eq!(concurrency.reserved_concurrent_executions(), None);

    // Out-of-range values are located errors.
    project.edit(
        "throttle = { rate = 50, burst = 100 }",
        "throttle = { rate = 0, burst = 100 }\nconcurrency = 0",
    );
    let output = project.slx(&["validate", "--output", "text"]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("`rate` = 0 is out of range")
            && err.contains("`concurrency` = 0 is out of range"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn import_warnings_from_api_gateway_are_shown() {
    let _timing = crate::common::timing();
    use slx_sim::Behaviours;
    let moto = Moto::start();
    let warning = "Ignoring response model for 200 response on method 'POST /greet'";
    let (_sim, project) = Project::behind_simulator(
        &moto,
        Behaviours {
            import_warnings: vec![warning.into()],
            ..Behaviours::default()
        },
    );
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(report["warnings"], serde_json::json!([warning]));
    project.edit("\"GET /health\"", "\"GET /healthz\"");
    let output = project.deploy_output("dev", &zips().v1, &["--output", "text"]);
    assert!(output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains(&format!("API Gateway: {warning}")), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_in_china_uses_the_aws_cn_partition_throughout() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let output = project.deploy_output("dev", &zips().v1, &["--region", "cn-north-1"]);
    assert!(output.status.success());
    let report = stdout_json(&output);
    assert!(
        report["function_arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws-cn:lambda:cn-north-1:"),
        "{report}"
    );
    let aws = crate::common::stage::aws_in(&moto, "cn-north-1").await;
    let function = aws
        .lambda
        .get_function()
        .function_name("shop-dev")
        .send()
        .await
        .unwrap();
    let role = function.configuration().unwrap().role().unwrap();
    assert!(role.starts_with("arn:aws-cn:iam::"), "{role}");
    let api_id = report["rest_api_id"].as_str().unwrap();
    let routes = crate::common::stage::routes(&aws, api_id).await;
    assert!(
        routes.iter().all(|(_, uri)| uri
            .starts_with("arn:aws-cn:apigateway:cn-north-1:lambda:path/")
            && uri.contains("arn:aws-cn:lambda:cn-north-1:")),
        "{routes:?}"
    );
    let statements = alias_statements(&aws).await;
    assert!(
        statements[0]
            .to_string()
            .contains("arn:aws-cn:execute-api:cn-north-1:"),
        "{statements:?}"
    );
    assert_eq!(
        stdout_json(&project.deploy_output("dev", &zips().v1, &["--region", "cn-north-1"]))["changed"],
        false
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_set_by_the_profile_is_announced_too() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let config = project.dir.join("aws-config");
    let run_with = |endpoint: &str| {
        std::fs::write(
            &config,
            format!("[profile local]\nregion = us-east-1\nendpoint_url = {endpoint}\n"),
        )
        .unwrap();
        run(slx(&project.dir)
            .args([
                "deploy",
                "--stage",
                "dev",
                "--zip",
                zips().v1.to_str().unwrap(),
                "--profile",
                "local",
            ])
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_REGION"))
    };
    let output = run_with(&moto.endpoint);
    assert!(output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&format!(
            "AWS requests go to {} (the profile's endpoint_url)",
            moto.endpoint
        )),
        "{err}"
    );
    // The plain-http rule holds there too, before any request.
    let output = run_with("http://aws-proxy.example.com:4566");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("refusing to send AWS requests over plain http"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aws_error_quoting_environment_values_is_shown_without_them() {
    let _timing = crate::common::timing();
    use slx_sim::{Behaviours, Fault};
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    project.deploy("dev", &zips().v1);
    sim.set_behaviours(Behaviours {
        faults: vec![Fault {
            method: "PUT".into(),
            url_part: "/configuration".into(),
            status: 400,
            code: "InvalidParameterValueException".into(),
            message: "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {\"DB_PASSWORD\":\"hunter2-secret-value\"}".into(),
            times: 1,
        }],
        ..Behaviours::default()
    });
    project.edit(
        "GREETING = \"hello\"",
        "GREETING = \"hello\"\nDB_PASSWORD = \"hunter2-secret-value\"",
    );
    let output = project.deploy_output("dev", &zips().v1, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("exceeded the 4KB limit"), "{err}");
    assert!(!err.contains("hunter2-secret-value"), "{err}");
}
