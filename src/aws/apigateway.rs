//! API Gateway (REST APIs, v1): APIs, their routes, stages, deployments.
//!
//! API reference: <https://docs.aws.amazon.com/apigateway/latest/api/API_Operations.html>

use std::collections::HashMap;

use aws_sdk_apigateway::primitives::Blob;
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, Op, PatchOperation, PutMode};

use super::{AwsError, Reader, Tags, Writer, absent};

/// A REST API as `GetRestApis` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestApiInfo {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) tags: HashMap<String, String>,
    /// Content types API Gateway passes as binary (`*/*`: all).
    pub(crate) binary_media_types: Vec<String>,
    pub(crate) description: Option<String>,
}

/// One resource (path) of an API and its methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiResource {
    pub(crate) id: String,
    /// Full path: `/`, `/orders`, `/orders/{id}`.
    pub(crate) path: String,
    pub(crate) methods: Vec<ApiMethod>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiMethod {
    /// `GET`, `POST`, `ANY`...
    pub(crate) http_method: String,
    /// The integration's URI, if it has one.
    pub(crate) integration_uri: Option<String>,
}

/// A stage of an API and the deployment it serves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StageInfo {
    pub(crate) deployment_id: Option<String>,
    /// The description of that deployment (read with `GetDeployment`).
    pub(crate) deployment_description: Option<String>,
    /// The throttle of every method (`*/*`): rate per second and burst.
    pub(crate) throttle: Option<(f64, i32)>,
    /// X-Ray tracing of the stage's requests.
    pub(crate) tracing: bool,
}

/// What `CreateRestApi` sends.
#[derive(Debug, Clone)]
pub(crate) struct NewRestApi {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) tags: Tags,
}

/// Every item of an API Gateway listing, page by page: `page(position)`
/// fetches one page and returns its items and the next position. Stops
/// when there is none (or it repeats, as moto's may).
pub(super) async fn every_page<T, Fut>(
    mut page: impl FnMut(Option<String>) -> Fut,
) -> Result<Vec<T>, AwsError>
where
    Fut: Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut found = Vec::new();
    let mut position: Option<String> = None;
    loop {
        let (items, next) = page(position.clone()).await?;
        found.extend(items);
        match next {
            Some(next) if Some(&next) != position.as_ref() => position = Some(next),
            _ => return Ok(found),
        }
    }
}

impl Reader {
    /// Every REST API called `name`, with its tags (ownership is the
    /// caller's decision). Pages through `GetRestApis`.
    pub(crate) async fn rest_apis_named(&self, name: &str) -> Result<Vec<RestApiInfo>, AwsError> {
        every_page(|position| async move {
            let page = self
                .clients
                .apigateway
                .get_rest_apis()
                .limit(500)
                .set_position(position)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("list REST APIs", &e))?;
            let items = page
                .items()
                .iter()
                .filter(|api| api.name() == Some(name))
                .map(|api| RestApiInfo {
                    id: api.id().unwrap_or_default().to_string(),
                    name: name.to_string(),
                    tags: api.tags().cloned().unwrap_or_default(),
                    binary_media_types: api.binary_media_types().to_vec(),
                    description: api.description().map(str::to_string),
                })
                .collect();
            Ok((items, page.position().map(str::to_string)))
        })
        .await
    }

    /// Every resource of the API with its methods and their integrations.
    pub(crate) async fn api_resources(&self, api_id: &str) -> Result<Vec<ApiResource>, AwsError> {
        let step = format!("read the routes of REST API {api_id}");
        let step = step.as_str();
        every_page(|position| async move {
            let page = self
                .clients
                .apigateway
                .get_resources()
                .rest_api_id(api_id)
                .embed("methods")
                .limit(500)
                .set_position(position)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(step, &e))?;
            let items = page
                .items()
                .iter()
                .map(|resource| ApiResource {
                    id: resource.id().unwrap_or_default().to_string(),
                    path: resource.path().unwrap_or("/").to_string(),
                    methods: resource
                        .resource_methods()
                        .into_iter()
                        .flatten()
                        .map(|(name, method)| ApiMethod {
                            http_method: name.clone(),
                            integration_uri: method
                                .method_integration()
                                .and_then(|i| i.uri())
                                .map(str::to_string),
                        })
                        .collect(),
                })
                .collect();
            Ok((items, page.position().map(str::to_string)))
        })
        .await
    }

    /// The stage `stage` of the API and what its deployment says of
    /// itself, if the stage exists.
    pub(crate) async fn api_stage(
        &self,
        api_id: &str,
        stage: &str,
    ) -> Result<Option<StageInfo>, AwsError> {
        let found = absent(
            self.clients
                .apigateway
                .get_stage()
                .rest_api_id(api_id)
                .stage_name(stage)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("read stage {stage} of REST API {api_id}"), &e)
                }),
        )?;
        let Some(stage) = found else {
            return Ok(None);
        };
        let deployment_id = stage.deployment_id().map(str::to_string);
        let throttle = stage
            .method_settings()
            .and_then(|settings| settings.get("*/*"))
            .map(|all| (all.throttling_rate_limit(), all.throttling_burst_limit()));
        let deployment_description = match &deployment_id {
            Some(id) => absent(
                self.clients
                    .apigateway
                    .get_deployment()
                    .rest_api_id(api_id)
                    .deployment_id(id)
                    .send()
                    .await
                    .map_err(|e| {
                        AwsError::from_sdk(format!("read deployment {id} of REST API {api_id}"), &e)
                    }),
            )?
            .and_then(|d| d.description().map(str::to_string)),
            None => None,
        };
        let tracing = stage.tracing_enabled();
        Ok(Some(StageInfo {
            deployment_id,
            deployment_description,
            throttle,
            tracing,
        }))
    }
}

