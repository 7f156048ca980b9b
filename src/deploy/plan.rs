//! The plan: a pure function of (desired, actual) giving the actions that
//! make AWS match slx.toml, each with the earlier steps it waits for.
//! `None` as desired plans the removal of everything the stage owns.
//!
//! A step waits for every earlier step of its own kind (a kind's actions
//! are a chain: create the role, then set its policy; or one chain per
//! instance, e.g. per event handler) and for the steps its action
//! `needs`, of all of a kind or of one instance; the steps are ordered so
//! that each comes after what it waits for. Never performs I/O.

use serde::Serialize;

use super::desired::Desired;
use super::resources::{self, Action, Actual, Change};
use crate::names::StageNames;

/// One action and the steps (indices into the plan) it waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Step {
    #[serde(flatten)]
    pub(crate) action: Action,
    pub(crate) after: Vec<usize>,
}

/// The ordered steps of a deploy, undeploy or rollback.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
}

/// The actions that take `actual` to `desired`.
pub(crate) fn plan(names: &StageNames, desired: Option<&Desired>, actual: &Actual) -> Plan {
    Plan::of(resources::plan_actions(names, desired, actual))
}

impl Plan {
    /// Orders `actions` so that every action comes after what it waits
    /// for, keeping the given order otherwise, and records those waits.
    ///
    /// An action waits for the earlier actions of its own kind (on its
    /// instance) and for the actions its `needs` name, wherever they are
    /// in `actions`: a handler's function that is retired waits for its
    /// sources' removal even though sources are planned after functions.
    /// A cycle is a defect of the kinds' `needs` (the plan tests of every
    /// kind together would show it), never of the user's input.
    pub(crate) fn of(actions: Vec<Action>) -> Plan {
        let waits: Vec<Vec<usize>> = actions
            .iter()
            .enumerate()
            .map(|(index, action)| {
                let needs = action.info().needs();
                actions
                    .iter()
                    .enumerate()
                    .filter(|&(other, candidate)| {
                        (other < index && same_chain(action, candidate))
                            || (other != index && needs.iter().any(|n| n.matches(candidate)))
                    })
                    .map(|(other, _)| other)
                    .collect()
            })
            .collect();
        // Kahn's algorithm, always taking the first ready action: stable.
        let mut position: Vec<Option<usize>> = vec![None; actions.len()];
        let mut order = Vec::with_capacity(actions.len());
        while order.len() < actions.len() {
            let Some(next) = (0..actions.len()).find(|&index| {
                position[index].is_none() && waits[index].iter().all(|&w| position[w].is_some())
            }) else {
                panic!("the plan's actions wait for each other in a cycle: {actions:?}");
            };
            position[next] = Some(order.len());
            order.push(next);
        }
        let mut actions: Vec<Option<Action>> = actions.into_iter().map(Some).collect();
        let steps = order
            .into_iter()
            .map(|index| {
                let mut after: Vec<usize> =
                    waits[index].iter().filter_map(|&w| position[w]).collect();
                after.sort_unstable();
                Step {
                    action: actions[index].take().expect("each action is placed once"),
                    after,
                }
            })
            .collect();
        Plan { steps }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.steps.len()
    }

    pub(crate) fn actions(&self) -> impl Iterator<Item = &Action> {
        self.steps.iter().map(|step| &step.action)
    }

    /// The steps that may run while the new code is being built: those
    /// harmless before it exists, whose every dependency is one too.
    pub(crate) fn before_build(&self) -> Plan {
        let mut early = vec![false; self.steps.len()];
        for (index, step) in self.steps.iter().enumerate() {
            early[index] =
                step.action.info().before_build() && step.after.iter().all(|&d| early[d]);
        }
        Plan::of(
            self.steps
                .iter()
                .zip(early)
                .filter(|(_, early)| *early)
                .map(|(step, _)| step.action.clone())
                .collect(),
        )
    }

    /// This plan without the actions in `done` (already applied).
    pub(crate) fn without(&self, done: &Plan) -> Plan {
        Plan::of(
            self.actions()
                .filter(|action| !done.actions().any(|d| d == *action))
                .cloned()
                .collect(),
        )
    }
}

/// Whether `later` continues `earlier`'s chain: the same kind, on the
/// same instance or one of them on none.
fn same_chain(later: &Action, earlier: &Action) -> bool {
    later.kind() == earlier.kind()
        && match (later.info().instance(), earlier.info().instance()) {
            (Some(one), Some(other)) => one == other,
            _ => true,
        }
}

