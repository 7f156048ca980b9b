//! Helpers for tests that deploy: two real builds of the scaffold shared
//! per test binary, a project pointed at a moto server, SDK clients.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::moto::Moto;
use super::{BUILD_LOCK, run, scaffold, slx, stdout_json};

/// Two real builds of the scaffold (v2 answers a different greeting), made
/// once and shared: each test deploys them with `--zip`, so no test waits
/// on a compile. The full build+deploy path is covered by its own test.
pub(crate) struct Zips {
    pub v1: PathBuf,
    /// The greeting says "dear", and the test handlers are compiled in.
    pub v2: PathBuf,
    _keep: tempfile::TempDir,
}

pub(crate) fn zips() -> &'static Zips {
    static ZIPS: OnceLock<Zips> = OnceLock::new();
    ZIPS.get_or_init(|| {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let (keep, dir) = scaffold("shop");
        let v1 = build_to(&dir, keep.path().join("v1.zip"));
        // v2 also serves the test handlers (crash, sleepy, ...) for the
        // routes a test adds to its slx.toml; the scaffold's routes answer
        // as in v1 but for the greeting.
        crate::common::app::add_extra_handlers(&dir);
        let lib = dir.join("src/lib.rs");
        let text = std::fs::read_to_string(&lib).unwrap();
        std::fs::write(
            &lib,
            text.replace("\"{greeting}, {}!\"", "\"{greeting}, dear {}!\""),
        )
        .unwrap();
        let v2 = build_to(&dir, keep.path().join("v2.zip"));
        Zips {
            v1,
            v2,
            _keep: keep,
        }
    })
}

/// `slx build` of the app in `dir` (the caller holds [`BUILD_LOCK`]), its
/// zip copied to `to`.
pub(crate) fn build_to(dir: &Path, to: PathBuf) -> PathBuf {
    let output = run(slx(dir).args(["build", "--output", "json"]));
    assert!(output.status.success(), "slx build");
    std::fs::copy(stdout_json(&output)["zip"].as_str().unwrap(), &to).unwrap();
    to
}

/// The events scaffold (`slx init --template events`) built once and
/// shared: v1, and v2 whose worker logs "running the job" instead.
pub(crate) fn events_zips() -> &'static Zips {
    static ZIPS: OnceLock<Zips> = OnceLock::new();
    ZIPS.get_or_init(|| {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let keep = tempfile::tempdir().unwrap();
        let output = run(slx(keep.path()).args(["init", "--template", "events", "shop"]));
        assert!(output.status.success());
        let dir = keep.path().join("shop");
        let v1 = build_to(&dir, keep.path().join("v1.zip"));
        let lib = dir.join("src/lib.rs");
        let source = std::fs::read_to_string(&lib).unwrap();
        assert!(source.contains("running job"));
        std::fs::write(&lib, source.replace("running job", "running the job")).unwrap();
        let v2 = build_to(&dir, keep.path().join("v2.zip"));
        Zips {
            v1,
            v2,
            _keep: keep,
        }
    })
}

/// An app dir whose slx.toml the test may edit, with moto's endpoint.
pub(crate) struct Project {
    _temp: tempfile::TempDir,
    pub dir: PathBuf,
    pub endpoint: String,
}

/// The scaffold's smoke check: a new version must answer `GET /health`.
pub(crate) const SCAFFOLD_CHECK: &str = "[[checks]]                 # asked of every new version before it takes traffic\nrequest = \"GET /health\"\nstatus = 200\n";

impl Project {
    /// The scaffold against stock moto, without its smoke check: moto
    /// cannot run a function (no Docker), so every check would fail. The
    /// simulator runs code: `behind_simulator` keeps the check.
    pub(crate) fn new(moto: &Moto) -> Project {
        let project = Project::with_checks(moto);
        project.edit(SCAFFOLD_CHECK, "");
        project
    }

    fn with_checks(moto: &Moto) -> Project {
        let (temp, dir) = scaffold("shop");
        Project {
            _temp: temp,
            dir,
            endpoint: moto.endpoint.clone(),
        }
    }

    /// The same app scaffolded `depth` directories deeper: another
    /// checkout of it, at another path length.
    pub(crate) fn nested(moto: &Moto, depth: usize) -> Project {
        let temp = tempfile::tempdir().unwrap();
        let mut parent = temp.path().to_path_buf();
        for level in 0..depth {
            parent = parent.join(format!("level{level}"));
        }
        std::fs::create_dir_all(&parent).unwrap();
        let output = run(super::slx(&parent).args(["init", "shop"]));
        assert!(output.status.success());
        let project = Project {
            _temp: temp,
            dir: parent.join("shop"),
            endpoint: moto.endpoint.clone(),
        };
        project.edit(SCAFFOLD_CHECK, "");
        project
    }

