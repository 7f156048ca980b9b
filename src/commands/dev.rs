//! `slx dev`: build natively, start the handler pool and the local API
//! Gateway, rebuild on changes. Also the local half of `slx invoke`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::{Outcome, load_config, project_dir};
use crate::cli::{DevArgs, GlobalArgs};
use crate::config::{self, Project};
use crate::handler;
use crate::local::environment::lambda_env;
use crate::local::event_sources::{self, EventSources};
use crate::local::gateway::{self, AccessEntry, GatewayState};
use crate::local::pool::{LogSink, Pool, PoolConfig};
use crate::local::watch::watch_sources;
use crate::names::StageArns;
use crate::ui::{self, Ui};

/// The region a local run plays in: `--region`, slx.toml, `AWS_REGION`.
pub(super) fn local_region(project: &Project, global: &GlobalArgs) -> String {
    global
        .region
        .clone()
        .or_else(|| project.region.clone())
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into())
}

/// The stage's names placed in the local region, with the account id
/// Lambda's local emulators use.
pub(super) fn local_arns(project: &Project, global: &GlobalArgs) -> StageArns {
    StageArns::new(
        project.names(),
        &local_region(project, global),
        "000000000000",
        "",
    )
}

/// Every line the local function printed, for a report's `log_tail`.
pub(super) type LogBook = Arc<std::sync::Mutex<String>>;

/// Where a local run happens: the stage, the app, and how to report.
pub(super) struct Local<'a> {
    pub(super) project: &'a Project,
    pub(super) app_dir: &'a Path,
    pub(super) global: &'a GlobalArgs,
    pub(super) ui: &'a Ui,
}

/// A pool for the stage running `binary`: its HTTP function, or given
/// `event`, that event handler's function. Log lines are shown as steps
/// and, given `book`, kept there too.
pub(super) fn pool_for(
    local: &Local<'_>,
    event: Option<&config::EventFunction>,
    binary: PathBuf,
    concurrency: usize,
    book: Option<LogBook>,
) -> Pool {
    let Local {
        project,
        app_dir,
        global,
        ui,
    } = *local;
    let arns = local_arns(project, global);
    let host: Vec<(String, String)> = std::env::vars().collect();
    let printer = ui.clone();
    let sink: LogSink = Arc::new(move |request_id, line| {
        printer.step(format!(
            "  {} | {}",
            request_id.unwrap_or("init"),
            crate::ui::printable(line)
        ));
        if let Some(book) = &book {
            let mut text = book.lock().unwrap_or_else(|p| p.into_inner());
            text.push_str(line);
            text.push('\n');
        }
    });
    let mut env = lambda_env(project, event, &arns.region, &host);
    match crate::local::environment::local_secret_values(app_dir) {
        Ok(values) => env = crate::local::environment::with_local_secrets(env, &values),
        Err(problem) => ui.warn(problem),
    }
    Pool::new(
        binary,
        PoolConfig {
            env,
            timeout: Duration::from_secs(u64::from(event.map_or(project.timeout, |e| e.timeout_s))),
            concurrency,
            function_arn: match event {
                Some(event) => arns.event_function_arn(&event.handler.name),
                None => arns.function_arn(),
            },
            sink,
        },
    )
}

/// How slx dev checks Cognito tokens: against `--jwks FILE`, or, with
/// `--trust-jwt`, not at all (said on every start).
fn token_signatures(
    args: &DevArgs,
    ui: &Ui,
) -> miette::Result<Option<crate::local::jwt::Signatures>> {
    use crate::local::jwt::{Jwks, Signatures};
    if let Some(path) = &args.jwks {
        let text = std::fs::read_to_string(path).map_err(|e| {
            miette::miette!(
                help = "download it from https://cognito-idp.REGION.amazonaws.com/POOL_ID/.well-known/jwks.json",
                "cannot read {}: {e}",
                path.display()
            )
        })?;
        let jwks = Jwks::parse(&text).map_err(|e| {
            miette::miette!(
                help = "use the pool's .well-known/jwks.json as Cognito serves it",
                "{} is not a JWKS: {e}",
                path.display()
            )
        })?;
        return Ok(Some(Signatures::Verified(jwks)));
    }
    if args.trust_jwt {
        ui.alert(
            "--trust-jwt: Cognito tokens are accepted WITHOUT checking their signature; their issuer, expiry and scopes are still checked. Never expose this server",
        );
        return Ok(Some(Signatures::Trusted));
    }
    Ok(None)
}

