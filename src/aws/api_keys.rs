//! API Gateway usage plans and API keys: a stage's plan (its throttle and
//! quota per key, and the API stage it covers), the stage's keys, and
//! which keys the plan holds.
//!
//! API reference: <https://docs.aws.amazon.com/apigateway/latest/api/API_UsagePlan.html>,
//! <https://docs.aws.amazon.com/apigateway/latest/api/API_ApiKey.html>

use std::collections::HashMap;

use aws_sdk_apigateway::types::{
    ApiStage, Op, PatchOperation, QuotaPeriodType, QuotaSettings, ThrottleSettings,
};

use super::apigateway::every_page;
use super::{AwsError, Reader, Tags, Writer};

/// A usage plan's limits for each key: a steady rate (requests per
/// second) with a burst, and a quota per period (`DAY`, `WEEK`, `MONTH`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub(crate) struct PlanLimits {
    pub(crate) throttle: Option<(f64, u32)>,
    pub(crate) quota: Option<(u32, String)>,
}

/// A usage plan as `GetUsagePlans` lists it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UsagePlanInfo {
    pub(crate) id: String,
    pub(crate) tags: HashMap<String, String>,
    /// `(API id, stage)` of each API stage it covers.
    pub(crate) api_stages: Vec<(String, String)>,
    pub(crate) limits: PlanLimits,
}

/// An API key as `GetApiKeys` lists it, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiKeyInfo {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) enabled: bool,
    /// When it was made, seconds since the epoch.
    pub(crate) created: Option<i64>,
    pub(crate) tags: HashMap<String, String>,
}

/// What `CreateUsagePlan` sends.
#[derive(Debug, Clone)]
pub(crate) struct NewUsagePlan {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) api_id: String,
    pub(crate) stage: String,
    pub(crate) limits: PlanLimits,
    pub(crate) tags: Tags,
}

/// How `UpdateUsagePlan` changes a plan.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanChange {
    /// New limits (replacing the old ones whole), when they change.
    pub(crate) limits: Option<PlanLimits>,
    /// An API stage to cover.
    pub(crate) attach: Option<(String, String)>,
    /// API stages to stop covering.
    pub(crate) detach: Vec<(String, String)>,
}

fn quota_period(period: &str) -> QuotaPeriodType {
    QuotaPeriodType::from(period)
}

fn patch(op: Op, path: &str, value: Option<String>) -> PatchOperation {
    PatchOperation::builder()
        .op(op)
        .path(path)
        .set_value(value)
        .build()
}

impl Reader {
    /// Every usage plan called `name`, with its tags (ownership is the
    /// caller's decision). Pages through `GetUsagePlans`.
    pub(crate) async fn usage_plans_named(
        &self,
        name: &str,
    ) -> Result<Vec<UsagePlanInfo>, AwsError> {
        every_page(|position| async move {
            let page = self
                .clients
                .apigateway
                .get_usage_plans()
                .limit(500)
                .set_position(position)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("list usage plans", &e))?;
            let items = page
                .items()
                .iter()
                .filter(|plan| plan.name() == Some(name))
                .map(|plan| UsagePlanInfo {
                    id: plan.id().unwrap_or_default().to_string(),
                    tags: plan.tags().cloned().unwrap_or_default(),
                    api_stages: plan
                        .api_stages()
                        .iter()
                        .map(|s| {
                            (
                                s.api_id().unwrap_or_default().to_string(),
                                s.stage().unwrap_or_default().to_string(),
                            )
                        })
                        .collect(),
                    limits: PlanLimits {
                        throttle: plan
                            .throttle()
                            .filter(|t| t.rate_limit() > 0.0 || t.burst_limit() > 0)
                            .map(|t| (t.rate_limit(), t.burst_limit().max(0) as u32)),
                        quota: plan.quota().filter(|q| q.limit() > 0).map(|q| {
                            (
                                q.limit().max(0) as u32,
                                q.period()
                                    .map(|p| p.as_str().to_string())
                                    .unwrap_or_default(),
                            )
                        }),
                    },
                })
                .collect();
            Ok((items, page.position().map(str::to_string)))
        })
        .await
    }

    /// The ids of the keys plan `plan_id` holds.
    pub(crate) async fn usage_plan_key_ids(&self, plan_id: &str) -> Result<Vec<String>, AwsError> {
        every_page(|position| async move {
            let page = self
                .clients
                .apigateway
                .get_usage_plan_keys()
                .usage_plan_id(plan_id)
                .limit(500)
                .set_position(position)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("list the keys of usage plan {plan_id}"), &e)
                })?;
            let items = page
                .items()
                .iter()
                .filter_map(|k| k.id().map(str::to_string))
                .collect();
            Ok((items, page.position().map(str::to_string)))
        })
        .await
    }

    /// Every API key whose name starts with `prefix`, with its tags and
    /// never its value (`includeValues` stays off).
    pub(crate) async fn api_keys_named(&self, prefix: &str) -> Result<Vec<ApiKeyInfo>, AwsError> {
        every_page(|position| async move {
            let page = self
                .clients
                .apigateway
                .get_api_keys()
                .name_query(prefix)
                .include_values(false)
                .limit(500)
                .set_position(position)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("list API keys", &e))?;
            let items = page
                .items()
                .iter()
                .filter(|key| key.name().is_some_and(|n| n.starts_with(prefix)))
                .map(|key| ApiKeyInfo {
                    id: key.id().unwrap_or_default().to_string(),
                    name: key.name().unwrap_or_default().to_string(),
                    enabled: key.enabled(),
                    created: key.created_date().map(|d| d.secs()),
                    tags: key.tags().cloned().unwrap_or_default(),
                })
                .collect();
            Ok((items, page.position().map(str::to_string)))
        })
        .await
    }
}

