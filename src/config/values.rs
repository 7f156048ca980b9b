//! The check of each setting's value on its own, as `settings` declares
//! them: one function per setting, `(checker, raw value, key) -> value`,
//! reporting what AWS would refuse with the value's line and a fix.
//!
//! Pure. Never judges one setting against another (`stage_check` does).

use std::collections::BTreeMap;

use toml::Spanned;

use super::issue::ConfigIssue;
use super::keys::closest;
use super::limits;
use super::model::{Arch, CanarySpec, Throttle, Vpc};
use super::schema::{RawCanary, RawThrottle, RawVpc, SpannedMap};
use super::validate::Checker;

/// The last part of a dotted key: `memory` of `stages.prod.memory`.
fn short(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// A whole number within `range` (inclusive), in `unit`: also the whole
/// check of a setting whose only rule is its range, written on its line
/// in `settings` (`by |c, raw, key| values::ranged(c, raw, key, ..)`).
pub(crate) fn ranged(
    check: &mut Checker,
    raw: &Spanned<i64>,
    key: &str,
    range: (u32, u32),
    unit: &str,
) -> Option<u32> {
    let number = *raw.get_ref();
    let (low, high) = range;
    if number < i64::from(low) || number > i64::from(high) {
        check.error(
            raw.span(),
            key,
            format!("`{}` = {number} is out of range", short(key)),
            &format!("use a value from {low} to {high} {unit}"),
        );
        return None;
    }
    Some(number as u32)
}

pub(crate) fn arch(check: &mut Checker, raw: &Spanned<String>, key: &str) -> Option<Arch> {
    let parsed = Arch::parse(raw.get_ref());
    if parsed.is_none() {
        let spelled = raw.get_ref().to_lowercase();
        let alias = match spelled.as_str() {
            "aarch64" | "arm" | "graviton" => Some("arm64"),
            "amd64" | "x86-64" | "x64" | "intel" => Some("x86_64"),
            _ => None,
        };
        let hint = match alias.or_else(|| closest(&spelled, &Arch::ALL)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "use `x86_64` or `arm64`".into(),
        };
        check.error(
            raw.span(),
            key,
            format!("unknown arch `{}`", raw.get_ref()),
            &hint,
        );
    }
    parsed
}

pub(crate) fn memory(check: &mut Checker, raw: &Spanned<i64>, key: &str) -> Option<u32> {
    ranged(check, raw, key, limits::MEMORY_MB, "MB")
}

pub(crate) fn timeout(check: &mut Checker, raw: &Spanned<i64>, key: &str) -> Option<u32> {
    let timeout = ranged(check, raw, key, limits::TIMEOUT_S, "seconds")?;
    if timeout > limits::API_GATEWAY_TIMEOUT_S {
        check.warnings.push(
            ConfigIssue::new(
                raw.span(),
                key,
                format!("timeout {timeout}s is above API Gateway's 29s integration limit"),
            )
            .with_help("callers through the API get a 504 after 29s; the function itself keeps running up to the timeout"),
        );
    }
    Some(timeout)
}

pub(crate) fn log_retention_days(
    check: &mut Checker,
    raw: &Spanned<i64>,
    key: &str,
) -> Option<u32> {
    let value = *raw.get_ref();
    if limits::RETENTION_DAYS
        .iter()
        .any(|d| i64::from(*d) == value)
    {
        return Some(value as u32);
    }
    let nearest = limits::RETENTION_DAYS
        .iter()
        .min_by_key(|d| (i64::from(**d) - value).abs())
        .copied()
        .unwrap_or(14);
    check.error(
        raw.span(),
        key,
        format!("CloudWatch does not accept a retention of {value} days"),
        &format!(
            "the nearest accepted value is {nearest}; accepted: {}",
            limits::RETENTION_DAYS.map(|d| d.to_string()).join(", ")
        ),
    );
    None
}

pub(crate) fn keep_versions(check: &mut Checker, raw: &Spanned<i64>, key: &str) -> Option<u32> {
    ranged(check, raw, key, limits::KEEP_VERSIONS, "versions")
}

pub(crate) fn region(check: &mut Checker, raw: &Spanned<String>, key: &str) -> Option<String> {
    if limits::region_looks_valid(raw.get_ref()) {
        return Some(raw.get_ref().clone());
    }
    check.error(
        raw.span(),
        key,
        format!("`{}` is not an AWS region name", raw.get_ref()),
        "use a region code such as `eu-west-1` or `us-east-1`",
    );
    None
}

pub(crate) fn account(check: &mut Checker, raw: &Spanned<String>, key: &str) -> Option<String> {
    if limits::account_looks_valid(raw.get_ref()) {
        return Some(raw.get_ref().clone());
    }
    check.error(
        raw.span(),
        key,
        format!("`{}` is not an AWS account id", raw.get_ref()),
        "an account id is 12 digits, e.g. \"123456789012\" (quoted: leading zeros count)",
    );
    None
}

pub(crate) fn profile(check: &mut Checker, raw: &Spanned<String>, key: &str) -> Option<String> {
    let name = raw.get_ref();
    if !name.is_empty() && !name.chars().any(char::is_whitespace) {
        return Some(name.clone());
    }
    check.error(
        raw.span(),
        key,
        format!("`{name}` is not an AWS profile name"),
        "use the name of a profile in ~/.aws/config, e.g. \"prod\"",
    );
    None
}

pub(crate) fn concurrency(check: &mut Checker, raw: &Spanned<i64>, key: &str) -> Option<u32> {
    ranged(
        check,
        raw,
        key,
        limits::CONCURRENCY,
        "concurrent executions",
    )
}

pub(crate) fn provisioned_concurrency(
    check: &mut Checker,
    raw: &Spanned<i64>,
    key: &str,
) -> Option<u32> {
    ranged(check, raw, key, limits::CONCURRENCY, "instances")
}

pub(crate) fn ephemeral_storage(check: &mut Checker, raw: &Spanned<i64>, key: &str) -> Option<u32> {
    ranged(check, raw, key, limits::EPHEMERAL_STORAGE_MB, "MB")
}

/// A person's words for what the app is: printable, and short enough
/// that with slx's own (`slx app APP stage STAGE`) it stays within
/// Lambda's 256 characters for a function's description.
// https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html#lambda-CreateFunction-request-Description
pub(crate) fn description(check: &mut Checker, raw: &Spanned<String>, key: &str) -> Option<String> {
    let text = raw.get_ref().trim();
    let problem = if text.is_empty() {
        Some("is empty".to_string())
    } else if text.chars().count() > limits::DESCRIPTION_MAX {
        Some(format!(
            "is {} characters; at most {} fit beside slx's own words",
            text.chars().count(),
            limits::DESCRIPTION_MAX
        ))
    } else if text.chars().any(char::is_control) {
        Some("holds a control character (a line break, a tab)".to_string())
    } else {
        None
    };
    match problem {
        Some(problem) => {
            check.error(
                raw.span(),
                key,
                format!("the description {problem}"),
                "one short line, e.g. `description = \"Orders API of the shop\"`",
            );
            None
        }
        None => Some(text.to_string()),
    }
}

/// An IAM ARN of `kind` naming one role or managed policy, as written.
fn iam_arn(
    check: &mut Checker,
    raw: &Spanned<String>,
    key: &str,
    kind: limits::IamKind,
    example: &str,
) -> Option<String> {
    let arn = raw.get_ref().trim();
    if limits::iam_arn_looks_valid(arn, kind) {
        return Some(arn.to_string());
    }
    let what = match kind {
        limits::IamKind::Role => "an IAM role ARN",
        limits::IamKind::Policy => "an IAM managed policy ARN",
    };
    check.error(
        raw.span(),
        key,
        format!("`{arn}` is not {what} naming one {}", short_kind(kind)),
        &format!("e.g. `{} = \"{example}\"` (no wildcard)", short(key)),
    );
    None
}

fn short_kind(kind: limits::IamKind) -> &'static str {
    match kind {
        limits::IamKind::Role => "role",
        limits::IamKind::Policy => "policy",
    }
}

