//! Deploying a stage, in the pipeline's order: `read` what AWS holds into
//! `model::Actual`, `plan` (pure) the actions from desired and actual,
//! `apply` them (the only code that mutates AWS).
//!
//! AWS is the source of truth: resources are found by deterministic names
//! and `slx:app` / `slx:stage` tags, never through local state.

pub mod apply;
pub mod model;
pub mod openapi;
pub mod plan;
pub mod policy;
pub mod read;
pub mod versions;

use crate::aws::{self, AwsError, AwsSettings, Clients, SetupError};
use crate::config::Project;
use model::Desired;
use read::Target;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DeployError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] AwsError),
}

/// Connected clients and the names of the stage's resources.
pub struct Session {
    pub clients: Clients,
    pub target: Target,
}

/// Loads AWS settings (flag, then slx.toml, then profile for the region)
/// and identifies the account.
pub async fn connect(settings: &AwsSettings, project: &Project) -> Result<Session, DeployError> {
    let settings = AwsSettings {
        region_config: project.region.clone(),
        ..settings.clone()
    };
    let clients = aws::load(&settings).await?;
    let account = read::account_id(&clients).await?;
    let target = Target {
        app: project.app.clone(),
        stage: project.stage.clone(),
        function_name: project.function_name(),
        role_name: project.role_name(),
        log_group: project.log_group(),
        region: clients.region.clone(),
        account,
    };
    Ok(Session { clients, target })
}

/// The desired state of `project` with the given code.
pub fn desired(project: &Project, target: &Target, code_sha256: &str) -> Desired {
    let policy = policy::role_policy(project, &target.region, &target.account);
    Desired::new(project, code_sha256, policy)
}
