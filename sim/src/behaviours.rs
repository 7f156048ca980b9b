//! What the simulator does besides forwarding, each behaviour switchable
//! and sized, all durations multiplied by `time_scale` (CI runs real-AWS
//! scenarios at a tenth of their waits).
//!
//! The figures real AWS shows, and where they come from, are in
//! `Behaviours::realistic`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Per-call latency: `fixed_ms` plus a uniform `0..jitter_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub fixed_ms: f64,
    pub jitter_ms: f64,
}

/// A fabricated AWS error for requests that match, `times` times; with
/// `status` 0, a lost response instead (moto does the work, the
/// connection drops before the answer), or with `status` 0 and `code`
/// [`Fault::RESET`], a connection dropped before moto sees the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP method (`POST`), or `*`.
    pub method: String,
    /// Matches when the path ends with it, or the body or `X-Amz-Target`
    /// contains it (`/deployments`, `CreateRole`).
    pub url_part: String,
    pub status: u16,
    pub code: String,
    pub message: String,
    pub times: usize,
}

impl Fault {
    /// The `code` of a fault that drops the connection before moto.
    pub const RESET: &'static str = "connection-reset";
}

/// Everything the simulator can do to the traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Behaviours {
    /// Seeds every random choice: the same seed, the same faults.
    pub seed: u64,
    /// Multiplies every duration below (latency, propagation, states,
    /// quota intervals).
    pub time_scale: f64,
    /// Latency for every service, unless `latency_by_service` names it.
    pub latency: Latency,
    pub latency_by_service: Vec<(String, Latency)>,
    /// A new role is not assumable by Lambda for this long.
    pub role_propagation_s: f64,
    /// A new function stays `State: Pending` for this long.
    pub pending_s: f64,
    /// An updated function stays `LastUpdateStatus: InProgress`.
    pub in_progress_s: f64,
    /// API Gateway's control-plane rate limits (429 when exceeded).
    pub apigateway_quotas: bool,
    /// Share of requests answered 500/503 without reaching moto.
    pub error_rate: f64,
    /// Share of requests whose connection is dropped before moto sees them.
    pub reset_rate: f64,
    /// Share of requests answered `slow_ms` later.
    pub slow_rate: f64,
    pub slow_ms: f64,
    /// Share of mutating requests that moto carries out and whose answer
    /// is then lost (the connection drops).
    pub lost_response_rate: f64,
    /// Explicit faults, checked before the random ones.
    pub faults: Vec<Fault>,
    /// Answer Lambda `Invoke` by running the function's real bootstrap.
    pub invoke: bool,
    /// IAM reads still see a deleted role for this long (IAM is
    /// eventually consistent).
    pub iam_read_lag_s: f64,
    /// Actions the caller's policy does not allow (`lambda:ListTags`):
    /// answered 403 AccessDenied. Lambda's `GetFunction` also leaves out
    /// `Tags` for a caller without `lambda:ListTags`.
    pub denied: Vec<String>,
    /// Warnings API Gateway returns from an OpenAPI import (`PutRestApi`),
    /// e.g. for extensions it ignores.
    pub import_warnings: Vec<String>,
    /// Let this many mutating requests through, then hold every further
    /// one (recorded as `held`) until the behaviours change, and drop it
    /// unanswered: a test kills the client at exactly that point.
    pub hold_after_writes: Option<usize>,
    /// Lose the answer of the n-th mutating request (1-based): moto does
    /// the work, the connection drops.
    pub lose_write: Option<usize>,
    /// Hold every request to this service (its signing name: `lambda`)
    /// until the behaviours change, then carry it out: a test acts at a
    /// known point between a client's calls.
    pub hold_service: Option<String>,
    /// Report a function that is not being created or updated as
    /// `State: Inactive`, as Lambda does after weeks without invocations.
    pub inactive_when_idle: bool,
    /// Answer `StartLiveTail` as CloudWatch does (only events ingested
    /// after the session starts, an update a second, the session open
    /// until the client leaves) instead of moto's one-shot replay.
    pub live_tail: bool,
    /// How long a Live Tail session lasts before `SessionTimeoutException`
    /// (CloudWatch: three hours).
    pub live_tail_session_s: f64,
    /// Every provisioned concurrency allocation ends `FAILED` with this
    /// `StatusReason` (as when the account's concurrency quota is short).
    pub provisioned_failure: Option<String>,
    /// How long a deleted event source mapping stays listed as
    /// `Deleting`, a new mapping of its queue and function refused.
    pub mapping_deletion_s: f64,
    /// How long a deleted schedule group stays `DELETING` (while its
    /// schedules go), a group of its name refused.
    pub schedule_group_deletion_s: f64,
    /// Every `UpdateFunctionConfiguration` is accepted, then fails with
    /// this `LastUpdateStatusReasonCode` (e.g. `SubnetOutOfIPAddresses`),
    /// the previous configuration kept.
    pub update_failure: Option<String>,
    /// Every `CreateFunction` is accepted, then the function ends
    /// `State: Failed` with this `StateReasonCode` once Pending is over.
    pub create_failure: Option<String>,
    /// How long after a function is deleted or leaves its VPC Lambda
    /// releases its network interfaces (with its execution role, which
    /// must then still allow it: `interfaces.rs`).
    pub interface_release_s: f64,
}

