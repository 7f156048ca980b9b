//! Chooses how to compile for Lambda and says exactly what is missing.
//!
//! `plan_compile` is pure (tools found → command line); `detect` is the
//! only function here that runs processes, and only `--version` probes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Arch;
use crate::handler::elf::AL2023_GLIBC;

/// Which compiler front end to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compiler {
    /// `cargo zigbuild`: links against glibc 2.34 for any arch.
    Zigbuild,
    /// Plain `cargo build`: only for the host's arch; the ELF check guards
    /// against the host's newer glibc.
    Cargo,
}

/// What is installed, as far as a build cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tools {
    pub zigbuild: bool,
    /// `None` when rustup is absent (cannot tell; let cargo decide).
    pub installed_targets: Option<Vec<String>>,
    pub host_arch: Option<Arch>,
    /// `std::env::consts::OS`: plain cargo links a Lambda binary only on
    /// Linux (a macOS host has no Linux linker and glibc).
    pub host_os: String,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic, PartialEq, Eq)]
pub enum ToolchainError {
    #[error("the Rust target {target} is not installed")]
    #[diagnostic(code(slx::build::target), help("run `rustup target add {target}`"))]
    MissingTarget { target: String },
    #[error("building for {arch} on this machine needs cargo-zigbuild, which is not installed")]
    #[diagnostic(
        code(slx::build::zigbuild),
        help(
            "run `pip install cargo-zigbuild ziglang` (or `cargo install cargo-zigbuild` plus zig), then build again"
        )
    )]
    NeedZigbuild { arch: Arch },
    #[error("SLX_COMPILER={value} is not a compiler slx knows")]
    #[diagnostic(
        code(slx::build::compiler),
        help("use SLX_COMPILER=zigbuild or SLX_COMPILER=cargo, or unset it")
    )]
    UnknownCompiler { value: String },
}

/// The chosen compiler and its full command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompilePlan {
    pub compiler: Compiler,
    pub program: String,
    pub args: Vec<String>,
    /// Where cargo leaves the binary.
    pub binary: PathBuf,
}

/// Where a build puts what it compiles: the dependencies and every
/// intermediate file in `build`, shared by every app that shares
/// `CARGO_TARGET_DIR`; the binary and its dep-info in `artifacts`, the
/// checkout's own (cargo's `build.build-dir` and `--target-dir`).
// https://doc.rust-lang.org/cargo/reference/config.html#buildbuild-dir
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDirs {
    pub build: PathBuf,
    pub artifacts: PathBuf,
}

impl BuildDirs {
    /// cargo's arguments that place a build so.
    pub fn args(&self) -> Vec<String> {
        let build = toml::Value::String(self.build.display().to_string());
        vec![
            "--target-dir".into(),
            self.artifacts.display().to_string(),
            "--config".into(),
            format!("build.build-dir={build}"),
        ]
    }
}

/// Decides the compiler and command. `forced` is `SLX_COMPILER`.
pub fn plan_compile(
    tools: &Tools,
    forced: Option<&str>,
    arch: Arch,
    manifest: &Path,
    dirs: &BuildDirs,
    profile: &str,
) -> Result<CompilePlan, ToolchainError> {
    let target = arch.rust_target();
    if let Some(installed) = &tools.installed_targets
        && !installed.iter().any(|t| t == target)
    {
        return Err(ToolchainError::MissingTarget {
            target: target.into(),
        });
    }
    let compiler = match forced {
        Some("zigbuild") => Compiler::Zigbuild,
        Some("cargo") => Compiler::Cargo,
        Some(other) => {
            return Err(ToolchainError::UnknownCompiler {
                value: other.into(),
            });
        }
        None if tools.zigbuild => Compiler::Zigbuild,
        None if tools.host_os == "linux" && tools.host_arch == Some(arch) => Compiler::Cargo,
        None => return Err(ToolchainError::NeedZigbuild { arch }),
    };
    let (subcommand, target_arg) = match compiler {
        Compiler::Zigbuild => (
            "zigbuild",
            format!("{target}.{}.{}", AL2023_GLIBC.0, AL2023_GLIBC.1),
        ),
        Compiler::Cargo => ("build", target.to_string()),
    };
    let mut args = vec![
        subcommand.to_string(),
        "--profile".into(),
        profile.into(),
        "--target".into(),
        target_arg,
        "--manifest-path".into(),
        manifest.display().to_string(),
    ];
    args.extend(dirs.args());
    Ok(CompilePlan {
        compiler,
        program: std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        args,
        binary: dirs.artifacts.join(target).join(profile).join("bootstrap"),
    })
}

