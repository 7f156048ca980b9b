//! Local Lambda for `slx dev` and `slx invoke --local`: a Runtime API
//! emulator that real handler binaries talk to, handler processes with
//! Lambda's semantics, a local API Gateway and the event sources. The
//! event shapes themselves are `crate::contract`'s.
//!
//! Never talks to AWS. Processes are started by callers, not here.

pub mod authorizer;
pub mod environment;
pub(crate) mod event_sources;
pub mod gateway;
pub mod host_guard;
pub mod jwt;
pub mod pool;
pub mod quotas;
pub mod runtime_api;
pub(crate) mod watch;
