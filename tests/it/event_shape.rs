//! The events slx builds (for `slx dev` and `slx invoke`) checked field by
//! field against sample events AWS publishes (tests/it/fixtures/aws, see
//! its README for where each comes from), and parsed by the
//! `aws_lambda_events` types that `lambda_http` uses.

use std::collections::BTreeSet;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use serde_json::Value;
use slx::contract::proxy::{GatewayContext, HttpRequest, MatchedRoute, rest_event};

const PUBLISHED: &str = include_str!("fixtures/aws/apigw-rest-proxy-request.json");
const PUBLISHED_MULTI_VALUE: &str =
    include_str!("fixtures/aws/apigw-rest-proxy-request-multi-value.json");

/// Fields of the published sample that API Gateway sends only when a
/// feature slx does not configure is on, so slx must not invent them.
const ONLY_WITH_A_FEATURE: &[(&str, &str)] = &[
    ("requestContext.authorizer", "a method with an authorizer"),
    ("requestContext.authorizer.principalId", "an authorizer"),
    ("requestContext.authorizer.clientId", "an authorizer"),
    ("requestContext.authorizer.clientName", "an authorizer"),
    (
        "requestContext.identity.apiKey",
        "a method that requires an API key",
    ),
    (
        "requestContext.identity.apiKeyId",
        "a method that requires an API key",
    ),
];

/// Fields slx sends that this (older) sample predates; each is in the
/// current input format on the API Gateway developer guide page
/// "Lambda proxy integrations in API Gateway", section "Input format":
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format
const NEWER_THAN_THE_SAMPLE: &[&str] = &[
    "isBase64Encoded",
    "requestContext.extendedRequestId",
    "requestContext.identity.principalOrgId",
];

/// Maps whose keys are request data, not shape.
const DATA_MAPS: &[&str] = &[
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
];

