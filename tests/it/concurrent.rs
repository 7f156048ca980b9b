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

/// The lease's generations that bind or bound someone: all but the
/// tombstones releases leave (tagged `slx:lease-released`).
async fn live_leases(aws: &Aws) -> Vec<String> {
    let mut live = Vec::new();
    for group in log_groups_under(aws, PREFIX).await {
        let tags = aws
            .logs
            .list_tags_for_resource()
            .resource_arn(group.arn().unwrap().trim_end_matches(":*"))
            .send()
            .await
            .unwrap();
        if !tags
            .tags()
            .is_some_and(|t| t.contains_key("slx:lease-released"))
        {
            live.push(group.log_group_name().unwrap().to_string());
        }
    }
    live
}

/// This machine as slx's lease tags name it: its host name, boot id and
/// pid namespace (the test and the slx it starts share them).
fn this_machine() -> (String, String, String) {
    let read = |path: &str| std::fs::read_to_string(path).unwrap().trim().to_string();
    let namespace = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let namespace: String = namespace
        .to_string_lossy()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    (
        read("/proc/sys/kernel/hostname"),
        read("/proc/sys/kernel/random/boot_id"),
        namespace,
    )
}

/// A lease generation as a process of this machine would have made it.
async fn hold_here(aws: &Aws, generation: u32, pid: u32) {
    let (host, boot, namespace) = this_machine();
    hold_with(
        aws,
        generation,
        &host,
        pid,
        &[("slx:lease-boot", &boot), ("slx:lease-pidns", &namespace)],
    )
    .await;
}

/// A lease generation as another slx process would have made it.
async fn hold_as(aws: &Aws, generation: u32, host: &str, pid: u32) {
    hold_with(aws, generation, host, pid, &[]).await;
}

