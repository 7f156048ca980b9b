//! Authorizers: Cognito user pools (JWTs) and IAM on routes, enforced
//! by `slx dev` over real HTTP as API Gateway enforces them (with the
//! caller's claims and identity reaching the handler), and the security
//! schemes a deploy sends in the one OpenAPI import.

use std::time::Duration;

use crate::common::app::add_extra_handlers;
use crate::common::moto::Moto;
use crate::common::stage::{Project, zips};
use crate::common::{BUILD_LOCK, scaffold};
use crate::dev::{Dev, send};

const POOL: &str = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_SlxTest1";

const HANDLERS: &str = r#"
#[derive(serde::Deserialize, serde::Serialize)]
pub struct Caller {
    pub claims: std::collections::BTreeMap<String, serde_json::Value>,
}

/// The caller, as the route's Cognito authorizer describes it.
pub async fn whoami(caller: Caller) -> Caller {
    caller
}

#[derive(serde::Deserialize, serde::Serialize)]
pub struct Signer {
    #[serde(rename = "accessKey")]
    pub access_key: Option<String>,
}

/// The caller of an IAM route, as API Gateway identifies it.
pub async fn signer(identity: Signer) -> Signer {
    identity
}

#[derive(serde::Serialize)]
pub struct Partner {
    pub partner: String,
    pub tier: String,
}

/// Lets through the tokens `partner-NAME`; `boom` is an error.
pub async fn check_partner(token: String) -> Result<Option<Partner>, String> {
    if token == "boom" {
        return Err("cannot read the token".into());
    }
    Ok(token.strip_prefix("partner-").map(|name| Partner {
        partner: name.to_string(),
        tier: "gold".into(),
    }))
}

#[derive(serde::Deserialize, serde::Serialize)]
pub struct PartnerCaller {
    pub partner: String,
    pub tier: String,
    #[serde(rename = "principalId")]
    pub principal: String,
}

/// The partner, as the function authorizer described it.
pub async fn partner_feed(caller: PartnerCaller) -> PartnerCaller {
    caller
}

/// Lets `staff-NAME` tokens call every path but those under `/admin`: a
/// verdict that differs from route to route. As a `request` authorizer
/// it finds the token among the headers, as a `token` one it is given it.
pub async fn check_staff(
    token: Option<String>,
    headers: std::collections::HashMap<String, String>,
    path: String,
) -> Option<Partner> {
    let token = token.or_else(|| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-staff-token"))
            .map(|(_, value)| value.clone())
    })?;
    let name = token.strip_prefix("staff-")?;
    (!path.starts_with("/admin")).then(|| Partner {
        partner: name.to_string(),
        tier: "staff".into(),
    })
}
"#;

/// The same function behind a `request` authorizer and a `token` one;
/// both cache verdicts for 300 s unless slx must not.
const STAFF: &str = "[authorizers.staff]\nfunction = \"check_staff\"\ntype = \"request\"\nheader = \"X-Staff-Token\"\nttl = 300\n\n[authorizers.tokens]\nfunction = \"check_staff\"\nheader = \"X-Staff-Token\"\nttl = 300\n";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures/cognito")
        .join(name)
}

fn tokens() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("tokens.json")).unwrap()).unwrap()
}

/// `text` with the authorizer, the routes and their handlers.
fn with_auth(text: &str) -> String {
    let routes = [
        "\"GET /me\" = { handler = \"whoami\", auth = \"users\" }",
        "\"GET /orders\" = { handler = \"whoami\", auth = \"users\", scopes = [\"orders/read\"] }",
        "\"GET /signed\" = { handler = \"signer\", auth = \"iam\" }",
        "\"GET /feed\" = { handler = \"partner_feed\", auth = \"partners\" }",
        "\"GET /public\" = { handler = \"partner_feed\", auth = \"staff\" }",
        "\"GET /admin\" = { handler = \"partner_feed\", auth = \"staff\" }",
        "\"GET /open\" = { handler = \"partner_feed\", auth = \"tokens\" }",
        "\"GET /admin/tokens\" = { handler = \"partner_feed\", auth = \"tokens\" }",
    ];
    text.replace(
        "[routes]",
        &format!(
            "[authorizers.users]\ncognito = [\"{POOL}\"]\n\n[authorizers.partners]\nfunction = \"check_partner\"\nheader = \"X-Partner-Token\"\nttl = 60\n\n{STAFF}\n[routes]\n{}",
            routes.join("\n")
        ),
    )
}

