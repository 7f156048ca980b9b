//! Event handlers (`[events.NAME]`): the `slx init --template events`
//! scaffold, run through `slx invoke --local --handler` as its source
//! would call it, and its Lambda build fed AWS's published sample events
//! through slx's Runtime API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use slx::local::runtime_api::{Answer, RuntimeApi};

use crate::common::{
    BUILD_LOCK, assert_documented, lambda_process, run, shared_target_dir, slx, stdout_json,
    unzip_bootstrap,
};

const S3_SAMPLE: &str = include_str!("fixtures/aws/s3-object-created.json");
const SQS_SAMPLE: &str = include_str!("fixtures/aws/sqs-receive-message.json");
const SCHEDULE_SAMPLE: &str = include_str!("fixtures/aws/eventbridge-scheduled-event.json");

/// A fresh `slx init --template events` app.
fn events_app(name: &str) -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let output = run(slx(temp.path()).args(["init", "--template", "events", name]));
    assert!(output.status.success());
    let dir = temp.path().join(name);
    (temp, dir)
}

fn invoke(dir: &Path, args: &[&str]) -> Output {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    run(slx(dir)
        .args(["invoke", "--local", "--output", "json"])
        .args(args))
}

/// What the handler printed, as the JSON report's `log_tail` has it.
fn log_tail(report: &Value) -> String {
    report["log_tail"].as_str().unwrap_or_default().to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_events_scaffold_runs_each_handler_locally_as_its_source_would() {
    let _timing = crate::common::timing();
    let (_temp, dir) = events_app("shop");

    // Its own tests pass with plain cargo.
    let output = run(Command::new(env!("CARGO"))
        .arg("test")
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", shared_target_dir().join("scaffold")));
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("4 passed"));

    // S3: the key arrives URL-decoded, the bucket is slx.toml's.
    let upload = invoke(
        &dir,
        &[
            "--handler",
            "on_upload",
            "--s3-key",
            "incoming/my photo+1.jpg",
            "--data",
            "abc",
        ],
    );
    assert!(upload.status.success());
    let report = stdout_json(&upload);
    assert!(
        log_tail(&report).contains("received s3://shop-uploads/incoming/my photo+1.jpg (3 bytes)"),
        "{report}"
    );
    assert_documented("slx invoke --handler", &report);
    assert_eq!(report["handler"], "on_upload");
    assert_eq!(report["function"], "shop-dev-on_upload");
    assert_eq!(report["response"], Value::Null);
    assert_eq!(report["function_error"], Value::Null);

    // SQS: a batch of three, two bad; only those two are reported failed,
    // each logged with the request id, and the command exits 1.
    let jobs = invoke(
        &dir,
        &[
            "--handler",
            "on_job",
            "--data",
            r#"{"job": "resize"}"#,
            "--data",
            r#"{"job": " "}"#,
            "--data",
            "not json",
        ],
    );
    assert_eq!(jobs.status.code(), Some(1), "{}", stderr(&jobs));
    let report = stdout_json(&jobs);
    let failed: Vec<String> = report["failed_messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    assert_eq!(failed.len(), 2, "{report}");
    assert!(
        failed[0].ends_with("-1") && failed[1].ends_with("-2"),
        "{failed:?}"
    );
    assert_eq!(
        report["response"]["batchItemFailures"],
        json!([{ "itemIdentifier": failed[0] }, { "itemIdentifier": failed[1] }])
    );
    let log = log_tail(&report);
    assert!(log.contains("running job `resize`"), "{log}");
    assert!(
        log.contains(&format!(
            "handler `on_job` failed for message {}: message {} names no job",
            failed[0], failed[0]
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "failed for message {}: the body is not a `Job`",
            failed[1]
        )),
        "{log}"
    );
    assert!(
        stderr(&jobs).contains("2 of 3 messages failed"),
        "{}",
        stderr(&jobs)
    );

    // A schedule: a run due now; or a whole event from a file (AWS's
    // sample of an EventBridge rule's scheduled event).
    let nightly = invoke(&dir, &["--handler", "nightly"]);
    assert!(nightly.status.success());
    let report = stdout_json(&nightly);
    assert!(
        log_tail(&report).contains("nightly run scheduled for 20"),
        "{report}"
    );
    let sample = dir.join("scheduled.json");
    std::fs::write(&sample, SCHEDULE_SAMPLE).unwrap();
    let from_file = invoke(&dir, &["--handler", "nightly", "--event", "scheduled.json"]);
    assert!(from_file.status.success());
    let report = stdout_json(&from_file);
    assert!(
        log_tail(&report).contains("nightly run scheduled for 2015-10-08T16:53:06Z"),
        "{report}"
    );

    // Every function error says what failed in its type: a handler of
    // the whole event refuses an event of another source or type, and a
    // panic is a panic.
    add_whole_event_handler(&dir);
    let raw = invoke(
        &dir,
        &["--handler", "raw_jobs", "--data", "a", "--data", "b"],
    );
    assert!(raw.status.success(), "{}", stderr(&raw));
    assert_eq!(stdout_json(&raw)["response"], 2);
    let s3: Value = serde_json::from_str(S3_SAMPLE).unwrap();
    let sqs: Value = serde_json::from_str(SQS_SAMPLE).unwrap();
    for (handler, event, error_type, said) in [
        (
            "raw_jobs",
            json!({ "Records": [] }),
            "Handler.Panic",
            "panicked: an empty batch",
        ),
        (
            "raw_jobs",
            json!({ "Records": [{ "eventSource": "aws:sqs", "messageId": "m" }] }),
            "Event.Mismatch",
            "the event is not a `Batch`",
        ),
        (
            "raw_jobs",
            s3,
            "Event.Mismatch",
            "expected an SQS event (records from `aws:sqs`), but got 1 record(s) from `aws:s3`",
        ),
        // A misconfigured trigger: the queue's batch sent to the S3 handler.
        (
            "on_upload",
            sqs,
            "Event.Mismatch",
            "expected an S3 event notification (records from `aws:s3`), but got 1 record(s) from `aws:sqs`",
        ),
        (
            "nightly",
            json!({ "input": 1 }),
            "Event.Mismatch",
            "expected a scheduled run (an event with a `time`), but got an object with input",
        ),
    ] {
        std::fs::write(dir.join("event.json"), event.to_string()).unwrap();
        let failed = invoke(&dir, &["--handler", handler, "--event", "event.json"]);
        assert_eq!(
            failed.status.code(),
            Some(1),
            "{handler}: {}",
            stderr(&failed)
        );
        let report = stdout_json(&failed);
        let error = &report["function_error"]["error"];
        assert_eq!(error["errorType"], error_type, "{handler}: {report}");
        assert!(
            error["errorMessage"].as_str().unwrap().contains(said),
            "{handler}: {report}"
        );
    }

    // Mistakes are named before anything is built.
    let typo = invoke(&dir, &["--handler", "on_uplod", "--s3-key", "a"]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        stderr(&typo).contains("did you mean `on_upload`?"),
        "{}",
        stderr(&typo)
    );
    let no_key = invoke(&dir, &["--handler", "on_upload"]);
    assert!(
        stderr(&no_key).contains("add `--s3-key"),
        "{}",
        stderr(&no_key)
    );
    let no_body = invoke(&dir, &["--handler", "on_job"]);
    assert!(
        stderr(&no_body).contains("once per message"),
        "{}",
        stderr(&no_body)
    );
}

/// Adds `[events.raw_jobs]`, a handler of a queue's whole batch as a type
/// of the app's, which panics on an empty batch.
fn add_whole_event_handler(dir: &Path) {
    let append = |file: &str, text: &str| {
        let path = dir.join(file);
        let before = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, before + text).unwrap();
    };
    append(
        "slx.toml",
        "\n[events.raw_jobs]\nhandler = \"raw_jobs\"\nqueue = \"shop-raw-jobs\"\n",
    );
    append(
        "src/lib.rs",
        r#"
#[derive(Debug, Deserialize)]
pub struct Batch {
    #[serde(rename = "Records")]
    pub records: Vec<Message>,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub body: String,
}

pub async fn raw_jobs(event: Batch) -> Result<usize, String> {
    assert!(!event.records.is_empty(), "an empty batch");
    Ok(event.records.len())
}
"#,
    );
}

#[test]
fn slx_dev_runs_the_s3_handler_for_a_file_in_its_bucket_folder_and_a_due_schedule() {
    let _timing = crate::common::timing();
    let (_temp, dir) = events_app("shop");
    // Build once, so `slx dev` starts at once and the schedule below is
    // still ahead when it does.
    assert!(invoke(&dir, &["--handler", "nightly"]).status.success());
    let due = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(10))
        .unwrap();
    let at = due.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "schedule = \"rate(1 hour)\"",
            &format!("schedule = \"at({at})\""),
        ) + "\n[events.on_removed]          # the same function, for removals\nhandler = \"on_upload\"\nbucket = \"shop-uploads\"\nevents = [\"removed\"]\nprefix = \"incoming/\"\n",
    )
    .unwrap();

    let dev = crate::dev::Dev::start_with(&dir, &[]);
    let banner = dev.lines_until("watching for changes", Duration::from_secs(60));
    let banner = banner.join("\n");
    assert!(
        banner.contains(".slx/buckets/shop-uploads/incoming/*  → on_upload"),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("schedule at({at}), next {}Z  → nightly", at)),
        "{banner}"
    );

    // A file outside the prefix is not an event for `on_upload`; one
    // under it is, with its key and size.
    // Every line printed so far: the schedule may fire while the bucket
    // events are awaited, on a slow machine.
    let mut log: Vec<String> = Vec::new();
    let mut until = |needle: &str, within: Duration| -> Vec<String> {
        let from = log.len();
        if !log.iter().any(|line| line.contains(needle)) {
            log.extend(dev.lines_until(needle, within));
        }
        log[from..].to_vec()
    };
    let bucket = dir.join(".slx/buckets/shop-uploads");
    std::fs::create_dir_all(bucket.join("outgoing")).unwrap();
    std::fs::write(bucket.join("outgoing/skip.csv"), "no").unwrap();
    std::fs::create_dir_all(bucket.join("incoming")).unwrap();
    let written = Instant::now();
    std::fs::write(bucket.join("incoming/report 1.csv"), "a,b\n1").unwrap();
    let seen = until(
        "received s3://shop-uploads/incoming/report 1.csv (5 bytes)",
        Duration::from_secs(30),
    );
    // The observed latency (docs/performance.md quotes it; not asserted).
    eprintln!(
        "bucket folder → handler: {} ms",
        written.elapsed().as_millis()
    );
    assert!(
        !seen.iter().any(|line| line.contains("outgoing")),
        "{seen:#?}"
    );
    until(
        "on_upload ← s3://shop-uploads/incoming/report 1.csv (created): done",
        Duration::from_secs(10),
    );
    // Removing it is the removal handler's event (a created-only one
    // stays quiet), with the key and no size.
    std::fs::remove_file(bucket.join("incoming/report 1.csv")).unwrap();
    let mut seen = until(
        "on_removed ← s3://shop-uploads/incoming/report 1.csv (removed): done",
        Duration::from_secs(30),
    );
    // The handler's own line comes through its output pipe, slx dev's
    // "done" through slx dev's: either may be read first.
    seen.extend(until(
        "received s3://shop-uploads/incoming/report 1.csv (0 bytes)",
        Duration::from_secs(10),
    ));
    assert!(
        !seen.iter().any(|line| line.contains("on_upload ←")),
        "{seen:#?}"
    );

    // The schedule runs when due, with its due time.
    until(
        &format!("nightly run scheduled for {at}Z"),
        Duration::from_secs(40),
    );
    until("nightly ← the run due", Duration::from_secs(10));
    drop(dev);

    let quiet = crate::dev::Dev::start_with(&dir, &["--no-schedules"]);
    let banner = quiet
        .lines_until("watching for changes", Duration::from_secs(60))
        .join("\n");
    assert!(
        banner.contains(&format!(
            "schedule at({at}) (off: --no-schedules)  → nightly"
        )),
        "{banner}"
    );
}

