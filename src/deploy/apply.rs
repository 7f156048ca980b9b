//! Executes a plan: the only code in slx that mutates AWS.
//!
//! Each action is one step with its own name, timing and error context.
//! Lambda mutations wait for the function to be ready first; transient
//! errors, conflicts and a not-yet-assumable new role are retried. A
//! deploy that stops half-way leaves AWS in a state the next `read` +
//! `plan` completes: every action is safe to repeat.

use std::time::{Duration, Instant};

use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, PutMode};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State,
};
use serde::Serialize;

use super::model::{Actual, Desired};
use super::plan::Action;
use super::policy;
use super::read::{PERMISSION_ID, Target};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::{AwsError, Backoff, Clients, ErrorClass, Sleeper, retry};
use crate::config::Arch;

/// Receives each finished step (the CLI prints it).
pub trait StepReporter: Sync {
    fn step_done(&self, step: &StepReport);
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    #[serde(flatten)]
    pub action: Action,
    pub description: String,
    pub seconds: f64,
}

/// What applying produced.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Applied {
    pub steps: Vec<StepReport>,
    pub rest_api_id: Option<String>,
    /// The version the alias points at, when a version was published.
    pub published_version: Option<String>,
}

/// Inputs to apply beyond the plan.
pub struct ApplyInput<'a> {
    pub target: &'a Target,
    pub desired: Option<&'a Desired>,
    pub actual: &'a Actual,
    pub zip: Option<&'a [u8]>,
    /// Version description: when and from which commit.
    pub description: String,
}

struct Applier<'a, S: Sleeper> {
    clients: &'a Clients,
    sleeper: &'a S,
    input: &'a ApplyInput<'a>,
    api_id: Option<String>,
    alias_exists: bool,
    /// The function was seen ready and not mutated since: skip a wait.
    ready: bool,
    published: Option<String>,
}

const RETRY_ALWAYS: &[ErrorClass] = &[ErrorClass::Transient, ErrorClass::Conflict];
/// Also wait out a role that Lambda cannot assume yet (IAM propagation).
const RETRY_ROLE: &[ErrorClass] = &[
    ErrorClass::Transient,
    ErrorClass::Conflict,
    ErrorClass::RoleNotReady,
];

pub async fn apply(
    clients: &Clients,
    sleeper: &impl Sleeper,
    input: &ApplyInput<'_>,
    actions: &[Action],
    reporter: &dyn StepReporter,
) -> Result<Applied, AwsError> {
    let mut applier = Applier {
        clients,
        sleeper,
        input,
        api_id: input.actual.api.as_ref().map(|a| a.id.clone()),
        ready: false,
        alias_exists: input.actual.alias.is_some(),
        published: None,
    };
    let mut applied = Applied::default();
    for action in actions {
        let started = Instant::now();
        if let Some(version) = applier.run(action).await? {
            applied.published_version = Some(version);
        }
        let report = StepReport {
            action: action.clone(),
            description: action.describe(&input.target.function_name),
            seconds: started.elapsed().as_secs_f64(),
        };
        reporter.step_done(&report);
        applied.steps.push(report);
    }
    applied.rest_api_id = applier.api_id;
    Ok(applied)
}

fn lambda_arch(arch: Arch) -> Architecture {
    match arch {
        Arch::X86_64 => Architecture::X8664,
        Arch::Arm64 => Architecture::Arm64,
    }
}

