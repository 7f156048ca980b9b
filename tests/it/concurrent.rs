//! Two slx processes and one stage: the stage's deploy lease lets one
//! change it at a time; the other waits and plans again, or gives up
//! with exit code 5. Other stages and no-op deploys never wait.

use std::collections::HashMap;

use slx_sim::Behaviours;

use crate::common::moto::Moto;
use crate::common::process::Watched;
use crate::common::stage::{
    Aws, Project, apis_named, aws, function_exists, log_groups_under, paced, routes, served_config,
    sha_of, zips,
};
use crate::common::stdout_json;

const PREFIX: &str = "/slx/leases/shop-dev/";

/// The lease's log groups of stage dev that exist now.
async fn leases(aws: &Aws) -> Vec<String> {
    log_groups_under(aws, PREFIX)
        .await
        .iter()
        .map(|g| g.log_group_name().unwrap().to_string())
        .collect()
}

/// A lease generation as another slx process would have made it.
async fn hold_as(aws: &Aws, generation: u32, host: &str, pid: u32) {
    let tags = HashMap::from([
        ("slx:app", "shop"),
        ("slx:stage", "dev"),
        ("slx:lease-token", "someone-else"),
        ("slx:lease-host", host),
        ("slx:lease-pid", &pid.to_string()),
        ("slx:lease-user", "bob"),
        ("slx:lease-command", "deploy"),
        ("slx:lease-since", "2026-11-27T10:00:00Z"),
    ])
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    aws.logs
        .create_log_group()
        .log_group_name(format!("{PREFIX}{generation:010}"))
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
}

/// What the stage serves: (CodeSha256, memory, the API's routes).
async fn served(aws: &Aws) -> (String, i32, Vec<String>) {
    let config = served_config(aws).await;
    let ours = apis_named(aws, "shop-dev").await;
    assert_eq!(ours.len(), 1, "exactly one API");
    let routes = routes(aws, ours[0].id().unwrap())
        .await
        .into_iter()
        .map(|(route, _)| route)
        .collect();
    (
        config.code_sha256().unwrap().to_string(),
        config.memory_size().unwrap(),
        routes,
    )
}

