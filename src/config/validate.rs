//! Turns the raw, spanned file into a `Config`, checking every value AWS
//! would reject later so the user hears about it now, with the line.
//!
//! Collects every problem instead of stopping at the first. Pure: no I/O.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use toml::Spanned;

use super::issue::ConfigIssue;
use super::limits;
use super::model::{
    Check, Config, Method, Permission, Route, RoutePath, Segment, Set, Settings, StageOverlay,
    api_routes,
};
use super::schema::{RawCheck, RawFile, RawPermission, RawRoute, RawSection, SpannedMap};
use super::stage_check::{self, Refusal};

/// Everything validation learned: the config if there were no errors.
pub(crate) struct Outcome {
    pub errors: Vec<ConfigIssue>,
    pub config: Option<Config>,
}

#[derive(Default)]
pub(crate) struct Checker {
    pub(crate) errors: Vec<ConfigIssue>,
    pub(crate) warnings: Vec<ConfigIssue>,
}

impl Checker {
    pub(crate) fn error(&mut self, span: Range<usize>, key: &str, message: String, help: &str) {
        self.errors
            .push(ConfigIssue::new(span, key, message).with_help(help));
    }
}

/// Validates `raw`, read from `path` with text `source`.
pub(crate) fn validate(raw: RawFile, path: &Path, source: &Arc<String>) -> Outcome {
    let whole_file = 0..source.len();
    let mut check = Checker::default();
    let name = match &raw.app {
        None => {
            check.error(
                whole_file.start..whole_file.start,
                "app",
                "missing table [app]".into(),
                "add `[app]` with at least `name = \"my-app\"`",
            );
            None
        }
        Some(app) => match &app.get_ref().name {
            None => {
                check.error(
                    app.span(),
                    "app.name",
                    "missing key `name` in [app]".into(),
                    "add `name = \"my-app\"` (lowercase letters, digits and `-`)",
                );
                None
            }
            Some(name) => check_app_name(&mut check, name),
        },
    };
    let mut settings = raw
        .app
        .as_ref()
        .map(|app| Settings::checked(&mut check, app.get_ref(), "app"))
        .unwrap_or_default();
    // `[cors]` and `[usage_plan]` are tables of their own, beside `[app]`.
    settings.cors = raw.cors.as_ref().and_then(|cors| {
        let value = super::cors::cors(&mut check, cors, "cors")?;
        Some(Set {
            value,
            span: cors.span(),
        })
    });
    settings.usage_plan = raw.usage_plan.as_ref().and_then(|plan| {
        let value = super::gateway::usage_plan(&mut check, plan, "usage_plan")?;
        Some(Set {
            value,
            span: plan.span(),
        })
    });
    if let Some(app) = &raw.app {
        let region = settings.region.as_ref().map(|set| set.value.as_str());
        check_regions(&mut check, app.get_ref(), "app", region);
    }
    let env = env_vars(&mut check, &raw.env, "env");
    let router_key = raw
        .app
        .as_ref()
        .and_then(|app| app.get_ref().router.as_ref());
    let authorizers = super::auth::authorizers(&mut check, &raw.authorizers);
    let routes = routes(
        &mut check,
        &raw.routes,
        router_key,
        &raw.authorizers,
        &authorizers,
    );
    let router = router_key.map(|r| r.get_ref().clone());
    let binary_media_types = raw
        .app
        .as_ref()
        .and_then(|app| app.get_ref().binary_media_types.as_ref())
        .map(|types| super::gateway::binary_media_types(&mut check, types, router.is_some()))
        .unwrap_or_default();
    // What checks may request: in router mode, anything.
    let served = api_routes(&routes, router.as_deref());
    let app_secrets = super::secrets::secrets(&mut check, &raw.secrets, "secrets");
    let secrets_span = raw.secrets.keys().next().map_or(0..0, |k| k.span());
    super::secrets::check_clash(&mut check, &env, &app_secrets, secrets_span, "secrets");
    let app_events = super::events::app_events(&mut check, &raw.events);
    // A function authorizer is a function `<app>-<stage>-NAME` too.
    for (name, table) in &raw.authorizers {
        if table.get_ref().function.is_some()
            && raw
                .events
                .keys()
                .any(|event| event.get_ref() == name.get_ref())
        {
            check.error(
                name.span(),
                &format!("authorizers.{}", name.get_ref()),
                format!(
                    "`{}` names both an authorizer and an [events] table: each is its own function `<app>-<stage>-{}`",
                    name.get_ref(),
                    name.get_ref()
                ),
                "rename one of them",
            );
        }
    }
    super::events::check_overlaps(&mut check, &app_events.handlers, "events");
    let mut stages = BTreeMap::new();
    for (stage, section) in &raw.stages {
        let section_ref = section.get_ref();
        let table = format!("stages.{}", stage.get_ref());
        let overlay_settings = Settings::checked(&mut check, section_ref, &table);
        let region = overlay_settings
            .region
            .as_ref()
            .or(settings.region.as_ref())
            .map(|set| set.value.as_str());
        check_regions(&mut check, section_ref, &table, region);
        let overlay_env = match &section_ref.env {
            Some(env) => env_vars(&mut check, env.get_ref(), &format!("{table}.env")),
            None => BTreeMap::new(),
        };
        let mut merged = env.clone();
        merged.extend(overlay_env.clone());
        let env_span = section_ref
            .env
            .as_ref()
            .map_or(stage.span(), |env| env.span());
        let stage_secrets = section_ref
            .secrets
            .as_ref()
            .map_or_else(BTreeMap::new, |raw| {
                super::secrets::secrets(&mut check, raw.get_ref(), &format!("{table}.secrets"))
            });
        let mut all_secrets = app_secrets.clone();
        all_secrets.extend(stage_secrets.clone());
        let clash_span = section_ref
            .secrets
            .as_ref()
            .map_or(env_span.clone(), |s| s.span());
        super::secrets::check_clash(
            &mut check,
            &merged,
            &all_secrets,
            clash_span,
            &format!("{table}.secrets"),
        );
        let stage_checks = section_ref.checks.as_ref().map_or_else(Vec::new, |raw| {
            checks(&mut check, raw, &format!("{table}.checks"), &served)
        });
        let stage_events = super::events::stage_events(
            &mut check,
            &app_events,
            section_ref.events.as_ref(),
            stage.get_ref(),
        );
        if let Some(handlers) = &stage_events {
            super::events::check_overlaps(&mut check, handlers, &format!("{table}.events"));
        }
        // Queues against the stage's region: its own handlers, or `[app]`'s
        // when the stage moves them to a region of its own.
        let own_region = overlay_settings
            .region
            .as_ref()
            .filter(|own| Some(*own) != settings.region.as_ref());
        match (&stage_events, region) {
            (Some(handlers), Some(region)) => {
                check_queue_regions(&mut check, handlers, region, &format!("{table}.events"));
            }
            (None, Some(region)) if own_region.is_some() => {
                check_queue_regions(&mut check, &app_events.handlers, region, "events");
            }
            _ => {}
        }
        let handlers: Vec<_> = stage_events
            .as_ref()
            .unwrap_or(&app_events.handlers)
            .iter()
            .cloned()
            .chain(
                super::stage::authorizer_handlers(&authorizers).map(|mut handler| {
                    // Located at its `[authorizers.NAME]` table.
                    if let Some((key, _)) = raw
                        .authorizers
                        .iter()
                        .find(|(key, _)| *key.get_ref() == handler.name)
                    {
                        handler.span = key.span();
                    }
                    handler
                }),
            )
            .collect();
        // Every refusal of the stage as a whole, once its tables are
        // layered; a provisioned count the stage inherits is `[app]`'s
        // to answer for, reported there.
        let layered = settings.beneath(&overlay_settings);
        let stage_check = stage_check::Stage {
            app: name.as_deref(),
            name: Some(stage.get_ref()),
            settings: &layered,
            env: &merged,
            handlers: &handlers,
            secrets: &all_secrets,
            routes: &served,
        };
        let own_concurrency = overlay_settings.provisioned_concurrency.is_some()
            || overlay_settings.concurrency.is_some();
        let at = Located {
            stage: stage.get_ref(),
            stage_span: stage.span(),
            env_span: env_span.clone(),
            table: &table,
        };
        // Likewise a role and schedules the stage both takes from `[app]`.
        let own_roles = overlay_settings.role.is_some()
            || overlay_settings.scheduler_role.is_some()
            || stage_events.is_some();
        for refusal in stage_check::refusals(&stage_check) {
            let inherited = match refusal {
                Refusal::ProvisionedAboveReserved { .. } => !own_concurrency,
                Refusal::SchedulerRoleMissing { .. } => !own_roles,
                _ => false,
            };
            if !inherited {
                report(&mut check, refusal, &at);
            }
        }
        stages.insert(
            stage.get_ref().clone(),
            StageOverlay {
                settings: overlay_settings,
                env: overlay_env,
                checks: stage_checks,
                events: stage_events,
                secrets: stage_secrets,
            },
        );
    }
    let env_span = raw
        .env
        .keys()
        .next()
        .map_or(whole_file.clone(), |k| k.span());
    // `[app]` and `[env]` on their own: what every stage without a table
    // of its own gets.
    let app_alone = stage_check::Stage {
        app: name.as_deref(),
        name: None,
        settings: &settings,
        env: &env,
        handlers: &app_events.handlers,
        secrets: &app_secrets,
        routes: &served,
    };
    let at = Located {
        stage: "",
        stage_span: whole_file.clone(),
        env_span,
        table: "app",
    };
    for refusal in stage_check::refusals(&app_alone) {
        report(&mut check, refusal, &at);
    }
    if let Some(region) = &settings.region {
        check_queue_regions(&mut check, &app_events.handlers, &region.value, "events");
    }
    let app_checks = checks(&mut check, &raw.checks, "checks", &served);
    if !routes.iter().any(|route| route.api_key) {
        let plans = raw
            .usage_plan
            .iter()
            .map(|plan| (plan.span(), "usage_plan".to_string()))
            .chain(raw.stages.iter().filter_map(|(stage, section)| {
                let plan = section.get_ref().usage_plan.as_ref()?;
                Some((
                    plan.span(),
                    format!("stages.{}.usage_plan", stage.get_ref()),
                ))
            }));
        for (span, key) in plans {
            check.warnings.push(
                ConfigIssue::new(span, &key, "no route has `api_key = true`: the usage plan limits nothing")
                    .with_help("require a key on the routes it should limit, e.g. `\"GET /reports\" = { handler = \"reports\", api_key = true }`"),
            );
        }
    }
    if raw.routes.is_empty() && router.is_none() && raw.events.is_empty() {
        check.warnings.push(
            ConfigIssue::new(
                whole_file.start..whole_file.start,
                "routes",
                "no [routes]: the API will have no endpoint",
            )
            .with_help("add e.g. `[routes]` with `\"POST /greet\" = \"greet\"`, or `[app] router = \"router\"` to serve an axum Router"),
        );
    }
    let permissions = raw
        .permissions
        .iter()
        .map(|p| permission(&mut check, p.get_ref()))
        .collect();
    let config = match name {
        Some(name) if check.errors.is_empty() => Some(Config {
            path: path.to_path_buf(),
            source: source.clone(),
            name,
            settings,
            env,
            routes,
            router,
            binary_media_types,
            authorizers,
            stages,
            permissions,
            checks: app_checks,
            events: app_events.handlers,
            secrets: app_secrets,
            warnings: check.warnings,
        }),
        _ => None,
    };
    Outcome {
        errors: check.errors,
        config,
    }
}