/// The key slx dev accepts on routes with `api_key = true`:
/// `SLX_DEV_API_KEY`, or a new random one per run (never a deployed
/// stage's: those stay in AWS).
fn dev_api_key() -> String {
    std::env::var("SLX_DEV_API_KEY")
        .ok()
        .filter(|key| !key.is_empty())
        .unwrap_or_else(|| format!("slx-dev-{}", uuid::Uuid::new_v4().simple()))
}

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: DevArgs) -> miette::Result<Outcome> {
    let config = load_config(ui, global)?;
    let project = config::resolve(&config, &args.stage)?;
    let app_dir = project_dir(&config);
    ui.step(format!("building {} for this machine", project.app));
    let binary = {
        let project = project.clone();
        let app_dir = app_dir.clone();
        let ui = ui.clone();
        tokio::task::spawn_blocking(move || handler::build_native(&project, &app_dir, &ui))
            .await
            .map_err(|e| miette::miette!("the build task failed: {e}"))??
    };
    let local = Local {
        project: &project,
        app_dir: &app_dir,
        global,
        ui,
    };
    let pool = pool_for(&local, None, binary.clone(), args.concurrency, None);
    if let Err(reason) = pool.warm().await {
        ui.warn(format!("the handler did not start: {reason}"));
    }
    let schedules = !args.no_schedules;
    let events = Arc::new(std::sync::Mutex::new(start_events(
        &project,
        &binary,
        &app_dir,
        args.concurrency,
        schedules,
        global,
        ui,
    )));
    let printer = ui.clone();
    let api_key = dev_api_key();
    let signatures = token_signatures(&args, ui)?;
    let state = Arc::new(GatewayState {
        routes: RwLock::new(project.routes.clone()),
        rules: RwLock::new(gateway::GatewayRules::of(
            &project,
            &api_key,
            signatures.as_ref(),
        )),
        pool: RwLock::new(pool),
        authorizers: Default::default(),
        stage: project.stage.clone(),
        access_log: Arc::new(move |entry: &AccessEntry| {
            let note = entry
                .note
                .as_deref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default();
            printer.step(format!(
                "{} {} → {} in {} ms  [{}]{note}",
                entry.method, entry.path, entry.status, entry.millis, entry.request_id
            ));
        }),
    });
    let by_route = crate::handler::authorizers_by_route(&project, &app_dir);
    for authorizer in &project.authorizers {
        if let Some(note) = authorizer.caching_note(by_route.contains(&authorizer.name)) {
            ui.warn(note);
        }
    }
    state.authorizers.set(
        authorizer_pools(&local, &binary, args.concurrency),
        local_arns(&project, global),
        by_route,
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| {
            miette::miette!(
                help = "pick another port with --port",
                "cannot listen on 127.0.0.1:{}: {e}",
                args.port
            )
        })?;
    let address = listener.local_addr().map_err(|e| miette::miette!("{e}"))?;
    // Under a mapped domain's base path, as the stage's callers call it.
    let base = crate::contract::proxy::MappedDomain::of(project.domain.as_ref())
        .map(|mapped| mapped.prefix())
        .unwrap_or_default();
    let mut banner = format!(
        "slx dev: {} (stage {}) on http://{address}{base}\n",
        project.app, project.stage
    );
    for route in &project.routes {
        let mut guards = Vec::new();
        match &route.auth {
            Some(crate::config::RouteAuth::Iam) => guards.push("IAM".to_string()),
            Some(crate::config::RouteAuth::Authorizer { name, .. }) => {
                guards.push(format!("authorizer {name}"))
            }
            None => {}
        }
        if route.api_key {
            guards.push("API key".into());
        }
        banner.push_str(&format!(
            "  {:<7} http://{address}{}  → {}{}\n",
            route.method.as_str(),
            route.path,
            route.served_by(),
            match guards.is_empty() {
                true => String::new(),
                false => format!("  ({})", guards.join(", ")),
            }
        ));
    }
    let cognito = project
        .authorizers
        .iter()
        .any(|a| matches!(a.kind, crate::config::AuthorizerKind::Cognito { .. }));
    if cognito && signatures == Some(crate::local::jwt::Signatures::Trusted) {
        banner.push_str(
            "  Cognito tokens are accepted WITHOUT checking their signature (--trust-jwt)\n",
        );
    }
    if cognito && signatures.is_none() {
        banner.push_str(
            "  Cognito tokens cannot be checked: their routes answer 401 until slx dev runs with --jwks FILE (the pool's JWKS) or --trust-jwt\n",
        );
    }
    if project.routes.iter().any(|route| route.api_key) {
        banner.push_str(&format!(
            "  API key for routes with api_key = true: {api_key}  (send it as x-api-key; SLX_DEV_API_KEY sets it)\n"
        ));
    }
    banner.push_str(&events_banner(&project, &app_dir, schedules));
    banner.push_str(if args.no_watch {
        "Ctrl-C to stop"
    } else {
        "watching for changes; Ctrl-C to stop"
    });
    ui.step(banner);

    let _watcher = if args.no_watch {
        None
    } else {
        let reloader = Arc::new(Reloader {
            ui: ui.clone(),
            global: global.clone(),
            stage: args.stage.clone(),
            concurrency: args.concurrency,
            schedules,
            config_path: config.path.clone(),
            app_dir: app_dir.clone(),
            state: state.clone(),
            events: events.clone(),
        });
        // On a change: rebuild and switch to the new binary, routes and
        // event handlers; a failed build or an invalid slx.toml keeps the
        // running version.
        Some(watch_sources(&app_dir, &config.path, move || {
            let reloader = reloader.clone();
            async move { reloader.reload().await }
        })?)
    };
    let names = crate::local::host_guard::LocalNames {
        port: address.port(),
        extra: args
            .allow_host
            .iter()
            .map(|name| name.to_ascii_lowercase())
            .collect(),
    };
    let app = crate::local::host_guard::guarded(gateway::router(state), names)
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| miette::miette!("the local gateway stopped: {e}"))?;
    Ok(Outcome::Success)
}

