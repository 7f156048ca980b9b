//! The only code in slx that talks to AWS: loading the SDK configuration
//! (profiles, SSO, env, region precedence, endpoint override), one typed
//! function per AWS call grouped by service, the classification of AWS
//! errors and the retry policy for the transient ones.
//!
//! Calls come in two types: a [`Reader`] (read-only calls, handed to
//! whatever needs to look) and a [`Writer`] (every mutating call, handed
//! only to `deploy::apply`). Both take and return plain data: no SDK type
//! leaves this module, so the rest of slx can be tested without AWS.
//! Holds no deploy logic: which call to make and when is decided elsewhere.

mod api_keys;
mod apigateway;
mod code;
mod domains;
mod ec2;
mod endpoint_host;
mod errors;
mod iam;
mod lambda;
mod logs;
mod metrics;
mod retry;
mod s3;
mod scheduler;
mod sqs;
mod sts;
mod write_gate;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use api_keys::{ApiKeyInfo, NewUsagePlan, PlanChange, PlanLimits, UsagePlanInfo};
pub(crate) use apigateway::{NewRestApi, StageInfo};
pub(crate) use code::download as download_code;
pub(crate) use domains::{BasePathMapping, DomainInfo, DomainTarget};
pub(crate) use errors::{AwsError, ErrorClass};
pub(crate) use iam::NewRole;
pub(crate) use lambda::{
    Allocation, Canary, FunctionInfo, FunctionSpec, FunctionUpdate, InvokeAnswer, NewPermission,
    ProvisionedInfo, QueueMapping, QueueMappingSpec, VersionInfo,
};
pub(crate) use logs::{ListedLogGroup, LogEvent, LogQuery};
pub(crate) use retry::{Backoff, retry};
pub(crate) use s3::{BucketNotifications, LambdaNotification};
pub(crate) use scheduler::{GroupInfo, ScheduleSpec};
pub(crate) use sqs::QueueInfo;
pub(crate) use write_gate::Admit;

use crate::pace::Pace;
use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Where slx's AWS settings come from, in precedence order.
#[derive(Debug, Clone, Default)]
pub(crate) struct AwsSettings {
    /// `--profile`.
    pub(crate) profile: Option<String>,
    /// `--region`, then slx.toml's `region`; the profile/env come after.
    pub(crate) region_flag: Option<String>,
    pub(crate) region_config: Option<String>,
    /// `--endpoint-url` / `AWS_ENDPOINT_URL`.
    pub(crate) endpoint_url: Option<String>,
}

/// The SDK clients, sharing one configuration. Private: only the service
/// files of this module build requests.
#[derive(Debug)]
struct Clients {
    lambda: aws_sdk_lambda::Client,
    apigateway: aws_sdk_apigateway::Client,
    iam: aws_sdk_iam::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    metrics: aws_sdk_cloudwatch::Client,
    s3: aws_sdk_s3::Client,
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    sts: aws_sdk_sts::Client,
    route53: aws_sdk_route53::Client,
}

/// Read-only AWS calls. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    clients: Arc<Clients>,
    region: String,
    /// The endpoint every service is sent to, when overridden (flag,
    /// `AWS_ENDPOINT_URL`, or the profile's `endpoint_url`).
    endpoint: Option<String>,
    /// Where EC2's one read goes (`ec2.rs`: no SDK client).
    ec2: ec2::Ec2Endpoint,
    /// How fast waits for this AWS pass (real time but for the test
    /// suite's local AWS).
    pace: Pace,
}

/// Every AWS call that changes something. Only `deploy::apply` and the
/// deploy lease receive one; `connect` is the only place that makes one
/// (the lease's renewal keeps a clone).
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    clients: Arc<Clients>,
}

impl Writer {
    /// The same calls, each refused before it is sent (every attempt)
    /// while `admit` says no: what a command writes under the deploy
    /// lease goes through one.
    pub(crate) fn gated(&self, admit: Admit) -> Writer {
        let gate = write_gate::WriteGate { admit };
        let c = &self.clients;
        macro_rules! gated {
            ($client:expr, $krate:ident) => {
                $krate::Client::from_conf(
                    $client
                        .config()
                        .to_builder()
                        .interceptor(gate.clone())
                        .build(),
                )
            };
        }
        Writer {
            clients: Arc::new(Clients {
                lambda: gated!(c.lambda, aws_sdk_lambda),
                apigateway: gated!(c.apigateway, aws_sdk_apigateway),
                iam: gated!(c.iam, aws_sdk_iam),
                logs: gated!(c.logs, aws_sdk_cloudwatchlogs),
                metrics: gated!(c.metrics, aws_sdk_cloudwatch),
                s3: gated!(c.s3, aws_sdk_s3),
                scheduler: gated!(c.scheduler, aws_sdk_scheduler),
                sqs: gated!(c.sqs, aws_sdk_sqs),
                sts: gated!(c.sts, aws_sdk_sts),
                route53: gated!(c.route53, aws_sdk_route53),
            }),
        }
    }
}

