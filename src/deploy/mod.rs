//! Deploying a stage: `model` (desired and actual, plain data) and `plan`
//! (a pure diff of the two into ordered actions).
//!
//! Reading AWS into `Actual` and applying actions are the deploy issue's
//! next steps; nothing in this module talks to AWS yet.

pub mod model;
pub mod plan;