async fn hold_with(aws: &Aws, generation: u32, host: &str, pid: u32, more: &[(&str, &str)]) {
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
    .chain(more.iter().copied())
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

/// The number after the newest generation of the lease (tombstones
/// included): what the next taker makes.
async fn next_generation(aws: &Aws) -> u32 {
    leases(aws).await.last().map_or(1, |name| {
        name.trim_start_matches(PREFIX).parse::<u32>().unwrap() + 1
    })
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
    assert!(
        live_leases(&aws).await.is_empty(),
        "both released the lease"
    );
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
    // Each release left a tombstone: numbers only go up.
    let n = next_generation(&aws).await;
    assert!(n > 2, "{:?}", leases(&aws).await);
    let name = |n: u32| format!("{PREFIX}{n:010}");
    hold_as(&aws, n, "ci-runner-7", 4242).await;

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
    assert_eq!(live_leases(&aws).await, [name(n)]);

    // A newer generation held by a process of this machine that is gone
    // binds nobody: taken over at once, and deleted on release.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    // The same host name and pid namespace, but another boot (or a
    // container with the same host name): its pid means nothing here.
    let (host, _, namespace) = this_machine();
    hold_with(
        &aws,
        n + 1,
        &host,
        pid,
        &[
            ("slx:lease-boot", "another-boot"),
            ("slx:lease-pidns", &namespace),
        ],
    )
    .await;
    let elsewhere = project.deploy_output("dev", &zips().v1, &["--lock-timeout", "0"]);
    assert_eq!(elsewhere.status.code(), Some(5));
    hold_here(&aws, n + 2, pid).await;
    let taken = project.deploy_output("dev", &zips().v1, &["--lock-timeout", "0"]);
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    assert_eq!(stdout_json(&taken)["changed"], true);
    // It deleted its own generation (n + 3), the gone process's and the
    // older tombstone, and left a tombstone (n + 4); the generations of
    // other machines are not its to delete.
    assert_eq!(leases(&aws).await, [name(n), name(n + 1), name(n + 4)]);
    assert_eq!(live_leases(&aws).await, [name(n), name(n + 1)]);
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
    assert!(leases(&aws).await.is_empty());
    hold_here(&aws, 2, pid).await;
    let again = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(again.status.success());
    assert!(leases(&aws).await.is_empty());
}

/// [`slow_first_deploy`], once it holds the lease and waits for IAM: its
/// generation made and confirmed, its API's routes imported, and its
/// function refused for a role not yet assumable. Stopped then, it stops
/// between two asks for its function, not while other writes of its are
/// on their way.
async fn slow_first_deploy_holding_its_lease(
    moto: &Moto,
    role_propagation_s: f64,
) -> (slx_sim::Simulator, Project, std::process::Child) {
    let (sim, project, child) = slow_first_deploy(moto, role_propagation_s);
    // Its lease taken and every write that does not wait for the role
    // done: from now on it only asks Lambda again for its function.
    let waiting_for_iam = |events: &[slx_sim::Event]| {
        events.iter().any(|e| e.operation == "PutRestApi")
            && events
                .iter()
                .any(|e| e.operation == "CreateFunction" && e.outcome.starts_with("refused"))
    };
    while !waiting_for_iam(&sim.events()) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (sim, project, child)
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
    // Taken, renewed at least once, and a tombstone on release.
    assert!(made.len() >= 3, "renewed at least once: {made:?}");
    let expected: Vec<String> = (1..=made.len())
        .map(|generation| format!("{PREFIX}{generation:010}"))
        .collect();
    assert_eq!(made, expected, "one generation after another");
    assert_eq!(leases(&aws).await, [made.last().unwrap().clone()]);
    assert!(live_leases(&aws).await.is_empty());
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
    // Once it holds generation 1, another process takes generation 2 (as
    // if this one had stalled past the lease's expiry). Taken between the
    // make and the confirmation, generation 2 would be a newer holder
    // this one rightly backs off for.
    let (_sim, _project, child) = slow_first_deploy_holding_its_lease(&moto, 80.0).await;
    let first = format!("{PREFIX}0000000001");
    assert!(leases(&aws).await.contains(&first));
    hold_as(&aws, 2, "ci-runner-7", 4242).await;
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("stage dev's deploy lease was lost"),
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
    // The first deploy left its tombstone (generation 2), so the look
    // leads to generation 3. Meanwhile another process took generation 3
    // and has renewed it to 4 (deleting 3).
    let name = |n: u32| format!("{PREFIX}{n:010}");
    assert_eq!(leases(&aws).await, [name(2)]);
    hold_as(&aws, 4, "ci-runner-7", 4242).await;
    sim.set_behaviours(paced(Behaviours::default()));
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("bob@ci-runner-7 (pid 4242)"), "{stderr}");
    // It made generation 3 from its stale look, found the newer one,
    // removed its own, and changed nothing else.
    let writes: Vec<(String, Option<String>)> = sim.events()[before..]
        .iter()
        .filter(|e| e.mutating)
        .map(|e| (e.operation.clone(), e.target.clone()))
        .collect();
    assert_eq!(
        writes,
        [
            ("CreateLogGroup".to_string(), Some(name(3))),
            ("DeleteLogGroup".to_string(), Some(name(3)))
        ]
    );
    assert_eq!(leases(&aws).await, [name(2), name(4)]);
    assert_eq!(
        served_config(&aws).await.code_sha256(),
        Some(sha_of(&zips().v1).as_str())
    );
}