fn check_app_name(check: &mut Checker, name: &Spanned<String>) -> Option<String> {
    let text = name.get_ref();
    match limits::name_problem(text) {
        Some(problem) => {
            check.error(
                name.span(),
                "app.name",
                format!("invalid app name `{text}`: {problem}"),
                "use lowercase letters, digits and `-`, starting with a letter, e.g. `shop`",
            );
            None
        }
        None => Some(text.clone()),
    }
}

/// Where a stage's refusals are reported.
struct Located<'a> {
    /// Its name (empty for `[app]` alone).
    stage: &'a str,
    stage_span: Range<usize>,
    /// Where its environment is set.
    env_span: Range<usize>,
    /// `app` or `stages.NAME`.
    table: &'a str,
}

/// Reports `refusal` at the line that caused it.
fn report(check: &mut Checker, refusal: Refusal, at: &Located<'_>) {
    let (span, key, message, help) = match refusal {
        Refusal::BadName { problem } => (
            at.stage_span.clone(),
            "stages".to_string(),
            format!("invalid stage name `{}`: {problem}", at.stage),
            "use lowercase letters, digits and `-`, starting with a letter, e.g. `prod`".to_string(),
        ),
        Refusal::TooLong { problem } => (
            at.stage_span.clone(),
            "stages".to_string(),
            problem,
            "shorten the app name or the stage name".to_string(),
        ),
        Refusal::HandlerTooLong {
            handler,
            problem,
            span,
            authorizer,
        } => (
            span,
            if authorizer {
                format!("authorizers.{handler}")
            } else {
                format!("events.{handler}")
            },
            format!("`{handler}` cannot be deployed to stage `{}`: {problem}", at.stage),
            if authorizer {
                "shorten the authorizer's name, the app name or the stage name".to_string()
            } else {
                "shorten the handler's table name (set `handler = \"...\"` to keep the function), the app name or the stage name".to_string()
            },
        ),
        Refusal::EnvTooLarge {
            size,
            function,
            added,
        } => (
            at.env_span.clone(),
            if at.table == "app" {
                "env".to_string()
            } else {
                format!("{}.env", at.table)
            },
            format!(
                "the environment of {function} is {size} bytes{}; Lambda allows {} in total",
                stage_check::describe_added(&added),
                limits::ENV_BYTES
            ),
            "move large values to SSM Parameter Store or Secrets Manager (`[secrets]` adds only their names) and read them at start-up".to_string(),
        ),
        Refusal::ProvisionedAboveReserved {
            provisioned,
            reserved,
            span,
        } => (
            span,
            format!("{}.provisioned_concurrency", at.table),
            format!("{provisioned} instances kept warm, but `concurrency` reserves only {reserved}"),
            "Lambda refuses more provisioned than reserved concurrency: raise `concurrency` or lower `provisioned_concurrency`".to_string(),
        ),
        Refusal::SchedulerRoleMissing { handler, span } => (
            span,
            format!("{}.role", at.table),
            format!(
                "a role made elsewhere (`role`) runs the functions, but schedule `{handler}` needs a role EventBridge Scheduler assumes"
            ),
            stage_check::SCHEDULER_ROLE_FIX.to_string(),
        ),
    };
    check.error(span, &key, message, &help);
}

