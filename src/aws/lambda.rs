//! Lambda: functions, versions, aliases, resource policies, Invoke.
//!
//! API reference: <https://docs.aws.amazon.com/lambda/latest/api/API_Operations.html>

use std::collections::{BTreeMap, HashMap};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    AliasRoutingConfiguration, Architecture, Environment, EphemeralStorage, FunctionCode,
    FunctionConfiguration, LastUpdateStatus, LogType, Runtime, State, TracingConfig, TracingMode,
    VpcConfig,
};
use base64::Engine;

use super::{AwsError, ErrorClass, Reader, Tags, Writer, absent};
use crate::config::{Arch, Vpc};

/// A function (`$LATEST`) or one published version, as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionInfo {
    /// `$LATEST` or the version number.
    pub(crate) version: String,
    pub(crate) code_sha256: String,
    pub(crate) arch: Arch,
    pub(crate) memory: u32,
    pub(crate) timeout: u32,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) role_arn: String,
    /// The function's ARN (unqualified for `$LATEST`).
    pub(crate) arn: String,
    /// `/tmp` in MB.
    pub(crate) ephemeral_storage: u32,
    /// Layer version ARNs, in order.
    pub(crate) layers: Vec<String>,
    /// X-Ray tracing mode `Active`.
    pub(crate) tracing: bool,
    /// `None`: not in a VPC (Lambda reports empty lists).
    pub(crate) vpc: Option<Vpc>,
    /// `$LATEST`'s description, or a version's (its release's).
    pub(crate) description: String,
    /// `State: Failed`: Lambda could not create it (its reason); such a
    /// function takes no update, only a deletion.
    /// <https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html>
    pub(crate) creation_failed: Option<String>,
}

/// Whether a function accepts the next mutation (`GetFunction`'s configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Readiness {
    /// `Pending`, `Active`, `Inactive`, `Failed`; `None` if not reported.
    pub(crate) state: Option<String>,
    /// `InProgress`, `Successful`, `Failed`; absent before the first update.
    pub(crate) last_update_status: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) reason_code: Option<String>,
}

impl Readiness {
    /// `State: Failed`: the function could not be created.
    pub(crate) fn creation_failed(&self) -> bool {
        self.state.as_deref() == Some(State::Failed.as_str())
    }

    /// `LastUpdateStatus: Failed`: the last update could not be applied;
    /// the previous code and configuration still serve, and Lambda takes
    /// the next update.
    // https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
    pub(crate) fn update_failed(&self) -> bool {
        self.last_update_status.as_deref() == Some(LastUpdateStatus::Failed.as_str())
    }

    /// No update in progress, and Active, Inactive or not reported. An
    /// idle function goes Inactive; updating it is allowed (Lambda makes
    /// it Pending, then Active), so waiting for Active would never end.
    // https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
    pub(crate) fn ready(&self) -> bool {
        matches!(self.state.as_deref(), Some("Active" | "Inactive") | None)
            && self.last_update_status.as_deref() != Some(LastUpdateStatus::InProgress.as_str())
    }
}

/// One published version, as `slx versions` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct VersionInfo {
    pub(crate) version: String,
    /// `slx 0.1.0 from git abc123 at 2026-11-26T19:10:59Z`.
    pub(crate) description: String,
    pub(crate) last_modified: String,
    pub(crate) code_sha256: String,
}

/// Everything `CreateFunction` sends besides the code.
#[derive(Debug, Clone)]
pub(crate) struct FunctionSpec {
    pub(crate) name: String,
    pub(crate) role_arn: String,
    pub(crate) arch: Arch,
    pub(crate) memory: u32,
    pub(crate) timeout: u32,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) ephemeral_storage: u32,
    pub(crate) layers: Vec<String>,
    pub(crate) tracing: bool,
    pub(crate) vpc: Option<Vpc>,
    pub(crate) description: String,
    pub(crate) tags: Tags,
}

