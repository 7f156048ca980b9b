//! Deploying a stage, in the pipeline's order: `resources::read` what AWS
//! holds, `plan` (pure) the actions from `desired` and actual, `apply`
//! them (the only code that mutates AWS, concurrently in dependency
//! order); `run` is a whole deploy, step by step.
//!
//! AWS is the source of truth: resources are found by deterministic names
//! (`crate::names`) and `slx:app` / `slx:stage` tags, never through local
//! state.

pub(crate) mod apply;
pub(crate) mod canary;
pub(crate) mod checks;
pub(crate) mod deployer_policy;
pub(crate) mod desired;
pub(crate) mod lease;
pub(crate) mod narrator;
pub(crate) mod openapi;
pub(crate) mod plan;
pub(crate) mod policy;
pub(crate) mod preflight;
pub(crate) mod quotas;
pub(crate) mod resources;
pub(crate) mod run;
pub(crate) mod versions;

use std::path::PathBuf;

use crate::aws::{AwsError, Reader, Writer};
use crate::config::Project;
use crate::names::StageArns;
use resources::Actual;

/// A stage opened for a command: slx.toml's stage resolved, the app's
/// directory, its AWS, and where it lives (account, partition).
pub(crate) struct Stage {
    pub(crate) project: Project,
    /// Where slx.toml and the app crate are.
    pub(crate) app_dir: PathBuf,
    pub(crate) reader: Reader,
    pub(crate) writer: Writer,
    pub(crate) arns: StageArns,
}

impl Stage {
    /// What `apply` needs to change this stage.
    pub(crate) fn target(&self) -> apply::Target<'_> {
        apply::Target::new(&self.writer, &self.reader, &self.arns)
    }
}

/// The stage's ARNs: the caller's account and partition placed on the
/// project's names. Refuses credentials for another account than the one
/// the stage is pinned to (`account` in slx.toml): the classic
/// prod-in-the-dev-account accident stops here, before any write.
pub(crate) async fn locate(reader: &Reader, project: &Project) -> Result<StageArns, AwsError> {
    let identity = reader.caller_identity().await?;
    if let Some(pinned) = &project.account
        && *pinned != identity.account
    {
        return Err(AwsError::fatal(
            "identify the AWS account (sts:GetCallerIdentity)",
            format!(
                "stage {} is pinned to account {pinned} in slx.toml, but these credentials are for account {}",
                project.stage, identity.account
            ),
            "use the credentials for that account (`--profile`, or `profile` in the stage's table), or correct `account`",
        ));
    }
    // Lambda attaches only layers of the function's own region; slx.toml
    // may not name the region, so it is checked here, before any write.
    if let Some(layer) = project.layers.iter().find(|layer| {
        crate::config::limits::layer_region(layer).is_some_and(|r| r != reader.region())
    }) {
        return Err(AwsError::fatal(
            "check the stage's layers",
            format!(
                "layer {layer} is not in {}, the region stage {} deploys to",
                reader.region(),
                project.stage
            ),
            "publish the layer in that region and name that version in `layers`",
        ));
    }
    Ok(StageArns::new(
        project.names(),
        reader.region(),
        &identity.account,
        &identity.arn,
    ))
}

/// `locate` and everything that exists for the stage, at once: no read
/// needs the account, so the identity lookup costs no extra round trip.
pub(crate) async fn locate_and_read(
    reader: &Reader,
    project: &Project,
) -> Result<(StageArns, Actual), AwsError> {
    let names = project.names();
    tokio::try_join!(locate(reader, project), resources::read(reader, &names))
}
