//! Production function settings (`ephemeral_storage`, `layers`,
//! `tracing`, `vpc`) against moto behind slx-sim (moto ignores
//! `EphemeralStorage` and `TracingConfig` in `UpdateFunctionConfiguration`;
//! the simulator applies them as Lambda does): each lands in the
//! function's configuration (and tracing on the API stage, the role's
//! permissions), a change is one configuration update, removal reverts,
//! a no-op deploy writes nothing; the role outlives the network
//! interfaces Lambda releases with it; it carries a permissions boundary,
//! or is one made elsewhere.

use serde_json::Value;

use crate::common::moto::Moto;
use crate::common::stage::{
    Project, aws, aws_at, dev_stage, latest_config, role_policy, steps, zips,
};

/// One EC2 Query API call to moto (slx has no EC2 client; the test makes
/// the network a VPC function goes in); the value of `field` in the answer.
fn ec2(moto: &Moto, params: &[(&str, &str)], field: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut form = vec![("Version", "2016-11-15")];
    form.extend_from_slice(params);
    let mut answer = agent
        .post(&moto.endpoint)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261127/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
        )
        .send_form(form)
        .unwrap();
    let text = answer.body_mut().read_to_string().unwrap();
    let open = format!("<{field}>");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        + open.len();
    let end = text[start..].find('<').unwrap() + start;
    text[start..end].to_string()
}

