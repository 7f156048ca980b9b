//! `slx dev`'s event sources: each `[events.NAME]` handler of the stage
//! runs as its source would run it on AWS. An S3 handler's bucket is a
//! folder, `.slx/buckets/<bucket>/`: a file written there (or removed)
//! sends the handler the object event S3 would, when the key fits its
//! prefix, suffix and kinds. A schedule runs on its cadence (its time
//! zone included). Queues have no local stand-in: `slx invoke --local
//! --handler NAME --data ...` sends a batch.
//!
//! Knows nothing of builds: the caller hands it a pool per handler, and
//! replaces the whole `EventSources` when it rebuilds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use super::pool::{Outcome, Pool};
use super::runtime_api::Answer;
use super::watch::WatchError;
use crate::config::schedule;
use crate::config::{EventFunction, EventSource, S3EventKind};
use crate::contract::source_events::{self, Origin};
use crate::names::StageArns;

/// How long a file must be left alone before its event is sent: a file
/// is written in several steps, S3 sends one event per finished upload.
const SETTLED: Duration = Duration::from_millis(250);

/// Where `slx dev` keeps bucket `bucket`'s objects.
pub(crate) fn bucket_dir(app_dir: &Path, bucket: &str) -> PathBuf {
    app_dir
        .join(crate::handler::WORK_DIR)
        .join("buckets")
        .join(bucket)
}

/// What the sources run and where they report.
pub(crate) struct Runner {
    pub(crate) handlers: Vec<(EventFunction, Pool)>,
    pub(crate) arns: StageArns,
    /// One line per event sent, with its outcome.
    pub(crate) report: Arc<dyn Fn(String) + Send + Sync>,
}

