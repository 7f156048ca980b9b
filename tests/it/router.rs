//! Router mode (`[app] router`): the scaffolded axum app, grown with the
//! parts of HTTP that REST API v1 and lambda_http make hard (cookies,
//! binary answers, large bodies, the stage prefix, the request context,
//! panics), served locally and deployed behind the catch-all.

use serde_json::Value;
use slx_sim::{Behaviours, Simulator};

use crate::common::moto::Moto;
use crate::common::stage::{Project, apis_named, aws, function_exists};
use crate::common::{run, shared_target_dir, slx, stdout_json};
use crate::dev::call;
use crate::simulated::writes_since;

/// Routes the test adds to the scaffold's router, and a handler function
/// slx.toml routes itself (`GET /legacy`).
const EXTRA: &str = r#"
/// The scaffold's app and the routes the tests need.
pub fn full() -> Router {
    use axum::extract::Request;
    use axum::http::HeaderMap;
    router().merge(
        Router::new()
            .route(
                "/cookies",
                get(|| async {
                    (
                        axum::response::AppendHeaders([
                            (header::SET_COOKIE, "a=1; Path=/"),
                            (header::SET_COOKIE, "b=2; Path=/"),
                        ]),
                        "two cookies",
                    )
                })
                .post(|headers: HeaderMap| async move {
                    let cookies: Vec<String> = headers
                        .get_all(header::COOKIE)
                        .iter()
                        .map(|v| v.to_str().unwrap_or_default().to_string())
                        .collect();
                    cookies.join("; ")
                }),
            )
            .route(
                "/picture",
                get(|| async {
                    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
                    png.extend((0..=255u8).collect::<Vec<u8>>());
                    ([(header::CONTENT_TYPE, "image/png")], png)
                }),
            )
            .route(
                "/size",
                post(|Json(value): Json<serde_json::Value>| async move {
                    Json(serde_json::json!({ "items": value.as_array().map_or(0, |a| a.len()) }))
                })
                // axum's own limit is 2 MB; Lambda's is the one that counts.
                .layer(axum::extract::DefaultBodyLimit::max(6 * 1024 * 1024)),
            )
            .route(
                "/whereami",
                get(|request: Request| async move {
                    let prefix = request
                        .headers()
                        .get("x-forwarded-prefix")
                        .map(|v| v.to_str().unwrap_or_default().to_string());
                    let stage = request
                        .extensions()
                        .get::<lambda_http::request::RequestContext>()
                        .and_then(|context| match context {
                            lambda_http::request::RequestContext::ApiGatewayV1(c) => c.stage.clone(),
                            _ => None,
                        });
                    Json(serde_json::json!({
                        "path": request.uri().path(),
                        "query": request.uri().query(),
                        "prefix": prefix,
                        "stage": stage,
                    }))
                }),
            )
            .route(
                "/boom",
                get(|| async {
                    let reason: Option<&str> = None;
                    reason.expect("the app gave up")
                }),
            ),
    )
}

/// `GET /legacy`, routed to this function by slx.toml: it wins over the
/// router's catch-all.
pub async fn legacy() -> &'static str {
    "served by a handler function"
}
"#;

/// The router scaffold, grown with [`EXTRA`], in a project whose AWS is
/// moto behind the simulator.
fn router_project(moto: &Moto) -> (Simulator, Project) {
    let (sim, project) = Project::behind_simulator(moto, Behaviours::default());
    let temp = tempfile::tempdir().unwrap();
    let output = run(slx(temp.path()).args(["init", "--template", "router", "shop"]));
    assert!(output.status.success());
    for file in ["Cargo.toml", "slx.toml", "src/lib.rs"] {
        std::fs::copy(temp.path().join("shop").join(file), project.dir.join(file)).unwrap();
    }
    let lib = project.dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    let (head, tests) = text.split_once("#[cfg(test)]").unwrap();
    std::fs::write(&lib, format!("{head}{EXTRA}\n#[cfg(test)]{tests}")).unwrap();
    let manifest = project.dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "[dependencies]\n",
        "[dependencies]\nlambda_http = { version = \"1\", default-features = false, features = [\"apigw_rest\"] }\n",
    );
    std::fs::write(&manifest, text).unwrap();
    project.edit("router = \"router\"", "router = \"full\"");
    // `[cors]` under router mode's binary media type `*/*`: API Gateway
    // answers a preflight only from a mock that converts to text.
    project.edit(
        "[[checks]]",
        "[routes]\n\"GET /legacy\" = \"legacy\"\n\"GET /orders/{id}\" = {}\n\n[cors]\norigins = [\"https://app.example.com\"]\n\n[stages.mapped.domain]\nname = \"api.example.com\"\ncertificate = \"arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-1234567890ab\"\nbase_path = \"v1\"\n\n[[checks]]",
    );
    (sim, project)
}

