use std::path::Path;

use proptest::prelude::*;

use super::*;

const GOOD: &str = r#"
[app]
name = "shop"
arch = "x86_64"
memory = 256
timeout = 10
region = "eu-west-1"
log_retention_days = 14

[env]
GREETING = "hello"

[routes]
"POST /greet" = "greet"
"POST /orders/{id}" = "create_order"
"GET /health" = "health"

[stages.prod]
memory = 512
env = { GREETING = "hi" }

[[permissions]]
actions = ["dynamodb:GetItem"]
resources = ["arn:aws:dynamodb:*:*:table/orders"]
"#;

fn parse_text(text: &str) -> Result<Config, ConfigReport> {
    parse(Path::new("slx.toml"), text.to_string())
}

/// Parses `text` expecting failure; returns the located issues.
fn problems(text: &str) -> Vec<LocatedIssue> {
    parse_text(text)
        .expect_err("config should be rejected")
        .located()
}

fn app(extra: &str) -> String {
    format!("[app]\nname = \"shop\"\n{extra}")
}

#[test]
fn the_documented_example_is_valid() {
    let config = parse_text(GOOD).unwrap();
    assert_eq!(config.name, "shop");
    assert_eq!(config.routes.len(), 3);
    let overlay = &config.stages["prod"].settings;
    assert_eq!(overlay.memory.as_ref().map(|set| set.value), Some(512));
    assert_eq!(config.permissions[0].actions, ["dynamodb:GetItem"]);
    let prod = resolve(&config, "prod").unwrap();
    assert_eq!(prod.memory, 512);
    assert_eq!(prod.env["GREETING"], "hi");
    assert_eq!(prod.log_retention_days, 14);
    assert!(config.warnings.is_empty());
}

#[test]
fn a_misspelt_key_names_file_line_column_and_the_fix() {
    let found = problems("[app]\nname = \"shop\"\nmemroy = 256\n");
    assert_eq!(found.len(), 1);
    let issue = &found[0];
    assert_eq!(
        (issue.file.as_str(), issue.line, issue.column),
        ("slx.toml", 3, 1)
    );
    assert_eq!(issue.message, "unknown key `memroy` in [app]");
    assert_eq!(issue.help.as_deref(), Some("did you mean `memory`?"));
}

#[test]
fn every_error_is_reported_together() {
    let found = problems(&app("memory = 64\ntimeout = 0\narch = \"arm\"\n"));
    let lines: Vec<usize> = found.iter().map(|f| f.line).collect();
    assert_eq!(lines, vec![5, 3, 4], "{found:#?}");
    assert_eq!(found[0].help.as_deref(), Some("did you mean `arm64`?"));
    assert!(found[1].help.as_deref().unwrap().contains("128 to 10240"));
}

#[test]
fn wrong_value_type_is_located() {
    let found = problems(&app("memory = \"big\"\n"));
    assert_eq!(found[0].line, 3);
    assert!(found[0].message.contains("invalid type"), "{found:?}");
}

#[test]
fn syntax_errors_are_located() {
    let found = problems("[app\nname = 1\n");
    assert_eq!(found[0].line, 1);
}

#[test]
fn missing_app_and_name_are_explained() {
    assert_eq!(
        problems("[env]\nA = \"b\"\n")[0].message,
        "missing table [app]"
    );
    assert_eq!(
        problems("[app]\nmemory = 128\n")[0].message,
        "missing key `name` in [app]"
    );
}

#[test]
fn bad_app_names_are_refused() {
    for name in ["Shop", "my_shop", "9lives", "shop-"] {
        let found = problems(&format!("[app]\nname = \"{name}\"\n"));
        assert!(found[0].message.starts_with("invalid app name"), "{name}");
    }
}

#[test]
fn stage_names_and_lengths_are_checked() {
    let found = problems(&app("[stages.Prod]\nmemory = 256\n"));
    assert!(found[0].message.contains("invalid stage name `Prod`"));
    let long = "s".repeat(60);
    let found = problems(&app(&format!("[stages.{long}]\nmemory = 256\n")));
    assert!(
        found[0].message.contains("IAM role names allow 64"),
        "{found:?}"
    );
}

#[test]
fn unknown_methods_and_bad_paths_are_refused() {
    let cases = [
        ("\"FETCH /a\" = \"a\"", "unknown HTTP method `FETCH`"),
        ("\"POST a\" = \"a\"", "must start with `/`"),
        ("\"POST\" = \"a\"", "needs a method and a path"),
        ("\"POST /a//b\" = \"a\"", "empty segment"),
        ("\"POST /a/\" = \"a\"", "empty segment"),
        ("\"GET /{rest+}/x\" = \"a\"", "must be the last segment"),
        ("\"GET /{a-b}\" = \"a\"", "not a valid parameter name"),
        ("\"GET /a/{id}/{id}\" = \"a\"", "appears twice"),
        ("\"GET /a b\" = \"a\"", "not allowed"),
        // Valid in URLs, refused by API Gateway.
        ("\"GET /a~b\" = \"a\"", "character `~` is not allowed"),
        ("\"GET /x@y\" = \"a\"", "character `@` is not allowed"),
        ("\"GET /it's\" = \"a\"", "character `'` is not allowed"),
        ("\"GET /a,b\" = \"a\"", "character `,` is not allowed"),
        ("\"GET /a\" = \"not-rust\"", "not a Rust function name"),
    ];
    for (route, expected) in cases {
        let found = problems(&app(&format!("[routes]\n{route}\n")));
        assert!(
            found.iter().any(|f| f.message.contains(expected)),
            "{route}: {found:?}"
        );
        assert_eq!(found[0].line, 4, "{route}");
    }
}

#[test]
fn the_path_characters_api_gateway_accepts_are_accepted() {
    let text =
        app("[routes]\n\"GET /v1/events:batch\" = \"a\"\n\"GET /files/report_2026.v-2\" = \"b\"\n");
    let config = parse_text(&text);
    assert!(config.is_ok(), "{:?}", config.err().map(|e| e.located()));
}

#[test]
fn a_stage_may_be_pinned_to_an_account_and_a_profile() {
    let config = parse_text(&app(
        "account = \"000000000001\"\n[stages.prod]\naccount = \"123456789012\"\nprofile = \"prod-admin\"\n",
    ))
    .unwrap();
    let prod = resolve(&config, "prod").unwrap();
    assert_eq!(prod.account.as_deref(), Some("123456789012"));
    assert_eq!(prod.profile.as_deref(), Some("prod-admin"));
    let dev = resolve(&config, "dev").unwrap();
    assert_eq!(dev.account.as_deref(), Some("000000000001"), "from [app]");
    assert_eq!(dev.profile, None);
    let found = problems(&app(
        "[stages.prod]\naccount = \"12345\"\nprofile = \"a b\"\n",
    ));
    assert!(
        found
            .iter()
            .any(|f| f.message.contains("`12345` is not an AWS account id")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.message.contains("not an AWS profile name")),
        "{found:?}"
    );
}