/// Probes the machine (runs `cargo zigbuild --version` and `rustup`).
pub fn detect() -> Tools {
    let succeeds = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|out| out.status.success())
    };
    let installed_targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        });
    Tools {
        zigbuild: succeeds("cargo-zigbuild", &["--version"]),
        installed_targets,
        host_arch: match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        },
        host_os: std::env::consts::OS.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(zigbuild: bool) -> Tools {
        Tools {
            zigbuild,
            installed_targets: Some(vec![
                "x86_64-unknown-linux-gnu".into(),
                "aarch64-unknown-linux-gnu".into(),
            ]),
            host_arch: Some(Arch::X86_64),
            host_os: "linux".into(),
        }
    }

    fn plan_for(
        tools: &Tools,
        forced: Option<&str>,
        arch: Arch,
    ) -> Result<CompilePlan, ToolchainError> {
        plan_compile(
            tools,
            forced,
            arch,
            Path::new("h/Cargo.toml"),
            &BuildDirs {
                build: PathBuf::from("shared"),
                artifacts: PathBuf::from("t"),
            },
            "lambda",
        )
    }

    #[test]
    fn zigbuild_pins_al2023_glibc() {
        let plan = plan_for(&tools(true), None, Arch::Arm64).unwrap();
        assert_eq!(plan.compiler, Compiler::Zigbuild);
        assert!(
            plan.args
                .contains(&"aarch64-unknown-linux-gnu.2.34".to_string())
        );
        assert_eq!(
            plan.binary,
            Path::new("t/aarch64-unknown-linux-gnu/lambda/bootstrap")
        );
    }

    #[test]
    fn plain_cargo_only_for_the_host_arch() {
        let plan = plan_for(&tools(false), None, Arch::X86_64).unwrap();
        assert_eq!(plan.compiler, Compiler::Cargo);
        assert_eq!(
            plan_for(&tools(false), None, Arch::Arm64),
            Err(ToolchainError::NeedZigbuild { arch: Arch::Arm64 })
        );
        // A Mac of the same arch cannot link a Linux binary with cargo.
        let mut mac = tools(false);
        mac.host_os = "macos".into();
        mac.host_arch = Some(Arch::Arm64);
        assert_eq!(
            plan_for(&mac, None, Arch::Arm64),
            Err(ToolchainError::NeedZigbuild { arch: Arch::Arm64 })
        );
        mac.zigbuild = true;
        assert_eq!(
            plan_for(&mac, None, Arch::Arm64).unwrap().compiler,
            Compiler::Zigbuild
        );
    }

    #[test]
    fn missing_rust_target_names_the_rustup_command() {
        let mut tools = tools(true);
        tools.installed_targets = Some(vec!["x86_64-unknown-linux-gnu".into()]);
        let error = plan_for(&tools, None, Arch::Arm64).unwrap_err();
        assert_eq!(
            error,
            ToolchainError::MissingTarget {
                target: "aarch64-unknown-linux-gnu".into()
            }
        );
    }

    #[test]
    fn forced_compiler_is_honoured_or_refused() {
        assert_eq!(
            plan_for(&tools(true), Some("cargo"), Arch::X86_64)
                .unwrap()
                .compiler,
            Compiler::Cargo
        );
        assert!(matches!(
            plan_for(&tools(true), Some("gcc"), Arch::X86_64),
            Err(ToolchainError::UnknownCompiler { .. })
        ));
    }
}
