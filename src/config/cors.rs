//! Validates `[cors]` (and a stage's `[stages.NAME.cors]`, which replaces
//! it whole): which browser origins may call the API, and what they may
//! send and read. Checks what browsers and API Gateway would refuse:
//! an origin that is not `scheme://host[:port]`, `*` beside other
//! origins, credentials with `*` (browsers ignore such answers), header
//! names that are not HTTP tokens, a max age out of range.
//! <https://fetch.spec.whatwg.org/#http-cors-protocol>
//!
//! Pure.

use toml::Spanned;

use super::model::Cors;
use super::schema::RawCors;
use super::validate::Checker;

/// Seconds a browser may cache a preflight answer, when unset.
pub const DEFAULT_MAX_AGE_S: u32 = 600;
/// The most any browser honours (Firefox's cap); more is pointless.
const MAX_AGE_MAX_S: u32 = 86_400;
/// Request headers allowed when unset: what a JSON API and its callers
/// usually send.
pub const DEFAULT_HEADERS: [&str; 3] = ["Content-Type", "Authorization", "X-Api-Key"];

/// The CORS settings of one table, if valid.
pub(crate) fn cors(check: &mut Checker, raw: &Spanned<RawCors>, table: &str) -> Option<Cors> {
    let errors_before = check.errors.len();
    let value = raw.get_ref();
    let key = |name: &str| format!("{table}.{name}");
    let Some(origins) = &value.origins else {
        check.error(
            raw.span(),
            &key("origins"),
            format!("[{table}] needs `origins`"),
            "list the pages' origins, e.g. `origins = [\"https://app.example.com\"]` (or `[\"*\"]` for any)",
        );
        return None;
    };
    let list_span = origins.span();
    let origins = origins.get_ref();
    if origins.is_empty() {
        check.error(
            list_span,
            &key("origins"),
            "`origins` is empty: no browser could call the API".into(),
            "list at least one origin, or remove the table",
        );
    }
    let any = origins.iter().any(|o| o.get_ref() == "*");
    for origin in origins {
        if origin.get_ref() == "*" {
            if origins.len() > 1 {
                check.error(
                    origin.span(),
                    &key("origins"),
                    "`*` allows every origin; the others beside it mean nothing".into(),
                    "keep `*` alone, or list the origins without it",
                );
            }
            continue;
        }
        if let Some(problem) = origin_problem(origin.get_ref()) {
            check.error(
                origin.span(),
                &key("origins"),
                format!("`{}` is not an origin: {problem}", origin.get_ref()),
                "write it as a browser sends it: `https://app.example.com` or `http://localhost:3000` (scheme, host, optional port; no path, no trailing `/`)",
            );
        }
    }
    let credentials = value.credentials.as_ref().is_some_and(|c| *c.get_ref());
    if credentials
        && any
        && let Some(flag) = &value.credentials
    {
        check.error(
            flag.span(),
            &key("credentials"),
            "`credentials = true` with `origins = [\"*\"]`: browsers refuse credentialed answers to any origin".into(),
            "list the origins that may send cookies or credentials",
        );
    }
    let headers = header_list(check, value.headers.as_ref(), &key("headers"));
    let expose_headers = header_list(check, value.expose_headers.as_ref(), &key("expose_headers"));
    let max_age = match &value.max_age {
        Some(age) if !(0..=i64::from(MAX_AGE_MAX_S)).contains(age.get_ref()) => {
            check.error(
                age.span(),
                &key("max_age"),
                format!("`max_age` = {} is out of range", age.get_ref()),
                &format!(
                    "use 0 to {MAX_AGE_MAX_S} seconds (browsers cap it lower: Chrome at 7200)"
                ),
            );
            DEFAULT_MAX_AGE_S
        }
        Some(age) => *age.get_ref() as u32,
        None => DEFAULT_MAX_AGE_S,
    };
    (check.errors.len() == errors_before).then(|| Cors {
        origins: origins.iter().map(|o| o.get_ref().clone()).collect(),
        headers: headers.unwrap_or_else(|| DEFAULT_HEADERS.map(str::to_string).to_vec()),
        expose_headers: expose_headers.unwrap_or_default(),
        credentials,
        max_age,
    })
}

fn header_list(
    check: &mut Checker,
    raw: Option<&Vec<Spanned<String>>>,
    key: &str,
) -> Option<Vec<String>> {
    let raw = raw?;
    for header in raw {
        let name = header.get_ref();
        let token = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if !token {
            check.error(
                header.span(),
                key,
                format!("`{name}` is not an HTTP header name"),
                "use the header's name only, e.g. `X-Request-Id`",
            );
        }
    }
    Some(raw.iter().map(|h| h.get_ref().clone()).collect())
}

/// Why `origin` is not `scheme://host[:port]`, if it is not.
fn origin_problem(origin: &str) -> Option<&'static str> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Some("it has no `https://` (or `http://`)");
    };
    if scheme != "https" && scheme != "http" {
        return Some("browsers send `https://` or `http://` origins");
    }
    if rest.is_empty() {
        return Some("it has no host");
    }
    if rest.contains('/') {
        return Some("an origin has no path (nor a trailing `/`)");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Some("its port is not a number from 0 to 65535");
    }
    let host_ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '*');
    (!host_ok || host.is_empty()).then_some("its host has characters a host name cannot")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(origin_problem("https://app.example.com"), None);
        assert_eq!(origin_problem("http://localhost:3000"), None);
        assert!(origin_problem("app.example.com").is_some());
        assert!(origin_problem("https://app.example.com/").is_some());
        assert!(origin_problem("ftp://files.example.com").is_some());
        assert!(origin_problem("https://app.example.com:99999").is_some());
    }
}