/// What a table's values mean only together with the region: each
/// layer is in the table's own region (when it names one), and a
/// stage's domain certificate in the stage's region.
fn check_regions(
    check: &mut Checker,
    section: &RawSection,
    table: &str,
    stage_region: Option<&str>,
) {
    if let (Some(layers), Some(region)) = (&section.layers, &section.region) {
        let key = format!("{table}.layers");
        for layer in layers.get_ref() {
            if let Some(layer_region) = limits::layer_region(layer.get_ref())
                && layer_region != region.get_ref()
            {
                check.error(
                    layer.span(),
                    &key,
                    format!(
                        "layer `{}` is in {layer_region}, the function in {}",
                        layer.get_ref(),
                        region.get_ref()
                    ),
                    "Lambda attaches only layers of the function's region: publish the layer there",
                );
            }
        }
    }
    if let (Some(domain), Some(region)) = (&section.domain, stage_region) {
        super::gateway::check_certificate_region(check, domain, &format!("{table}.domain"), region);
    }
}

/// Each handler's queues (its source, `on_failure`) are of `region`.
fn check_queue_regions(
    check: &mut Checker,
    handlers: &[crate::config::EventHandler],
    region: &str,
    table: &str,
) {
    for handler in handlers {
        let source = match &handler.source {
            crate::config::EventSource::Sqs(source) => Some(("queue", &source.queue)),
            _ => None,
        };
        let failure = handler
            .on_failure
            .as_ref()
            .map(|queue| ("on_failure", queue));
        for (key, queue) in source.into_iter().chain(failure) {
            if let Some(problem) = limits::queue_region_problem(queue, region) {
                check.error(
                    handler.span.clone(),
                    &format!("{table}.{}.{key}", handler.name),
                    problem,
                    limits::QUEUE_REGION_FIX,
                );
            }
        }
    }
}

