//! A deploy (or undeploy) killed after any of its writes, or whose answer
//! to any write is lost, is finished by the next run: the stage then
//! serves exactly the new state, nothing is duplicated or orphaned, and a
//! further deploy sends no write. Runs every k for each scenario.

use std::process::Stdio;
use std::time::{Duration, Instant};

use slx_sim::{Behaviours, Simulator};

use crate::common::moto::Moto;
use crate::common::stage::{
    Aws, Project, alias_statements, apis_named, aws, function_exists, log_groups_under,
    role_exists, served_config, sha_of, zips,
};
use crate::common::stdout_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    FirstDeploy,
    CodeChange,
    RouteChange,
    Undeploy,
    /// A first deploy to prod of the scaffold README's production setup:
    /// a custom domain, a usage plan, API keys, CORS, a Cognito route.
    Production,
}

struct Stage {
    _moto: Moto,
    sim: Simulator,
    project: Project,
    aws: Aws,
}

impl Scenario {
    /// A stage in the state the scenario starts from, behind a simulator.
    async fn prepare(self) -> Stage {
        let moto = Moto::start();
        let (sim, project) = Project::behind_simulator(&moto, Behaviours::default());
        if self != Scenario::FirstDeploy {
            project.deploy("dev", &zips().v1);
        }
        if self == Scenario::RouteChange {
            project.edit("\"GET /health\"", "\"GET /healthz\"");
        }
        if self == Scenario::Production {
            let blocks = crate::going_to_production::production_blocks(&project.dir);
            let config = project.dir.join("slx.toml");
            let text = crate::going_to_production::as_the_readme_says(
                &std::fs::read_to_string(&config).unwrap(),
                &blocks,
            );
            std::fs::write(&config, text).unwrap();
        }
        let aws = aws(&moto).await;
        Stage {
            _moto: moto,
            sim,
            project,
            aws,
        }
    }

    fn stage(self) -> &'static str {
        match self {
            Scenario::Production => "prod",
            _ => "dev",
        }
    }

    /// The write numbers to stop at: every one, or every few (a long
    /// plan; `SLX_KILL_STRIDE=1` runs every one).
    fn kill_points(self, total: usize) -> Vec<usize> {
        match self {
            Scenario::Production => crate::common::kill_points(total),
            _ => (1..=total).collect(),
        }
    }

    fn args(self) -> Vec<String> {
        let zip = match self {
            Scenario::CodeChange => &zips().v2,
            _ => &zips().v1,
        };
        match self {
            Scenario::Undeploy => vec![
                "undeploy".into(),
                "--stage".into(),
                "dev".into(),
                "--yes".into(),
            ],
            _ => vec![
                "deploy".into(),
                "--stage".into(),
                self.stage().into(),
                "--zip".into(),
                zip.to_str().unwrap().into(),
            ],
        }
    }

    fn run(self, project: &Project) -> std::process::Output {
        let args = self.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        project.slx(&args)
    }
}

fn writes(sim: &Simulator, from: usize) -> usize {
    sim.events()
        .iter()
        .filter(|e| e.seq >= from && e.mutating)
        .count()
}

/// Whether the stage is exactly what the scenario leads to.
async fn assert_converged(scenario: Scenario, stage: &Stage, context: &str) {
    let name = format!("shop-{}", scenario.stage());
    let ours = apis_named(&stage.aws, &name).await.len();
    if scenario == Scenario::Undeploy {
        assert_eq!(ours, 0, "{context}: API left");
        assert!(!function_exists(&stage.aws, "shop-dev").await, "{context}");
        assert!(!role_exists(&stage.aws, "shop-dev-role").await, "{context}");
        assert!(
            log_groups_under(&stage.aws, "/aws/lambda/shop-dev")
                .await
                .is_empty(),
            "{context}: log group left"
        );
        assert!(
            log_groups_under(&stage.aws, "/slx/leases/shop-dev/")
                .await
                .is_empty(),
            "{context}: deploy lease left"
        );
        return;
    }
    assert_eq!(ours, 1, "{context}: exactly one API");
    let expected_zip = match scenario {
        Scenario::CodeChange => &zips().v2,
        _ => &zips().v1,
    };
    let expected = sha_of(expected_zip);
    assert_eq!(
        served_config(&stage.aws).await.code_sha256(),
        Some(expected.as_str()),
        "{context}: alias serves the new code"
    );
    if scenario == Scenario::Production {
        assert_production(stage, context).await;
    } else {
        assert_eq!(
            alias_statements(&stage.aws).await.len(),
            1,
            "{context}: one permission"
        );
    }
    // Routes *deployed* on the stage, config, alias: what status compares.
    let status = stdout_json(&stage.project.slx(&["status", "--stage", scenario.stage()]));
    assert_eq!(status["in_sync"], true, "{context}: {status}");
    // And nothing left to do.
    let before = stage.sim.events().len();
    let again = scenario.run(&stage.project);
    assert!(again.status.success(), "{context}");
    assert_eq!(stdout_json(&again)["changed"], false, "{context}");
    assert_eq!(
        writes(&stage.sim, before),
        0,
        "{context}: a further deploy writes nothing"
    );
}

