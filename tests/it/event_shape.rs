//! The events slx builds (for `slx dev` and `slx invoke`) have the shape
//! of a real API Gateway REST proxy event and deserialize into the
//! `aws_lambda_events` types that `lambda_http` uses.

use std::collections::BTreeSet;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use serde_json::Value;
use slx::local::event::{GatewayContext, HttpRequest, MatchedRoute, rest_event};

const FIXTURE: &str = include_str!("fixtures/apigw-rest-proxy-event.json");

/// Dotted paths of every key in a JSON value (object keys under
/// `headers`-like maps are data, not shape, and are skipped).
fn shape(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.insert(path.clone());
            let data_map = [
                "headers",
                "multiValueHeaders",
                "queryStringParameters",
                "multiValueQueryStringParameters",
                "pathParameters",
                "stageVariables",
            ]
            .contains(&key.as_str());
            if !data_map {
                shape(child, &path, out);
            }
        }
    }
}

fn slx_event() -> Value {
    let request = HttpRequest {
        method: "POST".into(),
        path: "/orders/42".into(),
        query: vec![("x".into(), "1".into()), ("x".into(), "2".into())],
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("host".into(), "127.0.0.1:3000".into()),
            ("user-agent".into(), "curl/8.5.0".into()),
        ],
        body: br#"{"item":"tea","quantity":2}"#.to_vec(),
        source_ip: "127.0.0.1".into(),
    };
    let route = MatchedRoute {
        resource: "/orders/{id}".into(),
        path_parameters: [("id".to_string(), "42".to_string())].into(),
    };
    let context = GatewayContext {
        stage: "prod".into(),
        request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
        account_id: "123456789012".into(),
        api_id: "abc123".into(),
        time_epoch_ms: 1_795_720_259_000,
    };
    rest_event(&request, &route, &context)
}

#[test]
fn slx_events_have_every_field_of_a_real_api_gateway_event() {
    let real: Value = serde_json::from_str(FIXTURE).unwrap();
    let ours = slx_event();
    let (mut real_shape, mut our_shape) = (BTreeSet::new(), BTreeSet::new());
    shape(&real, "", &mut real_shape);
    shape(&ours, "", &mut our_shape);
    // Fields only AWS can know (its domain prefix) are the only allowed gap.
    let missing: Vec<_> = real_shape
        .difference(&our_shape)
        .filter(|path| *path != "requestContext.domainPrefix")
        .collect();
    assert!(missing.is_empty(), "missing fields: {missing:?}");
    let extra: Vec<_> = our_shape.difference(&real_shape).collect();
    assert!(
        extra.is_empty(),
        "fields API Gateway does not send: {extra:?}"
    );
    // Same values where they are not per-request data.
    for key in [
        "resource",
        "path",
        "httpMethod",
        "body",
        "isBase64Encoded",
        "pathParameters",
        "multiValueQueryStringParameters",
        "queryStringParameters",
    ] {
        assert_eq!(ours[key], real[key], "{key}");
    }
    for key in [
        "resourcePath",
        "stage",
        "httpMethod",
        "requestTime",
        "requestTimeEpoch",
        "path",
        "protocol",
    ] {
        assert_eq!(
            ours["requestContext"][key], real["requestContext"][key],
            "requestContext.{key}"
        );
    }
}

#[test]
fn slx_events_deserialize_into_the_runtime_types() {
    let parsed: ApiGatewayProxyRequest = serde_json::from_value(slx_event()).unwrap();
    assert_eq!(parsed.resource.as_deref(), Some("/orders/{id}"));
    assert_eq!(
        parsed.path_parameters.get("id").map(String::as_str),
        Some("42")
    );
    assert_eq!(
        parsed.request_context.resource_path.as_deref(),
        Some("/orders/{id}")
    );
    assert_eq!(parsed.request_context.stage.as_deref(), Some("prod"));
    assert_eq!(
        parsed.request_context.identity.source_ip.as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        parsed.multi_value_query_string_parameters.all("x"),
        Some(vec!["1", "2"])
    );
    // The real fixture parses the same way.
    let real: ApiGatewayProxyRequest = serde_json::from_str(FIXTURE).unwrap();
    assert_eq!(real.resource, parsed.resource);
}
