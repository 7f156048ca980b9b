//! Provisioned concurrency on the stage's alias (`provisioned_concurrency`
//! in slx.toml): that many instances kept initialised, so no request of
//! the stage waits for a cold start. It is the alias's, so it follows the
//! alias to each new version on deploy and rollback (Lambda allocates it
//! for the version the alias points at). Billed for every hour it is
//! configured, used or not: the plan says so. Without the key, none.
//! <https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html>

use serde::Serialize;

use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource, all_of,
};
use crate::aws::{AwsError, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::names::{StageArns, StageNames};

pub(crate) struct Provisioned;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum ProvisionedAction {
    /// Keep `count` instances of the alias initialised, or (`None`) stop.
    SetProvisionedConcurrency {
        function: String,
        alias: String,
        count: Option<u32>,
    },
}

impl ActionInfo for ProvisionedAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            ProvisionedAction::SetProvisionedConcurrency {
                count: Some(count),
                alias,
                ..
            } => format!(
                "keep {count} instances of alias {alias} initialised (provisioned concurrency: billed every hour it is set, used or not)"
            ),
            ProvisionedAction::SetProvisionedConcurrency {
                count: None, alias, ..
            } => {
                format!("remove the provisioned concurrency of alias {alias}")
            }
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        // On the alias, which must point at a published version.
        all_of(&[Kind::Alias, Kind::Concurrency])
    }

    fn change(&self) -> Change {
        Change::Update
    }
}

impl Resource for Provisioned {
    /// The instances requested on the stage's alias, if any.
    type Actual = Option<u32>;
    type Action = ProvisionedAction;

    type Reads<'a> = ();

    fn reads(_: &Actual) -> Self::Reads<'_> {}

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        Ok(reader
            .provisioned_concurrency(&names.function, &names.alias)
            .await?
            .map(|(requested, _)| requested))
    }

    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<ProvisionedAction> {
        if *own == desired.provisioned_concurrency {
            return vec![];
        }
        vec![ProvisionedAction::SetProvisionedConcurrency {
            function: desired.arns.function.clone(),
            alias: desired.arns.alias.clone(),
            count: desired.provisioned_concurrency,
        }]
    }

    fn plan_removal(
        _: &StageNames,
        _: &Self::Actual,
        _: Self::Reads<'_>,
    ) -> Vec<ProvisionedAction> {
        // It goes with the function.
        vec![]
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        vec![Grant::new(
            "StageProvisionedConcurrency",
            &[
                "lambda:GetProvisionedConcurrencyConfig",
                "lambda:PutProvisionedConcurrencyConfig",
                "lambda:DeleteProvisionedConcurrencyConfig",
            ],
            vec![arns.function_arn(), format!("{}:*", arns.function_arn())],
        )]
    }

    async fn apply(action: &ProvisionedAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let ProvisionedAction::SetProvisionedConcurrency {
            function,
            alias,
            count,
        } = action;
        ctx.call(&step, RETRY_ALWAYS, || {
            ctx.writer
                .set_provisioned_concurrency(function, alias, *count)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::desired::tests::desired;

    #[test]
    fn warm_instances_follow_slx_toml_on_the_alias() {
        let mut desired = desired();
        assert_eq!(Provisioned::plan(&desired, &None, ()), Vec::new());
        desired.provisioned_concurrency = Some(2);
        let set = |count| ProvisionedAction::SetProvisionedConcurrency {
            function: "shop-dev".into(),
            alias: "dev".into(),
            count,
        };
        assert_eq!(Provisioned::plan(&desired, &None, ()), [set(Some(2))]);
        assert_eq!(Provisioned::plan(&desired, &Some(2), ()), Vec::new());
        desired.provisioned_concurrency = None;
        assert_eq!(Provisioned::plan(&desired, &Some(2), ()), [set(None)]);
    }
}
