//! `slx logs` against moto, with events seeded through `put_log_events`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::moto::Moto;
use crate::common::stage::{Project, aws};

const GROUP: &str = "/aws/lambda/shop-dev";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn seed(moto: &Moto, stream: &str, events: &[(i64, &str)]) {
    seed_group(moto, GROUP, stream, events).await;
}

async fn seed_group(moto: &Moto, group: &str, stream: &str, events: &[(i64, &str)]) {
    let aws = aws(moto).await;
    let _ = aws
        .logs
        .create_log_group()
        .log_group_name(group)
        .send()
        .await;
    let _ = aws
        .logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await;
    let mut request = aws
        .logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream);
    for (timestamp, message) in events {
        request = request.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(*timestamp)
                .message(*message)
                .build()
                .unwrap(),
        );
    }
    request.send().await.unwrap();
}

fn lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn text(project: &Project, args: &[&str]) -> std::process::Output {
    // Project::slx asks for JSON; these checks read the text form.
    let mut all = vec!["logs", "--stage", "dev"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "text"]);
    project.slx(&all)
}

/// `--handler NAME`: the event handler's own function's log group.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_handlers_logs_come_from_its_own_function() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let config = project.dir.join("slx.toml");
    let mut text_of_config = std::fs::read_to_string(&config).unwrap();
    text_of_config.push_str("\n[events.on_job]\nqueue = \"shop-jobs\"\n");
    std::fs::write(&config, text_of_config).unwrap();
    let now = now_ms();
    seed_group(
        &moto,
        "/aws/lambda/shop-dev-on_job",
        "s1",
        &[(now - 2_000, "running job `resize`")],
    )
    .await;
    seed(&moto, "s1", &[(now - 1_000, "an API line")]).await;

    let jobs = lines(&text(&project, &["--handler", "on_job"]));
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert!(jobs[0].contains("running job `resize`"));
    let api = lines(&text(&project, &[]));
    assert_eq!(api.len(), 1, "{api:#?}");
    assert!(api[0].contains("an API line"));

    let typo = text(&project, &["--handler", "on_jbo"]);
    assert_eq!(typo.status.code(), Some(1));
    let said = String::from_utf8_lossy(&typo.stderr);
    assert!(
        said.contains("slx.toml has no event handler `on_jbo`"),
        "{said}"
    );
    assert!(said.contains("did you mean `on_job`?"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_by_time_filter_and_request_id() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let now = now_ms();
    seed(&moto, "old", &[(now - 30 * 60_000, "an old line")]).await;
    seed(
        &moto,
        "s1",
        &[
            (now - 60_000, "START RequestId: req-a Version: 1"),
            (now - 59_000, "handling a"),
            (now - 58_000, "ERROR [req-a] handler `greet` failed: boom"),
            (now - 57_000, "END RequestId: req-a"),
            (now - 57_000, "REPORT RequestId: req-a\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\tMax Memory Used: 21 MB\t"),
        ],
    )
    .await;
    seed(
        &moto,
        "s2",
        &[
            (now - 58_500, "START RequestId: req-b Version: 1"),
            (now - 58_400, "handling b"),
            (now - 58_300, "END RequestId: req-b"),
        ],
    )
    .await;

    // A line that would clear the terminal and retitle its window.
    seed(
        &moto,
        "s3",
        &[(now - 50_000, "\x1b[2J\x1b]0;owned\x07cleared")],
    )
    .await;

    let recent = lines(&text(&project, &["--since", "10m"]));
    assert_eq!(recent.len(), 9, "{recent:#?}");
    let cleared = recent.iter().find(|l| l.contains("cleared")).unwrap();
    assert!(
        cleared.contains("\\u{1b}[2J\\u{1b}]0;owned\\u{7}cleared"),
        "shown, not obeyed: {cleared:?}"
    );
    assert!(!recent.iter().any(|l| l.contains('\x1b')), "{recent:?}");
    assert!(recent.iter().all(|l| !l.contains("an old line")));
    // In time order across streams, with the request of each line.
    assert!(recent[0].contains("req-a") && recent[0].contains("START (version 1)"));
    assert!(recent[1].contains("req-a") && recent[1].contains("handling a"));
    assert!(recent[2].contains("req-b") && recent[2].contains("START"));
    let handling_b = recent.iter().find(|l| l.contains("handling b")).unwrap();
    assert!(handling_b.contains("req-b"), "{handling_b}");
    assert!(recent[recent.len() - 2].contains("REPORT 1.50 ms (billed 2 ms), memory 21/256 MB"));

    let everything = lines(&text(&project, &["--since", "1h"]));
    assert_eq!(everything.len(), 10);
    assert!(everything[0].contains("an old line"));

    let errors = lines(&text(&project, &["--filter", "ERROR"]));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("handler `greet` failed"));

    let only_a = lines(&text(&project, &["--request-id", "req-a"]));
    assert_eq!(only_a.len(), 5, "{only_a:#?}");
    assert!(only_a.iter().all(|l| l.contains("req-a")));

    // --output json: one object per line.
    let output = project.slx(&["logs", "--stage", "dev", "--request-id", "req-b"]);
    let objects: Vec<serde_json::Value> = lines(&output)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[0]["kind"], "start");
    assert_eq!(objects[1]["request_id"], "req-b");
    assert_eq!(objects[1]["message"], "handling b");
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_streams_new_events_and_a_closed_pipe_ends_it_quietly() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    seed(&moto, "s1", &[(now_ms() - 1000, "first line")]).await;

    let mut child = Command::new(env!("CARGO_BIN_EXE_slx"))
        .current_dir(&project.dir)
        .args([
            "logs",
            "--stage",
            "dev",
            "--follow",
            "--endpoint-url",
            &project.endpoint,
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let progress = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.contains("second line");
            let _ = sender.send(line);
            if done {
                break; // drops stdout: the pipe closes
            }
        }
    });
    let first = receiver
        .recv_timeout(Duration::from_secs(20))
        .expect("first line");
    assert!(first.contains("first line"));
    // Indexed late: its timestamp is 40 s old when it becomes visible.
    seed(&moto, "s1", &[(now_ms() - 40_000, "second line")]).await;
    let second = receiver
        .recv_timeout(Duration::from_secs(20))
        .expect("the new event is streamed");
    assert!(second.contains("second line"));
    reader.join().unwrap();

    // The pipe is closed: the next event makes slx stop, successfully.
    seed(&moto, "s1", &[(now_ms(), "third line")]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slx logs kept running after its pipe closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    // Live Tail first (moto streams what exists, then ends the session),
    // then polling, which delivered the later lines.
    let progress = progress.join().unwrap();
    assert!(progress.contains("with Live Tail"), "{progress}");
    assert!(progress.contains("polling instead"), "{progress}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_group_is_friendly_and_bad_since_is_an_error() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let output = text(&project, &[]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no logs for shop-dev yet"));
    let output = text(&project, &["--since", "last tuesday"]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("`last tuesday` is not a time or a duration"),
        "{err}"
    );
}

