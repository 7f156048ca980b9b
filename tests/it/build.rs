//! `slx build` end to end: real handler builds for x86_64 and arm64, the
//! ELF and zip checks, determinism, clear errors, and the x86_64
//! `bootstrap` served for real through slx's local Runtime API.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::app::add_extra_handlers;
use crate::common::{
    BUILD_LOCK, assert_documented, lambda_process, release_profile, run, scaffold, slx,
    stdout_json, unzip_bootstrap,
};
use serde_json::{Value, json};
use slx::config::Arch;
use slx::contract::proxy::{
    GatewayContext, HttpRequest, MatchedRoute, decode_response, rest_event,
};
use slx::handler::elf;
use slx::local::runtime_api::{Answer, RuntimeApi};

fn build_json(dir: &Path, extra: &[&str]) -> Value {
    build_json_with(slx(dir), extra)
}

fn build_json_with(mut command: Command, extra: &[&str]) -> Value {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let output = run(command.args(["build", "--output", "json"]).args(extra));
    assert!(output.status.success(), "build failed");
    let built = stdout_json(&output);
    assert_documented("slx build", &built);
    built
}

/// The compiler the toolchain choice prescribes for `arch` on this host
/// (the same probe slx runs), not whichever happened to work.
fn prescribed_compiler(arch: Arch) -> Value {
    let prescribed = slx::handler::toolchain::plan_compile(
        &slx::handler::toolchain::detect(),
        None,
        arch,
        Path::new("Cargo.toml"),
        &slx::handler::build_dirs(Path::new(".")),
        slx::handler::PROFILE,
    )
    .unwrap();
    serde_json::to_value(prescribed.compiler).unwrap()
}

struct Handler {
    child: Child,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a Lambda `bootstrap` of `arch` as Lambda would, against `api`:
/// directly on a host of that architecture, else under qemu-user.
fn start_bootstrap(binary: &Path, arch: Arch, api: &RuntimeApi) -> Handler {
    let child = lambda_process(binary, arch == Arch::Arm64, &api.endpoint(), "shop-dev")
        .env("GREETING", "hello")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("bootstrap starts");
    Handler { child }
}

struct Call<'a> {
    method: &'a str,
    path: &'a str,
    resource: &'a str,
    params: &'a [(&'a str, &'a str)],
    query: &'a [(&'a str, &'a str)],
    body: &'a str,
}

async fn call(api: &RuntimeApi, id: &str, c: Call<'_>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let request = HttpRequest {
        method: c.method.into(),
        path: c.path.into(),
        query: c
            .query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("user-agent".into(), "slx-test".into()),
        ],
        body: c.body.as_bytes().to_vec(),
        source_ip: "127.0.0.1".into(),
    };
    let route = MatchedRoute {
        resource: c.resource.into(),
        path_parameters: c
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        binary: Default::default(),
    };
    let context = GatewayContext {
        stage: "dev".into(),
        request_id: format!("gw-{id}"),
        account_id: "123456789012".into(),
        api_id: "local".into(),
        time_epoch_ms: 1_795_720_259_000,
        mapped: None,
    };
    let event = rest_event(&request, &route, &context);
    let answer = api
        .invoke(
            id,
            serde_json::to_vec(&event).unwrap(),
            Duration::from_secs(20),
        )
        .await
        .expect("handler answers");
    let Answer::Response(payload) = answer else {
        panic!("function error: {answer:?}");
    };
    let response = decode_response(&payload).unwrap();
    (response.status, response.headers, response.body)
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

