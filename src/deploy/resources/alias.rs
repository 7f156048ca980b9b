//! Published versions and the stage's alias: what the stage serves.
//!
//! A deploy publishes `$LATEST` as a version and points the alias (named
//! after the stage, API Gateway's integration target) at it, then prunes
//! old versions; a rollback points the alias at an older version.

use serde::Serialize;

use super::function::{self, wait_ready};
use super::{
    ActionInfo, Actual, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource, Status,
    StatusView, all_of,
};
use crate::aws::{AwsError, Canary, ErrorClass, FunctionInfo, Reader, VersionInfo};
use crate::deploy::canary::{CanaryStarted, PlannedCanary};
use crate::deploy::checks::{self, PlannedCheck};
use crate::deploy::deployer_policy::Grant;
use crate::deploy::desired::Desired;
use crate::deploy::versions;
use crate::names::{StageArns, StageNames};

pub(crate) struct Alias;

/// What publishing versions and pointing an alias calls.
pub(crate) const VERSION_ACTIONS: &[&str] = &[
    "lambda:ListVersionsByFunction",
    "lambda:PublishVersion",
    "lambda:GetAlias",
    "lambda:CreateAlias",
    "lambda:UpdateAlias",
];

/// The alias and the function's published versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AliasState {
    /// The version the alias serves, with its code and settings; `None`
    /// when there is no alias.
    pub(crate) served: Option<FunctionInfo>,
    /// Every published version, oldest first.
    pub(crate) versions: Vec<VersionInfo>,
    /// A canary in progress (or left by a killed deploy): the version the
    /// alias sends a share to besides `served`.
    pub(crate) canary: Option<Canary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum AliasAction {
    /// Publish `$LATEST` (refused by AWS unless its code is
    /// `code_sha256`) and point the stage alias at the new version.
    PublishAndPointAlias {
        function: String,
        alias: String,
        code_sha256: String,
        alias_exists: bool,
        description: String,
        /// Run against the new version first: the alias moves only if
        /// every one passes.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        checks: Vec<PlannedCheck>,
        /// Release as a canary: the alias keeps the version it serves and
        /// sends a share to the new one (the deploy then watches and
        /// decides).
        #[serde(skip_serializing_if = "Option::is_none")]
        canary: Option<PlannedCanary>,
    },
    /// Delete these versions (the oldest beyond `keep`).
    PruneVersions {
        function: String,
        keep: u32,
        versions: Vec<String>,
    },
    /// Point the alias at an existing version (rollback).
    PointAlias {
        function: String,
        alias: String,
        version: String,
    },
}

/// The version a publish made (an output, for the deploy's report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublishedVersion(pub(crate) String);

/// The checks' verdict on the version a publish made, before the alias
/// moved (an output: the deploy reports it, and refuses on it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewVersionChecks(pub(crate) crate::deploy::checks::Verdict);

impl ActionInfo for AliasAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            AliasAction::PublishAndPointAlias { checks, canary, .. } => {
                let checked = match checks.len() {
                    0 => String::new(),
                    1 => ", run 1 check on it".into(),
                    n => format!(", run {n} checks on it"),
                };
                match canary {
                    Some(canary) => format!(
                        "publish a version{checked}, then send it {}% of the stage's traffic for {} (canary)",
                        canary.spec.percent,
                        humantime::format_duration(canary.spec.watch)
                    ),
                    None if checks.is_empty() => {
                        "publish a version and point the stage alias at it".into()
                    }
                    None => format!("publish a version{checked}, then point the stage alias at it"),
                }
            }
            AliasAction::PruneVersions { keep, versions, .. } => format!(
                "prune version{} {} (keeping the newest {keep})",
                if versions.len() == 1 { "" } else { "s" },
                versions.join(", ")
            ),
            AliasAction::PointAlias { alias, version, .. } => {
                format!("point alias {alias} at version {version}")
            }
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // The new version runs with the role's new policy from its
            // first request. Its first invocation (a check, or traffic)
            // must find the stage's tagged log group: Lambda creates a
            // missing one itself, untagged, which slx then refuses to own.
            AliasAction::PublishAndPointAlias { .. } => {
                all_of(&[Kind::Function, Kind::Role, Kind::LogGroup])
            }
            AliasAction::PruneVersions { .. } | AliasAction::PointAlias { .. } => Vec::new(),
        }
    }

    fn change(&self) -> Change {
        match self {
            AliasAction::PruneVersions { .. } => Change::Delete,
            _ => Change::Update,
        }
    }
}

