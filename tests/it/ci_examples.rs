//! docs/examples/*.yml, the CI workflows docs/ci.md shows: each is valid
//! YAML with jobs and steps, and every `slx` command line in their `run`
//! steps parses with the current CLI (an example that rots fails here).

use std::path::Path;

use slx::cli::{Cli, split_command_line};
use yaml_rust2::{Yaml, YamlLoader};

/// Every `run:` of every step of every job.
fn run_scripts(workflow: &Yaml) -> Vec<String> {
    let Some(jobs) = workflow["jobs"].as_hash() else {
        panic!("no jobs");
    };
    jobs.values()
        .flat_map(|job| {
            job["steps"]
                .as_vec()
                .expect("a job has steps")
                .iter()
                .filter_map(|step| step["run"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `slx ...` command lines of a shell script: each up to its first
/// redirection, pipe or list operator, GitHub expressions made plain.
fn slx_lines(script: &str) -> Vec<String> {
    script
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("slx "))
        .map(|line| {
            let end = [" >", " |", " &&", " ;", " 2>"]
                .iter()
                .filter_map(|op| line.find(op))
                .min()
                .unwrap_or(line.len());
            line[..end].replace("${{", "X").replace("}}", "")
        })
        .collect()
}

#[test]
fn every_ci_example_is_a_workflow_whose_slx_commands_parse() {
    let _timing = crate::common::timing();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples");
    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let guide = std::fs::read_to_string(dir.join("../ci.md")).unwrap();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let docs = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
        let workflow = &docs[0];
        assert!(workflow["name"].as_str().is_some(), "{}", file.display());
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            guide.contains(&format!("examples/{name}")),
            "docs/ci.md does not show {name}"
        );
        for script in run_scripts(workflow) {
            for line in slx_lines(&script) {
                let words = split_command_line(&line);
                if let Err(error) = <Cli as clap::Parser>::try_parse_from(&words) {
                    panic!("{name}: `{line}` is not a valid slx command line: {error}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "{checked} slx command lines");
}

#[test]
fn command_lines_end_at_shell_operators() {
    let _timing = crate::common::timing();
    assert_eq!(
        slx_lines("slx deploy --stage prod --output json > deploy.json\necho hi"),
        ["slx deploy --stage prod --output json"]
    );
    assert_eq!(
        slx_lines("  slx plan --detailed-exitcode 2>&1 | tee x"),
        ["slx plan --detailed-exitcode"]
    );
}

/// The examples install a release binary (seconds) pinned to this
/// version of slx, from the repository's release page: a version bump
/// that forgets them fails here.
#[test]
fn the_examples_install_this_release_with_its_installer() {
    let _timing = crate::common::timing();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pinned = format!(
        "curl -fsSL {}/releases/download/v{}/install.sh | sh",
        env!("CARGO_PKG_REPOSITORY"),
        env!("CARGO_PKG_VERSION")
    );
    let mut seen = 0;
    for file in ["deploy.yml", "plan.yml", "promote.yml"] {
        let text = std::fs::read_to_string(root.join("docs/examples").join(file)).unwrap();
        for line in text.lines().filter(|l| l.contains("install.sh")) {
            assert_eq!(line.trim(), pinned, "{file}");
            seen += 1;
        }
        assert!(
            !text.contains("cargo install"),
            "{file}: compiling slx costs every run minutes"
        );
        assert!(
            text.contains("$HOME/.local/bin\" >> \"$GITHUB_PATH\""),
            "{file}"
        );
    }
    assert_eq!(seen, 4, "one install in each job that runs slx");
}

/// Whether `job` of `workflow` can get AWS credentials: it may ask for
/// an OIDC token (its own permissions, else the workflow's), or a step
/// configures credentials.
fn can_get_aws_credentials(workflow: &Yaml, job: &Yaml) -> bool {
    let permissions = if job["permissions"].is_badvalue() {
        &workflow["permissions"]
    } else {
        &job["permissions"]
    };
    let token = permissions.as_str() == Some("write-all")
        || permissions["id-token"].as_str() == Some("write");
    let configures = job["steps"].as_vec().unwrap().iter().any(|step| {
        step["uses"]
            .as_str()
            .is_some_and(|uses| uses.starts_with("aws-actions/configure-aws-credentials"))
            || step["env"]["AWS_SECRET_ACCESS_KEY"].as_str().is_some()
    });
    token || configures
}

/// Whether `job` compiles code: a Rust toolchain, cargo, or an slx
/// command that builds (build; plan or deploy without `--zip`).
fn compiles(job: &Yaml) -> bool {
    job["steps"].as_vec().unwrap().iter().any(|step| {
        let toolchain = step["uses"]
            .as_str()
            .is_some_and(|uses| uses.contains("rust-toolchain"));
        let script = step["run"].as_str().unwrap_or_default();
        let builds = slx_lines(script).iter().any(|line| {
            line.starts_with("slx build")
                || ((line.starts_with("slx plan") || line.starts_with("slx deploy"))
                    && !line.contains("--zip"))
        });
        toolchain || script.contains("cargo ") || builds
    })
}

/// A pull request's code runs where no AWS credentials can be had: its
/// build scripts and proc-macros could otherwise read API key values or
/// secrets with the plan role. What compiles it and what plans are two
/// jobs.
#[test]
fn no_pull_request_job_that_compiles_can_get_aws_credentials() {
    let _timing = crate::common::timing();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples");
    let text = std::fs::read_to_string(root.join("plan.yml")).unwrap();
    let workflow = &YamlLoader::load_from_str(&text).unwrap()[0];
    assert!(
        !workflow["on"]["pull_request"].is_badvalue(),
        "plan.yml runs on pull requests"
    );
    let jobs = workflow["jobs"].as_hash().unwrap();
    let (mut compiling, mut credentialed) = (0, 0);
    for (name, job) in jobs {
        let name = name.as_str().unwrap();
        let (builds, credentials) = (compiles(job), can_get_aws_credentials(workflow, job));
        assert!(
            !(builds && credentials),
            "job {name} compiles and can get AWS credentials"
        );
        compiling += usize::from(builds);
        credentialed += usize::from(credentials);
    }
    assert_eq!(
        (compiling, credentialed),
        (1, 1),
        "a build job and a plan job"
    );

    // The judge judges: the single job this replaced did both.
    let single = YamlLoader::load_from_str(
        "permissions:\n  id-token: write\njobs:\n  plan:\n    steps:\n      - uses: dtolnay/rust-toolchain@stable\n      - run: slx plan --stage prod\n",
    )
    .unwrap();
    let job = &single[0]["jobs"]["plan"];
    assert!(compiles(job) && can_get_aws_credentials(&single[0], job));
}

/// The named step of the deploy job: its `run` script, or its `with`.
fn step<'a>(workflow: &'a Yaml, name: &str) -> &'a Yaml {
    workflow["jobs"]["deploy"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|step| {
            step["name"].as_str() == Some(name)
                || step["uses"]
                    .as_str()
                    .is_some_and(|uses| uses.starts_with(name))
        })
        .unwrap_or_else(|| panic!("deploy.yml has no step `{name}`"))
}

/// docs/examples/deploy.yml's own steps, run as a GitHub runner runs
/// them (`bash -e`, `$GITHUB_OUTPUT`), against slx-sim in front of moto.
/// The credentials are what `configure-aws-credentials` gets from OIDC:
/// STS AssumeRoleWithWebIdentity for the role the workflow names, in its
/// region (temporary keys with a session token, and nothing stored).
/// The stage pins the account, as docs/ci.md asks. The steps that fetch
/// from the internet are replaced: slx is this build's (tests/it/
/// install.rs tests the installer), the toolchain is this machine's, and
/// the smoke test's curl of the AWS URL is `slx invoke` of the same path.
#[test]
fn the_deploy_workflow_deploys_with_oidc_credentials_as_documented() {
    let _timing = crate::common::timing();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/examples/deploy.yml")).unwrap();
    let workflow = &YamlLoader::load_from_str(&text).unwrap()[0];
    let credentials = &step(workflow, "aws-actions/configure-aws-credentials")["with"];
    let role = credentials["role-to-assume"].as_str().unwrap();
    let region = credentials["aws-region"].as_str().unwrap();
    let account = role.split(':').nth(4).unwrap();

    let moto = crate::common::moto::Moto::start();
    let sim = slx_sim::Simulator::start(&moto.endpoint, slx_sim::Behaviours::default())
        .expect("slx-sim starts");
    // What the action does with the job's OIDC token.
    let assumed = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let config = crate::common::moto::sdk_config(&sim.endpoint, region);
        aws_sdk_sts::Client::new(&config)
            .assume_role_with_web_identity()
            .role_arn(role)
            .role_session_name("GitHubActions")
            .web_identity_token("eyJhbGciOiJSUzI1NiJ9.github-oidc-token.signature")
            .send()
            .await
            .expect("AssumeRoleWithWebIdentity")
            .credentials
            .expect("temporary credentials")
    });
    assert!(!assumed.session_token().is_empty());

    let (_temp, app) = crate::common::scaffold("shop");
    let toml_path = app.join("slx.toml");
    let config = std::fs::read_to_string(&toml_path).unwrap();
    let pinned: Vec<String> = config
        .lines()
        .flat_map(|line| {
            let mut lines = vec![line.to_string()];
            if line.starts_with("[stages.prod]") {
                lines.push(format!("account = \"{account}\""));
            }
            lines
        })
        .collect();
    assert!(pinned.len() > config.lines().count(), "no [stages.prod]");
    std::fs::write(&toml_path, pinned.join("\n") + "\n").unwrap();

    let runner = tempfile::tempdir().unwrap();
    let github_output = runner.path().join("output");
    std::fs::write(&github_output, "").unwrap();
    let slx_dir = Path::new(env!("CARGO_BIN_EXE_slx")).parent().unwrap();
    let path = format!(
        "{}:{}",
        slx_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // What configure-aws-credentials leaves the job's later steps (the
    // endpoint is this test's stand-in for AWS).
    let job_credentials = |command: &mut std::process::Command| {
        command
            .env("AWS_ENDPOINT_URL", &sim.endpoint)
            .env("AWS_REGION", region)
            .env("AWS_DEFAULT_REGION", region)
            .env("AWS_ACCESS_KEY_ID", assumed.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", assumed.secret_access_key())
            .env("AWS_SESSION_TOKEN", assumed.session_token())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE");
    };
    let run_step = |name: &str| {
        let script = step(workflow, name)["run"].as_str().unwrap().to_string();
        // GitHub runs `run` with `bash -e {0}`; its expressions are
        // filled in before. slx gets the environment the other tests
        // give it (the shared handler target dir and its test profile).
        let mut command = std::process::Command::new("bash");
        command.args(["-e", "-c", &script]).current_dir(&app);
        crate::common::copy_env(&crate::common::slx(&app), &mut command);
        job_credentials(&mut command);
        command
            .env("PATH", &path)
            .env("GITHUB_OUTPUT", &github_output);
        crate::common::run(&mut command)
    };

    let doctor = run_step("Check the machine and the account");
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "stage prod: pinned to account {account}: these credentials"
        )),
        "{said}"
    );

    let deployed = {
        let _build = crate::common::BUILD_LOCK
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        run_step("Deploy")
    };
    assert!(deployed.status.success());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.join("deploy.json")).unwrap()).unwrap();
    // Deployed as the role's account, in the workflow's region.
    assert_eq!(report["stage"], "prod");
    assert_eq!(report["region"], region);
    assert!(
        report["function_arn"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "arn:aws:lambda:{region}:{account}:function:shop-prod"
            )),
        "{report:#}"
    );
    assert_eq!(report["checks"]["passed"], 1, "{report:#}");
    // The job's `url` output is the report's URL. (With an endpoint
    // override slx prints no amazonaws.com URL: docs/output.md.)
    let outputs = std::fs::read_to_string(&github_output).unwrap();
    let url = report["url"].as_str().unwrap_or("null");
    assert_eq!(outputs, format!("url={url}\n"), "the job's `url` output");

    // The smoke test's request, through the deployed stage.
    let smoke = step(workflow, "Smoke test the URL")["run"]
        .as_str()
        .unwrap();
    assert!(
        smoke.contains("steps.deploy.outputs.url }}/health"),
        "{smoke}"
    );
    let mut invoke = crate::common::slx(&app);
    invoke.args(["invoke", "--stage", "prod", "GET /health"]);
    job_credentials(&mut invoke);
    let health = crate::common::run(&mut invoke);
    let answer = String::from_utf8_lossy(&health.stdout);
    assert!(
        health.status.success() && answer.starts_with("HTTP 200"),
        "{answer}"
    );
}