/// The first deploy takes the lease, and the simulator then holds its
/// next write: the second, started only now, must find the stage held,
/// say that it waits (the readiness line), and apply once the first is
/// done, planning from what the first left. No timing decides the order.
#[tokio::test(flavor = "multi_thread")]
async fn two_deploys_of_one_stage_at_once_end_in_one_of_their_states_entirely() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, first) = Project::behind_simulator(
        &moto,
        Behaviours {
            // The lease's CreateLogGroup goes through; the next write
            // waits until the test lets it.
            hold_after_writes: Some(1),
            ..Behaviours::realistic()
        },
    );
    let mut second = Project::new(&moto);
    second.endpoint = sim.endpoint.clone();
    second.edit("memory = 256", "memory = 384");
    second.edit("\"GET /health\"", "\"GET /healthz\"");
    let aws = aws(&moto).await;
    let a = Watched::spawn(&mut first.deploy_command("dev", &zips().v1, &[]), "[first]");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !sim.events().iter().any(|e| e.outcome == "held") {
        assert!(
            std::time::Instant::now() < deadline,
            "the first never wrote past its lease"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(leases(&aws).await, [format!("{PREFIX}0000000001")]);
    let b = Watched::spawn(
        &mut second.deploy_command("dev", &zips().v2, &[]),
        "[second]",
    );
    b.wait_for(
        "waiting for the deploy started",
        std::time::Duration::from_secs(60),
    );
    // The first carries on (its held write is retried) and releases.
    sim.set_behaviours(paced(Behaviours::realistic()));
    let (a, b) = (a.finish(), b.finish());
    for (name, output) in [("first", &a), ("second", &b)] {
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (report_a, report_b) = (stdout_json(&a), stdout_json(&b));
    assert_eq!(report_a["lease_wait_seconds"].as_f64(), Some(0.0));
    assert!(
        report_b["lease_wait_seconds"].as_f64().unwrap() > 0.0,
        "{report_b}"
    );

    // The state of the one that applied last, entirely.
    let (code, memory, routes) = served(&aws).await;
    assert_eq!(code, sha_of(&zips().v2));
    assert_eq!(memory, 384);
    assert!(routes.iter().any(|r| r == "GET /healthz"), "{routes:?}");
    assert_eq!(routes.len(), 3, "{routes:?}");
    let status = |project: &Project| {
        stdout_json(&project.slx(&["status", "--stage", "dev"]))["in_sync"].clone()
    };
    assert_eq!(status(&second), true);
    assert_eq!(status(&first), false);
    assert!(leases(&aws).await.is_empty(), "both released the lease");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_stage_stops_writes_with_exit_code_5_but_not_reads_or_other_stages() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let aws = aws(&moto).await;
    project.deploy("dev", &zips().v1);
    // Two versions: a rollback has somewhere to go.
    project.deploy("dev", &zips().v2);
    hold_as(&aws, 1, "ci-runner-7", 4242).await;

    // A no-op deploy writes nothing, so it does not wait.
    let noop = project.deploy_output("dev", &zips().v2, &["--lock-timeout", "0"]);
    assert!(noop.status.success());
    assert_eq!(stdout_json(&noop)["changed"], false);

    let busy = project.deploy_output("dev", &zips().v1, &["--lock-timeout", "0"]);
    assert_eq!(busy.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(
        stderr.contains("another change to stage dev is in progress")
            && stderr.contains("bob@ci-runner-7 (pid 4242)")
            && stderr.contains("--lock-timeout"),
        "{stderr}"
    );
    let waited = project.deploy_output("dev", &zips().v1, &["--lock-timeout", "1s"]);
    assert_eq!(waited.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&waited.stderr).contains("waited"));
    // On a terminal, the wait is a live line with its elapsed time,
    // cleared when the wait gives up.
    let zip = zips().v1.to_str().unwrap().to_string();
    let on_terminal = crate::common::under_terminal(&project.command(&[
        "deploy",
        "--stage",
        "dev",
        "--zip",
        &zip,
        "--output",
        "text",
        // 3 s of real time at the suite's pace: the live line is drawn
        // after half a second.
        "--lock-timeout",
        "30s",
    ]));
    assert_eq!(on_terminal.status.code(), Some(5));
    let seen = String::from_utf8_lossy(&on_terminal.stdout);
    let live = crate::common::live_lines(&seen);
    assert!(
        live.iter().any(
            |line| line.contains("waiting for stage dev: the deploy started")
                && line.ends_with(" s)")
        ),
        "{seen}"
    );
    let after_last = seen.rsplit(live[live.len() - 1]).next().unwrap();
    assert!(
        after_last.starts_with("\r\x1b[2K")
            && after_last.contains("another change to stage dev is in progress"),
        "the live line is cleared before the error: {seen}"
    );
    let rollback = project.slx(&["rollback", "--stage", "dev", "--lock-timeout", "0"]);
    assert_eq!(rollback.status.code(), Some(5));
    let undeploy = project.slx(&["undeploy", "--stage", "dev", "--yes", "--lock-timeout", "0"]);
    assert_eq!(undeploy.status.code(), Some(5));

    // `slx status` says who is changing the stage.
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert!(
        status["change_in_progress"]
            .as_str()
            .is_some_and(|h| h.contains("bob@ci-runner-7 (pid 4242)")),
        "{status}"
    );

    // Another stage is never blocked.
    let prod = project.deploy_output("prod", &zips().v2, &["--lock-timeout", "0"]);
    assert!(prod.status.success());

    // Nothing of dev changed, and the other process's lease is intact.
    assert_eq!(
        served_config(&aws).await.code_sha256(),
        Some(sha_of(&zips().v2).as_str())
    );
    assert_eq!(leases(&aws).await, [format!("{PREFIX}0000000001")]);

    // A newer generation held by a process of this machine that is gone
    // binds nobody: taken over at once, and every older one cleaned up.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    hold_as(&aws, 2, host.trim(), pid).await;
    let taken = project.deploy_output("dev", &zips().v1, &["--lock-timeout", "0"]);
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    assert_eq!(stdout_json(&taken)["changed"], true);
    assert!(leases(&aws).await.is_empty());
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["change_in_progress"], serde_json::Value::Null);

    // Undeploy removes a lease a killed slx left behind, even when the
    // rest of the stage is already gone.
    assert!(
        project
            .slx(&["undeploy", "--stage", "dev", "--yes"])
            .status
            .success()
    );
    hold_as(&aws, 7, host.trim(), pid).await;
    let again = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(again.status.success());
    assert!(leases(&aws).await.is_empty());
}

/// A first deploy that IAM keeps waiting for `role_propagation_s` (the
/// role is not assumable): longer than the lease's renewal interval
/// (30 s), both at the suite's pace.
fn slow_first_deploy(
    moto: &Moto,
    role_propagation_s: f64,
) -> (slx_sim::Simulator, Project, std::process::Child) {
    let (sim, project) = Project::behind_simulator(
        moto,
        Behaviours {
            role_propagation_s,
            ..Behaviours::default()
        },
    );
    let child = project.spawn_deploy("dev", &zips().v1, &[]);
    (sim, project, child)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_deploy_renews_its_lease_and_releases_it() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let aws = aws(&moto).await;
    let (sim, _project, child) = slow_first_deploy(&moto, 60.0);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Generation 1 when taken, generation 2 after 30 s (and 3 after 60 s
    // on a machine slow enough to take that long), as the simulator saw
    // them made; all gone now.
    let made: Vec<String> = sim
        .events()
        .into_iter()
        .filter(|e| e.operation == "CreateLogGroup" && e.outcome == "forwarded")
        .filter_map(|e| e.target.filter(|group| group.starts_with(PREFIX)))
        .collect();
    assert!(made.len() >= 2, "renewed at least once: {made:?}");
    let expected: Vec<String> = (1..=made.len())
        .map(|generation| format!("{PREFIX}{generation:010}"))
        .collect();
    assert_eq!(made, expected, "one generation after another");
    assert!(leases(&aws).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_whose_lease_was_taken_over_stops_writing() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let aws = aws(&moto).await;
    // IAM would hold the deploy for 80 s (within its 90 s wait for a
    // role, so without the fence it would succeed): the renewal at 30 s has
    // 50 s to notice the takeover even on a loaded machine, where each
    // of its calls may take seconds.
    let (sim, _project, child) = slow_first_deploy(&moto, 80.0);
    // Once it holds generation 1 (made, and confirmed: its first write
    // under the lease, the role, has gone out), another process takes
    // generation 2 (as if this one had stalled past the lease's expiry).
    // Taken between the make and the confirmation, generation 2 would be
    // a newer holder this one rightly backs off for.
    while !sim.events().iter().any(|e| e.operation == "CreateRole") {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = format!("{PREFIX}0000000001");
    assert!(leases(&aws).await.contains(&first));
    hold_as(&aws, 2, "ci-runner-7", 4242).await;
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stage dev's deploy lease was taken over by another slx process"),
        "{stderr}"
    );
    // It stopped at its renewal (30 s), before IAM let it create the
    // function (80 s); it removed its own generation, not the other's.
    assert!(
        !function_exists(&aws, "shop-dev").await,
        "no function was created"
    );
    assert_eq!(leases(&aws).await, [format!("{PREFIX}0000000002")]);
}

/// A look at the lease taken with the first read is stale by the time the
/// plan asks for the lease (seconds later, on a slow read or a build): if
/// another process took the lease meanwhile and its generation is newer
/// than the one this deploy then creates, the deploy does not hold it.
#[tokio::test(flavor = "multi_thread")]
async fn a_lease_taken_from_a_stale_look_backs_off_for_a_newer_holder() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let aws = aws(&moto).await;
    let (sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    project.deploy("dev", &zips().v1);
    // Lambda's reads wait until the test has acted: the look (CloudWatch
    // Logs) is done, the plan cannot ask for the lease yet.
    sim.set_behaviours(paced(Behaviours {
        hold_service: Some("lambda".into()),
        ..Behaviours::default()
    }));
    let before = sim.events().len();
    let child = project.spawn_deploy("dev", &zips().v2, &["--lock-timeout", "0"]);
    let looked = |sim: &slx_sim::Simulator| {
        sim.events()[before..]
            .iter()
            .any(|e| e.operation == "DescribeLogGroups" && e.target.as_deref() == Some(PREFIX))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !looked(&sim) {
        assert!(
            std::time::Instant::now() < deadline,
            "the deploy never looked at its lease"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Meanwhile another process holds generation 2 (its generation 1
    // already released).
    hold_as(&aws, 2, "ci-runner-7", 4242).await;
    sim.set_behaviours(paced(Behaviours::default()));
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("bob@ci-runner-7 (pid 4242)"), "{stderr}");
    // It made generation 1 from its stale look, found the newer one,
    // removed its own, and changed nothing else.
    let writes: Vec<(String, Option<String>)> = sim.events()[before..]
        .iter()
        .filter(|e| e.mutating)
        .map(|e| (e.operation.clone(), e.target.clone()))
        .collect();
    let first = format!("{PREFIX}0000000001");
    assert_eq!(
        writes,
        [
            ("CreateLogGroup".to_string(), Some(first.clone())),
            ("DeleteLogGroup".to_string(), Some(first))
        ]
    );
    assert_eq!(leases(&aws).await, [format!("{PREFIX}0000000002")]);
    assert_eq!(
        served_config(&aws).await.code_sha256(),
        Some(sha_of(&zips().v1).as_str())
    );
}
