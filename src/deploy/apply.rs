//! Executes a plan: the only code in slx that mutates AWS.
//!
//! Steps run concurrently in dependency order: a step starts as soon as
//! every step it waits for has finished. A failed step stops its
//! dependants (transitively); independent steps still run, so the next
//! deploy has less to do. Every action is safe to repeat, so a deploy
//! that stops anywhere is finished by the next `read` + `plan`.
//!
//! `execute` is generic over how one step runs (`StepRunner`): the real
//! runner applies actions through the `Writer`; tests use a fake.

use std::sync::Mutex;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;

use super::desired::Code;
use super::plan::Plan;
use super::resources::{self, Action, ApplyContext, Outputs};
use crate::aws::{AwsError, Reader, Writer};
use crate::names::StageArns;
use crate::pace::Pace;

/// Receives each finished step (the CLI prints it).
pub(crate) trait StepReporter: Sync {
    /// A step starts (its description); a terminal shows it running.
    fn step_started(&self, _description: &str) {}
    /// A step failed; the error is reported by the caller.
    fn step_failed(&self, _description: &str) {}
    fn step_done(&self, step: &StepReport);
}

/// One step that ran, for the progress line and the JSON report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StepReport {
    #[serde(flatten)]
    pub(crate) action: Action,
    pub(crate) description: String,
    /// When it started, in seconds since apply began.
    pub(crate) started: f64,
    pub(crate) seconds: f64,
    pub(crate) ok: bool,
}

/// Runs one step.
pub(crate) trait StepRunner: Sync {
    fn run(&self, action: &Action) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn describe(&self, action: &Action) -> String;
}

/// What executing a plan did.
#[derive(Debug, Default)]
pub(crate) struct Execution {
    /// The steps that ran (succeeded or failed), in plan order.
    pub(crate) steps: Vec<StepReport>,
    /// Steps not run because a step they wait for failed.
    pub(crate) skipped: Vec<String>,
    /// The first failure, if any.
    pub(crate) error: Option<AwsError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

/// Runs `plan`'s steps, each as soon as the steps it waits for are done.
pub(crate) async fn execute(
    plan: &Plan,
    runner: &impl StepRunner,
    reporter: &dyn StepReporter,
) -> Execution {
    // tokio's clock: the same as the system's, but paused time in tests.
    let began = tokio::time::Instant::now();
    let mut state = vec![State::Waiting; plan.len()];
    let mut reports: Vec<Option<StepReport>> = vec![None; plan.len()];
    let mut error: Option<AwsError> = None;
    let mut running = FuturesUnordered::new();
    loop {
        // Steps only wait for earlier ones: one forward pass settles
        // which can start and which can never run.
        for index in 0..plan.len() {
            if state[index] != State::Waiting {
                continue;
            }
            let after = &plan.steps[index].after;
            if after
                .iter()
                .any(|&d| matches!(state[d], State::Failed | State::Skipped))
            {
                state[index] = State::Skipped;
            } else if after.iter().all(|&d| state[d] == State::Done) {
                state[index] = State::Running;
                let action = &plan.steps[index].action;
                reporter.step_started(&runner.describe(action));
                running.push(async move {
                    let started = began.elapsed();
                    let result = runner.run(action).await;
                    (index, started, began.elapsed() - started, result)
                });
            }
        }
        let Some((index, started, took, result)) = running.next().await else {
            break;
        };
        let action = &plan.steps[index].action;
        let report = StepReport {
            action: action.clone(),
            description: runner.describe(action),
            started: started.as_secs_f64(),
            seconds: took.as_secs_f64(),
            ok: result.is_ok(),
        };
        match result {
            Ok(()) => {
                state[index] = State::Done;
                reporter.step_done(&report);
            }
            Err(failure) => {
                state[index] = State::Failed;
                reporter.step_failed(&report.description);
                error.get_or_insert(failure);
            }
        }
        reports[index] = Some(report);
    }
    Execution {
        steps: reports.into_iter().flatten().collect(),
        skipped: plan
            .steps
            .iter()
            .zip(&state)
            .filter(|(_, s)| **s == State::Skipped)
            .map(|(step, _)| runner.describe(&step.action))
            .collect(),
        error,
    }
}

/// What applying produced.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    pub(crate) steps: Vec<StepReport>,
    pub(crate) outputs: Outputs,
}

