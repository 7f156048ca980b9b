//! Every setting `[app]` and `[stages.NAME]` may hold, declared once: its
//! raw form (what serde reads, spanned), the tables that accept it, the
//! check of its value, the value a table sets (and where), how a stage's
//! table lays over `[app]`, and the resolved value with its default. One
//! line of `sections!` below gives all of it; a new setting adds a line,
//! its use, its docs and its test.
//!
//! Checks a single value only. What depends on the whole stage (a layer's
//! region, provisioned against reserved concurrency) is `stage_check`'s;
//! what a table holds besides settings (routes, events, secrets) is read
//! elsewhere.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::model::{Arch, CanarySpec, Cors, Domain, Throttle, UsagePlan, Vpc};
use super::schema::{
    RawCanary, RawCheck, RawCors, RawDomain, RawEvents, RawSecret, RawThrottle, RawUsagePlan,
    RawVpc, SpannedMap,
};
use super::stage::{
    DEFAULT_ARCH, DEFAULT_EPHEMERAL_STORAGE_MB, DEFAULT_KEEP_VERSIONS, DEFAULT_LOG_RETENTION_DAYS,
    DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S,
};
use super::validate::Checker;
use super::values;

/// A value a table of slx.toml set, and where: checks of the whole stage
/// point at the line that set what they refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set<T> {
    pub value: T,
    pub span: Range<usize>,
}

/// The tables that hold settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    App,
    Stage,
}

/// The resolved type of a setting: its value with a default, else an
/// `Option`.
macro_rules! resolved_type {
    ($value:ty) => { Option<$value> };
    ($value:ty, $default:expr) => { $value };
}

/// The resolved value of a setting from the layered `Option<Set<_>>`.
macro_rules! resolved_value {
    ($set:expr) => {
        $set.as_ref().map(|set| set.value.clone())
    };
    ($set:expr, $default:expr) => {
        $set.as_ref()
            .map_or_else(|| $default, |set| set.value.clone())
    };
}

