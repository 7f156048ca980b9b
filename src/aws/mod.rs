//! Thin access to AWS: loading the SDK configuration (profiles, SSO, env,
//! region precedence, endpoint override), and the classification of AWS
//! errors with a retry policy for the transient ones.
//!
//! Holds no deploy logic; `deploy::read` and `deploy::apply` call the SDK
//! clients built here.

mod endpoint_host;
mod errors;
mod retry;

pub use errors::{AwsError, ErrorClass, classify};
pub use retry::{Backoff, Sleeper, TokioSleeper, retry};

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Where slx's AWS settings come from, in precedence order.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// `--profile`.
    pub profile: Option<String>,
    /// `--region`, then slx.toml's `region`; the profile/env come after.
    pub region_flag: Option<String>,
    pub region_config: Option<String>,
    /// `--endpoint-url` / `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
}

/// The SDK clients a deploy uses, sharing one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub region: String,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sts: aws_sdk_sts::Client,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SetupError {
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

/// Loads the AWS configuration the way the AWS CLI does, with slx's
/// region precedence on top.
pub async fn load(settings: &AwsSettings) -> Result<Clients, SetupError> {
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
    Ok(Clients {
        region: region.to_string(),
        lambda: aws_sdk_lambda::Client::new(&config),
        apigateway: aws_sdk_apigateway::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        logs: logs_client(&config, settings.endpoint_url.as_deref()),
        sts: aws_sdk_sts::Client::new(&config),
    })
}
