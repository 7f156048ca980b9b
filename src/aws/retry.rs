//! Retrying the errors AWS asks callers to retry: throttling, conflicts
//! with an update in progress, a new role that is not yet assumable.
//!
//! Sleeping goes through `Sleeper` (crate::pace), so tests run without
//! waiting and at the test suite's pace.

use std::future::Future;
use std::time::Duration;

use super::errors::{AwsError, ErrorClass};
use crate::pace::Sleeper;

/// Exponential backoff, capped, with a total time budget per class.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) first: Duration,
    pub(crate) max: Duration,
    /// How long to keep retrying before giving up.
    pub(crate) budget: Duration,
}

impl Backoff {
    /// For a new role that IAM is still propagating: it usually becomes
    /// usable within seconds, so poll every second rather than backing
    /// off to 5 s and overshooting the moment it is ready.
    pub(crate) const ROLE_PROPAGATION: Backoff = Backoff {
        first: Duration::from_millis(250),
        max: Duration::from_secs(1),
        budget: Duration::from_secs(90),
    };
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_secs(5),
            budget: Duration::from_secs(90),
        }
    }
}

/// Runs `call` until it succeeds, fails with a non-retryable error, or the
/// budget is spent. `retryable` says which classes to retry for this call.
pub(crate) async fn retry<T, F, Fut>(
    sleeper: &dyn Sleeper,
    backoff: Backoff,
    retryable: &[ErrorClass],
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let mut waited = Duration::ZERO;
    let mut delay = backoff.first;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) if retryable.contains(&error.class) && waited + delay <= backoff.budget => {
                tracing::debug!(step = %error.step, detail = %error.detail, ?delay, "retrying");
                sleeper.sleep(delay).await;
                waited += delay;
                delay = (delay * 2).min(backoff.max);
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::pace::Sleep;

    #[derive(Default)]
    struct RecordingSleeper(Mutex<Vec<Duration>>);

    impl Sleeper for RecordingSleeper {
        fn sleep(&self, duration: Duration) -> Sleep {
            self.0.lock().unwrap().push(duration);
            Box::pin(std::future::ready(()))
        }
    }

    fn error(class: ErrorClass) -> AwsError {
        AwsError {
            step: "s".into(),
            class,
            code: None,
            detail: "d".into(),
            hint: None,
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_with_growing_delays() {
        let sleeper = RecordingSleeper::default();
        let mut failures = 3;
        let result = retry(
            &sleeper,
            Backoff::default(),
            &[ErrorClass::Transient],
            || {
                let fail = failures > 0;
                failures -= 1;
                async move {
                    if fail {
                        Err(error(ErrorClass::Transient))
                    } else {
                        Ok(7)
                    }
                }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 7);
        let delays = sleeper.0.lock().unwrap().clone();
        assert_eq!(delays, [250, 500, 1000].map(Duration::from_millis));
    }

    #[tokio::test]
    async fn fatal_errors_are_not_retried() {
        let sleeper = RecordingSleeper::default();
        let result: Result<(), _> = retry(
            &sleeper,
            Backoff::default(),
            &[ErrorClass::Transient],
            || async { Err(error(ErrorClass::Fatal)) },
        )
        .await;
        assert_eq!(result.unwrap_err().class, ErrorClass::Fatal);
        assert!(sleeper.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn gives_up_when_the_budget_is_spent() {
        let sleeper = RecordingSleeper::default();
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(2),
            budget: Duration::from_secs(5),
        };
        let result: Result<(), _> = retry(&sleeper, backoff, &[ErrorClass::Conflict], || async {
            Err(error(ErrorClass::Conflict))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(
            sleeper.0.lock().unwrap().iter().sum::<Duration>(),
            Duration::from_secs(5)
        );
    }
}
