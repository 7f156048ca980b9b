//! The stage's deploy lease: one slx process at a time changes a stage.
//!
//! Lambda's `RevisionId` could guard the function, but API Gateway has no
//! preconditions at all, so two deploys of one stage could interleave
//! (the alias from one, the routes from the other). Every command that
//! writes to a stage therefore holds its lease while it writes.
//!
//! The lease is a CloudWatch Logs log group named by the stage's prefix
//! and a generation number (`/slx/leases/shop-prod/0000000003`).
//! `CreateLogGroup` is atomic (the second creator of a name gets
//! `ResourceAlreadyExistsException`), CloudWatch stamps the creation time
//! with its own clock, the tags carry who holds it, an empty log group
//! costs nothing, and slx already talks to CloudWatch Logs.
//!
//! - Taking: list the prefix; when the newest generation binds nobody
//!   (none, expired, or held by a process of this host that is gone),
//!   create the next generation. Of two takers, exactly one wins; and the
//!   winner lists again, because released numbers are reused: if a newer
//!   generation exists (made after its look), it backs off
//!   (`claim_generation`, for taking and renewing alike).
//! - Holding: every [`RENEW_EVERY`] the holder creates the next
//!   generation and deletes its previous one. A generation expires [`TTL`]
//!   after CloudWatch created it, so a holder that stopped (a CI runner
//!   that died) stops binding others within [`TTL`]. A holder whose
//!   renewal finds the next generation taken has lost the lease: the work
//!   it fences is stopped at once.
//! - Releasing: delete its generation and the ones it superseded.
//!
//! A process of this host that is gone (killed, crashed) binds nobody:
//! a rerun after Ctrl-C or `kill -9` never waits (git's rule for its lock
//! files: same host name and no such process).
//!
//! Reads need no lease. Commands read and plan without it, take it only
//! when the plan writes, then read and plan again under it: a no-op
//! deploy never writes, and a deploy that waited plans from what the
//! other one left.
//!
//! Never deletes a log group outside the stage's prefix, and never
//! outlives the command that took it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::narrator::Narrator;
use crate::aws::{AwsError, Backoff, ErrorClass, ListedLogGroup, Reader, Tags, Writer, retry};
use crate::names::StageNames;
use crate::pace::{Clock, Pace, Sleeper};

/// How long after CloudWatch created it a generation binds others.
pub(crate) const TTL: Duration = Duration::from_secs(120);
/// How often a holder renews: a quarter of the TTL, so a clock skew of
/// up to a minute between this machine and AWS never frees a live lease.
pub(crate) const RENEW_EVERY: Duration = Duration::from_secs(30);

const TAG_TOKEN: &str = "slx:lease-token";
const TAG_HOST: &str = "slx:lease-host";
const TAG_PID: &str = "slx:lease-pid";
const TAG_USER: &str = "slx:lease-user";
const TAG_COMMAND: &str = "slx:lease-command";
const TAG_SINCE: &str = "slx:lease-since";

/// Who holds a lease, as its tags say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    /// Unique per process and command: "is this generation mine?"
    pub(crate) token: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) user: String,
    /// `deploy`, `undeploy`, `rollback`.
    pub(crate) command: String,
    /// When it first took the lease (RFC 3339, its own clock).
    pub(crate) since: String,
}

