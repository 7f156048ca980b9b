//! The raw shape of `slx.toml` as serde reads it, with the source span of
//! every value so later checks can point at the exact line.
//!
//! This module only describes the file; it never judges values (that is
//! `validate`) and never knows about stages being resolved (that is `stage`).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// Spanned map of string keys to values, as used by `[env]` and `[routes]`.
pub(crate) type SpannedMap<V> = BTreeMap<Spanned<String>, Spanned<V>>;

#[derive(Debug, Deserialize)]
pub(crate) struct RawFile {
    pub app: Option<Spanned<RawSection>>,
    #[serde(default)]
    pub env: SpannedMap<String>,
    #[serde(default)]
    pub routes: SpannedMap<RawRoute>,
    #[serde(default)]
    pub stages: BTreeMap<Spanned<String>, Spanned<RawSection>>,
    #[serde(default)]
    pub permissions: Vec<Spanned<RawPermission>>,
    #[serde(default)]
    pub checks: Vec<Spanned<RawCheck>>,
    #[serde(default)]
    pub events: RawEvents,
    #[serde(default)]
    pub secrets: SpannedMap<RawSecret>,
    pub cors: Option<Spanned<RawCors>>,
    pub usage_plan: Option<Spanned<RawUsagePlan>>,
    #[serde(default)]
    pub authorizers: BTreeMap<Spanned<String>, Spanned<RawAuthorizer>>,
}

/// `[authorizers.NAME]`: who may call the routes with `auth = "NAME"`.
/// Unknown keys are `keys`' to report.
#[derive(Debug, Deserialize)]
pub(crate) struct RawAuthorizer {
    pub cognito: Option<Spanned<Vec<Spanned<String>>>>,
    pub function: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub header: Option<Spanned<String>>,
    pub ttl: Option<Spanned<i64>>,
}

/// `[usage_plan]` (or `[stages.NAME.usage_plan]`): what each API key may
/// call. Unknown keys are `keys`' to report.
#[derive(Debug, Deserialize)]
pub(crate) struct RawUsagePlan {
    pub rate: Option<Spanned<f64>>,
    pub burst: Option<Spanned<i64>>,
    pub quota: Option<Spanned<i64>>,
    pub per: Option<Spanned<String>>,
}

/// `[stages.NAME.domain]`: the stage's custom domain name. Unknown keys
/// are `keys`' to report.
#[derive(Debug, Deserialize)]
pub(crate) struct RawDomain {
    pub name: Option<Spanned<String>>,
    pub certificate: Option<Spanned<String>>,
    pub base_path: Option<Spanned<String>>,
    pub hosted_zone: Option<Spanned<String>>,
}

/// `[cors]` (or `[stages.NAME.cors]`). Unknown keys are `keys`' to report.
#[derive(Debug, Deserialize)]
pub(crate) struct RawCors {
    pub origins: Option<Spanned<Vec<Spanned<String>>>>,
    pub headers: Option<Vec<Spanned<String>>>,
    pub expose_headers: Option<Vec<Spanned<String>>>,
    pub credentials: Option<Spanned<bool>>,
    pub max_age: Option<Spanned<i64>>,
}

/// A `[secrets]` value: `"ssm:/shop/db"`, or `{ from = "...", kms_key =
/// "arn:..." }` when the value is encrypted with a customer key.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawSecret {
    From(String),
    Table {
        from: Option<String>,
        kms_key: Option<String>,
    },
}

/// `[events.NAME]` tables by name.
pub(crate) type RawEvents = BTreeMap<Spanned<String>, Spanned<RawEvent>>;

pub(crate) use super::settings::RawSection;

/// A `[routes]` value: `"greet"`, or an inline table (`{ handler =
/// "greet", cors = false }`, or `{}` for a route the router serves). Untagged: the
/// table's own spans are lost, the entry's span locates errors.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawRoute {
    Handler(String),
    Table {
        handler: Option<String>,
        /// `cors = false`: no CORS headers for this route.
        cors: Option<bool>,
        /// `api_key = true`: callers must send one of the stage's keys.
        api_key: Option<bool>,
        /// `auth = "NAME"` (an `[authorizers.NAME]`) or `"iam"`.
        auth: Option<String>,
        /// OAuth scopes a Cognito authorizer requires of the caller.
        scopes: Option<Vec<String>>,
    },
}

/// `throttle = { rate = 50, burst = 100 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThrottle {
    pub rate: Spanned<f64>,
    pub burst: Spanned<i64>,
}

/// `[app.vpc]`: where the function's network interfaces live. Unknown
/// keys are `keys`' to report.
#[derive(Debug, Deserialize)]
pub(crate) struct RawVpc {
    #[serde(default)]
    pub subnets: Vec<Spanned<String>>,
    #[serde(default)]
    pub security_groups: Vec<Spanned<String>>,
}

/// `canary = { share = "10%", for = "5m", min_invocations = 20 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCanary {
    pub share: Spanned<String>,
    #[serde(rename = "for")]
    pub watch: Option<Spanned<String>>,
    pub min_invocations: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawPermission {
    pub actions: Spanned<Vec<Spanned<String>>>,
    pub resources: Spanned<Vec<Spanned<String>>>,
}

/// `[[checks]]`: a request and what must come back.
#[derive(Debug, Deserialize)]
pub(crate) struct RawCheck {
    pub request: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: SpannedMap<String>,
    pub body: Option<Spanned<String>>,
    pub status: Option<Spanned<i64>>,
    pub contains: Option<Spanned<String>>,
    /// JSON pointer → the value it must hold.
    #[serde(default)]
    pub json: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// `[events.NAME]` (and a stage's `[stages.S.events.NAME]`): a function of
/// lib.rs and what runs it. Which of `schedule`, `bucket` and `queue` is
/// set says the kind; `events` checks that the other keys fit it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawEvent {
    pub handler: Option<Spanned<String>>,
    pub schedule: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub input: Option<Spanned<toml::Value>>,
    pub bucket: Option<Spanned<String>>,
    pub events: Option<Spanned<Vec<Spanned<String>>>>,
    pub prefix: Option<Spanned<String>>,
    pub suffix: Option<Spanned<String>>,
    pub queue: Option<Spanned<String>>,
    pub batch_size: Option<Spanned<i64>>,
    pub batch_window: Option<Spanned<i64>>,
    pub report_failures: Option<Spanned<bool>>,
    pub memory: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<i64>>,
    pub on_failure: Option<Spanned<String>>,
}