/// The fields of `UpdateFunctionConfiguration` to change; `None` keeps
/// the current value, so a console edit elsewhere is not reverted.
#[derive(Debug, Clone, Default)]
pub(crate) struct FunctionUpdate {
    pub(crate) role_arn: Option<String>,
    pub(crate) memory: Option<u32>,
    pub(crate) timeout: Option<u32>,
    pub(crate) env: Option<BTreeMap<String, String>>,
    pub(crate) ephemeral_storage: Option<u32>,
    /// The whole new list (empty: no layers).
    pub(crate) layers: Option<Vec<String>>,
    pub(crate) tracing: Option<bool>,
    /// `Some(None)`: take the function out of its VPC.
    pub(crate) vpc: Option<Option<Vpc>>,
    pub(crate) description: Option<String>,
}

/// One `AddPermission` statement on a qualified function.
#[derive(Debug, Clone)]
pub(crate) struct NewPermission {
    pub(crate) function_name: String,
    pub(crate) qualifier: String,
    pub(crate) statement_id: String,
    pub(crate) principal: String,
    pub(crate) source_arn: String,
    /// The account the source belongs to (`aws:SourceAccount`): an S3
    /// bucket ARN names no account, and bucket names move between
    /// accounts when one is deleted.
    pub(crate) source_account: Option<String>,
}

/// A function of the account, as `ListFunctions` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedFunction {
    pub(crate) name: String,
    pub(crate) arn: String,
}

/// An SQS event source mapping, as slx writes and compares it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct QueueMappingSpec {
    pub(crate) queue_arn: String,
    /// The function the messages go to, as `name:alias`.
    pub(crate) function: String,
    pub(crate) batch_size: u32,
    pub(crate) batch_window: u32,
    pub(crate) report_failures: bool,
}

/// A mapping that exists, with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueMapping {
    pub(crate) uuid: String,
    pub(crate) spec: QueueMappingSpec,
    /// `State: Deleting`: going away (Lambda lists it until it is gone,
    /// and refuses another mapping of the same queue and function until
    /// then).
    /// <https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html>
    pub(crate) deleting: bool,
}

/// A version an alias sends a share of its invocations to, besides the
/// version it points at (Lambda's weighted alias).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Canary {
    pub(crate) version: String,
    /// The share, 0.0 to 1.0.
    pub(crate) weight: f64,
}

impl Eq for Canary {}

/// What `Invoke` answered.
#[derive(Debug, Clone)]
pub(crate) struct InvokeAnswer {
    pub(crate) payload: Vec<u8>,
    /// `Unhandled` / `Handled` when the function failed.
    pub(crate) function_error: Option<String>,
    /// The last 4 KB of the invocation's log.
    pub(crate) log_tail: String,
}

fn lambda_arch(arch: Arch) -> Architecture {
    match arch {
        Arch::X86_64 => Architecture::X8664,
        Arch::Arm64 => Architecture::Arm64,
    }
}

fn environment(env: &BTreeMap<String, String>) -> Environment {
    Environment::builder()
        .set_variables(Some(env.clone().into_iter().collect()))
        .build()
}

/// What Lambda is sent for a VPC: detaching is sending empty lists.
// https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html
fn vpc_config(vpc: Option<&Vpc>) -> VpcConfig {
    VpcConfig::builder()
        .set_subnet_ids(Some(vpc.map(|v| v.subnets.clone()).unwrap_or_default()))
        .set_security_group_ids(Some(
            vpc.map(|v| v.security_groups.clone()).unwrap_or_default(),
        ))
        .build()
}

fn tracing_config(active: bool) -> TracingConfig {
    TracingConfig::builder()
        .mode(if active {
            TracingMode::Active
        } else {
            TracingMode::PassThrough
        })
        .build()
}

fn ephemeral(size: u32) -> Option<EphemeralStorage> {
    EphemeralStorage::builder().size(size as i32).build().ok()
}