#[tokio::test(flavor = "multi_thread")]
async fn x86_64_build_is_checked_deterministic_and_serves_requests() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    add_extra_handlers(&dir);
    // On the suite's cheaper profile (the dependencies are built for it
    // already); the arm64 test builds on the profile users get.
    let first = build_json(&dir, &[]);
    assert_eq!(first["arch"], "x86_64");
    assert_eq!(
        first["compiler"],
        prescribed_compiler(Arch::X86_64),
        "{first}"
    );
    let zip = Path::new(first["zip"].as_str().unwrap()).to_path_buf();
    let zip_bytes = std::fs::read(&zip).unwrap();
    assert_eq!(first["size_bytes"], zip_bytes.len());
    assert_eq!(
        first["code_sha256"],
        slx::handler::archive::code_sha256(&zip_bytes)
    );

    let binary = unzip_bootstrap(&zip);
    let facts = elf::inspect(&binary).unwrap();
    assert_eq!(facts.arch, Some(Arch::X86_64));
    assert!(facts.max_glibc.unwrap() <= elf::AL2023_GLIBC, "{facts:?}");

    // Determinism: building again gives the same bytes.
    let second = build_json(&dir, &[]);
    assert_eq!(second["code_sha256"], first["code_sha256"]);
    assert_eq!(std::fs::read(&zip).unwrap(), zip_bytes);

    // Serve real requests through the local Runtime API.
    let unpacked = dir.join("bootstrap");
    std::fs::write(&unpacked, &binary).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&unpacked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:shop-dev")
        .await
        .unwrap();
    let _handler = start_bootstrap(&unpacked, Arch::X86_64, &api);

    let post = |path, resource, params, body| Call {
        method: "POST",
        path,
        resource,
        params,
        query: &[],
        body,
    };
    let (status, headers, body) = call(
        &api,
        "r1",
        post("/greet", "/greet", &[], r#"{"name":"Ada"}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "content-type" && v == "application/json")
    );
    assert_eq!(json_of(&body), json!({"message": "hello, Ada!"}));

    let (status, _, body) = call(
        &api,
        "r2",
        post(
            "/orders/42",
            "/orders/{id}",
            &[("id", "42")],
            r#"{"item":"tea","quantity":2}"#,
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["id"], "42");

    let (status, _, body) = call(&api, "r3", post("/greet", "/greet", &[], r#"{"name": "#)).await;
    assert_eq!(status, 400);
    let reply = json_of(&body);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("invalid JSON body for `Greet`"),
        "{reply}"
    );

    let (status, _, body) = call(&api, "r4", post("/greet", "/greet", &[], "")).await;
    assert_eq!(status, 400);
    assert!(
        json_of(&body)["error"]
            .as_str()
            .unwrap()
            .contains("body is empty")
    );

    // A handler error: 500 with the request id only.
    let (status, _, body) = call(
        &api,
        "r5",
        post(
            "/orders/7",
            "/orders/{id}",
            &[("id", "7")],
            r#"{"item":"tea","quantity":0}"#,
        ),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        json_of(&body),
        json!({"message": "Internal server error", "requestId": "r5"})
    );

    // A panic: 500, and the process keeps serving.
    let get = |path, resource, params, query| Call {
        method: "GET",
        path,
        resource,
        params,
        query,
        body: "",
    };
    let (status, _, body) = call(&api, "r6", get("/boom", "/boom", &[], &[])).await;
    assert_eq!(status, 500);
    assert_eq!(json_of(&body)["requestId"], "r6");
    let (status, _, body) = call(&api, "r7", get("/health", "/health", &[], &[])).await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body), json!({"status": "ok"}));

    // Query string, headers and a chosen status code.
    let (status, _, body) =
        call(&api, "r8", get("/search", "/search", &[], &[("page", "3")])).await;
    assert_eq!(status, 206);
    assert_eq!(json_of(&body), json!({"page": 3, "agent": "slx-test"}));
    let (status, _, body) =
        call(&api, "r9", get("/search", "/search", &[], &[("page", "x")])).await;
    assert_eq!(status, 400);
    assert!(
        json_of(&body)["error"]
            .as_str()
            .unwrap()
            .contains("invalid query string")
    );

    // A raw response with its own status and headers.
    let (status, headers, body) = call(
        &api,
        "r10",
        get("/raw/a/b", "/raw/{rest+}", &[("rest", "a/b")], &[]),
    )
    .await;
    assert_eq!(status, 418);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "x-path" && v.ends_with("/raw/a/b")),
        "{headers:?}"
    );
    assert_eq!(body, b"short and stout");
    assert!(api.init_errors().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn arm64_build_is_an_aarch64_elf_with_al2023_glibc_and_runs_under_qemu() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("arch = \"x86_64\"", "arch = \"arm64\""),
    )
    .unwrap();
    // The one build on the profile users get (its dependencies compile
    // for aarch64 here anyway): the test profile's zip is over 1.1 MB,
    // so this fails if the release settings stop applying.
    let mut release = slx(&dir);
    release_profile(&mut release);
    let built = build_json_with(release, &[]);
    assert_eq!(built["arch"], "arm64");
    assert!(
        built["size_bytes"].as_u64().unwrap() < 1_000_000,
        "the release profile's zip: {built}"
    );
    assert_eq!(
        built["compiler"],
        prescribed_compiler(Arch::Arm64),
        "{built}"
    );
    let binary = unzip_bootstrap(Path::new(built["zip"].as_str().unwrap()));
    let facts = elf::check(&binary, Arch::Arm64).unwrap();
    assert!(facts.max_glibc.unwrap() <= elf::AL2023_GLIBC);
    assert_eq!(
        elf::check(&binary, Arch::X86_64).unwrap_err().to_string(),
        "the bootstrap is built for arm64, but slx.toml says arch = \"x86_64\""
    );

    // Run it for real: natively on an arm64 host, else under qemu-user
    // with an arm64 glibc (scripts/setup installs both with apt).
    let unpacked = dir.join("bootstrap-arm64");
    let (program, _) = slx_sim::runner(&unpacked, true);
    let emulated = program != unpacked.as_os_str();
    // Never skipped: a machine without them fails here, with the fix.
    assert!(
        !emulated
            || (Command::new(&program).arg("--version").output().is_ok()
                && Path::new("/usr/aarch64-linux-gnu").exists()),
        "the arm64 handler must run: install qemu-user and an arm64 glibc (apt-get install qemu-user libc6-arm64-cross; scripts/setup does it as root)"
    );
    std::fs::write(&unpacked, &binary).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&unpacked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:shop-dev")
        .await
        .unwrap();
    let _handler = start_bootstrap(&unpacked, Arch::Arm64, &api);
    let (status, _, body) = call(
        &api,
        "arm-1",
        Call {
            method: "POST",
            path: "/greet",
            resource: "/greet",
            params: &[],
            query: &[],
            body: r#"{"name":"Arm"}"#,
        },
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body), json!({"message": "hello, Arm!"}));
    let (status, _, _) = call(
        &api,
        "arm-2",
        Call {
            method: "POST",
            path: "/greet",
            resource: "/greet",
            params: &[],
            query: &[],
            body: "{",
        },
    )
    .await;
    assert_eq!(status, 400);
}