/// `+`, `~` or `-` before a plan line.
pub(crate) fn sign(action: &Action) -> char {
    match action.info().change() {
        Change::Create => '+',
        Change::Update => '~',
        Change::Delete => '-',
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::config::{Arch, Method};
    use crate::deploy::desired::tests::desired;
    use crate::deploy::resources::api::PathState;
    use crate::deploy::resources::fixtures::{action_names, converged, function, names, version};
    use crate::deploy::resources::permission::Statement;

    /// The `action` names of a plan, in order.
    fn kinds(plan: &Plan) -> Vec<String> {
        action_names(&plan.actions().collect::<Vec<_>>())
    }

    #[test]
    fn creates_everything_in_dependency_order() {
        let plan = plan(&names(), Some(&desired()), &Actual::default());
        assert_eq!(
            kinds(&plan),
            [
                "create_role",
                "put_role_policy",
                "create_log_group",
                "set_log_retention",
                "create_function",
                "publish_and_point_alias",
                "create_api",
                "set_routes",
                "add_invoke_permission",
                "deploy_api",
            ]
        );
        let after: Vec<&[usize]> = plan.steps.iter().map(|s| s.after.as_slice()).collect();
        assert_eq!(
            after,
            [
                &[][..],          // create_role
                &[0],             // put_role_policy: its role
                &[],              // create_log_group: independent
                &[2],             // set_log_retention: its group
                &[0, 1],          // create_function: the role, with its policy
                &[0, 1, 2, 3, 4], // publish: role, log group, function
                &[],              // create_api: independent of the function
                &[6],             // set_routes: its API
                &[5, 6, 7],       // permission: alias and API
                &[5, 6, 7, 8],    // deployment: API, permission, alias
            ]
        );
    }

    #[test]
    fn a_role_with_an_older_trust_policy_gets_the_current_one() {
        let desired = desired();
        let mut actual = converged(&desired);
        actual.role.as_mut().unwrap().trust_policy = Some("{older}".into());
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["set_trust_policy"]);
        let json = serde_json::to_value(&plan.steps[0].action).unwrap();
        assert!(
            json["trust_policy"]
                .as_str()
                .unwrap()
                .contains("aws:SourceAccount")
        );
    }

    #[test]
    fn throttle_and_concurrency_follow_slx_toml() {
        let mut desired = desired();
        desired.concurrency = Some(5);
        desired.throttle = Some(crate::config::Throttle {
            rate: 50.0,
            burst: 100,
        });
        // On a first deploy: the limit after the function, the throttle
        // after the stage exists.
        let first = plan(&names(), Some(&desired), &Actual::default());
        let names_of = kinds(&first);
        let at = |name: &str| names_of.iter().position(|n| n == name).unwrap();
        assert!(at("set_concurrency") > at("create_function"));
        assert!(at("set_throttle") > at("deploy_api"));
        assert!(
            first.steps[at("set_throttle")]
                .after
                .contains(&at("deploy_api"))
        );
        // Then only what differs.
        let mut actual = converged(&desired);
        actual.concurrency = Some(5);
        actual
            .api
            .as_mut()
            .unwrap()
            .stage
            .as_mut()
            .unwrap()
            .throttle = Some((50.0, 100));
        assert!(plan(&names(), Some(&desired), &actual).is_empty());
        desired.concurrency = None;
        desired.throttle = None;
        let removal = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&removal), ["set_concurrency", "set_throttle"]);
        let json = serde_json::to_value(&removal).unwrap();
        assert_eq!(json[0]["count"], serde_json::Value::Null);
        assert_eq!(json[1]["limits"], serde_json::Value::Null);
    }

    #[test]
    fn nothing_to_do_when_aws_matches() {
        let desired = desired();
        assert_eq!(
            plan(&names(), Some(&desired), &converged(&desired)),
            Plan::default()
        );
    }

    #[test]
    fn code_change_uploads_code_only_and_publishes() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.code_sha256 = "sha-2".into();
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["update_code", "publish_and_point_alias"]);
        assert_eq!(plan.steps[1].after, [0], "publishing waits for the upload");
    }

    #[test]
    fn memory_change_updates_config_only() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.memory = 512;
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["update_config", "publish_and_point_alias"]);
        let Action::Function(update) = &plan.steps[0].action else {
            panic!("{plan:?}")
        };
        let json = serde_json::to_value(update).unwrap();
        assert_eq!(json["change"]["memory"], 512);
        assert_eq!(json["change"]["env"], false);
    }

    #[test]
    fn a_description_change_updates_the_function_and_reimports_the_api() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.description = Some("Orders API".into());
        let changes = plan(&names(), Some(&desired), &actual);
        assert_eq!(
            kinds(&changes),
            [
                "update_config",
                "publish_and_point_alias",
                "set_routes",
                "deploy_api"
            ]
        );
        let Action::Function(update) = &changes.steps[0].action else {
            panic!("{changes:?}")
        };
        let json = serde_json::to_value(update).unwrap();
        assert_eq!(
            json["change"]["description"],
            "Orders API (slx app shop stage dev)"
        );
        assert_eq!(json["change"]["memory"], serde_json::Value::Null);
        // A published version's description is its release's: what the
        // alias serves is judged without it.
        let mut published = converged(&desired);
        if let Some(served) = published.alias.served.as_mut() {
            served.description = "slx 0.2.0 from git abc at 2026-12-06T00:00:00Z".into();
        }
        assert_eq!(
            kinds(&plan(&names(), Some(&desired), &published)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn env_change_is_a_config_change_whose_values_are_never_shown() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.env.insert("SECRET".into(), "hunter2".into());
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["update_config", "publish_and_point_alias"]);
        let json = serde_json::to_string(&plan).unwrap();
        assert!(json.contains("\"env\":true"), "{json}");
        assert!(!json.contains("hunter2"), "{json}");
        // Nor on a first deploy, which sends every variable.
        let first = super::plan(&names(), Some(&desired), &Actual::default());
        let json = serde_json::to_string(&first).unwrap();
        assert!(
            json.contains("SECRET") && !json.contains("hunter2"),
            "{json}"
        );
    }

    #[test]
    fn arch_change_reuploads_code() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.arch = Arch::Arm64;
        desired.code_sha256 = "sha-arm".into();
        let plan = plan(&names(), Some(&desired), &actual);
        let json = serde_json::to_value(&plan.steps[0].action).unwrap();
        assert_eq!(json["action"], "update_code");
        assert_eq!(json["arch_change"], "arm64");
    }

    #[test]
    fn versions_beyond_keep_are_named_in_the_plan() {
        let mut desired = desired();
        desired.keep_versions = 3;
        let mut actual = converged(&desired);
        actual.alias.versions = ["1", "2", "3"].map(|n| version(n, "old")).to_vec();
        actual.alias.served = Some(function(&desired, "3"));
        desired.code_sha256 = "sha-2".into();
        let plan = plan(&names(), Some(&desired), &actual);
        let json = serde_json::to_value(&plan.steps[2].action).unwrap();
        assert_eq!(json["action"], "prune_versions");
        // Three kept: 2, 3 and the one this deploy publishes.
        assert_eq!(json["versions"], serde_json::json!(["1"]));
        assert_eq!(plan.steps[2].after, [1], "after the alias moved");
    }

    #[test]
    fn republishing_what_latest_holds_prunes_for_no_new_version() {
        // $LATEST and version 3 already hold the new code; the alias is
        // on 2. Lambda publishes nothing new: the alias moves to 3.
        let mut desired = desired();
        desired.keep_versions = 3;
        let mut actual = converged(&desired);
        actual.alias.versions = vec![
            version("1", "old"),
            version("2", "old"),
            version("3", &desired.code_sha256),
        ];
        let mut served = function(&desired, "2");
        served.code_sha256 = "old".into();
        actual.alias.served = Some(served);
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["publish_and_point_alias"]);
    }

    fn stage_key(name: &str, id: &str) -> crate::deploy::resources::usage_plan::StageKey {
        crate::deploy::resources::usage_plan::StageKey {
            name: name.into(),
            info: crate::aws::ApiKeyInfo {
                id: id.into(),
                name: format!("shop-dev-{name}"),
                enabled: true,
                created: None,
                tags: Default::default(),
            },
        }
    }

    #[test]
    fn a_route_needing_a_key_brings_a_plan_after_the_stage_exists() {
        use crate::deploy::resources::usage_plan::{PlanState, limits_of};
        let mut desired = desired();
        let mut actual = converged(&desired);
        desired.keyed = BTreeMap::from([("/greet".into(), BTreeSet::from([Method::Post]))]);
        desired.usage_plan = Some(crate::config::UsagePlan {
            rate: Some(10.0),
            burst: Some(20),
            quota: None,
        });
        // A key made while the stage had no plan goes in the new one.
        actual.usage_plan.keys = vec![stage_key("partner-a", "k1")];
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(
            kinds(&plan),
            ["set_routes", "deploy_api", "create_usage_plan"]
        );
        assert_eq!(
            plan.steps[2].after,
            [1],
            "after the deployment made the stage"
        );
        let json = serde_json::to_value(&plan.steps[2].action).unwrap();
        assert_eq!(json["keys"], serde_json::json!(["k1"]));
        assert_eq!(
            plan.steps[2].action.info().describe(&names()),
            "create usage plan shop-dev (10 requests/s (bursts of 20), with the stage's 1 API key); it and the stage's keys go with `slx undeploy`"
        );

        // Converged: nothing. A changed limit: one update.
        let mut converged = super::tests::converged(&desired);
        converged.usage_plan.keys = vec![stage_key("partner-a", "k1")];
        converged.usage_plan.plan = Some(PlanState {
            info: crate::aws::UsagePlanInfo {
                id: "p1".into(),
                tags: Default::default(),
                api_stages: vec![("api".into(), "dev".into())],
                limits: limits_of(desired.usage_plan.as_ref().unwrap()),
            },
            key_ids: BTreeSet::from(["k1".to_string()]),
        });
        assert!(
            super::plan(&names(), Some(&desired), &converged)
                .steps
                .is_empty()
        );
        desired.usage_plan.as_mut().unwrap().quota = Some(crate::config::Quota {
            limit: 1000,
            period: crate::config::QuotaPeriod::Day,
        });
        let changed = super::plan(&names(), Some(&desired), &converged);
        assert_eq!(kinds(&changed), ["update_usage_plan"]);
        assert_eq!(
            changed.steps[0].action.info().describe(&names()),
            "update usage plan p1 (10 requests/s (bursts of 20), 1000 a day)"
        );

        // Undeploy: the keys, then the plan (detached), then the API.
        let removal = super::plan(&names(), None, &converged);
        let order = kinds(&removal);
        let at = |kind: &str| order.iter().position(|k| k == kind).unwrap();
        assert!(at("delete_api_key") < at("delete_usage_plan"));
        let api = at("delete_api");
        assert!(
            removal.steps[api].after.contains(&at("delete_usage_plan")),
            "{order:?}"
        );
        let json = serde_json::to_value(&removal.steps[at("delete_usage_plan")].action).unwrap();
        assert_eq!(json["detach"], serde_json::json!([["api", "dev"]]));

        // No route needs a key any more: the plan goes, the keys stay.
        desired.keyed.clear();
        desired.usage_plan = None;
        let actual = {
            let mut actual = super::tests::converged(&desired);
            actual.usage_plan = converged.usage_plan.clone();
            actual
        };
        assert_eq!(
            kinds(&super::plan(&names(), Some(&desired), &actual)),
            ["delete_usage_plan"]
        );
    }

    #[test]
    fn route_added_sets_routes_and_redeploys() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired
            .routes
            .insert("/health".into(), BTreeSet::from([Method::Get]));
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["set_routes", "deploy_api"]);
        let json = serde_json::to_value(&plan.steps[0].action).unwrap();
        assert_eq!(json["add"], serde_json::json!(["GET /health"]));
        assert!(json["openapi"]["paths"]["/health"]["get"].is_object());
    }

    #[test]
    fn binary_media_types_follow_router_mode_and_converge() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.binary_media_types = vec!["*/*".into()];
        let plan_of = |desired: &Desired, actual: &Actual| plan(&names(), Some(desired), actual);
        let plan = plan_of(&desired, &actual);
        assert_eq!(kinds(&plan), ["set_routes", "deploy_api"]);
        let json = serde_json::to_value(&plan.steps[0].action).unwrap();
        assert_eq!(json["binary_media_types"], serde_json::json!(["*/*"]));
        assert_eq!(
            json["openapi"]["x-amazon-apigateway-binary-media-types"],
            serde_json::json!(["*/*"])
        );
        assert!(plan_of(&desired, &converged(&desired)).is_empty());
        // Back to route mode: the import (without them) takes them away.
        let mut routed = converged(&desired);
        desired.binary_media_types.clear();
        routed.api.as_mut().unwrap().binary_media_types = vec!["*/*".into()];
        let plan = plan_of(&desired, &routed);
        let json = serde_json::to_value(&plan.steps[0].action).unwrap();
        assert_eq!(json["binary_media_types"], serde_json::json!([]));
        assert!(json["openapi"]["x-amazon-apigateway-binary-media-types"].is_null());
    }

    #[test]
    fn route_removed_sets_routes_and_redeploys() {
        let mut desired = desired();
        let actual = converged(&desired);
        desired.routes.remove("/orders/{id}");
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["set_routes", "deploy_api"]);
        let json = serde_json::to_value(&plan.steps[0].action).unwrap();
        assert_eq!(json["remove"], serde_json::json!(["POST /orders/{id}"]));
    }

    #[test]
    fn a_route_wired_elsewhere_counts_as_missing() {
        let desired = desired();
        let mut actual = converged(&desired);
        let api = actual.api.as_mut().unwrap();
        api.paths.get_mut("/greet").unwrap().methods =
            BTreeMap::from([(Method::Post, Some("arn:elsewhere".into()))]);
        // And a stray method slx.toml does not have.
        api.paths
            .get_mut("/greet")
            .unwrap()
            .methods
            .insert(Method::Delete, Some("arn:elsewhere".into()));
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["set_routes", "deploy_api"]);
        let json = serde_json::to_value(&plan.steps[0].action).unwrap();
        assert_eq!(json["add"], serde_json::json!(["POST /greet"]));
        assert_eq!(json["remove"], serde_json::json!(["DELETE /greet"]));
    }

    #[test]
    fn routes_imported_but_never_deployed_are_deployed() {
        // The API's definition matches slx.toml (its tag says so), but
        // the stage still serves an older one: the deploy that imported
        // it stopped.
        let desired = desired();
        let mut actual = converged(&desired);
        let stage = actual.api.as_mut().unwrap().stage.as_mut().unwrap();
        stage.deployment_description = Some("slx test; routes sha256:0000".into());
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["deploy_api"]);
        let json = serde_json::to_value(&plan.steps[0].action).unwrap();
        let digest = crate::deploy::openapi::definition(&desired).digest;
        assert!(
            json["description"]
                .as_str()
                .unwrap()
                .ends_with(&format!("routes sha256:{digest}"))
        );
        // A deployment made by hand (or by an older slx) has no digest.
        let mut actual = converged(&desired);
        actual
            .api
            .as_mut()
            .unwrap()
            .stage
            .as_mut()
            .unwrap()
            .deployment_description = None;
        assert_eq!(
            kinds(&super::plan(&names(), Some(&desired), &actual)),
            ["deploy_api"]
        );
        // The API holds another definition where reading it back cannot
        // show (a CORS mock's answer, gateway responses): the import's tag
        // differs, and the import is sent again. (The stage serves the
        // current one here: no new deployment.)
        let mut actual = converged(&desired);
        actual.api.as_mut().unwrap().definition = Some("0000".into());
        let plan = super::plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["set_routes"]);
        assert_eq!(
            plan.steps[0].action.info().describe(&names()),
            "set routes (the API's definition differs)"
        );
    }

    #[test]
    fn a_path_without_methods_left_behind_is_cleaned_up() {
        let desired = desired();
        let mut actual = converged(&desired);
        let api = actual.api.as_mut().unwrap();
        api.paths.insert("/stray".into(), PathState::default());
        assert_eq!(
            kinds(&plan(&names(), Some(&desired), &actual)),
            ["set_routes", "deploy_api"]
        );
    }

    #[test]
    fn a_permission_for_an_older_api_is_replaced() {
        let desired = desired();
        let mut actual = converged(&desired);
        actual.permission = Some(Statement {
            source_arn: Some(desired.arns.api_source_arn("older")),
        });
        let plan = plan(&names(), Some(&desired), &actual);
        assert_eq!(kinds(&plan), ["add_invoke_permission"]);
        let json = serde_json::to_value(&plan.steps[0].action).unwrap();
        assert_eq!(json["replace"], true);
    }

    #[test]
    fn a_permission_left_by_a_deleted_api_is_replaced_for_the_new_one() {
        let desired = desired();
        let mut actual = converged(&desired);
        actual.api = None;
        let plan = plan(&names(), Some(&desired), &actual);
        let json = serde_json::to_value(&plan.steps[2].action).unwrap();
        assert_eq!(json["action"], "add_invoke_permission");
        assert_eq!(json["replace"], true);
        assert_eq!(json["api"], "new");
    }

    #[test]
    fn half_finished_deploy_publishes_what_latest_already_has() {
        let desired = desired();
        let mut actual = converged(&desired);
        // $LATEST got the new code, the process died before publishing.
        let mut old = function(&desired, "1");
        old.code_sha256 = "sha-0".into();
        actual.alias.served = Some(old);
        actual.alias.versions = vec![version("1", "sha-0")];
        assert_eq!(
            kinds(&plan(&names(), Some(&desired), &actual)),
            ["publish_and_point_alias"]
        );
        // ...or before the API stage was deployed.
        let mut actual = converged(&desired);
        actual.api.as_mut().unwrap().stage = None;
        assert_eq!(
            kinds(&plan(&names(), Some(&desired), &actual)),
            ["deploy_api"]
        );
    }

    #[test]
    fn removal_deletes_what_exists_dependents_first() {
        let desired = desired();
        let plan = plan(&names(), None, &converged(&desired));
        assert_eq!(
            kinds(&plan),
            [
                "delete_api",
                "delete_function",
                "delete_log_group",
                "delete_role"
            ]
        );
        let after: Vec<&[usize]> = plan.steps.iter().map(|s| s.after.as_slice()).collect();
        // The log group and the role go together once the function is gone.
        assert_eq!(after, [&[][..], &[0], &[1], &[1]]);
        assert!(super::plan(&names(), None, &Actual::default()).is_empty());
    }

    #[test]
    fn before_the_build_only_harmless_creates_run() {
        let desired = desired();
        let first = plan(&names(), Some(&desired), &Actual::default());
        assert_eq!(
            kinds(&first.before_build()),
            [
                "create_role",
                "put_role_policy",
                "create_log_group",
                "set_log_retention",
                "create_api",
                "set_routes"
            ]
        );
        // What remains after them is what needs the code.
        let rest = first.without(&first.before_build());
        assert_eq!(
            kinds(&rest),
            [
                "create_function",
                "publish_and_point_alias",
                "add_invoke_permission",
                "deploy_api"
            ]
        );
        assert_eq!(rest.steps[1].after, [0]);
        // On an existing stage, a changed policy or routes wait for the
        // code: the live function and stage keep what they have.
        let mut changed = desired.clone();
        changed.role_policy = "{new}".into();
        changed
            .routes
            .insert("/health".into(), BTreeSet::from([Method::Get]));
        let update = plan(&names(), Some(&changed), &converged(&desired));
        assert_eq!(
            kinds(&update),
            ["put_role_policy", "set_routes", "deploy_api"]
        );
        assert!(update.before_build().is_empty());
    }
}

