//! The function's reserved concurrency (`concurrency` in slx.toml): at
//! most that many requests run at once, so a flood of requests cannot run
//! up an unbounded bill; beyond it Lambda throttles (API Gateway answers
//! 502/429). Without the key, no reservation.
//! <https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html>

use serde::Serialize;

use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource, all_of,
};
use crate::aws::{AwsError, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::names::{StageArns, StageNames};

pub(crate) struct Concurrency;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum ConcurrencyAction {
    /// Reserve `count` concurrent executions, or (`None`) remove the
    /// reservation.
    SetConcurrency {
        function: String,
        count: Option<u32>,
    },
}

impl ActionInfo for ConcurrencyAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            ConcurrencyAction::SetConcurrency {
                count: Some(count), ..
            } => format!("limit the function to {count} concurrent executions"),
            ConcurrencyAction::SetConcurrency { count: None, .. } => {
                "remove the function's concurrency limit".into()
            }
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        all_of(&[Kind::Function])
    }

    fn change(&self) -> Change {
        Change::Update
    }
}

impl Resource for Concurrency {
    /// The reserved concurrency, if any.
    type Actual = Option<u32>;
    type Action = ConcurrencyAction;

    type Reads<'a> = ();

    fn reads(_: &Actual) -> Self::Reads<'_> {}

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        reader.reserved_concurrency(&names.function).await
    }

    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<ConcurrencyAction> {
        if *own == desired.concurrency {
            return vec![];
        }
        vec![ConcurrencyAction::SetConcurrency {
            function: desired.arns.function.clone(),
            count: desired.concurrency,
        }]
    }

    fn plan_removal(
        _: &StageNames,
        _: &Self::Actual,
        _: Self::Reads<'_>,
    ) -> Vec<ConcurrencyAction> {
        // It goes with the function.
        vec![]
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        vec![Grant::new(
            "StageConcurrency",
            &[
                "lambda:GetFunctionConcurrency",
                "lambda:PutFunctionConcurrency",
                "lambda:DeleteFunctionConcurrency",
            ],
            vec![arns.function_arn()],
        )]
    }

    async fn apply(action: &ConcurrencyAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let ConcurrencyAction::SetConcurrency { function, count } = action;
        ctx.call(&step, RETRY_ALWAYS, || {
            ctx.writer.set_reserved_concurrency(function, *count)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::desired::tests::desired;

    #[test]
    fn the_reservation_follows_slx_toml_and_goes_with_the_function() {
        let mut desired = desired();
        assert_eq!(Concurrency::plan(&desired, &None, ()), Vec::new());
        desired.concurrency = Some(5);
        assert_eq!(
            Concurrency::plan(&desired, &None, ()),
            [ConcurrencyAction::SetConcurrency {
                function: "shop-dev".into(),
                count: Some(5)
            }]
        );
        assert_eq!(Concurrency::plan(&desired, &Some(5), ()), Vec::new());
        desired.concurrency = None;
        assert_eq!(
            Concurrency::plan(&desired, &Some(5), ()),
            [ConcurrencyAction::SetConcurrency {
                function: "shop-dev".into(),
                count: None
            }]
        );
        let names = StageNames::new("shop", "dev");
        assert_eq!(Concurrency::plan_removal(&names, &Some(5), ()), Vec::new());
    }
}