    /// A project whose AWS is moto behind a simulator with `behaviours`,
    /// at the suite's [`TIME_SCALE`](crate::common::TIME_SCALE).
    pub(crate) fn behind_simulator(
        moto: &Moto,
        behaviours: slx_sim::Behaviours,
    ) -> (slx_sim::Simulator, Project) {
        let sim =
            slx_sim::Simulator::start(&moto.endpoint, paced(behaviours)).expect("slx-sim starts");
        let mut project = Project::with_checks(moto);
        // The tests rename `GET /health` to change routes without a
        // rebuild (the zip keeps serving /health only): the check asks a
        // route no test renames.
        project.edit(
            "request = \"GET /health\"",
            "request = \"POST /greet\"\nbody = '{\"name\":\"check\"}'\ncontains = \"check\"",
        );
        project.endpoint = sim.endpoint.clone();
        (sim, project)
    }

    pub(crate) fn edit(&self, from: &str, to: &str) {
        let path = self.dir.join("slx.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "slx.toml has no `{from}`");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    /// Runs slx in the project against moto; JSON output unless `args`
    /// choose another `--output`.
    pub(crate) fn slx(&self, args: &[&str]) -> std::process::Output {
        run(&mut self.command(args))
    }

    /// The command `slx` would run, for a test to add to.
    pub(crate) fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = slx(&self.dir);
        command
            .args(args)
            .args(["--endpoint-url", &self.endpoint])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE");
        if !args.contains(&"--output") {
            command.args(["--output", "json"]);
        }
        command
    }

    /// `slx deploy --stage STAGE --zip ZIP` plus `extra`, whatever its outcome.
    pub(crate) fn deploy_output(
        &self,
        stage: &str,
        zip: &Path,
        extra: &[&str],
    ) -> std::process::Output {
        let mut args = vec!["deploy", "--stage", stage, "--zip", zip.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.slx(&args)
    }

    /// The command `slx deploy --stage STAGE --zip ZIP` plus `extra`.
    pub(crate) fn deploy_command(
        &self,
        stage: &str,
        zip: &Path,
        extra: &[&str],
    ) -> std::process::Command {
        let mut args = vec!["deploy", "--stage", stage, "--zip", zip.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.command(&args)
    }

    /// `slx deploy --stage STAGE --zip ZIP` plus `extra`, started and left
    /// running, its output piped.
    pub(crate) fn spawn_deploy(
        &self,
        stage: &str,
        zip: &Path,
        extra: &[&str],
    ) -> std::process::Child {
        self.deploy_command(stage, zip, extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `slx invoke --stage STAGE "POST /greet"` for `name`: its JSON.
    pub(crate) fn greet(&self, stage: &str, name: &str) -> Value {
        let data = format!(r#"{{"name":"{name}"}}"#);
        let output = self.slx(&["invoke", "--stage", stage, "POST /greet", "--data", &data]);
        stdout_json(&output)
    }

    /// A deploy that must succeed; its JSON report.
    pub(crate) fn deploy(&self, stage: &str, zip: &Path) -> Value {
        let output = self.deploy_output(stage, zip, &[]);
        assert!(output.status.success(), "deploy failed");
        stdout_json(&output)
    }
}

/// `behaviours` at the suite's [`TIME_SCALE`](crate::common::TIME_SCALE):
/// AWS's delays in the same proportion to slx's waits as on real AWS.
pub(crate) fn paced(behaviours: slx_sim::Behaviours) -> slx_sim::Behaviours {
    slx_sim::Behaviours {
        time_scale: crate::common::TIME_SCALE,
        ..behaviours
    }
}

pub(crate) struct Aws {
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

pub(crate) async fn aws(moto: &Moto) -> Aws {
    aws_in(moto, "us-east-1").await
}

/// Stage `dev` of REST API `api_id`.
pub(crate) async fn dev_stage(
    aws: &Aws,
    api_id: &str,
) -> aws_sdk_apigateway::operation::get_stage::GetStageOutput {
    aws.apigateway
        .get_stage()
        .rest_api_id(api_id)
        .stage_name("dev")
        .send()
        .await
        .unwrap()
}

/// `$LATEST`'s configuration of function `name`.
pub(crate) async fn latest_config(
    aws: &Aws,
    name: &str,
) -> aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput {
    aws.lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap()
}

/// The log groups whose names start with `prefix`.
pub(crate) async fn log_groups_under(
    aws: &Aws,
    prefix: &str,
) -> Vec<aws_sdk_cloudwatchlogs::types::LogGroup> {
    aws.logs
        .describe_log_groups()
        .log_group_name_prefix(prefix)
        .send()
        .await
        .unwrap()
        .log_groups()
        .to_vec()
}

/// Whether IAM has a role called `name`.
pub(crate) async fn role_exists(aws: &Aws, name: &str) -> bool {
    aws.iam.get_role().role_name(name).send().await.is_ok()
}

/// Whether Lambda has a function called `name`.
pub(crate) async fn function_exists(aws: &Aws, name: &str) -> bool {
    aws.lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .is_ok()
}

/// The REST APIs called `name`.
pub(crate) async fn apis_named(aws: &Aws, name: &str) -> Vec<aws_sdk_apigateway::types::RestApi> {
    let apis = aws.apigateway.get_rest_apis().send().await.unwrap();
    apis.items()
        .iter()
        .filter(|a| a.name() == Some(name))
        .cloned()
        .collect()
}

/// The configuration of the version stage dev's alias serves.
pub(crate) async fn served_config(
    aws: &Aws,
) -> aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput {
    aws.lambda
        .get_function_configuration()
        .function_name("shop-dev")
        .qualifier("dev")
        .send()
        .await
        .unwrap()
}

/// Lambda's `CodeSha256` of a zip file.
pub(crate) fn sha_of(zip: &Path) -> String {
    slx::handler::archive::code_sha256(&std::fs::read(zip).unwrap())
}

/// SDK clients for `region` of `moto`.
pub(crate) async fn aws_in(moto: &Moto, region: &str) -> Aws {
    aws_at(&moto.endpoint, region)
}

/// Clients of the local AWS at `endpoint` (slx-sim's: reads see what
/// Lambda would show).
pub(crate) fn aws_at(endpoint: &str, region: &str) -> Aws {
    let config = super::moto::sdk_config(endpoint, region);
    Aws {
        lambda: aws_sdk_lambda::Client::new(&config),
        apigateway: aws_sdk_apigateway::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        logs: aws_sdk_cloudwatchlogs::Client::new(&config),
    }
}

/// `METHOD path → integration uri` for every method of the API.
pub(crate) async fn routes(aws: &Aws, api_id: &str) -> Vec<(String, String)> {
    let resources = aws
        .apigateway
        .get_resources()
        .rest_api_id(api_id)
        .embed("methods")
        .send()
        .await
        .unwrap();
    let mut found = Vec::new();
    for resource in resources.items() {
        for (method, details) in resource.resource_methods().into_iter().flatten() {
            let uri = details
                .method_integration()
                .and_then(|i| i.uri())
                .unwrap_or_default();
            found.push((
                format!("{method} {}", resource.path().unwrap()),
                uri.to_string(),
            ));
        }
    }
    found.sort();
    found
}

/// The `action` of each step of a deploy report.
pub(crate) fn steps(report: &Value) -> Vec<String> {
    action_names(&report["steps"])
}

/// The `action` of each step `slx plan --output json` would take.
pub(crate) fn plan_actions(plan: &std::process::Output) -> Vec<String> {
    action_names(&stdout_json(plan)["actions"])
}

fn action_names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap().to_string())
        .collect()
}

/// The statements of the stage alias's resource policy (`shop-dev:dev`).
pub(crate) async fn alias_statements(aws: &Aws) -> Vec<Value> {
    let policy = aws
        .lambda
        .get_policy()
        .function_name("shop-dev")
        .qualifier("dev")
        .send()
        .await
        .unwrap();
    let document: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    document["Statement"].as_array().unwrap().clone()
}

/// The stage role's inline policy `slx`, decoded.
pub(crate) async fn role_policy(aws: &Aws, role: &str) -> Value {
    let policy = aws
        .iam
        .get_role_policy()
        .role_name(role)
        .policy_name("slx")
        .send()
        .await
        .unwrap();
    let document = percent_encoding::percent_decode_str(policy.policy_document())
        .decode_utf8()
        .unwrap();
    serde_json::from_str(&document).unwrap()
}

/// Stage `dev`'s alias: its version and its canary (version, weight), as Lambda says.
pub(crate) async fn alias_state(moto: &Moto) -> (String, Option<(String, f64)>) {
    alias_state_of(moto, "dev").await
}

/// [`alias_state`] of stage `stage`.
pub(crate) async fn alias_state_of(moto: &Moto, stage: &str) -> (String, Option<(String, f64)>) {
    let aws = aws(moto).await;
    let alias = aws
        .lambda
        .get_alias()
        .function_name(format!("shop-{stage}"))
        .name(stage)
        .send()
        .await
        .unwrap();
    let canary = alias
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .and_then(|w| w.iter().next())
        .map(|(v, w)| (v.clone(), *w));
    (alias.function_version().unwrap().to_string(), canary)
}