#[test]
fn a_missing_handler_is_named_before_compiling() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("= \"greet\"", "= \"greeting\"")).unwrap();
    let output = run(slx(&dir).arg("build"));
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("route `POST /greet` → `greeting`: no such function in lib.rs"),
        "{err}"
    );
    assert!(err.contains("did you mean `greet`?"), "{err}");
    assert!(
        !err.contains("Compiling"),
        "must fail before cargo runs: {err}"
    );
}

#[test]
fn a_bad_signature_is_explained() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let lib = dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        text.replace(
            "pub async fn create_order(id: String,",
            "pub async fn create_order(order_id: String,",
        ),
    )
    .unwrap();
    let output = run(slx(&dir).arg("build"));
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("`order_id`, `order` would all be the body"),
        "{err}"
    );
    assert!(err.contains("`id`"), "{err}");
}

/// A binary needing a glibc newer than al2023's, fabricated by renaming
/// the version string of a real host binary (same length, valid ELF).
#[test]
fn too_new_glibc_is_refused_with_the_fix() {
    let _timing = crate::common::timing();
    let mut binary = std::fs::read(env!("CARGO_BIN_EXE_slx")).unwrap();
    let needle = b"GLIBC_2.3";
    let mut patched = 0;
    let mut index = 0;
    while let Some(found) = binary[index..]
        .windows(needle.len())
        .position(|w| w == needle)
    {
        let at = index + found;
        if binary[at + needle.len()].is_ascii_digit() {
            binary[at + needle.len() - 1] = b'9';
            patched += 1;
        }
        index = at + needle.len();
    }
    assert!(patched > 0, "the host binary has GLIBC_2.3x symbols");
    let error = elf::check(&binary, Arch::X86_64).unwrap_err();
    assert!(
        matches!(error, elf::ElfError::GlibcTooNew { needed } if needed.0 == 2 && needed.1 >= 90),
        "{error:?}"
    );
    let report = format!("{:?}", miette::Report::new(error));
    assert!(report.contains("cargo-zigbuild"), "{report}");
}