/// What a rebuild replaces, and with which settings.
struct Reloader {
    ui: Ui,
    global: GlobalArgs,
    stage: String,
    concurrency: usize,
    schedules: bool,
    config_path: PathBuf,
    app_dir: PathBuf,
    state: Arc<GatewayState>,
    events: Arc<std::sync::Mutex<Option<EventSources>>>,
}

impl Reloader {
    async fn reload(&self) {
        let (ui, global, concurrency) = (&self.ui, &self.global, self.concurrency);
        let started = Instant::now();
        ui.step("change detected: rebuilding");
        let project = match config::load(&self.config_path) {
            Ok(config) => match config::resolve(&config, &self.stage) {
                Ok(project) => project,
                Err(error) => {
                    ui.warn(format!("{error}; still serving the previous version"));
                    return;
                }
            },
            Err(error) => {
                eprintln!("{:?}", miette::Report::new(error));
                ui.warn("slx.toml is invalid; still serving the previous version");
                return;
            }
        };
        let built = {
            let project = project.clone();
            let app_dir = self.app_dir.clone();
            let ui = ui.clone();
            tokio::task::spawn_blocking(move || handler::build_native(&project, &app_dir, &ui))
                .await
        };
        match built {
            Ok(Ok(binary)) => {
                let local = Local {
                    project: &project,
                    app_dir: &self.app_dir,
                    global,
                    ui,
                };
                let pool = pool_for(&local, None, binary.clone(), concurrency, None);
                if let Err(reason) = pool.warm().await {
                    ui.warn(format!("the new handler did not start: {reason}"));
                }
                // Requests in flight keep their clone of the old pool (and
                // its processes) until they finish; new requests use the
                // new one.
                *self.state.pool.write().expect("lock poisoned") = pool;
                self.state.authorizers.set(
                    authorizer_pools(&local, &binary, concurrency),
                    local_arns(&project, global),
                    crate::handler::authorizers_by_route(&project, &self.app_dir),
                );
                *self.state.routes.write().expect("lock poisoned") = project.routes.clone();
                let mut rules = self.state.rules.write().expect("lock poisoned");
                *rules =
                    gateway::GatewayRules::of(&project, &rules.api_key, rules.signatures.as_ref());
                drop(rules);
                // The old sources stop (their events in flight finish).
                let events = start_events(
                    &project,
                    &binary,
                    &self.app_dir,
                    concurrency,
                    self.schedules,
                    global,
                    ui,
                );
                *self.events.lock().unwrap_or_else(|p| p.into_inner()) = events;
                ui.step(format!(
                    "reloaded: {} routes, {} event handlers, in {}",
                    project.routes.len(),
                    project.events.len(),
                    ui::seconds(started.elapsed())
                ));
            }
            Ok(Err(error)) => {
                eprintln!("{:?}", miette::Report::new(error));
                ui.warn("the build failed; still serving the previous version");
            }
            Err(error) => ui.warn(format!("the build task failed: {error}")),
        }
    }
}

