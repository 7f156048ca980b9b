//! What the deploy engine tells whoever runs it, and asks them: progress
//! lines, warnings, waits, each apply step (`StepReporter`), the build's
//! progress, and what to do when a canary's watch is interrupted. The
//! terminal's `Ui` is one narrator (src/commands/stage.rs); the engine
//! never prints.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::apply::StepReporter;
use super::canary::{CanaryStarted, Decision};

/// A future a narrator hands the engine.
pub(crate) type Waiting<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(crate) trait Narrator: StepReporter + Sync {
    /// This narrator as apply's step reporter.
    fn steps(&self) -> &dyn StepReporter;
    /// A line of progress (none in JSON or quiet output).
    fn step(&self, line: &str);
    /// A step that finished, with its duration.
    fn done(&self, line: &str, took: Duration);
    /// Said in every output mode: what a person must not miss.
    fn alert(&self, line: &str);
    fn warn(&self, line: &str);
    /// A wait begins (a live line on a terminal) ...
    fn waiting(&self, description: &str);
    /// ... and is over.
    fn waited(&self, description: &str);
    /// A reporter for the build, which runs on a thread of its own.
    fn build_progress(&self) -> Box<dyn crate::handler::Progress + Send>;
    /// Resolves when the person asks to stop (Ctrl-C); the handler is in
    /// place from its first poll.
    fn interrupt(&self) -> Waiting<'static, ()>;
    /// What to do with a canary whose watch was interrupted.
    fn after_interrupt<'a>(&'a self, started: &'a CanaryStarted) -> Waiting<'a, Decision>;
}