/// The function's line and code line of `slx status`, and their fields,
/// for `function` (what the stage serves).
fn serving(view: &StatusView<'_>, function: &FunctionInfo) -> Status {
    let compared = match view.local_sha {
        Some(sha) if sha == function.code_sha256 => " (same as the last local build)",
        Some(_) => " (differs from the last local build)",
        None => " (no local build to compare; run `slx build`)",
    };
    Status::default()
        .line(
            "function",
            format!(
                "{} ({}, {} MB, {}s)",
                view.arns.function, function.arch, function.memory, function.timeout
            ),
        )
        .line("code", format!("{}{compared}", function.code_sha256))
        .field("arch", function.arch)
        .field("memory", function.memory)
        .field("timeout", function.timeout)
        .field("code_sha256", &function.code_sha256)
}

impl Resource for Alias {
    type Actual = AliasState;
    type Action = AliasAction;

    type Reads<'a> = Option<&'a FunctionInfo>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        actual.function.as_ref()
    }

    /// What the stage serves: the alias's version, its code and
    /// settings (`$LATEST`'s only before there is an alias), and
    /// `$LATEST` when it differs (after a rollback, or an update the
    /// alias does not serve yet); and a canary left unfinished.
    fn status(view: &StatusView<'_>, own: &AliasState, latest: Self::Reads<'_>) -> Status {
        let version = own.served.as_ref().map(|f| f.version.clone());
        let mut status = match own.served.as_ref().or(latest) {
            Some(function) => serving(view, function),
            None => Status::default(),
        };
        if let (Some(served), Some(latest)) = (&own.served, latest) {
            let differs = [
                (latest.code_sha256 != served.code_sha256)
                    .then(|| format!("code {}", latest.code_sha256)),
                (latest.arch != served.arch).then(|| latest.arch.to_string()),
                (latest.memory != served.memory).then(|| format!("{} MB", latest.memory)),
                (latest.timeout != served.timeout).then(|| format!("{}s", latest.timeout)),
            ];
            let differs: Vec<String> = differs.into_iter().flatten().collect();
            if !differs.is_empty() {
                status = status.line(
                    "latest",
                    format!(
                        "$LATEST differs from what the alias serves: {} (`slx deploy` serves what slx.toml says)",
                        differs.join(", ")
                    ),
                );
            }
        }
        status = status
            .line(
                "alias",
                format!(
                    "{} → version {}",
                    view.arns.alias,
                    version.as_deref().unwrap_or("(missing)")
                ),
            )
            .field("version", version)
            .field("canary", &own.canary);
        if let Some(canary) = &own.canary {
            status = status.line(
                "canary",
                format!(
                    "{:.0}% to version {} (unfinished: `slx deploy` promotes it, `slx rollback` ends it)",
                    canary.weight * 100.0,
                    canary.version
                ),
            );
        }
        status
    }

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        let (served, versions, canary) = tokio::try_join!(
            reader.function(&names.function, Some(&names.alias)),
            reader.versions(&names.function),
            reader.alias_canary(&names.function, &names.alias),
        )?;
        Ok(AliasState {
            served,
            versions,
            canary,
        })
    }

    fn plan(desired: &Desired, own: &Self::Actual, reads: Self::Reads<'_>) -> Vec<AliasAction> {
        let wanted = desired.api_function();
        let function_changes = !function::plan_function(&wanted, reads).is_empty();
        // The alias must serve exactly what slx.toml and the zip describe.
        // That also finishes a deploy that updated $LATEST but died
        // before publishing.
        let alias_current = own
            .served
            .as_ref()
            .is_some_and(|served| function::matches(&wanted, served))
            // A canary left running is finished by the next deploy.
            && own.canary.is_none();
        if !function_changes && alias_current {
            return vec![];
        }
        let names = &desired.arns;
        let mut actions = vec![AliasAction::PublishAndPointAlias {
            function: names.function.clone(),
            alias: names.alias.clone(),
            code_sha256: desired.code_sha256.clone(),
            alias_exists: own.served.is_some(),
            description: desired.release.clone(),
            checks: desired.checks.clone(),
            // A first deploy has nothing to compare the new version with.
            canary: desired
                .canary
                .zip(own.served.as_ref())
                .map(|(spec, served)| PlannedCanary {
                    spec,
                    serving: served.version.clone(),
                }),
        }];
        // During a canary the alias keeps serving its version.
        let serving = own
            .served
            .as_ref()
            .filter(|_| desired.canary.is_some())
            .map(|served| served.version.as_str());
        let prune = versions::to_prune_after_publish(
            &own.versions,
            &desired.code_sha256,
            function_changes,
            desired.keep_versions,
            serving,
        );
        if !prune.is_empty() {
            actions.push(AliasAction::PruneVersions {
                function: names.function.clone(),
                keep: desired.keep_versions,
                versions: prune,
            });
        }
        actions
    }

    fn plan_removal(_: &StageNames, _: &Self::Actual, _: Self::Reads<'_>) -> Vec<AliasAction> {
        // Versions and the alias go with the function.
        vec![]
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        vec![Grant::new(
            "StageVersionsAndAlias",
            VERSION_ACTIONS,
            vec![arns.function_arn(), format!("{}:*", arns.function_arn())],
        )]
    }

    async fn apply(action: &AliasAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match action {
            AliasAction::PublishAndPointAlias {
                function,
                alias,
                code_sha256,
                alias_exists,
                description,
                checks: planned,
                canary,
            } => {
                let version = publish(ctx, step, function, code_sha256, description).await?;
                if !planned.is_empty() {
                    ctx.outputs().put(PublishedVersion(version.clone()));
                    let on = checks::On::Version(&version);
                    let verdict = checks::run(ctx.reader, ctx.arns.names(), on, planned).await;
                    let ok = verdict.ok();
                    let summary = verdict.summary();
                    ctx.outputs().put(NewVersionChecks(verdict));
                    if !ok {
                        return Err(AwsError::fatal(
                            step,
                            summary,
                            "the stage alias was not moved: the stage still serves what it served; fix the handler (or the check) and deploy again",
                        ));
                    }
                }
                if let Some(PlannedCanary { spec, serving }) = canary {
                    let share = Canary {
                        version: version.clone(),
                        weight: spec.weight(),
                    };
                    ctx.call(step, RETRY_ALWAYS, || {
                        w.update_alias(function, alias, serving, Some(&share))
                    })
                    .await?;
                    let mut outputs = ctx.outputs();
                    outputs.put(PublishedVersion(version));
                    outputs.put(CanaryStarted {
                        spec: *spec,
                        previous: serving.clone(),
                        version: share.version,
                    });
                    return Ok(());
                }
                point(ctx, step, function, alias, &version, *alias_exists).await?;
                ctx.outputs().put(PublishedVersion(version));
                Ok(())
            }
            AliasAction::PruneVersions {
                function, versions, ..
            } => {
                for version in versions {
                    ctx.call_tolerating(step, ErrorClass::NotFound, || {
                        w.delete_function(function, Some(version))
                    })
                    .await?;
                }
                Ok(())
            }
            AliasAction::PointAlias {
                function,
                alias,
                version,
            } => {
                ctx.call(step, RETRY_ALWAYS, || {
                    w.update_alias(function, alias, version, None)
                })
                .await
            }
        }
    }
}

