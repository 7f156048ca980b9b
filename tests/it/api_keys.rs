//! API keys and usage plans: routes with `api_key = true`, the stage's
//! usage plan, and `slx keys create|list|revoke`, deployed through the
//! simulator (which refuses, as API Gateway does, a plan on a stage that
//! does not exist and the deletion of a plan that still covers one), and
//! enforced by `slx dev` over real HTTP.

use std::collections::BTreeSet;

use crate::common::moto::Moto;
use crate::common::stage::{Project, aws, plan_actions, zips};
use crate::common::{BUILD_LOCK, scaffold, stdout_json};
use crate::dev::{Dev, send};

const PLAN: &str = "[usage_plan]\nrate = 10\nburst = 20\nquota = 1000\nper = \"day\"\n\n[routes]";

/// The scaffold behind slx-sim with `POST /greet` needing a key and a
/// usage plan.
fn keyed_stage(moto: &Moto) -> (slx_sim::Simulator, Project) {
    let (sim, project) = Project::behind_simulator(moto, slx_sim::Behaviours::default());
    project.edit(
        "\"POST /greet\" = \"greet\"",
        "\"POST /greet\" = { handler = \"greet\", api_key = true }",
    );
    project.edit("[routes]", PLAN);
    (sim, project)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A read-only role is kept from API keys' values (`slx iam-policy
/// --read-only` denies the reads that answer them): `slx plan` still
/// plans, saying it left the keys out; a deploy or undeploy with such
/// credentials stops before its first write.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_kept_from_key_values_plan_without_keys_and_write_nothing() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = keyed_stage(&moto);
    project.deploy("dev", &zips().v1);
    assert!(
        project
            .slx(&["keys", "create", "partner-a", "--stage", "dev"])
            .status
            .success()
    );

    sim.set_behaviours(slx_sim::Behaviours {
        denied: vec![
            "apigateway:GetApiKeys".into(),
            "apigateway:GetUsagePlanKeys".into(),
        ],
        ..crate::common::stage::paced(slx_sim::Behaviours::default())
    });
    let zip = zips().v2.to_str().unwrap().to_string();
    let plan = project.slx(&["plan", "--stage", "dev", "--zip", &zip]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert!(
        stderr(&plan).contains("these credentials may not read the stage's API keys"),
        "{}",
        stderr(&plan)
    );
    assert!(
        plan_actions(&plan)
            .iter()
            .all(|a| !a.contains("usage plan")),
        "{:?}",
        plan_actions(&plan)
    );

    let before = sim.events().len();
    for command in [
        vec!["deploy", "--stage", "dev", "--zip", &zip],
        vec!["undeploy", "--stage", "dev", "--yes"],
    ] {
        let refused = project.slx(&command);
        assert!(!refused.status.success(), "{command:?}");
        assert!(
            stderr(&refused).contains("read the stage's API keys failed"),
            "{}",
            stderr(&refused)
        );
    }
    let writes: Vec<String> = sim.events()[before..]
        .iter()
        .filter(|e| e.mutating)
        .map(|e| e.operation.clone())
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_belong_to_the_stage_plan_and_leave_with_it() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = keyed_stage(&moto);

    // Before the first deploy there is no plan to put a key in.
    let early = project.slx(&["keys", "create", "partner-a", "--stage", "dev"]);
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains("has no usage plan yet"),
        "{}",
        stderr(&early)
    );

    moto.start_recording();
    project.deploy("dev", &zips().v1);
    let import = moto.recorded_imports().remove(0);
    assert_eq!(
        import["paths"]["/greet"]["post"]["security"],
        serde_json::json!([{ "api_key": [] }])
    );
    assert!(import["paths"]["/health"]["get"]["security"].is_null());
    assert_eq!(import["x-amazon-apigateway-api-key-source"], "HEADER");

    let aws = aws(&moto).await;
    let plans = aws.apigateway.get_usage_plans().send().await.unwrap();
    let plan = &plans.items()[0];
    assert_eq!(plans.items().len(), 1);
    assert_eq!(plan.name(), Some("shop-dev"));
    assert_eq!(plan.tags().unwrap()["slx:stage"], "dev");
    let api_id = crate::common::stage::apis_named(&aws, "shop-dev").await[0]
        .id()
        .unwrap()
        .to_string();
    let stage = &plan.api_stages()[0];
    assert_eq!(
        (stage.api_id(), stage.stage()),
        (Some(api_id.as_str()), Some("dev"))
    );
    let throttle = plan.throttle().unwrap();
    assert_eq!((throttle.rate_limit(), throttle.burst_limit()), (10.0, 20));
    assert_eq!(plan.quota().unwrap().limit(), 1000);
    let plan_id = plan.id().unwrap().to_string();

    // A second deploy changes nothing.
    moto.start_recording();
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);
    assert_eq!(moto.writes(), Vec::<String>::new());

    // A key: its value once, in the plan, tagged; a second of that name
    // is refused.
    let created = stdout_json(&project.slx(&["keys", "create", "partner-a", "--stage", "dev"]));
    crate::common::assert_documented("slx keys create", &created);
    let value = created["value"].as_str().unwrap().to_string();
    assert!(value.len() >= 20, "{created}");
    let key_id = created["id"].as_str().unwrap().to_string();
    let keys = aws.apigateway.get_api_keys().send().await.unwrap();
    let key = keys
        .items()
        .iter()
        .find(|k| k.id() == Some(key_id.as_str()))
        .unwrap();
    assert_eq!(key.name(), Some("shop-dev-partner-a"));
    assert_eq!(key.tags().unwrap()["slx:key"], "partner-a");
    let held = aws
        .apigateway
        .get_usage_plan_keys()
        .usage_plan_id(&plan_id)
        .send()
        .await
        .unwrap();
    assert_eq!(held.items()[0].id(), Some(key_id.as_str()));
    let again = project.slx(&["keys", "create", "partner-a", "--stage", "dev"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already has a key `partner-a`"));
    let bad = project.slx(&["keys", "create", "Partner A", "--stage", "dev"]);
    assert!(
        stderr(&bad).contains("cannot name a key"),
        "{}",
        stderr(&bad)
    );

    // Listed by name, never with its value: not in list, status or plan.
    let listed = stdout_json(&project.slx(&["keys", "list", "--stage", "dev"]));
    crate::common::assert_documented("slx keys list", &listed);
    assert_eq!(listed["keys"][0]["name"], "partner-a");
    assert_eq!(listed["keys"][0]["in_usage_plan"], true);
    for args in [
        vec!["keys", "list", "--stage", "dev"],
        vec!["keys", "list", "--stage", "dev", "--output", "text"],
        vec!["status", "--stage", "dev"],
        vec![
            "plan",
            "--stage",
            "dev",
            "--zip",
            zips().v1.to_str().unwrap(),
            "-v",
        ],
    ] {
        let output = project.slx(&args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
        assert!(!all.contains(&value), "{args:?} shows the key's value");
    }

    // Revoked: gone from API Gateway.
    project.slx(&["keys", "create", "partner-b", "--stage", "dev"]);
    let revoked = project.slx(&["keys", "revoke", "partner-b", "--stage", "dev"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    crate::common::assert_documented("slx keys revoke", &stdout_json(&revoked));
    let names: BTreeSet<String> = aws
        .apigateway
        .get_api_keys()
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter_map(|k| k.name().map(str::to_string))
        .collect();
    assert_eq!(names, BTreeSet::from(["shop-dev-partner-a".to_string()]));
    let unknown = project.slx(&["keys", "revoke", "partner-c", "--stage", "dev"]);
    assert!(
        stderr(&unknown).contains("did you mean `partner-a`?"),
        "{}",
        stderr(&unknown)
    );

    // New limits: one update of the plan.
    project.edit("quota = 1000", "quota = 5000");
    let plan = project.slx(&[
        "plan",
        "--stage",
        "dev",
        "--zip",
        zips().v1.to_str().unwrap(),
    ]);
    assert_eq!(plan_actions(&plan), ["update_usage_plan"]);
    project.deploy("dev", &zips().v1);
    // Read through the simulator: moto keeps a patched number as text.
    let through_sim = crate::common::stage::aws_at(&sim.endpoint, "us-east-1");
    let plans = through_sim
        .apigateway
        .get_usage_plans()
        .send()
        .await
        .unwrap();
    assert_eq!(plans.items()[0].quota().unwrap().limit(), 5000);

    // Undeploy: the plan says the keys go; then nothing of them is left
    // (the simulator refuses to delete a plan that covers a stage).
    let plan = project.slx(&["undeploy", "--stage", "dev", "--output", "text"]);
    assert!(!plan.status.success(), "refused without --yes");
    let text = format!("{}{}", String::from_utf8_lossy(&plan.stdout), stderr(&plan));
    assert!(text.contains("delete API key partner-a"), "{text}");
    let gone = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(gone.status.success(), "{}", stderr(&gone));
    assert!(
        aws.apigateway
            .get_usage_plans()
            .send()
            .await
            .unwrap()
            .items()
            .is_empty()
    );
    assert!(
        aws.apigateway
            .get_api_keys()
            .send()
            .await
            .unwrap()
            .items()
            .is_empty()
    );

    // Every call made is in `slx iam-policy`.
    crate::fidelity::assert_iam_policy_covers(&project, &sim, "dev");
}

#[test]
fn slx_dev_refuses_a_keyed_route_without_the_key() {
    let _timing = crate::common::timing();
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (_temp, dir) = scaffold("shop");
    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "\"POST /greet\" = \"greet\"",
            "\"POST /greet\" = { handler = \"greet\", api_key = true }",
        ),
    )
    .unwrap();
    let dev = Dev::start(&dir);
    let banner = dev
        .lines_until("watching for changes", std::time::Duration::from_secs(60))
        .join("\n");
    let key = banner
        .split("API key for routes with api_key = true: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the banner prints the key")
        .to_string();
    let url = &dev.url;
    let body = br#"{"name":"Ada"}"#;
    let greet = |headers: &[(&str, &str)]| {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        send("POST", &format!("{url}/greet"), &all, Some(body))
    };
    let (status, _, answer) = greet(&[]);
    assert_eq!(
        (status, answer.as_slice()),
        (403, br#"{"message":"Forbidden"}"#.as_slice())
    );
    dev.wait_for(
        "no API key: the route has api_key = true",
        std::time::Duration::from_secs(10),
    );
    let (status, _, _) = greet(&[("x-api-key", "wrong")]);
    assert_eq!(status, 403);
    let (status, _, answer) = greet(&[("x-api-key", &key)]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    // Routes without the flag need no key.
    let (status, _, _) = send("GET", &format!("{url}/health"), &[], None);
    assert_eq!(status, 200);
}