/// `permissions_boundary`: the managed policy every role slx makes
/// carries as its permissions boundary.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
pub(crate) fn permissions_boundary(
    check: &mut Checker,
    raw: &Spanned<String>,
    key: &str,
) -> Option<String> {
    iam_arn(
        check,
        raw,
        key,
        limits::IamKind::Policy,
        "arn:aws:iam::123456789012:policy/slx-boundary",
    )
}

/// `role`, `scheduler_role`: a role made elsewhere, used as it is.
pub(crate) fn role(check: &mut Checker, raw: &Spanned<String>, key: &str) -> Option<String> {
    iam_arn(
        check,
        raw,
        key,
        limits::IamKind::Role,
        "arn:aws:iam::123456789012:role/shop-prod-function",
    )
}

pub(crate) fn tracing(_: &mut Checker, raw: &Spanned<bool>, _: &str) -> Option<bool> {
    Some(*raw.get_ref())
}

pub(crate) fn throttle(
    check: &mut Checker,
    throttle: &Spanned<RawThrottle>,
    key: &str,
) -> Option<Throttle> {
    let inner = throttle.get_ref();
    let rate = *inner.rate.get_ref();
    let burst = *inner.burst.get_ref();
    let mut ok = true;
    if !(rate.is_finite() && rate > 0.0 && rate <= limits::THROTTLE_RATE_MAX) {
        ok = false;
        check.error(
            inner.rate.span(),
            &format!("{key}.rate"),
            format!("`rate` = {rate} is out of range"),
            &format!(
                "requests per second, above 0 and at most {} (API Gateway's account default)",
                limits::THROTTLE_RATE_MAX
            ),
        );
    }
    if !(0..=i64::from(limits::THROTTLE_BURST_MAX)).contains(&burst) {
        ok = false;
        check.error(
            inner.burst.span(),
            &format!("{key}.burst"),
            format!("`burst` = {burst} is out of range"),
            &format!(
                "requests at once, 0 to {} (API Gateway's account default)",
                limits::THROTTLE_BURST_MAX
            ),
        );
    }
    ok.then_some(Throttle {
        rate,
        burst: burst as u32,
    })
}

