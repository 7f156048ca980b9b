//! The kinds of AWS resource a stage owns, one module each, tied together
//! by the registry at the bottom of this file.
//!
//! Each module says, for its kind: how it is read into plain data
//! (`Resource::read`, read-only calls through the `Reader`), which other
//! kinds' state its plan reads (`Reads`, declared), how desired vs its
//! own state and those becomes actions that carry their data (`plan`,
//! pure), and how
//! each of its actions is applied (`apply`, through the `Writer`). Each
//! action says what it waits for (`ActionInfo::needs`) and whether it is
//! harmless before the new code exists (`before_build`).
//!
//! Adding a kind: write the module, add one line to `registry!` below.

pub(crate) mod alias;
pub(crate) mod api;
pub(crate) mod authorizer_permission;
pub(crate) mod bucket_notification;
pub(crate) mod concurrency;
pub(crate) mod deployment;
pub(crate) mod domain;
pub(crate) mod event_function;
#[cfg(test)]
pub(crate) mod fixtures;
pub(crate) mod function;
pub(crate) mod log_group;
pub(crate) mod outputs;
pub(crate) mod permission;
pub(crate) mod provisioned;
pub(crate) mod queue_mapping;
pub(crate) mod role;
pub(crate) mod schedule;
pub(crate) mod stage_tracing;
pub(crate) mod throttle;
pub(crate) mod usage_plan;

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::deployer_policy::Grant;
use super::desired::{Code, Desired};
use crate::aws::{AwsError, Backoff, ErrorClass, Reader, Writer, retry};
use crate::names::{StageArns, StageNames};
use crate::pace::{Clock, Sleeper};
pub(crate) use outputs::Outputs;

/// What a resource kind provides to the planner and the applier.
pub(crate) trait Resource {
    /// What AWS holds for this kind, as plain data (`Default` = absent).
    type Actual: Debug + Clone + Default + PartialEq;
    /// The actions this kind plans.
    type Action: ActionInfo + Debug + Clone + PartialEq + Eq + Serialize + Send + Sync;

    /// Reads this kind's resources, with read-only calls.
    fn read(
        reader: &Reader,
        names: &StageNames,
        found: &Found,
    ) -> impl Future<Output = Result<Self::Actual, AwsError>> + Send;

    /// What this kind's plan reads of other kinds' state (`()`:
    /// nothing): its dependencies on them, declared.
    type Reads<'a>;

    /// The other kinds' state this kind reads, out of all that was read.
    fn reads(actual: &Actual) -> Self::Reads<'_>;

