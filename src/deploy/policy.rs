//! The IAM documents a stage's role needs: Lambda may assume it, and the
//! function may write to its own log group only, plus what its settings
//! need (tracing, a VPC: exactly what AWS documents for each) and what
//! the user grants in `[[permissions]]`.
//!
//! Pure text generation; the JSON is canonical (compact, sorted keys) so
//! comparing it with what IAM returns is a plain string comparison.

use serde_json::{Value, json};

use crate::config::Project;
use crate::names::StageArns;

/// Lambda may assume the stage's role, and only on behalf of this
/// account (`aws:SourceAccount`: the confused-deputy guard AWS
/// recommends for service roles).
// https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
pub(crate) fn trust_policy(arns: &StageArns) -> String {
    canonical(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": arns.lambda_principal() },
            "Action": "sts:AssumeRole",
            "Condition": { "StringEquals": { "aws:SourceAccount": arns.account } },
        }],
    }))
}

/// EventBridge Scheduler may assume the stage's scheduler role, on behalf
/// of this account and for the stage's schedule group only (its
/// schedules too, should Scheduler name one as the source): another
/// group's schedule cannot run the stage's handlers with it.
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html
pub(crate) fn scheduler_trust_policy(arns: &StageArns) -> String {
    canonical(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": arns.scheduler_principal() },
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": { "aws:SourceAccount": arns.account },
                "ArnLike": {
                    "aws:SourceArn": [arns.schedule_group_arn(), arns.schedules_arn()],
                },
            },
        }],
    }))
}

/// The scheduler role may invoke exactly the stage aliases of `handlers`.
pub(crate) fn scheduler_policy(arns: &StageArns, handlers: &[&str]) -> String {
    let aliases: Vec<String> = handlers.iter().map(|h| arns.event_alias_arn(h)).collect();
    canonical(&json!({
        "Version": "2012-10-17",
        "Statement": [allow("InvokeScheduledHandlers", &["lambda:InvokeFunction"], json!(aliases))],
    }))
}

/// The roles `project`'s stage runs with: each its `arn`, whether slx
/// makes it (`made_by`: `slx`, else `elsewhere`: slx.toml's `role`,
/// `scheduler_role`), the boundary slx gives it, and what it needs: its
/// inline policy (`policy`) and who must be able to assume it
/// (`trust_policy`), as slx writes them or as a role made elsewhere needs
/// them.
pub(crate) fn stage_roles(project: &Project, arns: &StageArns) -> Value {
    let parse = |document: String| serde_json::from_str::<Value>(&document).unwrap_or_default();
    let role = |arn: String, elsewhere: bool, policy: String, trust: String| {
        json!({
            // A role's name is the ARN's last part (after its path).
            "name": arn.rsplit('/').next(),
            "arn": arn,
            "made_by": if elsewhere { "elsewhere" } else { "slx" },
            "permissions_boundary": if elsewhere { None } else { project.permissions_boundary.clone() },
            "policy": parse(policy),
            "trust_policy": parse(trust),
        })
    };
    let mut roles = vec![role(
        arns.role_arn(),
        arns.referenced.function_role.is_some(),
        role_policy(project, arns),
        trust_policy(arns),
    )];
    let scheduled: Vec<&str> = project
        .events
        .iter()
        .map(|event| &event.handler)
        .filter(|handler| matches!(handler.source, crate::config::EventSource::Schedule(_)))
        .map(|handler| handler.name.as_str())
        .collect();
    if !scheduled.is_empty() {
        roles.push(role(
            arns.scheduler_role_arn(),
            !arns.referenced.makes_scheduler_role(),
            scheduler_policy(arns, &scheduled),
            scheduler_trust_policy(arns),
        ));
    }
    json!({ "stage": arns.stage, "roles": roles })
}

