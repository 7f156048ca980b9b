//! `slx build`: slx.toml + the app crate → a checked, zipped `bootstrap`.
//!
//! Steps: check handlers (`handlers`) → generate the handler crate
//! (`codegen`) → compile for the Lambda arch (`toolchain`) → check the ELF
//! (`elf`) → deterministic zip and its SHA-256 (`archive`).
//! Never talks to AWS.

pub mod archive;
pub mod codegen;
pub mod elf;
mod freshness;
pub mod handlers;
pub mod reproducible;
pub mod toolchain;

use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Arch, Project};
use toolchain::{Compiler, ToolchainError};

/// The cargo profile the generated crate defines for Lambda binaries.
/// Named after the `reproducible` scheme: cargo does not see the rustc
/// arguments slx's wrapper adds, so artifacts of an older scheme must
/// live in another directory (a new scheme compiles everything once).
pub const PROFILE: &str = reproducible::PROFILE;
/// Measured in docs/performance.md: the smallest zips for hello handlers.
pub const OPT_LEVEL: &str = "z";

/// Where a project keeps what slx generates (a cache, never required).
pub const WORK_DIR: &str = ".slx";

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    #[error("cannot read the app crate's manifest {}", .path.display())]
    #[diagnostic(
        code(slx::build::manifest),
        help(
            "slx.toml must sit next to the app crate's Cargo.toml (run `slx init` for an example)"
        )
    )]
    Manifest {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a usable package manifest: {reason}", .path.display())]
    #[diagnostic(
        code(slx::build::manifest),
        help("the handlers must be in a library crate with a [package] name")
    )]
    BadManifest { path: PathBuf, reason: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Handlers(#[from] handlers::HandlerError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Toolchain(#[from] ToolchainError),
    #[error("cannot generate the handler crate in {}", .dir.display())]
    #[diagnostic(code(slx::build::codegen))]
    Codegen {
        dir: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot run `{program}`")]
    #[diagnostic(
        code(slx::build::spawn),
        help("is the Rust toolchain (cargo) on PATH?")
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("compiling the handler for {arch} failed ({status})")]
    #[diagnostic(
        code(slx::build::compile),
        help(
            "the compiler's messages are above; `cargo check` in the app directory shows errors in your code alone"
        )
    )]
    Compile { arch: Arch, status: String },
    #[error("{} is not this build's: its dep-info names another checkout's sources", .binary.display())]
    #[diagnostic(
        code(slx::build::foreign_output),
        help(
            "another build wrote the same output while this one ran; build again (slx keeps each checkout's binaries in its own `.slx/target`)"
        )
    )]
    ForeignOutput { binary: PathBuf },
    #[error("cannot read or write {}", .path.display())]
    #[diagnostic(code(slx::build::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Elf(#[from] elf::ElfError),
    #[error("{} is not a usable Lambda zip: {reason}", .path.display())]
    #[diagnostic(
        code(slx::build::prebuilt),
        help("build it with `slx build` (or omit --zip to build now)")
    )]
    Prebuilt { path: PathBuf, reason: String },
    #[error("the zip is {size} bytes; Lambda accepts {limit} bytes in a direct upload")]
    #[diagnostic(
        code(slx::build::zip_too_large),
        help("reduce the binary (drop bundled assets, check `cargo bloat`)")
    )]
    ZipTooLarge { size: u64, limit: u64 },
}

/// The result of a build: what `deploy` uploads and `--output json` shows.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Artifact {
    pub zip: PathBuf,
    pub code_sha256: String,
    pub arch: Arch,
    /// Size of the zip.
    pub size_bytes: u64,
    pub binary_bytes: u64,
    /// Newest glibc the binary needs (`2.34`), if dynamically linked.
    pub max_glibc: Option<String>,
    pub compiler: Compiler,
    pub build_seconds: f64,
    /// The zip of an earlier build whose inputs are all unchanged (see
    /// `freshness`): cargo was not run.
    #[serde(default)]
    pub reused: bool,
}

/// The app crate as slx needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCrate {
    pub dir: PathBuf,
    pub package: String,
    pub lib_name: String,
    pub lib_path: PathBuf,
}

