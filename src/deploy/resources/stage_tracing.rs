//! X-Ray tracing of the stage's API requests (`tracing = true` in
//! slx.toml turns it on here as well as on the function, so a request's
//! trace starts at API Gateway). Without the key, it is turned off.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-enabling-xray.html>

use serde::Serialize;

use super::api::ApiState;
use super::{
    ActionInfo, Actual, ApiRef, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource,
    all_of,
};
use crate::aws::{AwsError, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::names::{StageArns, StageNames};

pub(crate) struct StageTracing;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum StageTracingAction {
    SetStageTracing {
        api: ApiRef,
        stage: String,
        enabled: bool,
    },
}

impl ActionInfo for StageTracingAction {
    fn describe(&self, _: &StageNames) -> String {
        let StageTracingAction::SetStageTracing { enabled, .. } = self;
        if *enabled {
            "trace the stage's requests (X-Ray)".into()
        } else {
            "stop tracing the stage's requests".into()
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        // The stage exists once the API is deployed to it.
        all_of(&[Kind::Deployment])
    }

    fn change(&self) -> Change {
        Change::Update
    }
}

impl Resource for StageTracing {
    /// Read with the API (its stage).
    type Actual = ();
    type Action = StageTracingAction;

    type Reads<'a> = &'a Option<ApiState>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        &actual.api
    }

    async fn read(_: &Reader, _: &StageNames, _: &Found) -> Result<(), AwsError> {
        Ok(())
    }

    fn plan(
        desired: &Desired,
        _: &Self::Actual,
        reads: Self::Reads<'_>,
    ) -> Vec<StageTracingAction> {
        let api = reads.as_ref();
        let current = api
            .and_then(|api| api.stage.as_ref())
            .is_some_and(|stage| stage.tracing);
        if current == desired.tracing {
            return vec![];
        }
        vec![StageTracingAction::SetStageTracing {
            api: match api {
                Some(api) => ApiRef::Existing(api.id.clone()),
                None => ApiRef::New,
            },
            stage: desired.arns.stage.clone(),
            enabled: desired.tracing,
        }]
    }

    fn plan_removal(
        _: &StageNames,
        _: &Self::Actual,
        _: Self::Reads<'_>,
    ) -> Vec<StageTracingAction> {
        // It goes with the API.
        vec![]
    }

    fn deployer_grants(_: &StageArns) -> Vec<Grant> {
        // UpdateStage is apigateway:PATCH on /restapis/*: granted with the API.
        vec![]
    }

    async fn apply(action: &StageTracingAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let StageTracingAction::SetStageTracing {
            api,
            stage,
            enabled,
        } = action;
        let id = ctx.api_id(api, &step)?;
        ctx.call(&step, RETRY_ALWAYS, || {
            ctx.writer.set_stage_tracing(&id, stage, *enabled)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::desired::tests::desired;
    use crate::deploy::resources::fixtures::converged;

    #[test]
    fn the_stage_is_traced_when_slx_toml_says_so() {
        let mut desired = desired();
        let actual = converged(&desired);
        assert_eq!(StageTracing::plan(&desired, &(), &actual.api), Vec::new());
        desired.tracing = true;
        assert_eq!(
            StageTracing::plan(&desired, &(), &actual.api),
            [StageTracingAction::SetStageTracing {
                api: ApiRef::Existing("api".into()),
                stage: "dev".into(),
                enabled: true
            }]
        );
    }
}
