//! What slx.toml and the build want a stage to be (`Desired`), and the
//! code a deploy uploads (`Code`), as plain data.
//!
//! Built once per command from the resolved project, the stage's ARNs and
//! the zip's CodeSha256; the planner compares it with `resources::Actual`.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{EventSource, Method, Project, Resolved};
use crate::names::StageArns;

use super::checks::{self, PlannedCheck};
use super::policy;

/// The zip a deploy uploads, and its CodeSha256 (base64 SHA-256, as
/// Lambda reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Code {
    pub(crate) zip: Vec<u8>,
    pub(crate) sha256: String,
}

/// What the stage should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Desired {
    /// The stage's settings as slx.toml resolves them, read as
    /// `desired.memory` (`Desired` derefs to them); the fields below are
    /// what is derived from the project, the build and the flags.
    pub(crate) settings: Resolved,
    pub(crate) arns: StageArns,
    /// CodeSha256 of the zip to serve.
    pub(crate) code_sha256: String,
    /// The API function's environment: slx.toml's, the secrets to fetch,
    /// CORS.
    pub(crate) env: BTreeMap<String, String>,
    /// The role's trust policy and inline policy (canonical JSON).
    pub(crate) trust_policy: String,
    pub(crate) role_policy: String,
    /// `path → methods`, paths as API Gateway writes them (`/orders/{id}`).
    pub(crate) routes: BTreeMap<String, BTreeSet<Method>>,
    /// Content types API Gateway passes as binary: every one (`*/*`) in
    /// router mode, so the app's binary answers (images, gzip) survive.
    pub(crate) binary_media_types: Vec<String>,
    /// Description of a published version and an API deployment: which
    /// slx, commit and time made it.
    pub(crate) release: String,
    /// Run against a new version before the alias moves to it (empty with
    /// `--skip-checks`). Never a reason to change anything by itself.
    pub(crate) checks: Vec<PlannedCheck>,
    /// Release a new version as a canary (slx.toml's, or the flags':
    /// it shadows the setting).
    pub(crate) canary: Option<crate::config::CanarySpec>,
    /// The `[events.NAME]` handlers, each its own function.
    pub(crate) events: Vec<EventDesired>,
    /// The paths API Gateway answers CORS preflights for, with the
    /// methods each allows (`crate::cors`).
    pub(crate) preflights: BTreeMap<String, String>,
    /// The routes callers must send an API key to (`path → methods`).
    pub(crate) keyed: BTreeMap<String, BTreeSet<Method>>,
    /// The stage's usage plan: present when any route needs a key (it
    /// shadows the setting, which only sets the limits).
    pub(crate) usage_plan: Option<crate::config::UsagePlan>,
    /// Who may call each route that is not public (`path → method →`).
    pub(crate) auth: BTreeMap<String, BTreeMap<Method, crate::config::RouteAuth>>,
    pub(crate) authorizers: Vec<crate::config::Authorizer>,
    /// The function authorizers whose function takes the route (method,
    /// path or method ARN): their verdicts are cached per route.
    pub(crate) authorizers_by_route: BTreeSet<String>,
}

/// An event handler's function and what runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventDesired {
    /// `NAME` of `[events.NAME]`.
    pub(crate) handler: String,
    /// `<app>-<stage>-NAME`.
    pub(crate) function: String,
    pub(crate) memory: u32,
    pub(crate) timeout: u32,
    /// The stage's environment, plus which handler to run.
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) source: EventSource,
    /// The queue (ARN) failed asynchronous invocations go to.
    pub(crate) on_failure: Option<String>,
    /// The same queue, as slx.toml names it.
    pub(crate) on_failure_queue: Option<String>,
}

/// One function of the stage as slx.toml wants it: the stage's code and
/// settings, with its own name, memory, timeout and environment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted<'a> {
    pub(crate) desired: &'a Desired,
    pub(crate) function: &'a str,
    /// The event handler it serves (`None`: the API's function).
    pub(crate) handler: Option<&'a str>,
    pub(crate) memory: u32,
    pub(crate) timeout: u32,
    pub(crate) env: &'a BTreeMap<String, String>,
}

impl std::ops::Deref for Desired {
    type Target = Resolved;

    fn deref(&self) -> &Resolved {
        &self.settings
    }
}

impl std::ops::DerefMut for Desired {
    fn deref_mut(&mut self) -> &mut Resolved {
        &mut self.settings
    }
}

impl Desired {
    /// What the stage's functions and API say they are.
    pub(crate) fn described(&self) -> String {
        self.arns.described(self.description.as_deref())
    }

    /// The API's function (`<app>-<stage>`).
    pub(crate) fn api_function(&self) -> Wanted<'_> {
        Wanted {
            desired: self,
            function: &self.arns.function,
            handler: None,
            memory: self.memory,
            timeout: self.timeout,
            env: &self.env,
        }
    }

    /// An event handler's function.
    pub(crate) fn event_function<'a>(&'a self, event: &'a EventDesired) -> Wanted<'a> {
        Wanted {
            desired: self,
            function: &event.function,
            handler: Some(&event.handler),
            memory: event.memory,
            timeout: event.timeout,
            env: &event.env,
        }
    }
}

