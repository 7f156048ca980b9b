//! Time as slx waits for it: the `Sleeper` and `Clock` seams that every
//! wait and deadline goes through (backoff, function readiness, the
//! deploy lease's renewal and expiry, canary polling, undeploy's wait,
//! log following), and `Pace`, their one implementation outside unit
//! tests.
//!
//! A pace is real time, except in slx's own test suite: there,
//! `SLX_TEST_TIME_SCALE` (a factor from 0.01 to 1) shortens every wait
//! and deadline of a process whose AWS is local (a loopback endpoint),
//! so that a lease renewal, a backoff budget or a canary window passes
//! in a fraction of its time against the simulator, which scales AWS's
//! own delays by the same factor. Against any other endpoint the
//! variable is ignored: real AWS is only ever waited for in real time.
//!
//! Also how a duration reads when slx prints it (`readable`).
//!
//! Must never: read the variable anywhere but [`Pace::for_endpoint`], or
//! scale wall-clock readings (they are compared with AWS's timestamps).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

/// The variable the test suite sets; read only for a loopback endpoint.
pub(crate) const SCALE_VAR: &str = "SLX_TEST_TIME_SCALE";

/// A wait in progress.
pub(crate) type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The seam for waits (object-safe: handed around as `&dyn Sleeper`).
pub(crate) trait Sleeper: Send + Sync {
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The seam for reading time: deadlines (`now`) and wall-clock windows
/// (`wall`, e.g. a log follow's look-back).
pub(crate) trait Clock: Sync {
    fn now(&self) -> Instant;
    fn wall(&self) -> SystemTime;
}

/// How fast slx's own time passes: durations slx waits for or measures
/// against are multiplied by `scale` in real time (1: real time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    scale: f64,
    /// Where the scaled clock starts: `now()` runs `1 / scale` times as
    /// fast as real time from here.
    origin: Instant,
}

impl Default for Pace {
    fn default() -> Self {
        Pace::real()
    }
}

impl Pace {
    /// Real time.
    pub(crate) fn real() -> Pace {
        Pace::scaled(1.0)
    }

    /// Every duration multiplied by `scale` (clamped to 0.01..=1).
    pub(crate) fn scaled(scale: f64) -> Pace {
        let scale = if scale.is_finite() {
            scale.clamp(0.01, 1.0)
        } else {
            1.0
        };
        Pace {
            scale,
            origin: Instant::now(),
        }
    }

    /// The pace for a process whose AWS is at `endpoint` (`None`: AWS's
    /// own endpoints): the test suite's scale when the endpoint is this
    /// machine, real time otherwise.
    pub(crate) fn for_endpoint(endpoint: Option<&str>) -> Pace {
        Pace::choose(endpoint, std::env::var(SCALE_VAR).ok().as_deref())
    }

    /// Pure: the pace for `endpoint` when the variable holds `scale`.
    fn choose(endpoint: Option<&str>, scale: Option<&str>) -> Pace {
        let local = endpoint.is_some_and(crate::endpoint::loopback);
        match scale.and_then(|value| value.trim().parse::<f64>().ok()) {
            Some(scale) if local => Pace::scaled(scale),
            _ => Pace::real(),
        }
    }

    /// The factor: 1 in real time.
    pub(crate) fn scale(&self) -> f64 {
        self.scale
    }

    /// How long `duration` of slx's time takes in real time (to compare
    /// with real clocks, such as the age of a lease CloudWatch stamped).
    pub(crate) fn real_duration(&self, duration: Duration) -> Duration {
        if self.scale == 1.0 {
            duration
        } else {
            duration.mul_f64(self.scale)
        }
    }
}

/// A duration as slx prints it: `0.4s`, `12.0s`, `2m05s`.
pub(crate) fn readable(took: Duration) -> String {
    let secs = took.as_secs_f64();
    if secs < 120.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", took.as_secs() / 60, took.as_secs() % 60)
    }
}

impl Sleeper for Pace {
    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(self.real_duration(duration)))
    }
}

impl Clock for Pace {
    fn now(&self) -> Instant {
        if self.scale == 1.0 {
            return Instant::now();
        }
        self.origin + self.origin.elapsed().div_f64(self.scale)
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_is_left_alone_and_a_scale_shortens_every_wait() {
        let real = Pace::real();
        assert_eq!(
            real.real_duration(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        let fast = Pace::scaled(0.1);
        assert_eq!(
            fast.real_duration(Duration::from_secs(30)),
            Duration::from_secs(3)
        );
        // Out of range or nonsense: clamped, never zero or slower.
        assert_eq!(Pace::scaled(0.0).scale(), 0.01);
        assert_eq!(Pace::scaled(7.0).scale(), 1.0);
        assert_eq!(Pace::scaled(f64::NAN).scale(), 1.0);
    }

    #[test]
    fn a_scaled_clock_runs_faster_by_the_same_factor() {
        let fast = Pace::scaled(0.1);
        let (clock, real) = (fast.now(), Instant::now());
        std::thread::sleep(Duration::from_millis(50));
        let (clock_passed, real_passed) = (fast.now() - clock, real.elapsed());
        // At a tenth, 50 ms of real time is 500 ms of slx's time.
        assert!(
            clock_passed >= real_passed * 9,
            "{clock_passed:?} vs {real_passed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_sleep_waits_the_scaled_time() {
        let started = tokio::time::Instant::now();
        Pace::scaled(0.25).sleep(Duration::from_secs(4)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[test]
    fn only_a_local_aws_is_waited_for_at_the_test_suites_pace() {
        for (endpoint, local) in [
            (Some("http://127.0.0.1:5000"), true),
            (Some("http://localhost:4566"), true),
            (Some("http://[::1]:4566"), true),
            (Some("https://lambda.us-east-1.amazonaws.com"), false),
            (Some("http://192.0.2.1:4566"), false),
            (None, false),
        ] {
            let expected = if local { 0.1 } else { 1.0 };
            assert_eq!(
                Pace::choose(endpoint, Some("0.1")).scale(),
                expected,
                "{endpoint:?}"
            );
            assert_eq!(Pace::choose(endpoint, None).scale(), 1.0);
            assert_eq!(Pace::choose(endpoint, Some("fast")).scale(), 1.0);
        }
    }
}