/// A layer version published in moto's Lambda; its ARN.
async fn layer(moto: &Moto) -> String {
    let aws = aws(moto).await;
    let mut zip = Vec::new();
    {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
        writer
            .start_file("extensions/x", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut writer, b"#!/bin/sh\n").unwrap();
        writer.finish().unwrap();
    }
    let published = aws
        .lambda
        .publish_layer_version()
        .layer_name("otel")
        .content(
            aws_sdk_lambda::types::LayerVersionContentInput::builder()
                .zip_file(aws_smithy_types::Blob::new(zip))
                .build(),
        )
        .send()
        .await
        .unwrap();
    published.layer_version_arn().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn production_settings_land_change_one_field_and_revert_when_removed() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    let (subnet, group) = network(&moto);
    let layer = layer(&moto).await;
    // A layer of another region than the one deployed to (slx.toml names
    // none): refused before the first write.
    project.edit(
        "[stages.prod]",
        "[stages.dev]\nlayers = [\"arn:aws:lambda:eu-west-1:123456789012:layer:otel:1\"]\n\n[stages.prod]",
    );
    let refused = project.deploy_output("dev", &zips().v1, &[]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains(
            "layer arn:aws:lambda:eu-west-1:123456789012:layer:otel:1 is not in us-east-1"
        ),
        "{said}"
    );
    assert!(!crate::common::stage::function_exists(&aws(&moto).await, "shop-dev").await);
    project.edit(
        "[stages.dev]\nlayers = [\"arn:aws:lambda:eu-west-1:123456789012:layer:otel:1\"]\n\n",
        "",
    );
    let settings = format!(
        "[stages.dev]\nephemeral_storage = 2048\ntracing = true\nlayers = [\"{layer}\"]\n\
         vpc = {{ subnets = [\"{subnet}\"], security_groups = [\"{group}\"] }}\n\n"
    );
    project.edit("[stages.prod]", &format!("{settings}[stages.prod]"));
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(report["changed"], true);

    let aws = aws_at(&sim.endpoint, "us-east-1");
    let config = latest_config(&aws, "shop-dev").await;
    assert_eq!(config.ephemeral_storage().unwrap().size(), 2048);
    assert_eq!(
        config.tracing_config().unwrap().mode(),
        Some(&aws_sdk_lambda::types::TracingMode::Active)
    );
    let layers: Vec<&str> = config.layers().iter().filter_map(|l| l.arn()).collect();
    assert_eq!(layers, [layer.as_str()]);
    let vpc_config = config.vpc_config().unwrap();
    assert_eq!(vpc_config.subnet_ids(), [subnet.as_str()]);
    assert_eq!(vpc_config.security_group_ids(), [group.as_str()]);
    let api_id = report["rest_api_id"].as_str().unwrap();
    let stage = dev_stage(&aws, api_id).await;
    assert!(stage.tracing_enabled());
    let policy = role_policy(&aws, "shop-dev-role").await;
    let sids = |policy: &Value| -> Vec<String> {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["Sid"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(
        sids(&policy),
        ["OwnLogGroup", "Tracing", "VpcNetworkInterfaces"]
    );
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);

    // One setting changed: one configuration update naming only it (and,
    // as the settings are part of a version, a new version for the alias).
    project.edit("ephemeral_storage = 2048", "ephemeral_storage = 4096");
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(
        steps(&report),
        ["update_config", "publish_and_point_alias"],
        "{report}"
    );
    let update = &report["steps"][0];
    assert_eq!(update["change"]["ephemeral_storage"], 4096, "{update}");
    assert_eq!(update["change"]["vpc"], false, "{update}");
    let config = latest_config(&aws, "shop-dev").await;
    assert_eq!(config.ephemeral_storage().unwrap().size(), 4096);
    assert_eq!(config.layers().len(), 1, "the layers stay");

    // Removed: back to Lambda's defaults, out of the VPC, tracing off on
    // the function and the stage, the role without those permissions.
    project.edit(&settings.replace("2048", "4096"), "");
    project.deploy("dev", &zips().v1);
    let config = latest_config(&aws, "shop-dev").await;
    assert_eq!(config.ephemeral_storage().unwrap().size(), 512);
    assert_ne!(
        config.tracing_config().and_then(|t| t.mode()),
        Some(&aws_sdk_lambda::types::TracingMode::Active)
    );
    assert!(config.layers().is_empty());
    assert!(
        config
            .vpc_config()
            .is_none_or(|v| v.subnet_ids().is_empty()),
        "{config:?}"
    );
    let stage = dev_stage(&aws, api_id).await;
    assert!(!stage.tracing_enabled());
    // Lambda still held the function's network interface when that
    // deploy read the stage: the role keeps what Lambda releases it with,
    // and the next deploy, once it has, drops that.
    assert_eq!(
        sids(&role_policy(&aws, "shop-dev-role").await),
        ["OwnLogGroup", "ReleaseNetworkInterfaces"]
    );
    let released = project.deploy("dev", &zips().v1);
    assert_eq!(steps(&released), ["put_role_policy"], "{released}");
    assert_eq!(
        sids(&role_policy(&aws, "shop-dev-role").await),
        ["OwnLogGroup"]
    );
    assert_eq!(
        held_interfaces(&sim),
        Vec::<Value>::new(),
        "Lambda released it"
    );
    let last = project.deploy("dev", &zips().v1);
    assert_eq!(last["changed"], false, "{last}");
}

/// The network interfaces slx-sim's Lambda holds for VPC functions.
fn held_interfaces(sim: &slx_sim::Simulator) -> Vec<Value> {
    let mut answer = ureq::get(&format!("{}/_sim/interfaces", sim.endpoint))
        .call()
        .unwrap();
    serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap()
}

/// A network in moto's EC2 for a VPC function: (subnet, security group).
fn network(moto: &Moto) -> (String, String) {
    let vpc = ec2(
        moto,
        &[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")],
        "vpcId",
    );
    let subnet = ec2(
        moto,
        &[
            ("Action", "CreateSubnet"),
            ("VpcId", &vpc),
            ("CidrBlock", "10.0.1.0/24"),
        ],
        "subnetId",
    );
    let group = ec2(
        moto,
        &[
            ("Action", "CreateSecurityGroup"),
            ("VpcId", &vpc),
            ("GroupName", "shop"),
            ("GroupDescription", "shop functions"),
        ],
        "groupId",
    );
    (subnet, group)
}

/// Lambda releases a VPC function's network interfaces with its role,
/// minutes after the function is gone: undeploy keeps the role, with
/// only that right, until it has, and the next undeploy deletes it. A
/// role deleted at once would leave the interface `available` for good,
/// blocking the subnet's and security group's deletion.
#[tokio::test(flavor = "multi_thread")]
async fn a_vpc_stage_s_role_outlives_the_interfaces_lambda_releases_with_it() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let release = slx_sim::Behaviours {
        // 2 s at the suite's pace.
        interface_release_s: 2.0 / crate::common::TIME_SCALE,
        ..slx_sim::Behaviours::default()
    };
    let (sim, project) = Project::behind_simulator(&moto, release);
    let (subnet, group) = network(&moto);
    project.edit(
        "[stages.prod]",
        &format!(
            "[stages.dev]
vpc = {{ subnets = [\"{subnet}\"], security_groups = [\"{group}\"] }}

[stages.prod]"
        ),
    );
    project.deploy("dev", &zips().v1);
    assert_eq!(held_interfaces(&sim).len(), 1);

    let undeploy = project.slx(&["undeploy", "--stage", "dev", "--yes", "--output", "text"]);
    let said = String::from_utf8_lossy(&undeploy.stdout).into_owned()
        + &String::from_utf8_lossy(&undeploy.stderr);
    assert!(undeploy.status.success(), "{said}");
    assert!(
        said.contains("keep IAM role shop-dev-role with only what Lambda needs to release eni-"),
        "{said}"
    );
    let aws = aws_at(&sim.endpoint, "us-east-1");
    assert!(!crate::common::stage::function_exists(&aws, "shop-dev").await);
    let kept = role_policy(&aws, "shop-dev-role").await;
    assert_eq!(kept["Statement"].as_array().unwrap().len(), 1, "{kept}");
    assert_eq!(kept["Statement"][0]["Sid"], "ReleaseNetworkInterfaces");

    let status = project.slx(&["status", "--stage", "dev"]);
    let status = crate::common::stdout_json(&status);
    assert_eq!(status["deployed"], false, "{status}");
    assert_eq!(
        status["held_interfaces"].as_array().unwrap().len(),
        1,
        "{status}"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !held_interfaces(&sim).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "Lambda never released the interface: {:?}",
            held_interfaces(&sim)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let again = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(!crate::common::stage::role_exists(&aws, "shop-dev-role").await);
}

/// The two ways out of a deploy role that could make itself
/// administrator (docs/ci.md): a stage's role carries slx.toml's
/// permissions boundary, set first on a role made without it, read back
/// as it is, and set as a role is made; a role made elsewhere replaces
/// it, deployed with every IAM action denied, and slx writes nothing to
/// that role; the one slx made stays for the older version until
/// undeploy, which leaves the other alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_stage_s_role_carries_its_boundary_or_is_made_elsewhere() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    // Straight to moto: the test reads IAM while slx-sim denies it to slx.
    let aws = aws(&moto).await;
    let boundary = "arn:aws:iam::123456789012:policy/slx-boundary";
    let bounded = format!("permissions_boundary = \"{boundary}\"");
    let carried = async |name: &str| {
        let role = aws.iam.get_role().role_name(name).send().await.unwrap();
        role.role
            .unwrap()
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(str::to_string)
    };
    project.deploy("dev", &zips().v1);
    assert_eq!(carried("shop-dev-role").await, None);
    project.edit(
        "[stages.prod]",
        &format!("[stages.dev]\n{bounded}\n\n[stages.prod]"),
    );
    let bounded_now = project.deploy("dev", &zips().v1);
    assert_eq!(steps(&bounded_now), ["set_boundary"], "{bounded_now}");
    assert_eq!(carried("shop-dev-role").await.as_deref(), Some(boundary));
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);

    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }],
    });
    let made = aws
        .iam
        .create_role()
        .role_name("shop-dev-function")
        .path("/ops/")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let arn = made.role.unwrap().arn;
    project.edit(&bounded, &format!("role = \"{arn}\""));
    // As under the policy printed for `role`: no IAM action at all
    // (passing the role is no call of its own).
    let no_iam = |denied: Vec<String>| slx_sim::Behaviours {
        denied,
        ..slx_sim::Behaviours::default()
    };
    sim.set_behaviours(no_iam(
        [
            "GetRole",
            "GetRolePolicy",
            "CreateRole",
            "TagRole",
            "PutRolePolicy",
            "PutRolePermissionsBoundary",
            "UpdateAssumeRolePolicy",
            "DeleteRolePolicy",
            "DeleteRole",
        ]
        .map(|action| format!("iam:{action}"))
        .into(),
    ));
    let report = project.deploy("dev", &zips().v1);
    assert_eq!(
        steps(&report),
        ["update_config", "publish_and_point_alias"],
        "{report}"
    );
    assert_eq!(
        latest_config(&aws, "shop-dev").await.role(),
        Some(arn.as_str())
    );
    assert!(crate::common::stage::role_exists(&aws, "shop-dev-role").await);
    let written = aws
        .iam
        .list_role_policies()
        .role_name("shop-dev-function")
        .send()
        .await
        .unwrap();
    assert!(written.policy_names().is_empty(), "{written:?}");
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);

    let printed = project.slx(&[
        "iam-policy",
        "--stage",
        "dev",
        "--function-role",
        "--output",
        "json",
    ]);
    let printed = crate::common::stdout_json(&printed);
    assert_eq!(printed["arn"], arn.as_str());
    assert_eq!(printed["made_by"], "elsewhere");
    assert_eq!(printed["policy"]["Statement"][0]["Sid"], "OwnLogGroup");

    // With IAM reads allowed again, undeploy finds and deletes the role
    // slx made before.
    sim.set_behaviours(no_iam(Vec::new()));
    let undeploy = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(
        undeploy.status.success(),
        "{}",
        String::from_utf8_lossy(&undeploy.stderr)
    );
    assert!(!crate::common::stage::function_exists(&aws, "shop-dev").await);
    assert!(!crate::common::stage::role_exists(&aws, "shop-dev-role").await);
    assert!(crate::common::stage::role_exists(&aws, "shop-dev-function").await);

    // Made anew: with the boundary from its first call.
    project.edit(&format!("role = \"{arn}\""), &bounded);
    project.deploy("dev", &zips().v1);
    assert_eq!(carried("shop-dev-role").await.as_deref(), Some(boundary));
}