/// Ten deploys of one stage at once, each with its own memory, route and
/// code: CloudWatch aborts the lease's creates that race
/// (`OperationAbortedException`, as it does for concurrent requests on
/// one log group); each loser waits its turn. All succeed, and the stage
/// ends in one of their configurations entirely.
#[tokio::test(flavor = "multi_thread")]
async fn ten_deploys_of_one_stage_at_once_all_succeed_and_one_wins_entirely() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let aws = aws(&moto).await;
    let (sim, first) = Project::behind_simulator(
        &moto,
        Behaviours {
            // CloudWatch Logs takes its time: a create of a generation
            // is under way long enough for others to run into it.
            latency_by_service: vec![(
                "logs".into(),
                slx_sim::Latency {
                    fixed_ms: 600.0,
                    jitter_ms: 100.0,
                },
            )],
            ..Behaviours::realistic()
        },
    );
    let memory = |i: usize| 128 + 64 * i as i32;
    let zip = |i: usize| if i % 2 == 0 { &zips().v1 } else { &zips().v2 };
    let mut projects = vec![first];
    for _ in 1..10 {
        let mut project = Project::new(&moto);
        project.endpoint = sim.endpoint.clone();
        projects.push(project);
    }
    let deploys: Vec<Watched> = projects
        .iter()
        .enumerate()
        .map(|(i, project)| {
            project.edit("memory = 256", &format!("memory = {}", memory(i)));
            project.edit("\"GET /health\"", &format!("\"GET /health{i}\""));
            // Thirty minutes at AWS's pace: three at the suite's.
            let mut command = project.deploy_command("dev", zip(i), &["--lock-timeout", "30m"]);
            Watched::spawn(&mut command, &format!("[{i}]"))
        })
        .collect();
    for (i, deploy) in deploys.into_iter().enumerate() {
        let output = deploy.finish();
        assert!(
            output.status.success(),
            "deploy {i}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let aborted = sim
        .events()
        .iter()
        .filter(|e| e.outcome == "refused OperationAbortedException")
        .count();
    assert!(aborted > 0, "no create of the lease ever raced");

    // One deploy's memory, its route alone, and its code.
    let (code, served_memory, routes) = served(&aws).await;
    let winner = (0..10)
        .find(|&i| memory(i) == served_memory)
        .expect("the memory of one of the ten");
    assert_eq!(code, sha_of(zip(winner)));
    let health: Vec<&String> = routes
        .iter()
        .filter(|r| r.starts_with("GET /health"))
        .collect();
    assert_eq!(health, [&format!("GET /health{winner}")], "{routes:?}");
    assert!(live_leases(&aws).await.is_empty());
}

/// A deploy stopped (SIGSTOP) while IAM keeps it waiting, for longer than
/// its lease lasts: another deploy takes the stage over and finishes, a
/// third process takes the lease, and then the first runs again. It must
/// not send a single write (its plan is stale), and it exits 5.
#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_stopped_past_its_lease_writes_nothing_when_it_runs_again() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let aws = aws(&moto).await;
    // The first deploy has a simulator of its own: what it sends is told
    // apart from the others'. IAM keeps it waiting for its role (60 s).
    let (sim, _first, child) = slow_first_deploy_holding_its_lease(&moto, 60.0).await;
    let signal = |signal: &str| crate::common::process::send_signal(child.id(), signal);
    signal("-STOP");
    // Its generation (two, if it was stopped in the middle of a renewal).
    let mine = live_leases(&aws).await;
    assert!(!mine.is_empty(), "{mine:?}");

    // Another deploy waits until the stopped one's lease expires (2
    // minutes at AWS's pace), takes the stage and finishes.
    let second = Project::new(&moto);
    let report = second.deploy("dev", &zips().v2);
    assert!(
        report["lease_wait_seconds"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    // A third process holds the lease now.
    let newest = leases(&aws).await.last().unwrap().clone();
    let next: u32 = newest.trim_start_matches(PREFIX).parse::<u32>().unwrap() + 1;
    hold_as(&aws, next, "ci-runner-7", 4242).await;

    let before = sim.events().len();
    signal("-CONT");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("stage dev's deploy lease was lost"),
        "{stderr}"
    );
    // Not one write to the stage: only its own generation deleted.
    let writes: Vec<(String, Option<String>)> = sim.events()[before..]
        .iter()
        .filter(|e| e.mutating)
        .map(|e| (e.operation.clone(), e.target.clone()))
        .collect();
    assert!(
        !writes.is_empty()
            && writes
                .iter()
                .all(|(operation, group)| operation == "DeleteLogGroup"
                    && group.as_ref().is_some_and(|g| mine.contains(g))),
        "{writes:?}"
    );
    // The stage is the second deploy's; the third holds the lease.
    assert_eq!(
        served_config(&aws).await.code_sha256(),
        Some(sha_of(&zips().v2).as_str())
    );
    assert_eq!(live_leases(&aws).await, [format!("{PREFIX}{next:010}")]);
}