fn env_vars(
    check: &mut Checker,
    env: &SpannedMap<String>,
    table: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in env {
        let name = key.get_ref();
        if let Some(problem) = limits::env_name_problem(name) {
            check.error(
                key.span(),
                &format!("{table}.{name}"),
                format!("environment variable `{name}` {problem}"),
                "Lambda sets the reserved variables itself; pick another name",
            );
            continue;
        }
        out.insert(name.clone(), value.get_ref().clone());
    }
    out
}

fn routes(
    check: &mut Checker,
    raw: &SpannedMap<RawRoute>,
    router: Option<&Spanned<String>>,
    declared: &BTreeMap<Spanned<String>, Spanned<super::schema::RawAuthorizer>>,
    valid: &[crate::config::Authorizer],
) -> Vec<Route> {
    // Every declared name (`true`: Cognito), valid or not: a route naming
    // a broken authorizer is not reported twice.
    let authorizers: BTreeMap<String, bool> = declared
        .iter()
        .map(|(name, table)| {
            let cognito = valid
                .iter()
                .find(|a| a.name == *name.get_ref())
                .map_or(table.get_ref().cognito.is_some(), |a| {
                    matches!(a.kind, crate::config::AuthorizerKind::Cognito { .. })
                });
            (name.get_ref().clone(), cognito)
        })
        .collect();
    let mut routes: Vec<Route> = Vec::new();
    for (key, value) in raw {
        let Some((method, path)) = parse_route_key(check, key) else {
            continue;
        };
        let key_name = format!("routes.\"{}\"", key.get_ref());
        let (handler, cors, api_key, auth) = match value.get_ref() {
            RawRoute::Handler(name) => (Some(name), true, false, None),
            RawRoute::Table {
                handler,
                cors,
                api_key,
                auth,
                scopes,
            } => (
                handler.as_ref(),
                cors.unwrap_or(true),
                api_key.unwrap_or(false),
                super::auth::route_auth(
                    check,
                    auth.as_ref(),
                    scopes.as_ref(),
                    &authorizers,
                    value.span(),
                    &key_name,
                ),
            ),
        };
        match handler {
            Some(name) if !limits::is_rust_identifier(name) => {
                check.error(
                    value.span(),
                    &key_name,
                    format!("handler `{name}` is not a Rust function name"),
                    "name an `async fn` of your crate's lib.rs, e.g. `greet`",
                );
                continue;
            }
            None if router.is_none() => {
                check.error(
                    value.span(),
                    &key_name,
                    format!("route `{} {path}` names no handler", method),
                    "write `{ handler = \"greet\" }` (a function of lib.rs), or set `[app] router` so the app's router serves it",
                );
                continue;
            }
            _ => {}
        }
        let route = Route {
            method,
            path,
            handler: handler.cloned(),
            cors,
            api_key,
            auth,
            span: key.span().start..value.span().end,
        };
        if let Some(existing) = routes
            .iter()
            .find(|r| r.method == route.method && r.path == route.path)
        {
            check.error(
                key.span(),
                &key_name,
                format!("route `{}` is declared twice", route.key()),
                &format!(
                    "it is already routed to `{}`; keep one entry",
                    existing.served_by()
                ),
            );
            continue;
        }
        routes.push(route);
    }
    if let Some(router) = router {
        check_router_name(check, router);
    }
    // The router's catch-all first: a declared route that clashes with it
    // is the one reported, at its own line.
    let mut served = api_routes(&[], router.map(|r| r.get_ref().as_str()));
    served.extend(routes.iter().cloned());
    check_param_conflicts(check, &served);
    routes
}

