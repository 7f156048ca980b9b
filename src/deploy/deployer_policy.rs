//! The IAM policy a deployer needs to run every slx command on one stage:
//! each resource kind's grants (`resources::deployer_grants`) plus what the
//! commands that read or invoke need. Printed by `slx iam-policy`; every
//! new AWS action slx calls must appear here (a lifecycle test checks the
//! calls slx makes against it).
//!
//! Pure.

use serde_json::{Value, json};

use super::resources;
use crate::names::StageArns;

/// One statement: actions on resources, optionally conditioned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grant {
    pub(crate) sid: &'static str,
    pub(crate) actions: &'static [&'static str],
    pub(crate) resources: Vec<String>,
    pub(crate) condition: Option<Value>,
}

impl Grant {
    pub(crate) fn new(
        sid: &'static str,
        actions: &'static [&'static str],
        resources: Vec<String>,
    ) -> Grant {
        Grant {
            sid,
            actions,
            resources,
            condition: None,
        }
    }
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

/// Every grant for the stage, in a stable order.
pub(crate) fn grants(arns: &StageArns) -> Vec<Grant> {
    let mut grants = resources::deployer_grants(arns);
    grants.extend(command_grants(arns));
    grants
}

/// Every action in the policy.
#[cfg(test)]
pub(crate) fn actions(arns: &StageArns) -> std::collections::BTreeSet<&'static str> {
    grants(arns)
        .iter()
        .flat_map(|g| g.actions.iter().copied())
        .collect()
}

/// The policy document.
pub(crate) fn document(arns: &StageArns) -> Value {
    let statements: Vec<Value> = grants(arns)
        .into_iter()
        .map(|grant| {
            let mut statement = json!({
                "Sid": grant.sid,
                "Effect": "Allow",
                "Action": grant.actions,
                "Resource": grant.resources,
            });
            if let Some(condition) = grant.condition {
                statement["Condition"] = condition;
            }
            statement
        })
        .collect();
    json!({ "Version": "2012-10-17", "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::desired::tests::desired;

    #[test]
    fn every_statement_is_scoped_to_the_stage_where_aws_allows() {
        let arns = desired().arns;
        let document = document(&arns);
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
                        r#"["cloudwatch:GetMetricStatistics"]"#
                    ]
                    .contains(&actions.as_str()),
                    "only actions without resource ARNs are unscoped: {actions}"
                );
                continue;
            }
            for resource in resources {
                let scoped = resource.contains("shop-dev")
                    || resource.contains("/restapis")
                    || resource.ends_with("log-group:*");
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
        assert!(actions(&arns).contains("lambda:UpdateFunctionCode"));
    }
}
