//! What a whole stage is refused for, once its tables are layered: names
//! AWS would refuse, an environment over Lambda's 4 KB, more provisioned
//! than reserved concurrency. One function decides; `validate` reports
//! every refusal at the line that caused it, `resolve` refuses the stage
//! with the first.
//!
//! Pure. Never checks a value on its own (`values` does).

use std::collections::BTreeMap;
use std::ops::Range;

use super::limits;
use super::model::{EventHandler, EventSource, Settings};

/// Why a stage cannot be deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The stage's name itself.
    BadName {
        problem: &'static str,
    },
    /// The stage's resources' names would be too long.
    TooLong {
        problem: String,
    },
    /// An event handler's function name would be too long.
    HandlerTooLong {
        handler: String,
        problem: String,
        span: Range<usize>,
        /// A function authorizer's function (else an event handler's).
        authorizer: bool,
    },
    EnvTooLarge {
        size: usize,
    },
    /// Lambda refuses more provisioned than reserved concurrency.
    // https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html
    ProvisionedAboveReserved {
        provisioned: u32,
        reserved: u32,
        /// Where `provisioned_concurrency` was set.
        span: Range<usize>,
    },
}

/// What of a stage the check looks at.
pub(crate) struct Stage<'a> {
    /// `None` when slx.toml's app name is not valid (names made from it
    /// are not judged then).
    pub(crate) app: Option<&'a str>,
    /// `None`: `[app]` on its own (what every stage without a table of
    /// its own gets), whose name is not known.
    pub(crate) name: Option<&'a str>,
    /// Its settings, `[app]`'s beneath its table's.
    pub(crate) settings: &'a Settings,
    pub(crate) env: &'a BTreeMap<String, String>,
    /// Every function besides the API's: event handlers and function
    /// authorizers.
    pub(crate) handlers: &'a [EventHandler],
}

/// Every refusal of `stage`, names first.
pub(crate) fn refusals(stage: &Stage<'_>) -> Vec<Refusal> {
    let mut found = Vec::new();
    if let Some(name) = stage.name {
        if let Some(problem) = limits::name_problem(name) {
            // The other names are made from it: nothing else is judged.
            return vec![Refusal::BadName { problem }];
        }
        let app = stage.app.unwrap_or_default();
        if stage.app.is_some()
            && let Some(problem) = limits::resource_name_problem(app, name)
        {
            found.push(Refusal::TooLong { problem });
        }
        for handler in stage.handlers.iter().filter(|_| stage.app.is_some()) {
            let scheduled = matches!(handler.source, EventSource::Schedule(_));
            if let Some(problem) =
                limits::event_function_problem(app, name, &handler.name, scheduled)
            {
                found.push(Refusal::HandlerTooLong {
                    handler: handler.name.clone(),
                    problem,
                    span: handler.span.clone(),
                    authorizer: matches!(handler.source, EventSource::Authorizer(_)),
                });
            }
        }
    }
    let size = limits::env_size(stage.env);
    if size > limits::ENV_BYTES {
        found.push(Refusal::EnvTooLarge { size });
    }
    if let (Some(provisioned), Some(reserved)) = (
        &stage.settings.provisioned_concurrency,
        &stage.settings.concurrency,
    ) && provisioned.value > reserved.value
    {
        found.push(Refusal::ProvisionedAboveReserved {
            provisioned: provisioned.value,
            reserved: reserved.value,
            span: provisioned.span.clone(),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Set;

    fn set<T>(value: T) -> Option<Set<T>> {
        Some(Set { value, span: 3..4 })
    }

    #[test]
    fn a_bad_stage_name_is_the_only_refusal() {
        let settings = Settings::default();
        let env = BTreeMap::new();
        let stage = Stage {
            app: Some("shop"),
            name: Some("Prod"),
            settings: &settings,
            env: &env,
            handlers: &[],
        };
        assert!(matches!(
            refusals(&stage).as_slice(),
            [Refusal::BadName { .. }]
        ));
    }

    #[test]
    fn provisioned_above_reserved_and_a_large_environment_are_refused_together() {
        let settings = Settings {
            provisioned_concurrency: set(10),
            concurrency: set(5),
            ..Settings::default()
        };
        let env = BTreeMap::from([("BIG".to_string(), "x".repeat(5000))]);
        let stage = Stage {
            app: Some("shop"),
            name: None,
            settings: &settings,
            env: &env,
            handlers: &[],
        };
        let found = refusals(&stage);
        assert!(found.contains(&Refusal::ProvisionedAboveReserved {
            provisioned: 10,
            reserved: 5,
            span: 3..4
        }));
        assert!(
            found
                .iter()
                .any(|r| matches!(r, Refusal::EnvTooLarge { size } if *size > 5000))
        );
        let fine = Settings {
            provisioned_concurrency: set(5),
            concurrency: set(5),
            ..Settings::default()
        };
        let small = BTreeMap::new();
        let stage = Stage {
            settings: &fine,
            env: &small,
            ..stage
        };
        assert_eq!(refusals(&stage), Vec::new());
    }
}
