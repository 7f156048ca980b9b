//! Published versions of a stage's function: listing them, choosing the
//! rollback target, and choosing which old ones to prune.
//!
//! The choices are pure; `list` is the only AWS call here (read-only).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::aws::{AwsError, Clients};

/// One published version, as `slx versions` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: String,
    /// `slx 0.1.0 from git abc123 at 2026-11-26T19:10:59Z`.
    pub description: String,
    pub last_modified: String,
    pub code_sha256: String,
}

fn number(version: &str) -> u64 {
    version.parse().unwrap_or(0)
}

/// Every published version (not `$LATEST`), oldest first.
pub async fn list(clients: &Clients, function_name: &str) -> Result<Vec<VersionInfo>, AwsError> {
    let mut versions = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = clients
            .lambda
            .list_versions_by_function()
            .function_name(function_name)
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("list versions of {function_name}"), &e))?;
        for v in page.versions() {
            let version = v.version().unwrap_or_default();
            if version == "$LATEST" {
                continue;
            }
            versions.push(VersionInfo {
                version: version.to_string(),
                description: v.description().unwrap_or_default().to_string(),
                last_modified: v.last_modified().unwrap_or_default().to_string(),
                code_sha256: v.code_sha256().unwrap_or_default().to_string(),
            });
        }
        match page.next_marker() {
            Some(next) if Some(next) != marker.as_deref() => marker = Some(next.to_string()),
            _ => break,
        }
    }
    versions.sort_by_key(|v| number(&v.version));
    Ok(versions)
}

/// Versions to delete so that at most `keep` remain, oldest first; never
/// one in `protected` (what an alias points at).
pub fn to_prune(versions: &[String], keep: usize, protected: &BTreeSet<String>) -> Vec<String> {
    let mut sorted: Vec<&String> = versions.iter().collect();
    sorted.sort_by_key(|v| number(v));
    let excess = sorted.len().saturating_sub(keep);
    sorted
        .into_iter()
        .filter(|v| !protected.contains(*v))
        .take(excess)
        .cloned()
        .collect()
}

#[derive(Debug, thiserror::Error, miette::Diagnostic, PartialEq, Eq)]
pub enum RollbackError {
    #[error("version {0} of this stage does not exist")]
    #[diagnostic(
        code(slx::rollback::unknown_version),
        help("`slx versions --stage STAGE` lists the versions that exist")
    )]
    UnknownVersion(String),
    #[error("there is no version older than {0} to roll back to")]
    #[diagnostic(
        code(slx::rollback::nothing_older),
        help(
            "`slx versions --stage STAGE` lists the versions; older ones may have been pruned (`keep_versions`)"
        )
    )]
    NothingOlder(String),
    #[error("the stage already serves version {0}")]
    #[diagnostic(code(slx::rollback::current), help("pick another version with `--to`"))]
    AlreadyCurrent(String),
}

/// The version to point the alias at: `to`, or the newest one older than
/// `current`.
pub fn rollback_target(
    versions: &[String],
    current: &str,
    to: Option<&str>,
) -> Result<String, RollbackError> {
    if let Some(to) = to {
        if !versions.iter().any(|v| v == to) {
            return Err(RollbackError::UnknownVersion(to.to_string()));
        }
        if to == current {
            return Err(RollbackError::AlreadyCurrent(to.to_string()));
        }
        return Ok(to.to_string());
    }
    versions
        .iter()
        .filter(|v| number(v) < number(current))
        .max_by_key(|v| number(v))
        .cloned()
        .ok_or_else(|| RollbackError::NothingOlder(current.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prunes_oldest_beyond_keep_but_never_the_aliased_one() {
        let versions = v(&["1", "2", "3", "10", "11"]);
        assert_eq!(to_prune(&versions, 3, &BTreeSet::new()), v(&["1", "2"]));
        let protected = BTreeSet::from(["1".to_string()]);
        assert_eq!(to_prune(&versions, 3, &protected), v(&["2", "3"]));
        assert!(to_prune(&versions, 10, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn rollback_goes_to_the_previous_version_or_the_one_asked() {
        let versions = v(&["1", "2", "3"]);
        assert_eq!(rollback_target(&versions, "3", None), Ok("2".into()));
        assert_eq!(rollback_target(&versions, "2", Some("3")), Ok("3".into()));
        assert_eq!(
            rollback_target(&versions, "1", None),
            Err(RollbackError::NothingOlder("1".into()))
        );
        assert_eq!(
            rollback_target(&versions, "3", Some("9")),
            Err(RollbackError::UnknownVersion("9".into()))
        );
        assert_eq!(
            rollback_target(&versions, "3", Some("3")),
            Err(RollbackError::AlreadyCurrent("3".into()))
        );
        // Numeric, not lexical: 10 is newer than 9.
        assert_eq!(
            rollback_target(&v(&["9", "10", "11"]), "11", None),
            Ok("10".into())
        );
    }
}
