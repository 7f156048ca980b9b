//! `slx doctor`'s verdicts: from what was found on the machine and in AWS
//! (gathered by `commands::doctor`), one check per thing slx needs, each
//! with the fix when it fails.
//!
//! Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Arch;
use crate::handler::toolchain::Tools;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Works, with a caveat.
    Warn,
    /// slx cannot do something until it is fixed.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do, when it is not `Ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(check: &str, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn not(
        status: Status,
        check: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            check: check.into(),
            status,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Who the credentials are, or why they could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Known {
        account: String,
        arn: String,
        region: String,
    },
    /// No region could be found.
    NoRegion,
    /// The call failed: the reason, and AWS's hint.
    Failed { reason: String, fix: String },
}

/// Everything the checks judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    /// `cargo --version`, if cargo runs.
    pub cargo: Option<String>,
    pub tools: Tools,
    /// `ldd --version`'s glibc, on Linux.
    pub host_glibc: Option<String>,
    /// The archs slx.toml's stages build for (x86_64 without slx.toml).
    pub archs: Vec<Arch>,
    pub identity: Identity,
    /// `account` of each stage that pins one.
    pub pinned: BTreeMap<String, String>,
    /// Why slx.toml cannot be used, when there is one and it cannot.
    pub config_problem: Option<String>,
}

/// The glibc version on the first line `ldd --version` prints: the last
/// word, when the line names glibc. Distributions word it differently
/// ("ldd (GNU libc) 2.38" on Fedora, "ldd (Debian GLIBC 2.36-9) 2.36" on
/// Debian, "ldd (Ubuntu GLIBC 2.35-0ubuntu3) 2.35" on Ubuntu); musl's ldd
/// names musl (and prints to stderr).
pub fn glibc_of_ldd(first_line: &str) -> Option<String> {
    let lower = first_line.to_ascii_lowercase();
    if !(lower.contains("gnu libc") || lower.contains("glibc")) {
        return None;
    }
    let version = first_line.trim().rsplit(' ').next()?;
    version
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit())
        .then(|| version.to_string())
}