/// `[app] router` names a function of lib.rs.
fn check_router_name(check: &mut Checker, router: &Spanned<String>) {
    let name = router.get_ref();
    if !limits::is_rust_identifier(name) {
        check.error(
            router.span(),
            "app.router",
            format!("router `{name}` is not a Rust function name"),
            "name the function of lib.rs that returns the app's router, e.g. `router = \"router\"`",
        );
    }
}

fn parse_route_key(check: &mut Checker, key: &Spanned<String>) -> Option<(Method, RoutePath)> {
    let text = key.get_ref();
    let key_name = format!("routes.\"{text}\"");
    let Some((method_text, path_text)) = text.trim().split_once(char::is_whitespace) else {
        check.error(
            key.span(),
            &key_name,
            format!("route `{text}` needs a method and a path"),
            "write it as \"METHOD /path\", e.g. \"POST /greet\"",
        );
        return None;
    };
    let method = Method::parse(&method_text.to_uppercase());
    let Some(method) = method else {
        check.error(
            key.span(),
            &key_name,
            format!("unknown HTTP method `{method_text}` in route `{text}`"),
            &format!("use one of {}", Method::ALL.join(", ")),
        );
        return None;
    };
    match parse_path(path_text.trim()) {
        Ok(path) => Some((method, path)),
        Err(problem) => {
            check.error(
                key.span(),
                &key_name,
                format!("invalid path in route `{text}`: {problem}"),
                "paths look like /orders/{id} or /files/{proxy+}; `{name+}` only last",
            );
            None
        }
    }
}

