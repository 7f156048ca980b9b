//! The API stage's deployment: what the stage serves. `PutRestApi`
//! changes only the API's working definition; a new deployment makes it
//! live. Each deployment's description records a digest of the OpenAPI
//! document it serves (`routes sha256:<digest>`), so the plan compares
//! what the stage *serves* with slx.toml: routes imported by a deploy that
//! stopped before deploying them are deployed by the next one.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-deploy-api.html>

use serde::Serialize;

use super::api::ApiState;
use super::api::routes_change;
use super::{
    ActionInfo, Actual, ApiRef, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource,
    all_of,
};
use crate::aws::{AwsError, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::deploy::openapi;
use crate::names::{StageArns, StageNames};

pub(crate) struct Deployment;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum DeploymentAction {
    /// Make the API's definition live: a new deployment on the stage.
    DeployApi {
        api: ApiRef,
        stage: String,
        description: String,
    },
}

impl ActionInfo for DeploymentAction {
    fn describe(&self, _: &StageNames) -> String {
        "deploy the API to its stage".into()
    }

    fn needs(&self) -> Vec<Need<'_>> {
        // Live routes must reach an alias that exists and may be invoked.
        all_of(&[Kind::Api, Kind::Permission, Kind::Alias])
    }

    fn change(&self) -> Change {
        Change::Update
    }
}

/// The marker before the digest in a deployment's description.
const DIGEST_MARK: &str = "routes sha256:";

/// The routes digest a deployment description records, if any.
fn served_digest(description: &str) -> Option<&str> {
    let rest = &description[description.find(DIGEST_MARK)? + DIGEST_MARK.len()..];
    Some(
        rest.split(|c: char| !c.is_ascii_hexdigit())
            .next()
            .unwrap_or(rest),
    )
}

impl Resource for Deployment {
    /// Read with the API (its stage).
    type Actual = ();
    type Action = DeploymentAction;

    type Reads<'a> = &'a Option<ApiState>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        &actual.api
    }

    async fn read(_: &Reader, _: &StageNames, _: &Found) -> Result<(), AwsError> {
        Ok(())
    }

    fn plan(desired: &Desired, _: &Self::Actual, reads: Self::Reads<'_>) -> Vec<DeploymentAction> {
        let api = reads.as_ref();
        let digest = openapi::definition(desired).digest;
        let served = api
            .and_then(|api| api.stage.as_ref())
            .and_then(|stage| stage.deployment_description.as_deref())
            .and_then(served_digest);
        if routes_change(desired, api).is_none() && served == Some(digest.as_str()) {
            return vec![];
        }
        vec![DeploymentAction::DeployApi {
            api: match api {
                Some(api) => ApiRef::Existing(api.id.clone()),
                None => ApiRef::New,
            },
            stage: desired.arns.stage.clone(),
            description: format!("{}; {DIGEST_MARK}{digest}", desired.release),
        }]
    }

    fn plan_removal(_: &StageNames, _: &Self::Actual, _: Self::Reads<'_>) -> Vec<DeploymentAction> {
        // It goes with the API.
        vec![]
    }

    fn deployer_grants(_: &StageArns) -> Vec<Grant> {
        // CreateDeployment and GetStage/GetDeployment are API Gateway
        // methods on /restapis/*: granted with the API.
        vec![]
    }

    async fn apply(action: &DeploymentAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let DeploymentAction::DeployApi {
            api,
            stage,
            description,
        } = action;
        let id = ctx.api_id(api, step)?;
        ctx.call(step, RETRY_ALWAYS, || {
            ctx.writer.create_deployment(&id, stage, description)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_read_back_from_a_description() {
        assert_eq!(
            served_digest("slx 0.1.0 from git abc at 2026-11-27T07:00:00Z; routes sha256:0123abcd"),
            Some("0123abcd")
        );
        assert_eq!(served_digest("made by hand"), None);
    }
}