pub(super) fn function_info(config: &FunctionConfiguration) -> FunctionInfo {
    let arch = match config.architectures().first() {
        Some(Architecture::Arm64) => Arch::Arm64,
        _ => Arch::X86_64,
    };
    FunctionInfo {
        version: config.version().unwrap_or("$LATEST").to_string(),
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
        arn: config.function_arn().unwrap_or_default().to_string(),
        description: config.description().unwrap_or_default().to_string(),
        creation_failed: (config.state() == Some(&State::Failed)).then(|| {
            let code = config.state_reason_code().map(|c| c.as_str()).unwrap_or("");
            let reason = config.state_reason().unwrap_or("no reason given");
            format!("{reason} ({code})")
        }),
        // Lambda's default when it does not say.
        ephemeral_storage: config
            .ephemeral_storage()
            .map_or(crate::config::DEFAULT_EPHEMERAL_STORAGE_MB, |e| {
                e.size() as u32
            }),
        layers: config
            .layers()
            .iter()
            .filter_map(|l| l.arn().map(str::to_string))
            .collect(),
        tracing: config
            .tracing_config()
            .and_then(|t| t.mode())
            .is_some_and(|m| *m == TracingMode::Active),
        vpc: config
            .vpc_config()
            .filter(|v| !v.subnet_ids().is_empty())
            .map(|v| Vpc {
                subnets: v.subnet_ids().to_vec(),
                security_groups: v.security_group_ids().to_vec(),
            }),
    }
}

impl Reader {
    /// The function (`qualifier` = None) or the version an alias or
    /// number names; `None` when absent.
    pub(crate) async fn function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Option<FunctionInfo>, AwsError> {
        let answer = self.get_function(name, qualifier).await?;
        Ok(answer.and_then(|a| Some(function_info(a.configuration()?))))
    }