/// Splits `/a/{b}/{c+}` into segments, enforcing API Gateway's rules.
pub fn parse_path(path: &str) -> Result<RoutePath, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("it must start with `/`".into());
    };
    let mut segments = Vec::new();
    if rest.is_empty() {
        return Ok(RoutePath { segments });
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut seen_params: Vec<&str> = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err("empty segment (`//` or a trailing `/`)".into());
        }
        let segment = if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
        {
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if !limits::is_param_name(name) {
                return Err(format!("`{{{inner}}}` is not a valid parameter name"));
            }
            if seen_params.contains(&name) {
                return Err(format!("parameter `{name}` appears twice"));
            }
            seen_params.push(name);
            if greedy {
                if index + 1 != parts.len() {
                    return Err(format!("greedy `{{{name}+}}` must be the last segment"));
                }
                Segment::Greedy(name.to_string())
            } else {
                Segment::Param(name.to_string())
            }
        } else {
            if let Some(bad) = part.chars().find(|c| !limits::is_path_char(*c)) {
                return Err(format!(
                    "character `{bad}` is not allowed in `{part}`: API Gateway accepts letters, digits and `.` `_` `-` `:` in a path part"
                ));
            }
            Segment::Literal(part.to_string())
        };
        segments.push(segment);
    }
    Ok(RoutePath { segments })
}