impl<'a, S: Sleeper> Applier<'a, S> {
    fn desired(&self, step: &str) -> Result<&'a Desired, AwsError> {
        self.input.desired.ok_or_else(|| AwsError {
            step: step.into(),
            class: ErrorClass::Fatal,
            code: None,
            detail: "internal: a deploy step was planned without a desired state".into(),
            hint: None,
        })
    }

    fn api_id(&self, step: &str) -> Result<String, AwsError> {
        self.api_id.clone().ok_or_else(|| AwsError {
            step: step.into(),
            class: ErrorClass::Fatal,
            code: None,
            detail: "internal: no REST API id".into(),
            hint: None,
        })
    }

    /// One SDK call for `step`, retried for `classes` with backoff.
    async fn call_aws<T, E, F, Fut>(
        &self,
        step: &str,
        classes: &[ErrorClass],
        mut call: F,
    ) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        retry(self.sleeper, Backoff::default(), classes, || {
            let pending = call();
            async move { pending.await.map_err(|e| AwsError::from_sdk(step, &e)) }
        })
        .await
    }

    /// Runs one action; returns a published version number if any.
    async fn run(&mut self, action: &Action) -> Result<Option<String>, AwsError> {
        let target = self.input.target;
        let step = action.describe(&target.function_name);
        let step = step.as_str();
        let c = self.clients;
        match action {
            Action::CreateRole => {
                let mut request = c
                    .iam
                    .create_role()
                    .role_name(&target.role_name)
                    .assume_role_policy_document(policy::trust_policy())
                    .description(format!(
                        "Lambda role of slx app {} stage {}",
                        target.app, target.stage
                    ));
                for (key, value) in target.tags() {
                    request = request.tags(
                        aws_sdk_iam::types::Tag::builder()
                            .key(key)
                            .value(value)
                            .build()
                            .map_err(|e| fatal(step, e))?,
                    );
                }
                let result = self
                    .call_aws(step, RETRY_ALWAYS, || request.clone().send())
                    .await;
                tolerate(result, ErrorClass::AlreadyExists)?;
            }
            Action::PutRolePolicy => {
                let document = &self.desired(step)?.role_policy;
                self.call_aws(step, RETRY_ALWAYS, || {
                    c.iam
                        .put_role_policy()
                        .role_name(&target.role_name)
                        .policy_name(policy::POLICY_NAME)
                        .policy_document(document)
                        .send()
                })
                .await?;
            }
            Action::CreateLogGroup => {
                let tags = target.tag_map();
                let result = self
                    .call_aws(step, RETRY_ALWAYS, || {
                        c.logs
                            .create_log_group()
                            .log_group_name(&target.log_group)
                            .set_tags(Some(tags.clone()))
                            .send()
                    })
                    .await;
                tolerate(result, ErrorClass::AlreadyExists)?;
            }
            Action::SetLogRetention { days } => {
                self.call_aws(step, RETRY_ALWAYS, || {
                    c.logs
                        .put_retention_policy()
                        .log_group_name(&target.log_group)
                        .retention_in_days(*days as i32)
                        .send()
                })
                .await?;
            }
            Action::CreateFunction => {
                let desired = self.desired(step)?;
                let zip = self.zip(step)?;
                let tags = target.tag_map();
                self.call_aws(step, RETRY_ROLE, || {
                    c.lambda
                        .create_function()
                        .function_name(&target.function_name)
                        .runtime(Runtime::Providedal2023)
                        .handler("bootstrap")
                        .role(target.role_arn())
                        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
                        .architectures(lambda_arch(desired.arch))
                        .memory_size(desired.config.memory as i32)
                        .timeout(desired.config.timeout as i32)
                        .environment(environment(desired))
                        .description(format!("slx app {} stage {}", target.app, target.stage))
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await?;
                self.ready = false;
                self.wait_ready(step).await?;
            }
            Action::UpdateCode { .. } => {
                let desired = self.desired(step)?;
                let zip = self.zip(step)?;
                self.wait_ready(step).await?;
                self.call_aws(step, RETRY_ALWAYS, || {
                    c.lambda
                        .update_function_code()
                        .function_name(&target.function_name)
                        .zip_file(Blob::new(zip))
                        .architectures(lambda_arch(desired.arch))
                        .send()
                })
                .await?;
                self.ready = false;
                self.wait_ready(step).await?;
            }
            Action::UpdateConfig { change } => {
                let desired = self.desired(step)?;
                self.wait_ready(step).await?;
                // Only what changed: a field left out keeps its value, so a
                // console edit elsewhere is not silently reverted.
                self.call_aws(step, RETRY_ROLE, || {
                    c.lambda
                        .update_function_configuration()
                        .function_name(&target.function_name)
                        .set_role(change.role.then(|| target.role_arn()))
                        .set_memory_size(change.memory.map(|m| m as i32))
                        .set_timeout(change.timeout.map(|t| t as i32))
                        .set_environment(change.env.then(|| environment(desired)))
                        .send()
                })
                .await?;
                self.ready = false;
                self.wait_ready(step).await?;
            }
            Action::PublishAndPointAlias => {
                let desired = self.desired(step)?;
                self.wait_ready(step).await?;
                let published = self
                    .call_aws(step, RETRY_ALWAYS, || {
                        c.lambda
                            .publish_version()
                            .function_name(&target.function_name)
                            // AWS refuses to publish if $LATEST is not the
                            // code this deploy checked.
                            .code_sha256(&desired.code_sha256)
                            .description(&self.input.description)
                            .send()
                    })
                    .await?;
                let version = published.version().unwrap_or_default().to_string();
                if self.alias_exists {
                    self.call_aws(step, RETRY_ALWAYS, || {
                        c.lambda
                            .update_alias()
                            .function_name(&target.function_name)
                            .name(&target.stage)
                            .function_version(&version)
                            .send()
                    })
                    .await?;
                } else {
                    self.call_aws(step, RETRY_ALWAYS, || {
                        c.lambda
                            .create_alias()
                            .function_name(&target.function_name)
                            .name(&target.stage)
                            .function_version(&version)
                            .description(format!("slx stage {}", target.stage))
                            .send()
                    })
                    .await?;
                    self.alias_exists = true;
                }
                self.published = Some(version.clone());
                return Ok(Some(version));
            }
            Action::PruneVersions { keep } => {
                let aliased = self
                    .published
                    .clone()
                    .or_else(|| self.input.actual.alias.as_ref().map(|(v, _)| v.clone()));
                let versions = super::versions::list(c, &target.function_name).await?;
                let numbers: Vec<String> = versions.into_iter().map(|v| v.version).collect();
                let protected = aliased.into_iter().collect();
                for version in super::versions::to_prune(&numbers, *keep as usize, &protected) {
                    let result = self
                        .call_aws(step, RETRY_ALWAYS, || {
                            c.lambda
                                .delete_function()
                                .function_name(&target.function_name)
                                .qualifier(&version)
                                .send()
                        })
                        .await;
                    tolerate(result, ErrorClass::NotFound)?;
                }
            }
            Action::CreateApi => {
                let tags = target.tag_map();
                let created = self
                    .call_aws(step, RETRY_ALWAYS, || {
                        c.apigateway
                            .create_rest_api()
                            .name(&target.function_name)
                            .description(format!("slx app {} stage {}", target.app, target.stage))
                            .endpoint_configuration(
                                EndpointConfiguration::builder()
                                    .types(EndpointType::Regional)
                                    .build(),
                            )
                            .set_tags(Some(tags.clone()))
                            .send()
                    })
                    .await?;
                let id = created.id().unwrap_or_default().to_string();
                self.api_id = Some(id);
            }
            Action::SetRoutes { .. } => {
                let desired = self.desired(step)?;
                let api_id = self.api_id(step)?;
                let document = super::openapi::document(desired, target);
                self.call_aws(step, RETRY_ALWAYS, || {
                    c.apigateway
                        .put_rest_api()
                        .rest_api_id(&api_id)
                        .mode(PutMode::Overwrite)
                        .fail_on_warnings(false)
                        .body(aws_sdk_apigateway::primitives::Blob::new(document.clone()))
                        .send()
                })
                .await?;
            }
            Action::AddInvokePermission { replace } => {
                let api_id = self.api_id(step)?;
                if *replace {
                    // The statement names an older API: drop it, so there
                    // is always exactly one.
                    let removed = self
                        .call_aws(step, RETRY_ALWAYS, || {
                            c.lambda
                                .remove_permission()
                                .function_name(&target.function_name)
                                .qualifier(&target.stage)
                                .statement_id(PERMISSION_ID)
                                .send()
                        })
                        .await;
                    tolerate(removed, ErrorClass::NotFound)?;
                }
                let source_arn = target.source_arn(&api_id);
                self.call_aws(step, RETRY_ALWAYS, || {
                    c.lambda
                        .add_permission()
                        .function_name(&target.function_name)
                        .qualifier(&target.stage)
                        .statement_id(PERMISSION_ID)
                        .action("lambda:InvokeFunction")
                        .principal("apigateway.amazonaws.com")
                        .source_arn(&source_arn)
                        .send()
                })
                .await?;
            }
            Action::DeployApi => {
                let api_id = self.api_id(step)?;
                self.call_aws(step, RETRY_ALWAYS, || {
                    c.apigateway
                        .create_deployment()
                        .rest_api_id(&api_id)
                        .stage_name(&target.stage)
                        .description(&self.input.description)
                        .send()
                })
                .await?;
            }
            Action::DeleteApi => {
                let api_id = self.api_id(step)?;
                let result = self
                    .call_aws(step, RETRY_ALWAYS, || {
                        c.apigateway.delete_rest_api().rest_api_id(&api_id).send()
                    })
                    .await;
                tolerate(result, ErrorClass::NotFound)?;
                self.api_id = None;
            }
            Action::DeleteFunction => {
                let result = self
                    .call_aws(step, RETRY_ALWAYS, || {
                        c.lambda
                            .delete_function()
                            .function_name(&target.function_name)
                            .send()
                    })
                    .await;
                tolerate(result, ErrorClass::NotFound)?;
            }
            Action::DeleteLogGroup => {
                let result = self
                    .call_aws(step, RETRY_ALWAYS, || {
                        c.logs
                            .delete_log_group()
                            .log_group_name(&target.log_group)
                            .send()
                    })
                    .await;
                tolerate(result, ErrorClass::NotFound)?;
            }
            Action::DeleteRole => {
                let policy = self
                    .call_aws(step, RETRY_ALWAYS, || {
                        c.iam
                            .delete_role_policy()
                            .role_name(&target.role_name)
                            .policy_name(policy::POLICY_NAME)
                            .send()
                    })
                    .await;
                tolerate(policy, ErrorClass::NotFound)?;
                let result = self
                    .call_aws(step, RETRY_ALWAYS, || {
                        c.iam.delete_role().role_name(&target.role_name).send()
                    })
                    .await;
                tolerate(result, ErrorClass::NotFound)?;
            }
        }
        Ok(None)
    }

    fn zip(&self, step: &str) -> Result<&'a [u8], AwsError> {
        self.input.zip.ok_or_else(|| AwsError {
            step: step.into(),
            class: ErrorClass::Fatal,
            code: None,
            detail: "internal: no zip to upload".into(),
            hint: None,
        })
    }

    /// Waits until the function accepts the next mutation: State=Active
    /// and no update in progress.
    async fn wait_ready(&mut self, step: &str) -> Result<(), AwsError> {
        if self.ready {
            return Ok(());
        }
        let target = self.input.target;
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut delay = Duration::from_millis(200);
        loop {
            let config = self
                .call_aws(step, &[ErrorClass::Transient], || {
                    self.clients
                        .lambda
                        .get_function_configuration()
                        .function_name(&target.function_name)
                        .send()
                })
                .await?;
            let state = config.state();
            let update = config.last_update_status();
            if matches!(state, Some(State::Failed))
                || matches!(update, Some(LastUpdateStatus::Failed))
            {
                let reason = config
                    .last_update_status_reason()
                    .or(config.state_reason())
                    .unwrap_or("no reason given");
                return Err(AwsError {
                    step: step.into(),
                    class: ErrorClass::Fatal,
                    code: config
                        .last_update_status_reason_code()
                        .map(|c| c.as_str().to_string()),
                    detail: format!("Lambda reports the function failed: {reason}"),
                    hint: Some("fix the cause and deploy again".into()),
                });
            }
            // Lambda omits LastUpdateStatus before the first update: an
            // Active function without one is ready.
            let ready = matches!(state, Some(State::Active) | None)
                && !matches!(update, Some(LastUpdateStatus::InProgress));
            if ready {
                self.ready = true;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(AwsError {
                    step: step.into(),
                    class: ErrorClass::Conflict,
                    code: None,
                    detail: "the function did not become ready within 5 minutes".into(),
                    hint: Some(
                        "check the function in the Lambda console, then deploy again".into(),
                    ),
                });
            }
            self.sleeper.sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(3));
        }
    }
}

fn environment(desired: &Desired) -> Environment {
    Environment::builder()
        .set_variables(Some(desired.config.env.clone().into_iter().collect()))
        .build()
}

/// Treats one error class as success (e.g. NotFound when deleting).
fn tolerate<T>(result: Result<T, AwsError>, class: ErrorClass) -> Result<(), AwsError> {
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.class == class => Ok(()),
        Err(error) => Err(error),
    }
}

fn fatal(step: &str, error: impl std::fmt::Display) -> AwsError {
    AwsError {
        step: step.into(),
        class: ErrorClass::Fatal,
        code: None,
        detail: error.to_string(),
        hint: None,
    }
}