fn invoke(project: &Project, stage: &str, request: &str, data: Option<&str>) -> Value {
    let mut args = vec!["invoke", "--stage", stage, request];
    if let Some(data) = data {
        args.extend(["--data", data]);
    }
    stdout_json(&project.slx(&args))
}

/// Every value of header `name` in an answer (`[[name, value], ...]`).
fn header_values(answer: &Value, name: &str) -> Vec<String> {
    answer["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("no headers: {answer}"))
        .iter()
        .filter(|pair| {
            pair[0]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .map(|pair| pair[1].as_str().unwrap().to_string())
        .collect()
}

fn body_json(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// Every route answers through Lambda as `cargo test` of the same router
/// says it should, plus what only API Gateway and Lambda bring.
fn assert_served(project: &Project, stage: &str) {
    let health = invoke(project, stage, "GET /health", None);
    assert_eq!(
        (health["status"].clone(), body_json(&health)),
        (200.into(), serde_json::json!({"ok": true}))
    );
    assert_eq!(
        header_values(&health, "cache-control"),
        ["no-store"],
        "the tower-http layer ran"
    );
    let order = invoke(
        project,
        stage,
        "POST /orders/42",
        Some(r#"{"item":"tea","quantity":2}"#),
    );
    assert_eq!(order["status"], 201, "{order}");
    assert_eq!(body_json(&order)["id"], "42");
    let refused = invoke(
        project,
        stage,
        "POST /orders/42",
        Some(r#"{"item":"tea","quantity":0}"#),
    );
    assert_eq!(refused["status"], 422, "{refused}");
    // The app's own 404, through the catch-all, at any depth and at `/`.
    for request in ["GET /nowhere/at/all", "GET /", "DELETE /health"] {
        let answer = invoke(project, stage, request, None);
        let status = answer["status"].as_u64().unwrap();
        assert!(status == 404 || status == 405, "{request}: {answer}");
        if status == 404 {
            assert_eq!(body_json(&answer)["message"], "no such page", "{request}");
        }
    }
    let legacy = invoke(project, stage, "GET /legacy", None);
    assert_eq!(
        body_json(&legacy),
        "served by a handler function",
        "{legacy}"
    );

    let place = invoke(project, stage, "GET /whereami?x=1&x=2", None);
    assert_eq!(
        body_json(&place),
        serde_json::json!({
            "path": "/whereami",
            "query": "x=1&x=2",
            "prefix": format!("/{stage}"),
            "stage": stage,
        }),
        "paths without the stage, the stage in x-forwarded-prefix and the request context"
    );

    let cookies = invoke(project, stage, "GET /cookies", None);
    assert_eq!(
        header_values(&cookies, "set-cookie"),
        ["a=1; Path=/", "b=2; Path=/"]
    );
    let output = project.slx(&[
        "invoke",
        "--stage",
        stage,
        "POST /cookies",
        "-H",
        "cookie: a=1; b=2",
    ]);
    let read = stdout_json(&output);
    assert_eq!(read["body"], "a=1; b=2", "{read}");

    let picture = invoke(project, stage, "GET /picture", None);
    assert_eq!(header_values(&picture, "content-type"), ["image/png"]);
    assert!(
        picture["body"].as_str().unwrap().contains("PNG"),
        "{picture}"
    );

    // A JSON body of 4.3 MB: base64 in the event (binary media types
    // `*/*`), 5.7 MB, near Lambda's 6 MB request payload limit.
    let big = format!(
        "[{}]",
        vec!["\"0123456789abcdef0123456789abcdef\""; 120_000].join(",")
    );
    let file = project.dir.join("big.json");
    std::fs::write(&file, &big).unwrap();
    let size = invoke(project, stage, "POST /size", Some("@big.json"));
    assert_eq!(body_json(&size)["items"], 120_000, "{}", size["status"]);

    // A panic is the request's 500, and the next request is served.
    let boom = invoke(project, stage, "GET /boom", None);
    assert_eq!(boom["status"], 500);
    assert!(body_json(&boom)["requestId"].is_string(), "{boom}");
    assert_eq!(invoke(project, stage, "GET /health", None)["status"], 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_axum_app_is_deployed_unchanged_behind_a_catch_all_and_answers_as_its_tests_say() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let aws = aws(&moto).await;
    let (sim, project) = router_project(&moto);

    // The app's own tests pass without Lambda.
    let output = run(std::process::Command::new("cargo")
        .arg("test")
        .current_dir(&project.dir)
        .env("CARGO_TARGET_DIR", shared_target_dir()));
    assert!(output.status.success());

    // Locally: the same gateway and event as the stage.
    let local = stdout_json(&project.slx(&["invoke", "--local", "GET /whereami?x=1"]));
    assert_eq!(body_json(&local)["path"], "/whereami", "{local}");
    assert_eq!(body_json(&local)["prefix"], "/dev", "{local}");
    let local = stdout_json(&project.slx(&["invoke", "--local", "GET /missing"]));
    assert_eq!(local["status"], 404, "{local}");
    {
        // `slx dev`: bytes both ways through the local API Gateway.
        let dev = crate::dev::Dev::start(&project.dir);
        let (status, headers, bytes) = call("GET", &format!("{}/picture", dev.url), None);
        assert_eq!(status, 200);
        assert!(headers.contains(&("content-type".into(), "image/png".into())));
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(0..=255u8);
        assert_eq!(bytes, png, "the binary answer arrives as bytes");
        let order = br#"{"item":"tea","quantity":3}"#;
        let (status, _, bytes) = call(
            "POST",
            &format!("{}/orders/5", dev.url),
            Some(("application/json", order)),
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&bytes));
        let (status, _, bytes) = call("GET", &format!("{}/whereami", dev.url), None);
        assert_eq!(status, 200);
        let place: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(place["prefix"], "/dev", "{place}");
        let (status, _, _) = call("GET", &format!("{}/no/such/page", dev.url), None);
        assert_eq!(status, 404);
    }
    // The mapped stage's API is mapped under `v1` of a custom domain: locally
    // too, calls go under the base path and reach the app without it.
    {
        let dev = crate::dev::Dev::start_with(&project.dir, &["--stage", "mapped"]);
        assert!(dev.url.ends_with("/v1"), "{}", dev.url);
        let (status, _, bytes) = call("GET", &format!("{}/whereami", dev.url), None);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        let place: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            (&place["path"], &place["prefix"]),
            (&"/whereami".into(), &"/v1".into())
        );
        let outside = dev.url.trim_end_matches("/v1").to_string() + "/whereami";
        let (status, _, _) = call("GET", &outside, None);
        assert_eq!(status, 403, "not under the base path");
    }

    let output = project.slx(&["deploy", "--stage", "dev"]);
    assert!(output.status.success(), "deploy failed");
    let report = stdout_json(&output);
    assert_eq!(
        report["checks"]["passed"], 1,
        "the scaffold's check passed: {report}"
    );

    // The catch-all, AWS's form, to the alias; declared routes beside it.
    let api = &apis_named(&aws, "shop-dev").await[0];
    let resources = aws
        .apigateway
        .get_resources()
        .rest_api_id(api.id().unwrap())
        .embed("methods")
        .send()
        .await
        .unwrap();
    let mut routes: Vec<String> = resources
        .items()
        .iter()
        .flat_map(|r| {
            let path = r.path().unwrap_or_default().to_string();
            r.resource_methods()
                .into_iter()
                .flatten()
                // `[cors]`'s preflights: mocks, checked below.
                .filter(|(method, _)| method.as_str() != "OPTIONS")
                .map(move |(method, m)| {
                    let uri = m
                        .method_integration()
                        .and_then(|i| i.uri())
                        .unwrap_or_default();
                    assert!(uri.ends_with(":function:shop-dev:dev/invocations"), "{uri}");
                    format!("{method} {path}")
                })
        })
        .collect();
    routes.sort();
    // Moto names an imported ANY after the OpenAPI extension.
    assert_eq!(
        routes,
        [
            "GET /legacy",
            "GET /orders/{id}",
            "X-AMAZON-APIGATEWAY-ANY-METHOD /",
            "X-AMAZON-APIGATEWAY-ANY-METHOD /{proxy+}",
        ]
    );
    // Binary media types `*/*`, in the import (moto ignores them; the
    // simulator keeps them as AWS does, so the no-op below reads them).
    let set_routes = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["action"] == "set_routes")
        .unwrap();
    assert_eq!(
        set_routes["openapi"]["x-amazon-apigateway-binary-media-types"],
        serde_json::json!(["*/*"])
    );
    // Each path's preflight is a mock that takes the request as text.
    let paths = set_routes["openapi"]["paths"].as_object().unwrap();
    for (path, operations) in paths {
        let mock = &operations["options"]["x-amazon-apigateway-integration"];
        assert_eq!(mock["type"], "mock", "{path}");
        assert_eq!(mock["contentHandling"], "CONVERT_TO_TEXT", "{path}");
    }

    assert_served(&project, "dev");

    // Nothing to change: no write at all, on moto's odd ANY included.
    let before = sim.events().len();
    let again = stdout_json(&project.slx(&["deploy", "--stage", "dev"]));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(writes_since(&sim, before), Vec::<String>::new());

    // A second stage of the same zip, mapped under a custom domain.
    let output = project.slx(&["deploy", "--stage", "mapped"]);
    assert!(output.status.success(), "the mapped stage's deploy failed");
    let health = invoke(&project, "mapped", "GET /health", None);
    assert_eq!(health["status"], 200, "{health}");
    let order = invoke(
        &project,
        "mapped",
        "POST /orders/7",
        Some(r#"{"item":"tea","quantity":1}"#),
    );
    assert_eq!(body_json(&order)["id"], "7", "{order}");
    // The mapped stage is mapped under `v1` of a custom domain: `slx
    // invoke` sends what API Gateway sends for calls through it (the base
    // path in the path, the domain as the host), and the app still routes
    // its own paths, told the prefix; route-table handlers, dispatched by
    // resource, answer as before.
    let place = invoke(&project, "mapped", "GET /whereami?x=1", None);
    assert_eq!(
        (
            &body_json(&place)["path"],
            &body_json(&place)["prefix"],
            &body_json(&place)["query"]
        ),
        (&"/whereami".into(), &"/v1".into(), &"x=1".into()),
        "{place}"
    );
    let legacy = invoke(&project, "mapped", "GET /legacy", None);
    assert_eq!(
        body_json(&legacy),
        "served by a handler function",
        "{legacy}"
    );
    let missing = invoke(&project, "mapped", "GET /nowhere", None);
    assert_eq!(body_json(&missing)["message"], "no such page", "{missing}");

    for stage in ["dev", "mapped"] {
        let output = project.slx(&["undeploy", "--stage", stage, "--yes"]);
        assert!(output.status.success());
        assert!(apis_named(&aws, &format!("shop-{stage}")).await.is_empty());
        assert!(!function_exists(&aws, &format!("shop-{stage}")).await);
    }
}
