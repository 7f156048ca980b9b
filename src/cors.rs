//! What a stage's `[cors]` means where API Gateway answers by itself: the
//! preflight (`OPTIONS`) answer of each path and the headers of its own
//! error answers (4xx, 5xx). The deployed API gets them as an OpenAPI
//! mock integration and gateway responses (`deploy::openapi`); `slx dev`
//! answers the same from here. The function's own answers get their
//! headers from the generated handler (`SLX_CORS`).
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html>
//!
//! Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Cors, Method, Route};

/// The variable that gives the generated handler the stage's CORS.
pub const CORS_VAR: &str = "SLX_CORS";

/// Every method API Gateway's `ANY` stands for, as a preflight lists it.
const ANY_METHODS: &str = "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT";

/// The paths API Gateway answers preflights for, with the methods each
/// allows: every path with a route CORS applies to, unless slx.toml routes
/// `OPTIONS` on it itself (its handler then answers).
pub fn preflight_paths(cors: Option<&Cors>, routes: &[Route]) -> BTreeMap<String, String> {
    if cors.is_none() {
        return BTreeMap::new();
    }
    let mut methods: BTreeMap<String, BTreeSet<Method>> = BTreeMap::new();
    for route in routes {
        methods
            .entry(route.path.to_string())
            .or_default()
            .insert(route.method);
    }
    methods
        .into_iter()
        .filter(|(path, declared)| {
            !declared.contains(&Method::Options)
                && routes.iter().any(|r| r.cors && r.path.to_string() == *path)
        })
        .map(|(path, declared)| {
            let allowed = if declared.contains(&Method::Any) {
                ANY_METHODS.to_string()
            } else {
                declared
                    .iter()
                    .map(|m| m.as_str())
                    .chain(["OPTIONS"])
                    .collect::<BTreeSet<&str>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(",")
            };
            (path, allowed)
        })
        .collect()
}

/// How a browser's `Origin` is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowOrigin {
    /// `*` (any origin, no credentials).
    Any,
    /// The one origin slx.toml lists, whatever the request says.
    One(String),
    /// The request's origin, if slx.toml lists it (with `Vary: Origin`).
    Listed(Vec<String>),
}

