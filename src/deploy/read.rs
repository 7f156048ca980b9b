//! Reads what AWS holds for one stage into `Actual`, by deterministic
//! names and slx tags, with read-only calls only. No local state needed.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_apigateway::types::RestApi;

use super::model::{Actual, ApiState, FunctionState, Permission, ResourceState};
use super::policy;
use crate::aws::{AwsError, Clients, ErrorClass};
use crate::config::{Arch, Method};

pub const TAG_APP: &str = "slx:app";
pub const TAG_STAGE: &str = "slx:stage";
/// The fixed statement id of the API's one invoke permission.
pub const PERMISSION_ID: &str = "slx-apigateway-invoke";

/// Names and expectations that identify a stage's resources.
#[derive(Debug, Clone)]
pub struct Target {
    pub app: String,
    pub stage: String,
    pub function_name: String,
    pub role_name: String,
    pub log_group: String,
    pub region: String,
    pub account: String,
}

impl Target {
    pub fn alias_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}:{}",
            self.region, self.account, self.function_name, self.stage
        )
    }

    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account, self.role_name)
    }

    pub fn integration_uri(&self) -> String {
        format!(
            "arn:aws:apigateway:{}:lambda:path/2015-03-31/functions/{}/invocations",
            self.region,
            self.alias_arn()
        )
    }

    pub fn source_arn(&self, api_id: &str) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{api_id}/*",
            self.region, self.account
        )
    }

    pub fn invoke_url(&self, api_id: &str) -> String {
        format!(
            "https://{api_id}.execute-api.{}.amazonaws.com/{}",
            self.region, self.stage
        )
    }

    pub fn tags(&self) -> Vec<(&'static str, String)> {
        vec![(TAG_APP, self.app.clone()), (TAG_STAGE, self.stage.clone())]
    }

    pub fn tag_map(&self) -> std::collections::HashMap<String, String> {
        self.tags()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }
}

/// The account id of the credentials in use.
pub async fn account_id(clients: &Clients) -> Result<String, AwsError> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("identify the AWS account (sts:GetCallerIdentity)", &e))?;
    Ok(identity.account().unwrap_or_default().to_string())
}

/// Everything that exists for `target`.
pub async fn read(clients: &Clients, target: &Target) -> Result<Actual, AwsError> {
    let account = std::future::ready(Ok(target.account.clone()));
    Ok(read_with_account(clients, target, account).await?.1)
}

/// Reads the stage while `account` (the account id, which only the API's
/// routes and permission need) resolves alongside: independent reads run
/// at once, and the longest chain is two calls (role → its policy; the
/// API's id → its routes, stage and permission). `names.account` is not
/// used. Returns the account id and what exists.
pub async fn read_with_account(
    clients: &Clients,
    names: &Target,
    account: impl Future<Output = Result<String, AwsError>>,
) -> Result<(String, Actual), AwsError> {
    let (account, role, log_group, function, alias, api) = tokio::try_join!(
        account,
        read_role(clients, names),
        read_log_group(clients, names),
        read_function(clients, names),
        read_alias(clients, names),
        find_api(clients, names),
    )?;
    let target = Target {
        account: account.clone(),
        ..names.clone()
    };
    let (api, permission) = match api {
        Some(api) => read_api(clients, &target, api.id().unwrap_or_default()).await?,
        None => (None, Permission::Missing),
    };
    let alias = alias.filter(|_| function.is_some());
    let actual = Actual {
        role,
        log_group,
        function,
        alias,
        api,
        permission,
    };
    Ok((account, actual))
}

fn absent<T>(result: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.class == ErrorClass::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

async fn read_role(clients: &Clients, target: &Target) -> Result<Option<Option<String>>, AwsError> {
    let step = format!("read IAM role {}", target.role_name);
    let role = absent(
        clients
            .iam
            .get_role()
            .role_name(&target.role_name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e)),
    )?;
    if role.is_none() {
        return Ok(None);
    }
    let document = absent(
        clients
            .iam
            .get_role_policy()
            .role_name(&target.role_name)
            .policy_name(policy::POLICY_NAME)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e)),
    )?;
    Ok(Some(document.and_then(|d| {
        policy::canonical_from_iam(d.policy_document())
    })))
}

async fn read_log_group(
    clients: &Clients,
    target: &Target,
) -> Result<Option<Option<u32>>, AwsError> {
    let groups = clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&target.log_group)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("read log group {}", target.log_group), &e))?;
    Ok(groups
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(target.log_group.as_str()))
        .map(|g| g.retention_in_days().map(|d| d as u32)))
}

fn function_state(config: &aws_sdk_lambda::types::FunctionConfiguration) -> FunctionState {
    let arch = match config.architectures().first() {
        Some(aws_sdk_lambda::types::Architecture::Arm64) => Arch::Arm64,
        _ => Arch::X86_64,
    };
    FunctionState {
        code_sha256: config.code_sha256().unwrap_or_default().to_string(),
        arch,
        memory: config.memory_size().unwrap_or_default() as u32,
        timeout: config.timeout().unwrap_or_default() as u32,
        env: config
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        role_arn: config.role().unwrap_or_default().to_string(),
    }
}

async fn read_function(
    clients: &Clients,
    target: &Target,
) -> Result<Option<FunctionState>, AwsError> {
    let step = format!("read function {}", target.function_name);
    let Some(function) = absent(
        clients
            .lambda
            .get_function()
            .function_name(&target.function_name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e)),
    )?
    else {
        return Ok(None);
    };
    let tags = function.tags();
    let owned = tags.and_then(|t| t.get(TAG_APP)) == Some(&target.app)
        && tags.and_then(|t| t.get(TAG_STAGE)) == Some(&target.stage);
    if !owned {
        return Err(not_ours(
            &step,
            &format!("function {}", target.function_name),
        ));
    }
    Ok(function.configuration().map(function_state))
}

fn not_ours(step: &str, what: &str) -> AwsError {
    AwsError {
        step: step.to_string(),
        class: ErrorClass::Fatal,
        code: None,
        detail: format!(
            "{what} exists but is not tagged as this app's stage; slx will not take it over"
        ),
        hint: Some("rename the app or stage in slx.toml, or delete the existing resource".into()),
    }
}

/// The version the stage's alias serves, if the alias exists.
pub async fn alias_version(clients: &Clients, target: &Target) -> Result<Option<String>, AwsError> {
    let step = format!("read alias {} of {}", target.stage, target.function_name);
    let alias = absent(
        clients
            .lambda
            .get_alias()
            .function_name(&target.function_name)
            .name(&target.stage)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e)),
    )?;
    Ok(alias.map(|a| a.function_version().unwrap_or_default().to_string()))
}

/// The version the alias serves and that version's settings, in one
/// call: `GetFunction` qualified by the alias.
async fn read_alias(
    clients: &Clients,
    target: &Target,
) -> Result<Option<(String, FunctionState)>, AwsError> {
    let step = format!("read alias {} of {}", target.stage, target.function_name);
    let served = absent(
        clients
            .lambda
            .get_function()
            .function_name(&target.function_name)
            .qualifier(&target.stage)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e)),
    )?;
    Ok(served.and_then(|served| {
        let config = served.configuration()?;
        Some((config.version()?.to_string(), function_state(config)))
    }))
}

async fn read_permission(
    clients: &Clients,
    target: &Target,
    api_id: &str,
) -> Result<Permission, AwsError> {
    let policy = absent(
        clients
            .lambda
            .get_policy()
            .function_name(&target.function_name)
            .qualifier(&target.stage)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("read the invoke permission of {}", target.function_name),
                    &e,
                )
            }),
    )?;
    let Some(policy) = policy.and_then(|p| p.policy().map(str::to_string)) else {
        return Ok(Permission::Missing);
    };
    let document: serde_json::Value = serde_json::from_str(&policy).unwrap_or_default();
    let Some(statement) = document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|statement| statement["Sid"] == PERMISSION_ID)
    else {
        return Ok(Permission::Missing);
    };
    let current = statement.to_string().contains(&target.source_arn(api_id));
    Ok(if current {
        Permission::Current
    } else {
        Permission::Stale
    })
}

/// The stage's REST API: named `<app>-<stage>` and tagged for it.
pub async fn find_api(clients: &Clients, target: &Target) -> Result<Option<RestApi>, AwsError> {
    let mut position: Option<String> = None;
    loop {
        let page = clients
            .apigateway
            .get_rest_apis()
            .limit(500)
            .set_position(position.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("list REST APIs", &e))?;
        if let Some(api) = page.items().iter().find(|api| {
            let tags = api.tags();
            api.name() == Some(target.function_name.as_str())
                && tags.and_then(|t| t.get(TAG_APP)) == Some(&target.app)
                && tags.and_then(|t| t.get(TAG_STAGE)) == Some(&target.stage)
        }) {
            return Ok(Some(api.clone()));
        }
        match page.position() {
            Some(next) if Some(next) != position.as_deref() => position = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}

/// The stage's REST API with its routes and stage, and the invoke
/// permission that names it.
async fn read_api(
    clients: &Clients,
    target: &Target,
    id: &str,
) -> Result<(Option<ApiState>, Permission), AwsError> {
    let id = id.to_string();
    let (resources, stage_exists, permission) = tokio::try_join!(
        read_resources(clients, target, &id),
        read_stage(clients, target, &id),
        read_permission(clients, target, &id),
    )?;
    let api = ApiState {
        id,
        resources,
        stage_exists,
    };
    Ok((Some(api), permission))
}

async fn read_resources(
    clients: &Clients,
    target: &Target,
    id: &str,
) -> Result<BTreeMap<String, ResourceState>, AwsError> {
    let step = format!("read the routes of REST API {id}");
    let mut resources = BTreeMap::new();
    let mut position: Option<String> = None;
    let expected_uri = target.integration_uri();
    loop {
        let page = clients
            .apigateway
            .get_resources()
            .rest_api_id(id)
            .embed("methods")
            .limit(500)
            .set_position(position.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e))?;
        for resource in page.items() {
            let methods: BTreeSet<Method> = resource
                .resource_methods()
                .into_iter()
                .flatten()
                .filter(|(_, method)| {
                    // A method whose integration does not reach this
                    // stage's alias counts as missing: the plan re-puts it.
                    method
                        .method_integration()
                        .and_then(|i| i.uri())
                        .is_some_and(|uri| uri == expected_uri)
                })
                .filter_map(|(name, _)| Method::parse(name))
                .collect();
            resources.insert(
                resource.path().unwrap_or("/").to_string(),
                ResourceState {
                    id: resource.id().unwrap_or_default().to_string(),
                    methods,
                },
            );
        }
        match page.position() {
            Some(next) if Some(next) != position.as_deref() => position = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(resources)
}

async fn read_stage(clients: &Clients, target: &Target, id: &str) -> Result<bool, AwsError> {
    let stage = absent(
        clients
            .apigateway
            .get_stage()
            .rest_api_id(id)
            .stage_name(&target.stage)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("read stage {} of REST API {id}", target.stage), &e)
            }),
    )?;
    Ok(stage.is_some())
}