/// API Gateway allows one variable child per resource: `/a/{id}` and
/// `/a/{key}` (or `/a/{rest+}`) cannot both exist.
fn check_param_conflicts(check: &mut Checker, routes: &[Route]) {
    // Per parent path: the variable part there, the route that has it, and
    // whether that route is the router's catch-all (slx adds it).
    let mut variable_at: HashMap<Vec<String>, (String, String, bool)> = HashMap::new();
    for route in routes {
        for (depth, segment) in route.path.segments.iter().enumerate() {
            if matches!(segment, Segment::Literal(_)) {
                continue;
            }
            let parent: Vec<String> = route.path.segments[..depth]
                .iter()
                .map(Segment::path_part)
                .collect();
            let part = segment.path_part();
            match variable_at.get(&parent) {
                Some((existing, owner, catch_all)) if *existing != part => {
                    let help = if *catch_all {
                        "API Gateway allows one variable part per position, and the router's catch-all holds the first: start the path with a fixed part (e.g. `/items/{id}`), or let the router serve it"
                    } else {
                        "API Gateway allows one parameter name per position; use the same name in both routes"
                    };
                    check.error(
                        route.span.clone(),
                        &format!("routes.\"{}\"", route.key()),
                        format!(
                            "route `{}` uses `{part}` where `{owner}` uses `{existing}`",
                            route.key()
                        ),
                        help,
                    );
                }
                Some(_) => {}
                None => {
                    let catch_all = route.span.is_empty() && route.handler.is_none();
                    variable_at.insert(parent, (part, route.key(), catch_all));
                }
            }
        }
    }
}

fn permission(check: &mut Checker, raw: &RawPermission) -> Permission {
    let list = |check: &mut Checker, items: &Spanned<Vec<Spanned<String>>>, key: &str| {
        if items.get_ref().is_empty() {
            check.error(
                items.span(),
                &format!("permissions.{key}"),
                format!("`{key}` is empty"),
                "list at least one entry, e.g. [\"dynamodb:GetItem\"]",
            );
        }
        items
            .get_ref()
            .iter()
            .map(|i| i.get_ref().clone())
            .collect::<Vec<_>>()
    };
    let actions = list(check, &raw.actions, "actions");
    for action in raw.actions.get_ref() {
        let text = action.get_ref();
        let well_formed = text == "*"
            || text
                .split_once(':')
                .is_some_and(|(service, op)| !service.is_empty() && !op.is_empty());
        if !well_formed {
            check.error(
                action.span(),
                "permissions.actions",
                format!("`{text}` is not an IAM action"),
                "write actions as `service:Operation`, e.g. `dynamodb:GetItem`",
            );
        }
    }
    let resources = list(check, &raw.resources, "resources");
    // Allowed, but rarely what the function needs: a wildcard grants
    // every action of a service (or of all), or every resource.
    let wildcards = |items: &Spanned<Vec<Spanned<String>>>, wild: fn(&str) -> bool| {
        items
            .get_ref()
            .iter()
            .filter(|item| wild(item.get_ref()))
            .map(|item| (item.span(), item.get_ref().clone()))
            .collect::<Vec<_>>()
    };
    for (span, action) in wildcards(&raw.actions, |a| a == "*" || a.ends_with(":*")) {
        check.warnings.push(
            ConfigIssue::new(
                span,
                "permissions.actions",
                match action.split_once(':') {
                    Some((service, _)) => {
                        format!("`{action}` lets the function call every action of {service}")
                    }
                    None => format!("`{action}` lets the function call every AWS action"),
                },
            )
            .with_help(
                "name the actions it calls, e.g. [\"dynamodb:GetItem\", \"dynamodb:PutItem\"]",
            ),
        );
    }
    for (span, resource) in wildcards(&raw.resources, |r| r == "*") {
        check.warnings.push(
            ConfigIssue::new(
                span,
                "permissions.resources",
                format!("`{resource}` grants the actions on every resource of the account"),
            )
            .with_help("name the resources' ARNs, e.g. [\"arn:aws:dynamodb:eu-west-1:123456789012:table/orders\"]"),
        );
    }
    Permission { actions, resources }
}