pub(crate) fn canary(
    check: &mut Checker,
    canary: &Spanned<RawCanary>,
    key: &str,
) -> Option<CanarySpec> {
    let inner = canary.get_ref();
    let share = CanarySpec::parse_share(inner.share.get_ref()).map_err(|problem| {
        check.error(
            inner.share.span(),
            &format!("{key}.share"),
            problem,
            "the new version's share while it is watched, e.g. \"10%\"",
        );
    });
    let watch = match &inner.watch {
        None => Ok(CanarySpec::DEFAULT_WATCH),
        Some(text) => CanarySpec::parse_watch(text.get_ref()).map_err(|problem| {
            check.error(
                text.span(),
                &format!("{key}.for"),
                problem,
                "how long to watch before promoting, e.g. \"5m\"",
            );
        }),
    };
    let min_invocations = match &inner.min_invocations {
        None => Ok(CanarySpec::DEFAULT_MIN_INVOCATIONS),
        Some(count) => u32::try_from(*count.get_ref())
            .ok()
            .filter(|n| *n <= CanarySpec::MIN_INVOCATIONS_MAX)
            .ok_or_else(|| {
                check.error(
                    count.span(),
                    &format!("{key}.min_invocations"),
                    format!("`min_invocations` = {} is out of range", count.get_ref()),
                    &format!(
                        "the invocations of the new version its window must see to be judged, 0 to {}",
                        CanarySpec::MIN_INVOCATIONS_MAX
                    ),
                );
            }),
    };
    Some(CanarySpec {
        percent: share.ok()?,
        watch: watch.ok()?,
        min_invocations: min_invocations.ok()?,
    })
}

/// `layers = [...]`: layer version ARNs, at most Lambda's 5, one version
/// of each layer (their region is the stage's: `stage_check`).
pub(crate) fn layers(
    check: &mut Checker,
    layers: &Spanned<Vec<Spanned<String>>>,
    key: &str,
) -> Option<Vec<String>> {
    let errors_before = check.errors.len();
    if layers.get_ref().len() > limits::LAYERS_MAX {
        check.error(
            layers.span(),
            key,
            format!(
                "{} layers; Lambda attaches at most {}",
                layers.get_ref().len(),
                limits::LAYERS_MAX
            ),
            "merge layers, or move what they hold into the app",
        );
    }
    for layer in layers.get_ref() {
        if limits::layer_region(layer.get_ref()).is_none() {
            check.error(
                layer.span(),
                key,
                format!("`{}` is not a layer version ARN", layer.get_ref()),
                "a layer version ARN: arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
            );
        }
    }
    let mut seen = Vec::new();
    for layer in layers.get_ref() {
        let name = layer.get_ref().rsplit_once(':').map(|(n, _)| n);
        if name.is_some() && seen.contains(&name) {
            check.error(
                layer.span(),
                key,
                format!("two versions of layer `{}`", name.unwrap_or_default()),
                "a function takes one version of each layer",
            );
        }
        seen.push(name);
    }
    (check.errors.len() == errors_before).then(|| {
        layers
            .get_ref()
            .iter()
            .map(|l| l.get_ref().clone())
            .collect()
    })
}

