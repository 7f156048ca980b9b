//! Shared helpers for integration tests: run the real `slx` binary in a
//! scratch project, with one cargo target dir shared by every handler
//! build so each test does not recompile lambda_http from scratch.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// Handler builds share one target dir, and cargo uplifts every build's
/// binary to the same `bootstrap` path: run them one at a time.
pub(crate) mod app;
pub(crate) mod kill;
pub(crate) mod moto;
pub(crate) mod process;
pub(crate) mod stage;

pub(crate) static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Every test's first line: when it ends, its name (the test thread's),
/// its seconds and its outcome go to the file `SLX_TEST_TIMES` names, if
/// any, from which scripts/test prints the time of each group. libtest
/// reports times only with unstable flags; the architecture test keeps
/// this line in every test.
pub(crate) fn timing() -> Timing {
    Timing {
        started: std::time::Instant::now(),
    }
}

pub(crate) struct Timing {
    started: std::time::Instant,
}

impl Drop for Timing {
    fn drop(&mut self) {
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        let outcome = if std::thread::panicking() {
            "failed"
        } else {
            "ok"
        };
        record_time(&name, self.started.elapsed(), outcome);
    }
}

/// Appends `what`'s time to the file `SLX_TEST_TIMES` names, if any: a
/// test's, or how long a moto server took to start.
pub(crate) fn record_time(what: &str, took: std::time::Duration, outcome: &str) {
    let Some(file) = std::env::var_os("SLX_TEST_TIMES") else {
        return;
    };
    let line = format!("{what}\t{:.3}\t{outcome}\n", took.as_secs_f64());
    // One short append per line: lines of parallel tests never mix.
    use std::io::Write;
    if let Ok(mut out) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        let _ = out.write_all(line.as_bytes());
    }
}

pub(crate) fn shared_target_dir() -> PathBuf {
    std::env::var_os("SLX_TEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/handlers"))
}

/// Handler builds in tests use a cheaper variant of slx's Lambda profile
/// (cargo reads `CARGO_PROFILE_<NAME>_<KEY>` over the generated
/// Cargo.toml): no LTO, parallel codegen, no optimisation. The scaffold's
/// first build (every dependency) then takes 26 s instead of 45 s at
/// opt-level 1 on 2 cores, a rebuild of the app about 3 s. Only size and
/// speed differ; the build steps, checks and reproducibility are the
/// same. The test that measures the zip uses [`release_profile`].
pub(crate) const TEST_PROFILE: [(&str, &str); 3] = [
    ("CARGO_PROFILE_LAMBDA_R1_LTO", "false"),
    ("CARGO_PROFILE_LAMBDA_R1_CODEGEN_UNITS", "16"),
    ("CARGO_PROFILE_LAMBDA_R1_OPT_LEVEL", "0"),
];

/// The one pace of the suite's AWS: slx-sim scales AWS's delays by it
/// (role propagation, function states, quotas) and every slx the tests
/// run waits at it against a local AWS (`SLX_TEST_TIME_SCALE`: backoff,
/// lease renewal and expiry, canary polling, undeploy's wait), so real
/// AWS's timings keep their proportions at a tenth of their length.
pub(crate) const TIME_SCALE: f64 = 0.1;

pub(crate) fn slx(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slx"));
    command
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env("NO_COLOR", "1")
        .env("SLX_TEST_TIME_SCALE", TIME_SCALE.to_string())
        .env_remove("SLX_COMPILER")
        .envs(TEST_PROFILE);
    command
}

/// Builds with the profile users get (undoes [`TEST_PROFILE`]).
pub(crate) fn release_profile(command: &mut Command) -> &mut Command {
    for (key, _) in TEST_PROFILE {
        command.env_remove(key);
    }
    command
}

/// Runs and returns the output, printing it when the test fails.
pub(crate) fn run(command: &mut Command) -> Output {
    let output = command.output().expect("slx runs");
    eprintln!(
        "--- {:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        command,
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh scaffolded app `name` in a temp dir.
pub(crate) fn scaffold(name: &str) -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let output = run(slx(temp.path()).args(["init", name]));
    assert!(output.status.success());
    let dir = temp.path().join(name);
    (temp, dir)
}

/// A Lambda `bootstrap` (arm64 when `arm`) started as Lambda starts it,
/// against the Runtime API at `endpoint`: natively or under qemu-user,
/// with only Lambda's own variables for `function`.
pub(crate) fn lambda_process(binary: &Path, arm: bool, endpoint: &str, function: &str) -> Command {
    let (program, args) = slx_sim::runner(binary, arm);
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", endpoint)
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .env("AWS_REGION", "us-east-1");
    command
}

/// The `bootstrap` of a Lambda zip, checked to be its only file and
/// executable.
pub(crate) fn unzip_bootstrap(zip: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    assert_eq!(archive.len(), 1);
    let mut entry = archive.by_name("bootstrap").unwrap();
    assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    bytes
}

pub(crate) fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// The rows of docs/output.md's table (`slx status (not deployed)`) with
/// the fields each lists.
pub(crate) fn documented_outputs() -> std::collections::BTreeMap<String, Vec<String>> {
    let docs = include_str!("../../../docs/output.md");
    docs.lines()
        .filter(|line| line.starts_with("| `slx "))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            let row = cells[1].trim().replace('`', "");
            (row, ticked(cells[2]))
        })
        .collect()
}

/// The `ticked` parts of a Markdown table cell, in order.
pub(crate) fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Asserts that `value` has exactly the top-level fields docs/output.md
/// lists for `row`.
pub(crate) fn assert_documented(row: &str, value: &serde_json::Value) {
    let documented = documented_outputs();
    let mut expected = documented
        .get(row)
        .unwrap_or_else(|| panic!("docs/output.md has no row `{row}`"))
        .clone();
    let mut printed: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("`{row}` printed no JSON object: {value}"))
        .keys()
        .cloned()
        .collect();
    expected.sort();
    printed.sort();
    assert_eq!(
        printed, expected,
        "`{row}` printed other fields than docs/output.md lists"
    );
}

/// Runs `command` with a terminal for its standard streams (Python's pty
/// module: no `script` needed); stdout and stderr both come back in
/// `stdout`, as a terminal shows them.
pub(crate) fn under_terminal(command: &Command) -> Output {
    let mut python = Command::new("python3");
    python
        .args([
            "-c",
            "import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)",
        ])
        .arg(command.get_program())
        .args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        python.current_dir(dir);
    }
    copy_env(command, &mut python);
    run(&mut python)
}

/// Gives `to` the environment changes `from` makes (set and removed
/// variables), e.g. a wrapper process around a prepared `slx` command.
pub(crate) fn copy_env(from: &Command, to: &mut Command) {
    for (key, value) in from.get_envs() {
        match value {
            Some(value) => to.env(key, value),
            None => to.env_remove(key),
        };
    }
}

/// The redrawn live lines in what a terminal showed: each starts after a
/// line clear with a spinner frame (whichever the step had reached).
pub(crate) fn live_lines(seen: &str) -> Vec<&str> {
    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    seen.split("\r\x1b[2K")
        .skip(1)
        .filter(|drawn| drawn.starts_with(frames))
        .collect()
}
