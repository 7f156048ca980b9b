//! The statement that lets the stage's REST API invoke each function
//! authorizer (`[authorizers.NAME]` with `function`) through its stage
//! alias: a fixed statement id, the API's authorizers as its source. The
//! authorizer's function, alias and log group are `event_function`'s;
//! the statement goes with the function.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-lambda-authorizer-lambda-function-create.html>

use std::collections::BTreeMap;

use serde::Serialize;

use super::api::ApiState;
use super::permission::{Statement, find_statement_with, put_statement};
use super::{ActionInfo, Actual, ApiRef, ApplyContext, Change, Found, Kind, Need, Resource};
use crate::aws::{AwsError, NewPermission, Reader};
use crate::config::EventSource;
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::names::{AUTHORIZER_PERMISSION_ID, StageArns, StageNames};

pub(crate) struct AuthorizerPermission;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum AuthorizerPermissionAction {
    /// Grant the API the right to invoke authorizer `handler`'s alias;
    /// `replace` drops a statement that names another API first.
    AllowAuthorizer {
        handler: String,
        function: String,
        alias: String,
        api: ApiRef,
        replace: bool,
    },
}

impl ActionInfo for AuthorizerPermissionAction {
    fn describe(&self, _: &StageNames) -> String {
        let AuthorizerPermissionAction::AllowAuthorizer { handler, .. } = self;
        format!("allow the API to ask authorizer {handler}")
    }

    fn needs(&self) -> Vec<Need<'_>> {
        // The statement lives on the authorizer's alias and names the API.
        let AuthorizerPermissionAction::AllowAuthorizer { handler, .. } = self;
        vec![Need::on(Kind::EventFunction, handler), Need::all(Kind::Api)]
    }

    fn change(&self) -> Change {
        Change::Create
    }

    fn instance(&self) -> Option<&str> {
        let AuthorizerPermissionAction::AllowAuthorizer { handler, .. } = self;
        Some(handler)
    }
}

impl Resource for AuthorizerPermission {
    /// slx's statement on each authorizer's alias, by authorizer.
    type Actual = BTreeMap<String, Option<Statement>>;
    type Action = AuthorizerPermissionAction;

    type Reads<'a> = &'a Option<ApiState>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        &actual.api
    }

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        let reads = names
            .referenced
            .authorizers
            .iter()
            .map(|handler| async move {
                let function = names.event_function(handler);
                let policy = reader.policy(&function, &names.alias).await?;
                let statement = policy
                    .as_deref()
                    .and_then(|policy| find_statement_with(policy, AUTHORIZER_PERMISSION_ID));
                Ok::<_, AwsError>((handler.clone(), statement))
            });
        Ok(futures_util::future::try_join_all(reads)
            .await?
            .into_iter()
            .collect())
    }

    fn plan(
        desired: &Desired,
        own: &Self::Actual,
        reads: Self::Reads<'_>,
    ) -> Vec<AuthorizerPermissionAction> {
        let api = match reads {
            Some(api) => ApiRef::Existing(api.id.clone()),
            None => ApiRef::New,
        };
        desired
            .events
            .iter()
            .filter(|event| matches!(event.source, EventSource::Authorizer(_)))
            .filter_map(|event| {
                let current = own.get(&event.handler).cloned().flatten();
                let serves = match (&api, &current) {
                    (ApiRef::Existing(id), Some(statement)) => {
                        statement.source_arn.as_deref()
                            == Some(desired.arns.authorizers_source_arn(id).as_str())
                    }
                    _ => false,
                };
                (!serves).then(|| AuthorizerPermissionAction::AllowAuthorizer {
                    handler: event.handler.clone(),
                    function: event.function.clone(),
                    alias: desired.arns.alias.clone(),
                    api: api.clone(),
                    replace: current.is_some(),
                })
            })
            .collect()
    }

    fn plan_removal(
        _: &StageNames,
        _: &Self::Actual,
        _: Self::Reads<'_>,
    ) -> Vec<AuthorizerPermissionAction> {
        // It goes with the authorizer's function.
        vec![]
    }

    fn deployer_grants(_: &StageArns) -> Vec<Grant> {
        // GetPolicy, AddPermission and RemovePermission on the stage's
        // event functions: `bucket_notification`'s
        // `HandlerInvokePermissions` grants them.
        vec![]
    }

    async fn apply(
        action: &AuthorizerPermissionAction,
        ctx: &ApplyContext<'_>,
    ) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let AuthorizerPermissionAction::AllowAuthorizer {
            function,
            alias,
            api,
            replace,
            ..
        } = action;
        let id = ctx.api_id(api, &step)?;
        let permission = NewPermission {
            function_name: function.clone(),
            qualifier: alias.clone(),
            statement_id: AUTHORIZER_PERMISSION_ID.to_string(),
            principal: ctx.arns.apigateway_principal().to_string(),
            source_arn: ctx.arns.authorizers_source_arn(&id),
            source_account: None,
        };
        put_statement(ctx, &step, &permission, *replace).await
    }
}