impl Holder {
    /// This process, about to run `command`.
    pub(crate) fn this_process(command: &str) -> Holder {
        Holder {
            token: uuid::Uuid::new_v4().to_string(),
            host: this_host(),
            pid: std::process::id(),
            user: tag_safe(
                &std::env::var("USER")
                    .or_else(|_| std::env::var("USERNAME"))
                    .unwrap_or_else(|_| "unknown".into()),
            ),
            command: command.to_string(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }

    fn tags(&self, names: &StageNames) -> Tags {
        let mut tags = names.tags();
        tags.0.extend([
            (TAG_TOKEN.to_string(), self.token.clone()),
            (TAG_HOST.to_string(), self.host.clone()),
            (TAG_PID.to_string(), self.pid.to_string()),
            (TAG_USER.to_string(), self.user.clone()),
            (TAG_COMMAND.to_string(), self.command.clone()),
            (TAG_SINCE.to_string(), self.since.clone()),
        ]);
        tags
    }

    fn from_tags(tags: &HashMap<String, String>) -> Option<Holder> {
        let tag = |key: &str| tags.get(key).cloned();
        Some(Holder {
            token: tag(TAG_TOKEN)?,
            host: tag(TAG_HOST)?,
            pid: tag(TAG_PID)?.parse().ok()?,
            user: tag(TAG_USER).unwrap_or_default(),
            command: tag(TAG_COMMAND).unwrap_or_else(|| "deploy".into()),
            since: tag(TAG_SINCE).unwrap_or_default(),
        })
    }

    /// `the deploy started 2026-11-27T10:00:00Z by alice@laptop (pid 4242)`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "the {} started {} by {}@{} (pid {})",
            self.command, self.since, self.user, self.host, self.pid
        )
    }
}

/// Log group tag values allow letters, digits, spaces and `_.:/=+-@`.
// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_TagResource.html
fn tag_safe(value: &str) -> String {
    let kept: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if kept.is_empty() {
        "unknown".into()
    } else {
        kept
    }
}

/// This machine's host name, as `hostname` prints it.
fn this_host() -> String {
    let from_file = |path: &str| std::fs::read_to_string(path).ok();
    let name = from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| {
            std::process::Command::new("hostname")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        })
        .unwrap_or_default();
    tag_safe(name.trim())
}

/// Whether process `pid` of this host still runs (a zombie does not).
/// Where that cannot be told, it is assumed to run: the lease then
/// expires after [`TTL`] instead of at once.
fn process_runs(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if proc.join("self").exists() {
        return match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
            // `pid (comm) S ...`: the state follows the last `)`.
            Ok(stat) => !matches!(
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next()),
                Some('Z' | 'X')
            ),
            Err(_) => false,
        };
    }
    if cfg!(unix) {
        return std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .map_or(true, |s| s.success());
    }
    true
}

/// One generation of a stage's lease, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generation {
    pub(crate) number: u64,
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) created_ms: i64,
}

fn generation_name(prefix: &str, number: u64) -> String {
    format!("{prefix}{number:010}")
}

/// The lease's generations among `listed`, oldest first; other names
/// under the prefix are not the lease's and are left alone.
pub(crate) fn generations(prefix: &str, listed: Vec<ListedLogGroup>) -> Vec<Generation> {
    let mut found: Vec<Generation> = listed
        .into_iter()
        .filter_map(|group| {
            let number = group.name.strip_prefix(prefix)?;
            if number.len() != 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(Generation {
                number: number.parse().ok()?,
                name: group.name,
                arn: group.arn,
                created_ms: group.created_ms,
            })
        })
        .collect();
    found.sort_by_key(|g| g.number);
    found
}

/// Whether the newest generation binds others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Created more than [`TTL`] ago: its holder stopped renewing.
    Expired,
    /// Its holder is a process of this host that no longer runs.
    HolderGone,
    /// Held: wait for it.
    Held,
}

/// Pure: the standing of a generation created at `created_ms` (by
/// CloudWatch's clock) and held by `holder` (`None` when its tags could
/// not be read: then only time frees it), which expires `ttl` (in real
/// time: [`TTL`] at the command's pace) after its creation.
pub(crate) fn standing(
    created_ms: i64,
    holder: Option<&Holder>,
    now_ms: i64,
    ttl: Duration,
    host: &str,
    runs: impl Fn(u32) -> bool,
) -> Standing {
    if now_ms.saturating_sub(created_ms) > ttl.as_millis() as i64 {
        return Standing::Expired;
    }
    match holder {
        Some(holder) if holder.host == host && !runs(holder.pid) => Standing::HolderGone,
        _ => Standing::Held,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum LeaseError {
    #[error("another change to stage {stage} is in progress: {holder}")]
    #[diagnostic(
        code(slx::lease::busy),
        help(
            "{waited}; pass `--lock-timeout 10m` to wait longer (0 fails at once). A stopped slx frees the stage at once on its own machine, elsewhere {ttl} s after its last renewal"
        )
    )]
    Busy {
        stage: String,
        holder: String,
        waited: String,
        ttl: u64,
    },
    #[error(
        "stage {stage}'s deploy lease was taken over by another slx process while this one ran"
    )]
    #[diagnostic(
        code(slx::lease::lost),
        help(
            "this process stalled for more than {ttl} s (a suspended laptop?) and stopped writing; run the command again: it plans from what AWS holds"
        )
    )]
    Lost { stage: String, ttl: u64 },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] AwsError),
}

