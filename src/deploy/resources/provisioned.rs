//! Provisioned concurrency on the stage's alias (`provisioned_concurrency`
//! in slx.toml): that many instances kept initialised, so no request of
//! the stage waits for a cold start. It is the alias's, so it follows the
//! alias to each new version on deploy and rollback (Lambda allocates it
//! for the version the alias points at). Billed for every hour it is
//! configured, used or not: the plan says so. Without the key, none.
//! <https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html>

use std::time::Duration;

use serde::Serialize;

use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource, all_of,
};
use crate::aws::{Allocation, AwsError, ProvisionedInfo, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::names::{StageArns, StageNames};
use crate::pace::{Clock, Sleeper};

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
    /// The instances requested on the stage's alias, if any, and how far
    /// Lambda got allocating them.
    type Actual = Option<ProvisionedInfo>;
    type Action = ProvisionedAction;

    type Reads<'a> = ();

    fn reads(_: &Actual) -> Self::Reads<'_> {}

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        reader
            .provisioned_concurrency(&names.function, &names.alias)
            .await
    }

    /// A failed allocation is requested again (and fails the deploy with
    /// Lambda's reason if it fails again).
    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<ProvisionedAction> {
        let requested = own.as_ref().map(|info| info.requested);
        let failed = own
            .as_ref()
            .is_some_and(|info| matches!(info.status, Allocation::Failed(_)));
        if requested == desired.provisioned_concurrency && !failed {
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
        .await?;
        if count.is_some() {
            wait_allocated(ctx.reader, function, alias, ctx.sleeper, ctx.clock).await?;
        }
        Ok(())
    }
}

/// How long allocating provisioned concurrency may take before slx stops
/// waiting (Lambda initialises the instances, typically within a few
/// minutes).
const ALLOCATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Waits until the provisioned concurrency of `function:alias` is all
/// allocated (`READY`): after a request, and after the alias moved to a
/// new version (Lambda allocates it to that version anew), so checks and
/// canary traffic meet warm instances. `FAILED` is an error with Lambda's
/// reason; no configuration, nothing to wait for.
/// <https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html>
pub(crate) async fn wait_allocated(
    reader: &Reader,
    function: &str,
    alias: &str,
    sleeper: &dyn Sleeper,
    clock: &dyn Clock,
) -> Result<(), AwsError> {
    let step = format!("allocate the provisioned concurrency of {function}:{alias}");
    let allocated = || async {
        let info = reader.provisioned_concurrency(function, alias).await?;
        match info.map(|info| info.status) {
            None | Some(Allocation::Ready) => Ok(Some(())),
            Some(Allocation::InProgress) => Ok(None),
            Some(Allocation::Failed(reason)) => Err(AwsError::fatal(
                &step,
                format!("Lambda could not allocate it: {reason}"),
                "fix the cause (often the account's concurrency quota, or an error in the function's initialisation), then deploy again: slx requests it again",
            )),
        }
    };
    let late = || {
        AwsError::fatal(
            &step,
            format!(
                "still IN_PROGRESS after {} minutes",
                ALLOCATION_TIMEOUT.as_secs() / 60
            ),
            "run the deploy again: it waits for it again, and requests it again if it failed",
        )
    };
    let pace = (ALLOCATION_TIMEOUT, Duration::from_secs(2));
    super::poll(sleeper, clock, pace, allocated, late).await
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
        let two = |status| {
            Some(ProvisionedInfo {
                requested: 2,
                status,
            })
        };
        assert_eq!(Provisioned::plan(&desired, &None, ()), [set(Some(2))]);
        assert_eq!(
            Provisioned::plan(&desired, &two(Allocation::Ready), ()),
            Vec::new()
        );
        assert_eq!(
            Provisioned::plan(&desired, &two(Allocation::InProgress), ()),
            Vec::new(),
            "being allocated: the apply or the deploy waits for it"
        );
        // A failed allocation is requested again.
        let failed = two(Allocation::Failed("quota".into()));
        assert_eq!(Provisioned::plan(&desired, &failed, ()), [set(Some(2))]);
        desired.provisioned_concurrency = None;
        assert_eq!(
            Provisioned::plan(&desired, &two(Allocation::Ready), ()),
            [set(None)]
        );
    }
}
