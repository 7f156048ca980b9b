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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthorizerSource;
    use crate::deploy::desired::tests::{desired, event};
    use crate::deploy::resources::fixtures::converged;

    fn with_authorizer() -> Desired {
        let mut desired = desired();
        desired.events = vec![event(
            "check_token",
            EventSource::Authorizer(AuthorizerSource {
                request: false,
                header: "authorization".into(),
                ttl: 0,
            }),
        )];
        desired
    }

    fn plan(
        desired: &Desired,
        own: &BTreeMap<String, Option<Statement>>,
        api: &Option<ApiState>,
    ) -> Vec<AuthorizerPermissionAction> {
        AuthorizerPermission::plan(desired, own, api)
    }

    #[test]
    fn a_new_api_gets_the_statement_from_the_api_this_deploy_creates() {
        let desired = with_authorizer();
        let actions = plan(&desired, &BTreeMap::new(), &None);
        assert_eq!(
            actions,
            [AuthorizerPermissionAction::AllowAuthorizer {
                handler: "check_token".into(),
                function: "shop-dev-check_token".into(),
                alias: "dev".into(),
                api: ApiRef::New,
                replace: false,
            }]
        );
        // It waits for its own handler's steps and the API's only.
        assert_eq!(
            actions[0].needs(),
            [
                Need::on(Kind::EventFunction, "check_token"),
                Need::all(Kind::Api)
            ]
        );
        assert_eq!(actions[0].instance(), Some("check_token"));
    }

    #[test]
    fn the_statement_follows_the_api_it_names() {
        let desired = with_authorizer();
        let api = converged(&desired).api;
        let id = api.as_ref().unwrap().id.clone();
        let serving = Some(Statement {
            source_arn: Some(desired.arns.authorizers_source_arn(&id)),
        });
        let own = BTreeMap::from([("check_token".to_string(), serving)]);
        assert!(plan(&desired, &own, &api).is_empty(), "already in place");
        // A statement for another API is replaced.
        let stale = Some(Statement {
            source_arn: Some(desired.arns.authorizers_source_arn("old")),
        });
        let own = BTreeMap::from([("check_token".to_string(), stale)]);
        let actions = plan(&desired, &own, &api);
        assert!(matches!(
            &actions[..],
            [AuthorizerPermissionAction::AllowAuthorizer { api: ApiRef::Existing(existing), replace: true, .. }]
                if *existing == id
        ));
    }

    #[test]
    fn only_authorizers_get_it_and_removal_leaves_it_to_the_function() {
        let mut desired = with_authorizer();
        desired.events[0].source = EventSource::Schedule(crate::config::ScheduleSource {
            expression: "rate(1 hour)".into(),
            timezone: None,
            input: None,
        });
        assert!(plan(&desired, &BTreeMap::new(), &None).is_empty());
        let own = BTreeMap::from([(
            "check_token".to_string(),
            Some(Statement { source_arn: None }),
        )]);
        assert!(AuthorizerPermission::plan_removal(desired.arns.names(), &own, &None).is_empty());
    }
}
