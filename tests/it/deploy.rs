//! `slx plan`, `slx deploy`, `slx status` against a real moto server over
//! HTTP, with the real AWS SDK, checked through the SDK afterwards.
//!
//! Moto stores what is provisioned but cannot run Lambda code: the
//! handler itself is exercised in tests/build.rs through slx's local
//! Runtime API.

use crate::common::moto::Moto;
use crate::common::stage::{
    Project, alias_state, alias_statements, apis_named, aws, dev_stage, log_groups_under,
    plan_actions, role_policy, routes, served_config, sha_of, steps, zips,
};
use crate::common::{BUILD_LOCK, run, scaffold, slx, stdout_json};
use slx_sim::{Behaviours, Fault, Simulator};

#[tokio::test(flavor = "multi_thread")]
async fn first_deploy_creates_everything_wired_and_tagged() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(report["changed"], true);
    assert_eq!(report["function_name"], "shop-dev");
    assert_eq!(report["version"], "1");
    assert_eq!(report["stage"], "dev");
    let api_id = report["rest_api_id"].as_str().unwrap().to_string();
    assert!(!api_id.is_empty());
    // The stage lives on moto (an endpoint override): no amazonaws.com
    // URL is made up for it (the URL form is unit-tested in names.rs).
    assert_eq!(report["url"], serde_json::Value::Null);
    assert!(report["steps"].as_array().unwrap().len() >= 10);

    let aws = aws(&moto).await;
    // The role, its trust and its least-privilege policy.
    let role = aws
        .iam
        .get_role()
        .role_name("shop-dev-role")
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap();
    let tags: Vec<_> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert!(tags.contains(&("slx:app", "shop")) && tags.contains(&("slx:stage", "dev")));
    let document = role_policy(&aws, "shop-dev-role").await.to_string();
    assert!(
        document.contains("log-group:/aws/lambda/shop-dev:*"),
        "{document}"
    );
    assert!(!document.contains("\"Resource\":\"*\""), "{document}");

    // The log group with its retention.
    let groups = log_groups_under(&aws, "/aws/lambda/shop-dev").await;
    assert_eq!(groups[0].retention_in_days(), Some(30));

    // The function as slx.toml describes it, and its alias.
    let function = aws
        .lambda
        .get_function()
        .function_name("shop-dev")
        .send()
        .await
        .unwrap();
    let config = function.configuration().unwrap();
    assert_eq!(
        config.runtime().map(|r| r.as_str()),
        Some("provided.al2023")
    );
    assert_eq!(config.memory_size(), Some(256));
    assert_eq!(config.timeout(), Some(10));
    assert_eq!(config.handler(), Some("bootstrap"));
    assert_eq!(
        config.environment().unwrap().variables().unwrap()["GREETING"],
        "hello"
    );
    assert_eq!(
        config.code_sha256().unwrap(),
        report["code_sha256"].as_str().unwrap()
    );
    assert_eq!(function.tags().unwrap()["slx:stage"], "dev");
    assert_eq!(alias_state(&moto).await, ("1".into(), None));

    // Every route goes to the alias through AWS_PROXY.
    let alias_uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:shop-dev:dev/invocations";
    let wired = routes(&aws, &api_id).await;
    let expected: Vec<(String, String)> = ["GET /health", "POST /greet", "POST /orders/{id}"]
        .iter()
        .map(|r| (r.to_string(), alias_uri.to_string()))
        .collect();
    assert_eq!(wired, expected);
    let stage = dev_stage(&aws, &api_id).await;
    assert!(stage.deployment_id().is_some());

    // One invoke permission for the whole API, on the alias.
    let statements = alias_statements(&aws).await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert_eq!(statements[0]["Sid"], "slx-apigateway-invoke");
    assert!(statements[0].to_string().contains(&format!(
        "arn:aws:execute-api:us-east-1:123456789012:{api_id}/*"
    )));
}