    /// `GetFunction` of `name` (at `qualifier`); `None` when it does not
    /// exist.
    pub(super) async fn get_function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Option<aws_sdk_lambda::operation::get_function::GetFunctionOutput>, AwsError> {
        let step = match qualifier {
            Some(q) => format!("read {name}:{q}"),
            None => format!("read function {name}"),
        };
        absent(
            self.clients
                .lambda
                .get_function()
                .function_name(name)
                .set_qualifier(qualifier.map(str::to_string))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(&step, &e)),
        )
    }

    /// The canary an alias routes to besides its version, if any.
    pub(crate) async fn alias_canary(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<Option<Canary>, AwsError> {
        let answer = absent(
            self.clients
                .lambda
                .get_alias()
                .function_name(name)
                .name(alias)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("read alias {alias} of {name}"), &e)),
        )?;
        Ok(answer.and_then(|alias| {
            let weights = alias.routing_config()?.additional_version_weights()?;
            let (version, weight) = weights.iter().next()?;
            Some(Canary {
                version: version.clone(),
                weight: *weight,
            })
        }))
    }

    /// The tags of a function, by ARN. (`GetFunction` returns tags only to
    /// callers allowed `lambda:ListTags`, and says nothing otherwise: ask
    /// explicitly, so that a missing permission is an error, not "untagged".)
    // https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html
    pub(crate) async fn function_tags(
        &self,
        arn: &str,
    ) -> Result<HashMap<String, String>, AwsError> {
        let answer = self
            .clients
            .lambda
            .list_tags()
            .resource(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read the tags of {arn}"), &e))?;
        Ok(answer.tags().cloned().unwrap_or_default())
    }

    /// The function's reserved concurrency, if any.
    pub(crate) async fn reserved_concurrency(&self, name: &str) -> Result<Option<u32>, AwsError> {
        let answer = absent(
            self.clients
                .lambda
                .get_function_concurrency()
                .function_name(name)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("read the concurrency of {name}"), &e)),
        )?;
        Ok(answer
            .and_then(|a| a.reserved_concurrent_executions())
            .map(|n| n as u32))
    }

    /// The provisioned concurrency requested on `qualifier` (an alias),
    /// if any, and how far Lambda got allocating it.
    pub(crate) async fn provisioned_concurrency(
        &self,
        name: &str,
        qualifier: &str,
    ) -> Result<Option<ProvisionedInfo>, AwsError> {
        let answer = absent(
            self.clients
                .lambda
                .get_provisioned_concurrency_config()
                .function_name(name)
                .qualifier(qualifier)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(
                        format!("read the provisioned concurrency of {name}:{qualifier}"),
                        &e,
                    )
                }),
        )?;
        Ok(answer.map(|a| ProvisionedInfo {
            requested: a
                .requested_provisioned_concurrent_executions()
                .unwrap_or_default() as u32,
            status: match a.status().map(|s| s.as_str()) {
                Some("READY") => Allocation::Ready,
                Some("FAILED") => Allocation::Failed(
                    a.status_reason()
                        .unwrap_or("Lambda gave no reason")
                        .to_string(),
                ),
                _ => Allocation::InProgress,
            },
        }))
    }

    /// State and last update status of `$LATEST`. Read with `GetFunction`,
    /// whose quota (100 a second) is its own, so that polling while a
    /// function settles never takes from the 15 a second every other
    /// control-plane call shares (`GetFunctionConfiguration` among them).
    // https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    pub(crate) async fn readiness(&self, name: &str) -> Result<Readiness, AwsError> {
        let function = self
            .clients
            .lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read the state of {name}"), &e))?;
        let Some(config) = function.configuration() else {
            return Err(AwsError {
                step: format!("read the state of {name}"),
                class: crate::aws::ErrorClass::Transient,
                code: None,
                detail: "Lambda answered without the function's configuration".into(),
                hint: None,
            });
        };
        Ok(Readiness {
            state: config.state().map(|s| s.as_str().to_string()),
            last_update_status: config.last_update_status().map(|s| s.as_str().to_string()),
            reason: config
                .last_update_status_reason()
                .or(config.state_reason())
                .map(str::to_string),
            reason_code: config
                .last_update_status_reason_code()
                .map(|c| c.as_str().to_string()),
        })
    }

    /// Every published version (not `$LATEST`), oldest first; empty when
    /// the function does not exist.
    pub(crate) async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>, AwsError> {
        let mut versions = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = absent(
                self.clients
                    .lambda
                    .list_versions_by_function()
                    .function_name(name)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(format!("list versions of {name}"), &e)),
            )?;
            let Some(page) = page else {
                return Ok(Vec::new());
            };
            for v in page.versions() {
                let version = v.version().unwrap_or_default();
                if version == "$LATEST" {
                    continue;
                }
                versions.push(VersionInfo {
                    version: version.to_string(),
                    description: v.description().unwrap_or_default().to_string(),
                    last_modified: v.last_modified().unwrap_or_default().to_string(),
                    code_sha256: v.code_sha256().unwrap_or_default().to_string(),
                });
            }
            match page.next_marker() {
                Some(next) if Some(next) != marker.as_deref() => marker = Some(next.to_string()),
                _ => break,
            }
        }
        versions.sort_by_key(|v| v.version.parse::<u64>().unwrap_or(0));
        Ok(versions)
    }

    /// Every function of the region whose name starts with `prefix`.
    /// (`ListFunctions` has no filter: this pages through all of them.)
    pub(crate) async fn functions_starting_with(
        &self,
        prefix: &str,
    ) -> Result<Vec<ListedFunction>, AwsError> {
        let mut found = Vec::new();
        let mut pages = self
            .clients
            .lambda
            .list_functions()
            .max_items(50)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("list the functions", &e))?;
            found.extend(page.functions().iter().filter_map(|f| {
                let name = f.function_name()?;
                name.starts_with(prefix).then(|| ListedFunction {
                    name: name.to_string(),
                    arn: f.function_arn().unwrap_or_default().to_string(),
                })
            }));
        }
        Ok(found)
    }

    /// The SQS event source mappings of `function` (`name:alias`, as
    /// they were created).
    pub(crate) async fn queue_mappings(
        &self,
        function: &str,
    ) -> Result<Vec<QueueMapping>, AwsError> {
        let step = format!("read the event source mappings of {function}");
        let mut mappings = Vec::new();
        let mut pages = self
            .clients
            .lambda
            .list_event_source_mappings()
            .function_name(function)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page.map_err(|e| AwsError::from_sdk(&step, &e)) {
                Ok(page) => page,
                // No such function: no mappings.
                Err(e) if e.class == ErrorClass::NotFound => break,
                Err(e) => return Err(e),
            };
            for mapping in page.event_source_mappings() {
                let queue_arn = mapping.event_source_arn().unwrap_or_default();
                if !queue_arn.contains(":sqs:") {
                    continue;
                }
                mappings.push(QueueMapping {
                    uuid: mapping.uuid().unwrap_or_default().to_string(),
                    deleting: mapping.state() == Some("Deleting"),
                    spec: QueueMappingSpec {
                        queue_arn: queue_arn.to_string(),
                        function: function.to_string(),
                        batch_size: mapping.batch_size().unwrap_or(10) as u32,
                        batch_window: mapping.maximum_batching_window_in_seconds().unwrap_or(0)
                            as u32,
                        report_failures: mapping
                            .function_response_types()
                            .iter()
                            .any(|t| t.as_str() == "ReportBatchItemFailures"),
                    },
                });
            }
        }
        Ok(mappings)
    }

    /// The on-failure destination of `name:qualifier`'s asynchronous
    /// invocations, if one is configured.
    pub(crate) async fn on_failure(
        &self,
        name: &str,
        qualifier: &str,
    ) -> Result<Option<String>, AwsError> {
        let answer = absent(
            self.clients
                .lambda
                .get_function_event_invoke_config()
                .function_name(name)
                .qualifier(qualifier)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("read the asynchronous settings of {name}"), &e)
                }),
        )?;
        Ok(answer
            .and_then(|a| a.destination_config)
            .and_then(|d| d.on_failure)
            .and_then(|f| f.destination))
    }

    /// The resource-based policy (JSON text) of `name:qualifier`, if any.
    pub(crate) async fn policy(
        &self,
        name: &str,
        qualifier: &str,
    ) -> Result<Option<String>, AwsError> {
        let policy = absent(
            self.clients
                .lambda
                .get_policy()
                .function_name(name)
                .qualifier(qualifier)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("read the invoke permission of {name}"), &e)
                }),
        )?;
        Ok(policy.and_then(|p| p.policy().map(str::to_string)))
    }

    /// Runs `name:qualifier` once with `payload`, asking for the log tail.
    pub(crate) async fn invoke(
        &self,
        name: &str,
        qualifier: &str,
        payload: Vec<u8>,
    ) -> Result<InvokeAnswer, AwsError> {
        let output = self
            .clients
            .lambda
            .invoke()
            .function_name(name)
            .qualifier(qualifier)
            .log_type(LogType::Tail)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("invoke {name}:{qualifier}"), &e))?;
        let log_tail = output
            .log_result()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        Ok(InvokeAnswer {
            payload: output
                .payload()
                .map(|p| p.as_ref().to_vec())
                .unwrap_or_default(),
            function_error: output.function_error().map(str::to_string),
            log_tail,
        })
    }
}