/// Reads the package and lib names of the crate in `dir`.
pub fn read_app_crate(dir: &Path) -> Result<AppCrate, BuildError> {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| BuildError::Manifest {
        path: path.clone(),
        source,
    })?;
    let bad = |reason: String| BuildError::BadManifest {
        path: path.clone(),
        reason,
    };
    let manifest: toml::Table = toml::from_str(&text).map_err(|e| bad(e.message().to_string()))?;
    let package = manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or_else(|| bad("no [package] name".into()))?
        .to_string();
    let lib = manifest.get("lib");
    let lib_name = lib
        .and_then(|l| l.get("name"))
        .and_then(|n| n.as_str())
        .map_or_else(|| package.replace('-', "_"), str::to_string);
    let lib_path = lib
        .and_then(|l| l.get("path"))
        .and_then(|p| p.as_str())
        .unwrap_or("src/lib.rs");
    let dir = std::path::absolute(dir).map_err(|source| BuildError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(AppCrate {
        lib_path: dir.join(lib_path),
        dir,
        package,
        lib_name,
    })
}

/// The function authorizers of `project` whose function in the app's
/// lib.rs takes the route (method, path or method ARN), so that their
/// verdicts are cached per route. When lib.rs cannot be read or checked,
/// every function authorizer counts: per-route caching is never wrong,
/// only slower.
pub fn authorizers_by_route(project: &Project, app_dir: &Path) -> BTreeSet<String> {
    let every = || {
        project
            .authorizers
            .iter()
            .filter(|authorizer| authorizer.function().is_some())
            .map(|authorizer| authorizer.name.clone())
            .collect()
    };
    let Ok(app) = read_app_crate(app_dir) else {
        return every();
    };
    let events: Vec<_> = project.events.iter().map(|e| e.handler.clone()).collect();
    match handlers::check_file(
        &app.lib_path,
        &project.routes,
        project.router.as_deref(),
        &events,
    ) {
        Ok(checked) => checked
            .events
            .iter()
            .filter(|event| event.authorizes_by_route())
            .map(|event| event.name.clone())
            .collect(),
        Err(_) => every(),
    }
}

/// Where a build of the app in `app_dir` compiles (the dependencies,
/// shared: `CARGO_BUILD_BUILD_DIR`, else `CARGO_TARGET_DIR`, else
/// `<app>/target`) and where it leaves the binary and its dep-info
/// (`<app>/.slx/target`, the checkout's own): two checkouts of one app
/// that share a target dir, building at once, never read each other's.
pub fn build_dirs(app_dir: &Path) -> toolchain::BuildDirs {
    toolchain::BuildDirs {
        build: std::env::var_os("CARGO_BUILD_BUILD_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir(app_dir)),
        artifacts: app_dir.join(WORK_DIR).join("target"),
    }
}

/// Where cargo puts build output: `CARGO_TARGET_DIR`, else `<app>/target`.
pub fn target_dir(app_dir: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| app_dir.join("target"))
}

/// Reports build progress; implemented by the CLI's `Ui`.
pub trait Progress {
    fn step_done(&self, what: &str, took: Duration);
}

/// Checks the handlers and writes the generated crate; returns the app
/// crate and the generated crate's directory.
fn generate(
    project: &Project,
    app_dir: &Path,
    progress: &dyn Progress,
) -> Result<(AppCrate, PathBuf), BuildError> {
    let started = Instant::now();
    let app = read_app_crate(app_dir)?;
    let events: Vec<_> = project.events.iter().map(|e| e.handler.clone()).collect();
    let checked = handlers::check_file(
        &app.lib_path,
        &project.routes,
        project.router.as_deref(),
        &events,
    )?;
    let router = match &checked.router {
        Some(router) => format!(" and the router `{}`", router.name),
        None => String::new(),
    };
    progress.step_done(
        &format!(
            "{} handlers{router} checked in {}",
            checked.routes.len() + checked.events.len(),
            app.lib_path.display()
        ),
        started.elapsed(),
    );

    let work = app.dir.join(WORK_DIR);
    let crate_dir = work.join("handler");
    let spec = codegen::CrateSpec {
        app: &project.app,
        app_package: &app.package,
        app_dir: &app.dir,
        opt_level: OPT_LEVEL,
        routes: &checked.routes,
        router: checked.router.as_ref(),
        events: &checked.events,
        secrets: project.fetches_secrets,
        cors: project.serves_cors,
    };
    let codegen_error = |source: Box<dyn std::error::Error + Send + Sync>| BuildError::Codegen {
        dir: crate_dir.clone(),
        source,
    };
    let files = codegen::render(&spec).map_err(|e| codegen_error(Box::new(e)))?;
    codegen::write_crate(&crate_dir, &files).map_err(|e| codegen_error(Box::new(e)))?;
    Ok((app, crate_dir))
}

