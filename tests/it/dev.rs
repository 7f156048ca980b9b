//! `slx dev` and `slx invoke --local` end to end: the scaffold (plus test
//! handlers) built natively, served through the local API Gateway and the
//! per-process Runtime APIs, exercised over real HTTP.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::app::add_extra_handlers;
use crate::common::process::Watched;
use crate::common::{BUILD_LOCK, run, scaffold, shared_target_dir, slx, stdout_json};

pub(crate) struct Dev {
    process: Watched,
    pub(crate) url: String,
    banner: String,
}

impl Dev {
    pub(crate) fn start(dir: &Path) -> Dev {
        Dev::start_with(dir, &["--concurrency", "8"])
    }

    pub(crate) fn start_with(dir: &Path, args: &[&str]) -> Dev {
        let process = Watched::spawn(
            Command::new(env!("CARGO_BIN_EXE_slx"))
                .current_dir(dir)
                .args(["dev", "--port", "0"])
                .args(args)
                .env("CARGO_TARGET_DIR", shared_target_dir())
                .env("NO_COLOR", "1"),
            "[slx dev]",
        );
        let banner = process.wait_for("slx dev: ", Duration::from_secs(600));
        Dev {
            url: banner.rsplit(" on ").next().unwrap().to_string(),
            banner,
            process,
        }
    }
}

/// Its stderr's lines, as [`Watched`] reads them.
impl std::ops::Deref for Dev {
    type Target = Watched;

    fn deref(&self) -> &Watched {
        &self.process
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

pub(crate) fn call(
    method: &str,
    url: &str,
    body: Option<(&str, &[u8])>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    match (method, body) {
        ("GET", _) => send("GET", url, &[("user-agent", "dev-test")], None),
        (_, Some((content_type, bytes))) => {
            send("POST", url, &[("content-type", content_type)], Some(bytes))
        }
        (_, None) => send("POST", url, &[], Some(b"")),
    }
}

/// Any request (method, headers, body): status, headers, body.
pub(crate) fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut response = match body {
        Some(body) => agent().run(builder.body(body.to_vec()).unwrap()),
        None => agent().run(builder.body(()).unwrap()),
    }
    .unwrap();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let bytes = response.body_mut().read_to_vec().unwrap();
    (response.status().as_u16(), headers, bytes)
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(bytes)))
}

/// The scaffold with the test handlers (crash, sleepy, ...), its
/// functions' timeout 2 s.
fn with_test_handlers() -> (tempfile::TempDir, std::path::PathBuf) {
    let (temp, dir) = scaffold("shop");
    add_extra_handlers(&dir);
    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("timeout = 10", "timeout = 2")).unwrap();
    (temp, dir)
}

/// The scaffold with the test handlers (timeout 2 s) served by one
/// `slx dev` that the cases which only send requests share: none edits
/// the app, so it never rebuilds, and the build lock is held only while
/// it starts. Each case waits for lines after its own `mark`.
fn served() -> &'static Dev {
    static SERVED: OnceLock<(tempfile::TempDir, Dev)> = OnceLock::new();
    let (_, dev) = SERVED.get_or_init(|| {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let (temp, dir) = with_test_handlers();
        let dev = Dev::start(&dir);
        (temp, dev)
    });
    dev
}