impl Default for Behaviours {
    fn default() -> Behaviours {
        Behaviours {
            seed: 1,
            time_scale: 1.0,
            latency: Latency::default(),
            latency_by_service: Vec::new(),
            role_propagation_s: 0.0,
            pending_s: 0.0,
            in_progress_s: 0.0,
            apigateway_quotas: false,
            error_rate: 0.0,
            reset_rate: 0.0,
            slow_rate: 0.0,
            slow_ms: 0.0,
            lost_response_rate: 0.0,
            faults: Vec::new(),
            invoke: true,
            iam_read_lag_s: 0.0,
            denied: Vec::new(),
            import_warnings: Vec::new(),
            hold_after_writes: None,
            lose_write: None,
            hold_service: None,
            inactive_when_idle: false,
            live_tail: true,
            live_tail_session_s: 3.0 * 3600.0,
            provisioned_failure: None,
            mapping_deletion_s: 0.0,
            schedule_group_deletion_s: 0.0,
            update_failure: None,
            create_failure: None,
            interface_release_s: 0.0,
        }
    }
}

impl Behaviours {
    /// Real AWS as slx meets it, at `time_scale` 1: tens of milliseconds
    /// per call, seconds of IAM propagation, Lambda's Pending and
    /// InProgress states, API Gateway's quotas.
    // Latency: measured control-plane round trips from a nearby region.
    // Role propagation: "it can take several seconds for the role to be
    // assumable" (Lambda execution role docs); 8 s is typical.
    // States: https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
    // Quotas: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
    pub fn realistic() -> Behaviours {
        Behaviours {
            latency: Latency {
                fixed_ms: 50.0,
                jitter_ms: 20.0,
            },
            role_propagation_s: 8.0,
            pending_s: 1.5,
            in_progress_s: 1.0,
            // Deleting a mapping takes Lambda seconds to a minute.
            mapping_deletion_s: 5.0,
            schedule_group_deletion_s: 5.0,
            // "can take up to 20 minutes" after the function is deleted or
            // leaves the VPC (configuration-vpc.html).
            interface_release_s: 1200.0,
            apigateway_quotas: true,
            ..Behaviours::default()
        }
    }

    /// `seconds` of simulated time as real time.
    pub fn scaled(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds * self.time_scale).max(0.0))
    }

    pub(crate) fn latency_for(&self, service: &str) -> Latency {
        self.latency_by_service
            .iter()
            .find(|(name, _)| name == service)
            .map_or(self.latency, |(_, latency)| *latency)
    }
}
