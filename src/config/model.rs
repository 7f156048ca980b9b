//! The validated configuration: plain values, no spans except where a later
//! stage (the handler check of `slx build`) points back into `slx.toml`.
//!
//! Constructed only by `validate`; everything here is already known good.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// CPU architecture of the Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    pub const ALL: [&'static str; 2] = ["x86_64", "arm64"];

    pub fn parse(text: &str) -> Option<Arch> {
        match text {
            "x86_64" => Some(Arch::X86_64),
            "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The name Lambda's API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The Rust target triple a `provided.al2023` binary is built for.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HTTP methods API Gateway REST APIs accept; `Any` is API Gateway's ANY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

impl Method {
    pub const ALL: [&'static str; 8] = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
    ];

    pub fn parse(text: &str) -> Option<Method> {
        Some(match text {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "ANY" => Method::Any,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Method::ALL[self as usize]
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Segment {
    /// A fixed path part, e.g. `orders`.
    Literal(String),
    /// `{id}`: one path part, passed to the handler by name.
    Param(String),
    /// `{proxy+}`: the rest of the path; only ever last.
    Greedy(String),
}

impl Segment {
    /// The segment as API Gateway writes it (`orders`, `{id}`, `{proxy+}`).
    pub fn path_part(&self) -> String {
        match self {
            Segment::Literal(text) => text.clone(),
            Segment::Param(name) => format!("{{{name}}}"),
            Segment::Greedy(name) => format!("{{{name}+}}"),
        }
    }
}

/// A route path such as `/orders/{id}`, split into segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RoutePath {
    pub segments: Vec<Segment>,
}

impl RoutePath {
    /// Names of the `{param}` and `{param+}` segments, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) | Segment::Greedy(n) => Some(n.as_str()),
            Segment::Literal(_) => None,
        })
    }
}

impl fmt::Display for RoutePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            write!(f, "/{}", segment.path_part())?;
        }
        Ok(())
    }
}

/// One `"METHOD /path" = "handler"` entry, or a route the app's router
/// serves (`"METHOD /path" = {}` in router mode, and the catch-all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub method: Method,
    pub path: RoutePath,
    /// Name of the async fn in the app crate's `lib.rs`; `None`: the
    /// app's router (`[app] router`) serves it.
    pub handler: Option<String>,
    /// Whether `[cors]` applies (`cors = false` in its inline table: no).
    pub cors: bool,
    /// Whether callers must send one of the stage's API keys
    /// (`api_key = true`).
    pub api_key: bool,
    /// Who may call it: `iam`, or an `[authorizers.NAME]`.
    pub auth: Option<RouteAuth>,
    /// Where the entry stands in `slx.toml`, for errors found later.
    #[serde(skip)]
    pub span: Range<usize>,
}

impl Route {
    /// `POST /orders/{id}`: how users write and read a route.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// What serves it, for people: `greet`, or `the router`.
    pub fn served_by(&self) -> &str {
        self.handler.as_deref().unwrap_or("the router")
    }
}

/// Every content type, as API Gateway writes it: a router's answers may
/// be anything (images, compressed bodies), and API Gateway decodes a
/// base64 answer only for binary media types. Text answers still pass as
/// text, and request bodies reach the app base64-encoded, which
/// lambda_http decodes.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html
pub(super) const ROUTER_BINARY_MEDIA_TYPES: &str = "*/*";

/// The greedy parameter of the router's catch-all (`/{proxy+}`), as in
/// AWS's own proxy-resource examples.
const CATCH_ALL_PARAM: &str = "proxy";

/// The routes an API serves: `declared`, and in router mode `ANY /` and
/// `ANY /{proxy+}` to the router where slx.toml does not declare them.
/// API Gateway prefers a declared resource to the greedy one, so
/// declared routes keep winning.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-set-up-simple-proxy.html
pub(crate) fn api_routes(declared: &[Route], router: Option<&str>) -> Vec<Route> {
    let mut routes = declared.to_vec();
    if router.is_none() {
        return routes;
    }
    let catch_alls = [
        RoutePath { segments: vec![] },
        RoutePath {
            segments: vec![Segment::Greedy(CATCH_ALL_PARAM.into())],
        },
    ];
    for path in catch_alls {
        if !declared
            .iter()
            .any(|r| r.method == Method::Any && r.path == path)
        {
            routes.push(Route {
                method: Method::Any,
                path,
                handler: None,
                cors: true,
                api_key: false,
                auth: None,
                span: 0..0,
            });
        }
    }
    routes
}