#[tokio::test(flavor = "multi_thread")]
async fn second_deploy_sends_no_mutating_request_even_from_a_fresh_checkout() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.deploy("dev", &zips().v1);

    moto.start_recording();
    let report = project.deploy("dev", &zips().v1);
    let recorded = moto.recorded();
    assert_eq!(report["changed"], false);
    assert_eq!(report["steps"].as_array().unwrap().len(), 0);
    let mutating: Vec<_> = recorded.iter().filter(|r| r.mutating).collect();
    assert!(mutating.is_empty(), "mutating requests: {mutating:?}");
    assert!(recorded.len() >= 5, "the reads were recorded: {recorded:?}");

    // A fresh checkout: another directory, no .slx/ and no target/.
    let fresh = Project::new(&moto);
    moto.start_recording();
    let report = fresh.deploy("dev", &zips().v1);
    let mutating: Vec<_> = moto.recorded().into_iter().filter(|r| r.mutating).collect();
    assert_eq!(report["changed"], false);
    assert!(mutating.is_empty(), "mutating requests: {mutating:?}");
    assert_eq!(report["version"], "1");

    // --detailed-exitcode: 0 for no change.
    let output = project.slx(&[
        "plan",
        "--detailed-exitcode",
        "--zip",
        zips().v1.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout_json(&output)["changes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_change_updates_config_only_and_code_change_uploads_code_only() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.deploy("dev", &zips().v1);

    project.edit("memory = 256", "memory = 512");
    let plan = project.slx(&[
        "plan",
        "--detailed-exitcode",
        "--zip",
        zips().v1.to_str().unwrap(),
    ]);
    assert_eq!(plan.status.code(), Some(2));
    let actions = plan_actions(&plan);
    assert_eq!(
        actions,
        // One version exists and ten are kept: nothing to prune.
        ["update_config", "publish_and_point_alias"]
    );

    moto.start_recording();
    let report = project.deploy("dev", &zips().v1);
    let mutating = moto.writes();
    assert!(
        mutating.iter().any(|a| a.contains("/configuration")),
        "{mutating:?}"
    );
    assert!(
        !mutating.iter().any(|a| a.contains("/code")),
        "no code upload: {mutating:?}"
    );
    assert_eq!(report["version"], "2");
    let aws = aws(&moto).await;
    assert_eq!(served_config(&aws).await.memory_size(), Some(512));

    moto.start_recording();
    let report = project.deploy("dev", &zips().v2);
    let mutating = moto.writes();
    assert!(mutating.iter().any(|a| a.contains("/code")), "{mutating:?}");
    assert!(
        !mutating.iter().any(|a| a.contains("/configuration")),
        "no config update: {mutating:?}"
    );
    assert!(
        !mutating.iter().any(|a| a.contains("/restapis")),
        "API untouched: {mutating:?}"
    );
    assert_eq!(report["version"], "3");
    assert_eq!(
        served_config(&aws).await.code_sha256().unwrap(),
        report["code_sha256"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_added_and_removed_follow_slx_toml() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let first = project.deploy("dev", &zips().v1);
    let api_id = first["rest_api_id"].as_str().unwrap().to_string();
    let aws = aws(&moto).await;

    // Remove /orders/{id}, add DELETE /greet (same handler crate).
    project.edit(
        "\"POST /orders/{id}\" = \"create_order\"\n",
        "\"DELETE /greet\" = \"health\"\n",
    );
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(
        report["rest_api_id"],
        api_id.as_str(),
        "the same API is updated"
    );
    let wired: Vec<String> = routes(&aws, &api_id)
        .await
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(wired, ["DELETE /greet", "GET /health", "POST /greet"]);
    let paths: Vec<String> = aws
        .apigateway
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .map(|r| r.path().unwrap().to_string())
        .collect();
    assert!(!paths.iter().any(|p| p.starts_with("/orders")), "{paths:?}");
    let steps = steps(&report);
    assert!(
        steps.iter().any(|s| s == "deploy_api"),
        "the API change goes live: {steps:?}"
    );
    let deployments = aws
        .apigateway
        .get_deployments()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap();
    assert_eq!(deployments.items().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stages_live_side_by_side_isolated() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let dev = project.deploy("dev", &zips().v1);
    let prod = project.deploy("prod", &zips().v1);
    assert_ne!(dev["rest_api_id"], prod["rest_api_id"]);
    let aws = aws(&moto).await;
    let prod_config = aws
        .lambda
        .get_function_configuration()
        .function_name("shop-prod")
        .send()
        .await
        .unwrap();
    assert_eq!(prod_config.memory_size(), Some(512), "[stages.prod] memory");
    assert_eq!(
        prod_config.environment().unwrap().variables().unwrap()["GREETING"],
        "hi"
    );

    // Changing dev leaves prod alone.
    moto.start_recording();
    project.deploy("dev", &zips().v2);
    let touched = moto.writes();
    assert!(
        touched.iter().all(|a| !a.contains("shop-prod")),
        "{touched:?}"
    );
    let prod_again = project.deploy("prod", &zips().v1);
    assert_eq!(prod_again["changed"], false);
}

/// The aftermath of deploys killed half-way, reproduced through the SDK:
/// the next deploy must finish the job.
#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_that_stopped_half_way_is_completed_by_the_next() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let first = project.deploy("dev", &zips().v1);
    let aws = aws(&moto).await;

    // Killed after uploading new code, before publishing: $LATEST has v2,
    // the alias still serves v1.
    let v2 = std::fs::read(&zips().v2).unwrap();
    aws.lambda
        .update_function_code()
        .function_name("shop-dev")
        .zip_file(aws_sdk_lambda::primitives::Blob::new(v2))
        .send()
        .await
        .unwrap();
    // ...and the API lost a method and its stage (killed mid-API update).
    let api_id = first["rest_api_id"].as_str().unwrap();
    aws.apigateway
        .delete_stage()
        .rest_api_id(api_id)
        .stage_name("dev")
        .send()
        .await
        .unwrap();
    let resources = aws
        .apigateway
        .get_resources()
        .rest_api_id(api_id)
        .send()
        .await
        .unwrap();
    let health = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/health"))
        .unwrap();
    aws.apigateway
        .delete_method()
        .rest_api_id(api_id)
        .resource_id(health.id().unwrap())
        .http_method("GET")
        .send()
        .await
        .unwrap();

    let report = project.deploy("dev", &zips().v2);
    let steps = steps(&report);
    assert_eq!(
        steps,
        ["publish_and_point_alias", "set_routes", "deploy_api"]
    );
    let (served_version, canary) = alias_state(&moto).await;
    assert_eq!(canary, None);
    let served = aws
        .lambda
        .get_function_configuration()
        .function_name("shop-dev")
        .qualifier(served_version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        served.code_sha256().unwrap(),
        report["code_sha256"].as_str().unwrap()
    );
    assert!(
        aws.apigateway
            .get_stage()
            .rest_api_id(api_id)
            .stage_name("dev")
            .send()
            .await
            .is_ok()
    );
    let again = project.deploy("dev", &zips().v2);
    assert_eq!(again["changed"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn build_and_deploy_end_to_end_then_status() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let output = {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        project.slx(&["deploy", "--stage", "dev"])
    };
    assert!(output.status.success());
    let report = stdout_json(&output);
    assert_eq!(report["changed"], true);

    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["deployed"], true);
    assert_eq!(status["in_sync"], true, "{status}");
    assert_eq!(status["code_sha256"], report["code_sha256"]);
    assert_eq!(status["local_code_sha256"], report["code_sha256"]);
    assert_eq!(status["version"], "1");

    project.edit("timeout = 10", "timeout = 20");
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["in_sync"], false);
    assert!(
        status["differences"][0]
            .as_str()
            .unwrap()
            .contains("timeout → 20s"),
        "{status}"
    );

    project.edit("timeout = 20", "timeout = 10");

    // Another local build than the deployed one (here: v2's zip where
    // `slx build` leaves its output): the code differs, in text and JSON.
    let local = project.dir.join(".slx/build/x86_64/bootstrap.zip");
    let deployed = std::fs::read(&local).unwrap();
    std::fs::copy(&zips().v2, &local).unwrap();
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["in_sync"], false, "{status}");
    assert_eq!(status["local_code_sha256"], sha_of(&zips().v2));
    assert_ne!(status["local_code_sha256"], status["code_sha256"]);
    assert!(
        status["differences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().contains("code")),
        "{status}"
    );
    let text = project.slx(&["status", "--stage", "dev", "--output", "text"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("(differs from the last local build)"),
        "{text}"
    );
    std::fs::write(&local, deployed).unwrap();
    let text = project.slx(&["status", "--stage", "dev", "--output", "text"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("(same as the last local build)"), "{text}");
    assert!(text.contains("in sync with slx.toml"), "{text}");

    let missing = stdout_json(&project.slx(&["status", "--stage", "qa"]));
    assert_eq!(missing["deployed"], false);
}

/// The same sources from another checkout (another depth, another
/// CARGO_HOME path, one shared target dir) build to the same bytes, with
/// no path of either in the binary: a deploy from the second is a no-op.
#[tokio::test(flavor = "multi_thread")]
async fn two_checkouts_of_one_app_build_the_same_zip_and_the_second_deploys_nothing() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let first = Project::new(&moto);
    let second = Project::nested(&moto, 3);
    let elsewhere = tempfile::tempdir().unwrap();
    let real_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo")
        });
    let other_home = elsewhere.path().join("cargo-home");
    std::os::unix::fs::symlink(&real_home, &other_home).unwrap();

    let a = {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        first.slx(&["deploy", "--stage", "dev"])
    };
    assert!(a.status.success());
    moto.start_recording();
    // Another CARGO_HOME moves every dependency's sources: cargo builds
    // them all again, in a target dir of its own, so that the shared
    // one's builds stay fresh for the other tests.
    let b = run(second
        .command(&["deploy", "--stage", "dev"])
        .env("CARGO_HOME", &other_home)
        .env(
            "CARGO_TARGET_DIR",
            crate::common::shared_target_dir().join("other-cargo-home"),
        ));
    assert!(b.status.success());
    let (a, b) = (stdout_json(&a), stdout_json(&b));
    assert_eq!(a["changed"], true);
    assert_eq!(b["code_sha256"], a["code_sha256"]);
    assert_eq!(
        (b["changed"].clone(), b["version"].clone()),
        (false.into(), "1".into())
    );
    let mutating: Vec<_> = moto.recorded().into_iter().filter(|r| r.mutating).collect();
    assert!(mutating.is_empty(), "mutating requests: {mutating:?}");

    let zip_of = |project: &Project| {
        std::fs::read(project.dir.join(".slx/build/x86_64/bootstrap.zip")).unwrap()
    };
    let (zip_a, zip_b) = (zip_of(&first), zip_of(&second));
    assert!(zip_a == zip_b, "the zips differ");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_a)).unwrap();
    let mut binary = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name("bootstrap").unwrap(), &mut binary).unwrap();
    for path in [&first.dir, &second.dir, &other_home, &real_home] {
        let needle = path.to_str().unwrap().as_bytes();
        assert!(
            !binary.windows(needle.len()).any(|w| w == needle),
            "{} is in the binary",
            path.display()
        );
    }
    let mapped = b"/slx/app/src/lib.rs";
    assert!(binary.windows(mapped.len()).any(|w| w == mapped));
}