macro_rules! sections {
    (
        settings {
            $(
                $(#[doc = $doc:literal])*
                $name:ident: $raw:ty => $value:ty $(= $default:expr)?,
                    in [$($table:ident)+], by $check:expr;
            )*
        }
        other {
            $(
                $(#[doc = $other_doc:literal])*
                $other:ident: $other_ty:ty, in [$($other_table:ident)+];
            )*
        }
    ) => {
        /// `[app]` and every `[stages.NAME]` as serde reads them, every
        /// value spanned. Which table may hold which key is checked
        /// before serde runs (`keys`), so both share this shape.
        #[derive(Debug, Default, Deserialize)]
        pub(crate) struct RawSection {
            $( $(#[doc = $doc])* pub $name: Option<Spanned<$raw>>, )*
            $( $(#[doc = $other_doc])* pub $other: $other_ty, )*
        }

        /// The settings one table sets (or a stage's, `[app]`'s beneath
        /// its own), each with where it was set.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Settings {
            $( $(#[doc = $doc])* pub $name: Option<Set<$value>>, )*
        }

        /// A stage's settings as it is deployed: set by its table, else
        /// by `[app]`, else the default.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
        pub struct Resolved {
            $( $(#[doc = $doc])* pub $name: resolved_type!($value $(, $default)?), )*
        }

        impl Settings {
            /// `self`'s settings beneath `top`'s: `top` wins where it sets one.
            pub(crate) fn beneath(&self, top: &Settings) -> Settings {
                Settings {
                    $( $name: top.$name.clone().or_else(|| self.$name.clone()), )*
                }
            }

            /// The settings of `section` (table `table`, for messages),
            /// every value checked; what fails is reported and left unset.
            pub(crate) fn checked(check: &mut Checker, section: &RawSection, table: &str) -> Settings {
                Settings {
                    $(
                        $name: section.$name.as_ref().and_then(|raw| {
                            let key = format!("{table}.{}", stringify!($name));
                            let value = ($check)(check, raw, &key)?;
                            Some(Set { value, span: raw.span() })
                        }),
                    )*
                }
            }

            /// The values, defaults filled in.
            pub fn resolved(&self) -> Resolved {
                Resolved {
                    $( $name: resolved_value!(self.$name $(, $default)?), )*
                }
            }
        }

        /// The keys `table` accepts.
        pub(crate) fn keys(table: Table) -> Vec<&'static str> {
            let mut keys = Vec::new();
            $( if [$(Table::$table),+].contains(&table) { keys.push(stringify!($name)); } )*
            $( if [$(Table::$other_table),+].contains(&table) { keys.push(stringify!($other)); } )*
            keys
        }
    };
}

sections! {
    settings {
        /// The instruction set: `x86_64` or `arm64` (Graviton).
        arch: String => Arch = DEFAULT_ARCH, in [App Stage], by values::arch;
        /// The function's memory in MB (its CPU share grows with it).
        memory: i64 => u32 = DEFAULT_MEMORY_MB, in [App Stage], by values::memory;
        /// The function's timeout in seconds.
        timeout: i64 => u32 = DEFAULT_TIMEOUT_S, in [App Stage], by values::timeout;
        /// The region the stage lives in (below `--region`).
        region: String => String, in [App Stage], by values::region;
        /// The only AWS account the stage may be deployed to or removed from.
        account: String => String, in [App Stage], by values::account;
        /// The AWS profile for the stage (below `--profile`).
        profile: String => String, in [App Stage], by values::profile;
        /// How long CloudWatch keeps the function's logs, in days.
        log_retention_days: i64 => u32 = DEFAULT_LOG_RETENTION_DAYS,
            in [App Stage], by values::log_retention_days;
        /// Published versions kept; older ones are pruned.
        keep_versions: i64 => u32 = DEFAULT_KEEP_VERSIONS, in [App Stage], by values::keep_versions;
        /// The stage's request rate limit (API Gateway, every route).
        throttle: RawThrottle => Throttle, in [App Stage], by values::throttle;
        /// Reserved concurrency of the function: at most this many at once.
        concurrency: i64 => u32, in [App Stage], by values::concurrency;
        /// Deploys of this stage release as canaries by default.
        canary: RawCanary => CanarySpec, in [App Stage], by values::canary;
        /// `/tmp` of the function, in MB.
        ephemeral_storage: i64 => u32 = DEFAULT_EPHEMERAL_STORAGE_MB,
            in [App Stage], by values::ephemeral_storage;
        /// Lambda layer version ARNs, in order.
        layers: Vec<Spanned<String>> => Vec<String> = Vec::new(), in [App Stage], by values::layers;
        /// X-Ray active tracing on the function and the API stage.
        tracing: bool => bool = false, in [App Stage], by values::tracing;
        /// The VPC the function's network interfaces are placed in.
        vpc: RawVpc => Vpc, in [App Stage], by values::vpc;
        /// Instances of the stage's alias kept initialised.
        provisioned_concurrency: i64 => u32, in [App Stage], by values::provisioned_concurrency;
        /// Which browser origins may call the API (`[cors]`; a stage's
        /// `[stages.NAME.cors]` replaces it whole).
        cors: RawCors => Cors, in [Stage], by super::cors::cors;
        /// What each API key may call (`[usage_plan]`; a stage's replaces it).
        usage_plan: RawUsagePlan => UsagePlan, in [Stage], by super::gateway::usage_plan;
        /// The stage's custom domain name.
        domain: RawDomain => Domain, in [Stage], by super::gateway::domain;
        /// What the app is, shown on its functions and its API beside
        /// slx's own words there.
        description: String => String, in [App Stage], by values::description;
        /// Responses of at least this many bytes API Gateway compresses
        /// for clients that accept it; unset: none.
        minimum_compression_size: i64 => u32, in [App Stage],
            by |c, raw, key| values::ranged(c, raw, key, (0, 10_485_760), "bytes");
        /// API Gateway quotas the account has had raised (Service Quotas),
        /// by slx's name for them: what a deploy counts the stage against.
        raised_quotas: SpannedMap<i64> => BTreeMap<String, u32> = BTreeMap::new(),
            in [App Stage], by values::raised_quotas;
        /// The managed policy every IAM role slx makes carries as its
        /// permissions boundary (what the role may do never exceeds it).
        permissions_boundary: String => String, in [App Stage], by values::permissions_boundary;
        /// A role made elsewhere that the stage's functions run with:
        /// slx then makes no role for them and writes no role policy.
        role: String => String, in [App Stage], by values::role;
        /// A role made elsewhere that EventBridge Scheduler assumes to run
        /// the stage's schedules (instead of the one slx makes).
        scheduler_role: String => String, in [App Stage], by values::role;
    }
    other {
        /// Only in `[app]`: the app's name.
        name: Option<Spanned<String>>, in [App];
        /// Only in `[app]`: the function of lib.rs that builds the router.
        router: Option<Spanned<String>>, in [App];
        /// Only in `[app]`: content types API Gateway passes as binary.
        binary_media_types: Option<Spanned<Vec<Spanned<String>>>>, in [App];
        /// Only in `[stages.NAME]`: variables added or replaced for the
        /// stage (the app's are the top-level `[env]`).
        env: Option<Spanned<SpannedMap<String>>>, in [Stage];
        /// Only in `[stages.NAME]`: checks added for the stage.
        checks: Option<Vec<Spanned<RawCheck>>>, in [Stage];
        /// Only in `[stages.NAME]`: what the stage changes of `[events.NAME]`.
        events: Option<RawEvents>, in [Stage];
        /// Only in `[stages.NAME]`: secrets added or replaced for the stage.
        secrets: Option<Spanned<SpannedMap<RawSecret>>>, in [Stage];
    }
}

impl Default for Resolved {
    fn default() -> Resolved {
        Settings::default().resolved()
    }
}