/// A provisioned concurrency configuration: what was requested, and how
/// far Lambda got allocating it.
/// <https://docs.aws.amazon.com/lambda/latest/api/API_GetProvisionedConcurrencyConfig.html>
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProvisionedInfo {
    pub(crate) requested: u32,
    pub(crate) status: Allocation,
}

/// Lambda's `Status` of a provisioned concurrency configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Allocation {
    /// `IN_PROGRESS`: instances are being initialised (after a request,
    /// or after the alias moved to another version).
    InProgress,
    Ready,
    /// `FAILED`, with Lambda's `StatusReason`.
    Failed(String),
}

impl Writer {
    pub(crate) async fn create_function(
        &self,
        spec: &FunctionSpec,
        zip: &[u8],
    ) -> Result<(), AwsError> {
        self.clients
            .lambda
            .create_function()
            .function_name(&spec.name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role(&spec.role_arn)
            .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
            .architectures(lambda_arch(spec.arch))
            .memory_size(spec.memory as i32)
            .timeout(spec.timeout as i32)
            .environment(environment(&spec.env))
            .set_ephemeral_storage(ephemeral(spec.ephemeral_storage))
            .set_layers(Some(spec.layers.clone()))
            .tracing_config(tracing_config(spec.tracing))
            .set_vpc_config(spec.vpc.as_ref().map(|vpc| vpc_config(Some(vpc))))
            .description(&spec.description)
            .set_tags(Some(spec.tags.map()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create function {}", spec.name), &e))?;
        Ok(())
    }

    pub(crate) async fn update_code(
        &self,
        name: &str,
        zip: &[u8],
        arch: Arch,
    ) -> Result<(), AwsError> {
        self.clients
            .lambda
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(zip))
            .architectures(lambda_arch(arch))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("upload the code of {name}"), &e))?;
        Ok(())
    }

