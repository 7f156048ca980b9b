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

/// A pool for `project` running `binary`: its HTTP function, or given
/// `event`, that event handler's function. Log lines are shown as steps
/// and, given `book`, kept there too.
pub(super) fn pool_for(
    project: &Project,
    event: Option<&config::EventFunction>,
    binary: PathBuf,
    concurrency: usize,
    global: &GlobalArgs,
    ui: &Ui,
    book: Option<LogBook>,
) -> Pool {
    let arns = local_arns(project, global);
    let host: Vec<(String, String)> = std::env::vars().collect();
    let printer = ui.clone();
    let sink: LogSink = Arc::new(move |request_id, line| {
        printer.step(format!("  {} | {line}", request_id.unwrap_or("init")));
        if let Some(book) = &book {
            let mut text = book.lock().unwrap_or_else(|p| p.into_inner());
            text.push_str(line);
            text.push('\n');
        }
    });
    Pool::new(
        binary,
        PoolConfig {
            env: lambda_env(project, event, &arns.region, &host),
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
    let pool = pool_for(&project, None, binary, args.concurrency, global, ui, None);
    if let Err(reason) = pool.warm().await {
        ui.warn(format!("the handler did not start: {reason}"));
    }
    let printer = ui.clone();
    let state = Arc::new(GatewayState {
        routes: RwLock::new(project.routes.clone()),
        pool: RwLock::new(pool),
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
    let mut banner = format!(
        "slx dev: {} (stage {}) on http://{address}\n",
        project.app, project.stage
    );
    for route in &project.routes {
        banner.push_str(&format!(
            "  {:<7} http://{address}{}  → {}\n",
            route.method.as_str(),
            route.path,
            route.served_by()
        ));
    }
    banner.push_str(if args.no_watch {
        "Ctrl-C to stop"
    } else {
        "watching for changes; Ctrl-C to stop"
    });
    ui.step(banner);

    let _watcher = if args.no_watch {
        None
    } else {
        let (ui, global, stage) = (ui.clone(), global.clone(), args.stage.clone());
        let (config_path, dir, state) = (config.path.clone(), app_dir.clone(), state.clone());
        let concurrency = args.concurrency;
        // On a change: rebuild and switch to the new binary and routes; a
        // failed build or an invalid slx.toml keeps the running version.
        Some(watch_sources(&app_dir, &config.path, move || {
            let (ui, global, stage) = (ui.clone(), global.clone(), stage.clone());
            let (config_path, dir, state) = (config_path.clone(), dir.clone(), state.clone());
            async move {
                reload(
                    &ui,
                    &global,
                    &stage,
                    concurrency,
                    &config_path,
                    &dir,
                    &state,
                )
                .await;
            }
        })?)
    };
    let app = gateway::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| miette::miette!("the local gateway stopped: {e}"))?;
    Ok(Outcome::Success)
}

async fn reload(
    ui: &Ui,
    global: &GlobalArgs,
    stage: &str,
    concurrency: usize,
    config_path: &Path,
    app_dir: &Path,
    state: &GatewayState,
) {
    let started = Instant::now();
    ui.step("change detected: rebuilding");
    let project = match config::load(config_path) {
        Ok(config) => match config::resolve(&config, stage) {
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
        let app_dir = app_dir.to_path_buf();
        let ui = ui.clone();
        tokio::task::spawn_blocking(move || handler::build_native(&project, &app_dir, &ui)).await
    };
    match built {
        Ok(Ok(binary)) => {
            let pool = pool_for(&project, None, binary, concurrency, global, ui, None);
            if let Err(reason) = pool.warm().await {
                ui.warn(format!("the new handler did not start: {reason}"));
            }
            // Requests in flight keep their clone of the old pool (and its
            // processes) until they finish; new requests use the new one.
            *state.pool.write().expect("lock poisoned") = pool;
            *state.routes.write().expect("lock poisoned") = project.routes.clone();
            ui.step(format!(
                "reloaded: {} routes, in {}",
                project.routes.len(),
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
