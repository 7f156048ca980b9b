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
//!   (none, released, expired, or held by a process of this machine that
//!   is gone), create the next generation. Of two takers, exactly one
//!   wins; and the winner lists again: if a newer generation exists (made
//!   after its look), it backs off (`claim_generation`, for taking and
//!   renewing alike). A create that CloudWatch aborts because another
//!   request changes the same name (`OperationAbortedException`) lost
//!   that race too: the taker looks again and waits.
//! - Holding: every [`RENEW_EVERY`] the holder checks that its generation
//!   is still there and its own, creates the next one and deletes its
//!   previous one. A generation expires [`TTL`] after CloudWatch created
//!   it, so a holder that stopped (a CI runner that died) stops binding
//!   others within [`TTL`]. A holder whose renewal finds the next
//!   generation taken has lost the lease: the work it fences is stopped
//!   at once.
//! - Fencing: every write of the command goes through a gate
//!   (`Writer::gated`) that admits it only while the generation last
//!   confirmed is younger than [`TTL`] less [`RENEW_EVERY`] by this
//!   machine's clock (measured from before its creation was asked): a
//!   process stopped for longer (a suspended laptop, a paused CI job)
//!   sends nothing more once it runs again, renews nothing, and exits 5.
//! - Releasing: create the next generation as a tombstone (tagged
//!   released: it binds nobody, and keeps the numbers going up), then
//!   delete this process's own generations and the older tombstones. A
//!   number is never used twice while the stage exists, so a stalled
//!   holder can never renew into a number someone else used. Another
//!   holder's generation is deleted only when that holder is provably
//!   gone (a process of this machine, same boot and pid namespace, that
//!   no longer runs); an expired one of another machine stays until
//!   `slx undeploy`, which removes every generation and leaves none.
//!
//! A process of this machine that is gone (killed, crashed) binds nobody:
//! a rerun after Ctrl-C or `kill -9` never waits (git's rule for its lock
//! files, with the boot id and pid namespace beside the host name, so
//! that containers sharing a host name never judge each other's pids).
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

use super::apply::Target;
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
const TAG_BOOT: &str = "slx:lease-boot";
const TAG_PID_NAMESPACE: &str = "slx:lease-pidns";
/// On a tombstone: the generation its holder made when it released.
const TAG_RELEASED: &str = "slx:lease-released";

/// Where a process runs, as far as telling whether it still runs goes:
/// the host name, the kernel's boot id, and the pid namespace (`None`
/// where the system has no such thing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Machine {
    pub(crate) host: String,
    pub(crate) boot: Option<String>,
    pub(crate) pid_namespace: Option<String>,
}

impl Machine {
    /// The machine this process runs on.
    pub(crate) fn this() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        // `pid:[4026531836]`: the namespace's inode number.
        let pid_namespace = std::fs::read_link("/proc/self/ns/pid").ok().map(|link| {
            link.to_string_lossy()
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        });
        Machine {
            host: this_host(),
            boot: read("/proc/sys/kernel/random/boot_id").map(|id| tag_safe(id.trim())),
            pid_namespace: pid_namespace.filter(|n| !n.is_empty()),
        }
    }
}

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
    /// Its boot id and pid namespace (`None` from a system without, or
    /// an slx that did not say).
    pub(crate) boot: Option<String>,
    pub(crate) pid_namespace: Option<String>,
    /// A tombstone: made on release, binds nobody.
    pub(crate) released: bool,
}

impl Holder {
    /// This process, about to run `command`.
    pub(crate) fn this_process(command: &str) -> Holder {
        let machine = Machine::this();
        Holder {
            token: uuid::Uuid::new_v4().to_string(),
            host: machine.host,
            boot: machine.boot,
            pid_namespace: machine.pid_namespace,
            released: false,
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
        let optional = [
            (TAG_BOOT, self.boot.clone()),
            (TAG_PID_NAMESPACE, self.pid_namespace.clone()),
            (TAG_RELEASED, self.released.then(|| "true".to_string())),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                tags.0.push((key.to_string(), value));
            }
        }
        tags
    }