/// Provisioned concurrency is the stage alias's (slx-sim emulates the API
/// moto lacks): the plan says what it costs, a new version keeps it (it
/// follows the alias), a change or removal is one call, undeploy takes it
/// with the function.
#[tokio::test(flavor = "multi_thread")]
async fn provisioned_concurrency_stays_on_the_alias_and_leaves_with_the_stage() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    project.edit(
        "[stages.prod]",
        "[stages.dev]\nprovisioned_concurrency = 2\n\n[stages.prod]",
    );
    let plan = project.slx(&[
        "plan",
        "--stage",
        "dev",
        "--zip",
        zips().v1.to_str().unwrap(),
        "--output",
        "text",
    ]);
    let plan_text =
        String::from_utf8_lossy(&plan.stdout).into_owned() + &String::from_utf8_lossy(&plan.stderr);
    assert!(
        plan_text.contains(
            "keep 2 instances of alias dev initialised (provisioned concurrency: billed every hour it is set, used or not)"
        ),
        "{plan_text}"
    );
    let report = project.deploy("dev", &zips().v1);
    assert!(
        steps(&report).contains(&"set_provisioned_concurrency".to_string()),
        "{report}"
    );
    let aws = aws_at(&sim.endpoint, "us-east-1");
    let requested = |aws: &crate::common::stage::Aws| {
        let lambda = aws.lambda.clone();
        async move {
            lambda
                .get_provisioned_concurrency_config()
                .function_name("shop-dev")
                .qualifier("dev")
                .send()
                .await
                .ok()
                .and_then(|c| c.requested_provisioned_concurrent_executions())
        }
    };
    assert_eq!(requested(&aws).await, Some(2));
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);

    // New code: the alias moves, the provisioned concurrency with it.
    let report = project.deploy("dev", &zips().v2);
    assert!(
        !steps(&report).contains(&"set_provisioned_concurrency".to_string()),
        "{report}"
    );
    assert_eq!(requested(&aws).await, Some(2));

    project.edit("provisioned_concurrency = 2", "provisioned_concurrency = 3");
    let report = project.deploy("dev", &zips().v2);
    assert_eq!(steps(&report), ["set_provisioned_concurrency"], "{report}");
    assert_eq!(requested(&aws).await, Some(3));

    project.edit("provisioned_concurrency = 3\n", "");
    let report = project.deploy("dev", &zips().v2);
    assert_eq!(steps(&report), ["set_provisioned_concurrency"], "{report}");
    assert_eq!(requested(&aws).await, None);

    // Above the reservation: refused before any AWS call, with the line.
    project.edit(
        "[stages.dev]\n",
        "[stages.dev]\nconcurrency = 2\nprovisioned_concurrency = 4\n",
    );
    let refused = project.slx(&["validate", "--output", "text"]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("4 instances kept warm, but `concurrency` reserves only 2"),
        "{said}"
    );

    project.edit("provisioned_concurrency = 4", "provisioned_concurrency = 1");
    project.deploy("dev", &zips().v2);
    assert_eq!(requested(&aws).await, Some(1));
    let undeployed = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(undeployed.status.success());
    assert_eq!(requested(&aws).await, None);
}