/// While cargo compiles, a deploy creates what cannot change what a stage
/// serves (role, log group, API). When the build then fails, those stay,
/// tagged, and the next deploy reuses them.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_build_leaves_only_tagged_resources_that_the_next_deploy_reuses() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let lib = project.dir.join("src/lib.rs");
    let good = std::fs::read_to_string(&lib).unwrap();
    // A type error: handler signatures check out, rustc refuses.
    std::fs::write(
        &lib,
        format!("{good}\npub fn broken() -> u32 {{ \"not a number\" }}\n"),
    )
    .unwrap();
    let output = {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        project.slx(&["deploy", "--stage", "dev", "--output", "text"])
    };
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("compiling the handler"), "{err}");
    assert!(
        err.contains(
            "the build failed; what was created meanwhile (role, log group, API) is tagged and kept"
        ),
        "{err}"
    );

    let aws = aws(&moto).await;
    let role = aws
        .iam
        .get_role()
        .role_name("shop-dev-role")
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = role
        .role()
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert!(tags.contains(&("slx:stage", "dev")), "{tags:?}");
    let ours = apis_named(&aws, "shop-dev").await;
    assert_eq!(ours.len(), 1);
    let api_id = ours[0].id().unwrap().to_string();
    assert!(
        aws.lambda
            .get_function()
            .function_name("shop-dev")
            .send()
            .await
            .is_err(),
        "no function: nothing is served before the code exists"
    );
    assert!(
        aws.apigateway
            .get_stage()
            .rest_api_id(&api_id)
            .stage_name("dev")
            .send()
            .await
            .is_err(),
        "no stage deployment either"
    );

    std::fs::write(&lib, good).unwrap();
    let output = {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        project.slx(&["deploy", "--stage", "dev"])
    };
    assert!(output.status.success());
    let report = stdout_json(&output);
    assert_eq!(report["rest_api_id"], api_id.as_str(), "the API is reused");
    assert_eq!(
        steps(&report),
        [
            "create_function",
            "publish_and_point_alias",
            "add_invoke_permission",
            "deploy_api"
        ],
        "role, log group and routes are not made again"
    );
}

