//! The one resource-based policy statement that lets the stage's REST API
//! invoke the alias: a fixed statement id and a source ARN covering the
//! whole API, never one statement per route (a function policy is
//! limited to 20 KB).
//! <https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html>

use serde::Serialize;

use super::api::ApiState;
use super::{
    ActionInfo, Actual, ApiRef, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource,
    all_of,
};
use crate::aws::{AwsError, ErrorClass, NewPermission, Reader};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::names::{PERMISSION_ID, StageArns, StageNames};

pub(crate) struct Permission;

/// slx's statement in the alias's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    /// The API it allows (`arn:…:execute-api:…:<api-id>/*`).
    pub(crate) source_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum PermissionAction {
    /// Grant the API the right to invoke the alias; `replace` drops a
    /// statement that names another API first.
    AddInvokePermission {
        function: String,
        alias: String,
        api: ApiRef,
        replace: bool,
    },
}

impl ActionInfo for PermissionAction {
    fn describe(&self, _: &StageNames) -> String {
        "allow the API to invoke the alias".into()
    }

    fn needs(&self) -> Vec<Need<'_>> {
        // The statement lives on the alias and names the API.
        all_of(&[Kind::Alias, Kind::Api])
    }

    fn change(&self) -> Change {
        Change::Create
    }
}

/// slx's statement in a function policy document, if there is one.
fn find_statement(policy: &str) -> Option<Statement> {
    find_statement_with(policy, PERMISSION_ID)
}

/// The statement `sid` of a function policy document, if there is one.
pub(crate) fn find_statement_with(policy: &str, sid: &str) -> Option<Statement> {
    let document: serde_json::Value = serde_json::from_str(policy).ok()?;
    let statement = document["Statement"]
        .as_array()?
        .iter()
        .find(|statement| statement["Sid"] == sid)?;
    Some(Statement {
        source_arn: statement["Condition"]["ArnLike"]["AWS:SourceArn"]
            .as_str()
            .map(str::to_string),
    })
}

impl Resource for Permission {
    type Actual = Option<Statement>;
    type Action = PermissionAction;

    type Reads<'a> = &'a Option<ApiState>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        &actual.api
    }

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        let policy = reader.policy(&names.function, &names.alias).await?;
        Ok(policy.as_deref().and_then(find_statement))
    }

    fn plan(
        desired: &Desired,
        own: &Self::Actual,
        reads: Self::Reads<'_>,
    ) -> Vec<PermissionAction> {
        let api = match reads {
            Some(api) => ApiRef::Existing(api.id.clone()),
            None => ApiRef::New,
        };
        let current = match (&api, own) {
            (ApiRef::Existing(id), Some(statement)) => {
                statement.source_arn.as_deref() == Some(desired.arns.api_source_arn(id).as_str())
            }
            _ => false,
        };
        if current {
            return vec![];
        }
        vec![PermissionAction::AddInvokePermission {
            function: desired.arns.function.clone(),
            alias: desired.arns.alias.clone(),
            api,
            // A statement for an older API keeps the fixed id: drop it.
            replace: own.is_some(),
        }]
    }

    fn plan_removal(_: &StageNames, _: &Self::Actual, _: Self::Reads<'_>) -> Vec<PermissionAction> {
        // It goes with the function.
        vec![]
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        vec![Grant::new(
            "StageInvokePermission",
            &[
                "lambda:GetPolicy",
                "lambda:AddPermission",
                "lambda:RemovePermission",
            ],
            vec![arns.function_arn(), format!("{}:*", arns.function_arn())],
        )]
    }

    async fn apply(action: &PermissionAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let PermissionAction::AddInvokePermission {
            function,
            alias,
            api,
            replace,
        } = action;
        let id = ctx.api_id(api, step)?;
        let permission = NewPermission {
            function_name: function.clone(),
            qualifier: alias.clone(),
            statement_id: PERMISSION_ID.to_string(),
            principal: ctx.arns.apigateway_principal().to_string(),
            source_arn: ctx.arns.api_source_arn(&id),
            source_account: None,
        };
        put_statement(ctx, step, &permission, *replace).await
    }
}

/// Adds `permission` to its alias's policy; `replace` first drops a
/// statement of the same id (naming another source).
pub(crate) async fn put_statement(
    ctx: &ApplyContext<'_>,
    step: &str,
    permission: &NewPermission,
    replace: bool,
) -> Result<(), AwsError> {
    let w = ctx.writer;
    let (function, alias, sid) = (
        &permission.function_name,
        &permission.qualifier,
        permission.statement_id.as_str(),
    );
    if replace {
        ctx.call_tolerating(step, ErrorClass::NotFound, || {
            w.remove_permission(function, alias, sid)
        })
        .await?;
    }
    match ctx
        .call(step, RETRY_ALWAYS, || w.add_permission(permission))
        .await
    {
        Ok(()) => Ok(()),
        // Lambda refuses a statement id that exists: an earlier
        // attempt whose answer was lost may have added it. Done if it
        // names this source; replaced if not.
        Err(error) if error.class == ErrorClass::AlreadyExists => {
            let policy = ctx
                .reader
                .policy(function, alias)
                .await
                .map_err(|e| e.in_step(step))?;
            let current = policy
                .as_deref()
                .and_then(|policy| find_statement_with(policy, sid));
            if current
                .is_some_and(|s| s.source_arn.as_deref() == Some(permission.source_arn.as_str()))
            {
                return Ok(());
            }
            ctx.call_tolerating(step, ErrorClass::NotFound, || {
                w.remove_permission(function, alias, sid)
            })
            .await?;
            ctx.call(step, RETRY_ALWAYS, || w.add_permission(permission))
                .await
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_is_found_by_its_id_with_its_source() {
        let policy = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"other","Effect":"Allow"},
            {"Sid":"slx-apigateway-invoke","Effect":"Allow",
             "Principal":{"Service":"apigateway.amazonaws.com"},
             "Action":"lambda:InvokeFunction",
             "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:1:abc/*"}}}]}"#;
        assert_eq!(
            find_statement(policy),
            Some(Statement {
                source_arn: Some("arn:aws:execute-api:us-east-1:1:abc/*".into())
            })
        );
        assert_eq!(find_statement(r#"{"Statement":[{"Sid":"other"}]}"#), None);
        assert_eq!(find_statement("not json"), None);
    }
}