#[test]
fn duplicate_routes_after_normalising_are_refused() {
    let found = problems(&app("[routes]\n\"POST /a\" = \"a\"\n\"post /a\" = \"b\"\n"));
    assert!(found[0].message.contains("declared twice"), "{found:?}");
}

#[test]
fn conflicting_parameter_names_are_refused() {
    let found = problems(&app(
        "[routes]\n\"GET /orders/{id}\" = \"a\"\n\"POST /orders/{order_id}\" = \"b\"\n",
    ));
    assert!(
        found[0].message.contains("uses `{order_id}` where"),
        "{found:?}"
    );
    let found = problems(&app(
        "[routes]\n\"GET /files/{path+}\" = \"a\"\n\"GET /files/{id}\" = \"b\"\n",
    ));
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn same_parameter_name_under_one_parent_is_fine() {
    let config = parse_text(&app(
        "[routes]\n\"GET /orders/{id}\" = \"a\"\n\"POST /orders/{id}\" = \"b\"\n\"GET /orders/{id}/items\" = \"c\"\n\"ANY /orders\" = \"d\"\n",
    ))
    .unwrap();
    assert_eq!(config.routes.len(), 4);
}

#[test]
fn reserved_and_invalid_env_names_are_refused() {
    let found = problems(&app(
        "[env]\nAWS_REGION = \"x\"\n_HANDLER = \"y\"\n\"1A\" = \"z\"\n",
    ));
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found
            .iter()
            .any(|f| f.message.contains("`AWS_REGION` is reserved"))
    );
    // Lambda's documented list, not every AWS_* name: these may be set.
    let allowed = app(
        "[env]\nAWS_LAMBDA_EXEC_WRAPPER = \"/opt/wrapper\"\nTZ = \"Europe/Paris\"\nLANG = \"fr_FR.UTF-8\"\nAWS_XRAY_CONTEXT_MISSING = \"LOG_ERROR\"\n",
    );
    let config = parse_text(&allowed);
    assert!(config.is_ok(), "{:?}", config.err().map(|e| e.located()));
    for reserved in [
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
    ] {
        let found = problems(&app(&format!("[env]\n{reserved} = \"x\"\n")));
        assert!(
            found[0].message.contains("is reserved"),
            "{reserved}: {found:?}"
        );
    }
}

#[test]
fn env_larger_than_4kb_is_refused_also_per_stage() {
    let big = "x".repeat(3000);
    let found = problems(&app(&format!(
        "[env]\nA = \"{big}\"\n[stages.prod]\nenv = {{ B = \"{big}\" }}\n"
    )));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].message.contains("Lambda allows 4096"));
    assert_eq!(found[0].key, "stages.prod.env");
}

/// The user's variables fit, but not with the secrets' names slx adds
/// (`SLX_SECRETS`): refused at validate, naming slx's variable, rather
/// than by CreateFunction half-way through a deploy.
#[test]
fn env_counts_the_variables_slx_adds_for_secrets() {
    let big = "x".repeat(3_900);
    let secrets: String = (0..6)
        .map(|i| format!("SECRET_{i} = \"ssm:/shop/prod/a-rather-long-parameter-name-{i}\"\n"))
        .collect();
    let fits = app(&format!("[env]\nA = \"{big}\"\n"));
    assert!(parse_text(&fits).is_ok());
    let text = format!("{fits}[secrets]\n{secrets}");
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].message.contains("with slx's SLX_SECRETS ("),
        "{}",
        found[0].message
    );
    assert_eq!(found[0].key, "env");
    // `resolve` refuses the same stage, for a config validated otherwise.
    let mut config = parse_text(&fits).unwrap();
    let secret = crate::config::Secret {
        name: "TOKEN".into(),
        source: crate::config::SecretSource::Ssm("/shop/".to_string() + &"p".repeat(300)),
        kms_key: None,
    };
    config.secrets.insert("TOKEN".into(), secret);
    let refused = resolve(&config, "dev").unwrap_err().to_string();
    assert!(refused.contains("SLX_SECRETS"), "{refused}");
}

/// A queue ARN of another region than the stage's is refused at its
/// handler's table, when slx.toml names the region (else before the
/// deploy's first write).
#[test]
fn a_queue_of_another_region_is_refused_where_the_handler_is() {
    let text = app(concat!(
        "region = \"eu-west-1\"\n",
        "[events.on_job]\n",
        "queue = \"arn:aws:sqs:us-east-1:123456789012:jobs\"\n",
        "[events.nightly]\n",
        "schedule = \"rate(1 hour)\"\n",
        "on_failure = \"arn:aws:sqs:eu-west-1:123456789012:dead\"\n",
    ));
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "events.on_job.queue");
    assert_eq!(found[0].line, 4);
    assert!(
        found[0].message.contains("is in us-east-1"),
        "{}",
        found[0].message
    );
    // A stage that moves to another region is held to it.
    let moved = app(concat!(
        "region = \"eu-west-1\"\n",
        "[events.on_job]\n",
        "queue = \"arn:aws:sqs:eu-west-1:123456789012:jobs\"\n",
        "[stages.us]\n",
        "region = \"us-east-1\"\n",
    ));
    let found = problems(&moved);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .message
            .contains("the stage's functions in us-east-1")
    );
    // Without a region in slx.toml, validate cannot tell.
    assert!(
        parse_text(&app(
            "[events.on_job]\nqueue = \"arn:aws:sqs:us-east-1:123456789012:jobs\"\n"
        ))
        .is_ok()
    );
}

#[test]
fn retention_must_be_a_cloudwatch_value() {
    let found = problems(&app("log_retention_days = 10\n"));
    assert!(
        found[0]
            .help
            .as_deref()
            .unwrap()
            .contains("nearest accepted value is 7")
    );
}

#[test]
fn timeout_above_api_gateway_limit_warns() {
    let config = parse_text(&app("timeout = 60\n[routes]\n\"GET /\" = \"a\"\n")).unwrap();
    assert_eq!(config.warnings.len(), 1);
    assert!(config.warnings[0].message.contains("29s"));
}

#[test]
fn wildcard_permissions_warn_where_they_are_written() {
    let config = parse_text(&app(
        "[[permissions]]\nactions = [\"dynamodb:GetItem\", \"s3:*\", \"*\"]\nresources = [\"*\"]\n",
    ))
    .unwrap();
    let warned: Vec<(&str, &str)> = config
        .warnings
        .iter()
        .filter(|w| w.key.starts_with("permissions"))
        .map(|w| (w.key.as_str(), w.message.as_str()))
        .collect();
    assert_eq!(
        warned,
        [
            (
                "permissions.actions",
                "`s3:*` lets the function call every action of s3"
            ),
            (
                "permissions.actions",
                "`*` lets the function call every AWS action"
            ),
            (
                "permissions.resources",
                "`*` grants the actions on every resource of the account"
            ),
        ]
    );
    let scoped = parse_text(&app(
        "[[permissions]]\nactions = [\"dynamodb:GetItem\"]\nresources = [\"arn:aws:dynamodb:eu-west-1:1:table/t\"]\n",
    ))
    .unwrap();
    assert!(
        !scoped
            .warnings
            .iter()
            .any(|w| w.key.starts_with("permissions"))
    );
}

