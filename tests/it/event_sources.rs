//! Deploying `[events]`: the events scaffold's upload handler, nightly
//! job and queue worker, each its own function, wired to an existing
//! bucket (which already notifies another team), to EventBridge Scheduler
//! and to an existing queue; through slx-sim in front of moto, so the
//! deployed handler also runs for real, and S3's rules (permission before
//! notification, no overlapping rules) are enforced as AWS does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;
use slx_sim::{Behaviours, Simulator};

use crate::common::kill::{self, Scenario};
use crate::common::moto::{Moto, sdk_config};
use crate::common::stage::{events_zips, paced, steps};
use crate::common::{assert_documented, run, slx, stdout_json};

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

/// A fresh `slx init --template events` app; its builds are
/// [`events_zips`], made once.
fn events_app() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let output = run(slx(temp.path()).args(["init", "--template", "events", "shop"]));
    assert!(output.status.success());
    let dir = temp.path().join("shop");
    (temp, dir)
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

/// The bucket slx's upload handler is wired to (it already notifies the
/// other team's queue of its reports) and the other team's queue: the
/// other team's entry, as `Clients::notifications` lists it.
async fn bucket_with_foreign_entry(aws: &Clients) -> (String, String, String) {
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
    (FOREIGN_ID.to_string(), audit, "reports/".to_string())
}

/// The events app's stage dev behind a simulator over one moto: the
/// bucket with the other team's entry, the jobs queue (long enough a
/// visibility timeout), and what `slx iam-policy` allows.
struct EventsStage {
    moto: Moto,
    sim: Simulator,
    _temp: tempfile::TempDir,
    dir: PathBuf,
    jobs: String,
    foreign: (String, String, String),
    allowed: BTreeSet<String>,
}

impl EventsStage {
    async fn new() -> EventsStage {
        EventsStage::behaving(Behaviours::default()).await
    }

    /// The stage, its AWS behind a simulator with `behaviours`.
    async fn behaving(behaviours: Behaviours) -> EventsStage {
        let moto = Moto::start();
        let sim = Simulator::start(&moto.endpoint, paced(behaviours)).expect("slx-sim starts");
        // The test's own calls go to moto: the simulator sees slx's alone.
        let aws = Clients::at(&moto.endpoint);
        let (temp, dir) = events_app();
        let foreign = bucket_with_foreign_entry(&aws).await;
        let jobs = aws.queue("shop-jobs", "180").await;
        let policy = slx_at(
            &dir,
            &sim.endpoint,
            &["iam-policy", "--stage", "dev", "--output", "json"],
        );
        assert!(policy.status.success(), "{}", stderr(&policy));
        let allowed = crate::fidelity::policy_actions(&stdout_json(&policy));
        EventsStage {
            moto,
            sim,
            _temp: temp,
            dir,
            jobs,
            foreign,
            allowed,
        }
    }

    /// The stage with the events app's v1 deployed.
    async fn deployed() -> EventsStage {
        let stage = EventsStage::new().await;
        let first = stage.deploy(&[]);
        assert!(first.status.success(), "{}", stderr(&first));
        stage
    }

    /// Clients of moto itself (the test's calls stay out of the simulator's
    /// record of slx's).
    fn aws(&self) -> Clients {
        Clients::at(&self.moto.endpoint)
    }

    fn slx(&self, args: &[&str]) -> std::process::Output {
        slx_at(&self.dir, &self.sim.endpoint, args)
    }

    /// `slx deploy` of v1 (stage dev unless `extra` names one).
    fn deploy(&self, extra: &[&str]) -> std::process::Output {
        let zip = events_zips().v1.to_str().unwrap();
        let mut args = vec!["deploy", "--zip", zip, "--output", "json"];
        args.extend_from_slice(extra);
        self.slx(&args)
    }

    /// `slx deploy` of v1 to stage dev, which must succeed: its report.
    fn deploy_ok(&self) -> Value {
        let output = self.deploy(&[]);
        assert!(output.status.success(), "{}", stderr(&output));
        stdout_json(&output)
    }