/// Dotted path → JSON type of every field (under data maps: the map only).
fn shape(value: &Value, prefix: &str, out: &mut BTreeSet<(String, &'static str)>) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.insert((path.clone(), kind(child)));
            if !DATA_MAPS.contains(&key.as_str()) {
                shape(child, &path, out);
            }
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn paths(set: &BTreeSet<(String, &'static str)>) -> BTreeSet<String> {
    set.iter().map(|(path, _)| path.clone()).collect()
}

/// The request the published sample records, as slx would receive it, and
/// the event slx builds for it.
fn slx_event_for(sample: &Value) -> Value {
    let pairs = |multi: &Value| -> Vec<(String, String)> {
        multi.as_object().map_or_else(Vec::new, |map| {
            map.iter()
                .flat_map(|(name, values)| {
                    values
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(move |v| (name.clone(), v.as_str().unwrap().to_string()))
                })
                .collect()
        })
    };
    let context = &sample["requestContext"];
    let request = HttpRequest {
        method: sample["httpMethod"].as_str().unwrap().into(),
        path: sample["path"].as_str().unwrap().into(),
        query: pairs(&sample["multiValueQueryStringParameters"]),
        headers: pairs(&sample["multiValueHeaders"]),
        body: sample["body"].as_str().unwrap().as_bytes().to_vec(),
        source_ip: context["identity"]["sourceIp"].as_str().unwrap().into(),
    };
    let route = MatchedRoute {
        resource: sample["resource"].as_str().unwrap().into(),
        path_parameters: serde_json::from_value(sample["pathParameters"].clone()).unwrap(),
        binary: Default::default(),
    };
    let gateway = GatewayContext {
        stage: context["stage"].as_str().unwrap().into(),
        request_id: context["requestId"].as_str().unwrap().into(),
        account_id: context["accountId"].as_str().unwrap().into(),
        api_id: context["apiId"].as_str().unwrap().into(),
        time_epoch_ms: context["requestTimeEpoch"].as_u64().unwrap(),
        mapped: None,
    };
    rest_event(&request, &route, &gateway)
}

#[test]
fn slx_sends_every_field_of_the_published_rest_proxy_event_with_its_type() {
    let _timing = crate::common::timing();
    let published: Value = serde_json::from_str(PUBLISHED).unwrap();
    let ours = slx_event_for(&published);
    let (mut theirs_shape, mut our_shape) = (BTreeSet::new(), BTreeSet::new());
    shape(&published, "", &mut theirs_shape);
    shape(&ours, "", &mut our_shape);
    let (theirs_paths, our_paths) = (paths(&theirs_shape), paths(&our_shape));

    let missing: Vec<_> = theirs_paths
        .difference(&our_paths)
        .filter(|path| !ONLY_WITH_A_FEATURE.iter().any(|(p, _)| p == path))
        .collect();
    assert!(missing.is_empty(), "fields slx does not send: {missing:?}");
    let extra: Vec<_> = our_paths
        .difference(&theirs_paths)
        .filter(|path| !NEWER_THAN_THE_SAMPLE.contains(&path.as_str()))
        .collect();
    assert!(extra.is_empty(), "fields AWS does not send: {extra:?}");
    for (path, _) in ONLY_WITH_A_FEATURE {
        assert!(
            !our_paths.contains(*path),
            "{path} is sent only with a feature slx does not configure"
        );
    }

    // Same JSON type for every shared field. The caller's identity is a
    // string only for IAM or Cognito callers; API Gateway sends null for
    // an anonymous one, which is what slx builds.
    for (path, their_kind) in &theirs_shape {
        let Some((_, our_kind)) = our_shape.iter().find(|(p, _)| p == path) else {
            continue;
        };
        let anonymous_identity = path.starts_with("requestContext.identity.")
            && !path.ends_with(".sourceIp")
            && !path.ends_with(".userAgent");
        // The sample's stage has variables; slx's stages have none, and
        // API Gateway then sends null.
        if anonymous_identity || path == "stageVariables" {
            assert_eq!(*our_kind, "null", "{path}");
        } else {
            assert_eq!(our_kind, their_kind, "{path}");
        }
    }

    // Same values for everything that follows from the request.
    for key in [
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "body",
    ] {
        assert_eq!(ours[key], published[key], "{key}");
    }
    for key in [
        "accountId",
        "apiId",
        "httpMethod",
        "protocol",
        "requestId",
        "requestTime",
        "requestTimeEpoch",
        "resourcePath",
        "stage",
    ] {
        assert_eq!(
            ours["requestContext"][key], published["requestContext"][key],
            "requestContext.{key}"
        );
    }
    for key in ["sourceIp", "userAgent"] {
        assert_eq!(
            ours["requestContext"]["identity"][key], published["requestContext"]["identity"][key],
            "requestContext.identity.{key}"
        );
    }
    // The sample's domainName and Host header disagree (us-east-2 vs
    // us-east-1); slx takes both from the Host header the client sent.
    assert_eq!(
        ours["requestContext"]["domainName"],
        published["headers"]["Host"]
    );
    assert_eq!(ours["requestContext"]["domainPrefix"], "gy415nuibc");
    // Called through the execute-api domain, the path in the context
    // starts with the stage (the sample was recorded through a custom
    // domain, where it does not).
    assert_eq!(
        ours["requestContext"]["path"],
        format!("/testStage{}", published["path"].as_str().unwrap())
    );
}

#[test]
fn repeated_query_keys_keep_every_value_and_the_single_map_keeps_the_last() {
    let _timing = crate::common::timing();
    let published: Value = serde_json::from_str(PUBLISHED_MULTI_VALUE).unwrap();
    let ours = slx_event_for(&published);
    assert_eq!(
        ours["multiValueQueryStringParameters"],
        published["multiValueQueryStringParameters"]
    );
    assert_eq!(ours["multiValueHeaders"], published["multiValueHeaders"]);
    // This sample shows the first value in `queryStringParameters`; API
    // Gateway's guide ("Support for multi-value headers and query string
    // parameters") says the single-value map holds the last one, and that
    // is what slx sends (see the fixture README).
    assert_eq!(
        published["multiValueQueryStringParameters"]["name"],
        serde_json::json!(["me", "me2"])
    );
    assert_eq!(ours["queryStringParameters"]["name"], "me2");
}

#[test]
fn slx_events_deserialize_into_the_runtime_types() {
    let _timing = crate::common::timing();
    let published: Value = serde_json::from_str(PUBLISHED).unwrap();
    let event = slx_event_for(&published);
    let parsed: ApiGatewayProxyRequest = serde_json::from_value(event).unwrap();
    let real: ApiGatewayProxyRequest = serde_json::from_value(published).unwrap();
    assert_eq!(parsed.resource, real.resource);
    assert_eq!(parsed.path, real.path);
    assert_eq!(parsed.path_parameters, real.path_parameters);
    assert_eq!(
        parsed.request_context.resource_path,
        real.request_context.resource_path
    );
    assert_eq!(parsed.request_context.stage, real.request_context.stage);
    assert_eq!(
        parsed.request_context.identity.source_ip,
        real.request_context.identity.source_ip
    );
    assert_eq!(
        parsed.multi_value_query_string_parameters.all("name"),
        Some(vec!["me"])
    );
    assert_eq!(parsed.body, real.body);
}
