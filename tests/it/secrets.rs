//! `[secrets]` end to end: a value stored in SSM (moto) reaches the built
//! handler at cold start, and appears nowhere slx writes: not in the
//! function's configuration, not in the plan or the deploy's output at
//! `-vv`. Its request is signed as AWS checks it (botocore judges the
//! signature). Locally, `.slx/secrets.toml` stands in for the store.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use slx::contract::proxy::{GatewayContext, HttpRequest, MatchedRoute, rest_event};
use slx::local::runtime_api::{Answer, RuntimeApi};

use crate::common::moto::Moto;
use crate::common::stage::{Project, aws, latest_config, role_policy};
use crate::common::{BUILD_LOCK, lambda_process, run, slx, stdout_json, unzip_bootstrap};

/// What the test stores: found by searching every output for it.
const MARKER: &str = "s3cr3t-marker-7f1c";

/// `PutParameter` to moto (slx has no SSM client: only the generated
/// handler reads parameters).
fn put_parameter(moto: &Moto, name: &str, value: &str) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent
        .post(&moto.endpoint)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AmazonSSM.PutParameter")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261127/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=0",
        )
        .send(json!({ "Name": name, "Value": value, "Type": "SecureString" }).to_string())
        .unwrap();
    assert_eq!(answer.status(), 200);
}

/// The greeting `POST /greet` answers for Ada, from a running bootstrap.
async fn greet(api: &RuntimeApi, id: &str) -> Answer {
    let request = HttpRequest {
        method: "POST".into(),
        path: "/greet".into(),
        query: vec![],
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"name":"Ada"}"#.to_vec(),
        source_ip: "127.0.0.1".into(),
    };
    let route = MatchedRoute {
        resource: "/greet".into(),
        ..MatchedRoute::default()
    };
    let context = GatewayContext {
        stage: "dev".into(),
        request_id: id.into(),
        account_id: "123456789012".into(),
        api_id: "api".into(),
        time_epoch_ms: 0,
        mapped: None,
    };
    let event = rest_event(&request, &route, &context);
    api.invoke(
        id,
        serde_json::to_vec(&event).unwrap(),
        Duration::from_secs(60),
    )
    .await
    .unwrap()
}

