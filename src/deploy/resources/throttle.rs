//! The stage's request throttle (`throttle = { rate, burst }` in
//! slx.toml): API Gateway answers 429 beyond it, for every route, before
//! the function runs. Every route of a stage is public: this is the guard
//! against a traffic (and cost) spike. Set as the stage's `*/*` method
//! settings; without the key, those are removed.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html>

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

pub(crate) struct Throttle;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum ThrottleAction {
    /// Set (`rate` per second, `burst` at once) or, with `None`, remove.
    SetThrottle {
        api: ApiRef,
        stage: String,
        limits: Option<(f64, u32)>,
    },
}

// Rates come from validated, finite TOML numbers.
impl Eq for ThrottleAction {}

impl ActionInfo for ThrottleAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            ThrottleAction::SetThrottle {
                limits: Some((rate, burst)),
                ..
            } => format!("throttle the stage to {rate} requests/s (bursts of {burst})"),
            ThrottleAction::SetThrottle { limits: None, .. } => {
                "remove the stage's throttle".into()
            }
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

impl Resource for Throttle {
    /// Read with the API (its stage's method settings).
    type Actual = ();
    type Action = ThrottleAction;

    type Reads<'a> = &'a Option<ApiState>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        &actual.api
    }

    async fn read(_: &Reader, _: &StageNames, _: &Found) -> Result<(), AwsError> {
        Ok(())
    }

    fn plan(desired: &Desired, _: &Self::Actual, reads: Self::Reads<'_>) -> Vec<ThrottleAction> {
        let wanted = desired
            .throttle
            .map(|throttle| (throttle.rate, throttle.burst));
        let api = reads.as_ref();
        let current = api
            .and_then(|api| api.stage.as_ref())
            .and_then(|stage| stage.throttle)
            .map(|(rate, burst)| (rate, burst.max(0) as u32));
        if current == wanted {
            return vec![];
        }
        vec![ThrottleAction::SetThrottle {
            api: match api {
                Some(api) => ApiRef::Existing(api.id.clone()),
                None => ApiRef::New,
            },
            stage: desired.arns.stage.clone(),
            limits: wanted,
        }]
    }

    fn plan_removal(_: &StageNames, _: &Self::Actual, _: Self::Reads<'_>) -> Vec<ThrottleAction> {
        // It goes with the API.
        vec![]
    }

    fn deployer_grants(_: &StageArns) -> Vec<Grant> {
        // UpdateStage is apigateway:PATCH on /restapis/*: granted with the API.
        vec![]
    }

    async fn apply(action: &ThrottleAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let ThrottleAction::SetThrottle { api, stage, limits } = action;
        let id = ctx.api_id(api, &step)?;
        ctx.call(&step, RETRY_ALWAYS, || {
            ctx.writer.set_stage_throttle(&id, stage, *limits)
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
    fn the_stage_throttle_follows_slx_toml_on_the_api_it_reads() {
        let mut desired = desired();
        let mut actual = converged(&desired);
        assert_eq!(Throttle::plan(&desired, &(), &actual.api), Vec::new());
        desired.throttle = Some(crate::config::Throttle {
            rate: 50.0,
            burst: 100,
        });
        let set = |api: ApiRef, limits| ThrottleAction::SetThrottle {
            api,
            stage: "dev".into(),
            limits,
        };
        assert_eq!(
            Throttle::plan(&desired, &(), &actual.api),
            [set(ApiRef::Existing("api".into()), Some((50.0, 100)))]
        );
        // On a first deploy the API is the one the plan creates.
        assert_eq!(
            Throttle::plan(&desired, &(), &None),
            [set(ApiRef::New, Some((50.0, 100)))]
        );
        if let Some(stage) = actual.api.as_mut().and_then(|api| api.stage.as_mut()) {
            stage.throttle = Some((50.0, 100));
        }
        assert_eq!(Throttle::plan(&desired, &(), &actual.api), Vec::new());
        desired.throttle = None;
        assert_eq!(
            Throttle::plan(&desired, &(), &actual.api),
            [set(ApiRef::Existing("api".into()), None)]
        );
    }
}