    /// The tombstone this holder leaves when it releases.
    fn released(&self) -> Holder {
        Holder {
            released: true,
            ..self.clone()
        }
    }

    /// Whether this holder is a process of `here` that no longer runs:
    /// only then may another process delete its generation at once.
    fn provably_gone(&self, here: &Machine, runs: impl Fn(u32) -> bool) -> bool {
        self.host == here.host
            && self.boot == here.boot
            && self.pid_namespace == here.pid_namespace
            && !runs(self.pid)
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
            boot: tag(TAG_BOOT),
            pid_namespace: tag(TAG_PID_NAMESPACE),
            released: tags.contains_key(TAG_RELEASED),
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
    /// A tombstone: its holder released the lease.
    Released,
    /// Created more than [`TTL`] ago: its holder stopped renewing.
    Expired,
    /// Its holder is a process of this machine that no longer runs.
    HolderGone,
    /// Held: wait for it.
    Held,
}

/// Pure: the standing of a generation created at `created_ms` (by
/// CloudWatch's clock) and held by `holder` (`None` when its tags could
/// not be read: then only time frees it), which expires `ttl` (in real
/// time: [`TTL`] at the command's pace) after its creation, judged from
/// machine `here`.
pub(crate) fn standing(
    created_ms: i64,
    holder: Option<&Holder>,
    now_ms: i64,
    ttl: Duration,
    here: &Machine,
    runs: impl Fn(u32) -> bool,
) -> Standing {
    if holder.is_some_and(|h| h.released) {
        return Standing::Released;
    }
    if now_ms.saturating_sub(created_ms) > ttl.as_millis() as i64 {
        return Standing::Expired;
    }
    match holder {
        Some(holder) if holder.provably_gone(here, runs) => Standing::HolderGone,
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
        "stage {stage}'s deploy lease was lost: this process stalled past it, or another slx process took it over, and it stopped writing"
    )]
    #[diagnostic(
        code(slx::lease::lost),
        help(
            "a process stopped for more than {ttl} s (a suspended laptop, a paused CI job) may no longer write to the stage; run the command again: it plans from what AWS holds"
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
    /// This machine's clock (ms) just before `current`'s creation was
    /// asked: the fence measures from it, so a clock that differs from
    /// CloudWatch's never extends what this process may do.
    claimed_at_ms: i64,
    /// Generations older than the first one it made, found when it took
    /// the lease: the tombstones and provably gone holders' among them
    /// are deleted on release, the rest left to their holders.
    found: Vec<Generation>,
    /// Its own previous generations whose deletion failed: deleted on
    /// release.
    own_leftovers: Vec<Generation>,
}

/// How long after asking for its generation a holder may still write:
/// [`TTL`] less one renewal interval, so that a renewal that fails once
/// is tried again in time, and a clock of another machine up to
/// [`RENEW_EVERY`] ahead of CloudWatch's never sees it expired while it
/// writes.
fn valid_for(pace: &Pace) -> Duration {
    pace.real_duration(TTL - RENEW_EVERY)
}

/// Admits the command's writes while its generation is valid by this
/// machine's clock; once not, marks the lease lost (for good) and refuses.
#[derive(Clone)]
struct Fence {
    stage: String,
    held: Arc<Mutex<Held>>,
    lost: Arc<watch::Sender<bool>>,
    valid_for_ms: i64,
}

impl Fence {
    fn valid_at(&self, now_ms: i64) -> bool {
        let claimed_at = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .claimed_at_ms;
        now_ms.saturating_sub(claimed_at) < self.valid_for_ms
    }

    fn admit(&self) -> Result<(), String> {
        if !*self.lost.borrow() && self.valid_at(now_ms()) {
            return Ok(());
        }
        self.lost.send_replace(true);
        Err(format!(
            "not sent: stage {}'s deploy lease is no longer held by this process",
            self.stage
        ))
    }

    fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }
}

