//! A deploy (or undeploy) killed after any of its writes, or whose answer
//! to any write is lost, is finished by the next run: the stage then
//! serves exactly the new state, nothing is duplicated or orphaned, and a
//! further deploy sends no write. Runs every k for each scenario.

use slx_sim::{Behaviours, Simulator};

use crate::common::kill::{self, Scenario};
use crate::common::moto::Moto;
use crate::common::stage::{
    Aws, Project, alias_statements, apis_named, aws, function_exists, log_groups_under,
    role_exists, served_config, sha_of, zips,
};
use crate::common::stdout_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    FirstDeploy,
    CodeChange,
    RouteChange,
    Undeploy,
    /// A first deploy to prod of the scaffold README's production setup:
    /// a custom domain, a usage plan, API keys, CORS, a Cognito route.
    Production,
}

/// A scenario's stage: one moto, one simulator, one project, prepared
/// once and brought back to the start after each point.
struct Stage {
    kind: Kind,
    _moto: Moto,
    sim: Simulator,
    project: Project,
    aws: Aws,
}

impl Kind {
    /// A stage in the state the scenario starts from, behind a simulator.
    async fn prepare(self) -> Stage {
        let moto = Moto::start();
        let (sim, project) = Project::behind_simulator(&moto, Behaviours::default());
        if self != Kind::FirstDeploy {
            project.deploy("dev", &zips().v1);
        }
        if self == Kind::RouteChange {
            project.edit("\"GET /health\"", "\"GET /healthz\"");
        }
        if self == Kind::Production {
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
            kind: self,
            _moto: moto,
            sim,
            project,
            aws,
        }
    }

    fn stage(self) -> &'static str {
        match self {
            Kind::Production => "prod",
            _ => "dev",
        }
    }

    fn args(self) -> Vec<String> {
        let zip = match self {
            Kind::CodeChange => &zips().v2,
            _ => &zips().v1,
        };
        match self {
            Kind::Undeploy => vec![
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
}

impl Scenario for Stage {
    fn name(&self) -> String {
        format!("{:?}", self.kind)
    }

    fn sim(&self) -> &Simulator {
        &self.sim
    }

    fn command(&self) -> std::process::Command {
        let args = self.kind.args();
        self.project
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// The first deploy is the scenario whose every write is a point.
    fn every_write(&self) -> bool {
        self.kind == Kind::FirstDeploy
    }

    async fn assert_converged(&self, context: &str) {
        assert_converged(self, context).await;
    }

    async fn restore(&self) {
        let project = &self.project;
        match self.kind {
            Kind::FirstDeploy | Kind::Production => {
                let stage = self.kind.stage();
                let undeploy = project.slx(&["undeploy", "--stage", stage, "--yes"]);
                assert!(undeploy.status.success(), "restore: undeploy");
            }
            Kind::CodeChange | Kind::Undeploy => {
                project.deploy("dev", &zips().v1);
            }
            Kind::RouteChange => {
                project.edit("\"GET /healthz\"", "\"GET /health\"");
                project.deploy("dev", &zips().v1);
                project.edit("\"GET /health\"", "\"GET /healthz\"");
            }
        }
    }
}

/// Whether the stage is exactly what the scenario leads to.
async fn assert_converged(stage: &Stage, context: &str) {
    let scenario = stage.kind;
    let name = format!("shop-{}", scenario.stage());
    let ours = apis_named(&stage.aws, &name).await.len();
    if scenario == Kind::Undeploy {
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
        Kind::CodeChange => &zips().v2,
        _ => &zips().v1,
    };
    let expected = sha_of(expected_zip);
    assert_eq!(
        served_config(&stage.aws).await.code_sha256(),
        Some(expected.as_str()),
        "{context}: alias serves the new code"
    );
    if scenario == Kind::Production {
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

async fn killed_after_each_write(kind: Kind) {
    kill::killed_after_each_write(&kind.prepare().await).await;
}

async fn answer_lost_for_each_write(kind: Kind) {
    kill::answer_lost_for_each_write(&kind.prepare().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_deploy_killed_after_any_write_is_finished_by_the_next() {
    let _timing = crate::common::timing();
    killed_after_each_write(Kind::FirstDeploy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_change_killed_after_any_write_is_finished_by_the_next() {
    let _timing = crate::common::timing();
    killed_after_each_write(Kind::CodeChange).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_change_killed_after_any_write_is_finished_by_the_next() {
    let _timing = crate::common::timing();
    killed_after_each_write(Kind::RouteChange).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undeploy_killed_after_any_write_is_finished_by_the_next() {
    let _timing = crate::common::timing();
    killed_after_each_write(Kind::Undeploy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_any_write_of_a_first_deploy_converges() {
    let _timing = crate::common::timing();
    answer_lost_for_each_write(Kind::FirstDeploy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_any_write_of_a_code_change_converges() {
    let _timing = crate::common::timing();
    answer_lost_for_each_write(Kind::CodeChange).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_any_write_of_an_undeploy_converges() {
    let _timing = crate::common::timing();
    answer_lost_for_each_write(Kind::Undeploy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_production_setup_killed_at_any_write_converges() {
    let _timing = crate::common::timing();
    killed_after_each_write(Kind::Production).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_production_setup_unanswered_at_any_write_converges() {
    let _timing = crate::common::timing();
    answer_lost_for_each_write(Kind::Production).await;
}