/// A Lambda `bootstrap` serving one event handler against `api`, with
/// its own Runtime API, its stdout kept.
struct EventProcess {
    api: RuntimeApi,
    child: Child,
    stdout: Arc<Mutex<String>>,
}

impl EventProcess {
    /// `binary` serving `[events.HANDLER]` (`SLX_HANDLER`) with `env`.
    async fn start(binary: &Path, handler: &str, env: &[(&str, &str)]) -> EventProcess {
        let function = format!("shop-dev-{handler}");
        let api = RuntimeApi::start(&format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{function}"
        ))
        .await
        .unwrap();
        let mut child = lambda_process(binary, false, &api.endpoint(), &function)
            .env("SLX_HANDLER", handler)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bootstrap starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        let pipe = child.stdout.take().unwrap();
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("bootstrap | {line}");
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        EventProcess { api, child, stdout }
    }

    /// Its answer to `event`.
    async fn answer(&self, id: &str, event: &Value) -> Answer {
        self.api
            .invoke(
                id,
                serde_json::to_vec(event).unwrap(),
                Duration::from_secs(60),
            )
            .await
            .unwrap()
    }

    /// Its answer to `event`, which must be a response: as JSON.
    async fn reply(&self, id: &str, event: &Value) -> Value {
        match self.answer(id, event).await {
            Answer::Response(body) => serde_json::from_slice(&body).unwrap(),
            other => panic!("expected a response to {id}, got {other:?}"),
        }
    }

    /// Waits for `text` on stdout (the handler prints before it answers,
    /// but the pipe may lag).
    fn printed(&self, text: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.stdout.lock().unwrap().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for EventProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// AWS's SQS sample, as a batch of two: a good job, then the sample's own
/// message, whose body ("Message Body") is not a `Job`.
fn sqs_batch() -> Value {
    let mut sample: Value = serde_json::from_str(SQS_SAMPLE).unwrap();
    let bad = sample["Records"][0].clone();
    let mut good = bad.clone();
    good["messageId"] = json!("good-1");
    good["body"] = json!(r#"{"job": "resize"}"#);
    sample["Records"] = json!([good, bad]);
    sample
}

/// Three messages of one group of a FIFO queue (AWS's SQS sample, with
/// the attributes a FIFO queue adds): the first is not a `Job`.
// https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html
fn fifo_batch() -> Value {
    let mut sample: Value = serde_json::from_str(SQS_SAMPLE).unwrap();
    let template = sample["Records"][0].clone();
    let records: Vec<Value> = (1..=3)
        .map(|n| {
            let mut record = template.clone();
            record["messageId"] = json!(format!("fifo-{n}"));
            record["eventSourceARN"] = json!("arn:aws:sqs:us-east-2:123456789012:my-queue.fifo");
            record["attributes"]["MessageGroupId"] = json!("orders");
            record["attributes"]["MessageDeduplicationId"] = json!(format!("dedup-{n}"));
            record["attributes"]["SequenceNumber"] = json!(format!("1862771244637350{n}"));
            if n > 1 {
                record["body"] = json!(format!(r#"{{"job": "fifo-{n}"}}"#));
            }
            record
        })
        .collect();
    sample["Records"] = json!(records);
    sample
}

/// The error document of a function error.
fn function_error(answer: Answer) -> Value {
    match answer {
        Answer::Error { error_type, body } => Answer::error_document(&error_type, &body),
        other => panic!("expected a function error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_build_serves_aws_sample_events_and_fails_only_bad_messages() {
    let _timing = crate::common::timing();
    let (_temp, dir) = events_app("shop");
    let binary = unzip_bootstrap(&crate::common::stage::events_zips().v1);
    let bootstrap = dir.join("bootstrap");
    std::fs::write(&bootstrap, &binary).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();

    // S3: AWS's sample names `Happy%20Face.jpg`; the handler gets it decoded.
    let process = EventProcess::start(&bootstrap, "on_upload", &[]).await;
    let s3: Value = serde_json::from_str(S3_SAMPLE).unwrap();
    assert_eq!(
        process.answer("s3-1", &s3).await,
        Answer::Response(b"null".to_vec())
    );
    assert!(process.printed("received s3://sourcebucket/Happy Face.jpg (1024 bytes)"));
    drop(process);

    // SQS, reporting batch item failures (slx's default): only the bad
    // message is returned to the queue.
    let process = EventProcess::start(
        &bootstrap,
        "on_job",
        &[("SLX_REPORT_BATCH_FAILURES", "true")],
    )
    .await;
    assert_eq!(
        process.reply("sqs-1", &sqs_batch()).await,
        json!({ "batchItemFailures": [{ "itemIdentifier": "MessageID_1" }] })
    );
    assert!(process.printed("running job `resize` (message good-1)"));
    drop(process);

    // Without batch item failures, one bad message fails the whole batch
    // (else Lambda would delete it with the rest).
    let process = EventProcess::start(
        &bootstrap,
        "on_job",
        &[("SLX_REPORT_BATCH_FAILURES", "false")],
    )
    .await;
    let error = function_error(process.answer("sqs-2", &sqs_batch()).await);
    assert_eq!(error["errorType"], "Handler.Error", "{error}");
    let text = error["errorMessage"].as_str().unwrap();
    assert!(text.contains("1 of 2 failed (request sqs-2)"), "{text}");
    // A FIFO queue keeps order: once a message fails, the later ones of
    // the batch do not run; the whole batch fails.
    let error = function_error(process.answer("fifo-1", &fifo_batch()).await);
    let text = error["errorMessage"].as_str().unwrap();
    assert!(text.contains("1 of 3 failed, 2 after it not run"), "{text}");
    drop(process);

    // Reporting batch item failures, the failed message and every later
    // one are reported, and none of the later ones ran.
    let process = EventProcess::start(
        &bootstrap,
        "on_job",
        &[("SLX_REPORT_BATCH_FAILURES", "true")],
    )
    .await;
    assert_eq!(
        process.reply("fifo-2", &fifo_batch()).await,
        json!({ "batchItemFailures": [
            { "itemIdentifier": "fifo-1" },
            { "itemIdentifier": "fifo-2" },
            { "itemIdentifier": "fifo-3" },
        ] })
    );
    // What ran after the batch printed; what the batch held did not.
    process.reply("sqs-3", &sqs_batch()).await;
    assert!(process.printed("running job `resize` (message good-1)"));
    let printed = process.stdout.lock().unwrap().clone();
    assert!(
        !printed.contains("fifo-2") && !printed.contains("fifo-3"),
        "{printed}"
    );
    drop(process);

    // A schedule: AWS's EventBridge sample carries the time too.
    let process = EventProcess::start(&bootstrap, "nightly", &[]).await;
    let scheduled: Value = serde_json::from_str(SCHEDULE_SAMPLE).unwrap();
    assert_eq!(
        process.answer("run-1", &scheduled).await,
        Answer::Response(b"null".to_vec())
    );
    assert!(process.printed("nightly run scheduled for 2015-10-08T16:53:06Z"));
    drop(process);

    // A name the build has no handler for stops the process at start,
    // saying which it has.
    let unknown = lambda_process(&bootstrap, false, "127.0.0.1:9", "shop-dev-handler")
        .env("SLX_HANDLER", "on_uplod")
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        said.contains("SLX_HANDLER is `on_uplod`, but this build's event handlers are nightly, on_job, on_upload"),
        "{said}"
    );
}