/// A held lease. Renewed in the background until released; dropping it
/// without releasing stops the renewal and leaves the generation to
/// expire (or to be taken over at once by a rerun on this machine).
pub(crate) struct Lease {
    names: StageNames,
    holder: Holder,
    writer: Writer,
    reader: Reader,
    /// The command's writer, every call admitted by the fence.
    gated: Writer,
    pace: Pace,
    fence: Fence,
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
            None => match inspect(reader, names, &Machine::this()).await? {
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
                let claimed_at_ms = now_ms();
                if let Some(claimed) =
                    claim_generation(reader, writer, next, &holder, names, &step).await?
                {
                    let held = Held {
                        current: claimed.current,
                        claimed_at_ms,
                        found: claimed.older,
                        own_leftovers: Vec::new(),
                    };
                    // Time spent waiting for another holder, not the
                    // calls that took it.
                    let waited = if told {
                        pace.now() - started
                    } else {
                        Duration::ZERO
                    };
                    return Ok(Lease::start(names, holder, writer, reader, held, waited));
                }
                // Another process holds that generation or a newer one,
                // or was changing it as we asked: look again.
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
/// judged from machine `here`; `None` when the newest vanished while it
/// was looked at (released: look again).
pub(crate) async fn inspect(
    reader: &Reader,
    names: &StageNames,
    here: &Machine,
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
    let owner = match holder_of(reader, newest).await {
        Ok(owner) => owner,
        Err(error) if error.class == ErrorClass::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let standing = standing(
        newest.created_ms,
        owner.as_ref(),
        now_ms(),
        pace.real_duration(TTL),
        here,
        process_runs,
    );
    Ok(Some(Found {
        generations,
        newest: Some((owner, standing)),
    }))
}

/// Who made `generation`, as its tags say (`None`: they do not say).
async fn holder_of(reader: &Reader, generation: &Generation) -> Result<Option<Holder>, AwsError> {
    let tags = retry_reads(reader.pace(), || reader.log_group_tags(&generation.arn)).await?;
    Ok(Holder::from_tags(&tags))
}

/// [`inspect`] from this machine; `None` when the newest generation
/// vanished while it was looked at.
pub(crate) async fn look(reader: &Reader, names: &StageNames) -> Result<Option<Found>, AwsError> {
    inspect(reader, names, &Machine::this()).await
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

/// Creates generation `number` for `holder` (a live one, or the tombstone
/// of a release) and checks that it is the newest: `Some` when the
/// generation is `holder`'s (also when an earlier attempt whose answer
/// was lost made it) and none is newer; `None` when another process made
/// it, was changing it as this one asked (CloudWatch aborts one of two
/// concurrent requests on a name), or made a newer one. A generation
/// made in vain is removed.
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
        Err(error)
            if matches!(
                error.class,
                ErrorClass::AlreadyExists | ErrorClass::Conflict
            ) =>
        {
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
        let _ = delete_generation(writer, &pace, &name, step).await;
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

/// Deletes one generation, retried while CloudWatch throttles or aborts
/// it for a concurrent request on the name; gone already is done.
async fn delete_generation(
    writer: &Writer,
    pace: &Pace,
    name: &str,
    step: &str,
) -> Result<(), AwsError> {
    let deleted = retry(
        pace,
        Backoff::default(),
        &[ErrorClass::Transient, ErrorClass::Conflict],
        || async {
            writer
                .delete_log_group(name)
                .await
                .map_err(|e| e.in_step(step))
        },
    )
    .await;
    match deleted {
        Err(error) if error.class != ErrorClass::NotFound => Err(error),
        _ => Ok(()),
    }
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
        let pace = reader.pace();
        let held = Arc::new(Mutex::new(held));
        let (lost_tx, lost) = watch::channel(false);
        let fence = Fence {
            stage: names.stage.clone(),
            held: held.clone(),
            lost: Arc::new(lost_tx),
            valid_for_ms: valid_for(&pace).as_millis() as i64,
        };
        let admit_fence = fence.clone();
        let gated = writer.gated(Arc::new(move || admit_fence.admit()));
        let (stop, stop_rx) = watch::channel(false);
        // Renewals go through the fence too: one under way when the
        // process stopped sends nothing once it runs again.
        let renewal = tokio::spawn(renew(
            names.clone(),
            holder.clone(),
            gated.clone(),
            reader.clone(),
            fence.clone(),
            stop_rx,
        ));
        Lease {
            names: names.clone(),
            holder,
            writer: writer.clone(),
            reader: reader.clone(),
            gated,
            pace,
            fence,
            lost,
            stop,
            renewal: Some(renewal),
            waited,
        }
    }

    /// `target` with its writes fenced by this lease: every call is
    /// refused, unsent, once the lease is no longer this process's.
    pub(crate) fn guard<'a>(&'a self, target: &Target<'a>) -> Target<'a> {
        Target {
            writer: &self.gated,
            reader: target.reader,
            arns: target.arns,
            pace: target.pace,
        }
    }

    /// Runs `work` (whose writes go through [`Lease::guard`]) while the
    /// lease is held; stops it (at its next await) and fails if the lease
    /// is lost meanwhile, also when `work` ended because a write of its
    /// was refused by the fence.
    pub(crate) async fn fenced<T>(&self, work: impl Future<Output = T>) -> Result<T, LeaseError> {
        let lost_error = || LeaseError::Lost {
            stage: self.names.stage.clone(),
            ttl: (TTL - RENEW_EVERY).as_secs(),
        };
        let mut lost = self.lost.clone();
        let out = tokio::select! {
            biased;
            _ = lost.wait_for(|lost| *lost) => return Err(lost_error()),
            out = work => out,
        };
        if self.fence.is_lost() {
            return Err(lost_error());
        }
        Ok(out)
    }

    /// Applies `plan` (no code to upload, nothing produced before) while
    /// the lease is held: a command's few writes (a rollback, an API key,
    /// an undeploy).
    pub(crate) async fn apply(
        &self,
        target: &Target<'_>,
        plan: &super::plan::Plan,
        reporter: &dyn super::apply::StepReporter,
    ) -> miette::Result<super::apply::Applied> {
        let target = self.guard(target);
        let apply = super::apply::apply(&target, None, plan, Default::default(), reporter);
        self.fenced(apply)
            .await?
            .map_err(super::apply::ApplyError::into_report)
    }

    /// Stops renewing, then: while still held, leaves a tombstone (the
    /// next number, tagged released) and deletes its own generations and
    /// the older tombstones and provably gone holders' ones; for a command
    /// that ends the stage (`ends_stage`), deletes every generation and
    /// leaves none. A lease lost meanwhile deletes only its own. An error
    /// names what is left: it expires, or a rerun here takes it over.
    /// Only [`with_lease`] releases.
    async fn release(mut self, ends_stage: bool) -> Result<(), AwsError> {
        let _ = self.stop.send(true);
        if let Some(renewal) = self.renewal.take() {
            // Lets a renewal in flight finish, so its generation is known.
            let _ = renewal.await;
        }
        let step = format!("release the deploy lease of stage {}", self.names.stage);
        let (current, found, own_leftovers) = {
            let held = self.fence.held.lock().unwrap_or_else(|p| p.into_inner());
            (
                held.current.clone(),
                held.found.clone(),
                held.own_leftovers.clone(),
            )
        };
        let still_held = !self.fence.is_lost() && self.fence.valid_at(now_ms());
        let mut doomed: Vec<Generation> = own_leftovers;
        if !still_held {
            // Ours only if its tags still say so: a name is never reused
            // while the stage exists, but an undeploy starts numbers again.
            match holder_of(&self.reader, &current).await {
                Ok(Some(owner)) if owner.token == self.holder.token => doomed.push(current),
                _ => {}
            }
        } else if ends_stage {
            let listed = generations(
                &self.names.lease_prefix,
                retry_reads(self.pace, || {
                    self.reader.log_groups_under(&self.names.lease_prefix)
                })
                .await?,
            );
            doomed.extend(listed.into_iter().filter(|g| g.number <= current.number));
        } else {
            let released = self.holder.released();
            let tombstone = claim_generation(
                &self.reader,
                &self.writer,
                current.number + 1,
                &released,
                &self.names,
                &step,
            );
            let owners = futures_util::future::join_all(
                found
                    .iter()
                    .map(|generation| holder_of(&self.reader, generation)),
            );
            let (tombstone, owners) = tokio::join!(tombstone, owners);
            // Without a tombstone (another process took the next number),
            // this generation stays until it expires: deleting it could
            // let a number be used again.
            if tombstone?.is_some() {
                doomed.push(current);
            }
            let here = Machine::this();
            for (generation, owner) in found.into_iter().zip(owners) {
                let removable = match owner {
                    Ok(Some(owner)) => owner.released || owner.provably_gone(&here, process_runs),
                    Ok(None) => false,
                    // Gone already.
                    Err(error) => error.class == ErrorClass::NotFound,
                };
                if removable {
                    doomed.push(generation);
                }
            }
        }
        let deletes = doomed
            .iter()
            .map(|generation| delete_generation(&self.writer, &self.pace, &generation.name, &step));
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
    /// The command removes the stage (`slx undeploy`): its release
    /// deletes every generation and leaves no tombstone.
    pub(crate) ends_stage: bool,
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
    let ends_stage = ask.ends_stage;
    let lease = take_narrated(narrator, ask).await?;
    let done = work(&lease).await;
    if let Err(error) = lease.release(ends_stage).await {
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

/// Every [`RENEW_EVERY`], checks that the current generation is still
/// valid and this process's, creates the next generation and deletes the
/// previous one, until told to stop or the lease is lost. A process that
/// was stopped past its validity renews nothing: it has lost the lease
/// (`writer` is the fenced one, so a renewal the stop caught half-way
/// sends nothing either).
async fn renew(
    names: StageNames,
    holder: Holder,
    writer: Writer,
    reader: Reader,
    fence: Fence,
    mut stop: watch::Receiver<bool>,
) {
    let step = format!("renew the deploy lease of stage {}", names.stage);
    let pace = reader.pace();
    let lose = || {
        fence.lost.send_replace(true);
    };
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            () = pace.sleep(RENEW_EVERY) => {}
        }
        let asked_at = now_ms();
        if !fence.valid_at(asked_at) {
            return lose();
        }
        let previous = fence
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .current
            .clone();
        match holder_of(&reader, &previous).await {
            Ok(Some(owner)) if owner.token == holder.token => {}
            // Gone, or another's: not this process's lease any more.
            Ok(_) => return lose(),
            Err(error) if error.class == ErrorClass::NotFound => return lose(),
            Err(error) => {
                tracing::debug!(%error, "lease renewal could not read its generation");
                continue;
            }
        }
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
                {
                    let mut held = fence.held.lock().unwrap_or_else(|p| p.into_inner());
                    held.current = claimed.current;
                    held.claimed_at_ms = asked_at;
                }
                // Best effort: a leftover goes on release.
                if delete_generation(&writer, &pace, &previous.name, &step)
                    .await
                    .is_err()
                {
                    fence
                        .held
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .own_leftovers
                        .push(previous);
                }
            }
            // Another process took the lease over meanwhile.
            Ok(None) => return lose(),
            // Tried again at the next tick; the lease stays valid until
            // its generation expires.
            // (A renewal the fence refused has lost the lease already.)
            Err(_) if fence.is_lost() => return,
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
            boot: Some("b1".into()),
            pid_namespace: Some("4026531836".into()),
            released: false,
        }
    }

    /// A machine that `holder(host, _)` runs on.
    fn machine(host: &str) -> Machine {
        Machine {
            host: host.into(),
            boot: Some("b1".into()),
            pid_namespace: Some("4026531836".into()),
        }
    }

    #[test]
    fn a_fresh_generation_of_a_running_or_remote_holder_binds() {
        let now = 1_000_000_000;
        let fresh = now - 5_000;
        let h = holder("laptop", 42);
        assert_eq!(
            standing(fresh, Some(&h), now, TTL, &machine("laptop"), |_| true),
            Standing::Held
        );
        // Another host: its processes cannot be seen, only time frees it.
        assert_eq!(
            standing(fresh, Some(&h), now, TTL, &machine("runner"), |_| false),
            Standing::Held
        );
        assert_eq!(
            standing(fresh, None, now, TTL, &machine("laptop"), |_| false),
            Standing::Held
        );
    }

    #[test]
    fn a_gone_local_holder_frees_at_once_and_any_holder_after_the_ttl() {
        let now = 1_000_000_000;
        let h = holder("laptop", 42);
        assert_eq!(
            standing(
                now - 1_000,
                Some(&h),
                now,
                TTL,
                &machine("laptop"),
                |pid| pid != 42
            ),
            Standing::HolderGone
        );
        let old = now - TTL.as_millis() as i64 - 1;
        assert_eq!(
            standing(old, Some(&h), now, TTL, &machine("runner"), |_| true),
            Standing::Expired
        );
        assert_eq!(
            standing(old, None, now, TTL, &machine("runner"), |_| true),
            Standing::Expired
        );
        // Exactly at the TTL it still binds: renewals come well before.
        let edge = now - TTL.as_millis() as i64;
        assert_eq!(
            standing(edge, Some(&h), now, TTL, &machine("runner"), |_| true),
            Standing::Held
        );
        assert!(
            RENEW_EVERY * 4 <= TTL,
            "a minute of clock skew never frees a live lease"
        );
    }

    #[test]
    fn only_a_process_of_the_same_boot_and_pid_namespace_is_judged_gone() {
        let now = 1_000_000_000;
        let h = holder("laptop", 42);
        let gone = |here: &Machine| standing(now - 1_000, Some(&h), now, TTL, here, |_| false);
        assert_eq!(gone(&machine("laptop")), Standing::HolderGone);
        // Rebooted since, or another container with the same host name:
        // its pid means nothing here.
        let rebooted = Machine {
            boot: Some("b2".into()),
            ..machine("laptop")
        };
        let container = Machine {
            pid_namespace: Some("4026532999".into()),
            ..machine("laptop")
        };
        assert_eq!(gone(&rebooted), Standing::Held);
        assert_eq!(gone(&container), Standing::Held);
        // An slx that did not say where it ran: only time frees it.
        let unsaid = Holder {
            boot: None,
            pid_namespace: None,
            ..h.clone()
        };
        assert_eq!(
            standing(
                now - 1_000,
                Some(&unsaid),
                now,
                TTL,
                &machine("laptop"),
                |_| false
            ),
            Standing::Held
        );
    }

    #[test]
    fn a_tombstone_binds_nobody_however_fresh() {
        let now = 1_000_000_000;
        let tombstone = holder("runner", 7).released();
        assert_eq!(
            standing(now, Some(&tombstone), now, TTL, &machine("laptop"), |_| {
                true
            }),
            Standing::Released
        );
        let names = StageNames::new("shop", "dev");
        let tags: HashMap<String, String> = tombstone.tags(&names).0.into_iter().collect();
        assert_eq!(Holder::from_tags(&tags), Some(tombstone));
    }

    #[test]
    fn the_fence_admits_writes_only_while_the_generation_is_valid() {
        let (lost, _) = watch::channel(false);
        let fence = Fence {
            stage: "dev".into(),
            held: Arc::new(Mutex::new(Held {
                current: Generation {
                    number: 1,
                    name: "g".into(),
                    arn: String::new(),
                    created_ms: 0,
                },
                claimed_at_ms: now_ms(),
                found: Vec::new(),
                own_leftovers: Vec::new(),
            })),
            lost: Arc::new(lost),
            valid_for_ms: valid_for(&Pace::real()).as_millis() as i64,
        };
        assert!(fence.admit().is_ok());
        assert!(fence.valid_at(now_ms() + 89_000));
        assert!(!fence.valid_at(now_ms() + 91_000));
        // Stalled past it: refused, and lost for good.
        fence.held.lock().unwrap().claimed_at_ms -= 91_000;
        assert!(fence.admit().unwrap_err().contains("no longer held"));
        fence.held.lock().unwrap().claimed_at_ms = now_ms();
        assert!(fence.admit().is_err());
        assert!(fence.is_lost());
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
