//! Whether the last build's zip is still what a build would make now, so
//! that a deploy of unchanged code skips cargo (whose own freshness check
//! costs about half a second).
//!
//! After each successful build, a record next to the zip keeps:
//! - a key hashing everything that is not a source file: slx's version
//!   and embedded templates, the stage's app name, arch and routes, the
//!   app's package and lib names, `rustc -vV` (as run from the generated
//!   crate, so `rust-toolchain.toml` overrides count), the compiler
//!   choice (`SLX_COMPILER`, cargo-zigbuild on PATH), the environment
//!   variables cargo and rustc read (`RUSTFLAGS`, `CARGO_PROFILE_*`, ...),
//!   every `.cargo/config.toml` cargo would read, both manifests and both
//!   lock files;
//! - the SHA-256 of every file in cargo's dep-info for the binary: every
//!   source of the app and of its path dependencies, and files pulled in
//!   with `include_str!`/`include_bytes!` (registry dependencies are
//!   pinned by the lock files);
//! - the zip's CodeSha256.
//!
//! The zip is reused only if the key, every file's hash and the zip's
//! own hash all match; anything missing or unreadable means "build".
//! Reads files and runs `rustc -vV`; never builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AppCrate, Artifact};
use crate::config::Project;

/// The record's file name, next to the zip.
const RECORD: &str = "inputs.json";

/// Environment variables that change what cargo builds.
const ENV_EXACT: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTUP_TOOLCHAIN",
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "SLX_COMPILER",
    "CC",
    "CFLAGS",
    "ZIG",
];
const ENV_PREFIXES: &[&str] = &["CARGO_BUILD_", "CARGO_PROFILE_", "CARGO_TARGET_"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    key: String,
    /// Every dep-info file and its SHA-256.
    files: BTreeMap<PathBuf, String>,
    artifact: Artifact,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest.
pub(super) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes what a build depends on besides the source files.
pub(super) fn inputs_key(project: &Project, app: &AppCrate, crate_dir: &Path) -> String {
    let mut hasher = Sha256::new();
    let mut add = |label: &str, value: &[u8]| {
        hasher.update(label.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value);
    };
    add("slx", env!("CARGO_PKG_VERSION").as_bytes());
    add("templates", super::codegen::templates_digest().as_bytes());
    add("app", project.app.as_bytes());
    add("arch", project.arch.as_str().as_bytes());
    for route in &project.routes {
        add(
            "route",
            format!("{} {} {}", route.method, route.path, route.served_by()).as_bytes(),
        );
    }
    add("router", project.router.as_deref().unwrap_or("").as_bytes());
    add("package", app.package.as_bytes());
    add("lib", app.lib_name.as_bytes());
    add("rustc", &rustc_version(crate_dir));
    add(
        "zigbuild",
        &[u8::from(program_on_path("cargo-zigbuild").is_some())],
    );
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| {
            ENV_EXACT.contains(&name.as_str()) || ENV_PREFIXES.iter().any(|p| name.starts_with(p))
        })
        .collect();
    env.sort();
    for (name, value) in env {
        add(&name, value.as_bytes());
    }
    let mut files = cargo_configs(crate_dir);
    files.extend([
        app.dir.join("Cargo.toml"),
        app.dir.join("Cargo.lock"),
        crate_dir.join("Cargo.toml"),
        crate_dir.join("Cargo.lock"),
    ]);
    for path in files {
        let content = std::fs::read(&path).unwrap_or_default();
        add(&path.display().to_string(), &content);
    }
    hex(&hasher.finalize())
}

/// `rustc -vV` run where cargo would run it (so toolchain files count).
fn rustc_version(dir: &Path) -> Vec<u8> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .arg("-vV")
        .current_dir(dir)
        .output()
        .map(|out| out.stdout)
        .unwrap_or_default()
}

fn program_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The cargo configuration files cargo reads for a build in `dir`.
// https://doc.rust-lang.org/cargo/reference/config.html#hierarchical-structure
fn cargo_configs(dir: &Path) -> Vec<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    dir.ancestors()
        .map(|a| a.join(".cargo"))
        .chain(cargo_home)
        .flat_map(|d| [d.join("config.toml"), d.join("config")])
        .filter(|p| p.is_file())
        .collect()
}

/// The files listed in a make-style dep-info file (`out: a b\ c`).
fn dep_info_files(text: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for line in text.lines() {
        // The first `: ` separates the target from its dependencies;
        // spaces inside paths are escaped as `\ `.
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        files.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                other => current.push(other),
            }
        }
        if !current.is_empty() {
            files.push(PathBuf::from(current));
        }
    }
    files
}

/// Whether the dep-info at `dep_info` is of a build of the generated
/// crate in `crate_dir` (it lists that crate's `src/main.rs`): a record
/// must never vouch for the sources of another checkout that built into
/// the same place.
pub(super) fn built_from(dep_info: &Path, crate_dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dep_info) else {
        return false;
    };
    let main = crate_dir.join("src").join("main.rs");
    let main = std::fs::canonicalize(&main).unwrap_or(main);
    dep_info_files(&text)
        .iter()
        .any(|file| std::fs::canonicalize(file).is_ok_and(|file| file == main))
}

