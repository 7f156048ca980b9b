//! Validates the API Gateway features slx.toml configures beside routes:
//! `[app] binary_media_types`, `[usage_plan]` (and a stage's, which
//! replaces it whole) and `[stages.NAME.domain]`. Checks what API Gateway,
//! ACM or DNS would refuse, before any call is made.
//!
//! Pure.

use toml::Spanned;

use super::limits;
use super::model::{Domain, Quota, QuotaPeriod, UsagePlan};
use super::schema::{RawDomain, RawUsagePlan};
use super::validate::Checker;

/// `[app] binary_media_types`: each a media type (`image/png`), and `*`
/// may stand for a whole part (`image/*`, `*/*`).
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html
pub(crate) fn binary_media_types(
    check: &mut Checker,
    raw: &Spanned<Vec<Spanned<String>>>,
    router: bool,
) -> Vec<String> {
    let key = "app.binary_media_types";
    if router {
        check.error(
            raw.span(),
            key,
            "`binary_media_types` with `router`: in router mode every content type is binary already (`*/*`)".into(),
            "remove `binary_media_types`; the router's answers reach clients as the app sends them",
        );
        return vec![];
    }
    let mut types: Vec<String> = Vec::new();
    for entry in raw.get_ref() {
        let text = entry.get_ref();
        if let Some(problem) = media_type_problem(text) {
            check.error(
                entry.span(),
                key,
                format!("`{text}` is not a media type: {problem}"),
                "write `type/subtype` as a Content-Type header does, e.g. `image/png`, `image/*` or `application/octet-stream`",
            );
        } else if types.contains(text) {
            check.error(
                entry.span(),
                key,
                format!("`{text}` is listed twice"),
                "keep one",
            );
        } else {
            types.push(text.clone());
        }
    }
    types
}

/// Why `text` is not `type/subtype` (each an HTTP token, or `*`).
fn media_type_problem(text: &str) -> Option<String> {
    let Some((kind, subtype)) = text.split_once('/') else {
        return Some("no `/`".into());
    };
    if text.contains(';') {
        return Some("parameters (`;...`) are not part of a binary media type".into());
    }
    for part in [kind, subtype] {
        if part.is_empty() {
            return Some("a part is empty".into());
        }
        if part != "*" && !part.bytes().all(is_token_byte) {
            return Some(format!("`{part}` has characters a media type cannot hold"));
        }
    }
    (kind == "*" && subtype != "*").then(|| "`*/...` must be `*/*`".into())
}

/// An HTTP token character (RFC 9110 section 5.6.2), without `*`, which
/// is the wildcard here.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'+-.^_`|~".contains(&b)
}

