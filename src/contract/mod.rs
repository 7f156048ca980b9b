//! What several layers share, below all of them: the shapes that cross
//! between AWS, the deployed handler and slx. The config checks
//! `[[checks]]` requests with them, the deploy builds check and schedule
//! events, `slx invoke` and `slx dev` build the events API Gateway and
//! the event sources send, and the code generator writes the handler
//! that reads the environment slx sets.
//!
//! Pure, and imports nothing from config's users: never from `deploy`,
//! `local`, `handler`, `commands` or `ui` (tests/it/architecture.rs).

pub mod handler_env;
pub(crate) mod iam_pattern;
pub mod proxy;
pub mod routes;
pub(crate) mod source_events;
