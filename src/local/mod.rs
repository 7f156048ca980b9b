//! Local Lambda: a Runtime API emulator that real handler binaries talk
//! to, and the API Gateway REST (v1) event shape they receive.
//!
//! Never talks to AWS. Processes are started by callers, not here.

pub mod authorizer;
pub mod environment;
pub mod event;
pub(crate) mod event_sources;
pub mod gateway;
pub mod jwt;
pub mod pool;
pub mod quotas;
pub mod router;
pub mod runtime_api;
pub(crate) mod source_event;
pub(crate) mod watch;