/// Lambda allocates provisioned concurrency over minutes, and again to
/// each version the alias moves to: a deploy returns once it is `READY`
/// (its checks and traffic meet warm instances), and an allocation that
/// ends `FAILED` fails the deploy with Lambda's reason, to be requested
/// again by the next.
#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_waits_for_warm_instances_and_fails_with_lambdas_reason() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    // 40 s to allocate, at the suite's pace.
    let slow = slx_sim::Behaviours {
        pending_s: 40.0,
        ..slx_sim::Behaviours::default()
    };
    let (sim, project) = Project::behind_simulator(&moto, slow.clone());
    project.edit(
        "[stages.prod]",
        "[stages.dev]\nprovisioned_concurrency = 2\n\n[stages.prod]",
    );
    let aws = aws_at(&sim.endpoint, "us-east-1");
    let status = |aws: &crate::common::stage::Aws| {
        let lambda = aws.lambda.clone();
        async move {
            let config = lambda
                .get_provisioned_concurrency_config()
                .function_name("shop-dev")
                .qualifier("dev")
                .send()
                .await
                .unwrap();
            (
                config.status().map(|s| s.as_str().to_string()),
                config.status_reason().map(str::to_string),
            )
        }
    };
    let ready = (Some("READY".to_string()), None);
    project.deploy("dev", &zips().v1);
    assert_eq!(status(&aws).await, ready, "the first deploy waited");
    // New code: the alias moves, Lambda allocates anew; the deploy waits.
    project.deploy("dev", &zips().v2);
    assert_eq!(status(&aws).await, ready, "waited after the alias moved");

    sim.set_behaviours(crate::common::stage::paced(slx_sim::Behaviours {
        provisioned_failure: Some("FUNCTION_ERROR_INIT_FAILURE".into()),
        ..slow
    }));
    project.edit("provisioned_concurrency = 2", "provisioned_concurrency = 3");
    let failed = project.deploy_output("dev", &zips().v2, &["--output", "text"]);
    assert!(!failed.status.success());
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(
        said.contains("allocate the provisioned concurrency of shop-dev:dev")
            && said.contains("FUNCTION_ERROR_INIT_FAILURE"),
        "{said}"
    );
    // The next deploy requests it again.
    sim.set_behaviours(crate::common::stage::paced(slx_sim::Behaviours::default()));
    let report = project.deploy("dev", &zips().v2);
    assert_eq!(steps(&report), ["set_provisioned_concurrency"], "{report}");
    assert_eq!(status(&aws).await, ready);
}