/// One IAM statement the user grants the function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

pub use super::settings::{Resolved, Set, Settings};

/// A route's `auth`: IAM (SigV4-signed calls), or an authorizer of
/// slx.toml with the OAuth scopes a Cognito one requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RouteAuth {
    Iam,
    Authorizer { name: String, scopes: Vec<String> },
}

/// `[authorizers.NAME]`: how API Gateway decides who may call a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authorizer {
    pub name: String,
    pub kind: AuthorizerKind,
    /// The request header the token comes in.
    pub header: String,
    /// Seconds API Gateway caches a verdict for one token (0: never).
    pub ttl: u32,
}

impl Authorizer {
    /// A Cognito authorizer's user pools (none for a function).
    pub fn user_pools(&self) -> &[String] {
        match &self.kind {
            AuthorizerKind::Cognito { user_pools } => user_pools,
            AuthorizerKind::Function { .. } => &[],
        }
    }

    /// How API Gateway may cache this authorizer's verdicts, when its
    /// function takes the route (`by_route`) or not: see
    /// [`AuthorizerSource::caching`]; a Cognito one's for its `ttl`.
    pub fn caching(&self, by_route: bool) -> Caching {
        match self.function() {
            Some((_, source)) => source.caching(by_route),
            None => Caching {
                ttl: self.ttl,
                per_route: false,
            },
        }
    }

    /// Why slx caches this authorizer's verdicts for less than slx.toml's
    /// `ttl` says, if it does.
    pub fn caching_note(&self, by_route: bool) -> Option<String> {
        let caching = self.caching(by_route);
        (caching.ttl < self.ttl).then(|| {
            format!(
                "authorizer `{}` is a `token` authorizer whose function takes the route (method, path or method ARN), but API Gateway caches a token authorizer's verdict by the token alone: slx asks it on every call (ttl 0, not {}). With `type = \"request\"` its verdicts are cached per route",
                self.name, self.ttl
            )
        })
    }

    /// A function authorizer's function of lib.rs and what API Gateway
    /// hands it; `None` for a Cognito one.
    pub fn function(&self) -> Option<(&str, AuthorizerSource)> {
        let AuthorizerKind::Function { function, request } = &self.kind else {
            return None;
        };
        Some((
            function,
            AuthorizerSource {
                request: *request,
                header: self.header.clone(),
                ttl: self.ttl,
            },
        ))
    }
}

/// How API Gateway caches an authorizer's verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caching {
    /// Seconds a verdict is kept (0: never).
    pub ttl: u32,
    /// Kept per route (method and resource) as well as per token.
    pub per_route: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthorizerKind {
    /// JWTs of these Cognito user pools (ARNs).
    Cognito { user_pools: Vec<String> },
    /// A function of lib.rs, run as its own Lambda function; `request`:
    /// it gets the request's headers, query and path, not a token alone.
    Function { function: String, request: bool },
}

/// `[usage_plan]`: the rate, burst and quota of each of the stage's API
/// keys (API Gateway answers 429 beyond them). Unset: no limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct UsagePlan {
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub quota: Option<Quota>,
}

// Rates come from validated, finite TOML numbers.
impl Eq for UsagePlan {}

/// Requests a key may make per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub limit: u32,
    pub period: QuotaPeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

impl QuotaPeriod {
    pub const ALL: [&'static str; 3] = ["day", "week", "month"];

    pub fn parse(text: &str) -> Option<QuotaPeriod> {
        match text {
            "day" => Some(QuotaPeriod::Day),
            "week" => Some(QuotaPeriod::Week),
            "month" => Some(QuotaPeriod::Month),
            _ => None,
        }
    }

    /// slx.toml's word for it.
    pub fn as_str(self) -> &'static str {
        QuotaPeriod::ALL[self as usize]
    }
}

/// `[stages.NAME.domain]`: a custom domain name in front of the stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// `api.example.com`.
    pub name: String,
    /// The ACM certificate's ARN (in the stage's region: the domain is
    /// regional).
    pub certificate: String,
    /// The path the API is mapped under (`v1`); `None`: the root.
    pub base_path: Option<String>,
    /// A Route 53 hosted zone whose alias record slx keeps pointed at
    /// the domain.
    pub hosted_zone: Option<String>,
}