#[test]
fn stage_overlay_keys_are_checked_with_their_table() {
    let found = problems(&app("[stages.prod]\nmemory = 99999\n"));
    assert_eq!(found[0].key, "stages.prod.memory");
}

#[test]
fn permissions_need_actions_and_resources() {
    let found = problems(&app("[[permissions]]\nactions = []\nresources = [\"*\"]\n"));
    assert!(found[0].message.contains("`actions` is empty"));
    let found = problems(&app(
        "[[permissions]]\nactions = [\"GetItem\"]\nresources = [\"*\"]\n",
    ));
    assert!(found[0].message.contains("not an IAM action"));
}

#[test]
fn root_and_greedy_paths_parse() {
    let path = parse_path("/").unwrap();
    assert!(path.segments.is_empty());
    assert_eq!(path.to_string(), "/");
    let path = parse_path("/files/{key+}").unwrap();
    assert_eq!(path.to_string(), "/files/{key+}");
    assert_eq!(path.param_names().collect::<Vec<_>>(), ["key"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary text never panics the loader and every error has a
    /// location inside the file.
    #[test]
    fn any_text_yields_a_config_or_located_errors(text in "\\PC{0,200}") {
        check_never_panics(&text);
    }

    /// Mutations of a valid file exercise deeper paths than random text.
    #[test]
    fn mutated_configs_yield_a_config_or_located_errors(
        cut in 0usize..GOOD.len(),
        insert in "[\\[\\]{}=\"a-z0-9 ./\\n+-]{0,12}",
    ) {
        let mut text = GOOD.to_string();
        let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(cut, &insert);
        check_never_panics(&text);
    }
}

fn check_never_panics(text: &str) {
    match parse_text(text) {
        Ok(config) => {
            let _ = resolve(&config, "dev");
        }
        Err(report) => {
            assert!(!report.issues.is_empty());
            for issue in report.located() {
                assert!(issue.line >= 1 && issue.line <= text.lines().count().max(1) + 1);
                assert!(!issue.message.is_empty());
            }
        }
    }
}

const WITH_CHECKS: &str = r#"
[app]
name = "shop"

[routes]
"GET /health" = "health"
"POST /orders/{id}" = "create_order"

[[checks]]
request = "GET /health"

[[checks]]
request = "post /orders/42?dry_run=1"
headers = { "X-Api-Key" = "k" }
body = '{"item":"tea"}'
status = 201
contains = "tea"
json = { "/id" = "42", "/quantity" = 1 }

[[stages.prod.checks]]
request = "GET /health?deep=1"
"#;

#[test]
fn checks_are_read_with_defaults_and_stages_add_theirs() {
    let config = parse_text(WITH_CHECKS).unwrap();
    assert_eq!(config.checks.len(), 2);
    assert_eq!(config.checks[0].status, 200, "status defaults to 200");
    let order = &config.checks[1];
    assert_eq!(order.request, "POST /orders/42?dry_run=1");
    assert_eq!(order.headers, [("x-api-key".to_string(), "k".to_string())]);
    assert_eq!(order.body.as_deref(), Some(r#"{"item":"tea"}"#));
    assert_eq!(order.status, 201);
    assert_eq!(order.contains.as_deref(), Some("tea"));
    assert_eq!(
        order.json,
        [
            ("/id".to_string(), "\"42\"".to_string()),
            ("/quantity".to_string(), "1".to_string())
        ]
    );
    assert_eq!(resolve(&config, "dev").unwrap().checks.len(), 2);
    let prod = resolve(&config, "prod").unwrap();
    assert_eq!(prod.checks.len(), 3);
    assert_eq!(prod.checks[2].request, "GET /health?deep=1");
}

#[test]
fn bad_checks_are_located_with_the_fix() {
    let text = WITH_CHECKS
        .replace(
            "request = \"GET /health\"\n",
            "request = \"GET /healthz\"\n",
        )
        .replace("status = 201", "status = 700")
        .replace("\"/quantity\" = 1", "\"quantity\" = 1")
        .replace("contains = \"tea\"", "contians = \"tea\"");
    let found = problems(&text);
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert!(
        messages.contains(&"no route in [routes] serves `GET /healthz`"),
        "{messages:?}"
    );
    let no_route = found
        .iter()
        .find(|p| p.message.contains("/healthz"))
        .unwrap();
    assert_eq!(
        (no_route.line, no_route.key.as_str()),
        (10, "checks.request")
    );
    assert!(no_route.help.as_deref().unwrap().contains("GET /health"));
    assert!(
        messages.contains(&"700 is not an HTTP status"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"`quantity` is not a JSON pointer"),
        "{messages:?}"
    );
    let typo = found
        .iter()
        .find(|p| p.message.contains("contians"))
        .unwrap();
    assert_eq!(typo.message, "unknown key `contians` in [[checks]]");
    assert_eq!(typo.help.as_deref(), Some("did you mean `contains`?"));

    let found = problems(&WITH_CHECKS.replace("request = \"GET /health?deep=1\"", "status = 200"));
    assert_eq!(found[0].message, "a check without `request`");
    assert_eq!(found[0].key, "stages.prod.checks");
    let found = problems(&WITH_CHECKS.replace("\"GET /health\"\n\n[[", "\"FETCH /health\"\n\n[["));
    assert_eq!(found[0].message, "`FETCH` is not an HTTP method");
    let found = problems(&WITH_CHECKS.replace(
        "[[stages.prod.checks]]",
        "[app.checks]\n[[stages.prod.checks]]",
    ));
    assert!(
        found
            .iter()
            .any(|p| p.message == "unknown key `checks` in [app]"),
        "{found:?}"
    );
}

#[test]
fn router_mode_serves_every_path_and_keeps_declared_routes_first() {
    let config = parse_text(&app(
        "router = \"router\"\n\n[routes]\n\"GET /legacy\" = \"legacy\"\n\"GET /orders/{id}\" = {}\n\"POST /greet\" = { handler = \"greet\" }\n",
    ))
    .unwrap();
    assert_eq!(config.router.as_deref(), Some("router"));
    assert!(config.warnings.is_empty(), "no `no [routes]` warning");
    let served: Vec<(String, Option<String>)> = resolve(&config, "dev")
        .unwrap()
        .routes
        .iter()
        .map(|r| (r.key(), r.handler.clone()))
        .collect();
    assert_eq!(
        served,
        [
            ("GET /legacy".to_string(), Some("legacy".to_string())),
            ("GET /orders/{id}".into(), None),
            ("POST /greet".into(), Some("greet".into())),
            ("ANY /".into(), None),
            ("ANY /{proxy+}".into(), None),
        ]
    );
    // Without a router, a catch-all is never added.
    let plain = parse_text(GOOD).unwrap();
    assert_eq!(resolve(&plain, "dev").unwrap().routes.len(), 3);
    // A check may ask any path of a router.
    let checked = format!(
        "{}\n[[checks]]\nrequest = \"GET /anything/at/all\"\n",
        app("router = \"router\"")
    );
    assert!(parse_text(&checked).is_ok());
}

#[test]
fn router_mistakes_are_located_with_a_fix() {
    // A route with no handler needs a router.
    let found = problems(&app("\n[routes]\n\"GET /x\" = {}\n"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].line, found[0].message.as_str()),
        (5, "route `GET /x` names no handler")
    );
    assert!(found[0].help.as_deref().unwrap().contains("[app] router"));
    // The router's name must be a function name.
    let found = problems(&app("router = \"my router\"\n"));
    assert_eq!(found[0].key, "app.router");
    assert_eq!(found[0].line, 3);
    // A parameter first in the path clashes with the catch-all's.
    let found = problems(&app(
        "router = \"router\"\n\n[routes]\n\"GET /{id}\" = \"one\"\n",
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].line, 6);
    assert!(
        found[0].message.contains("`{proxy+}`"),
        "{}",
        found[0].message
    );
    // Only [app] names the router, and route tables know only `handler`.
    let found = problems(&app("\n[stages.prod]\nrouter = \"router\"\n"));
    assert_eq!(found[0].message, "unknown key `router` in [stages.prod]");
    assert_eq!(found[0].help.as_deref(), Some("`router` belongs in [app]"));
    let found = problems(&app("\n[routes]\n\"GET /x\" = { handlr = \"x\" }\n"));
    assert_eq!(found[0].message, "unknown key `handlr` in route \"GET /x\"");
    assert_eq!(found[0].help.as_deref(), Some("did you mean `handler`?"));
}

const EVENTS: &str = r#"
[app]
name = "shop"
timeout = 10

[routes]
"GET /health" = "health"

[events.on_upload]
bucket = "shop-uploads"
prefix = "incoming/"

[events.nightly]
schedule = "cron(0 3 * * ? *)"
timezone = "Europe/Paris"
input = { report = "daily", days = 7 }

[events.on_job]
queue = "shop-jobs"
timeout = 120
memory = 512

[events.resize]
handler = "on_upload"
bucket = "shop-uploads"
events = ["created", "removed"]
prefix = "images/"
suffix = ".png"
on_failure = "shop-failures"

[stages.prod]
memory = 1024

[stages.prod.events.on_upload]
bucket = "shop-prod-uploads"

[stages.prod.events.on_job]
batch_size = 100
batch_window = 5
"#;

#[test]
fn event_handlers_are_read_with_their_defaults_and_stage_changes() {
    let config = parse_text(EVENTS).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let dev = resolve(&config, "dev").unwrap();
    let by_name = |project: &Project, name: &str| {
        project
            .events
            .iter()
            .find(|e| e.handler.name == name)
            .unwrap()
            .clone()
    };
    let upload = by_name(&dev, "on_upload");
    assert_eq!(upload.handler.handler, "on_upload");
    assert_eq!(
        upload.handler.source,
        EventSource::S3(S3Source {
            bucket: "shop-uploads".into(),
            events: vec![S3EventKind::Created],
            prefix: Some("incoming/".into()),
            suffix: None,
        })
    );
    assert_eq!((upload.memory_mb, upload.timeout_s), (128, 10));
    let EventSource::Schedule(nightly) = by_name(&dev, "nightly").handler.source else {
        panic!("nightly is a schedule");
    };
    assert_eq!(nightly.timezone.as_deref(), Some("Europe/Paris"));
    assert_eq!(
        nightly.input,
        Some(serde_json::json!({"report": "daily", "days": 7}))
    );
    let job = by_name(&dev, "on_job");
    assert_eq!((job.memory_mb, job.timeout_s), (512, 120));
    assert_eq!(
        job.handler.source,
        EventSource::Sqs(SqsSource {
            queue: "shop-jobs".into(),
            batch_size: 10,
            batch_window: 0,
            report_failures: true,
        })
    );
    let resize = by_name(&dev, "resize");
    assert_eq!(resize.handler.handler, "on_upload");
    assert_eq!(resize.handler.on_failure.as_deref(), Some("shop-failures"));

    // prod: another bucket, a bigger batch, the stage's memory for the
    // handlers that do not set their own.
    let prod = resolve(&config, "prod").unwrap();
    let EventSource::S3(upload) = by_name(&prod, "on_upload").handler.source else {
        panic!("on_upload is S3");
    };
    assert_eq!(upload.bucket, "shop-prod-uploads");
    assert_eq!(upload.prefix.as_deref(), Some("incoming/"));
    assert_eq!(by_name(&prod, "on_upload").memory_mb, 1024);
    let EventSource::Sqs(job) = by_name(&prod, "on_job").handler.source else {
        panic!("on_job is SQS");
    };
    assert_eq!((job.batch_size, job.batch_window), (100, 5));
    assert_eq!(by_name(&prod, "on_job").memory_mb, 512);
}

#[test]
fn an_events_only_app_needs_no_routes() {
    let config = parse_text(&app("[events.nightly]\nschedule = \"rate(1 hour)\"\n")).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

/// Fails unless `found` has a problem at `line` whose message and help
/// contain these.
fn assert_problem(found: &[(usize, String, String)], line: usize, message: &str, help: &str) {
    assert!(
        found
            .iter()
            .any(|(l, m, h)| *l == line && m.contains(message) && h.contains(help)),
        "no `{message}` / `{help}` at line {line}: {found:#?}"
    );
}

/// The messages and helps of `text`'s problems, by line.
fn event_problems(text: &str) -> Vec<(usize, String, String)> {
    problems(text)
        .into_iter()
        .map(|i| (i.line, i.message, i.help.unwrap_or_default()))
        .collect()
}

#[test]
fn event_tables_get_located_errors_with_fixes() {
    let found = event_problems(&app(
        "[events.nightly]\nschedule = \"cron(0 3 * * *)\"\ntimezone = \"Europe/Pariss\"\n\
         [events.on_upload]\nbucket = \"Shop_Uploads\"\nevents = [\"create\"]\n\
         [events.on_job]\nqueue = \"shop-jobs\"\nbatch_size = 100\n\
         [events.idle]\nmemory = 256\n\
         [events.both]\nschedule = \"rate(1 day)\"\nqueue = \"q\"\n\
         [events.fifo]\nqueue = \"jobs.fifo\"\nbatch_size = 20\nbatch_window = 3\n\
         [events.wrong]\nschedule = \"rate(5 minutes)\"\nprefix = \"a/\"\n\
         [events.dlq]\nqueue = \"q\"\non_failure = \"failures\"\n",
    ));
    let expect = |line, message, help| assert_problem(&found, line, message, help);
    expect(4, "has 5 fields", "cron(0 3 * * ? *)");
    expect(5, "not an IANA time zone", "did you mean `Europe/Paris`?");
    expect(7, "not a bucket name", "existing bucket");
    expect(8, "not an object event kind", "did you mean `created`?");
    expect(11, "needs a batching window", "batch_window");
    expect(12, "`idle` has no trigger", "schedule = ");
    expect(16, "two triggers", "another [events.NAME]");
    expect(19, "at most 10 messages", "batch_size = 10");
    expect(20, "no batching window for FIFO", "remove `batch_window`");
    expect(23, "`prefix` does not apply to `wrong`", "S3 object events");
    expect(26, "`on_failure` does not apply to `dlq`", "redrive policy");
    assert_eq!(found.len(), 11, "{found:#?}");
}

#[test]
fn a_stage_changes_only_what_fits_its_handlers() {
    let found = event_problems(&app("[events.nightly]\nschedule = \"rate(1 hour)\"\n\
         [stages.prod.events.nightly]\nbucket = \"shop-uploads\"\n\
         [stages.prod.events.nigthly]\nschedule = \"rate(2 hours)\"\n\
         [stages.dev.events.nightly]\nhandler = \"other\"\n"));
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().any(|(line, m, h)| *line == 6
        && m.contains("`bucket` does not apply to `nightly`")
        && h.contains("schedule, timezone, input")));
    assert!(found.iter().any(|(_, m, h)| {
        m.contains("changes `nigthly`, which [events] does not declare")
            && h == "did you mean `nightly`?"
    }));
    assert!(found.iter().any(|(_, m, h)| m
        == "unknown key `handler` in [stages.dev.events.nightly]"
        && h.contains("belongs in an [events.NAME] table")));
}

#[test]
fn a_stage_override_is_checked_as_a_whole() {
    // The app's queue takes 10 at once; prod's 50 needs a window.
    let found = event_problems(&app(
        "[events.on_job]\nqueue = \"jobs\"\n[stages.prod.events.on_job]\nbatch_size = 50\n",
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].1.contains("needs a batching window"), "{found:#?}");
}

#[test]
fn overlapping_s3_rules_are_refused_as_s3_would() {
    let found = event_problems(&app("[events.a]\nbucket = \"uploads\"\nprefix = \"in/\"\n\
         [events.b]\nbucket = \"uploads\"\nprefix = \"in/images/\"\n\
         [events.c]\nbucket = \"uploads\"\nprefix = \"out/\"\n\
         [events.d]\nbucket = \"uploads\"\nevents = [\"removed\"]\n"));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .1
            .contains("`a` and `b` both take created events of bucket `uploads`"),
        "{found:#?}"
    );
    // Different suffixes do not overlap.
    parse_text(&app(
        "[events.a]\nbucket = \"uploads\"\nsuffix = \".png\"\n[events.b]\nbucket = \"uploads\"\nsuffix = \".jpg\"\n",
    ))
    .unwrap();
}

#[test]
fn event_function_names_fit_lambdas_limit() {
    let long = "a_handler_with_a_very_long_name_that_goes_on_and_on";
    let found = event_problems(&format!(
        "[app]\nname = \"shop\"\n[events.{long}]\nschedule = \"rate(1 hour)\"\n[stages.production]\n"
    ));
    assert!(
        found[0]
            .1
            .contains("cannot be deployed to stage `production`"),
        "{found:#?}"
    );
    let config = parse_text(&format!(
        "[app]\nname = \"shop\"\n[events.{long}]\nschedule = \"rate(1 hour)\"\n"
    ))
    .unwrap();
    assert!(matches!(
        resolve(&config, "production"),
        Err(StageError::TooLong { .. })
    ));
    assert!(resolve(&config, "dev").is_ok());
}

#[test]
fn production_settings_are_read_per_stage() {
    let config = parse_text(&app(
        "region = \"eu-west-1\"\nephemeral_storage = 2048\ntracing = true\n\
         layers = [\"arn:aws:lambda:eu-west-1:123456789012:layer:otel:3\"]\n\
         vpc = { subnets = [\"subnet-0123abcd\", \"subnet-0123456789abcdef0\"], security_groups = [\"sg-0123abcd\"] }\n\
         [stages.prod]\nephemeral_storage = 10240\ntracing = false\n",
    ))
    .unwrap();
    let dev = resolve(&config, "dev").unwrap();
    assert_eq!(dev.ephemeral_storage, 2048);
    assert!(dev.tracing);
    assert_eq!(
        dev.layers,
        ["arn:aws:lambda:eu-west-1:123456789012:layer:otel:3"]
    );
    assert_eq!(
        dev.vpc,
        Some(Vpc {
            subnets: vec!["subnet-0123abcd".into(), "subnet-0123456789abcdef0".into()],
            security_groups: vec!["sg-0123abcd".into()],
        })
    );
    let prod = resolve(&config, "prod").unwrap();
    assert_eq!(prod.ephemeral_storage, 10240);
    assert!(!prod.tracing);
    assert_eq!(prod.vpc, dev.vpc);
    // A VPC function needs a way out to AWS's APIs: said, not refused.
    let vpc_warnings = config
        .warnings
        .iter()
        .filter(|w| w.message.contains("only through the VPC"))
        .count();
    assert_eq!(vpc_warnings, 1, "{:?}", config.warnings);
    let plain = resolve(&parse_text(&app("")).unwrap(), "dev").unwrap();
    assert_eq!(
        (
            plain.ephemeral_storage,
            plain.tracing,
            plain.vpc.clone(),
            plain.layers.len()
        ),
        (512, false, None, 0)
    );
}

#[test]
fn bad_production_settings_get_located_errors() {
    let six: Vec<String> = (1..=6)
        .map(|n| format!("\"arn:aws:lambda:eu-west-1:123456789012:layer:l{n}:1\""))
        .collect();
    let found = event_problems(&app(&format!(
        "region = \"eu-west-1\"\nephemeral_storage = 100\n\
         layers = [{}]\n\
         [stages.a]\nlayers = [\"otel\", \"arn:aws:lambda:us-east-1:123456789012:layer:x:1\"]\nregion = \"eu-west-1\"\n\
         [stages.b]\nvpc = {{ subnets = [\"subnet-xyz\"], security_groups = [] }}\n\
         [stages.c.vpc]\nsubnet = [\"subnet-0123abcd\"]\nsecurity_groups = [\"sg-0123abcd\"]\n",
        six.join(", ")
    )));
    let has = |line, message, help| assert_problem(&found, line, message, help);
    has(
        4,
        "`ephemeral_storage` = 100 is out of range",
        "512 to 10240 MB",
    );
    has(5, "6 layers; Lambda attaches at most 5", "merge layers");
    has(
        7,
        "`otel` is not a layer version ARN",
        "arn:aws:lambda:REGION",
    );
    has(
        7,
        "is in us-east-1, the function in eu-west-1",
        "publish the layer there",
    );
    has(
        10,
        "`subnet-xyz` is not a subnet-... id",
        "8 or 17 hex digits",
    );
    has(10, "`vpc` needs at least one of `security_groups`", "sg-");
    has(
        12,
        "unknown key `subnet` in [stages.c.vpc]",
        "did you mean `subnets`?",
    );
}

#[test]
fn secrets_are_references_per_stage_and_never_in_env() {
    let config = parse_text(&app(
        "[secrets]\nDB_PASSWORD = \"ssm:/shop/db\"\nAPI_TOKEN = { from = \"secretsmanager:shop/token\", kms_key = \"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\" }\n\
         [stages.prod.secrets]\nDB_PASSWORD = \"ssm:/shop/prod/db\"\n",
    ))
    .unwrap();
    let dev = resolve(&config, "dev").unwrap();
    let refs: Vec<(String, String)> = dev
        .secrets
        .iter()
        .map(|s| (s.name.clone(), s.source.reference()))
        .collect();
    assert_eq!(
        refs,
        [
            (
                "API_TOKEN".to_string(),
                "secretsmanager:shop/token".to_string()
            ),
            ("DB_PASSWORD".to_string(), "ssm:/shop/db".to_string()),
        ]
    );
    assert!(dev.secrets[0].kms_key.is_some());
    assert!(dev.env.is_empty(), "secrets are not environment values");
    let prod = resolve(&config, "prod").unwrap();
    assert_eq!(
        prod.secrets[1].source,
        SecretSource::Ssm("/shop/prod/db".into())
    );
    assert!(prod.fetches_secrets && dev.fetches_secrets);
    // A stage without secrets of its own still gets a handler that can
    // fetch them: one zip serves (and is promoted between) every stage.
    let only_prod = parse_text(&app("[stages.prod.secrets]\nDB = \"ssm:/db\"\n")).unwrap();
    let dev = resolve(&only_prod, "dev").unwrap();
    assert!(dev.secrets.is_empty() && dev.fetches_secrets);
}

#[test]
fn bad_secrets_get_located_errors() {
    let found = event_problems(&app("[env]\nDB = \"plain\"\n\
         [secrets]\nDB = \"ssm:/shop/db\"\nlower-case = \"ssm:/x\"\nTOKEN = \"vault:/x\"\nPATH_LESS = \"ssm:shop/db\"\nKEYED = { from = \"ssm:/k\", kms_key = \"my-key\" }\nEMPTY = { kms_key = \"arn:aws:kms:eu-west-1:123456789012:key/x\" }\n\
         WILD = \"secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:*\"\n\
         [stages.dev.secrets]\nBAD = { form = \"ssm:/x\" }\n"));
    let has = |line, message, help| assert_problem(&found, line, message, help);
    has(
        6,
        "`DB` is set in both [env] and [secrets]",
        "keep it in one",
    );
    has(
        7,
        "secret `lower-case` must start with a letter",
        "e.g. `DB_PASSWORD`",
    );
    has(
        8,
        "`vault:/x` names no secret store",
        "`ssm:/path/to/parameter`",
    );
    has(9, "`shop/db` is not an SSM parameter name", "`ssm:/path");
    has(10, "`my-key` is not a KMS key ARN", "arn:aws:kms:");
    has(11, "secret `EMPTY` says not where it is", "from = ");
    has(
        12,
        "`arn:aws:secretsmanager:eu-west-1:123456789012:secret:*` is not a Secrets Manager secret name",
        "`ssm:/path",
    );
    has(
        14,
        "unknown key `form` in [stages.dev.secrets.BAD]",
        "did you mean `from`?",
    );
}

#[test]
fn cors_gets_located_errors_with_fixes() {
    let found = event_problems(&app(
        "[cors]\norigins = [\"https://app.example.com/\", \"*\"]\ncredentials = true\nmax_age = 100000\nheaders = [\"Content Type\"]\norigin = 1\n\
         [stages.dev.cors]\norigins = []\n\
         [routes]\n\"GET /health\" = { handler = \"health\", cors = false, api_keys = true }\n",
    ));
    let expect = |line, message, help| assert_problem(&found, line, message, help);
    expect(
        4,
        "is not an origin: an origin has no path",
        "https://app.example.com",
    );
    expect(4, "`*` allows every origin", "keep `*` alone");
    expect(
        5,
        "browsers refuse credentialed answers to any origin",
        "list the origins",
    );
    expect(6, "`max_age` = 100000 is out of range", "0 to 86400");
    expect(7, "not an HTTP header name", "X-Request-Id");
    expect(8, "origin", "did you mean `origins`?");
    expect(10, "`origins` is empty", "at least one origin");
    expect(12, "api_keys", "");
}

#[test]
fn a_stages_cors_replaces_the_apps_and_routes_may_opt_out() {
    let config = parse_text(&app(
        "[cors]\norigins = [\"https://app.example.com\"]\n\
         [stages.dev.cors]\norigins = [\"http://localhost:3000\"]\nmax_age = 5\n\
         [routes]\n\"GET /health\" = \"health\"\n\"POST /hook\" = { handler = \"hook\", cors = false }\n",
    ))
    .unwrap();
    let dev = resolve(&config, "dev").unwrap();
    let cors = dev.cors.as_ref().unwrap();
    assert_eq!(cors.origins, ["http://localhost:3000"]);
    assert_eq!(cors.max_age, 5);
    assert_eq!(cors.headers, ["Content-Type", "Authorization", "X-Api-Key"]);
    let prod = resolve(&config, "prod").unwrap();
    assert_eq!(
        prod.cors.as_ref().unwrap().origins,
        ["https://app.example.com"]
    );
    assert!(dev.serves_cors && prod.serves_cors);
    let hook = dev
        .routes
        .iter()
        .find(|r| r.handler.as_deref() == Some("hook"))
        .unwrap();
    assert!(!hook.cors);
}

#[test]
fn api_gateway_features_get_located_errors_with_fixes() {
    let found = event_problems(
        "[app]\nname = \"shop\"\nregion = \"eu-west-1\"\nbinary_media_types = [\"image\", \"image/*\", \"image/*\"]\n\
         [usage_plan]\nrate = 0\nburst = -1\nquota = 100\n\
         [stages.prod.usage_plan]\nquota = 10\nper = \"year\"\nlimit = 3\n\
         [stages.prod.domain]\nname = \"https://api.example.com\"\ncertificate = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\"\nbase_path = \"v1?\"\nhosted_zone = \"example.com\"\n\
         [stages.dev.domain]\nname = \"api.example.com\"\n\
         [routes]\n\"GET /health\" = { handler = \"health\", api_key = true }\n",
    );
    let expect = |line, message, help| assert_problem(&found, line, message, help);
    expect(4, "`image` is not a media type: no `/`", "image/png");
    expect(4, "`image/*` is listed twice", "keep one");
    expect(6, "`rate` = 0 is out of range", "above 0");
    expect(7, "`burst` = -1 is out of range", "0 to");
    expect(8, "`quota` without `per`", "per = \"day\"");
    expect(
        11,
        "unknown quota period `year`",
        "`day`, `week` or `month`",
    );
    expect(12, "limit", "");
    expect(
        14,
        "is not a domain name: a host name has no scheme",
        "api.example.com",
    );
    expect(
        15,
        "the certificate is in us-east-1, the stage deploys to eu-west-1",
        "in eu-west-1",
    );
    expect(16, "`v1?` cannot be a base path", "e.g. `v1`");
    expect(17, "not a Route 53 hosted zone id", "Z0123456789ABCDEFGHIJ");
    expect(
        18,
        "[stages.dev.domain] needs `name` and `certificate`",
        "certificate =",
    );
    let found = event_problems(&app(
        "[usage_plan]\nrate = 5\n[stages.prod.usage_plan]\nburst = 5\n",
    ));
    assert_problem(&found, 4, "`rate` without `burst`", "burst = 20");
    assert_problem(&found, 6, "`burst` without `rate`", "rate = 10");
    // A type error stops parsing before validation: alone.
    let found = event_problems(&app(
        "[routes]\n\"GET /health\" = { handler = \"health\", api_key = 1 }\n",
    ));
    assert_problem(
        &found,
        4,
        "neither a handler name nor a route table",
        "api_key = true",
    );
}

#[test]
fn api_keys_bring_a_usage_plan_and_domains_belong_to_a_stage() {
    let config = parse_text(&app(
        "binary_media_types = [\"image/png\"]\n\
         [usage_plan]\nrate = 5\nburst = 10\nquota = 1000\nper = \"month\"\n\
         [stages.prod.usage_plan]\nrate = 50\nburst = 100\n\
         [stages.prod.domain]\nname = \"api.example.com\"\ncertificate = \"arn:aws:acm:eu-west-1:123456789012:certificate/abc\"\nbase_path = \"/v1/\"\n\
         [routes]\n\"GET /health\" = \"health\"\n\"GET /reports\" = { handler = \"reports\", api_key = true }\n",
    ))
    .unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let dev = resolve(&config, "dev").unwrap();
    assert_eq!(dev.binary_media_types, ["image/png"]);
    let plan = dev.usage_plan.unwrap();
    assert_eq!((plan.rate, plan.burst), (Some(5.0), Some(10)));
    assert_eq!(
        plan.quota,
        Some(crate::config::model::Quota {
            limit: 1000,
            period: crate::config::model::QuotaPeriod::Month
        })
    );
    assert!(dev.domain.is_none());
    let prod = resolve(&config, "prod").unwrap();
    // A stage's plan replaces the app's whole.
    assert_eq!(
        prod.usage_plan,
        Some(crate::config::model::UsagePlan {
            rate: Some(50.0),
            burst: Some(100),
            quota: None,
        })
    );
    let domain = prod.domain.clone().unwrap();
    assert_eq!(
        (domain.name.as_str(), domain.base_path.as_deref()),
        ("api.example.com", Some("v1"))
    );
    let reports = prod
        .routes
        .iter()
        .find(|r| r.path.to_string() == "/reports")
        .unwrap();
    assert!(reports.api_key);

    // Without a route that needs a key, a plan is pointless: a warning,
    // and no plan.
    let config = parse_text(&app(
        "[usage_plan]\nquota = 5\nper = \"day\"\n[routes]\n\"GET /health\" = \"health\"\n",
    ))
    .unwrap();
    assert!(
        config.warnings[0]
            .message
            .contains("no route has `api_key = true`")
    );
    assert!(resolve(&config, "dev").unwrap().usage_plan.is_none());

    // In router mode every type is binary already.
    let found = event_problems(&app(
        "router = \"router\"\nbinary_media_types = [\"image/png\"]\n",
    ));
    assert_problem(
        &found,
        4,
        "in router mode every content type is binary already",
        "remove",
    );
}

#[test]
fn authorizers_and_route_auth_get_located_errors_with_fixes() {
    let found = event_problems(&app(
        "[authorizers.users]\ncognito = [\"eu-west-1_Abc\"]\ntype = \"token\"\n\
         [authorizers.both]\ncognito = [\"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc\"]\nfunction = \"check\"\n\
         [authorizers.partners]\nfunction = \"check-token\"\ntype = \"jwt\"\nttl = 7200\nheader = \"X Token\"\n\
         [authorizers.iam]\nfunction = \"check\"\n\
         [authorizers.none]\nttl = 5\n\
         [routes]\n\"GET /a\" = { handler = \"a\", auth = \"user\" }\n\"GET /b\" = { handler = \"b\", scopes = [\"x\"] }\n\"GET /c\" = { handler = \"c\", auth = \"iam\", scopes = [\"x\"] }\n",
    ));
    let expect = |line, message, help| assert_problem(&found, line, message, help);
    expect(
        4,
        "is not a Cognito user pool ARN",
        "arn:aws:cognito-idp:REGION",
    );
    expect(5, "`type` is for function authorizers", "remove it");
    expect(
        8,
        "a Cognito user pool or a function, not both",
        "keep `cognito`",
    );
    expect(
        10,
        "`check-token` is not a Rust function name",
        "check_token",
    );
    expect(11, "unknown authorizer type `jwt`", "`token`");
    expect(12, "`ttl` = 7200 is out of range", "0 (never) to 3600");
    expect(
        13,
        "`X Token` is not an HTTP header name",
        "X-Partner-Token",
    );
    expect(14, "`iam` is IAM authorization itself", "auth = \"iam\"");
    expect(16, "says neither `cognito` nor `function`", "cognito = [");
    expect(19, "no authorizer `user`", "did you mean `users`?");
    expect(20, "`scopes` without `auth`", "auth = \"NAME\"");
    expect(21, "IAM has no OAuth scopes", "remove `scopes`");
}

#[test]
fn routes_name_their_authorizer() {
    let config = parse_text(&app(
        "[authorizers.users]\ncognito = [\"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc\"]\n\
         [authorizers.partners]\nfunction = \"check_token\"\ntype = \"request\"\nheader = \"X-Partner-Token\"\nttl = 0\n\
         [routes]\n\"GET /me\" = { handler = \"me\", auth = \"users\", scopes = [\"orders/read\"] }\n\"GET /feed\" = { handler = \"feed\", auth = \"partners\" }\n\"GET /ops\" = { handler = \"ops\", auth = \"iam\" }\n\"GET /health\" = \"health\"\n\
         \"GET /scoped\" = { handler = \"scoped\", auth = \"partners\", scopes = [\"x\"] }\n",
    ));
    let problems = config.unwrap_err().located();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0]
            .message
            .contains("which is a function: only a Cognito authorizer checks scopes")
    );
    let config = parse_text(&app(
        "[authorizers.users]\ncognito = [\"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc\"]\n\
         [authorizers.partners]\nfunction = \"check_token\"\ntype = \"request\"\nheader = \"X-Partner-Token\"\nttl = 0\n\
         [routes]\n\"GET /me\" = { handler = \"me\", auth = \"users\", scopes = [\"orders/read\"] }\n\"GET /feed\" = { handler = \"feed\", auth = \"partners\" }\n\"GET /ops\" = { handler = \"ops\", auth = \"iam\" }\n\"GET /health\" = \"health\"\n",
    ))
    .unwrap();
    let dev = resolve(&config, "dev").unwrap();
    let auth = |path: &str| {
        dev.routes
            .iter()
            .find(|r| r.path.to_string() == path)
            .unwrap()
            .auth
            .clone()
    };
    assert_eq!(
        auth("/me"),
        Some(crate::config::RouteAuth::Authorizer {
            name: "users".into(),
            scopes: vec!["orders/read".into()]
        })
    );
    assert_eq!(auth("/ops"), Some(crate::config::RouteAuth::Iam));
    assert_eq!(auth("/health"), None);
    let partners = dev
        .authorizers
        .iter()
        .find(|a| a.name == "partners")
        .unwrap();
    assert_eq!(
        (partners.header.as_str(), partners.ttl),
        ("X-Partner-Token", 0)
    );
    assert_eq!(
        partners.kind,
        crate::config::AuthorizerKind::Function {
            function: "check_token".into(),
            request: true
        }
    );
    let users = dev.authorizers.iter().find(|a| a.name == "users").unwrap();
    assert_eq!((users.header.as_str(), users.ttl), ("Authorization", 300));
}

