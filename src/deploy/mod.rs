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
use model::{Actual, Desired};
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
    let clients = load_clients(settings, project).await?;
    let account = read::account_id(&clients).await?;
    let target = target_for(project, &clients, account);
    Ok(Session { clients, target })
}

/// `connect`, then `read::read`, with the account lookup overlapping the
/// reads that do not need it: one round trip fewer for plan, deploy,
/// status and undeploy.
pub async fn connect_and_read(
    settings: &AwsSettings,
    project: &Project,
) -> Result<(Session, Actual), DeployError> {
    let clients = load_clients(settings, project).await?;
    let names = target_for(project, &clients, String::new());
    let (account, actual) =
        read::read_with_account(&clients, &names, read::account_id(&clients)).await?;
    let target = Target { account, ..names };
    Ok((Session { clients, target }, actual))
}

/// The SDK clients for `project`: its region from the flag, then slx.toml,
/// then the profile.
pub async fn load_clients(
    settings: &AwsSettings,
    project: &Project,
) -> Result<Clients, SetupError> {
    let settings = AwsSettings {
        region_config: project.region.clone(),
        ..settings.clone()
    };
    aws::load(&settings).await
}

fn target_for(project: &Project, clients: &Clients, account: String) -> Target {
    Target {
        app: project.app.clone(),
        stage: project.stage.clone(),
        function_name: project.function_name(),
        role_name: project.role_name(),
        log_group: project.log_group(),
        region: clients.region.clone(),
        account,
    }
}

/// The desired state of `project` with the given code.
pub fn desired(project: &Project, target: &Target, code_sha256: &str) -> Desired {
    let policy = policy::role_policy(project, &target.region, &target.account);
    Desired::new(project, code_sha256, policy)
}