fn get(url: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let (status, _, body) = send("GET", url, headers, None);
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn slx_dev_checks_cognito_tokens_and_iam_signatures_and_hands_over_the_caller() {
    let _timing = crate::common::timing();
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (_temp, dir) = scaffold("shop");
    add_extra_handlers(&dir);
    let lib = dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    let (head, tests) = text.split_once("#[cfg(test)]").unwrap();
    std::fs::write(&lib, format!("{head}{HANDLERS}\n#[cfg(test)]{tests}")).unwrap();
    let config = dir.join("slx.toml");
    std::fs::write(
        &config,
        with_auth(&std::fs::read_to_string(&config).unwrap()),
    )
    .unwrap();
    let tokens = tokens();
    let id = tokens["id"].as_str().unwrap();
    let access = tokens["access"].as_str().unwrap();
    // The ID token with another signature.
    let forged = format!("{}.AAAA", id.rsplit_once('.').unwrap().0);

    let jwks = fixture("jwks.json");
    let dev = Dev::start_with(&dir, &["--jwks", jwks.to_str().unwrap()]);
    let banner = dev
        .lines_until("watching for changes", Duration::from_secs(60))
        .join("\n");
    assert!(
        banner.contains("/me  → whoami  (authorizer users)"),
        "{banner}"
    );
    assert!(banner.contains("/signed  → signer  (IAM)"), "{banner}");
    let url = dev.url.clone();
    let me = format!("{url}/me");

    // No token, a forged one, the wrong kind: API Gateway's 401.
    let unauthorized = serde_json::json!({ "message": "Unauthorized" });
    assert_eq!(get(&me, &[]), (401, unauthorized.clone()));
    dev.wait_for("no `Authorization` header", Duration::from_secs(10));
    assert_eq!(get(&me, &[("authorization", &forged)]).0, 401);
    dev.wait_for(
        "the signature does not match the key",
        Duration::from_secs(10),
    );
    assert_eq!(get(&me, &[("authorization", access)]).0, 401);
    // The ID token: the handler gets its claims.
    let (status, body) = get(&me, &[("authorization", id)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["claims"]["email"], "ada@example.com");
    assert_eq!(body["claims"]["cognito:username"], "ada");
    // A route with scopes takes the access token that holds them.
    let orders = format!("{url}/orders");
    assert_eq!(get(&orders, &[("authorization", id)]).0, 401);
    let (status, body) = get(&orders, &[("authorization", &format!("Bearer {access}"))]);
    assert_eq!(
        (status, body["claims"]["scope"].as_str()),
        (200, Some("orders/read openid"))
    );

    // IAM: unsigned is refused as API Gateway does; signed reaches the
    // handler with the caller's access key.
    let signed = format!("{url}/signed");
    let (status, body) = get(&signed, &[]);
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("Missing Authentication Token"))
    );
    let signature = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00";
    let (status, body) = get(&signed, &[("authorization", signature)]);
    assert_eq!(
        (status, body["accessKey"].as_str()),
        (200, Some("AKIDEXAMPLE"))
    );
    // The function authorizer, run by slx dev: its verdict and context.
    let feed = format!("{url}/feed");
    assert_eq!(get(&feed, &[]), (401, unauthorized.clone()));
    let (status, body) = get(&feed, &[("x-partner-token", "partner-acme")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["partner"].as_str(),
            body["tier"].as_str(),
            body["principalId"].as_str()
        ),
        (Some("acme"), Some("gold"), Some("slx"))
    );
    let (status, body) = get(&feed, &[("x-partner-token", "nobody")]);
    assert_eq!(
        (status, body["message"].as_str()),
        (
            403,
            Some("User is not authorized to access this resource with an explicit deny")
        )
    );
    assert_eq!(
        get(&feed, &[("x-partner-token", "boom")]),
        (401, unauthorized.clone())
    );
    dev.wait_for(
        "authorizer `partners` failed for the call to GET /feed: cannot read the token",
        Duration::from_secs(10),
    );
    // An authorizer that allows one route and denies another for one
    // token: a verdict never serves the other route, in either order,
    // as a request authorizer (cached per route) and as a token one
    // (never cached).
    let denied = |route: &str, token: &str| {
        let (status, body) = get(&format!("{url}{route}"), &[("x-staff-token", token)]);
        (status, body["partner"].as_str().map(str::to_string))
    };
    for (allowed, refused) in [("/public", "/admin"), ("/open", "/admin/tokens")] {
        let first = format!("staff-{}", &allowed[1..]);
        assert_eq!(
            denied(allowed, &first),
            (200, Some(allowed[1..].to_string()))
        );
        assert_eq!(denied(refused, &first).0, 403, "{refused} after {allowed}");
        let second = format!("staff-{}-2", &allowed[1..]);
        assert_eq!(denied(refused, &second).0, 403, "{refused} first");
        assert_eq!(denied(allowed, &second).0, 200, "{allowed} after {refused}");
        // Cached: the same answers again.
        assert_eq!(denied(refused, &first).0, 403);
        assert_eq!(denied(allowed, &second).0, 200);
    }
    // Public routes stay public.
    assert_eq!(get(&format!("{url}/health"), &[]).0, 200);
    drop(dev);

    // The authorizer alone, with the event API Gateway sends it.
    let invoked = crate::common::run(
        crate::common::slx(&dir)
            .args([
                "invoke",
                "--local",
                "--handler",
                "partners",
                "--data",
                "partner-acme",
                "--output",
                "json",
            ])
            .env("CARGO_TARGET_DIR", crate::common::shared_target_dir()),
    );
    let report = crate::common::stdout_json(&invoked);
    assert_eq!(
        report["response"]["policyDocument"]["Statement"][0]["Effect"], "Allow",
        "{report}"
    );
    assert_eq!(report["response"]["context"]["partner"], "acme");

    // --trust-jwt: said loudly, and the forged token passes (its claims
    // are still checked).
    let trusting = Dev::start_with(&dir, &["--trust-jwt"]);
    let banner = trusting
        .lines_until("watching for changes", Duration::from_secs(60))
        .join("\n");
    assert!(
        banner.contains("WITHOUT checking their signature"),
        "{banner}"
    );
    let (status, body) = get(
        &format!("{}/me", trusting.url),
        &[("authorization", &forged)],
    );
    assert_eq!(
        (status, body["claims"]["sub"].as_str()),
        (200, Some("user-1"))
    );
    drop(trusting);

    // Neither flag: Cognito routes cannot be checked, and say why.
    let blind = Dev::start(&dir);
    let banner = blind
        .lines_until("watching for changes", Duration::from_secs(60))
        .join("\n");
    assert!(
        banner.contains("Cognito tokens cannot be checked"),
        "{banner}"
    );
    assert_eq!(
        get(&format!("{}/me", blind.url), &[("authorization", id)]).0,
        401
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_sends_the_security_schemes_in_the_import_once() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    project.edit(
        "[routes]",
        &format!("[authorizers.users]\ncognito = [\"{POOL}\"]\nttl = 60\n\n[routes]"),
    );
    project.edit(
        "\"POST /greet\" = \"greet\"",
        "\"POST /greet\" = { handler = \"greet\", auth = \"users\", scopes = [\"greet/write\"] }",
    );
    project.edit(
        "\"POST /orders/{id}\" = \"create_order\"",
        "\"POST /orders/{id}\" = { handler = \"create_order\", auth = \"iam\" }",
    );
    project.edit(
        "\"GET /health\" = \"health\"",
        "\"GET /health\" = { handler = \"health\", auth = \"partners\" }",
    );
    project.edit(
        "[routes]",
        "[authorizers.partners]\nfunction = \"check_partner\"\nheader = \"X-Partner-Token\"\n\n[routes]",
    );
    // Every other API feature too: the no-op below holds with all of them.
    project.edit(
        "\"GET /health\" = { handler = \"health\", auth = \"partners\" }",
        "\"GET /health\" = { handler = \"health\", auth = \"partners\", api_key = true }",
    );
    project.edit(
        "[routes]",
        "[cors]\norigins = [\"https://app.example.com\"]\n\n[stages.dev.domain]\nname = \"api.example.com\"\ncertificate = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\"\n\n[routes]",
    );
    project.edit("[app]\n", "[app]\nbinary_media_types = [\"image/png\"]\n");
    // Two authorizers whose function takes the path: lib.rs says so (the
    // zip is prebuilt; slx reads the functions' parameters from lib.rs).
    project.edit(
        "[routes]",
        &format!("{STAFF}\n[routes]\n\"GET /staff\" = {{ handler = \"health\", auth = \"staff\" }}\n\"GET /tokens\" = {{ handler = \"health\", auth = \"tokens\" }}"),
    );
    let lib = project.dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{text}\n{HANDLERS}")).unwrap();
    moto.start_recording();
    let deployed = project.deploy_output("dev", &zips().v1, &[]);
    let said = String::from_utf8_lossy(&deployed.stderr);
    assert!(deployed.status.success(), "{said}");
    assert!(
        said.contains("authorizer `tokens` is a `token` authorizer whose function takes the route"),
        "{said}"
    );
    let import = moto.recorded_imports().remove(0);
    // A verdict that depends on the route is cached per route (request)
    // or not at all (token); the others per token, for their ttl.
    let scheme = |name: &str| {
        import["components"]["securitySchemes"][name]["x-amazon-apigateway-authorizer"].clone()
    };
    let caching = |name: &str| {
        let scheme = scheme(name);
        (
            scheme["identitySource"].as_str().unwrap().to_string(),
            scheme["authorizerResultTtlInSeconds"].as_u64().unwrap(),
        )
    };
    assert_eq!(
        caching("staff"),
        (
            "method.request.header.X-Staff-Token, context.httpMethod, context.resourcePath".into(),
            300
        )
    );
    assert_eq!(
        caching("tokens"),
        ("method.request.header.X-Staff-Token".into(), 0)
    );
    assert_eq!(
        caching("partners"),
        ("method.request.header.X-Partner-Token".into(), 300)
    );
    assert_eq!(
        import["paths"]["/greet"]["post"]["security"],
        serde_json::json!([{ "users": ["greet/write"] }])
    );
    assert_eq!(
        import["paths"]["/orders/{id}"]["post"]["security"],
        serde_json::json!([{ "sigv4": [] }])
    );
    assert_eq!(
        import["paths"]["/health"]["get"]["security"],
        serde_json::json!([{ "partners": [], "api_key": [] }])
    );
    // The preflight needs no authorizer: browsers send no credentials.
    assert_eq!(
        import["paths"]["/greet"]["options"]["x-amazon-apigateway-integration"]["type"],
        "mock"
    );
    assert!(import["paths"]["/greet"]["options"]["security"].is_null());
    assert_eq!(
        import["x-amazon-apigateway-binary-media-types"],
        serde_json::json!(["image/png"])
    );
    let users = &import["components"]["securitySchemes"]["users"];
    assert_eq!(users["x-amazon-apigateway-authtype"], "cognito_user_pools");
    assert_eq!(
        users["x-amazon-apigateway-authorizer"]["providerARNs"],
        serde_json::json!([POOL])
    );
    assert_eq!(
        users["x-amazon-apigateway-authorizer"]["authorizerResultTtlInSeconds"],
        60
    );
    // The function authorizer: its own function, which the API may ask.
    let partners =
        &import["components"]["securitySchemes"]["partners"]["x-amazon-apigateway-authorizer"];
    assert_eq!(partners["type"], "token");
    assert_eq!(
        partners["authorizerUri"],
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:shop-dev-partners:dev/invocations"
    );
    let aws = crate::common::stage::aws(&moto).await;
    let function = aws
        .lambda
        .get_function_configuration()
        .function_name("shop-dev-partners")
        .send()
        .await
        .unwrap();
    let env = function.environment().unwrap().variables().unwrap();
    assert_eq!(env["SLX_HANDLER"], "partners");
    let policy = aws
        .lambda
        .get_policy()
        .function_name("shop-dev-partners")
        .qualifier("dev")
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statement = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "slx-apigateway-authorizer")
        .expect("the authorizer's statement");
    let api_id = crate::common::stage::apis_named(&aws, "shop-dev").await[0]
        .id()
        .unwrap()
        .to_string();
    assert_eq!(
        statement["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/authorizers/*")
    );
    moto.start_recording();
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);
    assert_eq!(moto.writes(), Vec::<String>::new());

    // Status names the authorizer's function and what calls it.
    let status = crate::common::stdout_json(&project.slx(&["status", "--stage", "dev"]));
    let handler = &status["handlers"][0];
    assert_eq!(handler["function"], "shop-dev-partners", "{status}");
    assert!(
        handler["source"]
            .as_str()
            .unwrap()
            .starts_with("authorizer of the API (arn:aws:execute-api:"),
        "{status}"
    );
    // Undeploy takes it away with the rest; every call was allowed by
    // `slx iam-policy`.
    let gone = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(gone.status.success());
    assert!(
        aws.lambda
            .get_function()
            .function_name("shop-dev-partners")
            .send()
            .await
            .is_err()
    );
    crate::fidelity::assert_iam_policy_covers(&project, &sim, "dev");
}