/// `[cors]`: the origins a browser page may call the API from, and what
/// such a call may send and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cors {
    /// `https://app.example.com`, or `*` alone.
    pub origins: Vec<String>,
    /// Request headers a page may send.
    pub headers: Vec<String>,
    /// Response headers a page may read besides the simple ones.
    pub expose_headers: Vec<String>,
    /// Whether cookies and credentials may go with a call.
    pub credentials: bool,
    /// Seconds a browser may cache a preflight answer.
    pub max_age: u32,
}

/// The VPC a function's network interfaces are placed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vpc {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

/// A steady rate (requests per second) and a burst, for every route of a
/// stage: API Gateway answers 429 beyond them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Throttle {
    pub rate: f64,
    pub burst: u32,
}

// Rates come from validated, finite TOML numbers.
impl Eq for Throttle {}

/// A smoke check (`[[checks]]`): a request the new version must answer
/// as expected before the stage alias moves to it (docs/deploy.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `METHOD /path[?query]`, served by a route of slx.toml.
    pub request: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// The status the answer must have.
    pub status: u16,
    /// Text the body must contain.
    pub contains: Option<String>,
    /// JSON pointers into the body and the value (as JSON text) each
    /// must hold.
    pub json: Vec<(String, String)>,
}

/// A canary release: `canary = { share = "10%", for = "5m" }` in slx.toml,
/// or `--canary 10% --for 5m` (docs/deploy.md, "Canary releases").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CanarySpec {
    /// The share of invocations the new version gets, in percent (1..=99).
    pub percent: u8,
    /// How long to watch before promoting.
    #[serde(rename = "for_seconds", serialize_with = "as_seconds")]
    pub watch: std::time::Duration,
    /// Invocations of the new version its window must hold to be judged:
    /// fewer, and it is rolled back (no traffic is no evidence).
    pub min_invocations: u32,
}

fn as_seconds<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl CanarySpec {
    /// Bounds of a canary's watch.
    pub const WATCH_MIN: std::time::Duration = std::time::Duration::from_secs(1);
    pub const WATCH_MAX: std::time::Duration = std::time::Duration::from_secs(6 * 3600);
    /// When only a share is given.
    pub const DEFAULT_WATCH: std::time::Duration = std::time::Duration::from_secs(300);
    /// When slx.toml and the command line do not say.
    pub const DEFAULT_MIN_INVOCATIONS: u32 = 20;
    pub const MIN_INVOCATIONS_MAX: u32 = 1_000_000;

    /// The share as Lambda's routing weight (0.0 to 1.0).
    pub fn weight(&self) -> f64 {
        f64::from(self.percent) / 100.0
    }

    /// Parses `10%` or `10` into a share in percent, 1 to 99.
    pub fn parse_share(text: &str) -> Result<u8, String> {
        let number = text.trim().trim_end_matches('%').trim();
        match number.parse::<u8>() {
            Ok(percent @ 1..=99) => Ok(percent),
            _ => Err(format!(
                "`{text}` is not a share from 1% to 99% of the stage's traffic"
            )),
        }
    }

    /// Parses `5m` into a watch duration within the bounds.
    pub fn parse_watch(text: &str) -> Result<std::time::Duration, String> {
        match humantime::parse_duration(text.trim()) {
            Ok(watch) if (Self::WATCH_MIN..=Self::WATCH_MAX).contains(&watch) => Ok(watch),
            Ok(_) => Err(format!("`{text}` is outside 1s to 6h")),
            Err(e) => Err(format!("`{text}` is not a duration ({e}); e.g. 5m, 90s")),
        }
    }
}

/// `[events.NAME]`: a function of lib.rs that an event source runs. Each
/// is deployed as its own Lambda function, `<app>-<stage>-<NAME>`, from
/// the stage's one zip (docs/config.md, "Events").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventHandler {
    /// The table's name: the function's name suffix and `SLX_HANDLER`.
    pub name: String,
    /// The function of lib.rs it calls (`handler`, else `name`).
    pub handler: String,
    pub source: EventSource,
    /// Overrides of the stage's memory and timeout for this function.
    pub memory: Option<u32>,
    pub timeout: Option<u32>,
    /// An existing SQS queue (name or ARN) that gets the events whose
    /// asynchronous invocation failed after Lambda's retries.
    pub on_failure: Option<String>,
    /// Where `[events.NAME]` stands in slx.toml, for errors found later.
    #[serde(skip)]
    pub span: Range<usize>,
}

