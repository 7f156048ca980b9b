//! The lifecycle (deploy, no-op, code change, config change, route
//! change, rollback, undeploy) when AWS fails: 5xx answers, connections
//! reset before AWS saw the request, answers lost after AWS acted.
//!
//! Placed faults: each command meets faults at chosen calls and must
//! succeed anyway, having sent each failed call again. Seeded chaos: each
//! kind of fault at a random share of every call; a command either
//! succeeds or fails naming the step and what to do, a retry without
//! faults converges, and commands that met faults succeeded. The timing
//! of real AWS (latency, propagation, states, quotas) is in
//! `simulated.rs`.
//!
//! Seeded: the seed is printed; `SLX_FAULT_SEED=N` replays or varies it.

use slx_sim::{Behaviours, Fault, Latency, Simulator};

use crate::common::moto::Moto;
use crate::common::stage::{Project, aws, paced, role_exists, zips};
use crate::common::stdout_json;

const DEFAULT_SEED: u64 = 20_261_127;

fn seed() -> u64 {
    let seed = std::env::var("SLX_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("fault seed: {seed} (replay with SLX_FAULT_SEED={seed})");
    seed
}

/// One command of the lifecycle, after an optional slx.toml edit.
struct Step {
    name: &'static str,
    args: Vec<String>,
    edit: Option<(&'static str, &'static str)>,
}

fn lifecycle_steps() -> Vec<Step> {
    let v1 = zips().v1.to_str().unwrap().to_string();
    let v2 = zips().v2.to_str().unwrap().to_string();
    let words = |words: &[&str]| -> Vec<String> { words.iter().map(|w| w.to_string()).collect() };
    let deploy = |zip: &str| words(&["deploy", "--stage", "dev", "--zip", zip]);
    let step = |name, args, edit| Step { name, args, edit };
    vec![
        step("first deploy", deploy(&v1), None),
        step("no-op", deploy(&v1), None),
        step("code change", deploy(&v2), None),
        step(
            "config change",
            deploy(&v2),
            Some(("memory = 256", "memory = 512")),
        ),
        step(
            "route change",
            deploy(&v2),
            Some(("\"GET /health\"", "\"GET /healthz\"")),
        ),
        step("rollback", words(&["rollback", "--stage", "dev"]), None),
        step(
            "undeploy",
            words(&["undeploy", "--stage", "dev", "--yes"]),
            None,
        ),
    ]
}

/// Nothing of the stage is left, whatever happened on the way.
async fn assert_nothing_left(name: &str, sim: &Simulator, project: &Project, moto: &Moto) {
    sim.set_behaviours(paced(Behaviours::default()));
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["deployed"], false, "{name}: {status}");
    let aws = aws(moto).await;
    let apis = aws.apigateway.get_rest_apis().send().await.unwrap();
    assert!(apis.items().is_empty(), "{name}: APIs left: {apis:?}");
    assert!(
        !role_exists(&aws, "shop-dev-role").await,
        "{name}: role left"
    );
}

/// The simulator's events from `from` on whose outcome starts with `fired`.
fn fired_since(sim: &Simulator, from: usize, fired: &str) -> Vec<slx_sim::Event> {
    sim.events()
        .into_iter()
        .filter(|e| e.seq >= from && e.outcome.starts_with(fired))
        .collect()
}

/// Runs the lifecycle through `behaviours` (random faults); checks each
/// step, that faults starting with each of `fired` happened, and that
/// commands which met them still succeeded (slx retried, or read again).
async fn lifecycle(name: &str, behaviours: Behaviours, fired: &[&str]) {
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, behaviours.clone());
    let behaviours = paced(behaviours);
    let (mut failed, mut recovered) = (0, 0);
    for Step {
        name: step,
        args,
        edit,
    } in lifecycle_steps()
    {
        if let Some((from, to)) = edit {
            project.edit(from, to);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = sim.events().len();
        let output = project.slx(&args);
        if output.status.success() {
            recovered += usize::from(!resent(&sim.events()[before..]).is_empty());
            continue;
        }
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.contains(" failed: ") && err.contains("help:"),
            "{name}, {step}: the error names no step or no fix:\n{err}"
        );
        failed += 1;
        // Without faults, the same command finishes the job.
        sim.set_behaviours(paced(Behaviours::default()));
        let retry = project.slx(&args);
        assert!(retry.status.success(), "{name}, {step}: the retry failed");
        sim.set_behaviours(behaviours.clone());
    }
    for fired in fired {
        let met = fired_since(&sim, 0, fired).len();
        assert!(
            met > 0,
            "{name}: no `{fired}` happened: {:?}",
            sim.injected()
        );
        eprintln!("{name}: {met} × {fired}");
    }
    eprintln!(
        "{name}: {recovered} command(s) sent failed calls again and succeeded, {failed} failed"
    );
    assert!(
        recovered >= 1,
        "{name}: no command sent a failed call again and succeeded: slx did not retry"
    );
    assert_nothing_left(name, &sim, &project, &moto).await;
}

