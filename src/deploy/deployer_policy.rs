//! The IAM policy a deployer needs to run every slx command on one stage:
//! each resource kind's grants (`resources::deployer_grants`) plus what the
//! commands that read or invoke need. Printed by `slx iam-policy`; every
//! new AWS action slx calls must appear here (a lifecycle test checks the
//! calls slx makes against it).
//!
//! Pure.

use serde_json::{Value, json};

use super::resources;
use crate::config::Project;
use crate::names::StageArns;

/// One statement: actions on resources, optionally conditioned; an
/// allow unless it is a guard (`deny`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grant {
    pub(crate) sid: String,
    pub(crate) actions: &'static [&'static str],
    pub(crate) resources: Vec<String>,
    pub(crate) condition: Option<Value>,
    /// A Deny: it holds even against the deployer's other policies.
    pub(crate) deny: bool,
}

impl Grant {
    pub(crate) fn new(
        sid: impl Into<String>,
        actions: &'static [&'static str],
        resources: Vec<String>,
    ) -> Grant {
        Grant {
            sid: sid.into(),
            actions,
            resources,
            condition: None,
            deny: false,
        }
    }

    /// The same statement, only where `condition` holds.
    pub(crate) fn when(self, condition: Value) -> Grant {
        Grant {
            condition: Some(condition),
            ..self
        }
    }

    /// The same statement as a Deny.
    pub(crate) fn denied(self) -> Grant {
        Grant { deny: true, ..self }
    }
}

/// Grants on the stage's event handlers' resources of one kind: every
/// one of `actions` on those of the handlers slx.toml names (`exact`;
/// none without handlers), and only `retire` (reads and deletes) on any
/// of the stage's name (`pattern`) that slx tagged as the stage's. A
/// handler slx.toml no longer names is found, read and deleted by its
/// name, which another stage's can share (`dev`, `dev-eu`).
pub(crate) fn handler_grants(
    arns: &StageArns,
    sid: &str,
    actions: &'static [&'static str],
    exact: Vec<String>,
    retire: &'static [&'static str],
    pattern: Vec<String>,
) -> Vec<Grant> {
    let mut grants = Vec::new();
    if !exact.is_empty() {
        grants.push(Grant::new(sid, actions, exact));
    }
    grants.push(Grant::new(format!("Retired{sid}"), retire, pattern).when(arns.tagged_as_stage()));
    grants
}

/// Grants on one kind of API Gateway resource, whose ids API Gateway
/// makes (`collections`: `/restapis`, or `/usageplans` and `/apikeys`):
/// reads of any, creation only with the stage's tags in the request, and
/// `writes` only on those tagged as the stage's. A REST API's, a usage
/// plan's and a domain name's tags are their children's too (methods,
/// deployments, stages, plan keys, base path mappings), for this.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-tagging-supported-resources.html
// https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-tagging-iam-policy.html
pub(crate) fn api_gateway_grants(
    arns: &StageArns,
    sid: &str,
    collections: &[String],
    writes: &'static [&'static str],
) -> Vec<Grant> {
    let members: Vec<String> = collections.iter().map(|c| format!("{c}/*")).collect();
    let every: Vec<String> = collections.iter().cloned().chain(members.clone()).collect();
    vec![
        Grant::new(sid, &["apigateway:GET"], every),
        Grant::new(
            format!("Create{sid}"),
            &["apigateway:POST"],
            collections.to_vec(),
        )
        .when(arns.tagging_as_stage()),
        Grant::new(format!("Change{sid}"), writes, members).when(arns.tagged_as_stage()),
    ]
}