/// What runs an event handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventSource {
    Schedule(ScheduleSource),
    S3(S3Source),
    Sqs(SqsSource),
    /// An `[authorizers.NAME]` with `function`: API Gateway asks it
    /// about each caller of the routes with `auth = "NAME"`.
    Authorizer(AuthorizerSource),
}

impl EventSource {
    /// `schedule`, `s3`, `sqs` or `authorizer`: how docs and output name
    /// the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            EventSource::Schedule(_) => "schedule",
            EventSource::S3(_) => "s3",
            EventSource::Sqs(_) => "sqs",
            EventSource::Authorizer(_) => "authorizer",
        }
    }
}

/// What API Gateway hands a function authorizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizerSource {
    /// `true`: the request's headers, query and path (a `REQUEST`
    /// authorizer); `false`: the token in `header` (`TOKEN`).
    pub request: bool,
    pub header: String,
    /// Seconds API Gateway caches a verdict.
    pub ttl: u32,
}

impl AuthorizerSource {
    /// How API Gateway may cache the verdicts of an authorizer whose
    /// function takes the route (`by_route`) or not. A verdict that may
    /// differ from route to route must never serve another route: a
    /// `request` authorizer's is then cached per route (method and
    /// resource among its identity sources), a `token` one's (which API
    /// Gateway caches by the token alone) not at all.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/configure-api-gateway-lambda-authorization.html
    pub fn caching(&self, by_route: bool) -> Caching {
        match (by_route, self.request) {
            (true, true) => Caching {
                ttl: self.ttl,
                per_route: true,
            },
            (true, false) => Caching {
                ttl: 0,
                per_route: false,
            },
            (false, _) => Caching {
                ttl: self.ttl,
                per_route: false,
            },
        }
    }
}

/// `schedule = "rate(1 hour)"`: an EventBridge Scheduler expression
/// (`rate(...)`, `cron(...)` in AWS's six-field dialect, or `at(...)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleSource {
    pub expression: String,
    /// IANA time zone the expression is read in (UTC without one).
    pub timezone: Option<String>,
    /// Fixed JSON the handler receives as `input` on every run.
    pub input: Option<serde_json::Value>,
}

/// `bucket = "..."`: objects created in (or removed from) an existing
/// bucket, optionally only under a key prefix and with a key suffix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct S3Source {
    pub bucket: String,
    pub events: Vec<S3EventKind>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

impl S3Source {
    /// Its prefix and suffix (`None`: any).
    pub fn key_filters(&self) -> (Option<&str>, Option<&str>) {
        (self.prefix.as_deref(), self.suffix.as_deref())
    }

    /// Whether an event of `kind` for `key` is one this source sends, as
    /// S3's notification filter decides (prefix and suffix, as written).
    pub fn matches(&self, key: &str, kind: S3EventKind) -> bool {
        self.events.contains(&kind)
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }
}

/// Whether some object key could pass both rules' key filters (a prefix
/// and a suffix each, `None` for any): what S3 calls overlapping, for two
/// rules that also share an event type.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-filtering.html
pub fn key_filters_overlap(
    (a_prefix, a_suffix): (Option<&str>, Option<&str>),
    (b_prefix, b_suffix): (Option<&str>, Option<&str>),
) -> bool {
    let (a_prefix, b_prefix) = (a_prefix.unwrap_or(""), b_prefix.unwrap_or(""));
    let (a_suffix, b_suffix) = (a_suffix.unwrap_or(""), b_suffix.unwrap_or(""));
    (a_prefix.starts_with(b_prefix) || b_prefix.starts_with(a_prefix))
        && (a_suffix.ends_with(b_suffix) || b_suffix.ends_with(a_suffix))
}

/// Which object events an S3 handler receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum S3EventKind {
    Created,
    Removed,
}

