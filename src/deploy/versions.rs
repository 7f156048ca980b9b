//! Choices about a stage's published versions: which old ones to prune,
//! which one a rollback goes to. Pure; the versions come from
//! `aws::Reader::versions`.

use std::collections::BTreeSet;

fn number(version: &str) -> u64 {
    version.parse().unwrap_or(0)
}

/// Versions to delete so that at most `keep` remain, oldest first; never
/// one in `protected` (what an alias points at).
pub(crate) fn to_prune(
    versions: &[String],
    keep: usize,
    protected: &BTreeSet<String>,
) -> Vec<String> {
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

/// Versions to delete after a publish of `code_sha256` (with
/// `function_changes`: `$LATEST` was changed first), so that `keep`
/// remain with the new one. Lambda publishes nothing new when `$LATEST`
/// equals the newest version: that one is then the new one, and stays.
/// `serving` (what an alias keeps serving during a canary) stays too.
pub(crate) fn to_prune_after_publish(
    versions: &[crate::aws::VersionInfo],
    code_sha256: &str,
    function_changes: bool,
    keep: u32,
    serving: Option<&str>,
) -> Vec<String> {
    let numbers: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
    let newest_matches = versions
        .last()
        .is_some_and(|v| v.code_sha256 == code_sha256);
    let adds_version = function_changes || !newest_matches;
    let keep = keep as usize;
    let mut protected: BTreeSet<String> = match (adds_version, numbers.last()) {
        (false, Some(newest)) => [newest.clone()].into(),
        _ => BTreeSet::new(),
    };
    protected.extend(serving.map(str::to_string));
    let room = if adds_version {
        keep.saturating_sub(1)
    } else {
        keep
    };
    to_prune(&numbers, room, &protected)
}

#[derive(Debug, thiserror::Error, miette::Diagnostic, PartialEq, Eq)]
pub(crate) enum RollbackError {
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
pub(crate) fn rollback_target(
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

/// When a release was made: the time its description ends with
/// (`… at 2026-11-26T19:10:59Z`), which sorts as text.
fn released_at(description: &str) -> Option<&str> {
    description.rsplit_once(" at ").map(|(_, at)| at)
}

/// The version of an event handler's function that belongs to the same
/// release as `target` (a version of the API's function): the one
/// published by the same deploy (same description), else the newest one
/// released before it (a deploy that changed only the API's settings
/// published no handler version). `None`: the handler did not exist yet.
pub(crate) fn same_release(
    target: &crate::aws::VersionInfo,
    handler_versions: &[crate::aws::VersionInfo],
) -> Option<String> {
    if let Some(same) = handler_versions
        .iter()
        .find(|v| v.description == target.description)
    {
        return Some(same.version.clone());
    }
    let at = released_at(&target.description)?;
    handler_versions
        .iter()
        .filter(|v| released_at(&v.description).is_some_and(|t| t <= at))
        .max_by_key(|v| number(&v.version))
        .map(|v| v.version.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: &str, at: &str) -> crate::aws::VersionInfo {
        crate::aws::VersionInfo {
            version: version.into(),
            description: format!("slx 0.1.0 from git abc at {at}"),
            last_modified: String::new(),
            code_sha256: String::new(),
        }
    }

    #[test]
    fn a_handler_goes_back_to_the_version_of_the_same_release() {
        let handler = [
            release("1", "2026-11-01T10:00:00Z"),
            release("2", "2026-11-02T10:00:00Z"),
            release("3", "2026-11-04T10:00:00Z"),
        ];
        // Published by the same deploy.
        let api = release("7", "2026-11-02T10:00:00Z");
        assert_eq!(same_release(&api, &handler).as_deref(), Some("2"));
        // A deploy that changed only the API: the handler version before.
        let api = release("8", "2026-11-03T10:00:00Z");
        assert_eq!(same_release(&api, &handler).as_deref(), Some("2"));
        // Before the handler existed.
        let api = release("5", "2026-10-01T10:00:00Z");
        assert_eq!(same_release(&api, &handler), None);
    }

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