/// The running sources; dropping it stops them.
pub(crate) struct EventSources {
    _watcher: Option<notify::RecommendedWatcher>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for EventSources {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts the bucket folders and (unless `schedules` is off) the
/// schedules of `runner`'s handlers.
pub(crate) fn start(
    app_dir: &Path,
    runner: Runner,
    schedules: bool,
) -> Result<EventSources, WatchError> {
    let runner = Arc::new(runner);
    let mut tasks = Vec::new();
    let buckets: BTreeSet<String> = runner
        .handlers
        .iter()
        .filter_map(|(handler, _)| match &handler.handler.source {
            EventSource::S3(source) => Some(source.bucket.clone()),
            _ => None,
        })
        .collect();
    let watcher = if buckets.is_empty() {
        None
    } else {
        let (watcher, task) = watch_buckets(app_dir, &buckets, runner.clone())?;
        tasks.push(task);
        Some(watcher)
    };
    if schedules {
        for (handler, pool) in &runner.handlers {
            if let EventSource::Schedule(_) = &handler.handler.source {
                let (handler, pool, runner) = (handler.clone(), pool.clone(), runner.clone());
                tasks.push(tokio::spawn(async move {
                    run_schedule(&runner, &handler, &pool).await;
                }));
            }
        }
    }
    Ok(EventSources {
        _watcher: watcher,
        tasks,
    })
}

/// When `handler`'s schedule next runs after `after`, counting a rate
/// from `created`; `None` when it never will.
pub(crate) fn next_run(
    handler: &EventFunction,
    created: jiff::Timestamp,
    after: jiff::Timestamp,
) -> Option<jiff::Timestamp> {
    let EventSource::Schedule(source) = &handler.handler.source else {
        return None;
    };
    let parsed = schedule::parse(&source.expression).ok()?;
    let zone = match &source.timezone {
        Some(name) => jiff::tz::TimeZone::get(name).ok()?,
        None => jiff::tz::TimeZone::UTC,
    };
    parsed.next_after(&zone, created, after)
}

async fn run_schedule(runner: &Runner, handler: &EventFunction, pool: &Pool) {
    let EventSource::Schedule(source) = &handler.handler.source else {
        return;
    };
    let created = jiff::Timestamp::now();
    let mut after = created;
    while let Some(next) = next_run(handler, created, after) {
        let wait = next.as_millisecond() - jiff::Timestamp::now().as_millisecond();
        tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;
        let request_id = uuid::Uuid::new_v4().to_string();
        let origin = Origin {
            arns: &runner.arns,
            now_ms: next.as_millisecond() as u64,
            id: &request_id,
        };
        let event = source_events::schedule_event(source, &handler.handler.name, &origin);
        send(
            runner,
            handler,
            pool,
            &request_id,
            event,
            format!("the run due {next}"),
        )
        .await;
        after = next;
    }
}

/// Watches every bucket folder; sends each settled change to the
/// handlers whose rules it fits.
fn watch_buckets(
    app_dir: &Path,
    buckets: &BTreeSet<String>,
    runner: Arc<Runner>,
) -> Result<(notify::RecommendedWatcher, tokio::task::JoinHandle<()>), WatchError> {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            for path in event.paths {
                let _ = sender.send(path);
            }
        }
    })
    .map_err(|e| WatchError::new("the bucket folders", e))?;
    let mut folders = Vec::new();
    let mut known = Objects::default();
    for bucket in buckets {
        let dir = bucket_dir(app_dir, bucket);
        std::fs::create_dir_all(&dir)
            .map_err(|e| WatchError::new(&dir.display().to_string(), e))?;
        // Objects already there were uploaded before: no events for them.
        for file in files_under(&dir) {
            known.settled(&file);
        }
        watcher
            .watch(&dir, RecursiveMode::Recursive)
            .map_err(|e| WatchError::new(&dir.display().to_string(), e))?;
        // The canonical path: notify reports events under it.
        let dir = dir.canonicalize().unwrap_or(dir);
        folders.push((bucket.clone(), dir));
    }
    let task = tokio::spawn(async move {
        let mut pending: BTreeMap<PathBuf, Instant> = BTreeMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                path = receiver.recv() => match path {
                    Some(path) => { pending.insert(path, Instant::now()); }
                    None => return,
                },
                _ = tick.tick() => {
                    let settled: Vec<PathBuf> = pending
                        .iter()
                        .filter(|(_, at)| at.elapsed() >= SETTLED)
                        .map(|(path, _)| path.clone())
                        .collect();
                    for path in settled {
                        pending.remove(&path);
                        // A new folder's files may be written before the
                        // folder itself is watched: look inside it.
                        let changed = if path.is_dir() {
                            files_under(&path)
                                .into_iter()
                                .filter(|file| !known.holds(file))
                                .collect()
                        } else {
                            vec![path]
                        };
                        for path in changed {
                            let Some((bucket, key)) = object_of(&folders, &path) else {
                                continue;
                            };
                            let Some(kind) = known.settled(&path) else {
                                continue;
                            };
                            let content = match kind {
                                S3EventKind::Created => std::fs::read(&path).unwrap_or_default(),
                                S3EventKind::Removed => Vec::new(),
                            };
                            object_event(&runner, &bucket, &key, &content, kind).await;
                        }
                    }
                }
            }
        }
    });
    Ok((watcher, task))
}

/// The bucket folders' objects as slx dev last announced them: a file's
/// size, modification time and content digest. S3 sends one event per
/// finished upload, so a file that settles again unchanged (the watcher
/// can report one write in parts spread over more than [`SETTLED`] when
/// the machine is busy) sends nothing; a rewrite sends one even when it
/// keeps the size and falls within one tick of the file system's clock
/// (the content tells it apart).
#[derive(Debug, Default)]
struct Objects(BTreeMap<PathBuf, Option<Stamp>>);

/// What tells one upload of a file from the next.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: std::time::SystemTime,
    digest: [u8; 32],
}

impl Stamp {
    /// `None` when the file is gone, or its time or content unreadable
    /// (then it never counts as unchanged).
    fn of(path: &Path) -> Option<Option<Stamp>> {
        use sha2::Digest;
        let metadata = std::fs::metadata(path)
            .ok()
            .filter(std::fs::Metadata::is_file)?;
        let stamp = metadata.modified().ok().and_then(|modified| {
            let content = std::fs::read(path).ok()?;
            Some(Stamp {
                len: metadata.len(),
                modified,
                digest: sha2::Sha256::digest(&content).into(),
            })
        });
        Some(stamp)
    }
}

impl Objects {
    fn holds(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }

