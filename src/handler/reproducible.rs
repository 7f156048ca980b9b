//! The same sources give the same zip wherever they are checked out.
//!
//! Two things tie a Rust binary to the directory it was built in:
//! - paths in panic locations and `file!()`: the app's sources (absolute,
//!   as cargo passes them for a path dependency), the registry's sources
//!   under `CARGO_HOME`, build scripts' output under the target dir;
//! - `-C metadata`, which cargo derives from a local package's absolute
//!   path: it seeds symbol hashes and `TypeId`s, so code and its layout
//!   change with the directory even when no path is printed.
//!
//! `RUSTFLAGS` cannot fix either without a cost: flags that name the
//! checkout differ per checkout, and cargo rebuilds every dependency when
//! its flags change. So slx builds the handler with itself as cargo's
//! `RUSTC_WRAPPER`: for each rustc call it adds `--remap-path-prefix` for
//! the checkout, `CARGO_HOME` and the target dir (to `/slx/src`,
//! `/slx/cargo`, `/slx/target`), and gives local crates a metadata value
//! computed from what they are (name, kind, target, features, source path
//! within the checkout) instead of where. Cargo never sees these
//! arguments, so it neither rebuilds dependencies per checkout nor stops
//! tracking the real paths (its own freshness checks are untouched).
//!
//! Must never change what a crate means: only paths and the metadata seed.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Set (to the scheme's version) in the environment of the cargo that
/// slx runs: rustc calls through `RUSTC_WRAPPER` then reach
/// [`run_as_rustc_wrapper`].
const WRAPPER_MARK: &str = "SLX_RUSTC_WRAPPER";
/// Bumped whenever the arguments the wrapper adds change, with
/// [`PROFILE`].
const SCHEME: &str = "1";
/// The cargo profile of handler builds under this scheme.
pub const PROFILE: &str = "lambda-r1";
const APP_DIR: &str = "SLX_REMAP_APP";
const SOURCE_ROOT: &str = "SLX_REMAP_SOURCE";
const CARGO_HOME: &str = "SLX_REMAP_CARGO_HOME";
const TARGET_DIR: &str = "SLX_REMAP_TARGET";
/// A `RUSTC_WRAPPER` the user had (sccache, ...): still called, by us.
const INNER_WRAPPER: &str = "SLX_INNER_RUSTC_WRAPPER";

/// Where a checkout's paths are mapped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remaps {
    /// The app crate (and the generated handler crate inside it).
    pub(crate) app_dir: PathBuf,
    /// The checkout around it: path dependencies of the app live here.
    pub(crate) source_root: PathBuf,
    pub(crate) cargo_home: PathBuf,
    pub(crate) target_dir: PathBuf,
}

impl Remaps {
    /// For an app in `app_dir` built into `target_dir`: the checkout is
    /// the enclosing git work tree, else the enclosing Cargo workspace,
    /// else the app's own directory (path dependencies inside it are then
    /// covered too).
    pub(crate) fn for_app(app_dir: &Path, target_dir: &Path) -> Remaps {
        let app_dir = absolute(app_dir);
        let source_root = app_dir
            .ancestors()
            .find(|dir| dir.join(".git").exists())
            .or_else(|| {
                app_dir.ancestors().find(|dir| {
                    std::fs::read_to_string(dir.join("Cargo.toml"))
                        .is_ok_and(|text| text.lines().any(|l| l.trim() == "[workspace]"))
                })
            })
            .unwrap_or(&app_dir)
            .to_path_buf();
        Remaps {
            app_dir,
            source_root,
            cargo_home: absolute(&cargo_home()),
            target_dir: absolute(target_dir),
        }
    }