/// `[usage_plan]` of `table`, if valid.
pub(crate) fn usage_plan(
    check: &mut Checker,
    raw: &Spanned<RawUsagePlan>,
    table: &str,
) -> Option<UsagePlan> {
    let errors_before = check.errors.len();
    let value = raw.get_ref();
    let key = |name: &str| format!("{table}.{name}");
    let rate = value.rate.as_ref().map(|rate| {
        let number = *rate.get_ref();
        if !(number.is_finite() && number > 0.0 && number <= limits::THROTTLE_RATE_MAX) {
            check.error(
                rate.span(),
                &key("rate"),
                format!("`rate` = {number} is out of range"),
                &format!(
                    "requests per second for each key, above 0 and at most {}",
                    limits::THROTTLE_RATE_MAX
                ),
            );
        }
        number
    });
    let burst = value.burst.as_ref().map(|burst| {
        let number = *burst.get_ref();
        if !(0..=i64::from(limits::THROTTLE_BURST_MAX)).contains(&number) {
            check.error(
                burst.span(),
                &key("burst"),
                format!("`burst` = {number} is out of range"),
                &format!(
                    "requests at once for each key, 0 to {}",
                    limits::THROTTLE_BURST_MAX
                ),
            );
        }
        number.clamp(0, i64::from(u32::MAX)) as u32
    });
    // A plan's throttle is a rate and a burst: a burst of 0 would refuse
    // every call, so neither comes alone.
    match (&value.rate, &value.burst) {
        (Some(rate), None) => check.error(
            rate.span(),
            &key("rate"),
            "`rate` without `burst`".into(),
            "set both, e.g. `rate = 10` and `burst = 20` (requests at once)",
        ),
        (None, Some(burst)) => check.error(
            burst.span(),
            &key("burst"),
            "`burst` without `rate`".into(),
            "set both, e.g. `rate = 10` (requests per second) and `burst = 20`",
        ),
        _ => {}
    }
    let period = value.per.as_ref().and_then(|per| {
        let parsed = QuotaPeriod::parse(per.get_ref());
        if parsed.is_none() {
            check.error(
                per.span(),
                &key("per"),
                format!("unknown quota period `{}`", per.get_ref()),
                "use `day`, `week` or `month`",
            );
        }
        parsed
    });
    let quota = match (&value.quota, &value.per) {
        (Some(quota), _) if !(1..=i64::from(i32::MAX)).contains(quota.get_ref()) => {
            check.error(
                quota.span(),
                &key("quota"),
                format!("`quota` = {} is out of range", quota.get_ref()),
                &format!("requests per period for each key, 1 to {}", i32::MAX),
            );
            None
        }
        (Some(quota), None) => {
            check.error(
                quota.span(),
                &key("quota"),
                "`quota` without `per`".into(),
                "say which period it counts, e.g. `per = \"day\"`",
            );
            None
        }
        (None, Some(per)) => {
            check.error(
                per.span(),
                &key("per"),
                "`per` without `quota`".into(),
                "set `quota`, the requests each key may make per period, or remove `per`",
            );
            None
        }
        (Some(quota), Some(_)) => period.map(|period| Quota {
            limit: *quota.get_ref() as u32,
            period,
        }),
        (None, None) => None,
    };
    (check.errors.len() == errors_before).then_some(UsagePlan { rate, burst, quota })
}

/// A regional domain's certificate must be in the stage's region:
/// `region`, when slx.toml sets it (a region from the environment is
/// checked before deploying).
pub(crate) fn check_certificate_region(
    check: &mut Checker,
    raw: &Spanned<RawDomain>,
    table: &str,
    region: &str,
) {
    let Some(certificate) = &raw.get_ref().certificate else {
        return;
    };
    if let Some(found) = certificate_region(certificate.get_ref())
        && found != region
    {
        check.error(
            certificate.span(),
            &format!("{table}.certificate"),
            format!(
                "the certificate is in {found}, the stage deploys to {region}: a regional domain needs a certificate in its own region"
            ),
            &format!(
                "request or import a certificate for the domain in {region} (ACM console, region {region}) and use its ARN"
            ),
        );
    }
}