/// Two checkouts of one app (same crate name) share a target dir and
/// build at once: each zips its own binary and records its own sources,
/// and an edit in one is built, not taken for "unchanged". The first
/// build's `cargo` waits after compiling until the second has built all
/// the way: where both wrote their binary and dep-info to one path, the
/// first then zipped the second's binary and vouched for its sources.
#[test]
fn two_checkouts_sharing_a_target_dir_build_at_once_and_keep_their_own_output() {
    let _timing = crate::common::timing();
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (_keep_a, a) = scaffold("shop");
    let (_keep_b, b) = scaffold("shop");
    let mark = |dir: &Path, word: &str| {
        let lib = dir.join("src/lib.rs");
        let text = std::fs::read_to_string(&lib).unwrap();
        std::fs::write(
            &lib,
            text.replacen("\"ok\".to_string()", &format!("\"{word}\".to_string()"), 1),
        )
        .unwrap();
    };
    mark(&a, "checkout-alpha-7f3a");
    mark(&b, "checkout-bravo-9c1e");
    let gates = tempfile::tempdir().unwrap();
    let (compiled, go) = (gates.path().join("compiled"), gates.path().join("go"));
    let wrapper = gates.path().join("cargo-then-wait");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\n\"$REAL_CARGO\" \"$@\"\nstatus=$?\ncase \"$1\" in build|zigbuild)\n  touch \"$SLX_TEST_COMPILED\"\n  while [ ! -e \"$SLX_TEST_GO\" ]; do sleep 0.05; done;;\nesac\nexit $status\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let first = slx(&a)
        .args(["build", "--output", "json"])
        .env("CARGO", &wrapper)
        .env("REAL_CARGO", env!("CARGO"))
        .env("SLX_TEST_COMPILED", &compiled)
        .env("SLX_TEST_GO", &go)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while !compiled.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first build never compiled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = run(slx(&b).args(["build", "--output", "json"]));
    assert!(second.status.success());
    std::fs::write(&go, "").unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    let contains = |zip: &Value, word: &str| {
        let bytes = unzip_bootstrap(Path::new(zip["zip"].as_str().unwrap()));
        bytes.windows(word.len()).any(|w| w == word.as_bytes())
    };
    let (built_a, built_b) = (stdout_json(&first), stdout_json(&second));
    assert!(
        contains(&built_a, "checkout-alpha-7f3a"),
        "the first zipped its own binary"
    );
    assert!(!contains(&built_a, "checkout-bravo-9c1e"));
    assert!(contains(&built_b, "checkout-bravo-9c1e"));
    // Each record vouches for its own checkout's sources only.
    let record = std::fs::read_to_string(a.join(".slx/build/x86_64/inputs.json")).unwrap();
    let b_dir = b.canonicalize().unwrap();
    assert!(!record.contains(b_dir.to_str().unwrap()), "{record}");
    assert!(record.contains("src/lib.rs"), "{record}");

    // An edit in the first is built.
    let lib = a.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        text.replace("checkout-alpha-7f3a", "checkout-alpha-2b8d"),
    )
    .unwrap();
    let edited = stdout_json(&run(slx(&a).args(["build", "--output", "json"])));
    assert_eq!(edited["reused"], false, "{edited}");
    assert!(contains(&edited, "checkout-alpha-2b8d"));
}