    /// The environment for the cargo (or cargo-zigbuild) that builds the
    /// handler, or `None` when slx cannot name its own executable.
    pub(crate) fn wrapper_env(&self) -> Option<Vec<(OsString, OsString)>> {
        let slx = std::env::current_exe().ok()?;
        let mut env: Vec<(OsString, OsString)> = vec![
            ("RUSTC_WRAPPER".into(), slx.clone().into()),
            (WRAPPER_MARK.into(), SCHEME.into()),
            (APP_DIR.into(), self.app_dir.clone().into()),
            (SOURCE_ROOT.into(), self.source_root.clone().into()),
            (CARGO_HOME.into(), self.cargo_home.clone().into()),
            (TARGET_DIR.into(), self.target_dir.clone().into()),
        ];
        if let Some(inner) =
            std::env::var_os("RUSTC_WRAPPER").filter(|w| !w.is_empty() && Path::new(w) != slx)
        {
            env.push((INNER_WRAPPER.into(), inner));
        }
        Some(env)
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `CARGO_HOME`, else `~/.cargo`, as cargo decides.
fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// Pure: rustc's arguments with the remaps added and, for a crate whose
/// sources are in the checkout (or given relative to it, as cargo does for
/// the handler crate), a metadata seed that does not depend on where the
/// checkout is. Other calls (`-vV`, target probes) pass unchanged.
pub(crate) fn rustc_args(args: &[OsString], remaps: &Remaps) -> Vec<OsString> {
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let value_of = |flag: &str| {
        text.iter()
            .position(|a| a == flag)
            .and_then(|i| text.get(i + 1))
            .cloned()
    };
    let Some(crate_name) = value_of("--crate-name") else {
        return args.to_vec();
    };
    let source = text
        .iter()
        .find(|a| a.ends_with(".rs") && !a.starts_with('-'));
    // As the remaps below show it: the same wherever the checkout is.
    let local_source = source.and_then(|s| {
        let path = Path::new(s);
        if path.is_relative() {
            return Some(format!("handler:{s}"));
        }
        if let Ok(rel) = path.strip_prefix(&remaps.app_dir) {
            return Some(format!("app:{}", rel.to_string_lossy()));
        }
        path.strip_prefix(&remaps.source_root)
            .ok()
            .map(|rel| format!("src:{}", rel.to_string_lossy()))
    });
    let mut out = Vec::with_capacity(args.len() + 6);
    let mut index = 0;
    while index < args.len() {
        let metadata = text[index] == "-C"
            && text
                .get(index + 1)
                .is_some_and(|v| v.starts_with("metadata="));
        match (&local_source, metadata) {
            (Some(source), true) => {
                out.push(OsString::from("-C"));
                out.push(OsString::from(format!(
                    "metadata={}",
                    seed(&crate_name, source, &text)
                )));
                index += 2;
            }
            _ => {
                out.push(args[index].clone());
                index += 1;
            }
        }
    }
    // rustc applies the last prefix that matches: the most specific
    // (the app inside the checkout, the target dir inside the app) last.
    for (from, to) in [
        (&remaps.source_root, "/slx/src"),
        (&remaps.cargo_home, "/slx/cargo"),
        (&remaps.app_dir, "/slx/app"),
        (&remaps.target_dir, "/slx/target"),
    ] {
        let mut flag = OsString::from("--remap-path-prefix=");
        flag.push(from.as_os_str());
        flag.push("=");
        flag.push(to);
        out.push(flag);
    }
    out
}

/// What a crate is, not where: name, kinds, target, cfgs (features) and
/// its source path within the checkout.
fn seed(crate_name: &str, source: &str, text: &[String]) -> String {
    let mut facts: Vec<String> = vec![
        format!("scheme={SCHEME}"),
        format!("name={crate_name}"),
        format!("source={source}"),
    ];
    let mut pairs = text.windows(2);
    while let Some([flag, value]) = pairs.next() {
        if matches!(
            flag.as_str(),
            "--crate-type" | "--target" | "--cfg" | "--edition"
        ) {
            facts.push(format!("{flag}={value}"));
        }
    }
    facts[3..].sort();
    let digest = Sha256::digest(facts.join("\n").as_bytes());
    super::freshness::hex(&digest[..8])
}

/// When slx runs as cargo's `RUSTC_WRAPPER` (argv: slx, rustc, args...),
/// runs rustc with the added arguments and returns its exit code; else
/// `None` (a normal slx command).
pub fn run_as_rustc_wrapper() -> Option<i32> {
    let scheme = std::env::var_os(WRAPPER_MARK)?;
    if scheme != OsStr::new(SCHEME) {
        return None;
    }
    let mut argv = std::env::args_os().skip(1);
    let rustc = argv.next()?;
    let args: Vec<OsString> = argv.collect();
    let remaps = Remaps {
        app_dir: std::env::var_os(APP_DIR)?.into(),
        source_root: std::env::var_os(SOURCE_ROOT)?.into(),
        cargo_home: std::env::var_os(CARGO_HOME)?.into(),
        target_dir: std::env::var_os(TARGET_DIR)?.into(),
    };
    let args = rustc_args(&args, &remaps);
    let mut command = match std::env::var_os(INNER_WRAPPER) {
        Some(inner) => {
            let mut command = std::process::Command::new(inner);
            command.arg(rustc);
            command
        }
        None => std::process::Command::new(rustc),
    };
    command.args(args);
    Some(match command.status() {
        Ok(status) => status.code().unwrap_or(101),
        Err(error) => {
            eprintln!("slx: cannot run rustc: {error}");
            101
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remaps(root: &str) -> Remaps {
        Remaps {
            app_dir: format!("{root}/app").into(),
            source_root: root.into(),
            cargo_home: "/home/u/.cargo".into(),
            target_dir: "/t".into(),
        }
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn strings(list: Vec<OsString>) -> Vec<String> {
        list.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    fn app_call(root: &str) -> Vec<String> {
        strings(rustc_args(
            &args(&[
                "--crate-name",
                "shop",
                "--edition=2024",
                &format!("{root}/app/src/lib.rs"),
                "--crate-type",
                "lib",
                "-C",
                &format!("metadata={}", root.len()),
                "-C",
                "extra-filename=-abc",
                "--out-dir",
                &format!("{root}/target/deps"),
            ]),
            &remaps(root),
        ))
    }

    #[test]
    fn an_app_crate_gets_the_same_metadata_from_any_checkout() {
        let (a, b) = (app_call("/tmp/a/shop"), app_call("/home/x/deep/er/shop"));
        let metadata = |call: &[String]| {
            call.iter()
                .find(|a| a.starts_with("metadata="))
                .cloned()
                .unwrap()
        };
        assert_eq!(metadata(&a), metadata(&b));
        assert_ne!(metadata(&a), "metadata=10");
        // Cargo's own names for the outputs are kept.
        assert!(a.contains(&"extra-filename=-abc".to_string()));
        assert!(a.contains(&"--remap-path-prefix=/tmp/a/shop=/slx/src".to_string()));
        assert!(a.contains(&"--remap-path-prefix=/tmp/a/shop/app=/slx/app".to_string()));
        assert!(a.contains(&"--remap-path-prefix=/home/u/.cargo=/slx/cargo".to_string()));
        assert!(a.contains(&"--remap-path-prefix=/t=/slx/target".to_string()));
    }

    #[test]
    fn registry_crates_keep_their_metadata_and_probes_pass_unchanged() {
        let call = args(&[
            "--crate-name",
            "tokio",
            "/home/u/.cargo/registry/src/index/tokio-1/src/lib.rs",
            "-C",
            "metadata=0123",
        ]);
        let out = strings(rustc_args(&call, &remaps("/tmp/a/shop")));
        assert!(out.contains(&"metadata=0123".to_string()));
        let probe = args(&["-vV"]);
        assert_eq!(rustc_args(&probe, &remaps("/tmp/a")), probe);
    }

    #[test]
    fn different_crates_or_features_get_different_seeds() {
        let seed_of = |name: &str, cfg: &str| {
            seed(name, "src/lib.rs", &["--cfg".to_string(), cfg.to_string()])
        };
        assert_ne!(seed_of("a", "feature=\"x\""), seed_of("b", "feature=\"x\""));
        assert_ne!(seed_of("a", "feature=\"x\""), seed_of("a", "feature=\"y\""));
        assert_eq!(seed_of("a", "feature=\"x\""), seed_of("a", "feature=\"x\""));
    }

    #[test]
    fn the_checkout_is_the_git_work_tree_then_the_workspace_then_the_app() {
        let temp = tempfile::tempdir().unwrap();
        let app = temp.path().join("repo/crates/app");
        std::fs::create_dir_all(&app).unwrap();
        let target = temp.path().join("t");
        assert_eq!(Remaps::for_app(&app, &target).source_root, app);
        std::fs::write(
            temp.path().join("repo/crates/Cargo.toml"),
            "[workspace]\nmembers = [\"app\"]\n",
        )
        .unwrap();
        assert_eq!(
            Remaps::for_app(&app, &target).source_root,
            temp.path().join("repo/crates")
        );
        std::fs::create_dir_all(temp.path().join("repo/.git")).unwrap();
        assert_eq!(
            Remaps::for_app(&app, &target).source_root,
            temp.path().join("repo")
        );
    }
}
