//! Matches an HTTP request to a route of slx.toml the way API Gateway
//! does: among routes whose method fits (the method itself, or ANY), the
//! most specific path wins (literal before `{param}` before `{proxy+}`,
//! segment by segment), and a specific method beats ANY on one resource.
//!
//! Pure.

use std::collections::BTreeMap;

use crate::config::{Method, Route, Segment};

/// The route a request reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: &'a Route,
    /// The resource template, e.g. `/orders/{id}`.
    pub resource: String,
    pub path_parameters: BTreeMap<String, String>,
}

/// The best route for `method` and `path` (no query string), if any.
pub fn find<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<Matched<'a>> {
    let parts: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let method = Method::parse(&method.to_ascii_uppercase())?;
    routes
        .iter()
        .filter(|route| route.method == method || route.method == Method::Any)
        .filter_map(|route| {
            let (rank, params) = match_path(&route.path.segments, &parts)?;
            // Lower is more specific; a specific method beats ANY.
            let method_rank = u8::from(route.method == Method::Any);
            Some(((rank, method_rank), route, params))
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, route, params)| Matched {
            route,
            resource: route.path.to_string(),
            path_parameters: params,
        })
}

/// Whether any route serves `path` with some method (to tell "wrong
/// method" from "no such path" in messages; API Gateway answers both the
/// same way).
pub fn path_exists(routes: &[Route], path: &str) -> bool {
    let parts: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    routes
        .iter()
        .any(|r| match_path(&r.path.segments, &parts).is_some())
}

fn match_path(segments: &[Segment], parts: &[&str]) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let mut rank = Vec::new();
    let mut params = BTreeMap::new();
    for (index, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Literal(text) => {
                if parts.get(index) != Some(&text.as_str()) {
                    return None;
                }
                rank.push(0);
            }
            Segment::Param(name) => {
                let part = parts.get(index)?;
                params.insert(name.clone(), decode(part));
                rank.push(1);
            }
            Segment::Greedy(name) => {
                let rest = parts.get(index..).filter(|r| !r.is_empty())?;
                params.insert(
                    name.clone(),
                    rest.iter().map(|p| decode(p)).collect::<Vec<_>>().join("/"),
                );
                rank.push(2);
                return Some((rank, params));
            }
        }
    }
    (segments.len() == parts.len()).then_some((rank, params))
}

/// API Gateway passes path parameters percent-decoded.
fn decode(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_path;

    fn routes(list: &[(&str, &str)]) -> Vec<Route> {
        list.iter()
            .map(|(key, handler)| {
                let (method, path) = key.split_once(' ').unwrap();
                Route {
                    method: Method::parse(method).unwrap(),
                    path: parse_path(path).unwrap(),
                    handler: Some(handler.to_string()),
                    cors: true,
                    api_key: false,
                    auth: None,
                    span: 0..0,
                }
            })
            .collect()
    }

    fn handler<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<&'a str> {
        find(routes, method, path).map(|m| m.route.served_by())
    }

    #[test]
    fn literal_beats_parameter_beats_greedy() {
        let table = routes(&[
            ("GET /orders/{id}", "one"),
            ("GET /orders/latest", "latest"),
            ("GET /{proxy+}", "fallback"),
        ]);
        assert_eq!(handler(&table, "GET", "/orders/latest"), Some("latest"));
        assert_eq!(handler(&table, "GET", "/orders/42"), Some("one"));
        assert_eq!(handler(&table, "GET", "/orders/42/items"), Some("fallback"));
        assert_eq!(
            handler(&table, "GET", "/"),
            None,
            "greedy needs one segment"
        );
        let matched = find(&table, "GET", "/orders/a%20b").unwrap();
        assert_eq!(matched.resource, "/orders/{id}");
        assert_eq!(matched.path_parameters["id"], "a b");
    }

    #[test]
    fn greedy_captures_the_rest_of_the_path() {
        let table = routes(&[("ANY /files/{path+}", "files")]);
        let matched = find(&table, "DELETE", "/files/a/b/c.txt").unwrap();
        assert_eq!(matched.path_parameters["path"], "a/b/c.txt");
        assert_eq!(matched.resource, "/files/{path+}");
    }

    #[test]
    fn method_must_fit_and_specific_beats_any() {
        let table = routes(&[("POST /greet", "greet"), ("ANY /greet", "any")]);
        assert_eq!(handler(&table, "POST", "/greet"), Some("greet"));
        assert_eq!(handler(&table, "GET", "/greet"), Some("any"));
        let only_post = routes(&[("POST /greet", "greet")]);
        assert_eq!(handler(&only_post, "GET", "/greet"), None);
        assert!(path_exists(&only_post, "/greet"));
        assert!(!path_exists(&only_post, "/nope"));
    }

    #[test]
    fn trailing_slashes_and_root() {
        let table = routes(&[("GET /", "root"), ("GET /health", "health")]);
        assert_eq!(handler(&table, "GET", "/"), Some("root"));
        assert_eq!(handler(&table, "GET", "/health/"), Some("health"));
        assert_eq!(handler(&table, "get", "/health"), Some("health"));
    }
}