#[test]
fn a_description_is_the_apps_unless_a_stage_sets_its_own_and_stays_one_short_line() {
    let config = parse_text(&app(
        "description = \"Orders API\"\n[stages.dev]\ndescription = \"Orders (dev)\"\n",
    ))
    .unwrap();
    let described = |stage: &str| resolve(&config, stage).unwrap().description.clone();
    assert_eq!(described("prod").as_deref(), Some("Orders API"));
    assert_eq!(described("dev").as_deref(), Some("Orders (dev)"));
    let none = parse_text(&app("")).unwrap();
    assert_eq!(resolve(&none, "dev").unwrap().description, None);
    let found: Vec<(usize, String, String)> = problems(&app(&format!(
        "description = \"{}\"\n[stages.dev]\ndescription = \"a\\tb\"\n",
        "x".repeat(181)
    )))
    .into_iter()
    .map(|issue| (issue.line, issue.message, issue.help.unwrap_or_default()))
    .collect();
    assert_problem(
        &found,
        3,
        "is 181 characters; at most 180",
        "one short line",
    );
    assert_problem(&found, 5, "holds a control character", "one short line");
}

#[test]
fn a_function_authorizer_too_long_for_a_stage_is_refused_at_its_table() {
    // `shop-<stage>-<name>` is a function name: at most 64 characters.
    let name = "a".repeat(54);
    let found: Vec<(usize, String, String)> = problems(&app(&format!(
        "[routes]\n\"GET /me\" = {{ handler = \"me\", auth = \"{name}\" }}\n\
         [authorizers.{name}]\nfunction = \"check\"\n\
         [stages.staging]\nmemory = 256\n"
    )))
    .into_iter()
    .map(|issue| (issue.line, issue.message, issue.help.unwrap_or_default()))
    .collect();
    assert_problem(
        &found,
        5,
        &format!("`{name}` cannot be deployed to stage `staging`"),
        "shorten the authorizer's name",
    );
}

