//! The API Gateway REST (v1) proxy event for an HTTP request, field for
//! field as API Gateway sends it, and the decoding of the proxy response.
//!
//! Pure: the clock and request ids are passed in.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::binary_media::BinaryMediaTypes;

/// An HTTP request as it reached the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// The path without the query string, e.g. `/orders/42`.
    pub path: String,
    /// Query pairs in order (repeats allowed).
    pub query: Vec<(String, String)>,
    /// Header pairs in order (repeats allowed).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
}

/// The route the gateway matched, with the path parameters it captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchedRoute {
    /// The resource template, e.g. `/orders/{id}`.
    pub resource: String,
    pub path_parameters: BTreeMap<String, String>,
    /// The API's binary media types: which bodies are passed
    /// base64-encoded.
    pub binary: BinaryMediaTypes,
}

impl MatchedRoute {
    pub fn new(matched: crate::contract::routes::Matched<'_>, binary: &BinaryMediaTypes) -> Self {
        MatchedRoute {
            resource: matched.resource,
            path_parameters: matched.path_parameters,
            binary: binary.clone(),
        }
    }
}

/// Per-invocation facts the gateway adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayContext {
    pub stage: String,
    pub request_id: String,
    pub account_id: String,
    pub api_id: String,
    pub time_epoch_ms: u64,
    /// The custom domain the call came through, when the stage's API is
    /// mapped under a base path of one.
    pub mapped: Option<MappedDomain>,
}

/// A custom domain and the base path the stage's API is mapped under
/// (`api.example.com`, `v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedDomain {
    pub domain: String,
    pub base_path: String,
}

impl MappedDomain {
    /// The stage's domain, when it maps the API under a base path (at
    /// the domain's root, calls look as through the API's own URL).
    pub fn of(domain: Option<&crate::config::Domain>) -> Option<MappedDomain> {
        let domain = domain?;
        let base_path = domain.base_path.clone().filter(|p| !p.is_empty())?;
        Some(MappedDomain {
            domain: domain.name.clone(),
            base_path,
        })
    }

    /// `/v1`.
    pub fn prefix(&self) -> String {
        format!("/{}", self.base_path.trim_matches('/'))
    }
}

/// A request as a user writes it on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
}