impl S3EventKind {
    pub const ALL: [&'static str; 2] = ["created", "removed"];

    pub fn parse(text: &str) -> Option<S3EventKind> {
        match text {
            "created" => Some(S3EventKind::Created),
            "removed" => Some(S3EventKind::Removed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize]
    }

    /// The kind an event type of S3's notification configuration is
    /// (`s3:ObjectCreated:Put` is `created`).
    pub fn of_aws_event(event: &str) -> Option<S3EventKind> {
        if event.starts_with("s3:ObjectCreated:") {
            Some(S3EventKind::Created)
        } else if event.starts_with("s3:ObjectRemoved:") {
            Some(S3EventKind::Removed)
        } else {
            None
        }
    }

    /// The event type S3's notification configuration names.
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html
    pub fn aws_event(self) -> &'static str {
        match self {
            S3EventKind::Created => "s3:ObjectCreated:*",
            S3EventKind::Removed => "s3:ObjectRemoved:*",
        }
    }
}

/// `queue = "..."`: messages of an existing SQS queue, in batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqsSource {
    /// The queue's name or ARN, as written.
    pub queue: String,
    pub batch_size: u32,
    /// Seconds Lambda may wait to fill a batch.
    pub batch_window: u32,
    /// Report failed messages one by one (`ReportBatchItemFailures`);
    /// without it, one failed message fails and retries its whole batch.
    pub report_failures: bool,
}

impl SqsSource {
    /// Whether the queue is a FIFO queue (its name ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.queue.ends_with(".fifo")
    }
}

/// An event handler of one stage, its memory and timeout resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventFunction {
    #[serde(flatten)]
    pub handler: EventHandler,
    pub memory_mb: u32,
    pub timeout_s: u32,
}

/// `[secrets]`: an environment variable of the function whose value the
/// generated handler fetches at cold start, so it is never in the
/// function's configuration, in slx's output or in its logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    /// The variable the app reads.
    pub name: String,
    pub source: SecretSource,
    /// The customer-managed KMS key the value is encrypted with, if any
    /// (the role may then decrypt with it).
    pub kms_key: Option<String>,
}

/// Where a secret's value is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "service", content = "id", rename_all = "snake_case")]
pub enum SecretSource {
    /// An SSM Parameter Store parameter (its name, `/shop/db`).
    Ssm(String),
    /// A Secrets Manager secret (its name or ARN).
    SecretsManager(String),
}

impl SecretSource {
    /// How slx.toml writes it: `ssm:/shop/db`.
    pub fn reference(&self) -> String {
        match self {
            SecretSource::Ssm(name) => format!("ssm:{name}"),
            SecretSource::SecretsManager(id) => format!("secretsmanager:{id}"),
        }
    }
}

/// What one `[stages.NAME]` table changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageOverlay {
    pub settings: Settings,
    pub env: BTreeMap<String, String>,
    /// Checks this stage runs besides the app's.
    pub checks: Vec<Check>,
    /// The app's event handlers as this stage has them, when the stage
    /// changes any (`[stages.NAME.events.HANDLER]`).
    pub events: Option<Vec<EventHandler>>,
    /// Secrets the stage adds or replaces, by name.
    pub secrets: BTreeMap<String, Secret>,
}

/// A whole validated `slx.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub source: Arc<String>,
    pub name: String,
    pub settings: Settings,
    pub env: BTreeMap<String, String>,
    /// The routes slx.toml declares (without the router's catch-all).
    pub routes: Vec<Route>,
    /// `[app] router`: the function of lib.rs that builds the app's
    /// router, which serves every request no handler route takes.
    pub router: Option<String>,
    /// `[app] binary_media_types`.
    pub binary_media_types: Vec<String>,
    /// `[authorizers.NAME]`.
    pub authorizers: Vec<Authorizer>,
    pub stages: BTreeMap<String, StageOverlay>,
    pub permissions: Vec<Permission>,
    pub checks: Vec<Check>,
    /// `[events.NAME]`, as the app declares them.
    pub events: Vec<EventHandler>,
    /// `[secrets]`, by name.
    pub secrets: BTreeMap<String, Secret>,
    /// Problems that do not stop a deploy but deserve a look.
    pub warnings: Vec<super::ConfigIssue>,
}

impl Config {
    /// Stage `stage`'s settings: its `[stages.NAME]` table's over
    /// `[app]`'s (a stage without a table has `[app]`'s).
    pub fn settings_of(&self, stage: &str) -> Settings {
        match self.stages.get(stage) {
            Some(overlay) => self.settings.beneath(&overlay.settings),
            None => self.settings.clone(),
        }
    }
}

