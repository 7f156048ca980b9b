//! Generates the handler crate (`templates/handler`) that turns the app's
//! plain functions into a Lambda `bootstrap` binary.
//!
//! Pure: returns file contents; writing them is `write_crate`'s only job.
//! The output is a function of its inputs alone, so unchanged inputs give
//! byte-identical sources and cargo rebuilds nothing.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use minijinja::{Environment, context};
use serde::Serialize;

use super::handlers::{EventCall, EventInput, EventKind, HandlerCall, Input, Output, RouterCall};
use crate::config::{Method, Route};
use crate::contract::handler_env::{HANDLER_VAR, REPORT_FAILURES_VAR, SECRETS_VAR};

static HANDLER_TEMPLATE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/handler");

/// Inputs to the generated crate.
#[derive(Debug, Clone)]
pub struct CrateSpec<'a> {
    /// The app name from slx.toml.
    pub app: &'a str,
    /// The app crate's package name and its directory.
    pub app_package: &'a str,
    pub app_dir: &'a Path,
    pub opt_level: &'a str,
    /// The routes a handler function serves.
    pub routes: &'a [(Route, HandlerCall)],
    /// `[app] router`: serves every other request.
    pub router: Option<&'a RouterCall>,
    /// `[events.NAME]` handlers, each served when `SLX_HANDLER` names it.
    pub events: &'a [EventCall],
    /// Whether the handler fetches `[secrets]` at cold start (any stage
    /// has some: one zip serves them all).
    pub secrets: bool,
    /// Whether the handler adds CORS headers (any stage has `[cors]`;
    /// `SLX_CORS` says how, per stage).
    pub cors: bool,
}

#[derive(Serialize)]
struct EventView {
    name: String,
    function: String,
    fn_name: String,
    /// `slx_events::Kind` variant.
    kind: &'static str,
    describe: &'static str,
    /// Takes the whole event (else: once per record).
    whole: bool,
    /// An authorizer whose verdict may differ by route: it allows or
    /// denies the call's own method ARN, not the whole stage.
    by_route: bool,
    /// A function authorizer's verdict on one call.
    authorizer: bool,
    extract: Vec<String>,
    call: String,
    finish: String,
}

#[derive(Serialize)]
struct RouterView {
    name: String,
    is_async: bool,
    fallible: bool,
}

#[derive(Serialize)]
struct RouteView {
    key: String,
    handler: String,
    fn_name: String,
    method_pattern: String,
    resource: String,
    extract: Vec<String>,
    call: String,
    respond: String,
}

/// A digest of the embedded templates: a build made from other templates
/// (another slx, or slx itself under development) is not reused.
pub(crate) fn templates_digest() -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut pending = vec![&HANDLER_TEMPLATE];
    while let Some(dir) = pending.pop() {
        pending.extend(dir.dirs());
        for file in dir.files() {
            hasher.update(file.path().to_string_lossy().as_bytes());
            hasher.update(file.contents());
        }
    }
    super::freshness::hex(&hasher.finalize())
}