#[test]
fn dev_serves_every_route_with_its_path_parameters_and_the_stages_env() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    // Every route, path parameters, the stage's env.
    let (status, headers, body) = call(
        "POST",
        &format!("{url}/greet"),
        Some(("application/json", br#"{"name":"Ada"}"#)),
    );
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "content-type" && v == "application/json")
    );
    assert_eq!(json(&body)["message"], "hello, Ada!");
    let (status, _, body) = call(
        "POST",
        &format!("{url}/orders/42"),
        Some(("application/json", br#"{"item":"tea","quantity":2}"#)),
    );
    assert_eq!((status, json(&body)["id"].as_str()), (200, Some("42")));
    let (status, _, body) = call("GET", &format!("{url}/health"), None);
    assert_eq!((status, json(&body)["status"].as_str()), (200, Some("ok")));
}

#[test]
fn dev_passes_query_strings_and_headers_and_returns_the_handlers_status() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    // Query strings and headers reach the handler; its status comes back.
    let (status, _, body) = call("GET", &format!("{url}/search?page=7"), None);
    assert_eq!(status, 206);
    assert_eq!(
        json(&body),
        serde_json::json!({"page": 7, "agent": "dev-test"})
    );
    let (status, headers, body) = call("GET", &format!("{url}/raw/a/b"), None);
    assert_eq!(
        (status, body.as_slice()),
        (418, b"short and stout".as_slice())
    );
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "x-path" && v.ends_with("/raw/a/b"))
    );
}

#[test]
fn dev_passes_binary_bodies_as_api_gateway_does_and_says_why_when_not() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    let mark = dev.mark();
    // Binary bodies round trip byte for byte (base64 both ways, as API
    // Gateway does for binary_media_types and a client that accepts one).
    let bytes: Vec<u8> = (0..=255).collect();
    let binary = |path: &str, content_type: &str, accept: &str| {
        send(
            "POST",
            &format!("{url}{path}"),
            &[("content-type", content_type), ("accept", accept)],
            Some(&bytes),
        )
    };
    let octets = "application/octet-stream";
    let (status, _, body) = binary("/bytes", octets, octets);
    assert_eq!((status, body == bytes), (200, true));
    let (status, headers, body) = binary("/thumbs/7", "image/png", "image/png");
    let mut expected = b"7\0".to_vec();
    expected.extend(bytes.iter().rev());
    assert_eq!((status, body == expected), (200, true));
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "content-type" && v == octets)
    );
    // curl's default `Accept: */*` is no binary media type here: the
    // client gets the base64 text, as from API Gateway, and slx dev says
    // why.
    let (status, _, body) = binary("/bytes", octets, "*/*");
    use base64::Engine;
    assert_eq!(
        (status, body),
        (
            200,
            base64::engine::general_purpose::STANDARD
                .encode(&bytes)
                .into_bytes()
        )
    );
    dev.wait_for_after(
        mark,
        "passes it on as base64 text: the request's Accept (*/*) is no binary media type; send `Accept: application/octet-stream`",
        Duration::from_secs(10),
    );
    // A type not listed reaches the function as text, damaged.
    let (status, _, body) = binary("/bytes", "application/x-custom", octets);
    assert_eq!(status, 200);
    assert_ne!(body, bytes);
    assert!(String::from_utf8(body).unwrap().contains('\u{fffd}'));
    dev.wait_for_after(
        mark,
        "application/x-custom is no binary media type: API Gateway passes it as text and damages it; add `application/x-custom` to [app] binary_media_types",
        Duration::from_secs(10),
    );
}

#[test]
fn dev_answers_bad_json_with_the_handlers_400_and_unknown_routes_with_403() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    // Bad JSON: the handler's 400. No route, wrong method: API Gateway's 403.
    let (status, _, body) = call(
        "POST",
        &format!("{url}/greet"),
        Some(("application/json", b"{nope")),
    );
    assert_eq!(status, 400);
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("invalid JSON body")
    );
    let (status, _, body) = call("GET", &format!("{url}/nowhere"), None);
    assert_eq!(
        (status, json(&body)["message"].as_str()),
        (403, Some("Missing Authentication Token"))
    );
    let (status, _, _) = call("GET", &format!("{url}/greet"), None);
    assert_eq!(status, 403);
}

