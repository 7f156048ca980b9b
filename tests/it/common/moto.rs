//! A moto server per test at a time (stock `moto_server`, real HTTP),
//! the SDK clients pointed at it, and a count of the requests slx sent,
//! through moto's own request recorder.
//!
//! Servers are pooled: a test takes one (started only when none is
//! free, so there are at most as many as tests run at once), and gives
//! it back when it ends; the next test gets it emptied by moto's own
//! reset (every backend of every account and region) and a fresh
//! recording. A test that panics gives back nothing: its server is
//! stopped, so a process it left behind cannot write into another
//! test's AWS.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use base64::Engine;

/// One running `moto_server`.
struct Server {
    child: Child,
    endpoint: String,
    /// moto's recorder appends to one file per server; a shared default
    /// file would mix the requests of tests running in parallel.
    _workdir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `moto_server`, as a program that also exits once the test binary
/// that started it is gone: the pool's servers live until the process
/// ends, and no destructor runs then.
const UNTIL_PARENT_EXITS: &str = "\
import os, sys, threading, time
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
";

/// The Python that runs `moto_server` (the one on PATH: scripts/test
/// puts .venv/bin first).
pub(crate) fn python_beside_moto() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("moto_server").is_file())
        .map(|dir| dir.join("python3"))
        .expect("moto_server must be on PATH: run the tests through scripts/test (it installs moto into .venv)")
}

/// Servers no test holds.
static IDLE: Mutex<Vec<Server>> = Mutex::new(Vec::new());

impl Server {
    fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let workdir = tempfile::tempdir().unwrap();
        let child = Command::new(python_beside_moto())
            .args([
                "-c",
                UNTIL_PARENT_EXITS,
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .current_dir(workdir.path())
            .env(
                "MOTO_RECORDER_FILEPATH",
                workdir.path().join("recording.jsonl"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto's Python starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while ureq::get(&format!("{endpoint}/moto-api/data.json"))
            .call()
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        super::record_time("moto server started", started.elapsed(), "started");
        Server {
            child,
            endpoint,
            _workdir: workdir,
        }
    }

    /// Empties every backend and the recording: as good as a new server.
    fn reset(&self) {
        for path in [
            "/moto-api/reset",
            "/moto-api/recorder/stop-recording",
            "/moto-api/recorder/reset-recording",
        ] {
            ureq::post(&format!("{}{path}", self.endpoint))
                .send_empty()
                .unwrap();
        }
    }
}

/// The moto server a test holds, empty when it got it.
pub(crate) struct Moto {
    server: Option<Server>,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(server) = self.server.take()
            && !std::thread::panicking()
        {
            IDLE.lock().unwrap_or_else(|p| p.into_inner()).push(server);
        }
    }
}

/// One request slx made, classified.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub service: String,
    pub action: String,
    pub mutating: bool,
    pub url: String,
    pub headers: serde_json::Value,
    pub body: String,
}

impl Moto {
    /// An empty moto: an idle server of the pool, reset, or a new one.
    pub(crate) fn start() -> Moto {
        let idle = IDLE.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let server = match idle {
            Some(server) => {
                server.reset();
                server
            }
            None => Server::start(),
        };
        Moto {
            endpoint: server.endpoint.clone(),
            server: Some(server),
        }
    }

    fn post(&self, path: &str) {
        ureq::post(&format!("{}{path}", self.endpoint))
            .send_empty()
            .unwrap();
    }

    pub(crate) fn start_recording(&self) {
        self.post("/moto-api/recorder/reset-recording");
        self.post("/moto-api/recorder/start-recording");
    }

    /// Stops recording and returns what was recorded.
    /// The OpenAPI documents imported (`PutRestApi`) since recording
    /// started, in order (stops the recording).
    pub(crate) fn recorded_imports(&self) -> Vec<serde_json::Value> {
        self.recorded()
            .into_iter()
            .filter(|r| r.action.starts_with("PUT /restapis/"))
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }

    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.post("/moto-api/recorder/stop-recording");
        let text = ureq::get(&format!(
            "{}/moto-api/recorder/download-recording",
            self.endpoint
        ))
        .call()
        .unwrap()
        .body_mut()
        // Each function's zip is in the recording (base64): a stage of
        // several functions passes ureq's default limit of 10 MB.
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_to_string()
        .unwrap();
        // moto's server threads may append two records with no newline
        // between them: read a stream of JSON values, not lines.
        serde_json::Deserializer::from_str(&text)
            .into_iter::<serde_json::Value>()
            .map(|record| classify(&record.unwrap()))
            .collect()
    }

    /// Stops recording and returns the writes recorded, by action.
    pub(crate) fn writes(&self) -> Vec<String> {
        self.recorded()
            .into_iter()
            .filter(|r| r.mutating)
            .map(|r| r.action)
            .collect()
    }

    pub(crate) async fn config(&self) -> aws_config::SdkConfig {
        self.config_in("us-east-1")
    }

    /// SDK configuration for `region` of this moto.
    pub(crate) fn config_in(&self, region: &str) -> aws_config::SdkConfig {
        sdk_config(&self.endpoint, region)
    }
}

/// SDK configuration for `region` of a local AWS at `endpoint` (moto, or
/// slx-sim in front of it), with the test credentials.
pub(crate) fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .build()
}

fn classify(record: &serde_json::Value) -> Recorded {
    let headers = &record["headers"];
    let authorization = headers["Authorization"].as_str().unwrap_or_default();
    // Credential=test/20261126/us-east-1/<service>/aws4_request
    let service = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    let method = record["method"].as_str().unwrap_or_default().to_string();
    let body = match (record["body"].as_str(), record["body_encoded"].as_bool()) {
        (Some(b), Some(true)) => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default(),
        )
        .unwrap_or_default(),
        (Some(b), _) => b.to_string(),
        _ => String::new(),
    };
    let (action, mutating) = if let Some(target) = headers["X-Amz-Target"].as_str() {
        let action = target.rsplit('.').next().unwrap_or(target).to_string();
        let read = ["Describe", "Get", "List", "Filter"]
            .iter()
            .any(|p| action.starts_with(p));
        (action, !read)
    } else if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        let read = ["Get", "List", "Describe"]
            .iter()
            .any(|p| action.starts_with(p));
        (action.to_string(), !read)
    } else {
        let url = record["url"].as_str().unwrap_or_default();
        let path = url.splitn(4, '/').nth(3).unwrap_or_default();
        (
            format!("{method} /{path}"),
            method != "GET" && method != "HEAD",
        )
    };
    Recorded {
        service,
        action,
        mutating,
        url: record["url"].as_str().unwrap_or_default().to_string(),
        headers: headers.clone(),
        body,
    }
}