impl Writer {
    /// Creates a regional REST API; returns its id. Sent once: the SDK's
    /// own retry is off for this call, because `CreateRestApi` is not
    /// idempotent (a resend after a lost answer makes a second API); the
    /// caller re-reads before trying again.
    pub(crate) async fn create_rest_api(&self, api: &NewRestApi) -> Result<String, AwsError> {
        let once = aws_sdk_apigateway::config::Builder::default()
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled());
        let created = self
            .clients
            .apigateway
            .create_rest_api()
            .name(&api.name)
            .description(&api.description)
            .endpoint_configuration(
                EndpointConfiguration::builder()
                    .types(EndpointType::Regional)
                    .build(),
            )
            .set_tags(Some(api.tags.map()))
            .customize()
            .config_override(once)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create REST API {}", api.name), &e))?;
        Ok(created.id().unwrap_or_default().to_string())
    }

    /// Replaces the API's definition with an OpenAPI document (mode
    /// overwrite). Returns the import's warnings.
    pub(crate) async fn put_rest_api(
        &self,
        api_id: &str,
        document: &[u8],
    ) -> Result<Vec<String>, AwsError> {
        let answer = self
            .clients
            .apigateway
            .put_rest_api()
            .rest_api_id(api_id)
            .mode(PutMode::Overwrite)
            .fail_on_warnings(false)
            .body(Blob::new(document))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("import the routes of {api_id}"), &e))?;
        Ok(answer.warnings().to_vec())
    }

    /// Replaces fields of the API (`UpdateRestApi`): each a patch path
    /// and its value, an empty value clearing the field.
    // https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateRestApi.html
    pub(crate) async fn set_rest_api_fields(
        &self,
        api_id: &str,
        fields: &[(String, String)],
    ) -> Result<(), AwsError> {
        let patches = fields
            .iter()
            .map(|(path, value)| {
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path(path)
                    .value(value)
                    .build()
            })
            .collect();
        self.clients
            .apigateway
            .update_rest_api()
            .rest_api_id(api_id)
            .set_patch_operations(Some(patches))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("describe REST API {api_id}"), &e))?;
        Ok(())
    }

    /// A new deployment of the API's current definition on `stage`.
    pub(crate) async fn create_deployment(
        &self,
        api_id: &str,
        stage: &str,
        description: &str,
    ) -> Result<(), AwsError> {
        self.clients
            .apigateway
            .create_deployment()
            .rest_api_id(api_id)
            .stage_name(stage)
            .description(description)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("deploy {api_id} to {stage}"), &e))?;
        Ok(())
    }

    /// Sets (or, with `None`, removes) the throttle of every method of a
    /// stage: patch operations on `/*/*`.
    // https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateStage.html
    pub(crate) async fn set_stage_throttle(
        &self,
        api_id: &str,
        stage: &str,
        throttle: Option<(f64, u32)>,
    ) -> Result<(), AwsError> {
        let patch = |op: Op, path: &str, value: Option<String>| {
            PatchOperation::builder()
                .op(op)
                .path(path)
                .set_value(value)
                .build()
        };
        let operations = match throttle {
            Some((rate, burst)) => vec![
                patch(
                    Op::Replace,
                    "/*/*/throttling/rateLimit",
                    Some(rate.to_string()),
                ),
                patch(
                    Op::Replace,
                    "/*/*/throttling/burstLimit",
                    Some(burst.to_string()),
                ),
            ],
            None => vec![patch(Op::Remove, "/*/*", None)],
        };
        self.clients
            .apigateway
            .update_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .set_patch_operations(Some(operations))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("set the throttle of stage {stage}"), &e))?;
        Ok(())
    }

    /// Turns X-Ray tracing of the stage's requests on or off.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-enabling-xray.html
    pub(crate) async fn set_stage_tracing(
        &self,
        api_id: &str,
        stage: &str,
        enabled: bool,
    ) -> Result<(), AwsError> {
        self.clients
            .apigateway
            .update_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .patch_operations(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/tracingEnabled")
                    .value(enabled.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("set the tracing of stage {stage}"), &e))?;
        Ok(())
    }

    pub(crate) async fn delete_rest_api(&self, api_id: &str) -> Result<(), AwsError> {
        self.clients
            .apigateway
            .delete_rest_api()
            .rest_api_id(api_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete REST API {api_id}"), &e))?;
        Ok(())
    }
}
