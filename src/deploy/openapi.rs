//! The OpenAPI 3 document that sets a stage's routes in one `PutRestApi`
//! (mode overwrite): every route an `AWS_PROXY` integration to the stage's
//! alias. One call instead of one per resource, method and integration.
//! The import is idempotent but not atomic (AWS's words), so a failed one
//! is simply sent again.
//! <https://docs.aws.amazon.com/apigateway/latest/api/API_PutRestApi.html>
//!
//! Pure.

use serde_json::{Map, Value, json};

use super::desired::Desired;
use crate::config::{AuthorizerKind, Cors, Method, RouteAuth};
use crate::cors::{AllowOrigin, Source, gateway_error_sources, preflight_headers};

/// What a stage's REST API is defined by: the OpenAPI document imported,
/// the API's settings set beside it, and the digest of both.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Definition {
    pub(crate) document: Value,
    /// `UpdateRestApi` patch paths and values (empty: cleared).
    pub(crate) settings: Vec<(String, String)>,
    pub(crate) digest: String,
}

/// The definition slx.toml wants for `desired`'s REST API.
pub(crate) fn definition(desired: &Desired) -> Definition {
    let document = document(desired);
    let settings = settings_beside_document(desired);
    let digest = digest(&document, &settings);
    Definition {
        document,
        settings,
        digest,
    }
}

/// Settings of the REST API that no OpenAPI extension sets both ways (an
/// import without the extension may leave the old value in place):
/// `UpdateRestApi` patch paths and values, `None` clearing one. They are
/// sent with the description after each import and are part of the
/// digest, so changing one imports (and deploys) the API again.
fn settings_beside_document(desired: &Desired) -> Vec<(String, String)> {
    let settings = [
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-gzip-compression-decompression.html
        (
            "/minimumCompressionSize",
            desired
                .minimum_compression_size
                .map(|size| size.to_string()),
        ),
    ];
    settings
        .into_iter()
        .map(|(path, value)| (path.to_string(), value.unwrap_or_default()))
        .collect()
}