/// An update Lambda cannot apply (a VPC subnet out of addresses) leaves
/// the previous configuration serving, and Lambda takes the next update:
/// the deploy that made it fails with Lambda's reason, and the next one
/// applies the change (slx once refused every later deploy, so the fix
/// could never land).
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_update_is_reported_and_the_next_deploy_applies_the_change() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    project.deploy("dev", &zips().v1);
    sim.set_behaviours(crate::common::stage::paced(slx_sim::Behaviours {
        update_failure: Some("SubnetOutOfIPAddresses".into()),
        ..slx_sim::Behaviours::default()
    }));
    project.edit("memory = 256", "memory = 512");
    let failed = project.deploy_output("dev", &zips().v1, &["--output", "text"]);
    assert!(!failed.status.success());
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(
        said.contains("SubnetOutOfIPAddresses")
            && said.contains("keeps its previous code and configuration"),
        "{said}"
    );
    let aws = aws_at(&sim.endpoint, "us-east-1");
    let memory = |aws: &crate::common::stage::Aws| {
        let lambda = aws.lambda.clone();
        async move {
            lambda
                .get_function_configuration()
                .function_name("shop-dev")
                .send()
                .await
                .unwrap()
                .memory_size()
        }
    };
    assert_eq!(
        memory(&aws).await,
        Some(256),
        "the previous configuration serves"
    );

    sim.set_behaviours(crate::common::stage::paced(slx_sim::Behaviours::default()));
    let report = project.deploy("dev", &zips().v1);
    assert!(
        steps(&report).contains(&"update_config".to_string()),
        "{report}"
    );
    assert_eq!(memory(&aws).await, Some(512));
}

