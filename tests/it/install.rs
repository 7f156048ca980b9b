//! One line installs a release binary: scripts/release packages a binary
//! (here the debug slx, as the full release build takes minutes per
//! target and runs from the script), and the install.sh it writes,
//! piped to `sh` as a user would, fetches it over HTTP, checks its
//! SHA-256 and installs a `slx` that runs. The archive names are the
//! ones `cargo binstall` expands Cargo.toml's metadata to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use sha2::{Digest, Sha256};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn release(args: &[&str]) -> Output {
    let output = crate::common::run(
        Command::new(repo().join("scripts/release"))
            .args(args)
            // Fast compression: the debug binary is large, and the level
            // changes no name or entry.
            .env("SLX_RELEASE_GZIP_LEVEL", "1")
            .current_dir(repo()),
    );
    assert!(
        output.status.success(),
        "scripts/release {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `curl ... | sh -s -- ARGS`: the script on standard input.
fn pipe_to_sh(script: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("sh");
    command
        .arg("-s")
        .arg("--")
        .args(args)
        .env("PATH", std::env::var("PATH").unwrap())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("sh runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(script).unwrap())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// cargo-binstall's view: `[package.metadata.binstall]` expanded for a
/// target, as (archive URL, binary path inside the archive).
fn binstall_names(target: &str) -> (String, String) {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo().join("Cargo.toml")).unwrap()).unwrap();
    let package = manifest["package"].as_table().unwrap();
    let binstall = package["metadata"]["binstall"].as_table().unwrap();
    assert_eq!(binstall["pkg-fmt"].as_str(), Some("tgz"));
    let expand = |template: &str| {
        template
            .replace("{ repo }", env!("CARGO_PKG_REPOSITORY"))
            .replace("{ name }", "slx")
            .replace("{ bin }", "slx")
            .replace("{ version }", env!("CARGO_PKG_VERSION"))
            .replace("{ target }", target)
            .replace("{ binary-ext }", "")
            .replace("{ archive-suffix }", ".tar.gz")
    };
    let url = expand(binstall["pkg-url"].as_str().unwrap());
    let bin = expand(binstall["bin-dir"].as_str().unwrap());
    assert!(!url.contains('{') && !bin.contains('{'), "{url} {bin}");
    (url, bin)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP server for DIR (Python's), as a release page stands in.
fn serve(dir: &Path) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let server = Server(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "http.server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (server, format!("http://127.0.0.1:{port}"))
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn one_line_installs_a_release_binary_checked_against_its_sha256() {
    let _timing = crate::common::timing();
    let host = format!("{}-unknown-linux-musl", std::env::consts::ARCH);
    let listed = String::from_utf8(release(&["targets"]).stdout).unwrap();
    let targets: Vec<&str> = listed.lines().collect();
    assert!(
        targets.contains(&"x86_64-unknown-linux-musl")
            && targets.contains(&"aarch64-unknown-linux-musl")
            && targets.contains(&host.as_str()),
        "{targets:?}"
    );

    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    let debug_slx = PathBuf::from(env!("CARGO_BIN_EXE_slx"));
    let dist_arg = dist.to_str().unwrap();
    let packaged = release(&["package", debug_slx.to_str().unwrap(), &host, dist_arg]);
    let archive = PathBuf::from(String::from_utf8(packaged.stdout).unwrap().trim());
    release(&["finish", dist_arg]);

    // The archive has the name binstall asks for, and the binary where
    // binstall looks.
    let (url, bin_dir) = binstall_names(&host);
    let archive_name = archive.file_name().unwrap().to_str().unwrap();
    assert!(
        url.ends_with(&format!("/{archive_name}")),
        "{url} vs {archive_name}"
    );
    let listing = crate::common::run(Command::new("tar").arg("-tzvf").arg(&archive));
    let listing = String::from_utf8_lossy(&listing.stdout);
    let binary_line = listing
        .lines()
        .find(|line| line.ends_with(&format!(" {bin_dir}")))
        .unwrap_or_else(|| panic!("no {bin_dir} in\n{listing}"));
    assert!(binary_line.starts_with("-rwxr-xr-x"), "{binary_line}");
    for file in ["LICENSE", "README.md", "CHANGELOG.md"] {
        assert!(
            listing.contains(&format!("/{file}\n")),
            "{file} missing:\n{listing}"
        );
    }

    // Reproducible: packaging the same binary again gives the same bytes.
    let again = work.path().join("again");
    release(&[
        "package",
        debug_slx.to_str().unwrap(),
        &host,
        again.to_str().unwrap(),
    ]);
    assert_eq!(sha256_hex(&archive), sha256_hex(&again.join(archive_name)));

    // SHA256SUMS lists the archive's digest.
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums, format!("{}  {archive_name}\n", sha256_hex(&archive)));

    // The README's one line fetches this install.sh from the repository's
    // latest release.
    let repository = url.split("/releases/").next().unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let one_line = format!("curl -fsSL {repository}/releases/latest/download/install.sh | sh");
    assert!(readme.contains(&one_line), "README lacks `{one_line}`");

    // The released install.sh fetches exactly binstall's URL by default.
    let install_sh = dist.join("install.sh");
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let home_str = home.to_str().unwrap();
    let dry = pipe_to_sh(&install_sh, &["--dry-run"], &[("HOME", home_str)]);
    assert!(dry.status.success(), "{}", text(&dry));
    let dry = String::from_utf8(dry.stdout).unwrap();
    let dry: Vec<&str> = dry.lines().collect();
    assert_eq!(dry[0], url);
    assert_eq!(dry[1], "SHA256SUMS: carried by this script");
    assert_eq!(dry[2], format!("{home_str}/.local/bin/slx"));

    // The one line, against a local copy of the release page.
    let (_server, base) = serve(&dist);
    let installed = pipe_to_sh(
        &install_sh,
        &[],
        &[("HOME", home_str), ("SLX_DOWNLOAD_URL", &base)],
    );
    let said = text(&installed);
    assert!(installed.status.success(), "{said}");
    let slx = home.join(".local/bin/slx");
    assert!(
        said.contains(&format!(
            "installed slx {} to {}",
            env!("CARGO_PKG_VERSION"),
            slx.display()
        )),
        "{said}"
    );
    assert!(
        said.contains("is not on your PATH; add it: export PATH="),
        "{said}"
    );
    let version = crate::common::run(Command::new(&slx).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("slx {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(sha256_hex(&slx), sha256_hex(&debug_slx));
    let leftovers: Vec<_> = std::fs::read_dir(home.join(".local/bin"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["slx"], "only slx is left in the folder");

    // An archive replaced where it is downloaded from, with sums to
    // match beside it, installs nothing: the script carries its own.
    let tampered = work.path().join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(tampered.join(archive_name), &bytes).unwrap();
    let forged = sha256_hex(&tampered.join(archive_name));
    std::fs::write(
        tampered.join("SHA256SUMS"),
        format!("{forged}  {archive_name}\n"),
    )
    .unwrap();
    let (_tampered_server, tampered_base) = serve(&tampered);
    let refused_dir = work.path().join("refused");
    // `script` from `base`, into a folder that must stay unmade.
    let install_nothing = |script: &Path, base: &str, more: &[(&str, &str)]| {
        let mut env = vec![
            ("HOME", home_str),
            ("SLX_DOWNLOAD_URL", base),
            ("SLX_INSTALL_DIR", refused_dir.to_str().unwrap()),
        ];
        env.extend_from_slice(more);
        pipe_to_sh(script, &[], &env)
    };
    let refused = install_nothing(&install_sh, &tampered_base, &[]);
    let said = text(&refused);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains(&format!("checksum mismatch for {archive_name}"))
            && said.contains("nothing was installed"),
        "{said}"
    );
    assert!(
        !refused_dir.exists(),
        "nothing may be written on a mismatch"
    );

    // Only https, but for a copy on this machine; and a script cut short
    // in its download runs nothing.
    for plain in ["http://example.com/slx", "ftp://127.0.0.1/slx"] {
        let refused = install_nothing(&install_sh, plain, &[]);
        let said = text(&refused);
        assert!(
            !refused.status.success() && said.contains("only https://"),
            "{plain}: {said}"
        );
    }
    let script = std::fs::read(&install_sh).unwrap();
    let cut = work.path().join("cut.sh");
    std::fs::write(&cut, &script[..script.len() - 40]).unwrap();
    let truncated = install_nothing(&cut, &base, &[]);
    assert!(
        !text(&truncated).contains("downloading"),
        "{}",
        text(&truncated)
    );
    assert!(!refused_dir.exists());

    // A version that was never released names what it could not fetch.
    let missing = install_nothing(&install_sh, &base, &[("SLX_VERSION", "0.0.1")]);
    let said = text(&missing);
    assert!(
        !missing.status.success() && said.contains("could not download") && said.contains("v0.0.1"),
        "{said}"
    );
    assert!(!refused_dir.exists());

    // A platform without a release says how to build from source.
    let windows = pipe_to_sh(
        &install_sh,
        &["--dry-run"],
        &[("HOME", home_str), ("SLX_TARGET", "x86_64-pc-windows-msvc")],
    );
    let said = text(&windows);
    assert!(
        !windows.status.success()
            && said.contains(
                "no slx release for x86_64-pc-windows-msvc; build it from source: cargo install slx"
            ),
        "{said}"
    );

    // The repository's own copy is not a release: it says what to set.
    let unreleased = pipe_to_sh(
        &repo().join("scripts/install.sh"),
        &["--dry-run"],
        &[("HOME", home_str)],
    );
    let said = text(&unreleased);
    assert!(
        !unreleased.status.success() && said.contains("set SLX_VERSION"),
        "{said}"
    );
}