/// Builds the handler for this machine (debug profile: the fastest edit →
/// rebuild loop), for `slx dev` and `slx invoke --local`. Returns a copy of
/// the binary under `.slx/dev/`, so a rebuild never overwrites a running
/// executable.
pub fn build_native(
    project: &Project,
    app_dir: &Path,
    progress: &dyn Progress,
) -> Result<PathBuf, BuildError> {
    let (app, crate_dir) = generate(project, app_dir, progress)?;
    let started = Instant::now();
    let dirs = build_dirs(&app.dir);
    let mut args = vec![
        "build".into(),
        "--manifest-path".into(),
        crate_dir.join("Cargo.toml").display().to_string(),
    ];
    args.extend(dirs.args());
    let plan = toolchain::CompilePlan {
        compiler: Compiler::Cargo,
        program: std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        args,
        binary: dirs.artifacts.join("debug").join("bootstrap"),
    };
    let host = if cfg!(target_arch = "aarch64") {
        Arch::Arm64
    } else {
        Arch::X86_64
    };
    run_compiler(&plan, host, &[])?;
    progress.step_done("compiled the handler for this machine", started.elapsed());
    let dev_dir = app.dir.join(WORK_DIR).join("dev");
    std::fs::create_dir_all(&dev_dir).map_err(|source| BuildError::Io {
        path: dev_dir.clone(),
        source,
    })?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let copy = dev_dir.join(format!("bootstrap-{stamp}"));
    std::fs::copy(&plan.binary, &copy).map_err(|source| BuildError::Io {
        path: plan.binary.clone(),
        source,
    })?;
    // Older copies are no longer started; remove all but the newest few.
    prune_dev_binaries(&dev_dir, &copy);
    Ok(copy)
}

fn prune_dev_binaries(dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut old: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p != keep)
        .collect();
    old.sort();
    // Running processes may still use the previous ones: keep three.
    let excess = old.len().saturating_sub(3);
    for path in old.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}

/// Builds the zip for `project`, whose crate lives in `app_dir`.
pub fn build(
    project: &Project,
    app_dir: &Path,
    progress: &dyn Progress,
) -> Result<Artifact, BuildError> {
    let started = Instant::now();
    let (app, crate_dir) = generate(project, app_dir, progress)?;
    let zip_path = last_built_zip(&app.dir, project.arch);
    // A build that fails half-way must not leave a record vouching for
    // the previous zip.
    freshness::forget(&zip_path);
    let compile_began = std::time::SystemTime::now();

    let compile_started = Instant::now();
    let tools = toolchain::detect();
    let forced = std::env::var("SLX_COMPILER").ok();
    let dirs = build_dirs(&app.dir);
    let plan = toolchain::plan_compile(
        &tools,
        forced.as_deref(),
        project.arch,
        &crate_dir.join("Cargo.toml"),
        &dirs,
        PROFILE,
    )?;
    // The same bytes from any checkout: see `reproducible`.
    let remap = reproducible::Remaps::for_app(&app.dir, &dirs.build)
        .wrapper_env()
        .unwrap_or_default();
    run_compiler(&plan, project.arch, &remap)?;
    progress.step_done(
        &format!(
            "compiled for {} with {}",
            project.arch,
            compiler_name(plan.compiler)
        ),
        compile_started.elapsed(),
    );

    let dep_info = plan.binary.with_extension("d");
    // The binary is this build's: its dep-info names this checkout's
    // generated crate (a binary another build left would name another).
    if !freshness::built_from(&dep_info, &crate_dir) {
        return Err(BuildError::ForeignOutput {
            binary: plan.binary.clone(),
        });
    }
    let binary = std::fs::read(&plan.binary).map_err(|source| BuildError::Io {
        path: plan.binary.clone(),
        source,
    })?;
    let facts = elf::check(&binary, project.arch)?;
    let zip = archive::zip_bootstrap(&binary).map_err(|e| BuildError::Io {
        path: plan.binary.clone(),
        source: std::io::Error::other(e),
    })?;
    if zip.len() as u64 > elf::ZIPPED_LIMIT {
        return Err(BuildError::ZipTooLarge {
            size: zip.len() as u64,
            limit: elf::ZIPPED_LIMIT,
        });
    }
    write_file(&zip_path, &zip)?;
    let artifact = Artifact {
        code_sha256: archive::code_sha256(&zip),
        zip: zip_path.clone(),
        arch: project.arch,
        size_bytes: zip.len() as u64,
        binary_bytes: facts.size,
        max_glibc: facts
            .max_glibc
            .map(|(major, minor)| format!("{major}.{minor}")),
        compiler: plan.compiler,
        build_seconds: started.elapsed().as_secs_f64(),
        reused: false,
    };
    // After cargo ran: the key covers the lock file it wrote.
    let inputs = freshness::inputs_key(project, &app, &crate_dir);
    freshness::record(&zip_path, inputs, &dep_info, &artifact, compile_began);
    Ok(artifact)
}

