//! The API stage's deployment: what the stage serves. `PutRestApi`
//! changes only the API's working definition; a new deployment makes it
//! live. Planned whenever the routes change or the stage is missing.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-deploy-api.html>

use serde::Serialize;

use super::api::routes_change;
use super::{ActionInfo, Actual, ApiRef, ApplyContext, Change, Kind, RETRY_ALWAYS, Resource};
use crate::aws::{AwsError, Reader};
use crate::deploy::desired::Desired;
use crate::names::StageNames;

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

    fn needs(&self) -> &'static [Kind] {
        // Live routes must reach an alias that exists and may be invoked.
        &[Kind::Api, Kind::Permission, Kind::Alias]
    }

    fn change(&self) -> Change {
        Change::Update
    }
}

impl Resource for Deployment {
    /// Read with the API (its stage).
    type Actual = ();
    type Action = DeploymentAction;

    async fn read(_: &Reader, _: &StageNames) -> Result<(), AwsError> {
        Ok(())
    }

    fn plan(desired: &Desired, actual: &Actual) -> Vec<DeploymentAction> {
        let api = actual.api.as_ref();
        let stage_missing = api.is_none_or(|api| api.stage.is_none());
        if routes_change(desired, api).is_none() && !stage_missing {
            return vec![];
        }
        vec![DeploymentAction::DeployApi {
            api: match api {
                Some(api) => ApiRef::Existing(api.id.clone()),
                None => ApiRef::New,
            },
            stage: desired.arns.stage.clone(),
            description: desired.release.clone(),
        }]
    }

    fn plan_removal(_: &StageNames, _: &Actual) -> Vec<DeploymentAction> {
        // It goes with the API.
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