/// What the commands need beyond the resources' own grants: who am I,
/// a canary's metrics, read logs, hold the stage's deploy lease, invoke.
fn command_grants(arns: &StageArns) -> Vec<Grant> {
    vec![
        // GetCallerIdentity has no resource to scope to.
        // https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html
        Grant::new("WhoAmI", &["sts:GetCallerIdentity"], vec!["*".into()]),
        // A canary's evidence: the new version's Errors and Throttles.
        // CloudWatch's metric reads take no resource ARN.
        // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
        Grant::new(
            "CanaryMetrics",
            &["cloudwatch:GetMetricStatistics"],
            vec!["*".into()],
        ),
        Grant::new(
            "ReadLogs",
            &["logs:FilterLogEvents", "logs:StartLiveTail"],
            vec![arns.log_group_arn()],
        ),
        // The deploy lease (`deploy::lease`): log groups under the
        // stage's prefix; tagging at creation needs logs:TagResource.
        // https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
        Grant::new(
            "DeployLease",
            &[
                "logs:CreateLogGroup",
                "logs:TagResource",
                "logs:TagLogGroup",
                "logs:ListTagsForResource",
                "logs:DeleteLogGroup",
            ],
            vec![arns.leases_arn()],
        ),
        Grant::new(
            "Invoke",
            &["lambda:InvokeFunction"],
            vec![arns.function_arn(), format!("{}:*", arns.function_arn())],
        ),
    ]
}

/// What the stage's settings and event handlers need of the deployer.
fn project_grants(arns: &StageArns, project: &Project) -> Vec<Grant> {
    let mut grants = Vec::new();
    if !project.layers.is_empty() {
        // Adding a layer to a function needs it for each layer version.
        // https://docs.aws.amazon.com/lambda/latest/dg/adding-layers.html
        grants.push(Grant::new(
            "UseLayers",
            &["lambda:GetLayerVersion"],
            project.layers.clone(),
        ));
    }
    if project.vpc.is_some() {
        // Lambda checks that whoever configures a VPC may describe it;
        // these EC2 reads take no resource ARN.
        // https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html
        grants.push(Grant::new(
            "DescribeVpc",
            &[
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
            ],
            vec!["*".into()],
        ));
    }
    if !project.events.is_empty() {
        // `slx invoke --handler` and `slx logs --handler`: each event
        // handler's own function and log group.
        let functions = project
            .events
            .iter()
            .map(|e| arns.event_function_arn(&e.handler.name));
        grants.push(Grant::new(
            "InvokeEventHandlers",
            &["lambda:InvokeFunction"],
            functions.flat_map(|f| [format!("{f}:*"), f]).collect(),
        ));
        grants.push(Grant::new(
            "ReadEventHandlerLogs",
            &["logs:FilterLogEvents", "logs:StartLiveTail"],
            project
                .events
                .iter()
                .map(|e| arns.event_log_group_arn(&e.handler.name))
                .collect(),
        ));
    }
    grants
}

/// Every grant for the stage, in a stable order.
pub(crate) fn grants(arns: &StageArns, project: &Project) -> Vec<Grant> {
    let mut grants = resources::deployer_grants(arns);
    grants.extend(command_grants(arns));
    grants.extend(project_grants(arns, project));
    grants
}

/// Every action in the policy.
#[cfg(test)]
pub(crate) fn actions(
    arns: &StageArns,
    project: &Project,
) -> std::collections::BTreeSet<&'static str> {
    grants(arns, project)
        .iter()
        .flat_map(|g| g.actions.iter().copied())
        .collect()
}

/// Whether `action` only reads: API Gateway's `GET`, and every other
/// service's `Get*`, `List*` and `Describe*` and the log reads. (IAM's
/// own access levels put these under Read or List.)
// https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
pub(crate) fn is_read(action: &str) -> bool {
    let Some((service, verb)) = action.split_once(':') else {
        return false;
    };
    match service {
        "apigateway" => verb == "GET",
        _ => {
            ["Get", "List", "Describe"]
                .iter()
                .any(|prefix| verb.starts_with(prefix))
                || matches!(verb, "FilterLogEvents" | "StartLiveTail")
        }
    }
}