impl Writer {
    /// Creates a usage plan covering one API stage; returns its id. Sent
    /// once (the SDK's retry off): a resend after a lost answer would
    /// make a second plan; the caller re-reads first.
    pub(crate) async fn create_usage_plan(&self, plan: &NewUsagePlan) -> Result<String, AwsError> {
        let once = aws_sdk_apigateway::config::Builder::default()
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled());
        let created = self
            .clients
            .apigateway
            .create_usage_plan()
            .name(&plan.name)
            .description(&plan.description)
            .api_stages(
                ApiStage::builder()
                    .api_id(&plan.api_id)
                    .stage(&plan.stage)
                    .build(),
            )
            .set_throttle(plan.limits.throttle.map(|(rate, burst)| {
                ThrottleSettings::builder()
                    .rate_limit(rate)
                    .burst_limit(burst as i32)
                    .build()
            }))
            .set_quota(plan.limits.quota.as_ref().map(|(limit, period)| {
                QuotaSettings::builder()
                    .limit(*limit as i32)
                    .period(quota_period(period))
                    .build()
            }))
            .set_tags(Some(plan.tags.map()))
            .customize()
            .config_override(once)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create usage plan {}", plan.name), &e))?;
        Ok(created.id().unwrap_or_default().to_string())
    }

    /// Changes a usage plan's limits and the API stages it covers, in one
    /// `UpdateUsagePlan`.
    // https://docs.aws.amazon.com/apigateway/latest/api/patch-operations.html#UpdateUsagePlan-Patch
    pub(crate) async fn update_usage_plan(
        &self,
        plan_id: &str,
        change: &PlanChange,
    ) -> Result<(), AwsError> {
        let mut operations = Vec::new();
        if let Some((api, stage)) = &change.attach {
            operations.push(patch(Op::Add, "/apiStages", Some(format!("{api}:{stage}"))));
        }
        for (api, stage) in &change.detach {
            operations.push(patch(
                Op::Remove,
                "/apiStages",
                Some(format!("{api}:{stage}")),
            ));
        }
        if let Some(limits) = &change.limits {
            match limits.throttle {
                Some((rate, burst)) => {
                    operations.push(patch(
                        Op::Replace,
                        "/throttle/rateLimit",
                        Some(rate.to_string()),
                    ));
                    operations.push(patch(
                        Op::Replace,
                        "/throttle/burstLimit",
                        Some(burst.to_string()),
                    ));
                }
                None => operations.push(patch(Op::Remove, "/throttle", None)),
            }
            match &limits.quota {
                Some((limit, period)) => {
                    operations.push(patch(Op::Replace, "/quota/limit", Some(limit.to_string())));
                    operations.push(patch(Op::Replace, "/quota/period", Some(period.clone())));
                }
                None => operations.push(patch(Op::Remove, "/quota", None)),
            }
        }
        if operations.is_empty() {
            return Ok(());
        }
        self.clients
            .apigateway
            .update_usage_plan()
            .usage_plan_id(plan_id)
            .set_patch_operations(Some(operations))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("update usage plan {plan_id}"), &e))?;
        Ok(())
    }

    pub(crate) async fn delete_usage_plan(&self, plan_id: &str) -> Result<(), AwsError> {
        self.clients
            .apigateway
            .delete_usage_plan()
            .usage_plan_id(plan_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete usage plan {plan_id}"), &e))?;
        Ok(())
    }

    /// Creates an enabled API key with a value API Gateway generates;
    /// returns its id and value. Sent once, like `create_usage_plan`.
    pub(crate) async fn create_api_key(
        &self,
        name: &str,
        description: &str,
        tags: &Tags,
    ) -> Result<(String, String), AwsError> {
        let once = aws_sdk_apigateway::config::Builder::default()
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled());
        let created = self
            .clients
            .apigateway
            .create_api_key()
            .name(name)
            .description(description)
            .enabled(true)
            .set_tags(Some(tags.map()))
            .customize()
            .config_override(once)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create API key {name}"), &e))?;
        Ok((
            created.id().unwrap_or_default().to_string(),
            created.value().unwrap_or_default().to_string(),
        ))
    }

    pub(crate) async fn delete_api_key(&self, key_id: &str) -> Result<(), AwsError> {
        self.clients
            .apigateway
            .delete_api_key()
            .api_key(key_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete API key {key_id}"), &e))?;
        Ok(())
    }

    /// Puts key `key_id` in plan `plan_id`: its calls then count against
    /// the plan's limits, and are accepted on the plan's API stages.
    pub(crate) async fn add_usage_plan_key(
        &self,
        plan_id: &str,
        key_id: &str,
    ) -> Result<(), AwsError> {
        self.clients
            .apigateway
            .create_usage_plan_key()
            .usage_plan_id(plan_id)
            .key_id(key_id)
            .key_type("API_KEY")
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("add API key {key_id} to usage plan {plan_id}"), &e)
            })?;
        Ok(())
    }
}