/// The stage's event handlers run from `binary` (one pool each): their
/// bucket folders and schedules. A folder that cannot be watched is said
/// and the rest of `slx dev` goes on.
fn start_events(
    project: &Project,
    binary: &Path,
    app_dir: &Path,
    concurrency: usize,
    schedules: bool,
    global: &GlobalArgs,
    ui: &Ui,
) -> Option<EventSources> {
    // Authorizers have no source: the gateway asks them (`authorizer_pools`).
    let handlers = project
        .events
        .iter()
        .filter(|event| !matches!(event.handler.source, config::EventSource::Authorizer(_)))
        .map(|event| {
            let local = Local {
                project,
                app_dir,
                global,
                ui,
            };
            let pool = pool_for(&local, Some(event), binary.to_path_buf(), concurrency, None);
            (event.clone(), pool)
        })
        .collect::<Vec<_>>();
    if handlers.is_empty() {
        return None;
    }
    let printer = ui.clone();
    let runner = event_sources::Runner {
        handlers,
        arns: local_arns(project, global),
        report: Arc::new(move |line| printer.step(line)),
    };
    match event_sources::start(app_dir, runner, schedules) {
        Ok(sources) => Some(sources),
        Err(error) => {
            ui.warn(format!("{error}; the S3 handlers will not run locally"));
            None
        }
    }
}

/// A pool per function authorizer, which the gateway asks about calls.
fn authorizer_pools(
    local: &Local<'_>,
    binary: &Path,
    concurrency: usize,
) -> std::collections::BTreeMap<String, Pool> {
    local
        .project
        .events
        .iter()
        .filter(|event| matches!(event.handler.source, config::EventSource::Authorizer(_)))
        .map(|event| {
            let pool = pool_for(local, Some(event), binary.to_path_buf(), concurrency, None);
            (event.handler.name.clone(), pool)
        })
        .collect()
}

/// The banner's lines for the event handlers: where each is triggered.
fn events_banner(project: &Project, app_dir: &Path, schedules: bool) -> String {
    let now = jiff::Timestamp::now();
    let mut text = String::new();
    for event in &project.events {
        let name = &event.handler.name;
        let line = match &event.handler.source {
            config::EventSource::S3(source) => {
                let dir = event_sources::bucket_dir(app_dir, &source.bucket);
                let relative = dir.strip_prefix(app_dir).unwrap_or(&dir);
                format!(
                    "  S3       {}/{}*{}  → {name}",
                    relative.display(),
                    source.prefix.as_deref().unwrap_or_default(),
                    source.suffix.as_deref().unwrap_or_default()
                )
            }
            config::EventSource::Schedule(source) if schedules => {
                match event_sources::next_run(event, now, now) {
                    Some(next) => {
                        format!("  schedule {}, next {next}  → {name}", source.expression)
                    }
                    None => format!("  schedule {}, no run ahead  → {name}", source.expression),
                }
            }
            config::EventSource::Schedule(source) => {
                format!(
                    "  schedule {} (off: --no-schedules)  → {name}",
                    source.expression
                )
            }
            config::EventSource::Sqs(source) => format!(
                "  SQS      {}  → {name}  (a batch: slx invoke --local --handler {name} --data ...)",
                source.queue
            ),
            config::EventSource::Authorizer(_) => format!(
                "  authorizer {name}  → {}  (asked about each call of its routes)",
                event.handler.handler
            ),
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}
