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
use crate::config::Method;

/// A digest of `document` (its canonical JSON), recorded in each API
/// deployment's description: what a stage serves can then be compared
/// with what slx.toml wants, since `PutRestApi` changes only the API's
/// working definition and a deployment is what goes live.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-deploy-api.html
pub(crate) fn digest(document: &Value) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(document.to_string().as_bytes())
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
            let parameters: Vec<Value> = path
                .split('/')
                .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
                .map(|name| json!({ "name": name.trim_end_matches('+'), "in": "path", "required": true, "schema": { "type": "string" } }))
                .collect();
            if !parameters.is_empty() {
                operation["parameters"] = Value::Array(parameters);
            }
            operations.insert(key, operation);
        }
        paths.insert(path.clone(), Value::Object(operations));
    }
    let mut document = json!({
        "openapi": "3.0.1",
        "info": {
            "title": arns.api,
            "description": arns.description(),
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
    document
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::deploy::desired::tests::desired;

    #[test]
    fn the_digest_follows_the_routes() {
        let mut desired = desired();
        let before = digest(&document(&desired));
        assert_eq!(before.len(), 32);
        assert_eq!(before, digest(&document(&desired)), "stable");
        desired
            .routes
            .insert("/health".into(), BTreeSet::from([Method::Get]));
        assert_ne!(before, digest(&document(&desired)));
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
}