fn hash_files(paths: impl IntoIterator<Item = PathBuf>) -> Option<BTreeMap<PathBuf, String>> {
    paths
        .into_iter()
        .map(|path| {
            let content = std::fs::read(&path).ok()?;
            Some((path, sha256_hex(&content)))
        })
        .collect()
}

/// Writes the record after a successful build that began at `began`. A
/// source changed since then may or may not be in the zip: then nothing
/// is recorded, and the next deploy asks cargo. A record that cannot be
/// written only costs the next deploy a cargo run.
pub(super) fn record(
    zip: &Path,
    key: String,
    dep_info: &Path,
    artifact: &Artifact,
    began: SystemTime,
) {
    let sources = std::fs::read_to_string(dep_info)
        .ok()
        .map(|text| dep_info_files(&text))
        .unwrap_or_default();
    let unchanged_since = |path: &PathBuf| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified <= began)
    };
    let files = match hash_files(sources.clone()) {
        Some(files) if !files.is_empty() && sources.iter().all(unchanged_since) => files,
        _ => {
            forget(zip);
            return;
        }
    };
    let record = Record {
        key,
        files,
        artifact: artifact.clone(),
    };
    if let Ok(json) = serde_json::to_vec_pretty(&record) {
        let _ = std::fs::write(record_path(zip), json);
    }
}

/// Removes the record (before a build: a build that fails half-way must
/// not leave a record that vouches for an older zip).
pub(super) fn forget(zip: &Path) {
    let _ = std::fs::remove_file(record_path(zip));
}

/// The last build's artifact, if nothing it was built from changed.
pub(super) fn fresh(zip: &Path, key: &str) -> Option<Artifact> {
    let record: Record = serde_json::from_slice(&std::fs::read(record_path(zip)).ok()?).ok()?;
    if record.key != key || record.artifact.zip != zip {
        return None;
    }
    let now = hash_files(record.files.keys().cloned())?;
    if now != record.files {
        return None;
    }
    let bytes = std::fs::read(zip).ok()?;
    (super::archive::code_sha256(&bytes) == record.artifact.code_sha256).then_some(record.artifact)
}

fn record_path(zip: &Path) -> PathBuf {
    zip.with_file_name(RECORD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_lists_every_file_with_escaped_spaces() {
        // Cargo's format: the target, then its dependencies; rustc adds
        // one `file:` line per dependency and `# env-dep:` comments.
        let text = "/t/bootstrap: /app/src/lib.rs /my\\ app/src/main.rs /app/data.txt\n\n/app/src/lib.rs:\n# env-dep:X=1\n";
        assert_eq!(
            dep_info_files(text),
            [
                PathBuf::from("/app/src/lib.rs"),
                PathBuf::from("/my app/src/main.rs"),
                PathBuf::from("/app/data.txt"),
            ]
        );
    }

    #[test]
    fn a_record_vouches_only_for_unchanged_files_and_zip() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("lib.rs");
        std::fs::write(&source, "pub fn a() {}").unwrap();
        let dep_info = dir.path().join("bootstrap.d");
        std::fs::write(&dep_info, format!("/t/bootstrap: {}\n", source.display())).unwrap();
        let zip = dir.path().join("bootstrap.zip");
        std::fs::write(&zip, b"zip bytes").unwrap();
        let artifact = Artifact {
            zip: zip.clone(),
            code_sha256: crate::handler::archive::code_sha256(b"zip bytes"),
            arch: crate::config::Arch::X86_64,
            size_bytes: 9,
            binary_bytes: 9,
            max_glibc: None,
            compiler: crate::handler::toolchain::Compiler::Cargo,
            build_seconds: 1.0,
            reused: false,
        };
        let before = SystemTime::now();
        // A source edited while the build ran: nothing is vouched for.
        record(
            &zip,
            "key".into(),
            &dep_info,
            &artifact,
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(fresh(&zip, "key"), None);
        record(&zip, "key".into(), &dep_info, &artifact, before);
        assert_eq!(fresh(&zip, "key"), Some(artifact.clone()));
        assert_eq!(
            fresh(&zip, "other key"),
            None,
            "a changed toolchain or config"
        );
        std::fs::write(&source, "pub fn b() {}").unwrap();
        assert_eq!(fresh(&zip, "key"), None, "a changed source");
        std::fs::write(&source, "pub fn a() {}").unwrap();
        assert!(fresh(&zip, "key").is_some(), "changed back");
        std::fs::write(&zip, b"other bytes").unwrap();
        assert_eq!(fresh(&zip, "key"), None, "a zip changed behind slx's back");
        std::fs::write(&zip, b"zip bytes").unwrap();
        std::fs::remove_file(&source).unwrap();
        assert_eq!(fresh(&zip, "key"), None, "a source gone");
        forget(&zip);
        std::fs::write(&source, "pub fn a() {}").unwrap();
        assert_eq!(fresh(&zip, "key"), None, "no record");
    }
}
