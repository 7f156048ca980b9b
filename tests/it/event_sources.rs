//! Deploying `[events]`: the events scaffold's upload handler, nightly
//! job and queue worker, each its own function, wired to an existing
//! bucket (which already notifies another team), to EventBridge Scheduler
//! and to an existing queue; through slx-sim in front of moto, so the
//! deployed handler also runs for real, and S3's rules (permission before
//! notification, no overlapping rules) are enforced as AWS does.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::moto::{Moto, sdk_config};
use crate::common::{BUILD_LOCK, assert_documented, run, slx, stdout_json};

/// The other team's entry on the bucket: it must survive every deploy and
/// the undeploy exactly as it was.
const FOREIGN_ID: &str = "audit-team-reports";

struct Clients {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    lambda: aws_sdk_lambda::Client,
    scheduler: aws_sdk_scheduler::Client,
    iam: aws_sdk_iam::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

impl Clients {
    fn at(endpoint: &str) -> Clients {
        let config = sdk_config(endpoint, "us-east-1");
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        Clients {
            s3: aws_sdk_s3::Client::from_conf(s3),
            sqs: aws_sdk_sqs::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            scheduler: aws_sdk_scheduler::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
        }
    }

    async fn queue(&self, name: &str, visibility: &str) -> String {
        let url = self
            .sqs
            .create_queue()
            .queue_name(name)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                visibility,
            )
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        self.sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone()
    }