/// How a command takes a stage's lease.
struct Terms<'a> {
    pub(crate) names: &'a StageNames,
    /// The command, for others' messages.
    pub(crate) command: &'a str,
    /// How long to wait for another holder; zero fails at once.
    pub(crate) timeout: Duration,
    /// Told once when this process starts waiting.
    pub(crate) waiting: &'a (dyn Fn(&Holder) + Sync),
}

/// The generations this process holds.
#[derive(Debug)]
struct Held {
    current: Generation,
    /// Older generations found when it took the lease: deleted on release.
    superseded: Vec<Generation>,
}

/// A held lease. Renewed in the background until released; dropping it
/// without releasing stops the renewal and leaves the generation to
/// expire (or to be taken over at once by a rerun on this host).
pub(crate) struct Lease {
    names: StageNames,
    writer: Writer,
    pace: Pace,
    held: Arc<Mutex<Held>>,
    lost: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    renewal: Option<tokio::task::JoinHandle<()>>,
    /// How long taking it waited for another holder.
    pub(crate) waited: Duration,
}

/// Takes the stage's lease, waiting up to `terms.timeout` for a holder.
/// `seen`: what a look taken with the command's first read found (it
/// saves a round trip); used only when it shows the stage free, as the
/// generation to try first: creating it decides, and the command reads
/// again once it holds the lease.
async fn take(
    reader: &Reader,
    writer: &Writer,
    terms: &Terms<'_>,
    seen: Option<Found>,
) -> Result<Lease, LeaseError> {
    let names = terms.names;
    let holder = Holder::this_process(terms.command);
    let pace = reader.pace();
    let started = pace.now();
    let mut told = false;
    let mut pause = Duration::from_millis(500);
    let step = format!("take the deploy lease of stage {}", names.stage);
    let mut seen = seen.filter(|found| !matches!(found.newest, Some((_, Standing::Held))));
    loop {
        let found = match seen.take() {
            Some(found) => found,
            None => match inspect(reader, names, &holder.host).await? {
                Some(found) => found,
                // Released while we looked: look again.
                None => continue,
            },
        };
        let listed = found.generations;
        let blocking = match found.newest {
            Some((owner, Standing::Held)) => Some(owner),
            _ => None,
        };
        match blocking {
            None => {
                let next = listed.last().map_or(1, |g| g.number + 1);
                if let Some(claimed) =
                    claim_generation(reader, writer, next, &holder, names, &step).await?
                {
                    return Ok(Lease::start(
                        names,
                        holder,
                        writer,
                        reader,
                        Held {
                            current: claimed.current,
                            superseded: claimed.older,
                        },
                        // Time spent waiting for another holder, not
                        // the calls that took it.
                        if told {
                            pace.now() - started
                        } else {
                            Duration::ZERO
                        },
                    ));
                }
                // Another process holds that generation or a newer one:
                // look again.
            }
            Some(owner) => {
                let described = owner.as_ref().map_or_else(
                    || "a process whose lease carries no owner".to_string(),
                    Holder::describe,
                );
                let waited = pace.now() - started;
                if waited + pause > terms.timeout {
                    return Err(LeaseError::Busy {
                        stage: names.stage.clone(),
                        holder: described,
                        waited: if terms.timeout.is_zero() {
                            "did not wait (--lock-timeout 0)".into()
                        } else {
                            format!("waited {}", crate::pace::readable(waited))
                        },
                        ttl: TTL.as_secs(),
                    });
                }
                if !told {
                    if let Some(owner) = &owner {
                        (terms.waiting)(owner);
                    }
                    told = true;
                }
                pace.sleep(pause).await;
                pause = (pause * 3 / 2).min(Duration::from_secs(3));
            }
        }
    }
}

