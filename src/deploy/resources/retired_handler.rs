//! Handlers removed from slx.toml: their functions and log groups go once
//! their sources stopped sending them events (this kind comes after every
//! source kind in the registry, so a deploy removes them last). An
//! undeploy removes every handler through `event_function`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::event_function::HandlerState;
use super::event_function::{self, EventFunction, EventFunctionAction};
use super::{ActionInfo, Actual, ApplyContext, Change, Found, Kind, Resource};
use crate::aws::{AwsError, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::names::{StageArns, StageNames};

pub(crate) struct RetiredHandler;

/// A step removing a handler slx.toml no longer has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct RetireAction(pub(crate) EventFunctionAction);

impl ActionInfo for RetireAction {
    fn describe(&self, names: &StageNames) -> String {
        format!("{} (no longer in slx.toml)", self.0.describe(names))
    }

    fn needs(&self) -> &'static [Kind] {
        &[Kind::Schedule, Kind::BucketNotification, Kind::QueueMapping]
    }

    fn lane(&self) -> Option<&str> {
        self.0.lane()
    }

    fn change(&self) -> Change {
        self.0.change()
    }
}

impl Resource for RetiredHandler {
    type Actual = ();
    type Action = RetireAction;

    type Reads<'a> = &'a BTreeMap<String, HandlerState>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        &actual.event_function
    }

    async fn read(_: &Reader, _: &StageNames, _: &Found) -> Result<(), AwsError> {
        Ok(())
    }

    fn plan(desired: &Desired, _: &Self::Actual, reads: Self::Reads<'_>) -> Vec<RetireAction> {
        reads
            .iter()
            .filter(|(handler, _)| !desired.events.iter().any(|e| &e.handler == *handler))
            .flat_map(|(handler, state)| {
                event_function::plan_handler_removal(&desired.arns, handler, state)
            })
            .map(RetireAction)
            .collect()
    }

    fn plan_removal(_: &StageNames, _: &Self::Actual, _: Self::Reads<'_>) -> Vec<RetireAction> {
        Vec::new()
    }

    fn deployer_grants(_: &StageArns) -> Vec<Grant> {
        // `event_function`'s grants cover these calls.
        Vec::new()
    }

    async fn apply(action: &RetireAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        EventFunction::apply(&action.0, ctx).await
    }
}