/// The verdicts, in the order a newcomer fixes them.
pub fn checks(found: &Findings) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(problem) = &found.config_problem {
        checks.push(Check::not(
            Status::Fail,
            "slx.toml",
            problem.clone(),
            "run `slx validate`: it shows each problem at its line, with the fix",
        ));
    }
    checks.push(match &found.cargo {
        Some(version) => Check::ok("cargo", version.clone()),
        None => Check::not(
            Status::Fail,
            "cargo",
            "cargo does not run",
            "install Rust with rustup (https://rustup.rs)",
        ),
    });
    for arch in &found.archs {
        let target = arch.rust_target();
        let name = format!("target {target}");
        checks.push(match &found.tools.installed_targets {
            Some(installed) if installed.iter().any(|t| t == target) => {
                Check::ok(&name, "installed")
            }
            Some(_) => Check::not(
                Status::Fail,
                &name,
                "not installed: slx build cannot compile for it",
                format!("rustup target add {target}"),
            ),
            None => Check::not(
                Status::Warn,
                &name,
                "rustup is not installed, so slx cannot tell",
                format!("install the target for {target} with your Rust toolchain"),
            ),
        });
    }
    let native_only = found.tools.host_os == "linux"
        && found
            .archs
            .iter()
            .all(|arch| Some(*arch) == found.tools.host_arch);
    checks.push(match (found.tools.zigbuild, native_only) {
        (true, _) => Check::ok("cargo-zigbuild", "installed: builds link against glibc 2.34, as Lambda's al2023 has"),
        (false, true) => Check::not(
            Status::Warn,
            "cargo-zigbuild",
            "not installed: slx builds with plain cargo, and refuses a binary that needs this machine's newer glibc",
            "pip install cargo-zigbuild ziglang",
        ),
        (false, false) => Check::not(
            Status::Fail,
            "cargo-zigbuild",
            "not installed: needed to build for another architecture or OS than this machine's",
            "pip install cargo-zigbuild ziglang",
        ),
    });
    if found.tools.host_os == "linux" {
        checks.push(match &found.host_glibc {
            Some(version) => Check::ok(
                "host glibc",
                format!("{version} (slx dev runs handlers built for this machine)"),
            ),
            None => Check::not(
                Status::Warn,
                "host glibc",
                "unknown (`ldd --version` did not say)",
                "a musl host builds with cargo-zigbuild only: pip install cargo-zigbuild ziglang",
            ),
        });
    }
    match &found.identity {
        Identity::Known {
            account,
            arn,
            region,
        } => {
            checks.push(Check::ok(
                "AWS credentials",
                format!("{arn} (account {account})"),
            ));
            checks.push(Check::ok("AWS region", region.clone()));
            for (stage, pinned) in &found.pinned {
                let name = format!("stage {stage}");
                checks.push(if pinned == account {
                    Check::ok(&name, format!("pinned to account {pinned}: these credentials"))
                } else {
                    Check::not(
                        Status::Fail,
                        &name,
                        format!("pinned to account {pinned}; these credentials are for {account}"),
                        format!("use that account's profile: `--profile NAME`, or `profile` in [stages.{stage}]"),
                    )
                });
            }
        }
        Identity::NoRegion => checks.push(Check::not(
            Status::Fail,
            "AWS region",
            "no region is configured",
            "set `region` in slx.toml's [app], AWS_REGION, or a region in your AWS profile",
        )),
        Identity::Failed { reason, fix } => checks.push(Check::not(
            Status::Fail,
            "AWS credentials",
            reason.clone(),
            fix.clone(),
        )),
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings() -> Findings {
        Findings {
            cargo: Some("cargo 1.95.0".into()),
            tools: Tools {
                zigbuild: true,
                installed_targets: Some(vec!["x86_64-unknown-linux-gnu".into()]),
                host_arch: Some(Arch::X86_64),
                host_os: "linux".into(),
            },
            host_glibc: Some("2.41".into()),
            archs: vec![Arch::X86_64],
            identity: Identity::Known {
                account: "123456789012".into(),
                arn: "arn:aws:iam::123456789012:user/ci".into(),
                region: "eu-west-1".into(),
            },
            pinned: BTreeMap::from([("prod".into(), "123456789012".into())]),
            config_problem: None,
        }
    }

    fn status_of(checks: &[Check], name: &str) -> Status {
        checks.iter().find(|c| c.check == name).unwrap().status
    }

    #[test]
    fn a_ready_machine_passes_every_check() {
        let checks = checks(&findings());
        assert!(checks.iter().all(|c| c.status == Status::Ok), "{checks:#?}");
        assert_eq!(checks.len(), 7);
    }

    #[test]
    fn each_problem_comes_with_its_fix() {
        let mut found = findings();
        found.archs.push(Arch::Arm64);
        found.tools.zigbuild = false;
        found.pinned.insert("dev".into(), "999999999999".into());
        let checks = checks(&found);
        let arm = checks
            .iter()
            .find(|c| c.check == "target aarch64-unknown-linux-gnu")
            .unwrap();
        assert_eq!(
            arm.fix.as_deref(),
            Some("rustup target add aarch64-unknown-linux-gnu")
        );
        assert_eq!(
            status_of(&checks, "cargo-zigbuild"),
            Status::Fail,
            "arm64 needs it"
        );
        assert_eq!(status_of(&checks, "stage dev"), Status::Fail);
        assert_eq!(status_of(&checks, "stage prod"), Status::Ok);

        found.config_problem = Some("slx.toml has 1 problem".into());
        assert_eq!(status_of(&super::checks(&found), "slx.toml"), Status::Fail);
        found.config_problem = None;

        found.archs = vec![Arch::X86_64];
        let checks = super::checks(&found);
        assert_eq!(
            status_of(&checks, "cargo-zigbuild"),
            Status::Warn,
            "native builds work"
        );

        found.identity = Identity::NoRegion;
        found.cargo = None;
        let checks = super::checks(&found);
        assert_eq!(status_of(&checks, "AWS region"), Status::Fail);
        assert_eq!(status_of(&checks, "cargo"), Status::Fail);
        assert!(
            checks.iter().all(|c| !c.check.starts_with("stage ")),
            "no account to compare"
        );
    }

    #[test]
    fn glibc_is_read_from_each_distributions_ldd() {
        for (line, version) in [
            ("ldd (GNU libc) 2.38", Some("2.38")),
            ("ldd (Debian GLIBC 2.36-9+deb12u14) 2.36", Some("2.36")),
            ("ldd (Ubuntu GLIBC 2.35-0ubuntu3.8) 2.35", Some("2.35")),
            ("musl libc (x86_64)", None),
            ("ldd (GNU libc)", None),
        ] {
            assert_eq!(glibc_of_ldd(line).as_deref(), version, "{line}");
        }
    }
}