/// Every file of the generated crate: (relative path, contents).
pub fn render(spec: &CrateSpec<'_>) -> Result<Vec<(PathBuf, String)>, minijinja::Error> {
    let mut views: Vec<RouteView> = spec
        .routes
        .iter()
        .enumerate()
        .map(|(index, (route, call))| route_view(index, route, call))
        .collect();
    // A specific method beats ANY on the same resource, as in API Gateway.
    views.sort_by_key(|view| view.method_pattern == "_");
    let events: Vec<EventView> = spec
        .events
        .iter()
        .enumerate()
        .map(|(index, call)| event_view(index, call))
        .collect();
    let event_names = spec
        .events
        .iter()
        .map(|call| call.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let env = Environment::new();
    let app_dir = spec.app_dir.display().to_string();
    let mut files = Vec::new();
    let mut pending = vec![&HANDLER_TEMPLATE];
    while let Some(dir) = pending.pop() {
        pending.extend(dir.dirs());
        for file in dir.files() {
            let text = env.render_str(
                file.contents_utf8().unwrap_or_default(),
                context! {
                    app => spec.app,
                    app_package => spec.app_package,
                    app_dir => &app_dir,
                    opt_level => spec.opt_level,
                    profile => super::PROFILE,
                    routes => minijinja::Value::from(minijinja::value::Serde(&views)),
                    events => minijinja::Value::from(minijinja::value::Serde(&events)),
                    event_names => &event_names,
                    handler_var => HANDLER_VAR,
                    secrets => spec.secrets,
                    secrets_var => SECRETS_VAR,
                    cors => spec.cors,
                    cors_var => crate::cors::CORS_VAR,
                    report_failures_var => REPORT_FAILURES_VAR,
                    router => spec.router.map(|call| {
                        minijinja::Value::from(minijinja::value::Serde(RouterView {
                            name: call.name.clone(),
                            is_async: call.is_async,
                            fallible: call.fallible,
                        }))
                    }),
                },
            )?;
            files.push((file.path().with_extension(""), text));
        }
    }
    files.sort();
    Ok(files)
}

/// Writes the crate, touching only files whose contents changed so cargo's
/// freshness checks stay valid.
pub fn write_crate(dir: &Path, files: &[(PathBuf, String)]) -> std::io::Result<()> {
    for (relative, text) in files {
        let path = dir.join(relative);
        if std::fs::read_to_string(&path).is_ok_and(|existing| existing == *text) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    Ok(())
}

fn route_view(index: usize, route: &Route, call: &HandlerCall) -> RouteView {
    let method_pattern = match route.method {
        Method::Any => "_".to_string(),
        method => format!("\"{method}\""),
    };
    let mut extract = Vec::new();
    let mut arguments = Vec::new();
    for (position, input) in call.inputs.iter().enumerate() {
        let variable = format!("input_{position}");
        match input {
            Input::PathParam(name) => extract.push(format!(
                "let {variable} = slx_support::path_param(&request, {name:?})?;"
            )),
            Input::Query => {
                extract.push(format!("let {variable} = slx_support::query(&request)?;"))
            }
            Input::Headers => extract.push(format!("let {variable} = request.headers().clone();")),
            Input::JsonBody(ty) => extract.push(format!(
                "let {variable} = slx_support::json_body(&request, {ty:?})?;"
            )),
            Input::Caller(ty) => extract.push(format!(
                "let {variable} = slx_support::caller(&request, {ty:?})?;"
            )),
            Input::Identity(ty) => extract.push(format!(
                "let {variable} = slx_support::identity(&request, {ty:?})?;"
            )),
            Input::Bytes => extract.push(format!(
                "let {variable} = ::std::convert::AsRef::<[u8]>::as_ref(request.body()).to_vec();"
            )),
            Input::Request { by_ref: true } => {
                arguments.push("&request".to_string());
                continue;
            }
            Input::Request { by_ref: false } => {
                // Every `let` above has finished borrowing by now.
                arguments.push("request".to_string());
                continue;
            }
        }
        arguments.push(variable);
    }
    let awaited = if call.is_async { ".await" } else { "" };
    // The generated Cargo.toml renames the app's dependency to `app`.
    let call_expr = format!("app::{}({}){awaited}", call.name, arguments.join(", "));
    let value_response = |value: &str| match call.output {
        Output::Empty => "slx_support::empty(204)".to_string(),
        Output::Json => format!("slx_support::json(200, &{value})"),
        Output::StatusJson => format!("slx_support::json(u16::from({value}.0), &{value}.1)"),
        Output::Raw => format!("{value}.map(::core::convert::Into::<lambda_http::Body>::into)"),
        Output::Bytes => format!("slx_support::bytes({value})"),
    };
    let respond = if call.fallible {
        format!(
            "match output {{\n        Ok(value) => Ok({}),\n        Err(error) => Ok(slx_support::failed(request_id, {:?}, error)),\n    }}",
            value_response("value"),
            call.name
        )
    } else {
        format!("Ok({})", value_response("output"))
    };
    RouteView {
        key: route.key(),
        handler: call.name.clone(),
        fn_name: format!("route_{index}"),
        method_pattern,
        resource: route.path.to_string(),
        extract,
        call: call_expr,
        respond,
    }
}

fn event_view(index: usize, call: &EventCall) -> EventView {
    let mut extract = Vec::new();
    let mut arguments = Vec::new();
    let mut whole = false;
    for (position, input) in call.inputs.iter().enumerate() {
        let variable = format!("input_{position}");
        // Types are inferred from the app function's parameters (they
        // may not be in scope here); `String` is named for `&str`, whose
        // owned value inference cannot find.
        let annotation = |ty: &str| if ty == "String" { ": String" } else { "" };
        let (line, by_ref) = match input {
            EventInput::Field { name, ty, by_ref } => (
                format!(
                    "let {variable}{} = record.field({name:?})?;",
                    annotation(ty)
                ),
                *by_ref,
            ),
            EventInput::Body {
                by_ref, text: true, ..
            } => (
                format!("let {variable}: String = record.body_text();"),
                *by_ref,
            ),
            EventInput::Body {
                ty,
                by_ref,
                text: false,
            } => (format!("let {variable} = record.body({ty:?})?;"), *by_ref),
            EventInput::Event { ty, by_ref } => {
                whole = true;
                (
                    format!(
                        "let {variable}{} = slx_events::decode(payload, {ty:?})?;",
                        annotation(ty)
                    ),
                    *by_ref,
                )
            }
        };
        extract.push(line);
        arguments.push(if by_ref {
            format!("&{variable}")
        } else {
            variable
        });
    }
    if call.inputs.is_empty() {
        // Nothing to read; the record is only counted.
        extract.push("let _ = record;".into());
    }
    let awaited = if call.is_async { ".await" } else { "" };
    let call_expr = format!("app::{}({}){awaited}", call.function, arguments.join(", "));
    let authorizer = call.kind == EventKind::Authorizer && !whole;
    let by_route = call.authorizes_by_route();
    let finish = match (whole, authorizer, call.fallible) {
        (true, _, true) => "slx_events::respond(output.map_err(slx_events::failure)?)".to_string(),
        (true, _, false) => "slx_events::respond(output)".to_string(),
        (false, true, true) => {
            "slx_events::verdict(output.map_err(slx_events::failure)?)".to_string()
        }
        (false, true, false) => "slx_events::verdict(output)".to_string(),
        (false, false, true) => "output.map_err(slx_events::failure)".to_string(),
        (false, false, false) => "Ok(output)".to_string(),
    };
    let (kind, describe) = match call.kind {
        EventKind::S3 => ("S3", "S3: once per object record"),
        EventKind::Sqs => ("Sqs", "SQS: once per message"),
        EventKind::Schedule => ("Schedule", "a schedule: once per run"),
        EventKind::Authorizer => ("Authorizer", "an authorizer: once per call"),
    };
    EventView {
        name: call.name.clone(),
        function: call.function.clone(),
        fn_name: format!("event_{index}"),
        kind,
        describe: if whole {
            "the whole event, once per invocation"
        } else {
            describe
        },
        whole,
        authorizer,
        by_route,
        extract,
        call: call_expr,
        finish,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Method, parse_path};
    use crate::handler::handlers;

    /// The scaffold's three routes plus one of each other signature shape.
    fn rendered() -> Vec<(PathBuf, String)> {
        let source = r#"
            pub async fn greet(input: Greet) -> Result<Greeting, String> { todo!() }
            pub async fn create_order(id: String, order: Order) -> Result<OrderAccepted, String> { todo!() }
            pub async fn health() -> Health { todo!() }
            pub async fn search(query: Page, headers: HeaderMap) -> (u16, Results) { todo!() }
            pub fn raw(request: lambda_http::Request) -> lambda_http::Response<String> { todo!() }
            pub async fn forget(id: u64) {}
        "#;
        let routes: Vec<Route> = [
            ("POST", "/greet", "greet"),
            ("POST", "/orders/{id}", "create_order"),
            ("GET", "/health", "health"),
            ("GET", "/search", "search"),
            ("ANY", "/raw/{rest+}", "raw"),
            ("DELETE", "/orders/{id}", "forget"),
        ]
        .iter()
        .map(|(method, path, handler)| Route {
            method: Method::parse(method).unwrap(),
            path: parse_path(path).unwrap(),
            handler: Some(handler.to_string()),
            cors: true,
            api_key: false,
            auth: None,
            span: 0..0,
        })
        .collect();
        let checked =
            handlers::check(&syn::parse_file(source).unwrap(), &routes, None, &[]).unwrap();
        render_checked(&checked)
    }

    /// The crate for checked handlers of the app `shop`.
    fn render_checked(checked: &handlers::Handlers) -> Vec<(PathBuf, String)> {
        render(&CrateSpec {
            app: "shop",
            app_package: "shop",
            app_dir: Path::new("/work/shop"),
            opt_level: "z",
            routes: &checked.routes,
            router: checked.router.as_ref(),
            events: &checked.events,
            secrets: false,
            cors: false,
        })
        .unwrap()
    }

    fn file<'a>(files: &'a [(PathBuf, String)], name: &str) -> &'a str {
        files
            .iter()
            .find(|(path, _)| path.ends_with(name))
            .map(|(_, text)| text.as_str())
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn generated_main_matches_the_snapshot() {
        insta::assert_snapshot!("handler_main_rs", file(&rendered(), "main.rs"));
    }

    #[test]
    fn generated_manifest_matches_the_snapshot() {
        insta::assert_snapshot!("handler_cargo_toml", file(&rendered(), "Cargo.toml"));
    }

    /// One handler of each event kind and form beside a route.
    fn rendered_with_events() -> Vec<(PathBuf, String)> {
        let config = crate::config::parse(
            Path::new("slx.toml"),
            r#"
            [app]
            name = "shop"
            [routes]
            "GET /health" = "health"
            [events.on_upload]
            bucket = "shop-uploads"
            [events.on_job]
            queue = "shop-jobs"
            [events.nightly]
            schedule = "rate(1 hour)"
            [events.raw_jobs]
            handler = "raw"
            queue = "shop-raw"
            "#
            .into(),
        )
        .unwrap();
        let source = r#"
            pub async fn health() -> Health { todo!() }
            pub async fn on_upload(bucket: String, key: &str, size: u64) -> Result<(), String> { todo!() }
            pub async fn on_job(job: Job, message_id: String) -> Result<(), String> { todo!() }
            pub fn nightly() {}
            pub async fn raw(event: SqsEvent) -> Result<SqsBatchResponse, String> { todo!() }
        "#;
        let checked = handlers::check(
            &syn::parse_file(source).unwrap(),
            &config.routes,
            None,
            &config.events,
        )
        .unwrap();
        render_checked(&checked)
    }

    #[test]
    fn generated_event_entry_point_matches_the_snapshot() {
        insta::assert_snapshot!(
            "handler_main_rs_events",
            file(&rendered_with_events(), "main.rs")
        );
    }

    /// One `GET /health` route, rendered with or without secrets and CORS;
    /// the checked handlers too, for a plain rendering to compare with.
    fn health_crate(secrets: bool, cors: bool) -> (handlers::Handlers, Vec<(PathBuf, String)>) {
        let source = "pub async fn health() -> Health { todo!() }";
        let routes = [Route {
            method: Method::Get,
            path: parse_path("/health").unwrap(),
            handler: Some("health".into()),
            cors: true,
            api_key: false,
            auth: None,
            span: 0..0,
        }];
        let checked =
            handlers::check(&syn::parse_file(source).unwrap(), &routes, None, &[]).unwrap();
        let files = render(&CrateSpec {
            app: "shop",
            app_package: "shop",
            app_dir: Path::new("/work/shop"),
            opt_level: "z",
            routes: &checked.routes,
            router: None,
            events: &checked.events,
            secrets,
            cors,
        })
        .unwrap();
        (checked, files)
    }

    #[test]
    fn with_secrets_the_entry_point_fetches_them_before_any_thread() {
        let (checked, files) = health_crate(true, false);
        let main = file(&files, "main.rs");
        let load = main.find("slx_secrets::load()?;").expect("secrets loaded");
        let runtime = main.find("new_multi_thread").expect("a runtime built");
        assert!(load < runtime, "{main}");
        assert!(!main.contains("#[tokio::main]"), "{main}");
        assert!(file(&files, "Cargo.toml").contains("aws-sigv4 = "));
        assert!(
            file(&files, "slx_secrets.rs").contains("const SECRETS_VAR: &str = \"SLX_SECRETS\";")
        );
        // Without secrets, none of it.
        let plain = render_checked(&checked);
        assert!(!file(&plain, "main.rs").contains("slx_secrets"));
        assert!(!file(&plain, "Cargo.toml").contains("aws-sigv4"));
    }

    #[test]
    fn with_cors_every_answer_goes_through_add_cors() {
        let (checked, files) = health_crate(false, true);
        let main = file(&files, "main.rs");
        let added = main.find("slx_support::add_cors(").expect("headers added");
        assert!(added < main.find("Ok(response)").unwrap(), "{main}");
        let support = file(&files, "slx_support.rs");
        assert!(support.contains("std::env::var(\"SLX_CORS\")"), "{support}");
        // Without [cors] anywhere, none of it.
        let plain = render_checked(&checked);
        assert!(!file(&plain, "main.rs").contains("add_cors"));
        assert!(!file(&plain, "slx_support.rs").contains("SLX_CORS"));
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(rendered(), rendered());
    }
}
