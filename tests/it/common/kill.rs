//! The killed-run matrix: a command (a deploy, an undeploy) stopped
//! after its k-th write, or with the answer to its k-th write lost, must
//! be finished by the next run of the same command, which a further run
//! then finds with nothing to do.
//!
//! A scenario prepares its stage once, behind one simulator, and brings
//! it back to its start state after each point (an undeploy undoes a
//! first deploy, a deploy of v1 undoes a code change), so a point costs
//! three or four runs of slx, not a new moto and a new stage. Which
//! points run: every write of the scenarios that ask for it, every
//! [`STRIDE`]th (and the last) of the others; `SLX_KILL_STRIDE=1` runs
//! every point of every scenario (docs/architecture.md, "Tests").
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use slx_sim::{Behaviours, Simulator};

use super::stage::paced;
use super::{run, stdout_json};

/// Every how many writes a strided scenario stops.
pub(crate) const STRIDE: usize = 3;

/// A command and the stage it runs on.
pub(crate) trait Scenario {
    /// For messages.
    fn name(&self) -> String;
    /// The simulator every request of the command goes through.
    fn sim(&self) -> &Simulator;
    /// The command under test, ready to run.
    fn command(&self) -> Command;
    /// Whether every write is a point (else every [`STRIDE`]th).
    fn every_write(&self) -> bool {
        false
    }
    /// Asserts that the stage is exactly what the command leads to.
    async fn assert_converged(&self, context: &str);
    /// Brings the stage from where the command leads back to where it
    /// starts.
    async fn restore(&self);
}

/// The write numbers to stop at out of `total`: all, or every `stride`th
/// and the last (`SLX_KILL_STRIDE=N` for every Nth; 1 runs them all).
pub(crate) fn points(total: usize, every_write: bool) -> Vec<usize> {
    let stride = std::env::var("SLX_KILL_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &usize| *s > 0)
        .unwrap_or(if every_write { 1 } else { STRIDE });
    let mut points: Vec<usize> = (1..=total).step_by(stride).collect();
    if points.last() != Some(&total) {
        points.push(total);
    }
    points
}

fn writes_since(sim: &Simulator, from: usize) -> usize {
    sim.events()
        .iter()
        .filter(|e| e.seq >= from && e.mutating)
        .count()
}

fn outcome_since(sim: &Simulator, from: usize, outcome: &str) -> bool {
    sim.events()
        .iter()
        .any(|e| e.seq >= from && e.outcome == outcome)
}

/// Runs the command undisturbed from the start state: how many writes
/// it makes. The stage is back at its start state after.
async fn undisturbed(scenario: &impl Scenario) -> usize {
    let sim = scenario.sim();
    let before = sim.events().len();
    let output = run(&mut scenario.command());
    assert!(output.status.success(), "{}: undisturbed", scenario.name());
    let total = writes_since(sim, before);
    assert!(total >= 1, "{}: writes nothing", scenario.name());
    finished(scenario, &format!("{} undisturbed", scenario.name())).await;
    scenario.restore().await;
    total
}

/// The stage as the command leads to, and a further run writes nothing.
async fn finished(scenario: &impl Scenario, context: &str) {
    scenario.assert_converged(context).await;
    let sim = scenario.sim();
    let before = sim.events().len();
    let again: Output = run(&mut scenario.command());
    assert!(again.status.success(), "{context}: a further run failed");
    assert_eq!(
        writes_since(sim, before),
        0,
        "{context}: a further run writes nothing"
    );
    let report = stdout_json(&again);
    if let Some(changed) = report.get("changed") {
        assert_eq!(changed, false, "{context}: {report}");
    }
}

/// The run stopped (SIGKILL) right after each point's write: the
/// simulator holds its next write, the test kills it there.
pub(crate) async fn killed_after_each_write(scenario: &impl Scenario) {
    let total = undisturbed(scenario).await;
    let sim = scenario.sim();
    for k in points(total, scenario.every_write()) {
        let context = format!("{} killed after write {k} of {total}", scenario.name());
        sim.set_behaviours(paced(Behaviours {
            hold_after_writes: Some(k),
            ..Behaviours::default()
        }));
        let before = sim.events().len();
        let mut child = scenario
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let held = loop {
            if outcome_since(sim, before, "held") {
                break true;
            }
            if child.try_wait().unwrap().is_some() {
                break outcome_since(sim, before, "held");
            }
            assert!(
                Instant::now() < deadline,
                "{context}: neither held nor done"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = child.kill();
        let _ = child.wait();
        // What the dead process had sent in full is still read and
        // admitted (held, past the k-th write) before the hold ends.
        assert!(
            sim.wait_settled(Duration::from_secs(60)),
            "{context}: requests never settled"
        );
        // Held writes are dropped now; writes in flight when the process
        // died are carried out and recorded.
        sim.set_behaviours(paced(Behaviours::default()));
        assert!(
            sim.wait_idle(Duration::from_secs(60)),
            "{context}: requests never ended"
        );
        // Stopped exactly there: k writes went through and the next was
        // held; only after the last write is there nothing to hold.
        let through = sim
            .events()
            .iter()
            .filter(|e| e.seq >= before && e.mutating && e.outcome != "held")
            .count();
        assert_eq!(
            (held, through),
            (k < total, k),
            "{context}: (held, writes through): {:?}",
            sim.events()[before..]
                .iter()
                .map(|e| format!("{} {} {}", e.operation, e.outcome, e.mutating))
                .collect::<Vec<_>>()
        );
        let rerun = run(&mut scenario.command());
        assert!(rerun.status.success(), "{context}: the rerun failed");
        finished(scenario, &context).await;
        scenario.restore().await;
    }
}

/// The answer to each point's write lost (moto did the work, the
/// connection dropped): the run may succeed (slx read again or retried)
/// or stop naming the step; the next run finishes either way.
pub(crate) async fn answer_lost_for_each_write(scenario: &impl Scenario) {
    let total = undisturbed(scenario).await;
    let sim = scenario.sim();
    for k in points(total, scenario.every_write()) {
        let context = format!("{}: answer to write {k} of {total} lost", scenario.name());
        sim.set_behaviours(paced(Behaviours {
            lose_write: Some(k),
            ..Behaviours::default()
        }));
        let before = sim.events().len();
        let _ = run(&mut scenario.command());
        assert!(
            outcome_since(sim, before, "lost"),
            "{context}: no answer was lost"
        );
        sim.set_behaviours(paced(Behaviours::default()));
        let rerun = run(&mut scenario.command());
        assert!(rerun.status.success(), "{context}: the rerun failed");
        finished(scenario, &context).await;
        scenario.restore().await;
    }
}