/// Publishes `$LATEST` of `function` (refused by Lambda unless its code is
/// `code_sha256`) once it is ready; the version number.
pub(crate) async fn publish(
    ctx: &ApplyContext<'_>,
    step: &str,
    function: &str,
    code_sha256: &str,
    description: &str,
) -> Result<String, AwsError> {
    wait_ready(ctx, function, step).await?;
    ctx.call(step, RETRY_ALWAYS, || {
        ctx.writer
            .publish_version(function, code_sha256, description)
    })
    .await
}

/// Points `alias` of `function` at `version`, creating it if it does not
/// exist yet (or an earlier attempt created it after all).
pub(crate) async fn point(
    ctx: &ApplyContext<'_>,
    step: &str,
    function: &str,
    alias: &str,
    version: &str,
    alias_exists: bool,
) -> Result<(), AwsError> {
    let w = ctx.writer;
    if !alias_exists {
        let about = format!("slx stage {alias}");
        match ctx
            .call(step, RETRY_ALWAYS, || {
                w.create_alias(function, alias, version, &about)
            })
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) if e.class != ErrorClass::AlreadyExists => return Err(e),
            Err(_) => {}
        }
    }
    ctx.call(step, RETRY_ALWAYS, || {
        w.update_alias(function, alias, version, None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::desired::tests::desired;
    use crate::deploy::resources::fixtures::{action_names, converged, function};

    fn planned(desired: &Desired, actual: &Actual) -> Vec<AliasAction> {
        Alias::plan(desired, &actual.alias, Alias::reads(actual))
    }

    #[test]
    fn the_alias_moves_only_to_what_slx_toml_and_the_zip_describe() {
        let mut desired = desired();
        let actual = converged(&desired);
        assert_eq!(planned(&desired, &actual), Vec::new());
        // New code (the function's plan uploads it first): published.
        desired.code_sha256 = "sha-2".into();
        assert_eq!(
            action_names(&planned(&desired, &actual)),
            ["publish_and_point_alias"]
        );
        // `$LATEST` already holds it, the alias still serves the old
        // version (a deploy stopped before publishing): published.
        let mut half = converged(&desired);
        half.alias.served = Some(function(&crate::deploy::desired::tests::desired(), "1"));
        assert_eq!(
            action_names(&planned(&desired, &half)),
            ["publish_and_point_alias"]
        );
    }
}
