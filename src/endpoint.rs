//! Endpoint overrides (`--endpoint-url`, `AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`): whatever answers there receives every
//! request slx sends (code, environment values, policies) and its
//! signatures. slx says so every time, and refuses plain http to another
//! machine unless told `--insecure-endpoint`.
//!
//! Pure: the caller passes the flag and the environment.

/// The overrides in force: `(where it was set, URL)`.
pub(crate) fn overrides(
    flag: Option<&str>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    if let Some(url) = flag {
        found.push(("--endpoint-url / AWS_ENDPOINT_URL".into(), url.to_string()));
    }
    let mut services: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, value)| name.starts_with("AWS_ENDPOINT_URL_") && !value.is_empty())
        .collect();
    services.sort();
    found.extend(services);
    found
}

/// The host of a URL (`http://user@host:port/path` → `host`).
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// Whether `url` is plain http to a host other than this machine.
pub(crate) fn insecure(url: &str) -> bool {
    let plain = url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
    if !plain {
        return false;
    }
    !loopback(url)
}

/// Whether `url` addresses this machine (a local AWS such as moto).
pub(crate) fn loopback(url: &str) -> bool {
    let host = host(url).to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("refusing to send AWS requests over plain http to {url} ({source_name})")]
#[diagnostic(
    code(slx::endpoint::insecure),
    help(
        "every request body (code, environment values, policies) and signature would cross the network unencrypted; use https, a loopback address, or pass --insecure-endpoint if you mean it"
    )
)]
pub(crate) struct InsecureEndpoint {
    pub(crate) url: String,
    pub(crate) source_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_allowed_only_to_this_machine() {
        assert!(!insecure("http://127.0.0.1:5000"));
        assert!(!insecure("http://localhost:4566/"));
        assert!(!insecure("http://[::1]:4566"));
        assert!(!insecure("https://aws-proxy.example.com"));
        assert!(insecure("http://aws-proxy.example.com"));
        assert!(insecure("HTTP://192.0.2.1:4566"));
        assert!(insecure("http://user@proxy.internal:80/x"));
    }

    #[test]
    fn every_override_is_found() {
        let env = [
            (
                "AWS_ENDPOINT_URL_LAMBDA".to_string(),
                "http://127.0.0.1:1".to_string(),
            ),
            ("AWS_ENDPOINT_URL_IAM".to_string(), String::new()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let found = overrides(Some("http://127.0.0.1:2"), env);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1].0, "AWS_ENDPOINT_URL_LAMBDA");
        assert!(overrides(None, Vec::new()).is_empty());
    }
}