/// One stage of the app, every setting resolved: what build and deploy use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub app: String,
    pub stage: String,
    /// The stage's settings (`crate::config::settings`), read as the
    /// project's own fields (`project.memory`): `Project` derefs to them.
    #[serde(flatten)]
    pub settings: Resolved,
    /// Content types API Gateway passes to and from the function as
    /// binary (`[app] binary_media_types`).
    pub binary_media_types: Vec<String>,
    /// The stage's usage plan, when a route requires an API key
    /// (`[usage_plan]`, or no limits); it shadows the setting, which only
    /// sets the limits.
    pub usage_plan: Option<UsagePlan>,
    /// The authorizers routes name (`[authorizers.NAME]`).
    pub authorizers: Vec<Authorizer>,
    pub env: BTreeMap<String, String>,
    /// Every route the API serves: slx.toml's, and in router mode the
    /// catch-all ([`api_routes`]).
    pub routes: Vec<Route>,
    /// `[app] router`, the function that builds the app's router.
    pub router: Option<String>,
    pub permissions: Vec<Permission>,
    /// The app's checks, then the stage's.
    pub checks: Vec<Check>,
    /// The event handlers, each its own function.
    pub events: Vec<EventFunction>,
    /// The stage's secrets (`[secrets]`, then the stage's), by name.
    pub secrets: Vec<Secret>,
    /// Whether any stage of the app has secrets: the generated handler
    /// then can fetch them (one zip serves every stage, and `promote`
    /// moves it between stages).
    pub fetches_secrets: bool,
    /// Whether any stage of the app has `[cors]`: the generated handler
    /// then can add the headers (one zip serves every stage).
    pub serves_cors: bool,
}

impl std::ops::Deref for Project {
    type Target = Resolved;

    fn deref(&self) -> &Resolved {
        &self.settings
    }
}

impl Project {
    /// The API's binary media types, as API Gateway applies them.
    pub fn binary_media(&self) -> crate::binary_media::BinaryMediaTypes {
        crate::binary_media::BinaryMediaTypes::new(&self.binary_media_types)
    }

    /// The names of this stage's AWS resources.
    pub(crate) fn names(&self) -> crate::names::StageNames {
        let mut names = crate::names::StageNames::new(&self.app, &self.stage);
        let referenced = &mut names.referenced;
        for event in &self.events {
            let handler = &event.handler;
            referenced.handlers.insert(handler.name.clone());
            match &handler.source {
                EventSource::S3(s3) => {
                    referenced.buckets.insert(s3.bucket.clone());
                }
                EventSource::Sqs(sqs) => {
                    referenced.queues.insert(sqs.queue.clone());
                }
                EventSource::Schedule(_) => {}
                EventSource::Authorizer(_) => {
                    referenced.authorizers.insert(handler.name.clone());
                }
            }
            if let Some(queue) = &handler.on_failure {
                referenced.queues.insert(queue.clone());
            }
        }
        referenced.domain = self
            .domain
            .as_ref()
            .map(|domain| (domain.name.clone(), domain.hosted_zone.clone()));
        referenced.permissions_boundary = self.permissions_boundary.clone();
        referenced.function_role = self.role.clone();
        referenced.scheduler_role = self.scheduler_role.clone();
        names
    }

    /// The `[events.NAME]` handler `name` (`--handler NAME` of a command).
    pub fn event_handler(&self, name: &str) -> Result<&EventFunction, UnknownHandler> {
        if let Some(found) = self.events.iter().find(|e| e.handler.name == name) {
            return Ok(found);
        }
        let names: Vec<&str> = self
            .events
            .iter()
            .map(|e| e.handler.name.as_str())
            .collect();
        let help = match super::keys::closest(name, &names) {
            Some(best) => format!("did you mean `{best}`?"),
            None if names.is_empty() => {
                "declare it in slx.toml as [events.NAME] (docs/config.md)".into()
            }
            None => format!("event handlers: {}", names.join(", ")),
        };
        Err(UnknownHandler {
            name: name.to_string(),
            help,
        })
    }
}

/// `--handler NAME` names no `[events.NAME]` table.
#[derive(Debug, thiserror::Error, miette::Diagnostic, PartialEq, Eq)]
#[error("slx.toml has no event handler `{name}`")]
#[diagnostic(code(slx::config::no_handler), help("{help}"))]
pub struct UnknownHandler {
    pub name: String,
    pub help: String,
}
