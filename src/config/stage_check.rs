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
use super::model::{EventHandler, EventSource, Route, Secret, Settings};
use crate::contract::handler_env;

/// Why a stage cannot be deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The stage's name itself.
    BadName { problem: &'static str },
    /// The stage's resources' names would be too long.
    TooLong { problem: String },
    /// An event handler's function name would be too long.
    HandlerTooLong {
        handler: String,
        problem: String,
        span: Range<usize>,
        /// A function authorizer's function (else an event handler's).
        authorizer: bool,
    },
    /// A function's whole environment, slx's variables included, is
    /// over Lambda's 4 KB.
    // https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
    EnvTooLarge {
        size: usize,
        /// Which function: `the API's function`, `event handler NAME`.
        function: String,
        /// The variables slx adds to it, with their sizes.
        added: Vec<(String, usize)>,
    },
    /// Lambda refuses more provisioned than reserved concurrency.
    // https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html
    ProvisionedAboveReserved {
        provisioned: u32,
        reserved: u32,
        /// Where `provisioned_concurrency` was set.
        span: Range<usize>,
    },
    /// `role` names a role made elsewhere, so slx makes no role, but the
    /// stage's schedules need one EventBridge Scheduler assumes.
    SchedulerRoleMissing {
        /// The first schedule handler.
        handler: String,
        /// Where `role` was set.
        span: Range<usize>,
    },
}

/// How to give a stage with `role` and schedules a scheduler role.
pub(crate) const SCHEDULER_ROLE_FIX: &str = "set `scheduler_role` to a role EventBridge Scheduler may assume (`slx iam-policy --roles` prints what it needs), or leave `role` out for slx to make both";

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
    /// Its secrets (`SLX_SECRETS` names them) and the routes the API
    /// serves (`SLX_CORS` lists those without CORS).
    pub(crate) secrets: &'a BTreeMap<String, Secret>,
    pub(crate) routes: &'a [Route],
}

impl Stage<'_> {
    /// The largest environment a function of the stage gets (the user's
    /// variables and slx's), which function that is, and slx's variables
    /// in it.
    fn largest_environment(&self) -> (usize, String, Vec<(String, String)>) {
        let secrets: Vec<Secret> = self.secrets.values().cloned().collect();
        let shared: Vec<(String, String)> =
            handler_env::secrets_env(&secrets).into_iter().collect();
        let cors = self.settings.cors.as_ref().map(|set| &set.value);
        let api: Vec<(String, String)> = shared
            .iter()
            .cloned()
            .chain(crate::cors::handler_env(cors, self.routes))
            .collect();
        let functions = std::iter::once(("the API's function".to_string(), api)).chain(
            self.handlers.iter().map(|handler| {
                let added = shared
                    .iter()
                    .cloned()
                    .chain(handler_env::event_env(handler))
                    .collect();
                (format!("event handler `{}`", handler.name), added)
            }),
        );
        functions
            .map(|(function, added)| {
                let mut whole = self.env.clone();
                whole.extend(added.iter().cloned());
                (limits::env_size(&whole), function, added)
            })
            .max_by_key(|(size, _, _)| *size)
            .unwrap_or_default()
    }
}

/// `, with slx's SLX_SECRETS (120 bytes) and SLX_CORS (80 bytes)`: the
/// variables slx adds to a function's environment, when there are any.
pub(crate) fn describe_added(added: &[(String, usize)]) -> String {
    if added.is_empty() {
        return String::new();
    }
    let each: Vec<String> = added
        .iter()
        .map(|(name, size)| format!("{name} ({size} bytes)"))
        .collect();
    format!(", with slx's {}", each.join(" and "))
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
    let (size, function, added) = stage.largest_environment();
    if size > limits::ENV_BYTES {
        found.push(Refusal::EnvTooLarge {
            size,
            function,
            added: added
                .into_iter()
                .map(|(name, value)| (name.clone(), name.len() + value.len()))
                .collect(),
        });
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
    if let (Some(role), None) = (&stage.settings.role, &stage.settings.scheduler_role)
        && let Some(scheduled) = stage
            .handlers
            .iter()
            .find(|handler| matches!(handler.source, EventSource::Schedule(_)))
    {
        found.push(Refusal::SchedulerRoleMissing {
            handler: scheduled.name.clone(),
            span: role.span.clone(),
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
            secrets: &BTreeMap::new(),
            routes: &[],
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
            secrets: &BTreeMap::new(),
            routes: &[],
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
                .any(|r| matches!(r, Refusal::EnvTooLarge { size, .. } if *size > 5000))
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

    /// slx's own variables count: the user's 4,000 bytes fit alone, not
    /// with the secrets' names and the CORS settings slx adds.
    #[test]
    fn the_environment_counts_what_slx_adds_to_each_function() {
        let cors = crate::config::Cors {
            origins: vec!["https://app.example.com".into()],
            headers: vec![],
            expose_headers: vec![],
            credentials: false,
            max_age: 600,
        };
        let settings = Settings {
            cors: set(cors),
            ..Settings::default()
        };
        let env = BTreeMap::from([("BIG".to_string(), "x".repeat(3_950))]);
        let secrets: BTreeMap<String, Secret> = (0..4)
            .map(|i| {
                let name = format!("SECRET_{i}");
                let secret = Secret {
                    name: name.clone(),
                    source: crate::config::SecretSource::Ssm(format!("/shop/prod/{name}")),
                    kms_key: None,
                };
                (name, secret)
            })
            .collect();
        let alone = Stage {
            app: Some("shop"),
            name: Some("prod"),
            settings: &Settings::default(),
            env: &env,
            handlers: &[],
            secrets: &BTreeMap::new(),
            routes: &[],
        };
        assert!(limits::env_size(&env) < limits::ENV_BYTES);
        assert_eq!(refusals(&alone), Vec::new());
        let with_slx = Stage {
            settings: &settings,
            secrets: &secrets,
            ..alone
        };
        let found = refusals(&with_slx);
        let [
            Refusal::EnvTooLarge {
                size,
                function,
                added,
            },
        ] = found.as_slice()
        else {
            panic!("{found:?}")
        };
        assert!(*size > limits::ENV_BYTES);
        assert_eq!(function, "the API's function");
        let names: Vec<&str> = added.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["SLX_SECRETS", "SLX_CORS"]);
        assert!(
            describe_added(added).starts_with(", with slx's SLX_SECRETS ("),
            "{}",
            describe_added(added)
        );
    }
}