#[test]
fn roles_and_their_boundary_are_the_apps_unless_a_stage_names_its_own() {
    let config = parse_text(&app(
        "permissions_boundary = \"arn:aws:iam::123456789012:policy/slx/boundary\"\n\
         [stages.prod]\nrole = \"arn:aws:iam::123456789012:role/ops/shop-prod\"\n\
         permissions_boundary = \"arn:aws:iam::aws:policy/PowerUserAccess\"\n",
    ))
    .unwrap();
    let dev = resolve(&config, "dev").unwrap();
    assert_eq!(
        dev.permissions_boundary.as_deref(),
        Some("arn:aws:iam::123456789012:policy/slx/boundary")
    );
    assert_eq!(dev.role, None);
    let prod = resolve(&config, "prod").unwrap();
    assert_eq!(
        prod.role.as_deref(),
        Some("arn:aws:iam::123456789012:role/ops/shop-prod")
    );
    let names = prod.names();
    assert_eq!(
        names.referenced.function_role.as_deref(),
        Some("arn:aws:iam::123456789012:role/ops/shop-prod")
    );
    assert!(!names.referenced.makes_scheduler_role());
    assert!(dev.names().referenced.makes_scheduler_role());
}

#[test]
fn a_role_or_boundary_arn_that_names_no_single_one_is_refused_at_its_line() {
    let found = event_problems(&app(
        "permissions_boundary = \"arn:aws:iam::123456789012:policy/*\"\n\
         role = \"arn:aws:iam::123456789012:policy/slx\"\n\
         [stages.dev]\nscheduler_role = \"shop-dev-sched\"\n",
    ));
    assert_problem(
        &found,
        3,
        "is not an IAM managed policy ARN naming one policy",
        "(no wildcard)",
    );
    assert_problem(
        &found,
        4,
        "is not an IAM role ARN naming one role",
        "e.g. `role = ",
    );
    assert_problem(
        &found,
        6,
        "is not an IAM role ARN",
        "e.g. `scheduler_role = ",
    );
}

#[test]
fn a_role_made_elsewhere_with_schedules_needs_a_scheduler_role_too() {
    let role = "role = \"arn:aws:iam::123456789012:role/shop\"\n";
    let found = event_problems(&app(&format!(
        "{role}[events.nightly]\nschedule = \"rate(1 day)\"\n"
    )));
    assert_problem(
        &found,
        3,
        "schedule `nightly` needs a role EventBridge Scheduler assumes",
        "set `scheduler_role`",
    );
    // Reported once, where `role` is set, not again for each stage.
    let stages = event_problems(&app(&format!(
        "{role}[events.nightly]\nschedule = \"rate(1 day)\"\n[stages.prod]\nmemory = 256\n"
    )));
    assert_eq!(stages.len(), 1, "{stages:#?}");
    let fixed = parse_text(&app(&format!(
        "{role}scheduler_role = \"arn:aws:iam::123456789012:role/shop-sched\"\n\
         [events.nightly]\nschedule = \"rate(1 day)\"\n"
    )))
    .unwrap();
    assert!(resolve(&fixed, "dev").is_ok());
}