/// `build`, unless nothing the last build was made from has changed:
/// then its zip, without running cargo (see `freshness` for what counts).
pub fn build_if_changed(
    project: &Project,
    app_dir: &Path,
    progress: &dyn Progress,
) -> Result<Artifact, BuildError> {
    let started = Instant::now();
    let app = read_app_crate(app_dir)?;
    let crate_dir = app.dir.join(WORK_DIR).join("handler");
    let zip = last_built_zip(&app.dir, project.arch);
    let inputs = freshness::inputs_key(project, &app, &crate_dir);
    match freshness::fresh(&zip, &inputs) {
        Some(artifact) => {
            progress.step_done(
                "handler unchanged since the last build (cargo not run)",
                started.elapsed(),
            );
            Ok(Artifact {
                reused: true,
                build_seconds: started.elapsed().as_secs_f64(),
                ..artifact
            })
        }
        None => build(project, app_dir, progress),
    }
}

/// A zip built earlier (`--zip`), checked like a fresh build: it must hold
/// a `bootstrap` for `arch` that al2023 can run.
pub fn load_prebuilt(path: &Path, arch: Arch) -> Result<(Vec<u8>, String), BuildError> {
    let zip = std::fs::read(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let binary = archive::bootstrap_of(&zip).map_err(|reason| BuildError::Prebuilt {
        path: path.to_path_buf(),
        reason,
    })?;
    elf::check(&binary, arch)?;
    if zip.len() as u64 > elf::ZIPPED_LIMIT {
        return Err(BuildError::ZipTooLarge {
            size: zip.len() as u64,
            limit: elf::ZIPPED_LIMIT,
        });
    }
    let sha = archive::code_sha256(&zip);
    Ok((zip, sha))
}

/// The zip the last `slx build` left for `arch`, if any.
pub fn last_built_zip(app_dir: &Path, arch: Arch) -> PathBuf {
    app_dir
        .join(WORK_DIR)
        .join("build")
        .join(arch.as_str())
        .join("bootstrap.zip")
}

fn compiler_name(compiler: Compiler) -> &'static str {
    match compiler {
        Compiler::Zigbuild => "cargo-zigbuild (glibc 2.34)",
        Compiler::Cargo => "cargo",
    }
}

fn run_compiler(
    plan: &toolchain::CompilePlan,
    arch: Arch,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> Result<(), BuildError> {
    // Cargo's own stdout goes to our stderr: stdout is reserved for the
    // result (and must stay valid JSON with `--output json`).
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let status = Command::new(&plan.program)
        .args(&plan.args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(stdout)
        .status()
        .map_err(|source| BuildError::Spawn {
            program: format!("{} {}", plan.program, plan.args.join(" ")),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Compile {
            arch,
            status: status.to_string(),
        })
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    // Write-then-rename: a build killed half-way never leaves a torn zip
    // that a later deploy would upload.
    let partial = path.with_extension("zip.partial");
    std::fs::write(&partial, bytes).map_err(io)?;
    std::fs::rename(&partial, path).map_err(io)
}