/// The operations among `events` that failed (an error, a reset, a lost
/// answer; not a slow one) and were sent again after.
fn resent(events: &[slx_sim::Event]) -> Vec<String> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.outcome.starts_with("error")
                || e.outcome.starts_with("fault")
                || e.outcome == "reset"
                || e.outcome == "lost"
        })
        .filter(|(at, e)| {
            events[at + 1..]
                .iter()
                .any(|later| later.operation == e.operation)
        })
        .map(|(_, e)| e.operation.clone())
        .collect()
}

/// A fault at one call, once.
fn at(method: &str, url_part: &str, status: u16, code: &str) -> Fault {
    Fault {
        method: method.into(),
        url_part: url_part.into(),
        status,
        code: code.into(),
        message: "placed by the test".into(),
        times: 1,
    }
}

fn error(method: &str, url_part: &str, status: u16) -> Fault {
    let code = if status == 500 {
        "InternalFailure"
    } else {
        "ServiceUnavailable"
    };
    at(method, url_part, status, code)
}

fn reset(method: &str, url_part: &str) -> Fault {
    at(method, url_part, 0, Fault::RESET)
}

fn lost(method: &str, url_part: &str) -> Fault {
    at(method, url_part, 0, "lost")
}

/// Each command of the lifecycle meets faults at calls chosen to cover
/// every service slx writes to and each kind of fault; every command must
/// still succeed, every fault must have been met, and each call that
/// failed must have been sent again. Without retries (in slx or in the
/// SDK) the first fault fails its command.
#[tokio::test(flavor = "multi_thread")]
async fn every_command_recovers_from_errors_resets_and_lost_answers_at_chosen_calls() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    let placed: Vec<Vec<Fault>> = vec![
        // first deploy: IAM, Lambda, API Gateway (import and deployment).
        vec![
            error("POST", "Action=CreateRole&", 500),
            reset("POST", "/2015-03-31/functions"),
            lost("PUT", "\"openapi\""),
            error("POST", "/deployments", 503),
            lost("POST", "CreateLogGroup"),
        ],
        // no-op: its reads.
        vec![error("GET", "/aliases/dev", 503), reset("GET", "/restapis")],
        // code change.
        vec![lost("PUT", "/code"), error("POST", "/versions", 500)],
        // config change.
        vec![reset("PUT", "/configuration")],
        // route change.
        vec![
            error("PUT", "\"openapi\"", 503),
            lost("POST", "/deployments"),
        ],
        // rollback.
        vec![lost("PUT", "/aliases/dev")],
        // undeploy: Lambda, IAM, CloudWatch Logs.
        vec![
            error("DELETE", "/functions/shop-dev", 503),
            reset("POST", "Action=DeleteRole&"),
            lost("POST", "DeleteLogGroup"),
        ],
    ];
    for (Step { name, args, edit }, faults) in lifecycle_steps().into_iter().zip(placed) {
        if let Some((from, to)) = edit {
            project.edit(from, to);
        }
        sim.set_behaviours(paced(Behaviours {
            faults: faults.clone(),
            ..Behaviours::default()
        }));
        let before = sim.events().len();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = project.slx(&args);
        assert!(
            output.status.success(),
            "{name}: failed with placed faults {faults:?}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            sim.faults_remaining(),
            0,
            "{name}: a placed fault was never met: {:?}",
            sim.injected()
        );
        // Each call that met a fault was sent again.
        let events = &sim.events()[before..];
        let failed: Vec<String> = events
            .iter()
            .filter(|e| {
                e.outcome.starts_with("fault") || e.outcome == "reset" || e.outcome == "lost"
            })
            .map(|e| e.operation.clone())
            .collect();
        assert_eq!(resent(events), failed, "{name}: calls not sent again");
    }
    assert_nothing_left("placed faults", &sim, &project, &moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_survives_random_server_errors() {
    let _timing = crate::common::timing();
    let behaviours = Behaviours {
        seed: seed(),
        error_rate: 0.2,
        ..Behaviours::default()
    };
    lifecycle("server errors", behaviours, &["error"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_survives_random_connection_resets() {
    let _timing = crate::common::timing();
    let behaviours = Behaviours {
        seed: seed(),
        reset_rate: 0.15,
        ..Behaviours::default()
    };
    lifecycle("connection resets", behaviours, &["reset"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_survives_random_lost_answers() {
    let _timing = crate::common::timing();
    let behaviours = Behaviours {
        seed: seed(),
        lost_response_rate: 0.2,
        ..Behaviours::default()
    };
    lifecycle("lost answers", behaviours, &["lost"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_survives_everything_at_once() {
    let _timing = crate::common::timing();
    lifecycle(
        "all together",
        Behaviours {
            seed: seed(),
            latency: Latency {
                fixed_ms: 100.0,
                jitter_ms: 100.0,
            },
            role_propagation_s: 20.0,
            pending_s: 10.0,
            in_progress_s: 10.0,
            apigateway_quotas: true,
            error_rate: 0.05,
            reset_rate: 0.05,
            slow_rate: 0.05,
            slow_ms: 3000.0,
            lost_response_rate: 0.05,
            ..Behaviours::default()
        },
        // Whether the role's propagation is met depends on how the other
        // faults delay CreateFunction; it has its own scenario in
        // simulated.rs.
        &["error", "reset", "slow"],
    )
    .await;
}