#[test]
fn missing_region_and_unreachable_endpoint_are_explained() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let output = run(slx(&dir)
        .args([
            "deploy",
            "--zip",
            zips().v1.to_str().unwrap(),
            "--endpoint-url",
            "http://127.0.0.1:9",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true"));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no AWS region is configured"));

    let output = run(slx(&dir)
        .args([
            "deploy",
            "--zip",
            zips().v1.to_str().unwrap(),
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true"));
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    // Reads run concurrently: whichever fails first names its step.
    assert!(err.contains("failed: dispatch failure"), "{err}");
    assert!(
        err.contains("Connection refused") || err.contains("connection refused"),
        "{err}"
    );
    assert!(err.contains("could not connect"), "{err}");

    // No credentials anywhere: one line that says how to get some.
    let output = run(slx(&dir)
        .args([
            "status",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true"));
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("no usable AWS credentials: pass --profile NAME"),
        "{err}"
    );
    assert!(!err.contains("WARN"), "no SDK log noise: {err}");
}

#[test]
fn a_prebuilt_zip_for_the_wrong_arch_is_refused() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("arch = \"x86_64\"", "arch = \"arm64\""),
    )
    .unwrap();
    let output = run(slx(&dir).args([
        "deploy",
        "--zip",
        zips().v1.to_str().unwrap(),
        "--region",
        "us-east-1",
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("built for x86_64, but slx.toml says arch = \"arm64\"")
    );
}

/// Faults injected on purpose between slx and moto: throttling on
/// CreateFunction (more than the SDK's own 3 attempts absorb), an update
/// conflict on UpdateFunctionCode, and a fatal error on CreateDeployment.
/// The first two are retried; the third fails the deploy with the step's
/// name, and the next deploy completes exactly what is missing.
#[tokio::test(flavor = "multi_thread")]
async fn injected_throttling_and_conflicts_are_retried_and_a_failed_step_is_finished_next_time() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let fault = |method: &str, url_part: &str, status, code: &str, message: &str, times| Fault {
        method: method.into(),
        url_part: url_part.into(),
        status,
        code: code.into(),
        message: message.into(),
        times,
    };
    let proxy = Simulator::start(
        &moto.endpoint,
        Behaviours {
            faults: vec![
                fault("POST", "/2015-03-31/functions", 429, "TooManyRequestsException", "Rate exceeded", 4),
                fault("POST", "/deployments", 400, "BadRequestException", "injected failure", 1),
                fault(
                    "PUT",
                    "/code",
                    409,
                    "ResourceConflictException",
                    "The operation cannot be performed at this time. An update is in progress for resource",
                    2,
                ),
            ],
            ..Behaviours::default()
        },
    )
    .unwrap();
    let mut project = Project::new(&moto);
    project.endpoint = proxy.endpoint.clone();

    let output = project.deploy_output("dev", &zips().v1, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("deploy the API to its stage failed: BadRequestException: injected failure"),
        "{err}"
    );
    let throttled = proxy
        .injected()
        .iter()
        .filter(|i| i.ends_with("TooManyRequestsException"))
        .count();
    assert_eq!(throttled, 4, "{:?}", proxy.injected());

    let report = project.deploy("dev", &zips().v1);
    assert_eq!(
        steps(&report),
        ["deploy_api"],
        "only what the failed deploy missed"
    );
    let aws = aws(&moto).await;
    let api_id = report["rest_api_id"].as_str().unwrap();
    assert!(
        aws.apigateway
            .get_stage()
            .rest_api_id(api_id)
            .stage_name("dev")
            .send()
            .await
            .is_ok()
    );

    let report = project.deploy("dev", &zips().v2);
    assert_eq!(steps(&report), ["update_code", "publish_and_point_alias"]);
    assert_eq!(
        proxy.faults_remaining(),
        0,
        "every fault was hit: {:?}",
        proxy.injected()
    );
    assert_eq!(project.deploy("dev", &zips().v2)["changed"], false);
}

/// How `slx plan` (which builds like `slx deploy`) got its zip: cargo was
/// run ("compiled") or the last build was reused.
fn how_built(project: &Project, env: &[(&str, &str)]) -> &'static str {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut command = project.command(&["plan", "--output", "text"]);
    command.envs(env.iter().copied());
    let output = run(&mut command);
    assert!(output.status.success(), "plan failed");
    let err = String::from_utf8_lossy(&output.stderr);
    match (
        err.contains("cargo not run"),
        err.contains("compiled for x86_64"),
    ) {
        (true, false) => "reused",
        (false, true) => "compiled",
        other => panic!("neither or both ({other:?}):\n{err}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_build_is_reused_and_each_kind_of_input_change_rebuilds() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let dir = project.dir.clone();
    let append = |file: &str, text: &str| {
        let path = dir.join(file);
        let mut content = std::fs::read_to_string(&path).unwrap_or_default();
        content.push_str(text);
        std::fs::write(&path, content).unwrap();
    };
    assert_eq!(how_built(&project, &[]), "compiled", "first build");
    assert_eq!(how_built(&project, &[]), "reused", "nothing changed");

    // A source change, which also makes the crate read a data file.
    std::fs::write(dir.join("src/note.txt"), "v1").unwrap();
    append(
        "src/lib.rs",
        "\npub const NOTE: &str = include_str!(\"note.txt\");\n",
    );
    assert_eq!(how_built(&project, &[]), "compiled", "lib.rs changed");
    assert_eq!(how_built(&project, &[]), "reused");
    // A file pulled in by include_str! is an input (cargo's dep-info).
    std::fs::write(dir.join("src/note.txt"), "v2").unwrap();
    assert_eq!(how_built(&project, &[]), "compiled", "note.txt changed");
    // A file the crate does not use is not.
    std::fs::write(dir.join("src/unused.rs"), "// not a module").unwrap();
    assert_eq!(how_built(&project, &[]), "reused", "unused file added");

    // The manifest, the build environment, slx.toml's routes.
    append("Cargo.toml", "\n# a comment\n");
    assert_eq!(how_built(&project, &[]), "compiled", "Cargo.toml changed");
    assert_eq!(how_built(&project, &[]), "reused");
    assert_eq!(
        how_built(
            &project,
            &[("CARGO_PROFILE_LAMBDA_DEBUG_ASSERTIONS", "false")]
        ),
        "compiled",
        "cargo's environment changed"
    );
    assert_eq!(how_built(&project, &[]), "compiled", "and changed back");
    assert_eq!(how_built(&project, &[]), "reused");
    project.edit("\"GET /health\"", "\"GET /healthz\"");
    assert_eq!(how_built(&project, &[]), "compiled", "routes changed");
    assert_eq!(how_built(&project, &[]), "reused");

    // A zip replaced behind slx's back is rebuilt, not trusted.
    let zip = dir.join(".slx/build/x86_64/bootstrap.zip");
    std::fs::write(&zip, b"not the zip").unwrap();
    assert_eq!(how_built(&project, &[]), "compiled", "zip tampered with");
    assert_eq!(how_built(&project, &[]), "reused");
}

/// `deploy --dry-run` is `slx plan`: the plan as text, exit 2 with
/// `--detailed-exitcode`, and no write; `-q` leaves only the result.
#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_plan_and_writes_nothing_and_quiet_prints_only_the_result() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let v1 = zips().v1.to_str().unwrap();
    moto.start_recording();
    let dry = project.slx(&[
        "deploy",
        "--stage",
        "dev",
        "--zip",
        v1,
        "--dry-run",
        "--detailed-exitcode",
        "--output",
        "text",
    ]);
    assert_eq!(dry.status.code(), Some(2));
    assert_eq!(moto.writes(), Vec::<String>::new());
    let text = String::from_utf8_lossy(&dry.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("plan for stage dev: "), "{text}");
    for expected in [
        "  + create IAM role shop-dev-role",
        "  + create log group /aws/lambda/shop-dev",
        "  + create function shop-dev",
        "  + create REST API shop-dev",
    ] {
        assert!(lines.contains(&expected), "`{expected}` in\n{text}");
    }
    assert_eq!(
        lines[0],
        format!("plan for stage dev: {} changes", lines.len() - 1)
    );

    let quiet = project.slx(&[
        "deploy", "--stage", "dev", "--zip", v1, "-q", "--output", "text",
    ]);
    assert!(quiet.status.success());
    let stdout = String::from_utf8_lossy(&quiet.stdout);
    assert!(
        stdout.starts_with("deployed shop-dev (version 1) in "),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    // Only the safety alert about the endpoint override remains.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AWS requests go to"), "{stderr}");

    let plan = project.slx(&["plan", "--stage", "dev", "--zip", v1, "--output", "text"]);
    assert_eq!(
        String::from_utf8_lossy(&plan.stdout).trim(),
        "no changes: stage dev matches slx.toml and the code"
    );
}

/// The statements of the role policy that name `action`.
fn granting<'a>(policy: &'a serde_json::Value, action: &str) -> Vec<&'a serde_json::Value> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|statement| {
            let actions = &statement["Action"];
            actions == action
                || actions
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == action))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn permissions_in_slx_toml_reach_the_role_policy_and_leave_with_them() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let table = "arn:aws:dynamodb:us-east-1:123456789012:table/orders";
    project.edit(
        "[routes]",
        &format!(
            "[[permissions]]\nactions = [\"dynamodb:GetItem\", \"dynamodb:PutItem\"]\nresources = [\"{table}\"]\n\n[routes]"
        ),
    );
    project.deploy("dev", &zips().v1);
    let aws = aws(&moto).await;
    let policy = role_policy(&aws, "shop-dev-role").await;
    let granted = granting(&policy, "dynamodb:PutItem");
    assert_eq!(granted.len(), 1, "{policy}");
    assert_eq!(granted[0]["Effect"], "Allow");
    assert_eq!(
        granted[0]["Resource"],
        serde_json::json!([table]),
        "{policy}"
    );
    assert_eq!(granting(&policy, "dynamodb:GetItem"), granted);
    assert_eq!(granting(&policy, "logs:PutLogEvents").len(), 1);

    // Unchanged: nothing to write. Removed: the grant goes, logging stays.
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);
    let text = std::fs::read_to_string(project.dir.join("slx.toml")).unwrap();
    let (before, after) = text.split_once("[[permissions]]").unwrap();
    let after = &after[after.find("[routes]").unwrap()..];
    std::fs::write(project.dir.join("slx.toml"), format!("{before}{after}")).unwrap();
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(report["changed"], true);
    let policy = role_policy(&aws, "shop-dev-role").await;
    assert!(granting(&policy, "dynamodb:PutItem").is_empty(), "{policy}");
    assert_eq!(granting(&policy, "logs:PutLogEvents").len(), 1);
}