/// One `Allow` statement (a `Sid` names what it is for).
fn allow(sid: &str, actions: &[&str], resources: Value) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// The role's inline policy for `project`'s stage.
pub(crate) fn role_policy(project: &Project, arns: &StageArns) -> String {
    // Every function of the stage runs with this role: the API's and
    // each event handler's, each writing to its own log group.
    let mut log_streams = vec![arns.log_streams_arn()];
    log_streams.extend(
        project
            .events
            .iter()
            .map(|e| arns.event_log_streams_arn(&e.handler.name)),
    );
    let mut statements = vec![allow(
        "OwnLogGroup",
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        match log_streams.as_slice() {
            [one] => json!(one),
            many => json!(many),
        },
    )];
    if project.tracing {
        // X-Ray's write actions have no resource-level permissions; this
        // is AWSXRayDaemonWriteAccess's core.
        // https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html
        statements.push(allow(
            "Tracing",
            &["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            json!("*"),
        ));
    }
    if project.vpc.is_some() {
        // What Lambda needs to place the function's network interfaces
        // (AWSLambdaVPCAccessExecutionRole); EC2 allows these only on "*".
        // https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html
        statements.push(allow(
            "VpcNetworkInterfaces",
            &[
                "ec2:AssignPrivateIpAddresses",
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:UnassignPrivateIpAddresses",
            ],
            json!("*"),
        ));
    }
    // The stage's secrets, each exactly; decryption only with a key
    // slx.toml names (SSM's and Secrets Manager's own keys need none).
    // https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html
    let mut parameters = Vec::new();
    let mut secrets = Vec::new();
    for secret in &project.secrets {
        match &secret.source {
            crate::config::SecretSource::Ssm(name) => parameters.push(arns.ssm_parameter_arn(name)),
            crate::config::SecretSource::SecretsManager(id) => secrets.push(arns.secret_arn(id)),
        }
    }
    let keys: std::collections::BTreeSet<&String> = project
        .secrets
        .iter()
        .filter_map(|s| s.kms_key.as_ref())
        .collect();
    for (sid, action, resources) in [
        ("ReadParameters", "ssm:GetParameter", json!(parameters)),
        (
            "ReadSecrets",
            "secretsmanager:GetSecretValue",
            json!(secrets),
        ),
    ] {
        if resources.as_array().is_some_and(|r| !r.is_empty()) {
            statements.push(allow(sid, &[action], resources));
        }
    }
    if !keys.is_empty() {
        // Only as SSM or Secrets Manager decrypts a secret for the
        // function (`kms:ViaService`), never a direct Decrypt of anything
        // else the key protects.
        // https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
        let mut via = Vec::new();
        if !parameters.is_empty() {
            via.push(format!("ssm.{}.{}", arns.region, arns.partition.dns_suffix));
        }
        if !secrets.is_empty() {
            via.push(format!(
                "secretsmanager.{}.{}",
                arns.region, arns.partition.dns_suffix
            ));
        }
        let mut decrypt = allow("DecryptSecrets", &["kms:Decrypt"], json!(keys));
        decrypt["Condition"] = json!({ "StringEquals": { "kms:ViaService": via } });
        statements.push(decrypt);
    }
    // A queue handler receives and deletes its messages (what
    // AWSLambdaSQSQueueExecutionRole allows, on its queue only); a failed
    // asynchronous event goes to the handler's `on_failure` queue.
    // https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html
    // https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
    let mut consumed = std::collections::BTreeSet::new();
    let mut failures = std::collections::BTreeSet::new();
    for event in &project.events {
        if let crate::config::EventSource::Sqs(source) = &event.handler.source {
            consumed.insert(arns.queue_arn(&source.queue));
        }
        if let Some(queue) = &event.handler.on_failure {
            failures.insert(arns.queue_arn(queue));
        }
    }
    if !consumed.is_empty() {
        statements.push(allow(
            "ConsumeQueues",
            &[
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
            json!(consumed),
        ));
    }
    if !failures.is_empty() {
        statements.push(allow(
            "SendFailedEvents",
            &["sqs:SendMessage"],
            json!(failures),
        ));
    }
    for permission in &project.permissions {
        statements.push(json!({
            "Effect": "Allow",
            "Action": permission.actions,
            "Resource": permission.resources,
        }));
    }
    canonical(&json!({ "Version": "2012-10-17", "Statement": statements }))
}

/// What Lambda needs to release a function's network interfaces once the
/// function has left its VPC or is gone: Lambda releases them with the
/// function's execution role, up to 20 minutes later and sometimes 45;
/// without these permissions they stay, and block deleting the subnets
/// and security groups they are in. EC2 allows them only on "*".
// https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html
// https://repost.aws/knowledge-center/lambda-eni-find-delete-changes
const RELEASE_INTERFACES: &[&str] = &[
    DELETE_INTERFACE,
    "ec2:DescribeNetworkInterfaces",
    "ec2:UnassignPrivateIpAddresses",
];

/// What a role must allow for Lambda to release an interface with it.
const DELETE_INTERFACE: &str = "ec2:DeleteNetworkInterface";

/// The Sid of the statement that keeps `RELEASE_INTERFACES`.
const RELEASE_SID: &str = "ReleaseNetworkInterfaces";

/// `document` (a role policy, canonical) with the statement Lambda needs
/// to release network interfaces, unless it already grants that.
pub(crate) fn with_interface_release(document: &str) -> String {
    if releases_interfaces(document) {
        return document.to_string();
    }
    let mut policy: Value = serde_json::from_str(document).unwrap_or_else(|_| json!({}));
    policy["Version"] = json!("2012-10-17");
    let statement = allow(RELEASE_SID, RELEASE_INTERFACES, json!("*"));
    match policy["Statement"].as_array_mut() {
        Some(statements) => statements.push(statement),
        None => policy["Statement"] = json!([statement]),
    }
    canonical(&policy)
}

/// A role policy with only what Lambda needs to release network
/// interfaces: what an undeployed stage's role keeps until it has.
pub(crate) fn interface_release_only() -> String {
    with_interface_release(&canonical(
        &json!({ "Version": "2012-10-17", "Statement": [] }),
    ))
}

/// Whether a role policy lets Lambda release network interfaces (the
/// stage is, or was, in a VPC).
pub(crate) fn releases_interfaces(document: &str) -> bool {
    let Ok(policy) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    let grants = |statement: &Value| match &statement["Action"] {
        Value::String(action) => action == DELETE_INTERFACE,
        Value::Array(actions) => actions.iter().any(|a| a == DELETE_INTERFACE),
        _ => false,
    };
    match &policy["Statement"] {
        Value::Array(statements) => statements
            .iter()
            .any(|s| s["Effect"] == "Allow" && grants(s)),
        statement @ Value::Object(_) => statement["Effect"] == "Allow" && grants(statement),
        _ => false,
    }
}

/// Compact JSON with sorted keys: equal documents give equal text.
pub(crate) fn canonical(value: &Value) -> String {
    // serde_json's Map is a BTreeMap (no preserve_order feature), so
    // serialising sorts keys.
    value.to_string()
}

/// IAM returns policy documents URL-encoded; decode and canonicalise.
pub(crate) fn canonical_from_iam(document: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .ok()?;
    let value: Value = serde_json::from_str(&decoded).ok()?;
    Some(canonical(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lambda_acting_for_this_account_may_assume_the_role() {
        let arns = crate::deploy::desired::tests::desired().arns;
        let trust: Value = serde_json::from_str(&trust_policy(&arns)).unwrap();
        let statement = &trust["Statement"][0];
        assert_eq!(statement["Principal"]["Service"], "lambda.amazonaws.com");
        assert_eq!(statement["Action"], "sts:AssumeRole");
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }

    #[test]
    fn a_policy_keeps_what_lambda_releases_interfaces_with_once() {
        let logs = canonical(&json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "OwnLogGroup", "Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "*"}
        ]}));
        assert!(!releases_interfaces(&logs));
        let kept = with_interface_release(&logs);
        assert!(releases_interfaces(&kept));
        assert_eq!(with_interface_release(&kept), kept, "added once");
        let value: Value = serde_json::from_str(&kept).unwrap();
        assert_eq!(value["Statement"][0]["Sid"], "OwnLogGroup");
        assert_eq!(value["Statement"][1]["Sid"], "ReleaseNetworkInterfaces");
        let only: Value = serde_json::from_str(&interface_release_only()).unwrap();
        assert_eq!(only["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(only["Statement"][0]["Resource"], "*");
    }

    #[test]
    fn iam_encoded_documents_compare_equal() {
        let ours = canonical(&json!({"b": 1, "a": [1, 2]}));
        assert_eq!(
            canonical_from_iam("%7B%22a%22%3A%20%5B1%2C%202%5D%2C%20%22b%22%3A%201%7D"),
            Some(ours.clone())
        );
        assert_eq!(canonical_from_iam(r#"{"b":1,"a":[1,2]}"#), Some(ours));
    }

    #[test]
    fn the_role_reads_exactly_the_stages_secrets() {
        let config = crate::config::parse(
            std::path::Path::new("slx.toml"),
            r#"
            [app]
            name = "shop"
            [secrets]
            DB = "ssm:/shop/db"
            BARE = "ssm:flat"
            TOKEN = { from = "secretsmanager:shop/token", kms_key = "arn:aws:kms:eu-west-1:123456789012:key/k1" }
            OTHER = "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"
            "#
            .into(),
        )
        .unwrap();
        let project = crate::config::resolve(&config, "dev").unwrap();
        let arns = crate::deploy::desired::tests::desired().arns;
        let policy: Value = serde_json::from_str(&role_policy(&project, &arns)).unwrap();
        let statement = |sid: &str| {
            policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap_or_else(|| panic!("no {sid} in {policy}"))
        };
        assert_eq!(
            statement("ReadParameters")["Resource"],
            json!([
                "arn:aws:ssm:eu-west-1:123456789012:parameter/flat",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db"
            ])
        );
        assert_eq!(
            statement("ReadSecrets")["Resource"],
            json!([
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/token-??????"
            ])
        );
        assert_eq!(
            statement("DecryptSecrets")["Resource"],
            json!(["arn:aws:kms:eu-west-1:123456789012:key/k1"])
        );
        // Decrypting only as the stores decrypt a secret for the function.
        assert_eq!(
            statement("DecryptSecrets")["Condition"],
            json!({ "StringEquals": { "kms:ViaService": [
                "ssm.eu-west-1.amazonaws.com",
                "secretsmanager.eu-west-1.amazonaws.com"
            ] } })
        );
    }

    #[test]
    fn only_the_stage_s_schedule_group_may_have_scheduler_assume_its_role() {
        let arns = crate::deploy::desired::tests::desired().arns;
        let trust: Value = serde_json::from_str(&scheduler_trust_policy(&arns)).unwrap();
        let condition = &trust["Statement"][0]["Condition"];
        assert_eq!(
            condition["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        assert_eq!(
            condition["ArnLike"]["aws:SourceArn"],
            json!([
                "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/shop-dev",
                "arn:aws:scheduler:eu-west-1:123456789012:schedule/shop-dev/*"
            ])
        );
    }
}