/// One usage plan covering the stage, one mapping of the domain to it.
async fn assert_production(stage: &Stage, context: &str) {
    let api = apis_named(&stage.aws, "shop-prod").await[0]
        .id()
        .unwrap()
        .to_string();
    let plans = stage.aws.apigateway.get_usage_plans().send().await.unwrap();
    let plans: Vec<_> = plans
        .items()
        .iter()
        .filter(|p| p.name() == Some("shop-prod"))
        .collect();
    assert_eq!(plans.len(), 1, "{context}: one usage plan");
    let covered: Vec<(Option<&str>, Option<&str>)> = plans[0]
        .api_stages()
        .iter()
        .map(|s| (s.api_id(), s.stage()))
        .collect();
    assert_eq!(covered, [(Some(api.as_str()), Some("prod"))], "{context}");
    let mappings = stage
        .aws
        .apigateway
        .get_base_path_mappings()
        .domain_name("api.example.com")
        .send()
        .await
        .unwrap();
    let mapped: Vec<(Option<&str>, Option<&str>)> = mappings
        .items()
        .iter()
        .map(|m| (m.rest_api_id(), m.stage()))
        .collect();
    assert_eq!(mapped, [(Some(api.as_str()), Some("prod"))], "{context}");
}

/// How many writes the scenario's command makes, undisturbed.
async fn writes_of(scenario: Scenario) -> usize {
    let stage = scenario.prepare().await;
    let before = stage.sim.events().len();
    assert!(scenario.run(&stage.project).status.success());
    writes(&stage.sim, before)
}

async fn killed_after_each_write(scenario: Scenario) {
    let total = writes_of(scenario).await;
    assert!(total >= 1, "{scenario:?} writes");
    for k in scenario.kill_points(total) {
        let stage = scenario.prepare().await;
        stage.sim.set_behaviours(Behaviours {
            hold_after_writes: Some(k),
            ..Behaviours::default()
        });
        let args = scenario.args();
        let mut child = stage
            .project
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until slx wants a write beyond the k-th (or is done).
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stage.sim.events().iter().any(|e| e.outcome == "held") {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{scenario:?} k={k}: neither held nor done"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        stage.sim.set_behaviours(Behaviours::default());
        let rerun = scenario.run(&stage.project);
        assert!(
            rerun.status.success(),
            "{scenario:?} killed after write {k}: rerun failed"
        );
        assert_converged(
            scenario,
            &stage,
            &format!("{scenario:?} killed after write {k} of {total}"),
        )
        .await;
    }
}

async fn answer_lost_for_each_write(scenario: Scenario) {
    let total = writes_of(scenario).await;
    for k in scenario.kill_points(total) {
        let stage = scenario.prepare().await;
        stage.sim.set_behaviours(Behaviours {
            lose_write: Some(k),
            ..Behaviours::default()
        });
        // The run may succeed (slx re-read or retried) or stop with an
        // error naming the step; the next run finishes either way.
        let _ = scenario.run(&stage.project);
        stage.sim.set_behaviours(Behaviours::default());
        let rerun = scenario.run(&stage.project);
        assert!(
            rerun.status.success(),
            "{scenario:?} answer {k} lost: rerun failed"
        );
        assert_converged(
            scenario,
            &stage,
            &format!("{scenario:?} answer to write {k} of {total} lost"),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_deploy_killed_after_any_write_is_finished_by_the_next() {
    killed_after_each_write(Scenario::FirstDeploy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_change_killed_after_any_write_is_finished_by_the_next() {
    killed_after_each_write(Scenario::CodeChange).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_change_killed_after_any_write_is_finished_by_the_next() {
    killed_after_each_write(Scenario::RouteChange).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undeploy_killed_after_any_write_is_finished_by_the_next() {
    killed_after_each_write(Scenario::Undeploy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_any_write_of_a_first_deploy_converges() {
    answer_lost_for_each_write(Scenario::FirstDeploy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_any_write_of_a_code_change_or_undeploy_converges() {
    answer_lost_for_each_write(Scenario::CodeChange).await;
    answer_lost_for_each_write(Scenario::Undeploy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_production_setup_killed_or_unanswered_at_any_write_converges() {
    killed_after_each_write(Scenario::Production).await;
    answer_lost_for_each_write(Scenario::Production).await;
}