/// `[[checks]]` (or a stage's): each names a request a route serves and
/// what must come back.
fn checks(
    check: &mut Checker,
    raw: &[Spanned<RawCheck>],
    table: &str,
    routes: &[Route],
) -> Vec<Check> {
    raw.iter()
        .filter_map(|item| one_check(check, item, table, routes))
        .collect()
}

fn one_check(
    check: &mut Checker,
    item: &Spanned<RawCheck>,
    table: &str,
    routes: &[Route],
) -> Option<Check> {
    let raw = item.get_ref();
    let Some(request) = &raw.request else {
        check.error(
            item.span(),
            table,
            "a check without `request`".into(),
            "add e.g. `request = \"GET /health\"`",
        );
        return None;
    };
    let key = format!("{table}.request");
    let text = request.get_ref().trim();
    let line = match crate::contract::proxy::parse_request_line(text) {
        Ok(line) if Method::parse(&line.method).is_some_and(|m| m != Method::Any) => line,
        Ok(line) => {
            check.error(
                request.span(),
                &key,
                format!("`{}` is not an HTTP method", line.method),
                &format!("use one of {}", Method::ALL.join(", ")),
            );
            return None;
        }
        Err(problem) => {
            check.error(
                request.span(),
                &key,
                problem,
                "write `METHOD /path`, optionally with a query: `GET /orders/42?verbose=1`",
            );
            return None;
        }
    };
    if crate::contract::routes::find(routes, &line.method, &line.path).is_none() {
        let served: Vec<String> = routes.iter().map(Route::key).collect();
        check.error(
            request.span(),
            &key,
            format!(
                "no route in [routes] serves `{} {}`",
                line.method, line.path
            ),
            &if served.is_empty() {
                "add the route to [routes] first".to_string()
            } else {
                format!(
                    "a check runs a route's handler; routes: {}",
                    served.join(", ")
                )
            },
        );
        return None;
    }
    // Every problem of the check is reported, not only the first.
    let errors_before = check.errors.len();
    let status = match &raw.status {
        None => 200,
        Some(status) => match u16::try_from(*status.get_ref()) {
            Ok(code @ 100..=599) => code,
            _ => {
                check.error(
                    status.span(),
                    &format!("{table}.status"),
                    format!("{} is not an HTTP status", status.get_ref()),
                    "use a status from 100 to 599, e.g. 200",
                );
                0
            }
        },
    };
    let mut json = Vec::new();
    for (pointer, value) in &raw.json {
        // RFC 6901: empty (the whole document) or starting with `/`.
        if !(pointer.get_ref().is_empty() || pointer.get_ref().starts_with('/')) {
            check.error(
                pointer.span(),
                &format!("{table}.json"),
                format!("`{}` is not a JSON pointer", pointer.get_ref()),
                "pointers start with `/`: `\"/status\" = \"ok\"`, `\"/items/0/id\" = 7`",
            );
            continue;
        }
        let expected = serde_json::to_string(value.get_ref()).unwrap_or_default();
        json.push((pointer.get_ref().clone(), expected));
    }
    let headers = raw
        .headers
        .iter()
        .map(|(name, value)| (name.get_ref().to_ascii_lowercase(), value.get_ref().clone()))
        .collect();
    if check.errors.len() > errors_before {
        return None;
    }
    Some(Check {
        request: text.split_once(char::is_whitespace).map_or_else(
            || text.to_string(),
            |(method, target)| format!("{} {}", method.to_ascii_uppercase(), target.trim()),
        ),
        headers,
        body: raw.body.as_ref().map(|b| b.get_ref().clone()),
        status,
        contains: raw.contains.as_ref().map(|c| c.get_ref().clone()),
        json,
    })
}
