//! Every integration test of slx, in one test binary: the AWS SDK and the
//! rest of slx's dependencies are linked once instead of once per file.

mod api_keys;
mod architecture;
mod authorizers;
mod build;
mod canary;
mod checks;
mod ci_examples;
mod cli;
mod common;
mod concurrent;
mod cors;
mod deploy;
mod dev;
mod domains;
mod event_shape;
mod event_sources;
mod events;
mod faults;
mod fidelity;
mod going_to_production;
mod install;
mod judges;
mod killed;
mod logs;
mod operate;
mod output;
mod package;
mod production;
mod promote;
mod router;
mod secrets;
mod settings;
mod simulated;