    /// The bucket's notification entries: (id, target, prefix), sorted.
    async fn notifications(&self, bucket: &str) -> Vec<(String, String, String)> {
        let answer = self
            .s3
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let prefix = |f: Option<&aws_sdk_s3::types::NotificationConfigurationFilter>| {
            f.and_then(|f| f.key())
                .map(|k| {
                    k.filter_rules()
                        .iter()
                        .map(|r| r.value().unwrap_or_default().to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default()
        };
        let mut entries: Vec<(String, String, String)> = answer
            .lambda_function_configurations()
            .iter()
            .map(|c| {
                (
                    c.id().unwrap_or_default().to_string(),
                    c.lambda_function_arn().to_string(),
                    prefix(c.filter()),
                )
            })
            .chain(answer.queue_configurations().iter().map(|c| {
                (
                    c.id().unwrap_or_default().to_string(),
                    c.queue_arn().to_string(),
                    prefix(c.filter()),
                )
            }))
            .collect();
        entries.sort();
        entries
    }

    async fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .lambda
            .list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .iter()
            .filter_map(|f| f.function_name().map(str::to_string))
            .collect();
        names.sort();
        names
    }
}

/// The events scaffold, built once: its zip.
fn events_app() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let output = run(slx(temp.path()).args(["init", "--template", "events", "shop"]));
    assert!(output.status.success());
    let dir = temp.path().join("shop");
    let zip = build(&dir, temp.path().join("v1.zip"));
    (temp, dir, zip)
}

/// `slx build` of the app, its zip copied to `to`.
fn build(dir: &Path, to: PathBuf) -> PathBuf {
    let built = {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        run(slx(dir).args(["build", "--output", "json"]))
    };
    assert!(built.status.success());
    std::fs::copy(stdout_json(&built)["zip"].as_str().unwrap(), &to).unwrap();
    to
}

fn slx_at(dir: &Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    run(slx(dir)
        .args(args)
        .args(["--endpoint-url", endpoint])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE"))
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("slx.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "slx.toml has no `{from}`");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_handler_a_nightly_job_and_a_queue_worker_deploy_run_and_go() {
    let moto = Moto::start();
    let sim = slx_sim::Simulator::start(&moto.endpoint, slx_sim::Behaviours::default())
        .expect("slx-sim starts");
    // The test's own calls go to moto: the simulator sees slx's alone.
    let aws = Clients::at(&moto.endpoint);
    let (_temp, dir, zip) = events_app();
    let zip = zip.to_str().unwrap();
    let policy = slx_at(
        &dir,
        &sim.endpoint,
        &["iam-policy", "--stage", "dev", "--output", "json"],
    );
    assert!(policy.status.success(), "{}", stderr(&policy));
    let allowed = crate::fidelity::policy_actions(&stdout_json(&policy));
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", "--zip", zip, "--output", "json"];
        args.extend_from_slice(extra);
        slx_at(&dir, &sim.endpoint, &args)
    };

    // The bucket exists and already notifies another team's queue of its
    // reports; the jobs queue does not exist yet.
    aws.s3
        .create_bucket()
        .bucket("shop-uploads")
        .send()
        .await
        .unwrap();
    let audit = aws.queue("audit", "30").await;
    let foreign = aws_sdk_s3::types::QueueConfiguration::builder()
        .id(FOREIGN_ID)
        .queue_arn(&audit)
        .events(aws_sdk_s3::types::Event::S3ObjectCreated)
        .filter(
            aws_sdk_s3::types::NotificationConfigurationFilter::builder()
                .key(
                    aws_sdk_s3::types::S3KeyFilter::builder()
                        .filter_rules(
                            aws_sdk_s3::types::FilterRule::builder()
                                .name(aws_sdk_s3::types::FilterRuleName::Prefix)
                                .value("reports/")
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .build()
        .unwrap();
    aws.s3
        .put_bucket_notification_configuration()
        .bucket("shop-uploads")
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(foreign)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let foreign_entry = (
        FOREIGN_ID.to_string(),
        audit.clone(),
        "reports/".to_string(),
    );

    // A queue that does not exist is refused before anything is written.
    moto.start_recording();
    let refused = deploy(&[]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("queue shop-jobs (its source of handler on_job) does not exist"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("slx never creates or deletes queues"));
    assert_eq!(moto.writes(), Vec::<String>::new(), "nothing was written");

    // A queue whose visibility timeout is shorter than the worker's
    // timeout: Lambda would refuse the mapping; slx says so first.
    let jobs = aws.queue("shop-jobs", "20").await;
    let refused = deploy(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(
            "queue shop-jobs's visibility timeout (20 s) is shorter than handler on_job's timeout (30 s)"
        ),
        "{}",
        stderr(&refused)
    );
    aws.sqs
        .set_queue_attributes()
        .queue_url(
            aws.sqs
                .get_queue_url()
                .queue_name("shop-jobs")
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap(),
        )
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "180",
        )
        .send()
        .await
        .unwrap();

    // The plan names each source.
    let plan = slx_at(
        &dir,
        &sim.endpoint,
        &["plan", "--zip", zip, "--output", "text"],
    );
    assert!(plan.status.success(), "{}", stderr(&plan));
    let text = String::from_utf8_lossy(&plan.stdout);
    for line in [
        "+ handler on_upload: create function shop-dev-on_upload",
        "+ handler on_upload: allow bucket shop-uploads to invoke it",
        "~ set slx's entries in bucket shop-uploads's notifications (others kept): created under incoming/ → shop-dev-on_upload:dev",
        "+ create schedule nightly: rate(1 hour)",
        "+ handler on_job: receive messages of shop-jobs in batches of up to 10",
    ] {
        assert!(text.contains(line), "plan lacks `{line}`:\n{text}");
    }

    let first = deploy(&[]);
    assert!(first.status.success(), "{}", stderr(&first));

    // Three handler functions besides the API's, tagged with their
    // handler, each told which handler it runs.
    assert_eq!(
        aws.function_names().await,
        [
            "shop-dev",
            "shop-dev-nightly",
            "shop-dev-on_job",
            "shop-dev-on_upload"
        ]
    );
    let on_job = aws
        .lambda
        .get_function()
        .function_name("shop-dev-on_job")
        .qualifier("dev")
        .send()
        .await
        .unwrap();
    let config = on_job.configuration().unwrap();
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env["SLX_HANDLER"], "on_job");
    assert_eq!(env["SLX_REPORT_BATCH_FAILURES"], "true");
    assert_eq!(config.timeout(), Some(30));
    assert_eq!(on_job.tags().unwrap()["slx:handler"], "on_job");

    // S3: slx's entry beside the other team's, untouched; the permission
    // names the bucket and the account.
    let alias = |handler: &str| {
        format!("arn:aws:lambda:us-east-1:123456789012:function:shop-dev-{handler}:dev")
    };
    assert_eq!(
        aws.notifications("shop-uploads").await,
        [
            foreign_entry.clone(),
            (
                "slx-shop-dev-on_upload".to_string(),
                alias("on_upload"),
                "incoming/".to_string()
            ),
        ]
    );
    let policy = aws
        .lambda
        .get_policy()
        .function_name("shop-dev-on_upload")
        .qualifier("dev")
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statement = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "slx-s3-invoke")
        .expect("S3's invoke permission")
        .clone();
    assert_eq!(statement["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(
        statement["Condition"]["ArnLike"]["AWS:SourceArn"],
        "arn:aws:s3:::shop-uploads"
    );
    assert_eq!(
        statement["Condition"]["StringEquals"]["AWS:SourceAccount"],
        "123456789012"
    );

    // The schedule: in the stage's tagged group, run by the scheduler
    // role, with Scheduler's placeholders for the time.
    let schedule = aws
        .scheduler
        .get_schedule()
        .group_name("shop-dev")
        .name("nightly")
        .send()
        .await
        .unwrap();
    assert_eq!(schedule.schedule_expression(), Some("rate(1 hour)"));
    let target = schedule.target().unwrap();
    assert_eq!(target.arn(), alias("nightly"));
    assert_eq!(
        target.role_arn(),
        "arn:aws:iam::123456789012:role/shop-dev-sched"
    );
    assert!(
        target
            .input()
            .unwrap()
            .contains("\"time\":\"<aws.scheduler.scheduled-time>\""),
        "{target:?}"
    );
    let group = aws
        .scheduler
        .get_schedule_group()
        .name("shop-dev")
        .send()
        .await
        .unwrap();
    let tags = aws
        .scheduler
        .list_tags_for_resource()
        .resource_arn(group.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "slx:stage" && t.value() == "dev")
    );
    let scheduler_policy = aws
        .iam
        .get_role_policy()
        .role_name("shop-dev-sched")
        .policy_name("slx")
        .send()
        .await
        .unwrap();
    let scheduler_policy = percent_encoding::percent_decode_str(scheduler_policy.policy_document())
        .decode_utf8()
        .unwrap()
        .to_string();
    assert!(
        scheduler_policy.contains(&alias("nightly")),
        "{scheduler_policy}"
    );
    assert!(!scheduler_policy.contains("on_job"), "{scheduler_policy}");

    // SQS: one mapping, failures reported per message; the role may
    // receive from exactly that queue.
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name("shop-dev-on_job:dev")
        .send()
        .await
        .unwrap();
    let mapping = &mappings.event_source_mappings()[0];
    assert_eq!(mappings.event_source_mappings().len(), 1);
    assert_eq!(mapping.event_source_arn(), Some(jobs.as_str()));
    assert_eq!(mapping.batch_size(), Some(10));
    assert_eq!(
        mapping
            .function_response_types()
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>(),
        ["ReportBatchItemFailures"]
    );
    let role_policy = aws
        .iam
        .get_role_policy()
        .role_name("shop-dev-role")
        .policy_name("slx")
        .send()
        .await
        .unwrap();
    let role_policy: Value = serde_json::from_str(
        &percent_encoding::percent_decode_str(role_policy.policy_document())
            .decode_utf8()
            .unwrap(),
    )
    .unwrap();
    let consume = role_policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "ConsumeQueues")
        .unwrap()
        .clone();
    assert_eq!(consume["Resource"], serde_json::json!([jobs]));
    assert_eq!(
        consume["Action"],
        serde_json::json!([
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage"
        ])
    );

    // Nothing to do the second time: zero writes.
    moto.start_recording();
    let again = deploy(&[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout_json(&again)["steps"], serde_json::json!([]));
    assert_eq!(moto.writes(), Vec::<String>::new());

    // The deployed worker runs for real (the simulator's Lambda runs the
    // zip), and fails only the bad message.
    let invoked = slx_at(
        &dir,
        &sim.endpoint,
        &[
            "invoke",
            "--handler",
            "on_job",
            "--data",
            r#"{"job": "resize"}"#,
            "--data",
            "not json",
            "--output",
            "json",
        ],
    );
    assert_eq!(invoked.status.code(), Some(1), "{}", stderr(&invoked));
    let report = stdout_json(&invoked);
    assert_documented("slx invoke --handler", &report);
    assert_eq!(report["function"], "shop-dev-on_job");
    assert_eq!(report["function_error"], Value::Null);
    let failed = report["failed_messages"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(failed[0].as_str().unwrap().ends_with("-1"), "{report}");
    let tail = report["log_tail"].as_str().unwrap_or_default();
    assert!(tail.contains("running job `resize`"), "{tail}");
    assert!(tail.contains("the body is not a `Job`"), "{tail}");

    // `slx status` shows each source.
    let status = slx_at(&dir, &sim.endpoint, &["status", "--output", "json"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let status = stdout_json(&status);
    assert_documented("slx status", &status);
    let handlers = status["handlers"].as_array().unwrap();
    let source = |name: &str| {
        handlers
            .iter()
            .find(|h| h["handler"] == name)
            .unwrap_or_else(|| panic!("{name} in {status}"))["source"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        source("on_upload"),
        "s3://shop-uploads/incoming/* (created)"
    );
    assert_eq!(source("nightly"), "schedule rate(1 hour)");
    assert_eq!(source("on_job"), "sqs shop-jobs (batches of up to 10)");

    // The upload handler goes from slx.toml: its entry, function and log
    // group go; the other team's entry and the bucket stay.
    edit(
        &dir,
        "[events.on_upload]         # each object created under incoming/\n# A placeholder: bucket names are global, so use a bucket of your own.\nbucket = \"shop-uploads\"\nprefix = \"incoming/\"",
        "",
    );
    let removed = deploy(&[]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert_eq!(
        aws.notifications("shop-uploads").await,
        std::slice::from_ref(&foreign_entry)
    );
    assert!(
        !aws.function_names()
            .await
            .contains(&"shop-dev-on_upload".to_string())
    );
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/shop-dev-on_upload")
        .send()
        .await
        .unwrap();
    assert!(groups.log_groups().is_empty(), "{groups:?}");

    // Undeploy: every source and function goes; the bucket, its other
    // entry and the queues stay.
    let undeployed = slx_at(
        &dir,
        &sim.endpoint,
        &["undeploy", "--stage", "dev", "--yes", "--output", "json"],
    );
    assert!(undeployed.status.success(), "{}", stderr(&undeployed));
    assert!(aws.function_names().await.is_empty());
    assert!(
        aws.scheduler
            .get_schedule_group()
            .name("shop-dev")
            .send()
            .await
            .is_err(),
        "the schedule group is gone"
    );
    assert!(
        aws.iam
            .get_role()
            .role_name("shop-dev-sched")
            .send()
            .await
            .is_err(),
        "the scheduler role is gone"
    );
    assert!(
        aws.lambda
            .list_event_source_mappings()
            .send()
            .await
            .unwrap()
            .event_source_mappings()
            .is_empty()
    );
    assert_eq!(aws.notifications("shop-uploads").await, [foreign_entry]);
    let queues = aws.sqs.list_queues().send().await.unwrap();
    assert_eq!(queues.queue_urls().len(), 2, "{queues:?}");

    // Every call slx made in all of this is in `slx iam-policy`.
    let called = crate::fidelity::assert_policy_covers(&sim, &allowed);
    for action in [
        "s3:PutBucketNotification",
        "scheduler:CreateSchedule",
        "lambda:CreateEventSourceMapping",
        "sqs:GetQueueAttributes",
    ] {
        assert!(called.contains(action), "{action} in {called:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_stage_keeps_to_its_own_bucket_and_a_rule_overlapping_another_stage_is_refused() {
    let moto = Moto::start();
    let sim = slx_sim::Simulator::start(&moto.endpoint, slx_sim::Behaviours::default())
        .expect("slx-sim starts");
    let aws = Clients::at(&sim.endpoint);
    let (_temp, dir, zip) = events_app();
    let zip = zip.to_str().unwrap();
    for bucket in ["shop-uploads", "shop-prod-uploads"] {
        aws.s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    aws.queue("shop-jobs", "180").await;
    let failed = aws.queue("shop-failed", "30").await;
    // Prod reads another bucket; failed uploads go to a queue; the
    // function may write to its own trigger bucket (a recursion risk).
    edit(
        &dir,
        "prefix = \"incoming/\"\n",
        "prefix = \"incoming/\"\non_failure = \"shop-failed\"\n\n[stages.prod.events.on_upload]\nbucket = \"shop-prod-uploads\"\n\n[stages.qa.events.on_upload]\nbucket = \"shop-uploads\"\nprefix = \"incoming/scans/\"\n\n[[permissions]]\nactions = [\"s3:PutObject\"]\nresources = [\"arn:aws:s3:::shop-uploads/*\"]\n",
    );
    let deploy = |stage: &str| {
        slx_at(
            &dir,
            &sim.endpoint,
            &["deploy", "--stage", stage, "--zip", zip, "--output", "json"],
        )
    };
    let dev = deploy("dev");
    assert!(dev.status.success(), "{}", stderr(&dev));
    assert!(
        stderr(&dev).contains(
            "handler on_upload may write to bucket shop-uploads under incoming/, where its own events come from"
        ),
        "{}",
        stderr(&dev)
    );
    let prod = deploy("prod");
    assert!(prod.status.success(), "{}", stderr(&prod));
    assert!(
        !stderr(&prod).contains("may write to bucket"),
        "{}",
        stderr(&prod)
    );
    let entry = |stage: &str| {
        (
            format!("slx-shop-{stage}-on_upload"),
            format!(
                "arn:aws:lambda:us-east-1:123456789012:function:shop-{stage}-on_upload:{stage}"
            ),
            "incoming/".to_string(),
        )
    };
    assert_eq!(aws.notifications("shop-uploads").await, [entry("dev")]);
    assert_eq!(
        aws.notifications("shop-prod-uploads").await,
        [entry("prod")]
    );

    // Failed uploads of each stage go to the queue.
    let invoke_config = aws
        .lambda
        .get_function_event_invoke_config()
        .function_name("shop-dev-on_upload")
        .qualifier("dev")
        .send()
        .await
        .unwrap();
    assert_eq!(
        invoke_config
            .destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination()),
        Some(failed.as_str())
    );

    // qa's rule on dev's bucket could match dev's keys: S3 would refuse
    // it, so slx does, before writing anything for qa.
    moto.start_recording();
    let qa = deploy("qa");
    assert_eq!(qa.status.code(), Some(1), "{}", stderr(&qa));
    assert!(
        stderr(&qa).contains(
            "handler on_upload's rule on bucket shop-uploads overlaps the bucket's notification `slx-shop-dev-on_upload`"
        ),
        "{}",
        stderr(&qa)
    );
    assert_eq!(moto.writes(), Vec::<String>::new());

    // A new release of dev (the worker's code changed), then a rollback:
    // the handlers' aliases go back with the API's, to the same release.
    let lib = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, source.replace("running job", "running the job")).unwrap();
    let v2 = build(&dir, dir.join("v2.zip"));
    let released = slx_at(
        &dir,
        &sim.endpoint,
        &["deploy", "--zip", v2.to_str().unwrap(), "--output", "json"],
    );
    assert!(released.status.success(), "{}", stderr(&released));
    let served = |function: &'static str| {
        let lambda = aws.lambda.clone();
        async move {
            lambda
                .get_alias()
                .function_name(function)
                .name("dev")
                .send()
                .await
                .unwrap()
                .function_version()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(served("shop-dev-on_job").await, "2");
    let rolled = slx_at(
        &dir,
        &sim.endpoint,
        &["rollback", "--stage", "dev", "--output", "json"],
    );
    assert!(rolled.status.success(), "{}", stderr(&rolled));
    let report = stdout_json(&rolled);
    assert_documented("slx rollback", &report);
    assert_eq!(report["to"], "1");
    for function in [
        "shop-dev",
        "shop-dev-on_job",
        "shop-dev-nightly",
        "shop-dev-on_upload",
    ] {
        assert_eq!(served(function).await, "1", "{function}");
    }
    let moved: Vec<&str> = report["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["handler"].as_str().unwrap())
        .collect();
    assert_eq!(moved, ["nightly", "on_job", "on_upload"]);

    // Undeploying prod leaves dev's entry where it is.
    let undeployed = slx_at(
        &dir,
        &sim.endpoint,
        &["undeploy", "--stage", "prod", "--yes", "--output", "json"],
    );
    assert!(undeployed.status.success(), "{}", stderr(&undeployed));
    assert_eq!(aws.notifications("shop-uploads").await, [entry("dev")]);
    assert!(aws.notifications("shop-prod-uploads").await.is_empty());
    assert!(
        aws.function_names()
            .await
            .iter()
            .all(|f| !f.starts_with("shop-prod")),
        "{:?}",
        aws.function_names().await
    );
}

/// A bucket with the other team's entry, the jobs queue, the events app
/// behind a fresh simulator.
async fn events_stage() -> (Moto, slx_sim::Simulator, Clients, (String, String, String)) {
    let moto = Moto::start();
    let sim = slx_sim::Simulator::start(&moto.endpoint, slx_sim::Behaviours::default())
        .expect("slx-sim starts");
    let aws = Clients::at(&sim.endpoint);
    aws.s3
        .create_bucket()
        .bucket("shop-uploads")
        .send()
        .await
        .unwrap();
    aws.queue("shop-jobs", "180").await;
    let audit = aws.queue("audit", "30").await;
    aws.s3
        .put_bucket_notification_configuration()
        .bucket("shop-uploads")
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(
                    aws_sdk_s3::types::QueueConfiguration::builder()
                        .id(FOREIGN_ID)
                        .queue_arn(&audit)
                        .events(aws_sdk_s3::types::Event::S3ObjectRemoved)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    (
        moto,
        sim,
        aws,
        (FOREIGN_ID.to_string(), audit, String::new()),
    )
}

fn mutating_since(sim: &slx_sim::Simulator, from: usize) -> usize {
    sim.events()
        .iter()
        .filter(|e| e.seq >= from && e.mutating)
        .count()
}

/// A first deploy of the events app killed after any of its writes is
/// finished by the next: each handler serves the zip, the bucket holds
/// slx's one entry beside the other team's, one schedule, one mapping,
/// and a further deploy writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_events_deploy_killed_after_any_write_is_finished_by_the_next() {
    let (_temp, dir, zip) = events_app();
    let zip = zip.to_str().unwrap().to_string();
    let args = ["deploy", "--zip", zip.as_str(), "--output", "json"];
    let total = {
        let (_moto, sim, _, _) = events_stage().await;
        let before = sim.events().len();
        let output = slx_at(&dir, &sim.endpoint, &args);
        assert!(output.status.success(), "{}", stderr(&output));
        mutating_since(&sim, before)
    };
    assert!(total > 10, "{total} writes");
    let sha = crate::common::stage::sha_of(Path::new(&zip));
    for k in crate::common::kill_points(total) {
        let context = format!("killed after write {k} of {total}");
        let (_moto, sim, aws, foreign) = events_stage().await;
        sim.set_behaviours(slx_sim::Behaviours {
            hold_after_writes: Some(k),
            ..slx_sim::Behaviours::default()
        });
        let mut child = slx(&dir)
            .args(args)
            .args(["--endpoint-url", &sim.endpoint])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !sim.events().iter().any(|e| e.outcome == "held") {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{context}: neither held nor done"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        sim.set_behaviours(slx_sim::Behaviours::default());
        let rerun = slx_at(&dir, &sim.endpoint, &args);
        assert!(rerun.status.success(), "{context}: {}", stderr(&rerun));

        for function in ["shop-dev-on_upload", "shop-dev-nightly", "shop-dev-on_job"] {
            let served = aws
                .lambda
                .get_function()
                .function_name(function)
                .qualifier("dev")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{context}: {function}: {e:?}"));
            assert_eq!(
                served.configuration().unwrap().code_sha256(),
                Some(sha.as_str()),
                "{context}: {function}"
            );
        }
        let notifications = aws.notifications("shop-uploads").await;
        assert_eq!(notifications.len(), 2, "{context}: {notifications:?}");
        assert!(notifications.contains(&foreign), "{context}");
        let schedules = aws
            .scheduler
            .list_schedules()
            .group_name("shop-dev")
            .send()
            .await
            .unwrap();
        assert_eq!(schedules.schedules().len(), 1, "{context}");
        let mappings = aws
            .lambda
            .list_event_source_mappings()
            .send()
            .await
            .unwrap();
        assert_eq!(mappings.event_source_mappings().len(), 1, "{context}");
        let before = sim.events().len();
        let again = slx_at(&dir, &sim.endpoint, &args);
        assert!(again.status.success(), "{context}");
        assert_eq!(
            mutating_since(&sim, before),
            0,
            "{context}: a further deploy writes nothing"
        );
    }
}