/// A digest of `document` (its canonical JSON) and of the settings set
/// beside it, recorded in each API deployment's description: what a
/// stage serves can then be compared with what slx.toml wants, since
/// `PutRestApi` changes only the API's working definition and a
/// deployment is what goes live. Settings left unset count for nothing,
/// so a stage that sets none keeps the digest of its document alone.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-deploy-api.html
fn digest(document: &Value, settings: &[(String, String)]) -> String {
    use sha2::{Digest, Sha256};
    let set: Vec<&(String, String)> = settings.iter().filter(|(_, v)| !v.is_empty()).collect();
    let text = if set.is_empty() {
        document.to_string()
    } else {
        json!([document, set]).to_string()
    };
    Sha256::digest(text.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn document(desired: &Desired) -> Value {
    let arns = &desired.arns;
    let integration = json!({
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": arns.integration_uri(),
        "passthroughBehavior": "when_no_match",
    });
    let mut paths = Map::new();
    for (path, methods) in &desired.routes {
        // Every operation of a templated path declares its parameters, as
        // OpenAPI 3.0 requires of each (a preflight's included).
        // https://spec.openapis.org/oas/v3.0.3#path-templating
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name.trim_end_matches('+'), "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut operations = Map::new();
        for method in methods {
            let key = match method {
                Method::Any => "x-amazon-apigateway-any-method".to_string(),
                other => other.as_str().to_ascii_lowercase(),
            };
            let mut operation = json!({
                "responses": { "200": { "description": "answered by the function" } },
                "x-amazon-apigateway-integration": integration,
            });
            if !parameters.is_empty() {
                operation["parameters"] = json!(parameters);
            }
            // One requirement: every scheme in it must pass (a key AND
            // the authorizer's verdict).
            let mut requirement = Map::new();
            if desired
                .keyed
                .get(path)
                .is_some_and(|keyed| keyed.contains(method))
            {
                requirement.insert(API_KEY_SCHEME.into(), json!([]));
            }
            match desired.auth.get(path).and_then(|rules| rules.get(method)) {
                Some(RouteAuth::Iam) => {
                    requirement.insert(SIGV4_SCHEME.into(), json!([]));
                }
                Some(RouteAuth::Authorizer { name, scopes }) => {
                    requirement.insert(name.clone(), json!(scopes));
                }
                None => {}
            }
            if !requirement.is_empty() {
                operation["security"] = json!([requirement]);
            }
            operations.insert(key, operation);
        }
        if let (Some(cors), Some(methods)) = (&desired.cors, desired.preflights.get(path)) {
            let mut preflight = preflight(cors, methods);
            if !parameters.is_empty() {
                preflight["parameters"] = json!(parameters);
            }
            operations.insert("options".into(), preflight);
        }
        paths.insert(path.clone(), Value::Object(operations));
    }
    let mut document = json!({
        "openapi": "3.0.1",
        "info": {
            "title": arns.api,
            "description": desired.described(),
            "version": env!("CARGO_PKG_VERSION"),
        },
        "paths": paths,
    });
    // Only when there are any: the documents (and digests) of stages
    // without them stay as they were.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-binary-media-types.html
    if !desired.binary_media_types.is_empty() {
        document["x-amazon-apigateway-binary-media-types"] = json!(desired.binary_media_types);
    }
    if let Some(cors) = &desired.cors {
        document["x-amazon-apigateway-gateway-responses"] = gateway_responses(cors);
    }
    // Keys come in the `x-api-key` header; the usage plan says which.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-api-key-source.html
    if !desired.keyed.is_empty() {
        document["x-amazon-apigateway-api-key-source"] = json!("HEADER");
    }
    let schemes = security_schemes(desired);
    if !schemes.is_empty() {
        document["components"] = json!({ "securitySchemes": schemes });
    }
    document
}

/// The security scheme of routes that require an API key.
const API_KEY_SCHEME: &str = "api_key";
/// The security scheme of routes with `auth = "iam"`.
const SIGV4_SCHEME: &str = "sigv4";

/// The schemes the routes use: API keys, IAM, and each authorizer a
/// route names.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-authorizer.html
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-authtype.html
fn security_schemes(desired: &Desired) -> Map<String, Value> {
    let mut schemes = Map::new();
    if !desired.keyed.is_empty() {
        schemes.insert(
            API_KEY_SCHEME.into(),
            json!({ "type": "apiKey", "name": "x-api-key", "in": "header" }),
        );
    }
    let used: Vec<&RouteAuth> = desired
        .auth
        .values()
        .flat_map(|rules| rules.values())
        .collect();
    if used.contains(&&RouteAuth::Iam) {
        schemes.insert(
            SIGV4_SCHEME.into(),
            json!({
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "awsSigv4",
            }),
        );
    }
    for authorizer in &desired.authorizers {
        let named = |rule: &&RouteAuth| matches!(rule, RouteAuth::Authorizer { name, .. } if *name == authorizer.name);
        if !used.iter().any(named) {
            continue;
        }
        let caching = authorizer.caching(desired.authorizers_by_route.contains(&authorizer.name));
        let header = format!("method.request.header.{}", authorizer.header);
        let identity = if caching.per_route {
            // A request authorizer's cache key: every identity source.
            // https://docs.aws.amazon.com/apigateway/latest/api/API_CreateAuthorizer.html
            format!("{header}, context.httpMethod, context.resourcePath")
        } else {
            header
        };
        let (authtype, definition) = match &authorizer.kind {
            AuthorizerKind::Cognito { user_pools } => (
                "cognito_user_pools",
                json!({
                    "type": "cognito_user_pools",
                    "providerARNs": user_pools,
                    "identitySource": identity,
                    "authorizerResultTtlInSeconds": caching.ttl,
                }),
            ),
            AuthorizerKind::Function { request, .. } => (
                "custom",
                json!({
                    "type": if *request { "request" } else { "token" },
                    "authorizerUri": desired.arns.authorizer_uri(&authorizer.name),
                    "identitySource": identity,
                    "authorizerResultTtlInSeconds": caching.ttl,
                }),
            ),
        };
        schemes.insert(
            authorizer.name.clone(),
            json!({
                "type": "apiKey",
                "name": authorizer.header,
                "in": "header",
                "x-amazon-apigateway-authtype": authtype,
                "x-amazon-apigateway-authorizer": definition,
            }),
        );
    }
    schemes
}

/// A path's `OPTIONS`: a mock integration that answers the preflight as
/// `crate::cors::preflight_headers` says, without calling the function.
/// Several origins cannot be a static header: a response template sets
/// the request's origin when slx.toml lists it.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/enable-cors-for-resource-using-swagger-importer-tool.html
fn preflight(cors: &Cors, methods: &str) -> Value {
    let headers = preflight_headers(cors, methods, None);
    let mut declared = Map::new();
    let mut parameters = Map::new();
    for (name, value) in &headers {
        declared.insert(name.clone(), json!({ "schema": { "type": "string" } }));
        parameters.insert(
            format!("method.response.header.{name}"),
            json!(format!("'{value}'")),
        );
    }
    let mut template = String::new();
    if let AllowOrigin::Listed(origins) = AllowOrigin::of(cors) {
        declared.insert(
            "Access-Control-Allow-Origin".into(),
            json!({ "schema": { "type": "string" } }),
        );
        let tests: Vec<String> = origins
            .iter()
            .map(|o| format!("$origin == \"{o}\""))
            .collect();
        template = format!(
            "#set($origin = $input.params().header.get(\"Origin\"))\n#if(\"$!origin\" == \"\")#set($origin = $input.params().header.get(\"origin\"))#end\n#if({})\n#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)\n#end",
            tests.join(" || ")
        );
    }
    json!({
        "responses": { "204": { "description": "CORS preflight", "headers": declared } },
        "x-amazon-apigateway-integration": {
            "type": "mock",
            // Under a binary media type that matches the request (router
            // mode lists `*/*`) API Gateway would pass the preflight on
            // as binary, which a mock cannot take: 500 "Unable to
            // transform request". Text is what it expects.
            // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings-workflow.html
            "contentHandling": "CONVERT_TO_TEXT",
            "passthroughBehavior": "when_no_match",
            "requestTemplates": { "application/json": "{\"statusCode\": 204}" },
            "responses": {
                "default": {
                    "statusCode": "204",
                    "responseParameters": parameters,
                    "responseTemplates": { "application/json": template },
                },
            },
        },
    })
}

/// API Gateway's own 4xx and 5xx answers (no route, throttled, the
/// function failed) with the headers a browser needs to read them.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.html
fn gateway_responses(cors: &Cors) -> Value {
    let mut parameters = Map::new();
    for (name, source) in gateway_error_sources(cors) {
        let source = match source {
            Source::Fixed(value) => format!("'{value}'"),
            Source::RequestOrigin => "method.request.header.origin".to_string(),
        };
        parameters.insert(format!("gatewayresponse.header.{name}"), json!(source));
    }
    let response = json!({ "responseParameters": parameters });
    json!({ "DEFAULT_4XX": response, "DEFAULT_5XX": response })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::deploy::desired::tests::desired;

    #[test]
    fn settings_beside_the_document_count_only_when_set() {
        let document = json!({ "openapi": "3.0.1" });
        let alone = digest(&document, &[]);
        assert_eq!(digest(&document, &[("/x".into(), String::new())]), alone);
        let set = digest(&document, &[("/x".into(), "0".into())]);
        assert_ne!(set, alone);
        assert_ne!(digest(&document, &[("/x".into(), "1".into())]), set);
    }

    #[test]
    fn the_digest_follows_the_routes() {
        let mut desired = desired();
        let before = digest(&document(&desired), &[]);
        assert_eq!(before.len(), 32);
        assert_eq!(before, digest(&document(&desired), &[]), "stable");
        desired
            .routes
            .insert("/health".into(), BTreeSet::from([Method::Get]));
        assert_ne!(before, digest(&document(&desired), &[]));
    }

    #[test]
    fn every_route_proxies_to_the_alias() {
        let mut desired = desired();
        desired.routes = BTreeMap::from([
            (
                "/orders/{id}".to_string(),
                BTreeSet::from([Method::Post, Method::Get]),
            ),
            ("/files/{path+}".to_string(), BTreeSet::from([Method::Any])),
        ]);
        let document = document(&desired);
        assert_eq!(document["openapi"], "3.0.1");
        assert_eq!(document["info"]["description"], "slx app shop stage dev");
        let post = &document["paths"]["/orders/{id}"]["post"];
        assert_eq!(post["x-amazon-apigateway-integration"]["type"], "aws_proxy");
        assert_eq!(
            post["x-amazon-apigateway-integration"]["uri"],
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:shop-dev:dev/invocations"
        );
        assert_eq!(post["parameters"][0]["name"], "id");
        assert!(document["paths"]["/orders/{id}"]["get"].is_object());
        let any = &document["paths"]["/files/{path+}"]["x-amazon-apigateway-any-method"];
        assert_eq!(any["parameters"][0]["name"], "path");
    }

    fn cors(origins: &[&str]) -> Cors {
        Cors {
            origins: origins.iter().map(|o| o.to_string()).collect(),
            headers: vec!["Content-Type".into(), "Authorization".into()],
            expose_headers: vec![],
            credentials: false,
            max_age: 600,
        }
    }

    #[test]
    fn every_operation_of_a_templated_path_declares_its_parameters() {
        let mut desired = desired();
        desired.cors = Some(cors(&["https://app.example.com"]));
        desired.preflights =
            BTreeMap::from([("/orders/{id}".to_string(), "OPTIONS,POST".to_string())]);
        let document = document(&desired);
        let path = &document["paths"]["/orders/{id}"];
        for operation in ["post", "options"] {
            assert_eq!(
                path[operation]["parameters"],
                json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }]),
                "{operation}"
            );
        }
        assert!(document["paths"]["/greet"]["post"]["parameters"].is_null());
    }

    #[test]
    fn cors_adds_a_preflight_mock_and_gateway_responses() {
        let mut desired = desired();
        desired.cors = Some(cors(&["https://app.example.com"]));
        desired.preflights = BTreeMap::from([("/greet".to_string(), "OPTIONS,POST".to_string())]);
        let document = document(&desired);
        let options = &document["paths"]["/greet"]["options"];
        let integration = &options["x-amazon-apigateway-integration"];
        assert_eq!(integration["type"], "mock");
        // A preflight is text, even under binary media type `*/*`.
        assert_eq!(integration["contentHandling"], "CONVERT_TO_TEXT");
        let parameters = &integration["responses"]["default"]["responseParameters"];
        assert_eq!(
            parameters["method.response.header.Access-Control-Allow-Origin"],
            "'https://app.example.com'"
        );
        assert_eq!(
            parameters["method.response.header.Access-Control-Allow-Methods"],
            "'OPTIONS,POST'"
        );
        assert_eq!(
            parameters["method.response.header.Access-Control-Allow-Headers"],
            "'Content-Type,Authorization'"
        );
        // Every header it sets is declared on the method response.
        for name in parameters.as_object().unwrap().keys() {
            let header = name.trim_start_matches("method.response.header.");
            assert!(
                options["responses"]["204"]["headers"][header].is_object(),
                "{header}"
            );
        }
        assert!(document["paths"]["/orders/{id}"]["options"].is_null());
        let errors = &document["x-amazon-apigateway-gateway-responses"];
        assert_eq!(
            errors["DEFAULT_4XX"]["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"],
            "'https://app.example.com'"
        );
        assert_eq!(errors["DEFAULT_5XX"], errors["DEFAULT_4XX"]);
    }

    #[test]
    fn keyed_routes_require_the_api_key_header() {
        let mut desired = desired();
        let before = digest(&document(&desired), &[]);
        desired.keyed = BTreeMap::from([("/greet".to_string(), BTreeSet::from([Method::Post]))]);
        let document = document(&desired);
        assert_eq!(
            document["paths"]["/greet"]["post"]["security"],
            json!([{ "api_key": [] }])
        );
        assert!(document["paths"]["/orders/{id}"]["post"]["security"].is_null());
        assert_eq!(document["x-amazon-apigateway-api-key-source"], "HEADER");
        assert_eq!(
            document["components"]["securitySchemes"]["api_key"],
            json!({ "type": "apiKey", "name": "x-api-key", "in": "header" })
        );
        assert_ne!(digest(&document, &[]), before);
    }

    #[test]
    fn authorizers_and_iam_become_security_schemes_of_their_routes() {
        use crate::config::{Authorizer, AuthorizerKind, RouteAuth};
        let mut desired = desired();
        let pool = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc";
        desired.authorizers = vec![
            Authorizer {
                name: "users".into(),
                kind: AuthorizerKind::Cognito {
                    user_pools: vec![pool.into()],
                },
                header: "Authorization".into(),
                ttl: 300,
            },
            Authorizer {
                name: "partners".into(),
                kind: AuthorizerKind::Function {
                    function: "check_token".into(),
                    request: false,
                },
                header: "X-Partner-Token".into(),
                ttl: 60,
            },
            Authorizer {
                name: "unused".into(),
                kind: AuthorizerKind::Cognito {
                    user_pools: vec![pool.into()],
                },
                header: "Authorization".into(),
                ttl: 300,
            },
        ];
        desired.auth = BTreeMap::from([
            (
                "/greet".to_string(),
                BTreeMap::from([(
                    Method::Post,
                    RouteAuth::Authorizer {
                        name: "users".into(),
                        scopes: vec!["orders/write".into()],
                    },
                )]),
            ),
            (
                "/orders/{id}".to_string(),
                BTreeMap::from([(Method::Post, RouteAuth::Iam)]),
            ),
        ]);
        desired.keyed = BTreeMap::from([("/greet".to_string(), BTreeSet::from([Method::Post]))]);
        let document = document(&desired);
        // A key and the user pool, both required.
        assert_eq!(
            document["paths"]["/greet"]["post"]["security"],
            json!([{ "api_key": [], "users": ["orders/write"] }])
        );
        assert_eq!(
            document["paths"]["/orders/{id}"]["post"]["security"],
            json!([{ "sigv4": [] }])
        );
        let schemes = &document["components"]["securitySchemes"];
        assert_eq!(schemes["sigv4"]["x-amazon-apigateway-authtype"], "awsSigv4");
        let users = &schemes["users"]["x-amazon-apigateway-authorizer"];
        assert_eq!(users["type"], "cognito_user_pools");
        assert_eq!(users["providerARNs"], json!([pool]));
        assert!(schemes["partners"].is_null(), "no route uses it");
        assert!(schemes["unused"].is_null());

        desired.auth.insert(
            "/health".into(),
            BTreeMap::from([(
                Method::Get,
                RouteAuth::Authorizer {
                    name: "partners".into(),
                    scopes: vec![],
                },
            )]),
        );
        let document = super::document(&desired);
        let partners = &document["components"]["securitySchemes"]["partners"];
        assert_eq!(partners["name"], "X-Partner-Token");
        assert_eq!(partners["x-amazon-apigateway-authtype"], "custom");
        let definition = &partners["x-amazon-apigateway-authorizer"];
        assert_eq!(definition["type"], "token");
        assert_eq!(definition["authorizerResultTtlInSeconds"], 60);
        assert_eq!(
            definition["identitySource"],
            "method.request.header.X-Partner-Token"
        );
        assert_eq!(
            definition["authorizerUri"],
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-partners:dev/invocations"
        );

        // Its function takes the route: as a token authorizer (cached by
        // the token alone) it is never cached; as a request authorizer it
        // is cached per route.
        desired.authorizers_by_route = BTreeSet::from(["partners".to_string()]);
        let scheme = |desired: &Desired| {
            super::document(desired)["components"]["securitySchemes"]["partners"]
                ["x-amazon-apigateway-authorizer"]
                .clone()
        };
        let token = scheme(&desired);
        assert_eq!(token["authorizerResultTtlInSeconds"], 0);
        assert_eq!(
            token["identitySource"],
            "method.request.header.X-Partner-Token"
        );
        desired.authorizers[1].kind = AuthorizerKind::Function {
            function: "check_token".into(),
            request: true,
        };
        let request = scheme(&desired);
        assert_eq!(request["authorizerResultTtlInSeconds"], 60);
        assert_eq!(
            request["identitySource"],
            "method.request.header.X-Partner-Token, context.httpMethod, context.resourcePath"
        );
    }

    #[test]
    fn several_origins_are_chosen_per_request() {
        let mut desired = desired();
        desired.cors = Some(cors(&["https://a.example", "https://b.example"]));
        desired.preflights = BTreeMap::from([("/greet".to_string(), "OPTIONS,POST".to_string())]);
        let document = document(&desired);
        let default = &document["paths"]["/greet"]["options"]["x-amazon-apigateway-integration"]["responses"]
            ["default"];
        let template = default["responseTemplates"]["application/json"]
            .as_str()
            .unwrap();
        assert!(
            template.contains("$origin == \"https://b.example\""),
            "{template}"
        );
        assert!(template.contains("responseOverride.header.Access-Control-Allow-Origin"));
        assert!(
            default["responseParameters"]["method.response.header.Access-Control-Allow-Origin"]
                .is_null()
        );
        let errors = &document["x-amazon-apigateway-gateway-responses"]["DEFAULT_4XX"];
        assert_eq!(
            errors["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"],
            "method.request.header.origin"
        );
    }
}