/// The lease's generations, oldest first, and who holds the newest and
/// whether it binds others.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) generations: Vec<Generation>,
    pub(crate) newest: Option<(Option<Holder>, Standing)>,
}

/// Lists the stage's lease and reads who holds the newest generation,
/// judged from `host`; `None` when the newest vanished while it was
/// looked at (released: look again).
pub(crate) async fn inspect(
    reader: &Reader,
    names: &StageNames,
    host: &str,
) -> Result<Option<Found>, AwsError> {
    let pace = reader.pace();
    let generations = generations(
        &names.lease_prefix,
        retry_reads(pace, || reader.log_groups_under(&names.lease_prefix)).await?,
    );
    let Some(newest) = generations.last() else {
        return Ok(Some(Found {
            generations,
            newest: None,
        }));
    };
    let owner = match retry_reads(pace, || reader.log_group_tags(&newest.arn)).await {
        Ok(tags) => Holder::from_tags(&tags),
        Err(error) if error.class == ErrorClass::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let standing = standing(
        newest.created_ms,
        owner.as_ref(),
        now_ms(),
        pace.real_duration(TTL),
        host,
        process_runs,
    );
    Ok(Some(Found {
        generations,
        newest: Some((owner, standing)),
    }))
}

/// [`inspect`] from this host; `None` when the newest generation vanished
/// while it was looked at.
pub(crate) async fn look(reader: &Reader, names: &StageNames) -> Result<Option<Found>, AwsError> {
    inspect(reader, names, &this_host()).await
}

/// [`look`] for a command that will take the lease later: it only saves
/// a round trip, so a look that fails is no look (taking the lease looks
/// again and reports the error then).
pub(crate) async fn peek(reader: &Reader, names: &StageNames) -> Option<Found> {
    look(reader, names).await.ok().flatten()
}

/// Who holds the stage now, if anyone does (for `slx status`).
pub(crate) async fn current_holder(
    reader: &Reader,
    names: &StageNames,
) -> Result<Option<Option<Holder>>, AwsError> {
    loop {
        if let Some(found) = look(reader, names).await? {
            return Ok(match found.newest {
                Some((owner, Standing::Held)) => Some(owner),
                _ => None,
            });
        }
    }
}

/// Read calls retried while AWS throttles or fails transiently.
async fn retry_reads<T, Fut>(pace: Pace, call: impl FnMut() -> Fut) -> Result<T, AwsError>
where
    Fut: Future<Output = Result<T, AwsError>>,
{
    retry(&pace, Backoff::default(), &[ErrorClass::Transient], call).await
}

/// A generation this process now holds, and the older ones it found.
struct Claimed {
    current: Generation,
    older: Vec<Generation>,
}

/// Creates generation `number` for `holder` and checks that it holds the
/// lease: `Some` when the generation is `holder`'s (also when an earlier
/// attempt whose answer was lost made it) and none is newer; `None` when
/// another process made it, or made a newer one. Numbers are reused once
/// released, so a generation made from an old look can be older than one
/// someone holds now: the holder is whoever made the newest, and a
/// generation made in vain is removed.
async fn claim_generation(
    reader: &Reader,
    writer: &Writer,
    number: u64,
    holder: &Holder,
    names: &StageNames,
    step: &str,
) -> Result<Option<Claimed>, AwsError> {
    let name = generation_name(&names.lease_prefix, number);
    let tags = holder.tags(names);
    let pace = reader.pace();
    let created = retry(
        &pace,
        Backoff::default(),
        &[ErrorClass::Transient],
        || async {
            writer
                .create_log_group(&name, &tags)
                .await
                .map_err(|e| e.in_step(step))
        },
    )
    .await;
    match created {
        Ok(()) => {}
        Err(error) if error.class == ErrorClass::AlreadyExists => {
            let made = retry_reads(pace, || reader.log_groups_under(&name)).await?;
            let Some(group) = made.into_iter().find(|g| g.name == name) else {
                return Ok(None);
            };
            match retry_reads(pace, || reader.log_group_tags(&group.arn)).await {
                Ok(tags) if Holder::from_tags(&tags).is_some_and(|h| h.token == holder.token) => {}
                Ok(_) => return Ok(None),
                Err(error) if error.class == ErrorClass::NotFound => return Ok(None),
                Err(error) => return Err(error),
            }
        }
        Err(error) => return Err(error),
    }
    let listed = generations(
        &names.lease_prefix,
        retry_reads(pace, || reader.log_groups_under(&names.lease_prefix)).await?,
    );
    if listed.iter().any(|g| g.number > number) {
        let _ = writer.delete_log_group(&name).await;
        return Ok(None);
    }
    let (mine, older): (Vec<Generation>, Vec<Generation>) =
        listed.into_iter().partition(|g| g.number == number);
    let current = mine.into_iter().next().unwrap_or(Generation {
        number,
        name,
        arn: String::new(),
        created_ms: now_ms(),
    });
    Ok(Some(Claimed { current, older }))
}

impl Lease {
    fn start(
        names: &StageNames,
        holder: Holder,
        writer: &Writer,
        reader: &Reader,
        held: Held,
        waited: Duration,
    ) -> Lease {
        let held = Arc::new(Mutex::new(held));
        let (lost_tx, lost) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let renewal = tokio::spawn(renew(
            names.clone(),
            holder,
            writer.clone(),
            reader.clone(),
            held.clone(),
            lost_tx,
            stop_rx,
        ));
        Lease {
            names: names.clone(),
            writer: writer.clone(),
            pace: reader.pace(),
            held,
            lost,
            stop,
            renewal: Some(renewal),
            waited,
        }
    }

    /// Runs `work` while the lease is held; stops it (at its next await)
    /// and fails if the lease is lost meanwhile.
    pub(crate) async fn fenced<T>(&self, work: impl Future<Output = T>) -> Result<T, LeaseError> {
        let mut lost = self.lost.clone();
        tokio::select! {
            biased;
            _ = lost.wait_for(|lost| *lost) => Err(LeaseError::Lost {
                stage: self.names.stage.clone(),
                ttl: TTL.as_secs(),
            }),
            out = work => Ok(out),
        }
    }

    /// Applies `plan` (no code to upload, nothing produced before) while
    /// the lease is held: a command's few writes (a rollback, an API key,
    /// an undeploy).
    pub(crate) async fn apply(
        &self,
        target: &super::apply::Target<'_>,
        plan: &super::plan::Plan,
        reporter: &dyn super::apply::StepReporter,
    ) -> miette::Result<super::apply::Applied> {
        let apply = super::apply::apply(target, None, plan, Default::default(), reporter);
        self.fenced(apply)
            .await?
            .map_err(super::apply::ApplyError::into_report)
    }

    /// Stops renewing and deletes this process's generations. An error
    /// names what is left: it expires, or a rerun here takes it over.
    /// Only [`with_lease`] releases.
    async fn release(mut self) -> Result<(), AwsError> {
        let _ = self.stop.send(true);
        if let Some(renewal) = self.renewal.take() {
            // Lets a renewal in flight finish, so its generation is known.
            let _ = renewal.await;
        }
        let doomed: Vec<String> = {
            let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.superseded
                .iter()
                .chain(std::iter::once(&held.current))
                .map(|g| g.name.clone())
                .collect()
        };
        let step = format!("release the deploy lease of stage {}", self.names.stage);
        let deletes = doomed.iter().map(|name| {
            let (writer, step) = (&self.writer, step.as_str());
            async move {
                match retry(
                    &self.pace,
                    Backoff::default(),
                    &[ErrorClass::Transient],
                    || async {
                        writer
                            .delete_log_group(name)
                            .await
                            .map_err(|e| e.in_step(step))
                    },
                )
                .await
                {
                    Err(error) if error.class != ErrorClass::NotFound => Err(error),
                    _ => Ok(()),
                }
            }
        });
        futures_util::future::join_all(deletes)
            .await
            .into_iter()
            .collect::<Result<Vec<()>, AwsError>>()
            .map(|_| ())
    }
}

/// How a command asks for a stage's lease.
pub(crate) struct Ask<'a> {
    pub(crate) reader: &'a Reader,
    pub(crate) writer: &'a Writer,
    pub(crate) names: &'a StageNames,
    /// The command, for others' messages.
    pub(crate) command: &'a str,
    /// How long to wait for another holder (`--lock-timeout`).
    pub(crate) timeout: Duration,
    /// What a look taken with the command's first read found, if any.
    pub(crate) seen: Option<Found>,
}