    pub(crate) async fn update_config(
        &self,
        name: &str,
        update: &FunctionUpdate,
    ) -> Result<(), AwsError> {
        self.clients
            .lambda
            .update_function_configuration()
            .function_name(name)
            .set_role(update.role_arn.clone())
            .set_memory_size(update.memory.map(|m| m as i32))
            .set_timeout(update.timeout.map(|t| t as i32))
            .set_environment(update.env.as_ref().map(environment))
            .set_ephemeral_storage(update.ephemeral_storage.and_then(ephemeral))
            .set_layers(update.layers.clone())
            .set_tracing_config(update.tracing.map(tracing_config))
            .set_vpc_config(update.vpc.as_ref().map(|vpc| vpc_config(vpc.as_ref())))
            .set_description(update.description.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("update the settings of {name}"), &e))?;
        Ok(())
    }

    /// Publishes `$LATEST`; AWS refuses if its code is not `code_sha256`.
    /// Returns the new version number.
    pub(crate) async fn publish_version(
        &self,
        name: &str,
        code_sha256: &str,
        description: &str,
    ) -> Result<String, AwsError> {
        let published = self
            .clients
            .lambda
            .publish_version()
            .function_name(name)
            .code_sha256(code_sha256)
            .description(description)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("publish a version of {name}"), &e))?;
        Ok(published.version().unwrap_or_default().to_string())
    }

    pub(crate) async fn create_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        description: &str,
    ) -> Result<(), AwsError> {
        self.clients
            .lambda
            .create_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .description(description)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create alias {alias} of {name}"), &e))?;
        Ok(())
    }

    /// Points `alias` at `version`, sending `canary` (another version and
    /// the share of invocations it gets) or, without one, an empty routing
    /// configuration: that ends any canary the alias had.
    // https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html
    pub(crate) async fn update_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        canary: Option<&Canary>,
    ) -> Result<(), AwsError> {
        let weights: HashMap<String, f64> = canary
            .map(|c| (c.version.clone(), c.weight))
            .into_iter()
            .collect();
        self.clients
            .lambda
            .update_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .routing_config(
                AliasRoutingConfiguration::builder()
                    .set_additional_version_weights(Some(weights))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("point alias {alias} at version {version}"), &e)
            })?;
        Ok(())
    }

    /// Deletes the function with its versions and aliases, or one
    /// version when `qualifier` names it.
    pub(crate) async fn delete_function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), AwsError> {
        self.clients
            .lambda
            .delete_function()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_string))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete {name}"), &e))?;
        Ok(())
    }

    /// Reserves `count` concurrent executions for the function, or (with
    /// `None`) removes the reservation.
    pub(crate) async fn set_reserved_concurrency(
        &self,
        name: &str,
        count: Option<u32>,
    ) -> Result<(), AwsError> {
        let step = format!("set the concurrency of {name}");
        match count {
            Some(count) => {
                self.clients
                    .lambda
                    .put_function_concurrency()
                    .function_name(name)
                    .reserved_concurrent_executions(count as i32)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(&step, &e))?;
            }
            None => {
                self.clients
                    .lambda
                    .delete_function_concurrency()
                    .function_name(name)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(&step, &e))?;
            }
        }
        Ok(())
    }

    /// Keeps `count` instances of `qualifier` (an alias) initialised, or
    /// (with `None`) stops. Lambda allocates them in the background.
    // https://docs.aws.amazon.com/lambda/latest/api/API_PutProvisionedConcurrencyConfig.html
    pub(crate) async fn set_provisioned_concurrency(
        &self,
        name: &str,
        qualifier: &str,
        count: Option<u32>,
    ) -> Result<(), AwsError> {
        let step = format!("set the provisioned concurrency of {name}:{qualifier}");
        match count {
            Some(count) => {
                self.clients
                    .lambda
                    .put_provisioned_concurrency_config()
                    .function_name(name)
                    .qualifier(qualifier)
                    .provisioned_concurrent_executions(count as i32)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(&step, &e))?;
            }
            None => {
                self.clients
                    .lambda
                    .delete_provisioned_concurrency_config()
                    .function_name(name)
                    .qualifier(qualifier)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(&step, &e))?;
            }
        }
        Ok(())
    }

    pub(crate) async fn create_queue_mapping(
        &self,
        spec: &QueueMappingSpec,
    ) -> Result<(), AwsError> {
        let mut request = self
            .clients
            .lambda
            .create_event_source_mapping()
            .event_source_arn(&spec.queue_arn)
            .function_name(&spec.function)
            .batch_size(spec.batch_size as i32)
            .maximum_batching_window_in_seconds(spec.batch_window as i32);
        if spec.report_failures {
            request = request.function_response_types(
                aws_sdk_lambda::types::FunctionResponseType::ReportBatchItemFailures,
            );
        }
        request.send().await.map_err(|e| {
            AwsError::from_sdk(
                format!("map queue {} to {}", spec.queue_arn, spec.function),
                &e,
            )
        })?;
        Ok(())
    }

    pub(crate) async fn update_queue_mapping(
        &self,
        uuid: &str,
        spec: &QueueMappingSpec,
    ) -> Result<(), AwsError> {
        let types = if spec.report_failures {
            vec![aws_sdk_lambda::types::FunctionResponseType::ReportBatchItemFailures]
        } else {
            Vec::new()
        };
        self.clients
            .lambda
            .update_event_source_mapping()
            .uuid(uuid)
            .function_name(&spec.function)
            .batch_size(spec.batch_size as i32)
            .maximum_batching_window_in_seconds(spec.batch_window as i32)
            .set_function_response_types(Some(types))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("update the mapping of {}", spec.queue_arn), &e)
            })?;
        Ok(())
    }

    pub(crate) async fn delete_queue_mapping(&self, uuid: &str) -> Result<(), AwsError> {
        self.clients
            .lambda
            .delete_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete event source mapping {uuid}"), &e))?;
        Ok(())
    }

    /// Sends `name:qualifier`'s failed asynchronous invocations to
    /// `destination` (an SQS queue ARN), or to nowhere (`None`).
    pub(crate) async fn set_on_failure(
        &self,
        name: &str,
        qualifier: &str,
        destination: Option<&str>,
    ) -> Result<(), AwsError> {
        let step = format!("set where failed events of {name} go");
        match destination {
            Some(destination) => {
                let config = aws_sdk_lambda::types::DestinationConfig::builder()
                    .on_failure(
                        aws_sdk_lambda::types::OnFailure::builder()
                            .destination(destination)
                            .build(),
                    )
                    .build();
                self.clients
                    .lambda
                    .put_function_event_invoke_config()
                    .function_name(name)
                    .qualifier(qualifier)
                    .destination_config(config)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(&step, &e))?;
            }
            None => {
                self.clients
                    .lambda
                    .delete_function_event_invoke_config()
                    .function_name(name)
                    .qualifier(qualifier)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(&step, &e))?;
            }
        }
        Ok(())
    }

    pub(crate) async fn add_permission(&self, permission: &NewPermission) -> Result<(), AwsError> {
        self.clients
            .lambda
            .add_permission()
            .function_name(&permission.function_name)
            .qualifier(&permission.qualifier)
            .statement_id(&permission.statement_id)
            .action("lambda:InvokeFunction")
            .principal(&permission.principal)
            .source_arn(&permission.source_arn)
            .set_source_account(permission.source_account.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("add the invoke permission", &e))?;
        Ok(())
    }

    pub(crate) async fn remove_permission(
        &self,
        name: &str,
        qualifier: &str,
        statement_id: &str,
    ) -> Result<(), AwsError> {
        self.clients
            .lambda
            .remove_permission()
            .function_name(name)
            .qualifier(qualifier)
            .statement_id(statement_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("remove the invoke permission", &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readiness(state: Option<&str>, update: Option<&str>) -> Readiness {
        Readiness {
            state: state.map(str::to_string),
            last_update_status: update.map(str::to_string),
            reason: None,
            reason_code: None,
        }
    }

    #[test]
    fn an_idle_inactive_function_may_be_updated() {
        assert!(readiness(Some("Active"), Some("Successful")).ready());
        assert!(readiness(Some("Inactive"), Some("Successful")).ready());
        assert!(readiness(Some("Active"), None).ready(), "never updated");
        assert!(!readiness(Some("Pending"), None).ready());
        assert!(!readiness(Some("Inactive"), Some("InProgress")).ready());
        assert!(!readiness(Some("Active"), Some("InProgress")).ready());
        assert!(readiness(Some("Failed"), None).creation_failed());
        assert!(!readiness(Some("Failed"), None).update_failed());
        assert!(readiness(Some("Active"), Some("Failed")).update_failed());
        assert!(!readiness(Some("Active"), Some("Failed")).creation_failed());
    }
}
