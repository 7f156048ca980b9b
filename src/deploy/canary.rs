//! Canary releases: the stage alias keeps serving its version and sends a
//! share of invocations to the new one (Lambda's weighted alias), while
//! the new version's errors and throttles (CloudWatch, `ExecutedVersion`
//! dimension) and its smoke checks are watched; then it takes all the
//! traffic, or the share goes back to the old version. It is promoted
//! only on complete data (CloudWatch's metrics arrive minutes late) and
//! only when its window saw enough invocations to judge it by.
//!
//! What a canary is and the decision are pure data and a pure function;
//! the watch loop that gathers observations runs in the deploy command,
//! and moving the alias is an apply step like any other.

use std::time::Duration;

use serde::Serialize;

pub(crate) use crate::config::CanarySpec;
/// A canary a deploy plans: the share and watch, and the version the
/// alias keeps serving meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PlannedCanary {
    #[serde(flatten)]
    pub(crate) spec: CanarySpec,
    pub(crate) serving: String,
}

/// A canary a deploy started: the alias serves `previous` and sends the
/// spec's share to `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CanaryStarted {
    #[serde(flatten)]
    pub(crate) spec: CanarySpec,
    pub(crate) previous: String,
    pub(crate) version: String,
}

/// How long after a moment CloudWatch's data about it is complete:
/// Lambda sends its metrics in one-minute periods, and they arrive in
/// CloudWatch a while later; slx waits out the period and two minutes.
// https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html
pub(crate) const METRICS_SETTLE: Duration = Duration::from_secs(180);

/// What the watch saw of the new version so far: CloudWatch's series
/// (one sum per minute since the canary began) and the checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Observation {
    pub(crate) errors: Vec<f64>,
    pub(crate) throttles: Vec<f64>,
    pub(crate) invocations: Vec<f64>,
    /// One line per smoke check that failed on the new version.
    pub(crate) failed_checks: Vec<String>,
}

impl Observation {
    pub(crate) fn total_errors(&self) -> f64 {
        self.errors.iter().sum()
    }

    pub(crate) fn total_throttles(&self) -> f64 {
        self.throttles.iter().sum()
    }