/// The greeting of `bootstrap`, signing with `secret_key`, when its
/// secret comes from tests/judges/sigv4_endpoint.py, which answers only a
/// request whose signature botocore computes the same with the judge's
/// key; else what the handler said as it stopped.
async fn signed_by_sigv4(bootstrap: &std::path::Path, secret_key: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let judge =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/judges/sigv4_endpoint.py");
    let mut endpoint = std::process::Command::new(crate::common::moto::python_beside_moto())
        .arg(judge)
        .arg(&port_file)
        .args(["AKIDSIGV4JUDGE", "judged-secret-key", "us-east-1"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let port = loop {
        if let Ok(port) = std::fs::read_to_string(&port_file)
            && !port.is_empty()
        {
            break port;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the SigV4 judge did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:shop-dev")
        .await
        .unwrap();
    let mut handler = lambda_process(bootstrap, false, &api.endpoint(), "shop-dev")
        .env("AWS_ACCESS_KEY_ID", "AKIDSIGV4JUDGE")
        .env("AWS_SECRET_ACCESS_KEY", secret_key)
        .env("AWS_SESSION_TOKEN", "a-session/token+with=signs")
        .env(
            "AWS_ENDPOINT_URL_SSM",
            format!("http://127.0.0.1:{}", port.trim()),
        )
        .env("SLX_SECRETS", "GREETING=ssm:/shop/greeting")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused signature stops the cold start: the handler exits, and
    // its error says what botocore computed instead.
    let exited = async {
        while matches!(handler.try_wait(), Ok(None)) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let answer = tokio::select! {
        answer = greet(&api, "s-sigv4") => Some(answer),
        () = exited => None,
    };
    let _ = endpoint.kill();
    let _ = endpoint.wait();
    let _ = handler.kill();
    let output = handler.wait_with_output().unwrap();
    let Some(Answer::Response(answer)) = answer else {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    };
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    Ok(body["message"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_reaches_the_handler_and_nothing_slx_writes() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    put_parameter(&moto, "/shop/greeting", MARKER);
    let project = Project::new(&moto);
    // The scaffold's greeting becomes a secret (prod's env had its own).
    project.edit("GREETING = \"hello\"\n", "");
    project.edit("env = { GREETING = \"hi\" }\n", "");
    let config = project.dir.join("slx.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[secrets]\nGREETING = \"ssm:/shop/greeting\"\n");
    std::fs::write(&config, text).unwrap();

    // The Lambda build, run as Lambda runs it, with the variable the
    // deploy sets and AWS's endpoint variable pointed at moto.
    let built = {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        run(slx(&project.dir).args(["build", "--output", "json"]))
    };
    assert!(built.status.success());
    let zip = PathBuf::from(stdout_json(&built)["zip"].as_str().unwrap());
    let bootstrap = project.dir.join("bootstrap");
    std::fs::write(&bootstrap, unzip_bootstrap(&zip)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let start = |api: &RuntimeApi, secrets: &str| {
        lambda_process(&bootstrap, false, &api.endpoint(), "shop-dev")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_SESSION_TOKEN", "session")
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("SLX_SECRETS", secrets)
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:shop-dev")
        .await
        .unwrap();
    let mut handler = start(&api, "GREETING=ssm:/shop/greeting");
    let Answer::Response(answer) = greet(&api, "s-1").await else {
        panic!("the handler answered");
    };
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], format!("{MARKER}, Ada!"));
    let _ = handler.kill();
    let _ = handler.wait();

    // The request is signed as AWS checks it: botocore's SigV4 (not
    // slx's) computes the same signature, session token included.
    let judged = signed_by_sigv4(&bootstrap, "judged-secret-key").await;
    assert_eq!(judged, Ok("signed-by-sigv4, Ada!".to_string()));
    // And refuses a signature made with another key.
    let refused = signed_by_sigv4(&bootstrap, "another-secret-key").await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|said| said.contains("403 InvalidSignatureException botocore signs")),
        "{refused:?}"
    );

    // A secret that cannot be read stops the cold start, naming it and
    // what AWS said, never a value.
    let api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:shop-dev")
        .await
        .unwrap();
    let failed = start(&api, "GREETING=ssm:/shop/missing")
        .wait_with_output()
        .unwrap();
    assert!(!failed.status.success());
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(
        said.contains(
            "secret `GREETING` (ssm:/shop/missing) could not be read: 400 ParameterNotFound"
        ),
        "{said}"
    );

    // Deployed: the configuration names the parameter, not its value;
    // neither the plan nor the deploy shows it, even at -vv; the role may
    // read exactly that parameter.
    let plan = project.slx(&[
        "plan",
        "--stage",
        "dev",
        "--zip",
        zip.to_str().unwrap(),
        "-vv",
    ]);
    assert!(plan.status.success());
    let deployed = project.deploy_output("dev", &zip, &["-vv"]);
    assert!(deployed.status.success());
    for output in [&plan, &deployed] {
        let all = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(!all.contains(MARKER), "the secret's value was printed");
    }
    let aws = aws(&moto).await;
    let function = latest_config(&aws, "shop-dev").await;
    let variables = function.environment().unwrap().variables().unwrap();
    assert_eq!(variables["SLX_SECRETS"], "GREETING=ssm:/shop/greeting");
    assert!(!format!("{function:?}").contains(MARKER));
    let policy = role_policy(&aws, "shop-dev-role").await;
    let read = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "ReadParameters")
        .unwrap()
        .clone();
    assert_eq!(
        read["Resource"],
        json!(["arn:aws:ssm:us-east-1:123456789012:parameter/shop/greeting"])
    );

    // Locally, .slx/secrets.toml stands in for the store.
    std::fs::write(
        project.dir.join(".slx/secrets.toml"),
        "GREETING = \"local-greeting\"\n",
    )
    .unwrap();
    let local = {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        project.slx(&[
            "invoke",
            "--local",
            "POST /greet",
            "--data",
            r#"{"name":"Ada"}"#,
        ])
    };
    assert!(local.status.success());
    let body: Value = serde_json::from_str(stdout_json(&local)["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], "local-greeting, Ada!");
}
