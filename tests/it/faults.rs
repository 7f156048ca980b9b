//! The lifecycle (deploy, no-op, code change, config change, route
//! change, rollback, undeploy) under each simulated AWS behaviour alone
//! and all of them together: every command either succeeds or fails
//! naming the step and what to do, and a retry without faults converges.
//!
//! Seeded: the seed is printed; `SLX_FAULT_SEED=N` replays or varies it.

use slx_sim::{Behaviours, Latency};

use crate::common::moto::Moto;
use crate::common::stage::{Project, aws, role_exists, zips};
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

/// Real AWS's timings at a tenth of their length.
fn timed(seed: u64) -> Behaviours {
    Behaviours {
        seed,
        time_scale: 0.1,
        ..Behaviours::default()
    }
}

/// One command of the lifecycle, after an optional slx.toml edit.
struct Step {
    name: &'static str,
    args: Vec<String>,
    edit: Option<(&'static str, &'static str)>,
}

/// Runs the lifecycle through `behaviours`; checks each step, and that an
/// event whose outcome starts with each of `fired` happened (the faults were met).
async fn lifecycle(name: &str, behaviours: Behaviours, fired: &[&str]) {
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, behaviours.clone());
    let v1 = zips().v1.to_str().unwrap().to_string();
    let v2 = zips().v2.to_str().unwrap().to_string();
    let words = |words: &[&str]| -> Vec<String> { words.iter().map(|w| w.to_string()).collect() };
    let deploy = |zip: &str| words(&["deploy", "--stage", "dev", "--zip", zip]);
    let step = |name, args, edit| Step { name, args, edit };
    let steps = vec![
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
    ];
    let mut failed = 0;
    for Step {
        name: step,
        args,
        edit,
    } in steps
    {
        if let Some((from, to)) = edit {
            project.edit(from, to);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = project.slx(&args);
        if !output.status.success() {
            let err = String::from_utf8_lossy(&output.stderr);
            assert!(
                err.contains(" failed: ") && err.contains("help:"),
                "{name}, {step}: the error names no step or no fix:\n{err}"
            );
            failed += 1;
            // Without faults, the same command finishes the job.
            sim.set_behaviours(Behaviours::default());
            let retry = project.slx(&args);
            assert!(retry.status.success(), "{name}, {step}: the retry failed");
            sim.set_behaviours(behaviours.clone());
        }
    }
    for fired in fired {
        let met = sim
            .events()
            .iter()
            .filter(|e| e.outcome.starts_with(*fired))
            .count();
        assert!(
            met > 0,
            "{name}: no `{fired}` happened: {:?}",
            sim.injected()
        );
        eprintln!("{name}: {met} × {fired}, {failed} command(s) failed and were retried");
    }
    // Nothing of the stage is left, whatever happened on the way.
    sim.set_behaviours(Behaviours::default());
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["deployed"], false, "{name}: {status}");
    let aws = aws(&moto).await;
    let apis = aws.apigateway.get_rest_apis().send().await.unwrap();
    assert!(apis.items().is_empty(), "{name}: APIs left: {apis:?}");
    assert!(
        !role_exists(&aws, "shop-dev-role").await,
        "{name}: role left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_survives_latency_propagation_states_and_quotas() {
    let seed = seed();
    lifecycle(
        "latency",
        Behaviours {
            latency: Latency {
                fixed_ms: 200.0,
                jitter_ms: 200.0,
            },
            ..timed(seed)
        },
        &[],
    )
    .await;
    lifecycle(
        "role propagation",
        Behaviours {
            role_propagation_s: 20.0,
            ..timed(seed)
        },
        &["refused InvalidParameterValueException"],
    )
    .await;
    lifecycle(
        "pending and in progress",
        Behaviours {
            pending_s: 10.0,
            in_progress_s: 10.0,
            ..timed(seed)
        },
        &[],
    )
    .await;
    lifecycle(
        "quotas",
        Behaviours {
            apigateway_quotas: true,
            ..timed(seed)
        },
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_survives_server_errors_resets_slow_and_lost_answers() {
    let seed = seed();
    let faults = [
        (
            "server errors",
            "error",
            Behaviours {
                error_rate: 0.2,
                ..timed(seed)
            },
        ),
        (
            "connection resets",
            "reset",
            Behaviours {
                reset_rate: 0.15,
                ..timed(seed)
            },
        ),
        (
            "slow answers",
            "slow",
            Behaviours {
                slow_rate: 0.3,
                slow_ms: 4000.0,
                ..timed(seed)
            },
        ),
        (
            "lost answers",
            "lost",
            Behaviours {
                lost_response_rate: 0.2,
                ..timed(seed)
            },
        ),
    ];
    for (name, fired, behaviours) in faults {
        lifecycle(name, behaviours, &[fired]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_survives_everything_at_once() {
    let seed = seed();
    lifecycle(
        "all together",
        Behaviours {
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
            ..timed(seed)
        },
        // Whether the role's propagation is met depends on how the other
        // faults delay CreateFunction; it has its own scenario above.
        &["error", "reset", "slow"],
    )
    .await;
}