    /// Every call slx made so far is in `slx iam-policy`: the actions
    /// called.
    fn assert_policy_covers(&self) -> BTreeSet<String> {
        crate::fidelity::assert_policy_covers(&self.sim, &self.allowed)
    }
}

/// One deployed events stage that the cases which only look share (none
/// of them writes): deployed on its own thread and runtime, so that each
/// test's runtime makes its own clients.
fn shared() -> &'static EventsStage {
    static SHARED: OnceLock<EventsStage> = OnceLock::new();
    SHARED.get_or_init(|| {
        // Named: the simulator's recorded requests say which test made them.
        std::thread::Builder::new()
            .name("event_sources::shared".into())
            .spawn(|| {
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(EventsStage::deployed())
            })
            .unwrap()
            .join()
            .unwrap()
    })
}

fn alias(handler: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:shop-dev-{handler}:dev")
}

/// A first deploy of the events app over the other team's bucket, with
/// the jobs queue at `visibility` (none: no queue): its output, and
/// whether it wrote anything.
async fn first_deploy_with_queue(visibility: Option<&str>) -> (std::process::Output, bool) {
    let moto = Moto::start();
    let sim = Simulator::start(&moto.endpoint, paced(Behaviours::default())).unwrap();
    let aws = Clients::at(&moto.endpoint);
    let (_temp, dir) = events_app();
    bucket_with_foreign_entry(&aws).await;
    if let Some(visibility) = visibility {
        aws.queue("shop-jobs", visibility).await;
    }
    let zip = events_zips().v1.to_str().unwrap();
    let output = slx_at(&dir, &sim.endpoint, &["deploy", "--zip", zip]);
    (output, sim.events().iter().any(|e| e.mutating))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_that_does_not_exist_is_refused_before_any_write() {
    let _timing = crate::common::timing();
    let (refused, wrote) = first_deploy_with_queue(None).await;
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("queue shop-jobs (its source of handler on_job) does not exist"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("slx never creates or deletes queues"));
    assert!(!wrote, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visibility_timeout_shorter_than_the_workers_timeout_is_refused_first() {
    let _timing = crate::common::timing();
    // Lambda would refuse the mapping; slx says so first.
    let (refused, wrote) = first_deploy_with_queue(Some("20")).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(
            "queue shop-jobs's visibility timeout (20 s) is shorter than handler on_job's timeout (30 s)"
        ),
        "{}",
        stderr(&refused)
    );
    assert!(!wrote, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plan_names_each_source() {
    let _timing = crate::common::timing();
    let stage = EventsStage::new().await;
    let zip = events_zips().v1.to_str().unwrap();
    let plan = stage.slx(&["plan", "--zip", zip, "--output", "text"]);
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
    stage.assert_policy_covers();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_handler_is_its_own_tagged_function_told_which_handler_it_runs() {
    let _timing = crate::common::timing();
    let stage = shared();
    let aws = stage.aws();
    // Three handler functions besides the API's.
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
    let called = stage.assert_policy_covers();
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
async fn the_upload_handler_is_notified_beside_the_other_teams_entry_for_its_bucket_only() {
    let _timing = crate::common::timing();
    let stage = shared();
    let aws = stage.aws();
    // slx's entry beside the other team's, untouched; the permission
    // names the bucket and the account.
    assert_eq!(
        aws.notifications("shop-uploads").await,
        [
            stage.foreign.clone(),
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
    stage.assert_policy_covers();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nightly_job_runs_from_the_stages_tagged_group_by_its_own_role() {
    let _timing = crate::common::timing();
    let stage = shared();
    let aws = stage.aws();
    // In the stage's tagged group, run by the scheduler role, with
    // Scheduler's placeholders for the time.
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
    stage.assert_policy_covers();
}

/// Lambda lists a deleted mapping as `Deleting` for a while and refuses
/// another of the same queue and function until it is gone: a queue
/// source removed and added back before then gets its mapping again
/// (slx once counted the `Deleting` one as current and made none, and
/// the messages stopped arriving).
#[tokio::test(flavor = "multi_thread")]
async fn a_queue_source_added_back_while_its_old_mapping_is_deleted_gets_one_again() {
    let _timing = crate::common::timing();
    // 60 s to delete a mapping, at the suite's pace.
    let stage = EventsStage::behaving(Behaviours {
        mapping_deletion_s: 60.0,
        ..Behaviours::default()
    })
    .await;
    let aws = stage.aws();
    let other = aws.queue("shop-jobs-2", "180").await;
    stage.deploy_ok();
    let slx_toml = stage.dir.join("slx.toml");
    let edit = |from: &str, to: &str| {
        let text = std::fs::read_to_string(&slx_toml).unwrap();
        assert!(text.contains(from));
        std::fs::write(&slx_toml, text.replace(from, to)).unwrap();
    };
    // Away to another queue, and straight back.
    edit("queue = \"shop-jobs\"", "queue = \"shop-jobs-2\"");
    stage.deploy_ok();
    edit("queue = \"shop-jobs-2\"", "queue = \"shop-jobs\"");
    let back = stage.deploy_ok();
    assert!(
        steps(&back).contains(&"create_queue_mapping".to_string()),
        "the mapping is made again: {back}"
    );
    // What moto holds, once every deletion is over: the jobs queue's
    // mapping and no other.
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name("shop-dev-on_job:dev")
        .send()
        .await
        .unwrap();
    let queues: Vec<&str> = mappings
        .event_source_mappings()
        .iter()
        .filter_map(|m| m.event_source_arn())
        .collect();
    assert_eq!(queues, [stage.jobs.as_str()], "not {other}");
}

/// Scheduler keeps a deleted schedule group `DELETING` until its
/// schedules are gone, and refuses its name meanwhile: a schedule added
/// back soon after the stage's last one was removed gets its group (and
/// itself) anew once the old group is gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_added_back_while_its_old_group_is_deleted_runs_again() {
    let _timing = crate::common::timing();
    // 60 s to delete a group, at the suite's pace.
    let stage = EventsStage::behaving(Behaviours {
        schedule_group_deletion_s: 60.0,
        ..Behaviours::default()
    })
    .await;
    stage.deploy_ok();
    let slx_toml = stage.dir.join("slx.toml");
    let with = std::fs::read_to_string(&slx_toml).unwrap();
    let start = with.find("[events.nightly]").unwrap();
    let end = start + with[start..].find("\n\n").unwrap();
    std::fs::write(&slx_toml, format!("{}{}", &with[..start], &with[end..])).unwrap();
    let removed = stage.deploy_ok();
    assert!(steps(&removed).contains(&"delete_schedule_group".to_string()));
    std::fs::write(&slx_toml, &with).unwrap();
    let made = steps(&stage.deploy_ok());
    assert!(
        made.contains(&"create_schedule_group".to_string())
            && made.contains(&"put_schedule".to_string()),
        "{made:?}"
    );
    let schedule = stage
        .aws()
        .scheduler
        .get_schedule()
        .group_name("shop-dev")
        .name("nightly")
        .send()
        .await
        .unwrap();
    assert_eq!(schedule.schedule_expression(), Some("rate(1 hour)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_worker_gets_batches_reporting_failures_per_message_from_its_queue_only() {
    let _timing = crate::common::timing();
    let stage = shared();
    let aws = stage.aws();
    // One mapping, failures reported per message; the role may receive
    // from exactly that queue.
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name("shop-dev-on_job:dev")
        .send()
        .await
        .unwrap();
    let mapping = &mappings.event_source_mappings()[0];
    assert_eq!(mappings.event_source_mappings().len(), 1);
    assert_eq!(mapping.event_source_arn(), Some(stage.jobs.as_str()));
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
    assert_eq!(consume["Resource"], serde_json::json!([stage.jobs]));
    assert_eq!(
        consume["Action"],
        serde_json::json!([
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage"
        ])
    );
    stage.assert_policy_covers();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_deploy_of_the_events_app_writes_nothing() {
    let _timing = crate::common::timing();
    let stage = shared();
    let before = stage.sim.events().len();
    let again = stage.deploy(&[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout_json(&again)["steps"], serde_json::json!([]));
    let writes: Vec<String> = stage.sim.events()[before..]
        .iter()
        .filter(|e| e.mutating)
        .map(|e| e.operation.clone())
        .collect();
    assert_eq!(writes, Vec::<String>::new());
    stage.assert_policy_covers();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_worker_runs_and_fails_only_the_bad_message() {
    let _timing = crate::common::timing();
    let stage = shared();
    // The simulator's Lambda runs the zip.
    let invoked = stage.slx(&[
        "invoke",
        "--handler",
        "on_job",
        "--data",
        r#"{"job": "resize"}"#,
        "--data",
        "not json",
        "--output",
        "json",
    ]);
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
    stage.assert_policy_covers();
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_each_handlers_source() {
    let _timing = crate::common::timing();
    let stage = shared();
    let status = stage.slx(&["status", "--output", "json"]);
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
    stage.assert_policy_covers();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_removed_from_slx_toml_leaves_with_its_entry_function_and_logs() {
    let _timing = crate::common::timing();
    let stage = EventsStage::deployed().await;
    let aws = stage.aws();
    // Its entry, function and log group go; the other team's entry and
    // the bucket stay.
    edit(
        &stage.dir,
        "[events.on_upload]         # each object created under incoming/\n# A placeholder: bucket names are global, so use a bucket of your own.\nbucket = \"shop-uploads\"\nprefix = \"incoming/\"",
        "",
    );
    let removed = stage.deploy(&[]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert_eq!(
        aws.notifications("shop-uploads").await,
        std::slice::from_ref(&stage.foreign)
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
    stage.assert_policy_covers();
}

#[tokio::test(flavor = "multi_thread")]
async fn undeploy_removes_every_source_and_function_but_not_the_bucket_or_queues() {
    let _timing = crate::common::timing();
    let stage = EventsStage::deployed().await;
    let aws = stage.aws();
    let undeployed = stage.slx(&["undeploy", "--stage", "dev", "--yes", "--output", "json"]);
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
    assert_eq!(
        aws.notifications("shop-uploads").await,
        std::slice::from_ref(&stage.foreign)
    );
    let queues = aws.sqs.list_queues().send().await.unwrap();
    assert_eq!(queues.queue_urls().len(), 2, "{queues:?}");
    stage.assert_policy_covers();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_stage_keeps_to_its_own_bucket_and_a_rule_overlapping_another_stage_is_refused() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let sim =
        Simulator::start(&moto.endpoint, paced(Behaviours::default())).expect("slx-sim starts");
    let aws = Clients::at(&sim.endpoint);
    let (_temp, dir) = events_app();
    let zip = events_zips().v1.to_str().unwrap();
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
    let v2 = &events_zips().v2;
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

/// A first deploy of the events app, killed after any of its writes or
/// with the answer to any write lost: each handler serves the zip, the
/// bucket holds slx's one entry beside the other team's, one schedule,
/// one mapping, and a further deploy writes nothing.
impl Scenario for EventsStage {
    fn name(&self) -> String {
        "events first deploy".into()
    }

    fn sim(&self) -> &Simulator {
        &self.sim
    }

    fn command(&self) -> std::process::Command {
        let zip = events_zips().v1.to_str().unwrap().to_string();
        let mut command = slx(&self.dir);
        command
            .args(["deploy", "--zip", &zip, "--output", "json"])
            .args(["--endpoint-url", &self.sim.endpoint])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE");
        command
    }

    async fn assert_converged(&self, context: &str) {
        let aws = self.aws();
        let sha = crate::common::stage::sha_of(&events_zips().v1);
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
        assert!(notifications.contains(&self.foreign), "{context}");
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
    }

    async fn restore(&self) {
        let undeployed = self.slx(&["undeploy", "--stage", "dev", "--yes"]);
        assert!(undeployed.status.success(), "restore: undeploy");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_events_deploy_killed_after_any_write_is_finished_by_the_next() {
    let _timing = crate::common::timing();
    kill::killed_after_each_write(&EventsStage::new().await).await;
}