/// Splits `POST /orders/42?x=1&x=2` into method, path and query pairs.
pub fn parse_request_line(text: &str) -> Result<RequestLine, String> {
    let mut words = text.split_whitespace();
    let (Some(method), Some(target), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "`{text}` is not `METHOD /path`, e.g. \"POST /greet\""
        ));
    };
    if !target.starts_with('/') {
        return Err(format!("the path `{target}` must start with `/`"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(RequestLine {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        query: parse_query(query),
    })
}

/// `a=1&a=2&b=x%20y` → pairs in order, percent- and `+`-decoded, as API
/// Gateway presents query string parameters.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Builds the proxy event API Gateway would send for `request`.
pub fn rest_event(request: &HttpRequest, route: &MatchedRoute, context: &GatewayContext) -> Value {
    let (headers, multi_headers) = single_and_multi(&request.headers);
    let (query, multi_query) = single_and_multi(&request.query);
    let (body, is_base64) = encode_body(&request.body, &request.headers, &route.binary);
    let path_parameters = if route.path_parameters.is_empty() {
        Value::Null
    } else {
        json!(route.path_parameters)
    };
    let user_agent = header(&request.headers, "user-agent");
    let domain = match &context.mapped {
        Some(mapped) => json!(mapped.domain),
        None => header(&request.headers, "host"),
    };
    // Through a custom domain, the path is the one the client called,
    // the base path included (`/v1/health`: API Gateway's `$context.path`
    // is "the request path"), and the stage is not in it; through the
    // API's own URL, `path` leaves out the stage and `requestContext.path`
    // keeps it.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference
    let (path, context_path) = match &context.mapped {
        Some(mapped) => {
            let called = format!("{}{}", mapped.prefix(), request.path);
            (called.clone(), called)
        }
        None => (
            request.path.clone(),
            format!("/{}{}", context.stage, request.path),
        ),
    };
    // API Gateway sends the domain name's first label beside it
    // (`abc123` for `abc123.execute-api.us-east-1.amazonaws.com`).
    let domain_prefix = domain.as_str().map_or(Value::Null, |host| {
        json!(host.split('.').next().unwrap_or(host))
    });
    json!({
        "resource": route.resource,
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters,
        "stageVariables": Value::Null,
        "requestContext": {
            "accountId": context.account_id,
            "apiId": context.api_id,
            "domainName": domain,
            "domainPrefix": domain_prefix,
            "extendedRequestId": context.request_id,
            "httpMethod": request.method,
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
                "accessKey": null, "accountId": null, "caller": null,
                "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
                "cognitoIdentityId": null, "cognitoIdentityPoolId": null,
                "principalOrgId": null, "user": null, "userArn": null,
            },
            "path": context_path,
            "protocol": "HTTP/1.1",
            "requestId": context.request_id,
            "requestTime": request_time(context.time_epoch_ms),
            "requestTimeEpoch": context.time_epoch_ms,
            "resourceId": "local",
            "resourcePath": route.resource,
            "stage": context.stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// `{"a": last}` and `{"a": [all]}`, or nulls when empty, as API Gateway.
fn single_and_multi(pairs: &[(String, String)]) -> (Value, Value) {
    if pairs.is_empty() {
        return (Value::Null, Value::Null);
    }
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in pairs {
        single.insert(name.clone(), json!(value));
        match multi.get_mut(name) {
            Some(Value::Array(values)) => values.push(json!(value)),
            _ => {
                multi.insert(name.clone(), json!([value]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

fn header(headers: &[(String, String)], name: &str) -> Value {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or(Value::Null, |(_, v)| json!(v))
}

/// A body whose `Content-Type` is a binary media type is passed
/// base64-encoded; any other as text, as API Gateway does.
fn encode_body(
    body: &[u8],
    headers: &[(String, String)],
    binary: &BinaryMediaTypes,
) -> (Value, bool) {
    if body.is_empty() {
        return (Value::Null, false);
    }
    if binary.request_is_binary(header(headers, "content-type").as_str()) {
        return (
            json!(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        );
    }
    (json!(String::from_utf8_lossy(body)), false)
}

/// Whether API Gateway would damage `request`'s body: not UTF-8 text,
/// and passed as text (its type is no binary media type).
pub fn body_damaged(request: &HttpRequest, binary: &BinaryMediaTypes) -> bool {
    std::str::from_utf8(&request.body).is_err()
        && !binary.request_is_binary(header(&request.headers, "content-type").as_str())
}

/// `26/Nov/2026:19:10:59 +0000`, API Gateway's `requestTime` format.
fn request_time(epoch_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A proxy integration's answer, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header pairs; multi-value headers are expanded.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the function sent the body base64-encoded
    /// (`isBase64Encoded`).
    pub base64: bool,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed Lambda proxy response: {0}")]
pub struct MalformedResponse(pub String);

/// Decodes `{"statusCode", "headers", "multiValueHeaders", "body",
/// "isBase64Encoded"}`. API Gateway answers 502 when this fails.
pub fn decode_response(payload: &[u8]) -> Result<HttpResponse, MalformedResponse> {
    decode_response_as(payload, true)
}

/// `decode_response`; a base64 body is decoded only when `decode_base64`
/// (API Gateway decodes it only for a client that accepts a binary media
/// type: `crate::binary_media`), and passed as its base64 text otherwise.
pub fn decode_response_as(
    payload: &[u8],
    decode_base64: bool,
) -> Result<HttpResponse, MalformedResponse> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| MalformedResponse(e.to_string()))?;
    let status = value
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| MalformedResponse("no numeric statusCode".into()))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(multi)) = value.get("multiValueHeaders") {
        for (name, values) in multi {
            for v in values.as_array().into_iter().flatten() {
                headers.push((
                    name.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                ));
            }
        }
    }
    if let Some(Value::Object(single)) = value.get("headers") {
        for (name, v) in single {
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                headers.push((
                    name.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                ));
            }
        }
    }
    let body = match value.get("body") {
        Some(Value::String(text)) if value.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| MalformedResponse(format!("body is not base64: {e}")))?;
            match decode_base64 {
                true => bytes,
                false => text.clone().into_bytes(),
            }
        }
        Some(Value::String(text)) => text.clone().into_bytes(),
        _ => Vec::new(),
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
        base64: value.get("isBase64Encoded") == Some(&Value::Bool(true)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> GatewayContext {
        GatewayContext {
            stage: "dev".into(),
            request_id: "req-1".into(),
            account_id: "123456789012".into(),
            api_id: "local".into(),
            time_epoch_ms: 1_795_720_259_000,
            mapped: None,
        }
    }

    #[test]
    fn builds_every_field_api_gateway_sends() {
        let request = HttpRequest {
            method: "POST".into(),
            path: "/orders/42".into(),
            query: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"x":1}"#.to_vec(),
            source_ip: "127.0.0.1".into(),
        };
        let route = MatchedRoute {
            resource: "/orders/{id}".into(),
            path_parameters: BTreeMap::from([("id".into(), "42".into())]),
            binary: Default::default(),
        };
        let event = rest_event(&request, &route, &context());
        assert_eq!(event["resource"], "/orders/{id}");
        assert_eq!(event["queryStringParameters"]["a"], "2");
        assert_eq!(
            event["multiValueQueryStringParameters"]["a"],
            json!(["1", "2"])
        );
        assert_eq!(event["pathParameters"]["id"], "42");
        assert_eq!(event["requestContext"]["resourcePath"], "/orders/{id}");
        assert_eq!(event["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(event["requestContext"]["path"], "/dev/orders/42");
        assert_eq!(event["body"], r#"{"x":1}"#);
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn through_a_mapped_domain_the_path_keeps_its_base_path_and_not_the_stage() {
        let request = HttpRequest {
            method: "GET".into(),
            path: "/health".into(),
            query: Vec::new(),
            headers: vec![("host".into(), "localhost".into())],
            body: Vec::new(),
            source_ip: "127.0.0.1".into(),
        };
        let route = MatchedRoute {
            resource: "/{proxy+}".into(),
            path_parameters: BTreeMap::from([("proxy".into(), "health".into())]),
            binary: Default::default(),
        };
        let context = GatewayContext {
            mapped: Some(MappedDomain {
                domain: "api.example.com".into(),
                base_path: "v1".into(),
            }),
            ..context()
        };
        let event = rest_event(&request, &route, &context);
        assert_eq!(event["path"], "/v1/health");
        assert_eq!(event["pathParameters"]["proxy"], "health");
        assert_eq!(event["requestContext"]["path"], "/v1/health");
        assert_eq!(event["requestContext"]["domainName"], "api.example.com");
        assert_eq!(event["requestContext"]["domainPrefix"], "api");
        assert_eq!(event["requestContext"]["stage"], "dev");
    }

    #[test]
    fn bodies_of_binary_media_types_are_base64_and_others_text() {
        let request = HttpRequest {
            method: "POST".into(),
            path: "/".into(),
            headers: vec![("content-type".into(), "image/png".into())],
            body: vec![0, 159, 146, 150],
            ..HttpRequest::default()
        };
        let images = MatchedRoute {
            binary: BinaryMediaTypes::new(&["image/*".into()]),
            ..MatchedRoute::default()
        };
        let event = rest_event(&request, &images, &context());
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "AJ+Slg==");
        assert!(!body_damaged(&request, &images.binary));
        // Without the type listed, API Gateway passes the bytes as text.
        let event = rest_event(&request, &MatchedRoute::default(), &context());
        assert_eq!(event["isBase64Encoded"], false);
        assert_eq!(event["body"], "\u{0}\u{fffd}\u{fffd}\u{fffd}");
        assert!(body_damaged(&request, &BinaryMediaTypes::default()));
    }

    #[test]
    fn a_base64_answer_is_decoded_only_when_asked() {
        let payload = br#"{"statusCode":200,"body":"AJ+Slg==","isBase64Encoded":true}"#;
        let decoded = decode_response_as(payload, true).unwrap();
        assert_eq!(
            (decoded.body, decoded.base64),
            (vec![0, 159, 146, 150], true)
        );
        let passed = decode_response_as(payload, false).unwrap();
        assert_eq!(passed.body, b"AJ+Slg==");
        assert!(
            decode_response_as(
                br#"{"statusCode":200,"body":"%","isBase64Encoded":true}"#,
                false
            )
            .is_err()
        );
    }

    #[test]
    fn request_lines_parse() {
        let RequestLine {
            method,
            path,
            query,
        } = parse_request_line("post /orders/42?x=1&x=a%20b&flag").unwrap();
        assert_eq!((method.as_str(), path.as_str()), ("POST", "/orders/42"));
        assert_eq!(
            query,
            vec![
                ("x".into(), "1".into()),
                ("x".into(), "a b".into()),
                ("flag".into(), "".into())
            ]
        );
        assert!(parse_request_line("/greet").is_err());
        assert!(parse_request_line("POST greet").is_err());
    }

    #[test]
    fn request_time_matches_api_gateway_format() {
        assert_eq!(request_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(
            request_time(1_795_720_259_000),
            "26/Nov/2026:19:10:59 +0000"
        );
    }

    #[test]
    fn decodes_proxy_responses() {
        let response = decode_response(
            br#"{"statusCode":201,"headers":{"x":"1"},"multiValueHeaders":{"set-cookie":["a","b"]},"body":"aGk=","isBase64Encoded":true}"#,
        )
        .unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.body, b"hi");
        assert_eq!(response.header("x"), Some("1"));
        assert_eq!(
            response
                .headers
                .iter()
                .filter(|(n, _)| n == "set-cookie")
                .count(),
            2
        );
        assert!(decode_response(b"{}").is_err());
    }
}
