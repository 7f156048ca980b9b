//! Canary releases against moto over HTTP: the alias's weighted routing
//! set and cleared through the real SDK, and the decision made from
//! CloudWatch metrics that the test puts where Lambda would.

use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use serde_json::Value;

use crate::common::moto::Moto;
use crate::common::process::Watched;
use crate::common::stage::{Project, alias_state, alias_state_of, zips};
use crate::common::stdout_json;

/// Waits until the alias routes a share to a canary; returns its version.
async fn canary_started(moto: &Moto) -> String {
    canary_started_on(moto, "dev").await
}

/// [`canary_started`] on stage `stage`.
async fn canary_started_on(moto: &Moto, stage: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let (_, Some((version, _))) = alias_state_of(moto, stage).await {
            return version;
        }
        assert!(Instant::now() < deadline, "the canary never started");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What Lambda records when version `version` fails through alias `dev`.
async fn put_error(moto: &Moto, version: &str) {
    put_metric(moto, "dev", version, "Errors", 1.0).await;
}

/// What Lambda records of `metric` for version `version` run through the
/// alias of stage `stage`.
async fn put_metric(moto: &Moto, stage: &str, version: &str, metric: &str, value: f64) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let metrics = aws_sdk_cloudwatch::Client::new(&config);
    let dimensions = [
        ("FunctionName", format!("shop-{stage}")),
        ("Resource", format!("shop-{stage}:{stage}")),
        ("ExecutedVersion", version.to_string()),
    ]
    .map(|(name, value)| Dimension::builder().name(name).value(value).build());
    metrics
        .put_metric_data()
        .namespace("AWS/Lambda")
        .metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .set_dimensions(Some(dimensions.to_vec()))
                .value(value)
                .timestamp(std::time::SystemTime::now().into())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn finished(child: std::process::Child) -> (Option<i32>, Value, String) {
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("{stderr}");
    (output.status.code(), stdout_json(&output), stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_that_errs_rolls_back_and_a_clean_one_takes_the_stage() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.deploy("dev", &zips().v1);
    project.deploy("prod", &zips().v1);

    // Two clean windows at once, one stage each: dev's share served 20
    // calls and takes all the traffic; prod's served 20 of the 25 it
    // asks for, too little to judge, and is rolled back (exit 4). Both
    // decide only once CloudWatch has the whole window (3 minutes after
    // it at AWS's pace), however early their traffic came.
    let canary = ["--canary", "20", "--for", "2s"];
    let dev = project.spawn_deploy("dev", &zips().v2, &canary);
    let prod = project.spawn_deploy(
        "prod",
        &zips().v2,
        &[&canary[..], &["--min-invocations", "25"]].concat(),
    );
    for stage in ["dev", "prod"] {
        assert_eq!(canary_started_on(&moto, stage).await, "2");
        put_metric(&moto, stage, "2", "Invocations", 20.0).await;
    }
    let (code, report, stderr) = finished(dev);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["canary"]["outcome"], "promoted", "{report}");
    assert_eq!(report["canary"]["errors"], 0.0);
    assert_eq!(report["canary"]["invocations"], 20.0);
    assert_eq!(report["canary"]["min_invocations"], 20);
    // The window (2 s), then three minutes for CloudWatch's data.
    assert!(
        report["canary"]["seconds"].as_f64().unwrap() >= 182.0,
        "{report}"
    );
    assert_eq!(report["version"], "2");
    assert_eq!(alias_state(&moto).await, ("2".into(), None));
    let (code, report, stderr) = finished(prod);
    assert_eq!(code, Some(4), "{stderr}");
    assert_eq!(report["canary"]["outcome"], "rolled_back", "{report}");
    assert!(
        report["canary"]["reason"]
            .as_str()
            .unwrap()
            .contains("too little traffic to be judged: 20 invocations in its 2s window, and `min_invocations` asks for 25"),
        "{report}"
    );
    assert_eq!(alias_state_of(&moto, "prod").await, ("1".into(), None));

    // An error of the new version during the watch: rolled back, exit 4.
    // A window long enough (a minute of real time at the suite's pace)
    // that the error lands in it however slow the machine.
    let child = project.spawn_deploy("dev", &zips().v1, &["--canary", "10%", "--for", "10m"]);
    // v1's code again, as a new version 3, against version 2. (Metrics
    // have a minute's resolution: a canary of the version that just
    // passed would still see the minute in which it ran.)
    let version = canary_started(&moto).await;
    assert_eq!(version, "3");
    assert_eq!(
        alias_state(&moto).await,
        ("2".into(), Some(("3".into(), 0.1)))
    );
    put_error(&moto, "3").await;
    let (code, report, stderr) = finished(child);
    assert_eq!(code, Some(4), "a canary rolled back exits 4");
    assert_eq!(report["canary"]["outcome"], "rolled_back", "{report}");
    assert_eq!(report["canary"]["version"], "3");
    assert_eq!(report["canary"]["previous"], "2");
    assert_eq!(report["canary"]["percent"], 10);
    assert_eq!(report["canary"]["errors"], 1.0);
    assert_eq!(report["version"], "2", "the stage serves version 2 again");
    assert!(
        report["canary"]["reason"]
            .as_str()
            .unwrap()
            .contains("1 error"),
        "{report}"
    );
    assert!(
        report["canary"]["seconds"].as_f64().unwrap() < 600.0,
        "decided at once"
    );
    assert!(stderr.contains("canary rolled back"), "{stderr}");
    assert_eq!(alias_state(&moto).await, ("2".into(), None));
}

/// A deploy killed while it watches leaves the canary in place: `slx
/// status` shows it, `slx deploy` finishes it (all traffic to the new
/// version), `slx rollback` ends it (all traffic to the old one).
#[tokio::test(flavor = "multi_thread")]
async fn a_canary_left_by_a_killed_deploy_is_shown_and_finished() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    project.deploy("dev", &zips().v1);

    let mut child = project.spawn_deploy("dev", &zips().v2, &["--canary", "50%", "--for", "10m"]);
    assert_eq!(canary_started(&moto).await, "2");
    child.kill().unwrap();
    child.wait().unwrap();
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["canary"]["version"], "2", "{status}");
    assert_eq!(status["canary"]["weight"], 0.5);
    assert_eq!(status["in_sync"], false);
    let text = project.slx(&["status", "--stage", "dev", "--output", "text"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("50% to version 2 (unfinished"));

    // The next deploy of the same code finishes it.
    let report = project.deploy("dev", &zips().v2);
    assert_eq!(report["version"], "2");
    assert_eq!(alias_state(&moto).await, ("2".into(), None));

    // Killed again, then ended by a rollback: the served version stays.
    let mut child = project.spawn_deploy("dev", &zips().v1, &["--canary", "50%", "--for", "10m"]);
    assert_eq!(canary_started(&moto).await, "3");
    child.kill().unwrap();
    child.wait().unwrap();
    let output = project.slx(&["rollback", "--stage", "dev"]);
    assert!(output.status.success());
    let rolled = stdout_json(&output);
    assert_eq!(
        (rolled["from"].as_str(), rolled["to"].as_str()),
        (Some("2"), Some("2"))
    );
    assert_eq!(alias_state(&moto).await, ("2".into(), None));

    // Ctrl-C during the watch, with no terminal to ask: rolled back. In
    // text, so that the watch's first line is printed: Ctrl-C is slx's
    // from before it is.
    let child = Watched::spawn(
        &mut project.deploy_command(
            "dev",
            &zips().v1,
            &["--canary", "50%", "--for", "10m", "--output", "text"],
        ),
        "[deploy]",
    );
    child.wait_for("watching its errors", Duration::from_secs(120));
    assert_eq!(alias_state(&moto).await.1.map(|(v, _)| v), Some("3".into()));
    child.signal("-INT");
    let output = child.finish();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("canary rolled back: interrupted, with no terminal to ask"),
        "{stderr}"
    );
    assert_eq!(alias_state(&moto).await, ("2".into(), None));
}