impl Desired {
    pub(crate) fn new(
        project: &Project,
        arns: &StageArns,
        code_sha256: &str,
        release: String,
        authorizers_by_route: BTreeSet<String>,
    ) -> Desired {
        let env: BTreeMap<String, String> = project
            .env
            .clone()
            .into_iter()
            .chain(crate::contract::handler_env::secrets_env(&project.secrets))
            .collect();
        let events = project
            .events
            .iter()
            .map(|event| EventDesired {
                handler: event.handler.name.clone(),
                function: arns.event_function(&event.handler.name),
                memory: event.memory_mb,
                timeout: event.timeout_s,
                env: env
                    .clone()
                    .into_iter()
                    .chain(crate::contract::handler_env::event_env(&event.handler))
                    .collect(),
                source: event.handler.source.clone(),
                on_failure: event.handler.on_failure.as_ref().map(|q| arns.queue_arn(q)),
                on_failure_queue: event.handler.on_failure.clone(),
            })
            .collect();
        // The API's function also adds CORS headers to its answers.
        let api_env: BTreeMap<String, String> = env
            .clone()
            .into_iter()
            .chain(crate::cors::handler_env(
                project.cors.as_ref(),
                &project.routes,
            ))
            .collect();
        let mut routes: BTreeMap<String, BTreeSet<Method>> = BTreeMap::new();
        let mut keyed: BTreeMap<String, BTreeSet<Method>> = BTreeMap::new();
        let mut auth: BTreeMap<String, BTreeMap<Method, crate::config::RouteAuth>> =
            BTreeMap::new();
        for route in &project.routes {
            routes
                .entry(route.path.to_string())
                .or_default()
                .insert(route.method);
            if route.api_key {
                keyed
                    .entry(route.path.to_string())
                    .or_default()
                    .insert(route.method);
            }
            if let Some(rule) = &route.auth {
                auth.entry(route.path.to_string())
                    .or_default()
                    .insert(route.method, rule.clone());
            }
        }
        Desired {
            settings: project.settings.clone(),
            arns: arns.clone(),
            code_sha256: code_sha256.to_string(),
            env: api_env,
            trust_policy: policy::trust_policy(arns),
            role_policy: policy::role_policy(project, arns),
            routes,
            binary_media_types: project.binary_media_types.clone(),
            release,
            checks: checks::plan(project),
            canary: project.canary,
            events,
            preflights: crate::cors::preflight_paths(project.cors.as_ref(), &project.routes),
            keyed,
            usage_plan: project.usage_plan,
            auth,
            authorizers: project.authorizers.clone(),
            authorizers_by_route,
        }
    }

    /// The same, without smoke checks (`--skip-checks`).
    pub(crate) fn without_checks(self) -> Desired {
        Desired {
            checks: Vec::new(),
            ..self
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::names::StageNames;

    /// Handler `handler`'s function, run by `source` (256 MB, 30 s).
    /// The `jobs` queue with Lambda's defaults (batches of 10, no window,
    /// batch item failures reported).
    pub(crate) fn jobs_queue() -> EventSource {
        EventSource::Sqs(crate::config::SqsSource {
            queue: "jobs".into(),
            batch_size: 10,
            batch_window: 0,
            report_failures: true,
        })
    }

    pub(crate) fn event(handler: &str, source: EventSource) -> EventDesired {
        EventDesired {
            handler: handler.into(),
            function: format!("shop-dev-{handler}"),
            memory: 256,
            timeout: 30,
            env: BTreeMap::from([("SLX_HANDLER".into(), handler.into())]),
            source,
            on_failure: None,
            on_failure_queue: None,
        }
    }

    /// A stage `shop-dev` in eu-west-1 with two POST routes.
    pub(crate) fn desired() -> Desired {
        let arns = StageArns::new(
            StageNames::new("shop", "dev"),
            "eu-west-1",
            "123456789012",
            "arn:aws:iam::123456789012:user/ci",
        );
        Desired {
            settings: Resolved {
                memory: 256,
                log_retention_days: 14,
                ..Resolved::default()
            },
            code_sha256: "sha-1".into(),
            env: BTreeMap::from([("GREETING".into(), "hello".into())]),
            trust_policy: policy::trust_policy(&arns),
            role_policy: "{policy}".into(),
            routes: BTreeMap::from([
                ("/greet".into(), BTreeSet::from([Method::Post])),
                ("/orders/{id}".into(), BTreeSet::from([Method::Post])),
            ]),
            binary_media_types: Vec::new(),
            release: "slx test".into(),
            checks: Vec::new(),
            canary: None,
            events: Vec::new(),
            preflights: BTreeMap::new(),
            keyed: BTreeMap::new(),
            usage_plan: None,
            auth: BTreeMap::new(),
            authorizers: Vec::new(),
            authorizers_by_route: BTreeSet::new(),
            arns,
        }
    }
}