/// Takes the stage's lease (saying so while it waits for another slx
/// process), runs `work` holding it, and releases it on every path, a
/// failure of `work` included: the only way a command holds a lease. A
/// release that fails is a warning, not a failure (the lease binds nobody
/// once it expires, and a rerun on this machine takes it at once).
pub(crate) async fn with_lease<T>(
    narrator: &dyn Narrator,
    ask: Ask<'_>,
    work: impl AsyncFnOnce(&Lease) -> miette::Result<T>,
) -> miette::Result<T> {
    let lease = take_narrated(narrator, ask).await?;
    let done = work(&lease).await;
    if let Err(error) = lease.release().await {
        narrator.warn(&format!(
            "{error}: a rerun on this machine takes the lease over at once; elsewhere it expires within {} s",
            TTL.as_secs()
        ));
    }
    done
}

/// [`take`], with the wait shown: an alert when it starts (on stderr in
/// every mode: a CI job that waits must not look hung) and a live line
/// on a terminal until the lease is taken or the wait gives up.
async fn take_narrated(narrator: &dyn Narrator, ask: Ask<'_>) -> Result<Lease, LeaseError> {
    let names = ask.names;
    let live = std::sync::OnceLock::<String>::new();
    let waiting = |holder: &Holder| {
        narrator.alert(&format!(
            "waiting for {} to finish with stage {} (up to {}, --lock-timeout)",
            holder.describe(),
            names.stage,
            humantime::format_duration(ask.timeout)
        ));
        // The stage first: a narrow terminal cuts the end.
        let description = format!("waiting for stage {}: {}", names.stage, holder.describe());
        narrator.waiting(&description);
        let _ = live.set(description);
    };
    let terms = Terms {
        names,
        command: ask.command,
        timeout: ask.timeout,
        waiting: &waiting,
    };
    let taken = take(ask.reader, ask.writer, &terms, ask.seen).await;
    if let Some(description) = live.into_inner() {
        narrator.waited(&description);
    }
    let taken = taken?;
    if !taken.waited.is_zero() {
        narrator.done(
            &format!("stage {} is free; planning again", names.stage),
            taken.waited,
        );
    }
    Ok(taken)
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }
}