/// Everything apply needs besides the plan.
pub(crate) struct Target<'a> {
    pub(crate) writer: &'a Writer,
    pub(crate) reader: &'a Reader,
    pub(crate) arns: &'a StageArns,
    /// Waits and deadlines: at the pace of the reader's AWS.
    pub(crate) pace: Pace,
}

impl<'a> Target<'a> {
    /// A target that waits at the pace of `reader`'s AWS.
    pub(crate) fn new(writer: &'a Writer, reader: &'a Reader, arns: &'a StageArns) -> Target<'a> {
        Target {
            writer,
            reader,
            arns,
            pace: reader.pace(),
        }
    }
}

struct AwsRunner<'a> {
    ctx: ApplyContext<'a>,
}

impl StepRunner for AwsRunner<'_> {
    async fn run(&self, action: &Action) -> Result<(), AwsError> {
        resources::apply(action, &self.ctx).await
    }

    fn describe(&self, action: &Action) -> String {
        action.info().describe(self.ctx.arns.names())
    }
}

/// Applies `plan` to AWS, starting from `outputs` (what an earlier
/// apply of the same deploy produced, e.g. a new API's id).
pub(crate) async fn apply(
    target: &Target<'_>,
    code: Option<&Code>,
    plan: &Plan,
    outputs: Outputs,
    reporter: &dyn StepReporter,
) -> Result<Applied, ApplyError> {
    let runner = AwsRunner {
        ctx: ApplyContext {
            writer: target.writer,
            reader: target.reader,
            arns: target.arns,
            code,
            sleeper: &target.pace,
            clock: &target.pace,
            outputs: Mutex::new(outputs),
        },
    };
    let execution = execute(plan, &runner, reporter).await;
    let outputs = runner.ctx.outputs().clone();
    match execution.error {
        None => Ok(Applied {
            steps: execution.steps,
            outputs,
        }),
        Some(error) => Err(ApplyError {
            error,
            finished: execution.steps.iter().filter(|s| s.ok).count(),
            skipped: execution.skipped,
            applied: Applied {
                steps: execution.steps,
                outputs,
            },
        }),
    }
}

/// A step failed: which, and what did not run because of it.
#[derive(Debug)]
pub(crate) struct ApplyError {
    pub(crate) error: AwsError,
    /// Steps that finished before or alongside the failure.
    pub(crate) finished: usize,
    /// Steps not run because they wait for the failed one.
    pub(crate) skipped: Vec<String>,
    /// The steps that ran (the failed one included) and what they produced.
    pub(crate) applied: Applied,
}