#[test]
fn dev_answers_a_handler_error_or_panic_with_a_500_that_leaks_nothing() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    // A handler error and a panic: 500 with the request id only.
    let (status, _, body) = call(
        "POST",
        &format!("{url}/orders/1"),
        Some(("application/json", br#"{"item":"tea","quantity":0}"#)),
    );
    assert_eq!(status, 500);
    assert_eq!(json(&body)["message"], "Internal server error");
    let (status, _, _) = call("GET", &format!("{url}/boom"), None);
    assert_eq!(status, 500);
}

#[test]
fn dev_stops_a_handler_at_its_timeout_with_504_and_serves_the_next() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    let mark = dev.mark();
    // The timeout (2 s here) is enforced: 504, and the next request works.
    let started = Instant::now();
    let (status, _, body) = call("GET", &format!("{url}/sleepy"), None);
    assert_eq!(
        (status, json(&body)["message"].as_str()),
        (504, Some("Endpoint request timed out"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the process was stopped at the timeout"
    );
    let sleepy = dev.wait_for_after(mark, "sleepy pid", Duration::from_secs(10));
    let pid: u32 = sleepy.rsplit(' ').next().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "timed-out process {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(call("GET", &format!("{url}/health"), None).0, 200);
}

#[test]
fn dev_replaces_a_crashed_handler_and_shows_its_output_with_the_request_id() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    let mark = dev.mark();
    // A crash: 502, its output is shown with the request id, and a new
    // process serves the next request.
    let (status, _, body) = call("GET", &format!("{url}/crash"), None);
    assert_eq!(
        (status, json(&body)["message"].as_str()),
        (502, Some("Internal server error"))
    );
    let crash_line = dev.wait_for_after(mark, "about to crash", Duration::from_secs(10));
    let id = crash_line.trim().split(" | ").next().unwrap().to_string();
    let access = dev.wait_for_after(mark, "GET /crash → 502", Duration::from_secs(10));
    assert!(
        access.contains(&format!("[{id}]")) && id.len() >= 32,
        "the crash's output carries its request's id: {crash_line} / {access}"
    );
    assert_eq!(call("GET", &format!("{url}/health"), None).0, 200);
}

#[test]
fn dev_sends_multi_value_headers_one_by_one() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    // Multi-value response headers reach the client one by one.
    let (status, headers, _) = call("GET", &format!("{url}/cookies"), None);
    let cookies: Vec<_> = headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!((status, cookies), (200, vec!["a=1; Path=/", "b=2; Path=/"]));
}

#[test]
fn dev_answers_a_malformed_proxy_response_with_502_and_says_why() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    let mark = dev.mark();
    // A runtime that answers with something that is not a proxy response:
    // 502, and slx dev says why.
    let (status, _, body) = call("GET", &format!("{url}/garbage"), None);
    assert_eq!(
        (status, json(&body)["message"].as_str()),
        (502, Some("Internal server error"))
    );
    let why = dev.wait_for_after(mark, "GET /garbage → 502", Duration::from_secs(10));
    assert!(why.contains("malformed Lambda proxy response"), "{why}");
    assert_eq!(call("GET", &format!("{url}/health"), None).0, 200);
}

