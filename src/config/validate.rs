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
use super::keys::closest;
use super::limits;
use super::model::{
    Arch, CanarySpec, Check, Config, Method, Permission, Route, RoutePath, Segment, Settings,
    StageOverlay, Throttle, Vpc, api_routes,
};
use super::schema::{RawCheck, RawFile, RawPermission, RawRoute, RawSection, RawVpc, SpannedMap};

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
        .map(|app| section_settings(&mut check, app.get_ref(), "app"))
        .unwrap_or_default();
    // `[cors]` is a table of its own, beside `[app]`.
    settings.cors = raw
        .cors
        .as_ref()
        .and_then(|cors| super::cors::cors(&mut check, cors, "cors"));
    settings.usage_plan = raw
        .usage_plan
        .as_ref()
        .and_then(|plan| super::gateway::usage_plan(&mut check, plan, "usage_plan"));
    if let Some(app) = &raw.app {
        check_provisioned(&mut check, &Settings::default(), &settings, app, "app");
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
        check_stage_name(&mut check, stage.get_ref(), stage.span(), name.as_deref());
        let section_ref = section.get_ref();
        let table = format!("stages.{}", stage.get_ref());
        let mut overlay_settings = section_settings(&mut check, section_ref, &table);
        overlay_settings.domain = section_ref.domain.as_ref().and_then(|domain| {
            let region = overlay_settings
                .region
                .as_deref()
                .or(settings.region.as_deref());
            super::gateway::domain(&mut check, domain, &format!("{table}.domain"), region)
        });
        check_provisioned(&mut check, &settings, &overlay_settings, section, &table);
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
        check_env_size(
            &mut check,
            &merged,
            env_span.clone(),
            &format!("{table}.env"),
        );
        let stage_secrets = section_ref
            .secrets
            .as_ref()
            .map_or_else(BTreeMap::new, |raw| {
                super::secrets::secrets(&mut check, raw.get_ref(), &format!("{table}.secrets"))
            });
        let mut all_secrets = app_secrets.clone();
        all_secrets.extend(stage_secrets.clone());
        let clash_span = section_ref.secrets.as_ref().map_or(env_span, |s| s.span());
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
        if let Some(app) = &name {
            for handler in &app_events.handlers {
                let scheduled = matches!(handler.source, crate::config::EventSource::Schedule(_));
                if let Some(problem) =
                    limits::event_function_problem(app, stage.get_ref(), &handler.name, scheduled)
                {
                    check.error(
                        handler.span.clone(),
                        &format!("events.{}", handler.name),
                        format!("`{}` cannot be deployed to stage `{}`: {problem}", handler.name, stage.get_ref()),
                        "shorten the handler's table name (set `handler = \"...\"` to keep the function), the app name or the stage name",
                    );
                }
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
    check_env_size(&mut check, &env, env_span, "env");
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

fn check_stage_name(check: &mut Checker, stage: &str, span: Range<usize>, app: Option<&str>) {
    if let Some(problem) = limits::name_problem(stage) {
        check.error(
            span,
            "stages",
            format!("invalid stage name `{stage}`: {problem}"),
            "use lowercase letters, digits and `-`, starting with a letter, e.g. `prod`",
        );
        return;
    }
    if let Some(app) = app
        && let Some(problem) = limits::resource_name_problem(app, stage)
    {
        check.error(
            span,
            "stages",
            problem,
            "shorten the app name or the stage name",
        );
    }
}

fn section_settings(check: &mut Checker, section: &RawSection, table: &str) -> Settings {
    let arch = section.arch.as_ref().and_then(|arch| {
        let parsed = Arch::parse(arch.get_ref());
        if parsed.is_none() {
            let spelled = arch.get_ref().to_lowercase();
            let alias = match spelled.as_str() {
                "aarch64" | "arm" | "graviton" => Some("arm64"),
                "amd64" | "x86-64" | "x64" | "intel" => Some("x86_64"),
                _ => None,
            };
            let hint = match alias.or_else(|| closest(&spelled, &Arch::ALL)) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "use `x86_64` or `arm64`".into(),
            };
            check.error(
                arch.span(),
                &format!("{table}.arch"),
                format!("unknown arch `{}`", arch.get_ref()),
                &hint,
            );
        }
        parsed
    });
    let memory = ranged(
        check,
        &section.memory,
        table,
        "memory",
        limits::MEMORY_MB,
        "MB",
    );
    let timeout = ranged(
        check,
        &section.timeout,
        table,
        "timeout",
        limits::TIMEOUT_S,
        "seconds",
    );
    if let (Some(timeout), Some(raw)) = (timeout, &section.timeout)
        && timeout > limits::API_GATEWAY_TIMEOUT_S
    {
        check.warnings.push(
            ConfigIssue::new(
                raw.span(),
                &format!("{table}.timeout"),
                format!("timeout {timeout}s is above API Gateway's 29s integration limit"),
            )
            .with_help("callers through the API get a 504 after 29s; the function itself keeps running up to the timeout"),
        );
    }
    let log_retention_days = section.log_retention_days.as_ref().and_then(|days| {
        let value = *days.get_ref();
        if limits::RETENTION_DAYS
            .iter()
            .any(|d| i64::from(*d) == value)
        {
            Some(value as u32)
        } else {
            let nearest = limits::RETENTION_DAYS
                .iter()
                .min_by_key(|d| (i64::from(**d) - value).abs())
                .copied()
                .unwrap_or(14);
            check.error(
                days.span(),
                &format!("{table}.log_retention_days"),
                format!("CloudWatch does not accept a retention of {value} days"),
                &format!(
                    "the nearest accepted value is {nearest}; accepted: {}",
                    limits::RETENTION_DAYS.map(|d| d.to_string()).join(", ")
                ),
            );
            None
        }
    });
    let keep_versions = ranged(
        check,
        &section.keep_versions,
        table,
        "keep_versions",
        limits::KEEP_VERSIONS,
        "versions",
    );
    let region = section.region.as_ref().and_then(|region| {
        if limits::region_looks_valid(region.get_ref()) {
            Some(region.get_ref().clone())
        } else {
            check.error(
                region.span(),
                &format!("{table}.region"),
                format!("`{}` is not an AWS region name", region.get_ref()),
                "use a region code such as `eu-west-1` or `us-east-1`",
            );
            None
        }
    });
    let account = section.account.as_ref().and_then(|account| {
        if limits::account_looks_valid(account.get_ref()) {
            Some(account.get_ref().clone())
        } else {
            check.error(
                account.span(),
                &format!("{table}.account"),
                format!("`{}` is not an AWS account id", account.get_ref()),
                "an account id is 12 digits, e.g. \"123456789012\" (quoted: leading zeros count)",
            );
            None
        }
    });
    let profile = section.profile.as_ref().and_then(|profile| {
        let name = profile.get_ref();
        if !name.is_empty() && !name.chars().any(char::is_whitespace) {
            Some(name.clone())
        } else {
            check.error(
                profile.span(),
                &format!("{table}.profile"),
                format!("`{name}` is not an AWS profile name"),
                "use the name of a profile in ~/.aws/config, e.g. \"prod\"",
            );
            None
        }
    });
    let concurrency = ranged(
        check,
        &section.concurrency,
        table,
        "concurrency",
        limits::CONCURRENCY,
        "concurrent executions",
    );
    let throttle = section.throttle.as_ref().and_then(|throttle| {
        let inner = throttle.get_ref();
        let rate = *inner.rate.get_ref();
        let burst = *inner.burst.get_ref();
        let mut ok = true;
        if !(rate.is_finite() && rate > 0.0 && rate <= limits::THROTTLE_RATE_MAX) {
            ok = false;
            check.error(
                inner.rate.span(),
                &format!("{table}.throttle.rate"),
                format!("`rate` = {rate} is out of range"),
                &format!(
                    "requests per second, above 0 and at most {} (API Gateway's account default)",
                    limits::THROTTLE_RATE_MAX
                ),
            );
        }
        if !(0..=i64::from(limits::THROTTLE_BURST_MAX)).contains(&burst) {
            ok = false;
            check.error(
                inner.burst.span(),
                &format!("{table}.throttle.burst"),
                format!("`burst` = {burst} is out of range"),
                &format!(
                    "requests at once, 0 to {} (API Gateway's account default)",
                    limits::THROTTLE_BURST_MAX
                ),
            );
        }
        ok.then_some(Throttle {
            rate,
            burst: burst as u32,
        })
    });
    let canary = section.canary.as_ref().and_then(|canary| {
        let inner = canary.get_ref();
        let share = CanarySpec::parse_share(inner.share.get_ref()).map_err(|problem| {
            check.error(
                inner.share.span(),
                &format!("{table}.canary.share"),
                problem,
                "the new version's share while it is watched, e.g. \"10%\"",
            );
        });
        let watch = match &inner.watch {
            None => Ok(CanarySpec::DEFAULT_WATCH),
            Some(text) => CanarySpec::parse_watch(text.get_ref()).map_err(|problem| {
                check.error(
                    text.span(),
                    &format!("{table}.canary.for"),
                    problem,
                    "how long to watch before promoting, e.g. \"5m\"",
                );
            }),
        };
        Some(CanarySpec {
            percent: share.ok()?,
            watch: watch.ok()?,
        })
    });
    let ephemeral_storage = ranged(
        check,
        &section.ephemeral_storage,
        table,
        "ephemeral_storage",
        limits::EPHEMERAL_STORAGE_MB,
        "MB",
    );
    let layers = section
        .layers
        .as_ref()
        .and_then(|layers| check_layers(check, layers, table, region.as_deref()));
    let vpc = section
        .vpc
        .as_ref()
        .and_then(|vpc| check_vpc(check, vpc, table));
    let provisioned_concurrency = ranged(
        check,
        &section.provisioned_concurrency,
        table,
        "provisioned_concurrency",
        limits::CONCURRENCY,
        "instances",
    );
    Settings {
        arch,
        memory,
        timeout,
        region,
        account,
        profile,
        log_retention_days,
        keep_versions,
        throttle,
        concurrency,
        canary,
        provisioned_concurrency,
        ephemeral_storage,
        layers,
        tracing: section.tracing.as_ref().map(|t| *t.get_ref()),
        vpc,
        cors: section
            .cors
            .as_ref()
            .and_then(|cors| super::cors::cors(check, cors, &format!("{table}.cors"))),
        usage_plan: section.usage_plan.as_ref().and_then(|plan| {
            super::gateway::usage_plan(check, plan, &format!("{table}.usage_plan"))
        }),
        // A stage's; its region is checked once known (`validate`).
        domain: None,
    }
}

/// Lambda refuses more provisioned than reserved concurrency; checked on
/// what the stage ends up with (either may come from `[app]`).
// https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html
fn check_provisioned(
    check: &mut Checker,
    app: &Settings,
    stage: &Settings,
    section: &Spanned<RawSection>,
    table: &str,
) {
    let provisioned = stage
        .provisioned_concurrency
        .or(app.provisioned_concurrency);
    let reserved = stage.concurrency.or(app.concurrency);
    if let (Some(provisioned), Some(reserved)) = (provisioned, reserved)
        && provisioned > reserved
    {
        let span = section
            .get_ref()
            .provisioned_concurrency
            .as_ref()
            .map_or(section.span(), |p| p.span());
        check.error(
            span,
            &format!("{table}.provisioned_concurrency"),
            format!("{provisioned} instances kept warm, but `concurrency` reserves only {reserved}"),
            "Lambda refuses more provisioned than reserved concurrency: raise `concurrency` or lower `provisioned_concurrency`",
        );
    }
}

/// `layers = [...]`: layer version ARNs, at most Lambda's 5, of the
/// table's region when it names one (the deploy checks the region it
/// deploys to).
fn check_layers(
    check: &mut Checker,
    layers: &Spanned<Vec<Spanned<String>>>,
    table: &str,
    region: Option<&str>,
) -> Option<Vec<String>> {
    let key = format!("{table}.layers");
    let errors_before = check.errors.len();
    if layers.get_ref().len() > limits::LAYERS_MAX {
        check.error(
            layers.span(),
            &key,
            format!(
                "{} layers; Lambda attaches at most {}",
                layers.get_ref().len(),
                limits::LAYERS_MAX
            ),
            "merge layers, or move what they hold into the app",
        );
    }
    for layer in layers.get_ref() {
        match limits::layer_region(layer.get_ref()) {
            None => check.error(
                layer.span(),
                &key,
                format!("`{}` is not a layer version ARN", layer.get_ref()),
                "a layer version ARN: arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
            ),
            Some(layer_region) if region.is_some_and(|r| r != layer_region) => check.error(
                layer.span(),
                &key,
                format!(
                    "layer `{}` is in {layer_region}, the function in {}",
                    layer.get_ref(),
                    region.unwrap_or_default()
                ),
                "Lambda attaches only layers of the function's region: publish the layer there",
            ),
            Some(_) => {}
        }
    }
    let mut seen = Vec::new();
    for layer in layers.get_ref() {
        let name = layer.get_ref().rsplit_once(':').map(|(n, _)| n);
        if name.is_some() && seen.contains(&name) {
            check.error(
                layer.span(),
                &key,
                format!("two versions of layer `{}`", name.unwrap_or_default()),
                "a function takes one version of each layer",
            );
        }
        seen.push(name);
    }
    (check.errors.len() == errors_before).then(|| {
        layers
            .get_ref()
            .iter()
            .map(|l| l.get_ref().clone())
            .collect()
    })
}

/// `vpc = { subnets, security_groups }`: ids of the right shape, at
/// least one of each (Lambda names an id that does not exist itself).
fn check_vpc(check: &mut Checker, vpc: &Spanned<RawVpc>, table: &str) -> Option<Vpc> {
    let raw = vpc.get_ref();
    let errors_before = check.errors.len();
    let lists = [
        ("subnets", &raw.subnets, "subnet-", limits::VPC_SUBNETS_MAX),
        (
            "security_groups",
            &raw.security_groups,
            "sg-",
            limits::VPC_SECURITY_GROUPS_MAX,
        ),
    ];
    for (key, ids, prefix, max) in lists {
        let key_name = format!("{table}.vpc.{key}");
        if ids.is_empty() {
            check.error(
                vpc.span(),
                &key_name,
                format!("`vpc` needs at least one of `{key}`"),
                &format!("list the ids, e.g. `{key} = [\"{prefix}0123456789abcdef0\"]`"),
            );
        }
        if ids.len() > max {
            check.error(
                vpc.span(),
                &key_name,
                format!("{} {key}; Lambda takes at most {max}", ids.len()),
                "list fewer",
            );
        }
        for id in ids {
            if !limits::ec2_id_looks_valid(id.get_ref(), prefix) {
                check.error(
                    id.span(),
                    &key_name,
                    format!("`{}` is not a {prefix}... id", id.get_ref()),
                    &format!("EC2 ids look like `{prefix}0123456789abcdef0` (8 or 17 hex digits)"),
                );
            }
        }
    }
    if check.errors.len() > errors_before {
        return None;
    }
    check.warnings.push(
        ConfigIssue::new(vpc.span(), &format!("{table}.vpc"), "a function in a VPC reaches AWS APIs and the internet only through the VPC")
            .with_help("give its subnets a NAT gateway, or VPC endpoints for the services it calls (and CloudWatch Logs is reached by Lambda itself)"),
    );
    let ids = |list: &[Spanned<String>]| list.iter().map(|i| i.get_ref().clone()).collect();
    Some(Vpc {
        subnets: ids(&raw.subnets),
        security_groups: ids(&raw.security_groups),
    })
}

fn ranged(
    check: &mut Checker,
    value: &Option<Spanned<i64>>,
    table: &str,
    key: &str,
    range: (u32, u32),
    unit: &str,
) -> Option<u32> {
    let value = value.as_ref()?;
    let number = *value.get_ref();
    let (low, high) = range;
    if number < i64::from(low) || number > i64::from(high) {
        check.error(
            value.span(),
            &format!("{table}.{key}"),
            format!("`{key}` = {number} is out of range"),
            &format!("use a value from {low} to {high} {unit}"),
        );
        return None;
    }
    Some(number as u32)
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

fn check_env_size(
    check: &mut Checker,
    env: &BTreeMap<String, String>,
    span: Range<usize>,
    table: &str,
) {
    let size = limits::env_size(env);
    if size > limits::ENV_BYTES {
        check.error(
            span,
            table,
            format!(
                "environment is {size} bytes; Lambda allows {} in total",
                limits::ENV_BYTES
            ),
            "move large values to SSM Parameter Store or Secrets Manager and read them at start-up",
        );
    }
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