impl ApplyError {
    /// The failed step's error, its help text naming what did not run.
    pub(crate) fn into_report(self) -> miette::Report {
        let mut hint = self.error.hint.clone().unwrap_or_default();
        if self.finished > 0 {
            hint.push_str(&format!(
                "\n{} step{} finished before it stopped; the next run continues from there",
                self.finished,
                if self.finished == 1 { "" } else { "s" }
            ));
        }
        if !self.skipped.is_empty() {
            hint.push_str(&format!(
                "\nnot run because of this: {}",
                self.skipped.join("; ")
            ));
        }
        miette::Report::new(AwsError {
            hint: Some(hint),
            ..self.error
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::deploy::resources::log_group::LogGroupAction;

    /// A log-group action stands for any action: the executor only looks
    /// at the plan's dependencies.
    fn action(name: &str) -> Action {
        Action::LogGroup(LogGroupAction::CreateLogGroup {
            log_group: name.into(),
        })
    }

    fn name(action: &Action) -> String {
        match action {
            Action::LogGroup(LogGroupAction::CreateLogGroup { log_group }) => log_group.clone(),
            other => format!("{other:?}"),
        }
    }

    fn plan(steps: &[(&str, &[usize])]) -> Plan {
        Plan {
            steps: steps
                .iter()
                .map(|(n, after)| crate::deploy::plan::Step {
                    action: action(n),
                    after: after.to_vec(),
                })
                .collect(),
        }
    }

    /// Records `start x` / `end x` in order; each step takes 20 ms of
    /// paused tokio time (the tests run with `start_paused`: time moves
    /// only when every task waits, so the order is deterministic) so
    /// that overlap is visible; `fail` names a failing step.
    #[derive(Default)]
    struct FakeWriter {
        log: Mutex<Vec<String>>,
        fail: Option<&'static str>,
    }

    impl StepRunner for FakeWriter {
        async fn run(&self, action: &Action) -> Result<(), AwsError> {
            let name = name(action);
            self.log.lock().unwrap().push(format!("start {name}"));
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.log.lock().unwrap().push(format!("end {name}"));
            if self.fail == Some(name.as_str()) {
                return Err(AwsError::fatal(&name, "injected", "none"));
            }
            Ok(())
        }

        fn describe(&self, action: &Action) -> String {
            name(action)
        }
    }

    struct Quiet;
    impl StepReporter for Quiet {
        fn step_done(&self, _: &StepReport) {}
    }

    fn log(writer: &FakeWriter) -> Vec<String> {
        writer.log.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn independent_steps_overlap_and_dependants_wait() {
        // role → function; log group and api independent; deploy waits
        // for function and api.
        let plan = plan(&[
            ("role", &[]),
            ("logs", &[]),
            ("function", &[0]),
            ("api", &[]),
            ("deploy", &[2, 3]),
        ]);
        let writer = FakeWriter::default();
        let execution = execute(&plan, &writer, &Quiet).await;
        assert!(execution.error.is_none());
        let log = log(&writer);
        let at = |entry: &str| log.iter().position(|e| e == entry).unwrap();
        // role, logs and api all start before any of them ends.
        for first in ["start role", "start logs", "start api"] {
            assert!(at(first) < at("end role"), "{log:?}");
        }
        assert!(at("end role") < at("start function"), "{log:?}");
        assert!(at("end function") < at("start deploy"), "{log:?}");
        assert!(at("end api") < at("start deploy"), "{log:?}");
        // The report lists every step in plan order.
        let reported: Vec<String> = execution
            .steps
            .iter()
            .map(|s| s.description.clone())
            .collect();
        assert_eq!(reported, ["role", "logs", "function", "api", "deploy"]);
        assert!(execution.steps[1].started < execution.steps[0].seconds);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_stops_its_dependants_only() {
        let plan = plan(&[
            ("role", &[]),
            ("function", &[0]),
            ("publish", &[1]),
            ("api", &[]),
            ("routes", &[3]),
        ]);
        let writer = FakeWriter {
            fail: Some("role"),
            ..FakeWriter::default()
        };
        let execution = execute(&plan, &writer, &Quiet).await;
        assert_eq!(execution.error.unwrap().step, "role");
        assert_eq!(execution.skipped, ["function", "publish"]);
        let ran: Vec<(String, bool)> = execution
            .steps
            .iter()
            .map(|s| (s.description.clone(), s.ok))
            .collect();
        assert_eq!(
            ran,
            [
                ("role".to_string(), false),
                ("api".to_string(), true),
                ("routes".to_string(), true)
            ]
        );
        let log = log(&writer);
        assert!(!log.iter().any(|e| e.contains("function")), "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_plan_runs_nothing() {
        let writer = FakeWriter::default();
        let execution = execute(&Plan::default(), &writer, &Quiet).await;
        assert!(execution.steps.is_empty() && execution.error.is_none());
        assert!(log(&writer).is_empty());
    }
}