/// Every [`RENEW_EVERY`], creates the next generation and deletes the
/// previous one, until told to stop or the lease is lost.
async fn renew(
    names: StageNames,
    holder: Holder,
    writer: Writer,
    reader: Reader,
    held: Arc<Mutex<Held>>,
    lost: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let step = format!("renew the deploy lease of stage {}", names.stage);
    let pace = reader.pace();
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            () = pace.sleep(RENEW_EVERY) => {}
        }
        let previous = held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .current
            .clone();
        let claimed = claim_generation(
            &reader,
            &writer,
            previous.number + 1,
            &holder,
            &names,
            &step,
        )
        .await;
        match claimed {
            Ok(Some(claimed)) => {
                held.lock().unwrap_or_else(|p| p.into_inner()).current = claimed.current;
                // Best effort: a leftover is superseded and goes on release.
                if writer.delete_log_group(&previous.name).await.is_err() {
                    held.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .superseded
                        .push(previous);
                }
            }
            // Another process took the lease over meanwhile.
            Ok(None) => {
                let _ = lost.send(true);
                return;
            }
            // Tried again at the next tick; the lease stays valid until
            // its generation expires.
            Err(error) => tracing::debug!(%error, "lease renewal failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str, pid: u32) -> Holder {
        Holder {
            token: "t".into(),
            host: host.into(),
            pid,
            user: "alice".into(),
            command: "deploy".into(),
            since: "2026-11-27T10:00:00Z".into(),
        }
    }

    #[test]
    fn a_fresh_generation_of_a_running_or_remote_holder_binds() {
        let now = 1_000_000_000;
        let fresh = now - 5_000;
        let h = holder("laptop", 42);
        assert_eq!(
            standing(fresh, Some(&h), now, TTL, "laptop", |_| true),
            Standing::Held
        );
        // Another host: its processes cannot be seen, only time frees it.
        assert_eq!(
            standing(fresh, Some(&h), now, TTL, "runner", |_| false),
            Standing::Held
        );
        assert_eq!(
            standing(fresh, None, now, TTL, "laptop", |_| false),
            Standing::Held
        );
    }

    #[test]
    fn a_gone_local_holder_frees_at_once_and_any_holder_after_the_ttl() {
        let now = 1_000_000_000;
        let h = holder("laptop", 42);
        assert_eq!(
            standing(now - 1_000, Some(&h), now, TTL, "laptop", |pid| pid != 42),
            Standing::HolderGone
        );
        let old = now - TTL.as_millis() as i64 - 1;
        assert_eq!(
            standing(old, Some(&h), now, TTL, "runner", |_| true),
            Standing::Expired
        );
        assert_eq!(
            standing(old, None, now, TTL, "runner", |_| true),
            Standing::Expired
        );
        // Exactly at the TTL it still binds: renewals come well before.
        let edge = now - TTL.as_millis() as i64;
        assert_eq!(
            standing(edge, Some(&h), now, TTL, "runner", |_| true),
            Standing::Held
        );
        assert!(
            RENEW_EVERY * 4 <= TTL,
            "a minute of clock skew never frees a live lease"
        );
    }

    #[test]
    fn generations_are_read_from_names_under_the_prefix_only() {
        let group = |name: &str, created_ms| ListedLogGroup {
            name: name.into(),
            created_ms,
            arn: format!("arn:{name}"),
        };
        let prefix = "/slx/leases/shop-dev/";
        let found = generations(
            prefix,
            vec![
                group("/slx/leases/shop-dev/0000000010", 3),
                group("/slx/leases/shop-dev/0000000002", 1),
                group("/slx/leases/shop-dev/notes", 2),
                group("/slx/leases/shop-dev/12", 2),
            ],
        );
        let numbers: Vec<u64> = found.iter().map(|g| g.number).collect();
        assert_eq!(numbers, [2, 10]);
        assert_eq!(
            generation_name(prefix, 11),
            "/slx/leases/shop-dev/0000000011"
        );
    }

    #[test]
    fn a_holder_survives_its_tags_and_tag_values_stay_legal() {
        let names = StageNames::new("shop", "dev");
        let mut h = Holder::this_process("deploy");
        let tags: HashMap<String, String> = h.tags(&names).0.into_iter().collect();
        assert!(names.owns(&tags));
        assert_eq!(Holder::from_tags(&tags), Some(h.clone()));
        h.user = tag_safe("dom\\ain user!é");
        assert_eq!(h.user, "dom_ain user__");
        assert_eq!(tag_safe(""), "unknown");
    }

    #[test]
    fn this_process_runs_and_a_reaped_child_does_not() {
        assert!(process_runs(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_runs(pid));
    }
}