impl AllowOrigin {
    pub fn of(cors: &Cors) -> AllowOrigin {
        match cors.origins.as_slice() {
            [any] if any == "*" => AllowOrigin::Any,
            [one] => AllowOrigin::One(one.clone()),
            many => AllowOrigin::Listed(many.to_vec()),
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request from
    /// `origin`, if any.
    fn value(&self, origin: Option<&str>) -> Option<String> {
        match self {
            AllowOrigin::Any => Some("*".into()),
            AllowOrigin::One(one) => Some(one.clone()),
            AllowOrigin::Listed(list) => origin
                .filter(|o| list.iter().any(|l| l == o))
                .map(str::to_string),
        }
    }
}

/// The headers of API Gateway's answer to a preflight on a path that
/// allows `methods`, from `origin`.
pub fn preflight_headers(
    cors: &Cors,
    methods: &str,
    origin: Option<&str>,
) -> Vec<(String, String)> {
    let allow = AllowOrigin::of(cors);
    let mut headers = Vec::new();
    if let Some(value) = allow.value(origin) {
        headers.push(("Access-Control-Allow-Origin".to_string(), value));
    }
    if matches!(allow, AllowOrigin::Listed(_)) {
        headers.push(("Vary".into(), "Origin".into()));
    }
    headers.push(("Access-Control-Allow-Methods".into(), methods.to_string()));
    headers.push((
        "Access-Control-Allow-Headers".into(),
        cors.headers.join(","),
    ));
    headers.push(("Access-Control-Max-Age".into(), cors.max_age.to_string()));
    if cors.credentials {
        headers.push(("Access-Control-Allow-Credentials".into(), "true".into()));
    }
    headers
}

/// Where a header of a gateway response takes its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Fixed(String),
    /// The request's `Origin` header.
    RequestOrigin,
}

/// The headers API Gateway adds to its own 4xx and 5xx answers. A gateway
/// response cannot test a list, so with several origins it names the
/// request's, whichever it is: such answers carry only API Gateway's
/// error message.
pub fn gateway_error_sources(cors: &Cors) -> Vec<(String, Source)> {
    let origin = "Access-Control-Allow-Origin".to_string();
    let mut headers = match AllowOrigin::of(cors) {
        AllowOrigin::Any => vec![(origin, Source::Fixed("*".into()))],
        AllowOrigin::One(one) => vec![(origin, Source::Fixed(one))],
        AllowOrigin::Listed(_) => vec![
            (origin, Source::RequestOrigin),
            ("Vary".into(), Source::Fixed("Origin".into())),
        ],
    };
    if cors.credentials {
        headers.push((
            "Access-Control-Allow-Credentials".into(),
            Source::Fixed("true".into()),
        ));
    }
    headers
}

/// The same, for a request from `origin`.
pub fn gateway_error_headers(cors: &Cors, origin: Option<&str>) -> Vec<(String, String)> {
    gateway_error_sources(cors)
        .into_iter()
        .filter_map(|(name, source)| match source {
            Source::Fixed(value) => Some((name, value)),
            Source::RequestOrigin => origin.map(|o| (name, o.to_string())),
        })
        .collect()
}

/// `SLX_CORS`: what the generated handler needs to add the headers to
/// the function's own answers (JSON: origins, credentials, headers to
/// expose, and the routes `cors = false` leaves alone).
pub fn handler_env(cors: Option<&Cors>, routes: &[Route]) -> Option<(String, String)> {
    let cors = cors?;
    let off: Vec<String> = routes
        .iter()
        .filter(|r| !r.cors)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let value = serde_json::json!({
        "origins": cors.origins,
        "credentials": cors.credentials,
        "expose": cors.expose_headers,
        "off": off,
    });
    Some((CORS_VAR.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_path;

    fn cors(origins: &[&str]) -> Cors {
        Cors {
            origins: origins.iter().map(|o| o.to_string()).collect(),
            headers: vec!["Content-Type".into()],
            expose_headers: vec![],
            credentials: false,
            max_age: 600,
        }
    }

    fn route(method: Method, route_path: &str, on: bool) -> Route {
        Route {
            method,
            path: parse_path(route_path).unwrap(),
            handler: Some("h".into()),
            cors: on,
            api_key: false,
            auth: None,
            span: 0..0,
        }
    }

    #[test]
    fn preflights_list_each_paths_methods_unless_it_routes_options_itself() {
        let routes = [
            route(Method::Post, "/orders/{id}", true),
            route(Method::Get, "/orders/{id}", true),
            route(Method::Post, "/hook", false),
            route(Method::Options, "/own", true),
            route(Method::Get, "/own", true),
        ];
        let paths = preflight_paths(Some(&cors(&["*"])), &routes);
        assert_eq!(
            paths,
            BTreeMap::from([("/orders/{id}".to_string(), "GET,OPTIONS,POST".to_string())])
        );
        assert!(preflight_paths(None, &routes).is_empty());
    }

    #[test]
    fn a_listed_origin_is_echoed_and_others_get_none() {
        let two = cors(&["https://a.example", "https://b.example"]);
        let headers = preflight_headers(&two, "GET,OPTIONS", Some("https://b.example"));
        assert!(headers.contains(&(
            "Access-Control-Allow-Origin".into(),
            "https://b.example".into()
        )));
        assert!(headers.contains(&("Vary".into(), "Origin".into())));
        let stranger = preflight_headers(&two, "GET,OPTIONS", Some("https://evil.example"));
        assert!(
            !stranger
                .iter()
                .any(|(n, _)| n == "Access-Control-Allow-Origin")
        );
        let one = preflight_headers(&cors(&["https://a.example"]), "GET", None);
        assert_eq!(one[0].1, "https://a.example");
    }
}
