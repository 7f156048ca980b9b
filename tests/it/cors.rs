//! `[cors]`: a browser's preflight and the headers on every answer, from
//! `slx dev` over real HTTP (the function's answers, its errors, and API
//! Gateway's own), and the definition a deploy sends API Gateway (the
//! preflight mocks and gateway responses, from the recorded import).

use crate::common::app::add_extra_handlers;
use crate::common::moto::Moto;
use crate::common::stage::{Project, plan_actions, zips};
use crate::common::{BUILD_LOCK, scaffold, stdout_json};
use crate::dev::Dev;

const APP: &str = "https://app.example.com";
const ADMIN: &str = "https://admin.example.com";

/// One request with `headers`; status, headers, body as text.
fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let (status, headers, bytes) = crate::dev::send(method, url, headers, body.map(str::as_bytes));
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

const CORS: &str = "[cors]\norigins = [\"https://app.example.com\", \"https://admin.example.com\"]\ncredentials = true\nexpose_headers = [\"X-Request-Id\"]\n\n";

#[test]
fn slx_dev_answers_preflights_and_every_answer_carries_the_origin() {
    let _timing = crate::common::timing();
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (_temp, dir) = scaffold("shop");
    add_extra_handlers(&dir);
    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("[routes]", &format!("{CORS}[routes]"))
        .replace(
            "\"GET /cookies\" = \"cookies\"",
            "\"GET /cookies\" = { handler = \"cookies\", cors = false }",
        );
    std::fs::write(&config, text).unwrap();
    let dev = Dev::start(&dir);
    let url = dev.url.clone();

    // A preflight from a listed origin: API Gateway's mock answers it,
    // naming that origin and the path's methods.
    let (status, headers, body) = request(
        "OPTIONS",
        &format!("{url}/greet"),
        &[
            ("origin", ADMIN),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        None,
    );
    assert_eq!(status, 204, "{headers:?}");
    assert!(body.is_empty());
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(ADMIN));
    assert_eq!(
        header(&headers, "access-control-allow-methods"),
        Some("OPTIONS,POST")
    );
    assert_eq!(
        header(&headers, "access-control-allow-headers"),
        Some("Content-Type,Authorization,X-Api-Key")
    );
    assert_eq!(header(&headers, "access-control-max-age"), Some("600"));
    assert_eq!(
        header(&headers, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(header(&headers, "vary"), Some("Origin"));
    // Another origin is not named: the browser refuses the call.
    let (status, headers, _) = request(
        "OPTIONS",
        &format!("{url}/greet"),
        &[("origin", "https://evil.example")],
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);

    // The function's answer, its 400 and its 500 name the origin.
    let json = [("origin", APP), ("content-type", "application/json")];
    let (status, headers, _) = request(
        "POST",
        &format!("{url}/greet"),
        &json,
        Some(r#"{"name":"cors"}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        header(&headers, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        header(&headers, "access-control-expose-headers"),
        Some("X-Request-Id")
    );
    assert_eq!(header(&headers, "vary"), Some("Origin"));
    let (status, headers, _) = request("POST", &format!("{url}/greet"), &json, Some("{"));
    assert_eq!(status, 400);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(APP));
    let (status, headers, _) = request("GET", &format!("{url}/boom"), &[("origin", APP)], None);
    assert_eq!(status, 500);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(APP));

    // API Gateway's own errors: no route (403), a crashed function (502).
    let (status, headers, _) = request("GET", &format!("{url}/nope"), &[("origin", APP)], None);
    assert_eq!(status, 403);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(APP));
    let (status, headers, _) = request("GET", &format!("{url}/crash"), &[("origin", ADMIN)], None);
    assert_eq!(status, 502);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(ADMIN));

    // A route with `cors = false` gets none.
    let (status, headers, _) = request("GET", &format!("{url}/cookies"), &[("origin", APP)], None);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_sends_the_preflight_mocks_and_gateway_responses_once() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    // Through the simulator: moto refuses a mock integration without a
    // `uri`, which API Gateway does not need (docs/simulator.md).
    let (_sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    project.edit("[routes]", &format!("{CORS}[routes]"));
    moto.start_recording();
    let first = project.deploy("dev", &zips().v1);
    assert_eq!(first["changed"], true);
    let imports = moto.recorded_imports();
    assert_eq!(imports.len(), 1, "one import");
    let document = &imports[0];
    let options = &document["paths"]["/greet"]["options"];
    assert_eq!(options["x-amazon-apigateway-integration"]["type"], "mock");
    let template = options["x-amazon-apigateway-integration"]["responses"]["default"]
        ["responseTemplates"]["application/json"]
        .as_str()
        .unwrap();
    assert!(
        template.contains(ADMIN) && template.contains(APP),
        "{template}"
    );
    assert_eq!(
        document["x-amazon-apigateway-gateway-responses"]["DEFAULT_5XX"]["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Credentials"],
        "'true'"
    );
    // The function's configuration (SLX_CORS) and the stage match slx.toml.
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["in_sync"], true, "{status}");

    // Nothing to send the second time, although moto shows back only
    // the methods: the deployed definition's digest says it is current.
    moto.start_recording();
    let again = project.deploy("dev", &zips().v1);
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(moto.writes(), Vec::<String>::new());

    // Another origin: the definition and the function's variable change.
    project.edit(
        "\"https://admin.example.com\"]",
        "\"https://ops.example.com\"]",
    );
    let plan = project.slx(&[
        "plan",
        "--stage",
        "dev",
        "--zip",
        zips().v1.to_str().unwrap(),
    ]);
    let actions = plan_actions(&plan);
    assert_eq!(
        actions,
        [
            "update_config",
            "publish_and_point_alias",
            "set_routes",
            "deploy_api"
        ]
    );
}