/// `vpc = { subnets, security_groups }`: ids of the right shape, at
/// least one of each (Lambda names an id that does not exist itself).
pub(crate) fn vpc(check: &mut Checker, vpc: &Spanned<RawVpc>, key: &str) -> Option<Vpc> {
    let raw = vpc.get_ref();
    let errors_before = check.errors.len();
    let lists = [
        ("subnets", &raw.subnets, "subnet-", limits::VPC_SUBNETS_MAX),
        (
            "security_groups",
            &raw.security_groups,
            "sg-",
            limits::VPC_SECURITY_GROUPS_MAX,
        ),
    ];
    for (list, ids, prefix, max) in lists {
        let key_name = format!("{key}.{list}");
        if ids.is_empty() {
            check.error(
                vpc.span(),
                &key_name,
                format!("`vpc` needs at least one of `{list}`"),
                &format!("list the ids, e.g. `{list} = [\"{prefix}0123456789abcdef0\"]`"),
            );
        }
        if ids.len() > max {
            check.error(
                vpc.span(),
                &key_name,
                format!("{} {list}; Lambda takes at most {max}", ids.len()),
                "list fewer",
            );
        }
        for id in ids {
            if !limits::ec2_id_looks_valid(id.get_ref(), prefix) {
                check.error(
                    id.span(),
                    &key_name,
                    format!("`{}` is not a {prefix}... id", id.get_ref()),
                    &format!("EC2 ids look like `{prefix}0123456789abcdef0` (8 or 17 hex digits)"),
                );
            }
        }
    }
    if check.errors.len() > errors_before {
        return None;
    }
    check.warnings.push(
        ConfigIssue::new(vpc.span(), key, "a function in a VPC reaches AWS APIs and the internet only through the VPC")
            .with_help("give its subnets a NAT gateway, or VPC endpoints for the services it calls (and CloudWatch Logs is reached by Lambda itself)"),
    );
    let ids = |list: &[Spanned<String>]| list.iter().map(|i| i.get_ref().clone()).collect();
    Some(Vpc {
        subnets: ids(&raw.subnets),
        security_groups: ids(&raw.security_groups),
    })
}

/// Quotas the account has had raised (`{ resources_per_api = 600 }`):
/// only API Gateway's raisable quotas that slx counts, each at least its
/// default.
pub(crate) fn raised_quotas(
    check: &mut Checker,
    raw: &Spanned<SpannedMap<i64>>,
    key: &str,
) -> Option<BTreeMap<String, u32>> {
    let errors_before = check.errors.len();
    let known: Vec<&str> = limits::RAISABLE_API_QUOTAS
        .iter()
        .map(|(name, _, _)| *name)
        .collect();
    let mut raised = BTreeMap::new();
    for (name, value) in raw.get_ref() {
        let Some((_, aws_name, default)) = limits::RAISABLE_API_QUOTAS
            .iter()
            .find(|(known, _, _)| known == name.get_ref())
        else {
            let hint = match closest(name.get_ref(), &known) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("slx counts {}", known.join(" and ")),
            };
            check.error(
                name.span(),
                key,
                format!("`{}` is not a quota slx counts", name.get_ref()),
                &hint,
            );
            continue;
        };
        let number = *value.get_ref();
        if number < i64::from(*default) || number > i64::from(u32::MAX) {
            check.error(
                value.span(),
                key,
                format!("`{}` = {number} is not a raised quota", name.get_ref()),
                &format!("AWS's default for {aws_name} is {default}: set the value Service Quotas shows for the account, or leave it out"),
            );
            continue;
        }
        raised.insert(name.get_ref().clone(), number as u32);
    }
    (check.errors.len() == errors_before).then_some(raised)
}