/// A bootstrap patched to need glibc 2.99 (same-length rename of its
/// version strings, still a valid ELF), or padded past Lambda's 50 MB
/// direct-upload limit, zipped as `slx build` would.
fn unusable_zip(
    dir: &std::path::Path,
    name: &str,
    patch: impl Fn(&mut Vec<u8>),
) -> std::path::PathBuf {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zips().v1).unwrap()).unwrap();
    let mut binary = Vec::new();
    archive
        .by_name("bootstrap")
        .unwrap()
        .read_to_end(&mut binary)
        .unwrap();
    patch(&mut binary);
    let path = dir.join(name);
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    writer.start_file("bootstrap", options).unwrap();
    writer.write_all(&binary).unwrap();
    writer.finish().unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_refuses_a_too_new_glibc_and_an_oversized_zip_before_any_write() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let scratch = tempfile::tempdir().unwrap();
    let glibc = unusable_zip(scratch.path(), "glibc.zip", |binary| {
        // `GLIBC_2.34` → `GLIBC_2.99`; `GLIBC_2.2.5` → `GLIBC_2.99` + NUL.
        let needle = b"GLIBC_2.";
        let mut at = 0;
        while let Some(found) = binary[at..].windows(needle.len()).position(|w| w == needle) {
            let start = at + found + needle.len();
            let end = start + binary[start..].iter().position(|b| *b == 0).unwrap();
            if end - start >= 2 {
                binary[start..start + 2].copy_from_slice(b"99");
                binary[start + 2..end].fill(0);
            }
            at = end;
        }
    });
    // Incompressible padding after the ELF's sections: still a valid ELF
    // well under the 250 MB unzipped limit, but a zip above 50 MB.
    let big = unusable_zip(scratch.path(), "big.zip", |binary| {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        binary.extend((0..51 * 1024 * 1024 / 8).flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        }));
    });
    assert!(std::fs::metadata(&big).unwrap().len() > 50 * 1024 * 1024);

    for (zip, expected) in [
        (&glibc, ["needs GLIBC_2.99", "cargo-zigbuild"]),
        (&big, ["52428800 bytes", "direct upload"]),
    ] {
        moto.start_recording();
        let output = project.deploy_output("dev", zip, &[]);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        for expected in expected {
            assert!(stderr.contains(expected), "{stderr}");
        }
        let writes: Vec<_> = moto
            .recorded()
            .into_iter()
            .filter(|call| call.mutating)
            .map(|call| call.action)
            .collect();
        assert!(writes.is_empty(), "refused after writing: {writes:?}");
    }
}