    /// The actions that take `own` (this kind's state) to `desired`
    /// (pure).
    fn plan(desired: &Desired, own: &Self::Actual, reads: Self::Reads<'_>) -> Vec<Self::Action>;

    /// The actions that remove what exists (pure).
    fn plan_removal(
        names: &StageNames,
        own: &Self::Actual,
        reads: Self::Reads<'_>,
    ) -> Vec<Self::Action>;

    /// What a deployer must be allowed, for this kind: every AWS action
    /// its `read` and `apply` call, on the stage's resources.
    fn deployer_grants(arns: &StageArns) -> Vec<Grant>;

    /// What `slx status` shows of this kind: its lines and JSON fields
    /// (nothing, unless the kind says).
    fn status(view: &StatusView<'_>, own: &Self::Actual, reads: Self::Reads<'_>) -> Status {
        let _ = (view, own, reads);
        Status::default()
    }

    /// Performs one action.
    fn apply(
        action: &Self::Action,
        ctx: &ApplyContext<'_>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// How an action changes AWS, for the plan's `+`, `~`, `-` signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Change {
    Create,
    Update,
    Delete,
}

/// What every action says about itself.
pub(crate) trait ActionInfo {
    /// One line for `slx plan` and the progress output.
    fn describe(&self, names: &StageNames) -> String;
    /// The actions of other kinds that must finish first, wherever the
    /// plan has them: all of a kind's, or only those on one instance.
    fn needs(&self) -> Vec<Need<'_>>;
    fn change(&self) -> Change;
    /// The instance of its kind it works on (an event handler), if the
    /// kind has several. A kind's actions form a chain in the order its
    /// plan gives them, except that actions on two different instances do
    /// not wait for each other (one handler's function, another's).
    fn instance(&self) -> Option<&str> {
        None
    }
    /// Whether it may run while the new code is still being built: it
    /// changes nothing the stage serves, and if the build fails it leaves
    /// only tagged resources the next deploy reuses.
    fn before_build(&self) -> bool {
        false
    }
}

/// What `slx status` knows besides what AWS holds.
pub(crate) struct StatusView<'a> {
    pub(crate) arns: &'a StageArns,
    /// The custom domain slx.toml gives the stage.
    pub(crate) domain: Option<&'a crate::config::Domain>,
    /// The last local build's CodeSha256, if there is one.
    pub(crate) local_sha: Option<&'a str>,
    /// Whether the stage's URLs are reachable as printed (not a local
    /// AWS).
    pub(crate) public_urls: bool,
}

/// The labels of `slx status`'s lines, in the order they are shown
/// (`change` is the lease's, which the command adds).
pub(crate) const STATUS_LINES: &[&str] = &[
    "function", "alias", "code", "latest", "api", "url", "routes", "domain", "handler", "role",
    "change", "canary",
];

/// What one kind, or all of them, shows in `slx status`.
#[derive(Debug, Default)]
pub(crate) struct Status {
    /// (label from `STATUS_LINES`, text).
    pub(crate) lines: Vec<(&'static str, String)>,
    pub(crate) fields: serde_json::Map<String, serde_json::Value>,
}

impl Status {
    /// With a line labelled `label`.
    pub(crate) fn line(mut self, label: &'static str, text: impl Into<String>) -> Status {
        debug_assert!(
            STATUS_LINES.contains(&label),
            "{label} is not in STATUS_LINES"
        );
        self.lines.push((label, text.into()));
        self
    }

    /// With the JSON field `key`.
    pub(crate) fn field(mut self, key: &str, value: impl Serialize) -> Status {
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.fields.insert(key.to_string(), value);
        self
    }

    /// The lines, each indented and labelled, in `STATUS_LINES` order.
    pub(crate) fn text(&self) -> String {
        let mut lines: Vec<&(&str, String)> = self.lines.iter().collect();
        lines.sort_by_key(|(label, _)| STATUS_LINES.iter().position(|l| l == label));
        lines
            .iter()
            .map(|(label, text)| format!("  {label:<10}{text}\n"))
            .collect()
    }

    fn extend(&mut self, other: Status) {
        self.lines.extend(other.lines);
        self.fields.extend(other.fields);
    }
}

/// What an action waits for: the actions of `kind`, all of them, or only
/// those on one instance (and those of the kind on no instance, such as a
/// bucket's notification configuration, which serves several handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Need<'a> {
    pub(crate) kind: Kind,
    pub(crate) instance: Option<&'a str>,
}

impl<'a> Need<'a> {
    /// Every action of `kind`.
    pub(crate) const fn all(kind: Kind) -> Need<'static> {
        Need {
            kind,
            instance: None,
        }
    }

    /// The actions of `kind` on `instance`.
    pub(crate) const fn on(kind: Kind, instance: &'a str) -> Need<'a> {
        Need {
            kind,
            instance: Some(instance),
        }
    }

    /// Whether `action` is one this need waits for.
    pub(crate) fn matches(&self, action: &Action) -> bool {
        action.kind() == self.kind
            && match (self.instance, action.info().instance()) {
                (Some(wanted), Some(instance)) => wanted == instance,
                _ => true,
            }
    }
}

/// `Need::all` of each kind.
pub(crate) fn all_of(kinds: &[Kind]) -> Vec<Need<'static>> {
    kinds.iter().map(|&kind| Need::all(kind)).collect()
}

/// The REST API an action works on: one that exists, or the one a
/// `CreateApi` earlier in the same plan makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApiRef {
    Existing(String),
    New,
}

/// What exists beyond the names slx.toml gives: the event handlers whose
/// function or log group is the stage's. Looked up once, by the first
/// kind that asks, while the kinds that do not need it read at once.
#[derive(Debug, Default)]
pub(crate) struct Found {
    handlers: tokio::sync::OnceCell<std::collections::BTreeSet<String>>,
}

impl Found {
    /// Handler names: slx.toml's, and those AWS still has.
    pub(crate) async fn handlers(
        &self,
        reader: &Reader,
        names: &StageNames,
    ) -> Result<&std::collections::BTreeSet<String>, AwsError> {
        self.handlers
            .get_or_try_init(|| event_function::discover(reader, names))
            .await
    }
}

/// What applying an action may use: the only place a `Writer` is held.
pub(crate) struct ApplyContext<'a> {
    pub(crate) writer: &'a Writer,
    pub(crate) reader: &'a Reader,
    pub(crate) arns: &'a StageArns,
    /// The new code, when the plan uploads any.
    pub(crate) code: Option<&'a Code>,
    pub(crate) sleeper: &'a dyn Sleeper,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) outputs: Mutex<Outputs>,
}

/// Errors worth retrying on any call.
pub(crate) const RETRY_ALWAYS: &[ErrorClass] = &[ErrorClass::Transient, ErrorClass::Conflict];
/// Also waits out a role that Lambda cannot assume yet (IAM propagation).
pub(crate) const RETRY_ROLE: &[ErrorClass] = &[
    ErrorClass::Transient,
    ErrorClass::Conflict,
    ErrorClass::RoleNotReady,
];

