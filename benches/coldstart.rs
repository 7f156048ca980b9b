//! Cold start and memory of a handler binary: process start to the first
//! answer through slx's Runtime API, and the process's RSS after it.
//!
//! Usage: `cargo bench --bench coldstart -- BINARY [RUNS] [NAME=VALUE...]`
//! (extra environment); prints one
//! markdown row. Driven by scripts/bench-dev, which builds the binaries.

use std::time::{Duration, Instant};

use slx::contract::proxy::{GatewayContext, HttpRequest, MatchedRoute, rest_event};
use slx::local::runtime_api::{Answer, RuntimeApi};

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let Some(binary) = args.get(1) else {
        eprintln!("usage: coldstart BINARY [RUNS] [NAME=VALUE...]");
        std::process::exit(2);
    };
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(20);
    // NAME=VALUE pairs after the run count: extra environment (secrets'
    // references and where to fetch them, for scripts/bench-secrets).
    let extra: Vec<(String, String)> = args
        .iter()
        .skip(3)
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let request = HttpRequest {
        method: "POST".into(),
        path: "/hello".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"name":"Ada"}"#.to_vec(),
        source_ip: "127.0.0.1".into(),
        ..HttpRequest::default()
    };
    let route = MatchedRoute {
        resource: "/hello".into(),
        ..MatchedRoute::default()
    };
    let context = GatewayContext {
        stage: "bench".into(),
        request_id: "cold".into(),
        account_id: "000000000000".into(),
        api_id: "bench".into(),
        time_epoch_ms: 0,
        mapped: None,
    };
    let payload = serde_json::to_vec(&rest_event(&request, &route, &context)).unwrap();
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for run in 0..runs {
        let api = RuntimeApi::start("arn:aws:lambda:us-east-1:000000000000:function:bench")
            .await
            .unwrap();
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
            .envs(extra.iter().cloned())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let answer = api
            .invoke(
                &format!("cold-{run}"),
                payload.clone(),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        starts.push(started.elapsed());
        assert!(matches!(answer, Answer::Response(_)), "{answer:?}");
        if let Some(kib) = child.id().and_then(rss_kib) {
            rss.push(kib);
        }
        let _ = child.kill().await;
    }
    starts.sort();
    rss.sort_unstable();
    let median = starts[starts.len() / 2];
    let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
    println!(
        "| {} | {} | {:.1} ms | {:.1} ms | {} KiB |",
        std::path::Path::new(binary).display(),
        size,
        median.as_secs_f64() * 1000.0,
        starts.last().unwrap().as_secs_f64() * 1000.0,
        rss.get(rss.len() / 2).copied().unwrap_or(0)
    );
}