/// A function Lambda could not create (`State: Failed`) takes no update:
/// the deploy that made it fails with Lambda's reason, and the next one
/// deletes it, saying why, and creates it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_function_lambda_could_not_create_is_made_again_by_the_next_deploy() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(
        &moto,
        slx_sim::Behaviours {
            create_failure: Some("SubnetOutOfIPAddresses".into()),
            pending_s: 5.0,
            ..slx_sim::Behaviours::default()
        },
    );
    let failed = project.deploy_output("dev", &zips().v1, &["--output", "text"]);
    assert!(!failed.status.success());
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(
        said.contains("could not be created") && said.contains("SubnetOutOfIPAddresses"),
        "{said}"
    );
    sim.set_behaviours(crate::common::stage::paced(slx_sim::Behaviours::default()));
    let report = project.deploy("dev", &zips().v1);
    let made = steps(&report);
    let at = |action: &str| made.iter().position(|a| a == action);
    assert!(
        at("delete_failed_function").unwrap() < at("create_function").unwrap(),
        "{made:?}"
    );
    let answer = project.greet("dev", "again");
    assert_eq!(answer["status"], 200, "it serves: {answer}");
}

/// With tracing on, each invocation's trace id reaches the app (the
/// runtime sets `_X_AMZN_TRACE_ID` from Lambda's `Lambda-Runtime-Trace-Id`
/// per invocation), so an X-Ray or OpenTelemetry client joins the trace.
#[tokio::test(flavor = "multi_thread")]
async fn each_invocation_s_trace_id_reaches_the_app() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (_sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    project.edit(
        "\"GET /health\" = \"health\"\n",
        "\"GET /health\" = \"health\"\n\"GET /trace\" = \"trace\"\n",
    );
    project.edit(
        "[stages.prod]",
        "[stages.dev]\ntracing = true\n\n[stages.prod]",
    );
    project.deploy("dev", &zips().v2);
    let trace = || {
        let output = project.slx(&["invoke", "GET /trace", "--stage", "dev"]);
        assert!(output.status.success());
        crate::common::stdout_json(&output)["body"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (first, second) = (trace(), trace());
    assert!(first.contains("Root=1-"), "{first}");
    assert!(second.contains("Root=1-"), "{second}");
    assert_ne!(first, second, "one trace per invocation");
}