/// The policy document: every grant, or with `read_only` only their
/// reads (statements left with no action are dropped).
pub(crate) fn document(arns: &StageArns, project: &Project, read_only: bool) -> Value {
    let mut statements: Vec<Value> = grants(arns, project)
        .into_iter()
        .filter_map(|grant| {
            let actions: Vec<&str> = grant
                .actions
                .iter()
                .copied()
                .filter(|action| !read_only || (is_read(action) && !grant.deny))
                .collect();
            if actions.is_empty() {
                return None;
            }
            let mut statement = json!({
                "Sid": grant.sid,
                "Effect": if grant.deny { "Deny" } else { "Allow" },
                "Action": actions,
                "Resource": grant.resources,
            });
            if let Some(condition) = grant.condition {
                statement["Condition"] = condition;
            }
            Some(statement)
        })
        .collect();
    if read_only {
        // API Gateway answers API keys' values to whoever may list them
        // (`GET /apikeys?includeValues=true`, a usage plan's keys), and a
        // read-only role runs where a pull request's code runs.
        // https://docs.aws.amazon.com/apigateway/latest/api/API_GetApiKeys.html
        // https://docs.aws.amazon.com/apigateway/latest/api/API_GetUsagePlanKeys.html
        statements.push(json!({
            "Sid": "NoApiKeyValues",
            "Effect": "Deny",
            "Action": ["apigateway:GET"],
            "Resource": arns.api_key_values_arns(),
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::iam_pattern;
    use crate::deploy::desired::tests::desired;

    /// A stage with a layer, a VPC and an event handler.
    fn project() -> Project {
        let config = crate::config::parse(
            std::path::Path::new("slx.toml"),
            r#"
            [app]
            name = "shop"
            layers = ["arn:aws:lambda:eu-west-1:123456789012:layer:otel:3"]
            vpc = { subnets = ["subnet-0123abcd"], security_groups = ["sg-0123abcd"] }
            [events.nightly]
            schedule = "rate(1 hour)"
            "#
            .into(),
        )
        .unwrap();
        crate::config::resolve(&config, "dev").unwrap()
    }

    #[test]
    fn every_statement_is_scoped_to_the_stage_where_aws_allows() {
        let arns = desired().arns;
        let project = project();
        let document = document(&arns, &project, false);
        let statements = document["Statement"].as_array().unwrap();
        let sids: std::collections::BTreeSet<&str> = statements
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids.len(), statements.len(), "unique Sids: {sids:?}");
        for statement in statements {
            let resources: Vec<&str> = statement["Resource"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            let actions = statement["Action"].to_string();
            if resources == ["*"] {
                assert!(
                    [
                        r#"["sts:GetCallerIdentity"]"#,
                        r#"["cloudwatch:GetMetricStatistics"]"#,
                        r#"["ec2:DescribeSecurityGroups","ec2:DescribeSubnets","ec2:DescribeVpcs"]"#,
                        // The network interfaces Lambda still holds.
                        r#"["ec2:DescribeNetworkInterfaces"]"#,
                        // Discovering removed handlers; their schedules.
                        r#"["lambda:ListFunctions"]"#,
                        r#"["scheduler:ListSchedules"]"#,
                        r#"["logs:DescribeLogGroups"]"#,
                        r#"["lambda:ListEventSourceMappings"]"#,
                        // Conditioned on the stage's handler functions.
                        r#"["lambda:CreateEventSourceMapping"]"#,
                    ]
                    .contains(&actions.as_str()),
                    "only actions without resource ARNs are unscoped: {actions}"
                );
                continue;
            }
            for resource in resources {
                let scoped = resource.contains("shop-dev")
                    || resource.contains("/restapis")
                    // Plan and key ids are made by API Gateway.
                    || resource.contains("::/usageplans")
                    || resource.contains("::/apikeys")
                    // Domains slx.toml named before are the stage's too.
                    || resource.contains("::/domainnames")

                    || resource.ends_with("log-group:*")
                    // Mapping ids are random; buckets (of the account, by
                    // condition) and queues are the user's, named in
                    // slx.toml now or in an earlier version of it.
                    || resource.ends_with(":event-source-mapping:*")
                    || resource == "arn:aws:s3:::*"
                    || resource == "arn:aws:sqs:eu-west-1:123456789012:*"
                    || project.layers.iter().any(|l| l == resource);
                assert!(scoped, "{resource} for {actions}");
            }
        }
        let passrole = statements
            .iter()
            .find(|s| s["Sid"] == "PassRoleToLambda")
            .unwrap();
        assert_eq!(
            passrole["Condition"]["StringEquals"]["iam:PassedToService"],
            "lambda.amazonaws.com"
        );
        assert!(actions(&arns, &project).contains("lambda:UpdateFunctionCode"));
        let invoke = statements
            .iter()
            .find(|s| s["Sid"] == "InvokeEventHandlers")
            .unwrap();
        assert_eq!(
            invoke["Resource"],
            serde_json::json!([
                "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-nightly:*",
                "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-nightly"
            ])
        );
    }

    /// The policy of stage `stage` of an app whose handlers read a
    /// queue and run on a schedule, behind a custom domain.
    fn stage_policy(stage: &str) -> (StageArns, Value) {
        let config = crate::config::parse(
            std::path::Path::new("slx.toml"),
            r#"
            [app]
            name = "shop"
            [events.nightly]
            schedule = "rate(1 hour)"
            [events.on_job]
            queue = "jobs"
            [stages.dev.domain]
            name = "api.example.com"
            certificate = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
            hosted_zone = "Z123"
            [stages.dev-eu.domain]
            name = "eu.example.com"
            certificate = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
            hosted_zone = "Z123"
            "#
            .into(),
        )
        .unwrap();
        let project = crate::config::resolve(&config, stage).unwrap();
        let arns = StageArns::new(
            project.names(),
            "eu-west-1",
            "123456789012",
            "arn:aws:iam::123456789012:user/ci",
        );
        let document = document(&arns, &project, false);
        (arns, document)
    }

    /// Stages `dev` and `dev-eu` share a name prefix: no statement of one
    /// that writes reaches a resource of the other, except through a
    /// condition that keeps to the stage's own (its tags, its handlers'
    /// functions, its domain's record) and the two docs/ci.md explains.
    #[test]
    fn a_stage_s_policy_writes_nothing_another_stage_names() {
        let mut reached = std::collections::BTreeSet::new();
        for (own, other) in [("dev", "dev-eu"), ("dev-eu", "dev")] {
            let (arns, policy) = stage_policy(own);
            let (_, theirs) = stage_policy(other);
            // The other stage's resources: each of its resources, its
            // patterns instantiated (`shop-dev-eu-*`: a handler of it).
            let names: Vec<String> = theirs["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["Resource"].as_array().unwrap().clone())
                .map(|r| r.as_str().unwrap().replace('*', "x"))
                .filter(|name| name != "x")
                .collect();
            let own_tags = arns.tagged_as_stage();
            for statement in policy["Statement"].as_array().unwrap() {
                let writes = statement["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| !is_read(a.as_str().unwrap()));
                let condition = &statement["Condition"];
                let kept_to_own = *condition == own_tags
                    || *condition == arns.tagging_as_stage()
                    || condition["ArnLike"]["lambda:FunctionArn"]
                        .as_array()
                        .is_some_and(|arns| {
                            arns.iter().all(|a| !a.as_str().unwrap().contains("shop-dev-*"))
                        })
                    || condition["ForAllValues:StringEquals"]
                        ["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
                        .is_array()
                    || condition["StringEquals"]["iam:PassedToService"].is_string();
                if statement["Effect"] != "Allow" || !writes || kept_to_own {
                    continue;
                }
                for pattern in statement["Resource"].as_array().unwrap() {
                    let pattern = pattern.as_str().unwrap();
                    if pattern == "*" {
                        continue;
                    }
                    if let Some(name) = names
                        .iter()
                        .find(|name| iam_pattern::matches(pattern, name))
                    {
                        reached
                            .insert((statement["Sid"].as_str().unwrap().to_string(), name.clone()));
                    }
                }
            }
        }
        let sids: std::collections::BTreeSet<&str> =
            reached.iter().map(|(sid, _)| sid.as_str()).collect();
        assert_eq!(
            sids,
            std::collections::BTreeSet::from([
                // The user's buckets, named in earlier slx.tomls too.
                "HandlerBucketNotifications",
                // Mappings carry no tags.
                "RetiredHandlerQueueMappings",
            ]),
            "{reached:#?}"
        );
        assert!(
            iam_pattern::matches("a:shop-dev-*", "a:shop-dev-eu-x")
                && !iam_pattern::matches("a:shop-dev", "a:shop-dev-eu")
        );
        assert!(iam_pattern::matches(
            "log:/aws/lambda/shop-dev:*",
            "log:/aws/lambda/shop-dev:x"
        ));
        assert!(!iam_pattern::matches(
            "log:/aws/lambda/shop-dev:*",
            "log:/aws/lambda/shop-dev-eu:x"
        ));
    }

    /// Stage `dev` of `shop` in eu-west-1, with what slx.toml names as
    /// `name` sets it.
    fn shop_dev(name: impl FnOnce(&mut crate::names::Referenced)) -> StageArns {
        let mut names = crate::names::StageNames::new("shop", "dev");
        name(&mut names.referenced);
        StageArns::new(
            names,
            "eu-west-1",
            "123456789012",
            "arn:aws:iam::123456789012:user/ci",
        )
    }

    /// With a permissions boundary, the deployer can change what a
    /// stage role may do only within it, and cannot take it off.
    #[test]
    fn with_a_boundary_the_deployer_cannot_write_a_role_outside_it() {
        let boundary = "arn:aws:iam::123456789012:policy/slx-boundary";
        let arns = shop_dev(|referenced| {
            referenced.permissions_boundary = Some(boundary.into());
        });
        let project = project();
        let document = document(&arns, &project, false);
        let statements = document["Statement"].as_array().unwrap();
        let bounded = [
            "iam:CreateRole",
            "iam:PutRolePermissionsBoundary",
            "iam:PutRolePolicy",
        ];
        for role in [arns.role_arn(), arns.scheduler_role_arn()] {
            let on_role: Vec<&Value> = statements
                .iter()
                .filter(|s| s["Resource"] == json!([role]))
                .collect();
            for action in bounded {
                // Every allow of it carries the boundary...
                for allow in on_role.iter().filter(|s| {
                    s["Effect"] == "Allow"
                        && s["Action"].as_array().unwrap().contains(&json!(action))
                }) {
                    assert_eq!(
                        allow["Condition"],
                        json!({ "ArnEquals": { "iam:PermissionsBoundary": boundary } }),
                        "{action} on {role}"
                    );
                }
                // ...and a guard denies it with any other.
                assert!(on_role.iter().any(|s| s["Effect"] == "Deny"
                    && s["Action"].as_array().unwrap().contains(&json!(action))
                    && s["Condition"]
                        == json!({ "ArnNotEquals": { "iam:PermissionsBoundary": boundary } })));
            }
            assert!(on_role.iter().any(|s| s["Effect"] == "Deny"
                && s["Action"] == json!(["iam:DeleteRolePermissionsBoundary"])
                && s.get("Condition").is_none()));
        }
        // No other statement names an IAM write.
        for statement in statements {
            let resources = statement["Resource"].as_array().unwrap();
            if statement["Action"].to_string().contains("iam:Put")
                || statement["Action"].to_string().contains("iam:Create")
            {
                assert!(
                    resources == &vec![json!(arns.role_arn())]
                        || resources == &vec![json!(arns.scheduler_role_arn())],
                    "{statement}"
                );
            }
        }
        // The read-only policy has no guard to carry: it writes nothing.
        let read = super::document(&arns, &project, true);
        assert!(!read.to_string().contains("PermissionsBoundary"));
    }

    /// With roles made elsewhere, the deployer may only pass them, each
    /// to its own service.
    #[test]
    fn with_roles_made_elsewhere_the_deployer_only_passes_them() {
        let role = "arn:aws:iam::123456789012:role/ops/shop-dev";
        let scheduler = "arn:aws:iam::123456789012:role/ops/shop-dev-sched";
        let arns = shop_dev(|referenced| {
            referenced.function_role = Some(role.into());
            referenced.scheduler_role = Some(scheduler.into());
        });
        let document = document(&arns, &project(), false);
        let iam: Vec<&Value> = document["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"].to_string().contains("iam:"))
            .collect();
        let passed: Vec<(Value, Value, Value)> = iam
            .iter()
            .map(|s| {
                (
                    s["Action"].clone(),
                    s["Resource"].clone(),
                    s["Condition"]["StringEquals"]["iam:PassedToService"].clone(),
                )
            })
            .collect();
        assert_eq!(
            passed,
            [
                (
                    json!(["iam:PassRole"]),
                    json!([role]),
                    json!("lambda.amazonaws.com")
                ),
                (
                    json!(["iam:PassRole"]),
                    json!([scheduler]),
                    json!("scheduler.amazonaws.com")
                ),
            ]
        );
        assert!(
            !document
                .to_string()
                .contains("ec2:DescribeNetworkInterfaces")
        );
    }

    #[test]
    fn the_read_only_policy_keeps_only_reads_and_leaves_no_empty_statement() {
        let arns = desired().arns;
        let project = project();
        let full = document(&arns, &project, false);
        let read = document(&arns, &project, true);
        let actions_of = |document: &Value| -> std::collections::BTreeSet<String> {
            document["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["Action"].as_array().unwrap().clone())
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        };
        let (all, reads) = (actions_of(&full), actions_of(&read));
        assert!(reads.is_subset(&all));
        for action in &reads {
            assert!(is_read(action), "{action}");
        }
        for needed in [
            "sts:GetCallerIdentity",
            "lambda:GetFunction",
            "apigateway:GET",
            "logs:FilterLogEvents",
            "iam:GetRole",
        ] {
            assert!(reads.contains(needed), "{needed} missing: {reads:?}");
        }
        for write in [
            "lambda:UpdateFunctionCode",
            "lambda:InvokeFunction",
            "apigateway:PUT",
            "iam:PassRole",
            "logs:CreateLogGroup",
        ] {
            assert!(all.contains(write) && !reads.contains(write), "{write}");
        }
        for statement in read["Statement"].as_array().unwrap() {
            assert!(!statement["Action"].as_array().unwrap().is_empty());
        }
        // Reads, but never of API keys' values.
        let denied = read["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Effect"] == "Deny")
            .expect("a Deny statement");
        assert_eq!(denied["Action"], json!(["apigateway:GET"]));
        assert_eq!(
            denied["Resource"],
            json!([
                "arn:aws:apigateway:eu-west-1::/apikeys",
                "arn:aws:apigateway:eu-west-1::/apikeys/*",
                "arn:aws:apigateway:eu-west-1::/usageplans/*/keys",
                "arn:aws:apigateway:eu-west-1::/usageplans/*/keys/*"
            ])
        );
        assert!(
            !full["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["Effect"] == "Deny")
        );
        assert!(!is_read("apigateway:PATCH") && !is_read("s3:PutBucketNotification"));
        assert!(is_read("s3:GetBucketNotification") && is_read("ec2:DescribeVpcs"));
    }
}