/// 150 routes of three levels make 451 REST API resources or more, over
/// API Gateway's default quota of 300: `slx validate` and `slx plan` say
/// so with the count and the fix, `slx deploy` refuses before any write,
/// and once slx.toml says the account has had the quota raised, the
/// stage is deployed.
#[tokio::test(flavor = "multi_thread")]
async fn a_route_table_over_api_gateways_quotas_is_refused_before_any_write() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let routes: String = (0..150)
        .map(|n| format!("\"POST /r{n}/items/{{id}}\" = \"greet\"\n"))
        .collect();
    project.edit(
        "\"GET /health\" = \"health\"\n",
        &format!("\"GET /health\" = \"health\"\n{routes}"),
    );

    let validated = stdout_json(&project.slx(&["validate", "--stage", "dev"]));
    let over = &validated["over_quotas"][0];
    assert_eq!(over["quota"], "Resources per API", "{validated}");
    assert_eq!(over["limit"], 300, "{validated}");
    assert_eq!(
        over["raised_quotas_key"], "resources_per_api",
        "{validated}"
    );
    let used = over["used"].as_u64().unwrap();
    assert!(used > 451, "{validated}"); // and the scaffold's own

    let zip = zips().v1.to_str().unwrap().to_string();
    let planned = project.slx(&["plan", "--stage", "dev", "--zip", &zip]);
    let said = String::from_utf8_lossy(&planned.stderr);
    assert!(planned.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "{used} resources, over API Gateway's quota \"Resources per API\" of 300"
        )),
        "{said}"
    );

    moto.start_recording();
    let refused = project.deploy_output("dev", &zips().v1, &[]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("raised_quotas = { resources_per_api = N }"),
        "{said}"
    );
    assert_eq!(moto.writes(), Vec::<String>::new());

    project.edit(
        "timeout = 10 ",
        "timeout = 10\nraised_quotas = { resources_per_api = 1000 } ",
    );
    let validated = stdout_json(&project.slx(&["validate", "--stage", "dev"]));
    assert_eq!(
        validated["over_quotas"],
        serde_json::json!([]),
        "{validated}"
    );
    let deployed = project.deploy("dev", &zips().v1);
    assert_eq!(deployed["changed"], true, "{deployed}");
}