impl Reader {
    /// The region every call goes to.
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// The endpoint override in force, from wherever it was set.
    pub(crate) fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The clock and sleeper of every wait for this AWS.
    pub(crate) fn pace(&self) -> Pace {
        self.pace
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum SetupError {
    #[error("no AWS region is configured")]
    #[diagnostic(
        code(slx::aws::region),
        help(
            "pass `--region eu-west-1`, set `region` in slx.toml's [app], or set AWS_REGION / a profile region"
        )
    )]
    NoRegion,
}

fn logs_client(config: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_cloudwatchlogs::Client {
    let mut builder = aws_sdk_cloudwatchlogs::config::Builder::from(config);
    if let Some(keep) = endpoint.and_then(endpoint_host::KeepEndpointHost::for_endpoint) {
        builder = builder.interceptor(keep);
    }
    aws_sdk_cloudwatchlogs::Client::from_conf(builder.build())
}

/// S3 addresses a bucket as a host name (`bucket.s3.amazonaws.com`); an
/// overridden endpoint (a local emulator) is addressed by path.
fn s3_client(config: &SdkConfig, overridden: bool) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config).force_path_style(overridden);
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Loads the AWS configuration the way the AWS CLI does, with slx's
/// region precedence on top, and returns the reader and the writer.
pub(crate) async fn connect(settings: &AwsSettings) -> Result<(Reader, Writer), SetupError> {
    let explicit = settings
        .region_flag
        .clone()
        .or_else(|| settings.region_config.clone());
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let region = match explicit {
        Some(region) => Some(Region::new(region)),
        None => {
            let mut chain = aws_config::default_provider::region::DefaultRegionChain::builder();
            if let Some(profile) = &settings.profile {
                chain = chain.profile_name(profile);
            }
            RegionProviderChain::first_try(chain.build()).region().await
        }
    };
    let region = region.ok_or(SetupError::NoRegion)?;
    let config: SdkConfig = loader.region(region.clone()).load().await;
    // The endpoint a profile may set is known only once loaded: the pace
    // follows the endpoint the clients really use.
    let pace = Pace::for_endpoint(config.endpoint_url());
    let config = if pace.scale() < 1.0 {
        // The SDK's own backoff between attempts, at the same pace.
        let retry = aws_config::retry::RetryConfig::standard()
            .with_initial_backoff(pace.real_duration(Duration::from_secs(1)))
            .with_max_backoff(pace.real_duration(Duration::from_secs(20)));
        config.into_builder().retry_config(retry).build()
    } else {
        config
    };
    let clients = Arc::new(Clients {
        lambda: aws_sdk_lambda::Client::new(&config),
        apigateway: aws_sdk_apigateway::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        logs: logs_client(&config, settings.endpoint_url.as_deref()),
        metrics: aws_sdk_cloudwatch::Client::new(&config),
        s3: s3_client(&config, config.endpoint_url().is_some()),
        scheduler: aws_sdk_scheduler::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        sts: aws_sdk_sts::Client::new(&config),
        route53: aws_sdk_route53::Client::new(&config),
    });
    let ec2 = ec2::Ec2Endpoint {
        url: config.endpoint_url().map_or_else(
            || {
                let partition = crate::names::Partition::of_region(region.as_ref());
                format!("https://ec2.{region}.{}", partition.dns_suffix)
            },
            str::to_string,
        ),
        region: region.to_string(),
        credentials: config.credentials_provider(),
    };
    let reader = Reader {
        clients: clients.clone(),
        ec2,
        region: region.to_string(),
        endpoint: config.endpoint_url().map(str::to_string),
        pace,
    };
    Ok((reader, Writer { clients }))
}

/// `Ok(None)` for a NotFound answer: "absent" is data, not an error.
fn absent<T>(result: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.class == ErrorClass::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The tag pair every resource of a stage carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tags(pub(crate) Vec<(String, String)>);

impl Tags {
    fn map(&self) -> std::collections::HashMap<String, String> {
        self.0.iter().cloned().collect()
    }
}
