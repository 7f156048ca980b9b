//! The deployment zip: one entry `bootstrap`, mode 0755, a fixed timestamp,
//! so the same binary always gives the same bytes (and the same
//! `CodeSha256`, which is what makes a no-op deploy detectable).

use std::io::{Cursor, Write};

use base64::Engine;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Zips `binary` as `bootstrap`.
pub fn zip_bootstrap(binary: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(DateTime::default());
    writer.start_file("bootstrap", options)?;
    writer.write_all(binary)?;
    Ok(writer.finish()?.into_inner())
}

/// The `bootstrap` entry of a deployment zip.
pub fn bootstrap_of(zip: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut archive =
        zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| format!("not a zip: {e}"))?;
    let mut entry = archive.by_name("bootstrap").map_err(|_| {
        "the zip has no `bootstrap` at its root (Lambda's provided runtimes need one)".to_string()
    })?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `bootstrap`: {e}"))?;
    Ok(bytes)
}

/// Base64 SHA-256, as Lambda reports it in `CodeSha256`.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn same_binary_same_bytes_with_a_fixed_date() {
        let first = zip_bootstrap(b"\x7fELF pretend").unwrap();
        assert_eq!(first, zip_bootstrap(b"\x7fELF pretend").unwrap());
        assert_ne!(first, zip_bootstrap(b"\x7fELF other").unwrap());
        // Not the clock: the zip format's earliest date, 1980-01-01 00:00.
        let mut archive = zip::ZipArchive::new(Cursor::new(first)).unwrap();
        let date = archive.by_index(0).unwrap().last_modified().unwrap();
        assert_eq!(
            (date.year(), date.month(), date.day()),
            (1980, 1, 1),
            "{date:?}"
        );
        assert_eq!((date.hour(), date.minute(), date.second()), (0, 0, 0));
    }

    #[test]
    fn one_executable_entry_named_bootstrap() {
        let bytes = zip_bootstrap(b"binary").unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, b"binary");
    }

    #[test]
    fn reads_bootstrap_back_or_says_what_is_wrong() {
        let zip = zip_bootstrap(b"bin").unwrap();
        assert_eq!(bootstrap_of(&zip).unwrap(), b"bin");
        assert!(bootstrap_of(b"nope").unwrap_err().starts_with("not a zip"));
    }

    #[test]
    fn sha_is_base64_of_sha256() {
        // python3 -c "import hashlib,base64; print(base64.b64encode(hashlib.sha256(b'').digest()))"
        assert_eq!(
            code_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
