//! slx: deploys Rust web backends to AWS Lambda behind API Gateway.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! slx.toml ──► config   (one stage, validated)
//!                │
//!                ├─► build:  codegen → cargo build for Lambda → ELF checks → zip
//!                ├─► read:   what exists in AWS now (read-only calls)
//!                ├─► plan:   pure fn(desired, actual) -> ordered actions
//!                └─► apply:  the only code that mutates AWS
//! ```
//!
//! `cli` parses arguments, `commands` glues the stages together per
//! subcommand, `ui` prints. See docs/architecture.md.

pub(crate) mod aws;
pub mod binary_media;
pub mod cli;
pub mod commands;
pub mod config;
pub mod contract;
pub mod cors;
pub(crate) mod deploy;
pub mod doctor;
pub(crate) mod endpoint;
pub mod exit;
pub mod handler;
pub(crate) mod invoke;
pub mod local;
pub mod logging;
pub(crate) mod logs;
pub(crate) mod names;
pub(crate) mod pace;
pub(crate) mod scaffold;
pub mod ui;
