//! Checks the compiled `bootstrap` before it is zipped: the architecture
//! Lambda will run it on, the newest glibc symbol it needs, and its size.
//!
//! Reads bytes only (goblin); never executes the binary.

use goblin::elf::Elf;
use goblin::elf::header::{EM_AARCH64, EM_X86_64, ET_DYN, ET_EXEC};

use crate::config::Arch;

/// glibc of Lambda's `provided.al2023` runtime.
pub const AL2023_GLIBC: (u32, u32) = (2, 34);
/// Lambda's limit on the unzipped deployment package.
pub const UNZIPPED_LIMIT: u64 = 250 * 1024 * 1024;
/// Lambda's limit on a zip uploaded directly (not through S3).
pub const ZIPPED_LIMIT: u64 = 50 * 1024 * 1024;

/// What the ELF says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ElfFacts {
    pub arch: Option<Arch>,
    /// Newest `GLIBC_x.y` version the binary requires; None when static.
    pub max_glibc: Option<(u32, u32)>,
    pub size: u64,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic, PartialEq, Eq)]
pub enum ElfError {
    #[error("the bootstrap is not a Linux executable: {reason}")]
    #[diagnostic(
        code(slx::elf::not_elf),
        help("build the handler with `slx build`; the zip must hold the compiled binary")
    )]
    NotElf { reason: String },
    #[error("the bootstrap is built for {found}, but slx.toml says arch = \"{expected}\"")]
    #[diagnostic(
        code(slx::elf::arch),
        help(
            "Lambda would fail with Runtime.InvalidEntrypoint (exec format error); rebuild for {expected} with `slx build`, or set `arch = \"{found}\"` in slx.toml"
        )
    )]
    WrongArch { expected: Arch, found: String },
    #[error("the bootstrap needs GLIBC_{}.{}, but Lambda's provided.al2023 has glibc {}.{}", .needed.0, .needed.1, AL2023_GLIBC.0, AL2023_GLIBC.1)]
    #[diagnostic(
        code(slx::elf::glibc),
        help("it would fail at start with `GLIBC_{}.{} not found`; build with cargo-zigbuild (`pip install cargo-zigbuild ziglang`), which pins glibc 2.34, instead of the host's newer glibc", .needed.0, .needed.1)
    )]
    GlibcTooNew { needed: (u32, u32) },
    #[error("the bootstrap is {size} bytes; Lambda allows {limit} bytes unzipped")]
    #[diagnostic(
        code(slx::elf::too_large),
        help("drop bundled assets or heavy dependencies; check `cargo bloat`")
    )]
    TooLarge { size: u64, limit: u64 },
}

/// Reads the facts out of an ELF image.
pub fn inspect(bytes: &[u8]) -> Result<ElfFacts, ElfError> {
    let elf = Elf::parse(bytes).map_err(|error| ElfError::NotElf {
        reason: error.to_string(),
    })?;
    if elf.header.e_type != ET_EXEC && elf.header.e_type != ET_DYN {
        return Err(ElfError::NotElf {
            reason: format!("ELF type {} is not an executable", elf.header.e_type),
        });
    }
    let arch = match elf.header.e_machine {
        EM_X86_64 => Some(Arch::X86_64),
        EM_AARCH64 => Some(Arch::Arm64),
        _ => None,
    };
    let mut max_glibc: Option<(u32, u32)> = None;
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let Some(name) = elf.dynstrtab.get_at(aux.vna_name) else {
                    continue;
                };
                if let Some(version) = glibc_version(name) {
                    max_glibc = max_glibc.max(Some(version));
                }
            }
        }
    }
    Ok(ElfFacts {
        arch,
        max_glibc,
        size: bytes.len() as u64,
    })
}

/// `GLIBC_2.34` → (2, 34); `GLIBC_2.2.5` → (2, 2); others → None.
fn glibc_version(name: &str) -> Option<(u32, u32)> {
    let version = name.strip_prefix("GLIBC_")?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((major, minor))
}

/// Checks the facts against what Lambda will run.
pub fn verify(facts: &ElfFacts, expected: Arch, machine_name: &str) -> Result<(), ElfError> {
    if facts.arch != Some(expected) {
        return Err(ElfError::WrongArch {
            expected,
            found: facts
                .arch
                .map_or_else(|| machine_name.to_string(), |a| a.as_str().to_string()),
        });
    }
    if let Some(needed) = facts.max_glibc
        && needed > AL2023_GLIBC
    {
        return Err(ElfError::GlibcTooNew { needed });
    }
    if facts.size > UNZIPPED_LIMIT {
        return Err(ElfError::TooLarge {
            size: facts.size,
            limit: UNZIPPED_LIMIT,
        });
    }
    Ok(())
}

/// Inspects and verifies in one step.
pub fn check(bytes: &[u8], expected: Arch) -> Result<ElfFacts, ElfError> {
    let facts = inspect(bytes)?;
    let machine = Elf::parse(bytes)
        .map(|elf| goblin::elf::header::machine_to_str(elf.header.e_machine).to_string())
        .unwrap_or_default();
    verify(&facts, expected, &machine)?;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_parse() {
        assert_eq!(glibc_version("GLIBC_2.34"), Some((2, 34)));
        assert_eq!(glibc_version("GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(glibc_version("GLIBC_PRIVATE"), None);
        assert_eq!(glibc_version("GCC_3.0"), None);
    }

    #[test]
    fn the_test_binary_itself_is_a_host_elf() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let facts = inspect(&me).unwrap();
        assert_eq!(facts.arch, Some(Arch::X86_64));
        assert!(facts.max_glibc.is_some());
    }

    #[test]
    fn verify_reports_each_failure() {
        let good = ElfFacts {
            arch: Some(Arch::X86_64),
            max_glibc: Some((2, 34)),
            size: 10,
        };
        assert_eq!(verify(&good, Arch::X86_64, "x86_64"), Ok(()));
        assert!(matches!(
            verify(&good, Arch::Arm64, "x86_64"),
            Err(ElfError::WrongArch { .. })
        ));
        let new = ElfFacts {
            max_glibc: Some((2, 38)),
            ..good.clone()
        };
        assert_eq!(
            verify(&new, Arch::X86_64, ""),
            Err(ElfError::GlibcTooNew { needed: (2, 38) })
        );
        let big = ElfFacts {
            size: UNZIPPED_LIMIT + 1,
            ..good
        };
        assert!(matches!(
            verify(&big, Arch::X86_64, ""),
            Err(ElfError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_not_an_elf() {
        assert!(matches!(
            inspect(b"#!/bin/sh\necho hi\n"),
            Err(ElfError::NotElf { .. })
        ));
    }
}