/// Through the simulator, Live Tail behaves as CloudWatch's: only events
/// ingested after the session starts, pushed about once a second, the
/// session kept open. The event seeded here is two minutes old and the
/// follow asks for the last minute, so neither the first read, the
/// catch-up read nor polling (which look at timestamps) can deliver it:
/// only Live Tail (which goes by ingestion) can.
#[tokio::test(flavor = "multi_thread")]
async fn follow_receives_a_new_event_through_live_tail() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    seed(&moto, "s1", &[(now_ms() - 1000, "first line")]).await;

    let mut child = project
        .command(&[
            "logs", "--stage", "dev", "--follow", "--since", "1m", "--output", "text",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, receiver) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let out = sender.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out.send(format!("out: {line}"));
        }
    });
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(format!("err: {line}"));
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |needle: &str| {
        // stdout and stderr arrive on two threads: a line may be early.
        if seen.iter().any(|line: &String| line.contains(needle)) {
            return seen.clone();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match receiver.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return seen.clone();
                    }
                }
                Err(_) => panic!("never saw `{needle}`: {seen:#?}"),
            }
        }
    };
    wait_for("first line");
    wait_for("with Live Tail");
    seed(&moto, "s1", &[(now_ms() - 120_000, "pushed line")]).await;
    let seen = wait_for("pushed line");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !seen.iter().any(|line| line.contains("polling")),
        "the session stayed open: {seen:#?}"
    );
    assert!(
        sim.events()
            .iter()
            .any(|event| event.operation == "StartLiveTail" && event.outcome == "live tail"),
        "the simulator served the session"
    );
}

/// CloudWatch ends a Live Tail session after three hours with
/// `SessionTimeoutException` (two seconds here): slx says so and keeps
/// following by polling.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_tail_session_that_times_out_falls_back_to_polling() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let behaviours = slx_sim::Behaviours {
        live_tail_session_s: 2.0,
        ..Default::default()
    };
    let (_sim, project) = Project::behind_simulator(&moto, behaviours);
    seed(&moto, "s1", &[(now_ms() - 1000, "first line")]).await;
    let mut child = project
        .command(&["logs", "--stage", "dev", "--follow", "--output", "text"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("polling instead")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match receiver.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no fallback to polling: {seen:#?}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let fallback = seen.iter().find(|l| l.contains("polling instead")).unwrap();
    assert!(
        fallback.contains("Live Tail stopped") && fallback.contains("3 hours"),
        "{seen:#?}"
    );
}
