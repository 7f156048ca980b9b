//! Deploying a stage, in the pipeline's order: `resources::read` what AWS
//! holds, `plan` (pure) the actions from `desired` and actual, `apply`
//! them (the only code that mutates AWS, concurrently in dependency
//! order).
//!
//! AWS is the source of truth: resources are found by deterministic names
//! (`crate::names`) and `slx:app` / `slx:stage` tags, never through local
//! state.

pub(crate) mod apply;
pub(crate) mod desired;
pub(crate) mod openapi;
pub(crate) mod plan;
pub(crate) mod policy;
pub(crate) mod resources;
pub(crate) mod versions;

use crate::aws::{AwsError, Reader};
use crate::names::{StageArns, StageNames};
use resources::Actual;

/// The stage's ARNs: the caller's account and partition placed on
/// `names`.
pub(crate) async fn locate(reader: &Reader, names: &StageNames) -> Result<StageArns, AwsError> {
    let identity = reader.caller_identity().await?;
    Ok(StageArns::new(
        names.clone(),
        reader.region(),
        &identity.account,
        &identity.arn,
    ))
}

/// `locate` and everything that exists for the stage, at once: no read
/// needs the account, so the identity lookup costs no extra round trip.
pub(crate) async fn locate_and_read(
    reader: &Reader,
    names: &StageNames,
) -> Result<(StageArns, Actual), AwsError> {
    tokio::try_join!(locate(reader, names), resources::read(reader, names))
}