#[test]
fn dev_answers_fifty_requests_at_once() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    // 50 concurrent requests, all answered.
    let answered: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let url = url.clone();
                scope.spawn(move || {
                    let body = format!(r#"{{"name":"n{i}"}}"#);
                    let (status, _, reply) = call(
                        "POST",
                        &format!("{url}/greet"),
                        Some(("application/json", body.as_bytes())),
                    );
                    assert_eq!(json(&reply)["message"], format!("hello, n{i}!"));
                    status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answered, vec![200; 50]);
}

/// Its own server: it bounds the handler processes (no other test may
/// use them meanwhile) and edits the app.
#[test]
fn dev_bounds_its_processes_and_reloads_after_edits() {
    let _timing = crate::common::timing();
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (_temp, dir) = with_test_handlers();
    let config = dir.join("slx.toml");
    let dev = Dev::start(&dir);
    let url = dev.url.clone();

    // `--concurrency 8` bounds the handler processes: twelve requests that
    // each hold one for its whole timeout never see a ninth.
    let processes = || {
        let marker = dir.join(".slx/dev/bootstrap");
        let marker = marker.to_str().unwrap().as_bytes().to_vec();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| {
                std::fs::read(entry.path().join("cmdline"))
                    .is_ok_and(|cmd| cmd.windows(marker.len()).any(|w| w == marker))
            })
            .count()
    };
    let most = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let url = url.clone();
                scope.spawn(move || call("GET", &format!("{url}/sleepy"), None).0)
            })
            .collect();
        let mut most = 0;
        while calls.iter().any(|c| !c.is_finished()) {
            most = most.max(processes());
            std::thread::sleep(Duration::from_millis(20));
        }
        for call in calls {
            assert_eq!(call.join().unwrap(), 504);
        }
        most
    });
    assert_eq!(
        most, 8,
        "at most --concurrency processes, and all of them used"
    );

    // Reload after an edit; a broken edit keeps the old version serving.
    let lib = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replace("\"{greeting}, {}!\"", "\"{greeting}, dear {}!\""),
    )
    .unwrap();
    dev.wait_for("reloaded", Duration::from_secs(300));
    let (_, _, body) = call(
        "POST",
        &format!("{url}/greet"),
        Some(("application/json", br#"{"name":"Ada"}"#)),
    );
    assert_eq!(json(&body)["message"], "hello, dear Ada!");
    std::fs::write(
        &lib,
        source.replace("pub async fn health()", "pub async fn health( {"),
    )
    .unwrap();
    dev.wait_for(
        "the build failed; still serving the previous version",
        Duration::from_secs(300),
    );
    let (_, _, body) = call(
        "POST",
        &format!("{url}/greet"),
        Some(("application/json", br#"{"name":"Ada"}"#)),
    );
    assert_eq!(json(&body)["message"], "hello, dear Ada!");

    // An slx.toml edit reloads too: a new route serves, the env changes.
    std::fs::write(&lib, &source).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let edited = text
        .replace(
            "\"GET /health\" = \"health\"",
            "\"GET /health\" = \"health\"\n\"GET /status\" = \"health\"",
        )
        .replacen("GREETING = \"hello\"", "GREETING = \"howdy\"", 1);
    assert_ne!(edited, text);
    assert_eq!(call("GET", &format!("{url}/status"), None).0, 403);
    std::fs::write(&config, &edited).unwrap();
    dev.wait_for("reloaded", Duration::from_secs(300));
    let (status, _, body) = call("GET", &format!("{url}/status"), None);
    assert_eq!((status, json(&body)["status"].as_str()), (200, Some("ok")));
    let (_, _, body) = call(
        "POST",
        &format!("{url}/greet"),
        Some(("application/json", br#"{"name":"Ada"}"#)),
    );
    assert_eq!(json(&body)["message"], "howdy, Ada!");
    // An invalid slx.toml is reported and the running version keeps serving.
    std::fs::write(
        &config,
        edited.replace("[routes]", "[routes]\nnot toml at all"),
    )
    .unwrap();
    dev.wait_for(
        "slx.toml is invalid; still serving the previous version",
        Duration::from_secs(60),
    );
    let (status, _, body) = call("GET", &format!("{url}/status"), None);
    assert_eq!((status, json(&body)["status"].as_str()), (200, Some("ok")));
}

/// `--stage` picks the stage's overrides; `--no-watch` serves what it
/// built and ignores edits.
#[test]
fn dev_serves_a_named_stage_and_no_watch_ignores_edits() {
    let _timing = crate::common::timing();
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (_temp, dir) = scaffold("shop");
    let dev = Dev::start_with(&dir, &["--stage", "prod", "--no-watch"]);
    let url = dev.url.clone();
    assert!(
        dev.banner.contains("shop (stage prod) on"),
        "{}",
        dev.banner
    );
    let last = dev.wait_for("Ctrl-C to stop", Duration::from_secs(5));
    assert!(!last.contains("watching"), "{last}");
    let greet = || {
        let (status, _, body) = call(
            "POST",
            &format!("{url}/greet"),
            Some(("application/json", br#"{"name":"Ada"}"#)),
        );
        assert_eq!(status, 200);
        json(&body)["message"].as_str().unwrap().to_string()
    };
    // [stages.prod] sets GREETING = "hi".
    assert_eq!(greet(), "hi, Ada!");

    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("GREETING = \"hi\"", "GREETING = \"yo\""),
    )
    .unwrap();
    let lib = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replace("pub async fn health()", "pub async fn health( {"),
    )
    .unwrap();
    // A watching slx dev reacts within its debounce (well under a second);
    // this one must print nothing and keep serving what it built.
    let printed = dev.lines_during(Duration::from_secs(3));
    assert!(
        !printed.iter().any(|line| line.contains("change detected")),
        "--no-watch reacted to an edit: {printed:?}"
    );
    assert_eq!(greet(), "hi, Ada!");
}

#[test]
fn invoke_local_runs_one_request_and_fails_on_5xx() {
    let _timing = crate::common::timing();
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (_temp, dir) = scaffold("shop");
    let output = run(slx(&dir).args([
        "invoke",
        "--local",
        "POST /orders/7",
        "--data",
        r#"{"item":"tea","quantity":1}"#,
    ]));
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("HTTP 200"), "{text}");
    assert!(text.contains(r#""id":"7""#), "{text}");

    std::fs::write(dir.join("order.json"), r#"{"item":"tea","quantity":0}"#).unwrap();
    let output = run(slx(&dir).args([
        "invoke",
        "--local",
        "POST /orders/7",
        "--data",
        "@order.json",
        "--output",
        "json",
    ]));
    assert_eq!(output.status.code(), Some(1));
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reply["status"], 500);
}

/// Sends `request` as raw bytes on a new connection (closing the writing
/// side after it when `half_close`); the answer's status line, headers
/// and body as text, or `None` when the connection closed unanswered.
/// A `Host: h` line is sent as the server's own address (slx dev refuses
/// requests for other names).
fn raw(url: &str, request: &[u8], half_close: bool) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let placeholder = b"\r\nHost: h\r\n";
    let request = match request
        .windows(placeholder.len())
        .position(|w| w == placeholder)
    {
        Some(at) => [
            &request[..at],
            format!("\r\nHost: {address}\r\n").as_bytes(),
            &request[at + placeholder.len()..],
        ]
        .concat(),
        None => request.to_vec(),
    };
    let _ = stream.write_all(&request);
    if half_close {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    Some((status, text))
}

/// The JSON body of a raw answer.
fn raw_json(answer: &str) -> serde_json::Value {
    json(answer.split_once("\r\n\r\n").unwrap().1.as_bytes())
}

/// A web page can reach 127.0.0.1 by DNS rebinding, under a name of its
/// own: slx dev answers only requests for its local names.
#[test]
fn dev_answers_only_requests_for_its_local_names() {
    let _timing = crate::common::timing();
    let dev = served();
    let port = dev.url.rsplit(':').next().unwrap().to_string();
    let ask = |host: &str| {
        let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        raw(&dev.url, request.as_bytes(), false).unwrap()
    };
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(ask(&host).0, 200, "{host}");
    }
    for host in [format!("rebound.example:{port}"), "localhost:1".to_string()] {
        let (status, answer) = ask(&host);
        assert_eq!(status, 403, "{host}: {answer}");
        assert!(answer.contains("--allow-host"), "{answer}");
    }
}

#[test]
fn dev_answers_malformed_and_oversized_requests_as_api_gateway_does_and_keeps_serving() {
    let _timing = crate::common::timing();
    let dev = served();
    let url = dev.url.clone();
    let mark = dev.mark();
    let healthy = || {
        let (status, _, _) = call("GET", &format!("{url}/health"), None);
        assert_eq!(status, 200, "still serving");
    };
    healthy();

    // Malformed request lines: HTTP's own 400, an unknown method
    // API Gateway's 403, raw non-UTF-8 bytes in the path or query a 400.
    let (status, _) = raw(&url, b"G@T /health HTTP/1.1\r\nHost: h\r\n\r\n", false).unwrap();
    assert_eq!(status, 400);
    let (status, answer) = raw(
        &url,
        b"FOO /health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        false,
    )
    .unwrap();
    assert_eq!(status, 403);
    assert_eq!(raw_json(&answer)["message"], "Missing Authentication Token");
    for target in [&b"/health\xff"[..], b"/health?a=\xfe\xff"] {
        let request = [b"GET ", target, b" HTTP/1.1\r\nHost: h\r\n\r\n"].concat();
        let (status, _) = raw(&url, &request, false).unwrap();
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(target));
    }
    healthy();

    // Percent-encoding that is not valid, or not UTF-8, is passed on as
    // API Gateway passes it: decoded where it can be.
    let order = |id: &str| {
        call(
            "POST",
            &format!("{url}/orders/{id}"),
            Some(("application/json", br#"{"item":"tea","quantity":1}"#)),
        )
    };
    let (status, _, body) = order("%ZZ");
    assert_eq!((status, json(&body)["id"].clone()), (200, "%ZZ".into()));
    let (status, _, body) = order("caf%C3%A9%FF");
    assert_eq!(
        (status, json(&body)["id"].clone()),
        (200, "café\u{FFFD}".into())
    );

    // API Gateway's 10240 bytes of request line and header values: at the
    // quota served, one byte over answered 431. "GET /health HTTP/1.1"
    // (20) + the host + "close" (5) before the padding.
    let host = url.trim_start_matches("http://");
    let padded = |pad: usize| {
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
            "p".repeat(pad)
        );
        raw(&url, request.as_bytes(), false).unwrap()
    };
    let before = 20 + host.len() + 5;
    assert_eq!(padded(10_240 - before).0, 200);
    let (status, answer) = padded(10_240 - before + 1);
    assert_eq!(status, 431);
    assert_eq!(
        raw_json(&answer)["message"],
        "Request Header Fields Too Large"
    );
    dev.wait_for_after(mark, "API Gateway accepts 10240", Duration::from_secs(10));
    // Far beyond (1 MB of headers): refused before any routing.
    assert_eq!(padded(1024 * 1024).0, 431);
    healthy();

    // A body that breaks off: a 400, and the gateway serves on.
    let truncated = b"POST /greet HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\"";
    let (status, answer) = raw(&url, truncated, true).unwrap();
    assert_eq!(status, 400);
    assert_eq!(raw_json(&answer)["message"], "Bad Request");
    healthy();

    // Lambda's 6,291,456-byte event: a body that fits with the event's
    // envelope is served, one that fits alone but not with it, or that is
    // over on its own, or 10 MB, is answered 413.
    let greet = |name_bytes: usize| {
        let body = format!(r#"{{"name":"{}"}}"#, "a".repeat(name_bytes));
        call(
            "POST",
            &format!("{url}/greet"),
            Some(("application/json", body.as_bytes())),
        )
    };
    const EVENT: usize = 6 * 1024 * 1024;
    let (status, _, body) = greet(EVENT - 8 * 1024);
    assert_eq!(status, 200);
    assert_eq!(
        json(&body)["message"].as_str().unwrap().len(),
        "hello, !".len() + EVENT - 8 * 1024
    );
    let (status, _, body) = greet(EVENT - 100);
    assert_eq!(
        (status, json(&body)["message"].clone()),
        (413, "Request Too Large".into())
    );
    dev.wait_for_after(mark, "the Lambda event is", Duration::from_secs(10));
    let (status, _, _) = greet(EVENT + 1);
    assert_eq!(status, 413);
    let (status, _, body) = greet(10 * 1024 * 1024);
    assert_eq!(
        (status, json(&body)["message"].clone()),
        (413, "Request Too Large".into())
    );
    // A client that waits for `100 Continue` is answered at once and
    // never sends the body.
    let (status, _) = raw(
        &url,
        b"POST /greet HTTP/1.1\r\nHost: h\r\nContent-Length: 10485760\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        false,
    )
    .unwrap();
    assert_eq!(status, 413);
    healthy();

    // Lambda's response quota (6 MB + 100 bytes): under it served, over it
    // the invocation fails and API Gateway answers 502.
    let sized = |bytes: usize| call("GET", &format!("{url}/sized?bytes={bytes}"), None);
    let (status, _, body) = sized(EVENT - 4 * 1024);
    assert_eq!((status, body.len()), (200, EVENT - 4 * 1024 + 2));
    let (status, _, body) = sized(EVENT);
    assert_eq!(
        (status, json(&body)["message"].clone()),
        (502, "Internal server error".into())
    );
    dev.wait_for_after(
        mark,
        "Function.ResponseSizeTooLarge",
        Duration::from_secs(10),
    );
    healthy();
}

/// Copies a directory tree, leaving out build output.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".slx" {
            continue;
        }
        let (source, destination) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&source, &destination);
        } else {
            std::fs::copy(&source, &destination).unwrap();
        }
    }
}

/// Most real crates live in a Cargo workspace and inherit from it
/// (`version.workspace = true`, workspace dependencies): slx builds such
/// an app, reuses an unchanged build, builds it to the same bytes from a
/// copy of the workspace elsewhere, and serves it with `slx dev`.
#[test]
fn an_app_in_a_cargo_workspace_builds_reproducibly_and_serves_locally() {
    let _timing = crate::common::timing();
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let temp = tempfile::tempdir().unwrap();
    let workspace = temp.path().join("ws");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(
        workspace.join("Cargo.toml"),
        "[workspace]\nmembers = [\"crates/shop\"]\nresolver = \"3\"\n\n[workspace.package]\nversion = \"0.3.0\"\nedition = \"2024\"\n\n[workspace.dependencies]\nserde = { version = \"1\", features = [\"derive\"] }\n",
    )
    .unwrap();
    assert!(
        run(slx(&workspace).args(["init", "crates/shop"]))
            .status
            .success()
    );
    let app = workspace.join("crates/shop");
    let manifest = app.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text
        .replace("version = \"0.1.0\"", "version.workspace = true")
        .replace("edition = \"2024\"", "edition.workspace = true")
        .replace(
            "serde = { version = \"1\", features = [\"derive\"] }",
            "serde = { workspace = true }",
        );
    assert!(text.contains("serde = { workspace = true }"), "{text}");
    std::fs::write(&manifest, text).unwrap();

    let build = |dir: &Path| {
        let output = run(slx(dir).args(["build", "--output", "json"]));
        assert!(output.status.success());
        stdout_json(&output)
    };
    let first = build(&app);
    assert_eq!(first["reused"], false);
    // `slx plan` (like deploy) reuses the unchanged build: cargo not run.
    let moto = crate::common::moto::Moto::start();
    let plan = run(slx(&app)
        .args(["plan", "--stage", "dev", "--endpoint-url", &moto.endpoint])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE"));
    assert!(plan.status.success());
    assert!(
        String::from_utf8_lossy(&plan.stderr).contains("handler unchanged since the last build"),
        "the build was reused"
    );
    let elsewhere = temp.path().join("other/place/ws");
    copy_tree(&workspace, &elsewhere);
    let copied = build(&elsewhere.join("crates/shop"));
    assert_eq!(copied["code_sha256"], first["code_sha256"]);

    let dev = Dev::start(&app);
    let (status, _, body) = call("GET", &format!("{}/health", dev.url), None);
    assert_eq!((status, json(&body)["status"].clone()), (200, "ok".into()));
}