/// `[stages.NAME.domain]`, if valid (its certificate's region against the
/// stage's: [`check_certificate_region`]).
pub(crate) fn domain(check: &mut Checker, raw: &Spanned<RawDomain>, table: &str) -> Option<Domain> {
    let errors_before = check.errors.len();
    let value = raw.get_ref();
    let key = |name: &str| format!("{table}.{name}");
    let (Some(name), Some(certificate)) = (&value.name, &value.certificate) else {
        check.error(
            raw.span(),
            &key(if value.name.is_none() { "name" } else { "certificate" }),
            format!("[{table}] needs `name` and `certificate`"),
            "e.g. `name = \"api.example.com\"` and `certificate = \"arn:aws:acm:REGION:ACCOUNT:certificate/ID\"` (an ACM certificate for that name, in the stage's region)",
        );
        return None;
    };
    if let Some(problem) = domain_name_problem(name.get_ref()) {
        check.error(
            name.span(),
            &key("name"),
            format!("`{}` is not a domain name: {problem}", name.get_ref()),
            "write the host name clients will call, e.g. `api.example.com` (lowercase, no scheme, no path)",
        );
    }
    if certificate_region(certificate.get_ref()).is_none() {
        check.error(
            certificate.span(),
            &key("certificate"),
            format!("`{}` is not an ACM certificate ARN", certificate.get_ref()),
            "copy the ARN from the ACM console: `arn:aws:acm:REGION:ACCOUNT:certificate/ID`",
        );
    }
    let base_path = value.base_path.as_ref().and_then(|path| {
        let text = path.get_ref().trim_matches('/');
        if let Some(problem) = base_path_problem(text) {
            check.error(
                path.span(),
                &key("base_path"),
                format!("`{}` cannot be a base path: {problem}", path.get_ref()),
                "use one path part of letters, digits, `-`, `_` and `.`, e.g. `v1` (or leave it out to map the root)",
            );
        }
        (!text.is_empty()).then(|| text.to_string())
    });
    let hosted_zone = value.hosted_zone.as_ref().map(|zone| {
        let text = zone.get_ref().trim_start_matches("/hostedzone/");
        if !((1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        {
            check.error(
                zone.span(),
                &key("hosted_zone"),
                format!("`{}` is not a Route 53 hosted zone id", zone.get_ref()),
                "copy the zone's id from the Route 53 console, e.g. `Z0123456789ABCDEFGHIJ`",
            );
        }
        text.to_string()
    });
    (check.errors.len() == errors_before).then(|| Domain {
        name: name.get_ref().clone(),
        certificate: certificate.get_ref().clone(),
        base_path,
        hosted_zone,
    })
}

/// Why `name` is no host name API Gateway accepts (RFC 1035 labels, at
/// least two, lowercase).
fn domain_name_problem(name: &str) -> Option<String> {
    if name.contains("://") || name.contains('/') {
        return Some("a host name has no scheme and no path".into());
    }
    if name.starts_with("*.") {
        return Some("wildcard domains are not supported by slx".into());
    }
    if name.len() > 253 {
        return Some(format!("{} characters; at most 253", name.len()));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Some("it needs a dot (`api.example.com`)".into());
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Some("each part between dots is 1 to 63 characters".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Some(format!(
                "`{label}` may hold only lowercase letters, digits and `-`"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!("`{label}` starts or ends with `-`"));
        }
    }
    None
}

/// The region of an ACM certificate ARN
/// (`arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID`).
pub(crate) fn certificate_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("acm"), Some(region), Some(account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let ok = partition.starts_with("aws")
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && rest
            .strip_prefix("certificate/")
            .is_some_and(|id| !id.is_empty());
    ok.then_some(region)
}

/// A base path is one path part: several (`v1/orders`) need API Gateway
/// v2's API mappings, which slx does not use.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-mappings.html
fn base_path_problem(path: &str) -> Option<String> {
    if path.contains('/') {
        return Some("it must be one path part (no `/` inside)".into());
    }
    path.bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || b"-_.".contains(b)))
        .map(|b| format!("`{}` is not allowed", b as char))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_type_slash_subtype_with_wildcards() {
        for good in ["image/png", "image/*", "*/*", "application/vnd.ms-excel"] {
            assert_eq!(media_type_problem(good), None, "{good}");
        }
        for bad in [
            "image",
            "image/",
            "*/png",
            "text/plain; charset=utf-8",
            "a b/c",
        ] {
            assert!(media_type_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn domain_names_follow_dns_rules() {
        assert_eq!(domain_name_problem("api.example.com"), None);
        assert_eq!(domain_name_problem("a-1.b2.example.co.uk"), None);
        for bad in [
            "localhost",
            "https://api.example.com",
            "API.example.com",
            "-api.example.com",
            "api..example.com",
            "*.example.com",
        ] {
            assert!(domain_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn certificate_arns_give_their_region() {
        assert_eq!(
            certificate_region(
                "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-1234567890ab"
            ),
            Some("eu-west-1")
        );
        assert_eq!(
            certificate_region("arn:aws-cn:acm:cn-north-1:123456789012:certificate/x"),
            Some("cn-north-1")
        );
        assert_eq!(
            certificate_region("arn:aws:iam::123456789012:server-certificate/x"),
            None
        );
        assert_eq!(
            certificate_region("arn:aws:acm:eu-west-1:1234:certificate/x"),
            None
        );
    }

    #[test]
    fn base_paths() {
        assert_eq!(base_path_problem("v1"), None);
        assert_eq!(base_path_problem("shop.v2"), None);
        assert!(base_path_problem("api/v1").is_some());
        assert!(base_path_problem("v1?x").is_some());
    }
}
