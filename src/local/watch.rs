//! Watches an app's sources (`*.rs`, `Cargo.toml`, slx.toml) and calls
//! back once per burst of changes (editors write several files at once).
//!
//! Knows nothing of builds or servers: what a change means is the
//! caller's business.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::config;

/// How long the files must be quiet before a change is reported.
const QUIET: Duration = Duration::from_millis(200);

/// Keeps the watch alive; dropping it stops watching.
pub(crate) struct SourceWatcher {
    _watcher: notify::RecommendedWatcher,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot watch {what}: {reason}")]
#[diagnostic(
    code(slx::dev::watch),
    help("run with --no-watch, or raise the inotify limits (fs.inotify.max_user_watches)")
)]
pub(crate) struct WatchError {
    what: String,
    reason: String,
}

impl WatchError {
    pub(crate) fn new(what: &str, error: impl std::fmt::Display) -> WatchError {
        WatchError {
            what: what.to_string(),
            reason: error.to_string(),
        }
    }
}

/// Watches `app_dir`'s `src/` and `Cargo.toml`, and `config_path`; runs
/// `on_change` after each burst of changes, one run at a time.
pub(crate) fn watch_sources<F, Fut>(
    app_dir: &Path,
    config_path: &Path,
    mut on_change: F,
) -> Result<SourceWatcher, WatchError>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
            && event.paths.iter().any(|p| is_source(p))
        {
            let _ = sender.send(());
        }
    })
    .map_err(|e| WatchError {
        what: "files".into(),
        reason: e.to_string(),
    })?;
    let paths: [PathBuf; 3] = [
        app_dir.join("src"),
        app_dir.join("Cargo.toml"),
        config_path.to_path_buf(),
    ];
    for path in paths.iter().filter(|p| p.exists()) {
        let mode = if path.is_dir() {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher.watch(path, mode).map_err(|e| WatchError {
            what: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    tokio::spawn(async move {
        while receiver.recv().await.is_some() {
            tokio::time::sleep(QUIET).await;
            while receiver.try_recv().is_ok() {}
            on_change().await;
        }
    });
    Ok(SourceWatcher { _watcher: watcher })
}

fn is_source(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    path.extension().is_some_and(|e| e == "rs") || name == "Cargo.toml" || name == config::FILE_NAME
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_rust_files_manifests_and_slx_toml() {
        assert!(is_source(Path::new("/app/src/lib.rs")));
        assert!(is_source(Path::new("/app/Cargo.toml")));
        assert!(is_source(Path::new("/app/slx.toml")));
        assert!(!is_source(Path::new("/app/src/notes.md")));
        assert!(!is_source(Path::new("/app/target/x.d")));
    }
}