    pub(crate) fn total_invocations(&self) -> f64 {
        self.invocations.iter().sum()
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Watch,
    Promote,
    RollBack(String),
}

/// The decision after `elapsed` of the watch of `spec`: any error or
/// throttle of the new version, or any failed check, rolls back at once.
/// Otherwise nothing is decided until CloudWatch's data for the whole
/// window is complete ([`METRICS_SETTLE`] after it); then a window with
/// at least `min_invocations` promotes, and one with fewer rolls back:
/// a share that saw (almost) no traffic proves nothing.
pub(crate) fn decide(seen: &Observation, elapsed: Duration, spec: &CanarySpec) -> Decision {
    let (errors, throttles) = (seen.total_errors(), seen.total_throttles());
    if errors > 0.0 {
        return Decision::RollBack(format!(
            "the new version had {errors} error{} (CloudWatch Errors)",
            if errors == 1.0 { "" } else { "s" }
        ));
    }
    if throttles > 0.0 {
        return Decision::RollBack(format!(
            "the new version was throttled {throttles} time{} (CloudWatch Throttles)",
            if throttles == 1.0 { "" } else { "s" }
        ));
    }
    if let Some(failed) = seen.failed_checks.first() {
        return Decision::RollBack(format!("a check failed on the new version: {failed}"));
    }
    if elapsed < spec.watch + METRICS_SETTLE {
        return Decision::Watch;
    }
    let invocations = seen.total_invocations();
    if invocations < f64::from(spec.min_invocations) {
        return Decision::RollBack(format!(
            "the new version saw too little traffic to be judged: {invocations} invocation{} in its {} window, and `min_invocations` asks for {} (CloudWatch Invocations)",
            if invocations == 1.0 { "" } else { "s" },
            humantime::format_duration(spec.watch),
            spec.min_invocations
        ));
    }
    Decision::Promote
}

/// How often to look during a `window`: a few times per window, at most
/// every 10 s (CloudWatch's resolution for Lambda is a minute anyway).
pub(crate) fn poll_interval(window: Duration) -> Duration {
    (window / 4).clamp(Duration::from_millis(500), Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(300);

    const SPEC: CanarySpec = CanarySpec {
        percent: 10,
        watch: WINDOW,
        min_invocations: 20,
    };

    #[test]
    fn a_clean_window_promotes_only_once_its_data_is_complete() {
        let clean = Observation {
            errors: vec![0.0, 0.0, 0.0],
            throttles: vec![0.0, 0.0, 0.0],
            invocations: vec![10.0, 15.0, 5.0],
            failed_checks: Vec::new(),
        };
        assert_eq!(
            decide(&clean, Duration::from_secs(10), &SPEC),
            Decision::Watch
        );
        // The window is over, but its last minutes are not in yet.
        assert_eq!(decide(&clean, WINDOW, &SPEC), Decision::Watch);
        assert_eq!(
            decide(
                &clean,
                WINDOW + METRICS_SETTLE - Duration::from_secs(1),
                &SPEC
            ),
            Decision::Watch
        );
        assert_eq!(
            decide(&clean, WINDOW + METRICS_SETTLE, &SPEC),
            Decision::Promote
        );
    }

    #[test]
    fn a_window_with_too_little_traffic_rolls_back() {
        let quiet = Observation {
            invocations: vec![3.0, 1.0],
            ..Observation::default()
        };
        let done = WINDOW + METRICS_SETTLE;
        assert_eq!(
            decide(&quiet, done, &SPEC),
            Decision::RollBack(
                "the new version saw too little traffic to be judged: 4 invocations in its 5m window, and `min_invocations` asks for 20 (CloudWatch Invocations)".into()
            )
        );
        let none_needed = CanarySpec {
            min_invocations: 0,
            ..SPEC
        };
        assert_eq!(
            decide(&Observation::default(), done, &none_needed),
            Decision::Promote
        );
    }

    #[test]
    fn errors_throttles_or_a_failed_check_roll_back_at_once() {
        // Two minutes of the series: none, then two errors.
        let errors = Observation {
            errors: vec![0.0, 2.0],
            ..Observation::default()
        };
        assert_eq!(
            decide(&errors, Duration::from_secs(1), &SPEC),
            Decision::RollBack("the new version had 2 errors (CloudWatch Errors)".into())
        );
        let throttled = Observation {
            errors: vec![0.0],
            throttles: vec![0.0, 1.0, 0.0],
            ..Observation::default()
        };
        assert_eq!(
            decide(&throttled, WINDOW, &SPEC),
            Decision::RollBack(
                "the new version was throttled 1 time (CloudWatch Throttles)".into()
            )
        );
        let failed = Observation {
            failed_checks: vec!["GET /health: status 500, expected 200".into()],
            ..Observation::default()
        };
        assert_eq!(
            decide(&failed, Duration::from_secs(1), &SPEC),
            Decision::RollBack(
                "a check failed on the new version: GET /health: status 500, expected 200".into()
            )
        );
    }

    #[test]
    fn shares_and_windows_are_parsed_within_bounds() {
        assert_eq!(CanarySpec::parse_share("10%"), Ok(10));
        assert_eq!(CanarySpec::parse_share(" 25 "), Ok(25));
        assert!(CanarySpec::parse_share("0%").is_err());
        assert!(CanarySpec::parse_share("100%").is_err());
        assert!(CanarySpec::parse_share("ten").is_err());
        assert_eq!(CanarySpec::parse_watch("5m"), Ok(Duration::from_secs(300)));
        assert!(CanarySpec::parse_watch("7h").is_err());
        assert!(CanarySpec::parse_watch("soon").is_err());
        assert!((SPEC.weight() - 0.1).abs() < 1e-9);
        assert_eq!(
            serde_json::to_value(SPEC).unwrap(),
            serde_json::json!({ "percent": 10, "for_seconds": 300.0, "min_invocations": 20 })
        );
    }

    #[test]
    fn the_watch_looks_a_few_times_per_window() {
        assert_eq!(
            poll_interval(Duration::from_secs(300)),
            Duration::from_secs(10)
        );
        assert_eq!(
            poll_interval(Duration::from_secs(8)),
            Duration::from_secs(2)
        );
        assert_eq!(
            poll_interval(Duration::from_secs(1)),
            Duration::from_millis(500)
        );
    }
}