impl ApplyContext<'_> {
    /// One AWS call for `step`, retried for `classes` with backoff; an
    /// error names `step`.
    pub(crate) async fn call<T, Fut>(
        &self,
        step: &str,
        classes: &[ErrorClass],
        mut call: impl FnMut() -> Fut,
    ) -> Result<T, AwsError>
    where
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let backoff = if classes.contains(&ErrorClass::RoleNotReady) {
            Backoff::ROLE_PROPAGATION
        } else {
            Backoff::default()
        };
        retry(self.sleeper, backoff, classes, || {
            let pending = call();
            async move { pending.await.map_err(|e| e.in_step(step)) }
        })
        .await
    }

    /// `call`, treating an error of class `tolerated` as done (a delete of
    /// something already gone, a create that a lost answer already made).
    pub(crate) async fn call_tolerating<T, Fut>(
        &self,
        step: &str,
        tolerated: ErrorClass,
        call: impl FnMut() -> Fut,
    ) -> Result<(), AwsError>
    where
        Fut: Future<Output = Result<T, AwsError>>,
    {
        match self.call(step, RETRY_ALWAYS, call).await {
            Ok(_) => Ok(()),
            Err(error) if error.class == tolerated => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub(crate) fn outputs(&self) -> std::sync::MutexGuard<'_, Outputs> {
        self.outputs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id of the API `api` refers to.
    pub(crate) fn api_id(&self, api: &ApiRef, step: &str) -> Result<String, AwsError> {
        match api {
            ApiRef::Existing(id) => Ok(id.clone()),
            ApiRef::New => self
                .outputs()
                .get::<api::CreatedApi>()
                .map(|api| api.0.clone())
                .ok_or_else(|| {
                    AwsError::fatal(
                        step,
                        "the REST API this step needs was not created",
                        "run the deploy again: it plans from what exists",
                    )
                }),
        }
    }

    /// The zip whose CodeSha256 is `sha256`: what this action may upload.
    pub(crate) fn zip(&self, sha256: &str, step: &str) -> Result<&[u8], AwsError> {
        match self.code {
            Some(code) if code.sha256 == sha256 => Ok(&code.zip),
            _ => Err(AwsError::fatal(
                step,
                format!("no zip with CodeSha256 {sha256} was handed to this deploy"),
                "run the deploy again: it builds or loads the zip first",
            )),
        }
    }

    /// Sleeps, through the injected sleeper.
    pub(crate) async fn sleep(&self, duration: Duration) {
        self.sleeper.sleep(duration).await;
    }
}

/// Asks `look` every `every` until it answers `Some`, for at most
/// `limit`; past that, the error `late` makes. For what AWS finishes in
/// its own time (an allocation, a deletion).
pub(crate) async fn poll<T, Fut>(
    sleeper: &dyn Sleeper,
    clock: &dyn Clock,
    (limit, every): (Duration, Duration),
    mut look: impl FnMut() -> Fut,
    late: impl FnOnce() -> AwsError,
) -> Result<T, AwsError>
where
    Fut: Future<Output = Result<Option<T>, AwsError>>,
{
    let deadline = clock.now() + limit;
    loop {
        if let Some(done) = look().await? {
            return Ok(done);
        }
        if clock.now() > deadline {
            return Err(late());
        }
        sleeper.sleep(every).await;
    }
}

/// A create that must not be blindly repeated (a resend after a lost
/// answer makes a second one): when its outcome is unknown (no answer,
/// or a server error), `find` looks for what the lost call made, which
/// is used; otherwise the shared retry sends it again.
pub(crate) async fn create_once<Create, Find>(
    ctx: &ApplyContext<'_>,
    step: &str,
    create: impl Fn() -> Create,
    find: impl Fn() -> Find,
) -> Result<String, AwsError>
where
    Create: Future<Output = Result<String, AwsError>>,
    Find: Future<Output = Result<Option<String>, AwsError>>,
{
    ctx.call(step, RETRY_ALWAYS, || async {
        match create().await {
            Ok(id) => Ok(id),
            Err(error) if outcome_unknown(&error) => match find().await? {
                Some(made) => Ok(made),
                // Not made: safe to send again.
                None => Err(AwsError {
                    class: ErrorClass::Transient,
                    ..error
                }),
            },
            Err(error) => Err(error),
        }
    })
    .await
}

/// Whether a failed call may have been carried out anyway: no answer, or
/// a server error (throttling is a definite refusal).
fn outcome_unknown(error: &AwsError) -> bool {
    matches!(error.class, ErrorClass::Transient | ErrorClass::Unreachable)
        && error.code.as_deref() != Some("TooManyRequestsException")
}

/// The error for a resource that has the stage's name but not its tags:
/// slx never adopts, changes or deletes what it did not create.
pub(crate) fn not_ours(step: impl Into<String>, what: &str) -> AwsError {
    AwsError::fatal(
        step,
        format!("{what} exists but is not tagged as this app's stage; slx will not take it over"),
        "rename the app or stage in slx.toml, or delete the existing resource",
    )
}

/// The registry: one line per kind, in dependency order (a deploy plans
/// them top to bottom, an undeploy bottom to top). Generates the `Kind`
/// and `Action` enums, the `Actual` struct with one field per kind, and
/// the functions that read, plan and apply every kind.
macro_rules! registry {
    ($( $field:ident : $Kind:ident => $module:ident :: $Type:ident ),* $(,)?) => {
        /// A kind of resource a stage owns.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub(crate) enum Kind { $( $Kind ),* }

        /// What AWS holds for a stage, one field per kind.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub(crate) struct Actual {
            $( pub(crate) $field: <$module::$Type as Resource>::Actual ),*
        }

        /// One step of a plan. Serialises as the kind's action, with an
        /// `action` field naming it.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        pub(crate) enum Action {
            $( $Kind(<$module::$Type as Resource>::Action) ),*
        }

        impl Action {
            pub(crate) fn kind(&self) -> Kind {
                match self { $( Action::$Kind(_) => Kind::$Kind ),* }
            }

            pub(crate) fn info(&self) -> &dyn ActionInfo {
                match self { $( Action::$Kind(action) => action ),* }
            }
        }

        /// Everything that exists for the stage: every kind read at once.
        pub(crate) async fn read(reader: &Reader, names: &StageNames) -> Result<Actual, AwsError> {
            let found = &Found::default();
            let ($( $field, )*) = tokio::try_join!(
                $( <$module::$Type as Resource>::read(reader, names, found) ),*
            )?;
            Ok(Actual { $( $field ),* })
        }

        /// Every kind's actions, in registry order; with no desired state,
        /// the removal of what exists, in reverse registry order.
        pub(crate) fn plan_actions(
            names: &StageNames,
            desired: Option<&Desired>,
            actual: &Actual,
        ) -> Vec<Action> {
            match desired {
                Some(desired) => {
                    let mut actions = Vec::new();
                    $( actions.extend(
                        <$module::$Type as Resource>::plan(
                            desired,
                            &actual.$field,
                            <$module::$Type as Resource>::reads(actual),
                        )
                        .into_iter()
                        .map(Action::$Kind),
                    ); )*
                    actions
                }
                None => {
                    let mut groups: Vec<Vec<Action>> = vec![ $(
                        <$module::$Type as Resource>::plan_removal(
                            names,
                            &actual.$field,
                            <$module::$Type as Resource>::reads(actual),
                        )
                        .into_iter()
                        .map(Action::$Kind)
                        .collect()
                    ),* ];
                    groups.reverse();
                    groups.into_iter().flatten().collect()
                }
            }
        }

        /// What every kind shows in `slx status`.
        pub(crate) fn status(view: &StatusView<'_>, actual: &Actual) -> Status {
            let mut status = Status::default();
            $( status.extend(<$module::$Type as Resource>::status(
                view,
                &actual.$field,
                <$module::$Type as Resource>::reads(actual),
            )); )*
            status
        }

        /// Every kind's deployer grants, in registry order.
        pub(crate) fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
            let mut grants = Vec::new();
            $( grants.extend(<$module::$Type as Resource>::deployer_grants(arns)); )*
            grants
        }

        /// Performs one action of any kind.
        pub(crate) async fn apply(action: &Action, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
            match action {
                $( Action::$Kind(action) => <$module::$Type as Resource>::apply(action, ctx).await ),*
            }
        }
    };
}

registry! {
    role: Role => role::Role,
    log_group: LogGroup => log_group::LogGroup,
    function: Function => function::Function,
    concurrency: Concurrency => concurrency::Concurrency,
    alias: Alias => alias::Alias,
    provisioned: Provisioned => provisioned::Provisioned,
    api: Api => api::Api,
    permission: Permission => permission::Permission,
    deployment: Deployment => deployment::Deployment,
    throttle: Throttle => throttle::Throttle,
    stage_tracing: StageTracing => stage_tracing::StageTracing,
    usage_plan: UsagePlan => usage_plan::UsagePlanKind,
    domain: Domain => domain::Domain,
    event_function: EventFunction => event_function::EventFunction,
    authorizer_permission: AuthorizerPermission => authorizer_permission::AuthorizerPermission,
    schedule: Schedule => schedule::Schedule,
    bucket_notification: BucketNotification => bucket_notification::BucketNotification,
    queue_mapping: QueueMapping => queue_mapping::QueueMappingKind,
}