#[cfg(test)]
mod event_tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::aws::{BucketNotifications, QueueInfo};
    use crate::config::{EventSource, S3EventKind, S3Source, ScheduleSource};
    use crate::deploy::desired::tests::{desired, event, jobs_queue};

    fn names() -> StageNames {
        StageNames::new("shop", "dev")
    }

    /// The scaffold's three handlers.
    fn with_events() -> Desired {
        let mut desired = desired();
        desired.events = vec![
            event(
                "on_upload",
                EventSource::S3(S3Source {
                    bucket: "uploads".into(),
                    events: vec![S3EventKind::Created],
                    prefix: Some("incoming/".into()),
                    suffix: None,
                }),
            ),
            event(
                "nightly",
                EventSource::Schedule(ScheduleSource {
                    expression: "rate(1 hour)".into(),
                    timezone: None,
                    input: None,
                }),
            ),
            event("on_job", jobs_queue()),
        ];
        desired
    }

    /// Nothing of the stage exists, but the bucket and queue do.
    fn fresh() -> Actual {
        let mut actual = Actual::default();
        actual
            .bucket_notification
            .buckets
            .insert("uploads".into(), Some(BucketNotifications::default()));
        actual.queue_mapping.queues.insert(
            "jobs".into(),
            Some(QueueInfo {
                arn: "arn:aws:sqs:eu-west-1:123456789012:jobs".into(),
                visibility_timeout: 180,
            }),
        );
        actual
    }

    fn position(plan: &Plan, describes: &str) -> usize {
        plan.actions()
            .position(|a| a.info().describe(&names()).contains(describes))
            .unwrap_or_else(|| panic!("no step `{describes}` in {plan:#?}"))
    }

    #[test]
    fn each_source_waits_for_its_handler_and_handlers_do_not_wait_for_each_other() {
        let plan = plan(&names(), Some(&with_events()), &fresh());
        let publish_upload = position(&plan, "handler on_upload: publish");
        let publish_job = position(&plan, "handler on_job: publish");
        let create_job = position(&plan, "handler on_job: create function");
        let permission = position(&plan, "allow bucket uploads to invoke it");
        let notification = position(&plan, "set slx's entries in bucket uploads");
        let schedule = position(&plan, "create schedule nightly");
        let mapping = position(&plan, "receive messages of jobs");
        let after = |step: usize| plan.steps[step].after.clone();
        // S3 checks the permission when the entry is written.
        assert!(after(notification).contains(&permission));
        assert!(after(permission).contains(&publish_upload));
        assert!(after(mapping).contains(&publish_job));
        let publish_nightly = position(&plan, "handler nightly: publish");
        assert!(after(schedule).contains(&publish_nightly));
        // A source waits for its own handler only.
        for (source, other) in [
            (schedule, publish_job),
            (mapping, publish_upload),
            (permission, publish_job),
            (notification, publish_nightly),
        ] {
            assert!(!after(source).contains(&other), "{:?}", plan.steps[source]);
        }
        // One handler's function does not wait for another's.
        assert!(!after(create_job).contains(&publish_upload));
        assert!(after(create_job).iter().all(|&i| {
            !plan.steps[i]
                .action
                .info()
                .describe(&names())
                .contains("on_upload")
        }));
    }

    /// The scaffold's handlers, an authorizer and every stage setting
    /// that brings a kind of its own: a stage with every kind.
    fn every_kind() -> Desired {
        let mut desired = with_events();
        desired.events.push(event(
            "check_token",
            EventSource::Authorizer(crate::config::AuthorizerSource {
                request: false,
                header: "authorization".into(),
                ttl: 0,
            }),
        ));
        desired.concurrency = Some(5);
        desired.provisioned_concurrency = Some(1);
        desired.tracing = true;
        desired.throttle = Some(crate::config::Throttle {
            rate: 50.0,
            burst: 100,
        });
        desired.usage_plan = Some(crate::config::UsagePlan {
            rate: None,
            burst: None,
            quota: None,
        });
        desired.domain = Some(crate::config::Domain {
            name: "api.example.com".into(),
            certificate: "arn:aws:acm:eu-west-1:123456789012:certificate/c".into(),
            base_path: None,
            hosted_zone: Some("Z1".into()),
        });
        desired
    }

    /// `desired` as AWS holds it when a deploy made it: every handler's
    /// function and log group, the schedule group and its role.
    fn every_kind_converged(desired: &Desired) -> Actual {
        use crate::deploy::resources::event_function::HandlerState;
        let mut actual = crate::deploy::resources::fixtures::converged(desired);
        for event in &desired.events {
            let state = HandlerState {
                latest: actual.function.clone(),
                log_group: actual.log_group.clone(),
                ..HandlerState::default()
            };
            actual.event_function.insert(event.handler.clone(), state);
        }
        actual.schedule.group = true;
        actual.schedule.role = actual.role.clone();
        actual
    }

    /// Every kind's steps planned together: each comes after all it
    /// waits for (`Plan::of` would stop at a cycle), in both directions.
    #[test]
    fn every_kind_at_once_is_ordered_without_a_cycle_both_ways() {
        let desired = every_kind();
        let waits_only_for_earlier = |plan: &Plan| {
            plan.steps
                .iter()
                .enumerate()
                .all(|(index, step)| step.after.iter().all(|&w| w < index))
        };
        let first = plan(&names(), Some(&desired), &fresh());
        assert!(waits_only_for_earlier(&first));
        let kinds: std::collections::BTreeSet<_> =
            first.actions().map(|a| format!("{:?}", a.kind())).collect();
        assert_eq!(kinds.len(), 18, "every kind: {kinds:?}");

        let actual = every_kind_converged(&desired);
        let removal = plan(&names(), None, &actual);
        assert!(waits_only_for_earlier(&removal));
        let delete_role = position(&removal, "delete IAM role shop-dev-role");
        let delete_handler = position(&removal, "delete function shop-dev-nightly");
        let delete_group = position(&removal, "delete schedule group");
        assert!(removal.steps[delete_handler].after.contains(&delete_group));
        assert!(removal.steps[delete_role].after.contains(&delete_handler));
    }

    /// A stage switched to roles made elsewhere: the functions move to
    /// them (waiting for no role action), the role slx made for them
    /// stays for their older versions, and the scheduler's goes after
    /// the schedules that used it.
    #[test]
    fn roles_made_elsewhere_replace_slx_s_without_a_cycle() {
        let before = every_kind();
        let actual = every_kind_converged(&before);
        let mut desired = before.clone();
        let mut names = desired.arns.names().clone();
        names.referenced.function_role = Some("arn:aws:iam::123456789012:role/ops/fn".into());
        names.referenced.scheduler_role = Some("arn:aws:iam::123456789012:role/ops/sched".into());
        desired.arns = crate::names::StageArns::new(names, "eu-west-1", "123456789012", "");
        let switched = plan(desired.arns.names(), Some(&desired), &actual);
        let described: Vec<String> = switched
            .actions()
            .map(|a| a.info().describe(desired.arns.names()))
            .collect();
        assert!(
            described.iter().any(|d| d == "update configuration (role)")
                && !described.iter().any(|d| d.contains("shop-dev-role")),
            "{described:#?}"
        );
        let delete_scheduler_role = position(&switched, "delete IAM role shop-dev-sched");
        let put_schedule = position(&switched, "schedule nightly");
        assert!(put_schedule < delete_scheduler_role, "{switched:#?}");
    }

    /// A stage planned from nothing is its resources as plain data (what
    /// a template export reads, one source with the deploy): each kind's
    /// creates and settings, carrying what they make and what waits for
    /// what, none naming a resource that AWS must already have made.
    #[test]
    fn a_stage_planned_from_nothing_is_its_resources_as_plain_data() {
        let desired = every_kind();
        let declared = plan(&names(), Some(&desired), &fresh());
        assert!(
            declared
                .actions()
                .all(|a| a.info().change() != Change::Delete),
            "{declared:#?}"
        );
        let kinds: std::collections::BTreeSet<_> = declared
            .actions()
            .map(|a| format!("{:?}", a.kind()))
            .collect();
        assert_eq!(kinds.len(), 18, "every kind declares: {kinds:?}");

        fn names_an_existing_resource(value: &serde_json::Value) -> bool {
            match value {
                serde_json::Value::Object(fields) => fields
                    .iter()
                    .any(|(key, v)| key == "existing" || names_an_existing_resource(v)),
                serde_json::Value::Array(items) => items.iter().any(names_an_existing_resource),
                _ => false,
            }
        }
        let json = serde_json::to_value(&declared).unwrap();
        assert!(!names_an_existing_resource(&json), "{json:#}");
        let step = |action: &str, function: &str| {
            json.as_array()
                .unwrap()
                .iter()
                .find(|s| s["action"] == action && s["function"] == function)
                .unwrap_or_else(|| panic!("no {action} of {function} in {json:#}"))
                .clone()
        };
        let function = step("create_function", "shop-dev");
        assert_eq!(function["memory"], 256);
        assert_eq!(function["role_arn"], desired.arns.role_arn());
        assert_eq!(
            function["env"],
            serde_json::json!(["GREETING"]),
            "names only"
        );
        assert_eq!(step("set_concurrency", "shop-dev")["count"], 5);
        let handler = step("create_function", "shop-dev-on_job");
        assert_eq!(handler["memory"], 256);
        let routes = json
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["action"] == "set_routes");
        assert!(routes.unwrap()["openapi"]["paths"]["/orders/{id}"]["post"].is_object());
    }

    #[test]
    fn a_removed_handler_goes_after_its_source_in_a_deploy_and_an_undeploy() {
        let desired = with_events();
        let mut actual = fresh();
        // The upload handler exists with its entry and permission.
        let mut with_function = crate::deploy::resources::event_function::HandlerState {
            log_group: Some(crate::deploy::resources::log_group::LogGroupState {
                retention_days: Some(14),
            }),
            ..Default::default()
        };
        with_function.latest = Some(crate::aws::FunctionInfo {
            version: "$LATEST".into(),
            code_sha256: "sha-1".into(),
            arch: crate::config::Arch::X86_64,
            memory: 256,
            timeout: 30,
            env: BTreeMap::new(),
            role_arn: desired.arns.role_arn(),
            arn: desired.arns.event_function_arn("on_upload"),
            ephemeral_storage: 512,
            layers: vec![],
            tracing: false,
            vpc: None,
            description: desired.described(),
            creation_failed: None,
        });
        actual
            .event_function
            .insert("on_upload".into(), with_function);
        actual
            .bucket_notification
            .permissions
            .insert("on_upload".into(), "arn:aws:s3:::uploads".into());
        let document =
            BucketNotifications::default().with_owned(vec![crate::aws::LambdaNotification {
                id: "slx-shop-dev-on_upload".into(),
                function_arn: desired.arns.event_alias_arn("on_upload"),
                events: vec!["s3:ObjectCreated:*".into()],
                prefix: Some("incoming/".into()),
                suffix: None,
            }]);
        actual
            .bucket_notification
            .buckets
            .insert("uploads".into(), Some(document));
        let mut without = desired.clone();
        without.events.retain(|e| e.handler != "on_upload");
        let plan = plan(&names(), Some(&without), &actual);
        let entries = position(&plan, "remove slx's entries from bucket uploads");
        let delete = position(&plan, "delete function shop-dev-on_upload");
        let group = position(&plan, "delete log group /aws/lambda/shop-dev-on_upload");
        assert!(plan.steps[delete].after.contains(&entries));
        assert!(plan.steps[group].after.contains(&delete));
        // Not after the other handlers' sources.
        let schedule = position(&plan, "create schedule nightly");
        let mapping = position(&plan, "receive messages of jobs");
        assert!(!plan.steps[delete].after.contains(&schedule));
        assert!(!plan.steps[delete].after.contains(&mapping));
        assert!(
            plan.actions()
                .all(|a| !a.info().describe(&names()).contains("stop allowing S3")),
            "the permission goes with the function"
        );

        // Undeploy: the entry first, the handler's function after it.
        let removal = super::plan(&names(), None, &actual);
        let entries = position(&removal, "remove slx's entries from bucket uploads");
        let delete = position(&removal, "delete function shop-dev-on_upload");
        assert!(removal.steps[delete].after.contains(&entries));
    }

    #[test]
    fn schedules_are_sent_with_a_time_zone_and_the_scheduler_role_may_invoke_only_them() {
        let desired = with_events();
        let plan = plan(&names(), Some(&desired), &fresh());
        let json = serde_json::to_value(&plan).unwrap();
        let put = json
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["action"] == "put_schedule")
            .unwrap();
        assert_eq!(put["schedule"]["timezone"], "UTC");
        let policy = json
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["action"] == "put_role_policy" && s["role"] == "shop-dev-sched")
            .unwrap();
        let document: serde_json::Value =
            serde_json::from_str(policy["document"].as_str().unwrap()).unwrap();
        assert_eq!(
            document["Statement"][0]["Resource"],
            serde_json::json!([
                "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-nightly:dev"
            ])
        );
    }
}
