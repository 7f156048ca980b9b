//! `slx-sim`: the simulator as a program, for scripts and the demo.
//!
//!     slx-sim --upstream http://127.0.0.1:5000 [--port N] [--realistic]
//!             [--time-scale F] [--seed N] [--behaviours JSON]
//!
//! Prints `slx-sim listening on http://127.0.0.1:PORT` and serves until
//! stopped (Ctrl-C or SIGTERM).

use slx_sim::{Behaviours, Simulator};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut upstream = None;
    let mut port = 0u16;
    let mut behaviours = Behaviours::default();
    let mut overrides: Vec<(&'static str, String)> = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--upstream" => upstream = Some(value()),
            "--port" => {
                port = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--port takes a number"))
            }
            "--realistic" => behaviours = Behaviours::realistic(),
            "--time-scale" => overrides.push(("time_scale", value())),
            "--seed" => overrides.push(("seed", value())),
            "--behaviours" => {
                behaviours = serde_json::from_str(&value())
                    .unwrap_or_else(|e| usage(&format!("--behaviours is not valid: {e}")))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    for (key, value) in overrides {
        match key {
            "time_scale" => {
                behaviours.time_scale = value
                    .parse()
                    .unwrap_or_else(|_| usage("--time-scale takes a number"))
            }
            _ => {
                behaviours.seed = value
                    .parse()
                    .unwrap_or_else(|_| usage("--seed takes a number"))
            }
        }
    }
    let upstream = upstream.unwrap_or_else(|| usage("--upstream is required"));
    let simulator = Simulator::start_on(&upstream, behaviours, port).unwrap_or_else(|e| {
        eprintln!("slx-sim: cannot listen: {e}");
        std::process::exit(1)
    });
    println!("slx-sim listening on {}", simulator.endpoint);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("slx-sim: {e}");
            std::process::exit(1)
        });
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    });
    drop(simulator);
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("slx-sim: {problem}");
    }
    eprintln!(
        "usage: slx-sim --upstream URL [--port N] [--realistic] [--time-scale F] [--seed N] [--behaviours JSON]"
    );
    std::process::exit(2)
}