    /// The event `path` settling means: created (new or changed),
    /// removed (it was an object), or none.
    fn settled(&mut self, path: &Path) -> Option<S3EventKind> {
        match Stamp::of(path) {
            Some(stamp) => {
                let unknown = stamp.is_none();
                let before = self.0.insert(path.to_path_buf(), stamp.clone());
                (before != Some(stamp) || unknown).then_some(S3EventKind::Created)
            }
            // Gone before it settled: never uploaded.
            None => self.0.remove(path).map(|_| S3EventKind::Removed),
        }
    }
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.canonicalize().unwrap_or(path));
            }
        }
    }
    out
}

/// The bucket and key a path in a bucket folder stands for.
fn object_of(folders: &[(String, PathBuf)], path: &Path) -> Option<(String, String)> {
    folders.iter().find_map(|(bucket, dir)| {
        let relative = path.strip_prefix(dir).ok()?;
        let key = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        (!key.is_empty()).then(|| (bucket.clone(), key))
    })
}

/// Sends an object event to every S3 handler of `bucket` whose rules fit.
async fn object_event(runner: &Runner, bucket: &str, key: &str, content: &[u8], kind: S3EventKind) {
    for (handler, pool) in &runner.handlers {
        let EventSource::S3(source) = &handler.handler.source else {
            continue;
        };
        if source.bucket != bucket || !source.matches(key, kind) {
            continue;
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let now_ms = jiff::Timestamp::now().as_millisecond() as u64;
        let origin = Origin {
            arns: &runner.arns,
            now_ms,
            id: &request_id,
        };
        let event =
            source_events::s3_event(source, &handler.handler.name, key, content, kind, &origin);
        let what = format!("s3://{bucket}/{key} ({})", kind.as_str());
        send(runner, handler, pool, &request_id, event, what).await;
    }
}

async fn send(
    runner: &Runner,
    handler: &EventFunction,
    pool: &Pool,
    request_id: &str,
    event: serde_json::Value,
    what: String,
) {
    let started = Instant::now();
    let outcome = pool
        .invoke(request_id, serde_json::to_vec(&event).unwrap_or_default())
        .await;
    let verdict = match outcome {
        Outcome::Answered(Answer::Response(_)) => "done".to_string(),
        Outcome::Answered(Answer::Error { error_type, body }) => {
            format!("failed ({})", Answer::error_line(&error_type, &body))
        }
        Outcome::TimedOut => "timed out".to_string(),
        Outcome::Crashed(reason) => format!("crashed: {reason}"),
    };
    (runner.report)(format!(
        "{} ← {what}: {verdict} in {} ms  [{request_id}]",
        handler.handler.name,
        started.elapsed().as_millis()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_settling_again_unchanged_is_not_a_second_upload() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("report.csv");
        let mut objects = Objects::default();
        std::fs::write(&file, b"a,b\n").unwrap();
        assert_eq!(objects.settled(&file), Some(S3EventKind::Created));
        // The same write reported late: nothing.
        assert_eq!(objects.settled(&file), None);
        // Overwritten: a new upload, even with the same size and within
        // one tick of the file system's clock (the time is put back).
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, b"c,d\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        assert_eq!(objects.settled(&file), Some(S3EventKind::Created));
        assert_eq!(objects.settled(&file), None, "announced once");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(objects.settled(&file), Some(S3EventKind::Removed));
        assert_eq!(objects.settled(&file), None, "removed once");
        // Written and gone before it settled: never an object.
        assert_eq!(objects.settled(&dir.path().join("tmp.part")), None);
    }

    #[test]
    fn a_path_in_a_bucket_folder_is_that_bucket_and_key() {
        let folders = vec![
            (
                "uploads".to_string(),
                PathBuf::from("/app/.slx/buckets/uploads"),
            ),
            (
                "other".to_string(),
                PathBuf::from("/app/.slx/buckets/other"),
            ),
        ];
        assert_eq!(
            object_of(
                &folders,
                Path::new("/app/.slx/buckets/uploads/incoming/a b.txt")
            ),
            Some(("uploads".into(), "incoming/a b.txt".into()))
        );
        assert_eq!(
            object_of(&folders, Path::new("/app/.slx/buckets/uploads")),
            None
        );
        assert_eq!(object_of(&folders, Path::new("/app/src/lib.rs")), None);
    }
}
