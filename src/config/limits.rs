//! What AWS accepts, in one place: ranges, name rules and reserved names.
//!
//! Pure predicates only; callers decide how to report a failure.

use std::collections::BTreeMap;

pub const MEMORY_MB: (u32, u32) = (128, 10240);
pub const TIMEOUT_S: (u32, u32) = (1, 900);
pub const KEEP_VERSIONS: (u32, u32) = (1, 100);
/// `/tmp` of a function, in MB.
// https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html
pub const EPHEMERAL_STORAGE_MB: (u32, u32) = (512, 10240);
/// Layers per function.
// https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
pub const LAYERS_MAX: usize = 5;
/// Subnets and security groups of a function's VPC configuration.
// https://docs.aws.amazon.com/lambda/latest/api/API_VpcConfig.html
pub const VPC_SUBNETS_MAX: usize = 16;
pub const VPC_SECURITY_GROUPS_MAX: usize = 5;
/// Reserved concurrency: at least 1 (0 would stop every request), at most
/// what a raised account quota allows (the default quota is 1000).
pub const CONCURRENCY: (u32, u32) = (1, 10_000);
/// API Gateway's default account limits: 10,000 requests a second, bursts
/// of 5,000; a stage's throttle cannot exceed its account's.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html
pub const THROTTLE_RATE_MAX: f64 = 10_000.0;
pub const THROTTLE_BURST_MAX: u32 = 5_000;
/// API Gateway's default maximum integration timeout.
pub const API_GATEWAY_TIMEOUT_S: u32 = 29;
/// Lambda's limit on the total size of a function's environment.
pub const ENV_BYTES: usize = 4096;
/// Characters of `description`: Lambda takes 256 for a function's
/// description, and slx adds ` (slx app APP stage STAGE)`, at most 75.
pub const DESCRIPTION_MAX: usize = 180;
/// The longest IAM role name; `<app>-<stage>-role` must fit.
pub const ROLE_NAME_MAX: usize = 64;
/// The longest Lambda function name.
pub const FUNCTION_NAME_MAX: usize = 64;

/// API Gateway's per-API quotas a stage's routes can exceed and an
/// account can have raised: slx.toml's key (`raised_quotas`), AWS's name
/// for it and its default.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html
pub const RAISABLE_API_QUOTAS: [(&str, &str, u32); 2] = [
    ("resources_per_api", "Resources per API", 300),
    ("authorizers_per_api", "Authorizers per API", 10),
];
/// The largest OpenAPI definition `PutRestApi` takes; not raisable.
// https://docs.aws.amazon.com/apigateway/latest/api/API_PutRestApi.html
pub const API_DEFINITION_BYTES: usize = 6 * 1024 * 1024;

/// Values CloudWatch Logs accepts for `retentionInDays`.
pub const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Variables Lambda sets itself and refuses in a function's environment.
/// The environment variables Lambda reserves: a function may not set
/// them. Others (`AWS_LAMBDA_EXEC_WRAPPER`, `LANG`, `PATH`, `TZ`, ...) may
/// be set even where Lambda sets a default.
// https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
const LAMBDA_RESERVED: [&str; 18] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Why an app or stage name is unusable, if it is.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("it must start with a lowercase letter");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("only lowercase letters, digits and `-` are allowed");
    }
    if name.ends_with('-') {
        return Some("it must not end with `-`");
    }
    None
}

/// Why `<app>-<stage>` cannot name the stage's AWS resources, if it cannot.
pub fn resource_name_problem(app: &str, stage: &str) -> Option<String> {
    let role = crate::names::StageNames::new(app, stage).role;
    if role.len() > ROLE_NAME_MAX {
        return Some(format!(
            "`{role}` is {} characters; IAM role names allow {ROLE_NAME_MAX} (and Lambda function names {FUNCTION_NAME_MAX})",
            role.len()
        ));
    }
    None
}

/// Why the function of event handler `handler` (a schedule's, when
/// `scheduled`: the stage then has a scheduler role too) cannot exist in
/// `stage`.
pub fn event_function_problem(
    app: &str,
    stage: &str,
    handler: &str,
    scheduled: bool,
) -> Option<String> {
    let names = crate::names::StageNames::new(app, stage);
    let function = names.event_function(handler);
    if function.len() > FUNCTION_NAME_MAX {
        return Some(format!(
            "its function `{function}` is {} characters; Lambda allows {FUNCTION_NAME_MAX}",
            function.len()
        ));
    }
    let role = names.scheduler_role;
    (scheduled && role.len() > ROLE_NAME_MAX).then(|| {
        format!(
            "the stage's scheduler role `{role}` is {} characters; IAM allows {ROLE_NAME_MAX}",
            role.len()
        )
    })
}

/// The region of a layer version ARN
/// (`arn:aws:lambda:eu-west-1:123456789012:layer:name:3`), if it is one.
/// The region of a queue slx.toml gives as an ARN (`None` for a name,
/// which is the stage's region's).
pub fn queue_region(queue: &str) -> Option<&str> {
    let parts: Vec<&str> = queue.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", region, _, _] if region_looks_valid(region) => Some(region),
        _ => None,
    }
}

/// Why a handler's queue (its source, or `on_failure`) cannot serve a
/// stage in `region`: slx maps, checks and grants queues of the stage's
/// region only (Lambda maps only those to a function).
/// <https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html>
pub fn queue_region_problem(queue: &str, region: &str) -> Option<String> {
    let found = queue_region(queue)?;
    (found != region)
        .then(|| format!("queue `{queue}` is in {found}, the stage's functions in {region}"))
}

/// How to fix a queue of another region.
pub const QUEUE_REGION_FIX: &str = "use a queue of the stage's region: Lambda maps a queue only to functions of its own region, and slx checks and grants queues there";

pub fn layer_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, account, "layer", name, version]
            if region_looks_valid(region)
                && account_looks_valid(account)
                && !name.is_empty()
                && version.parse::<u32>().is_ok() =>
        {
            Some(region)
        }
        _ => None,
    }
}

/// Whether `id` is an EC2 id with `prefix` (`subnet-`, `sg-`): 8 or 17
/// lowercase hex digits after it.
pub fn ec2_id_looks_valid(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        matches!(hex.len(), 8 | 17)
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// Why a bucket name would be refused by S3, if it would.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
pub fn bucket_name_problem(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Some("bucket names are 3 to 63 characters");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
    {
        return Some("bucket names hold only lowercase letters, digits, `.` and `-`");
    }
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge(&bytes[0]) || !edge(&bytes[bytes.len() - 1]) {
        return Some("bucket names start and end with a letter or a digit");
    }
    if name.contains("..") {
        return Some("bucket names cannot hold two dots in a row");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Some("bucket names cannot look like an IP address");
    }
    None
}

/// Why an SQS queue reference (a name or an ARN) is malformed, if it is.
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
pub fn queue_problem(queue: &str) -> Option<String> {
    let name = match queue.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [_, "sqs", region, account, name]
                    if region_looks_valid(region) && account_looks_valid(account) =>
                {
                    *name
                }
                _ => {
                    return Some(format!(
                        "`{queue}` is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)"
                    ));
                }
            }
        }
        None => queue,
    };
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    let valid = !stem.is_empty()
        && name.len() <= 80
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (!valid).then(|| {
        format!(
            "`{name}` is not a queue name: 1 to 80 letters, digits, `-` and `_` (a FIFO queue's ends in `.fifo`)"
        )
    })
}

/// Why an environment variable name is refused, if it is.
pub fn env_name_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Some("must start with a letter and hold only letters, digits and `_`");
    }
    if LAMBDA_RESERVED.contains(&name) {
        return Some("is reserved by the Lambda runtime");
    }
    None
}

/// Size of the environment as Lambda counts it: the JSON of the variables.
pub fn env_size(env: &BTreeMap<String, String>) -> usize {
    serde_json::to_string(env).map_or(usize::MAX, |json| json.len())
}

pub fn is_rust_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name != "_"
}

/// API Gateway path parameters are used as Rust argument names too.
pub fn is_param_name(name: &str) -> bool {
    is_rust_identifier(name)
}

/// Characters API Gateway accepts in a literal path part: its own error
/// says "Resource's path part only allow a-zA-Z0-9._-", and the colon is
/// accepted too.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html
pub fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._:".contains(c)
}

/// Twelve digits, as AWS writes account ids.
pub fn account_looks_valid(account: &str) -> bool {
    account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())
}

/// What an IAM ARN names: a `role` or a managed `policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamKind {
    Role,
    Policy,
}

/// Whether `arn` names exactly one IAM role or managed policy:
/// `arn:PARTITION:iam::ACCOUNT:KIND/[PATH/]NAME`, names of IAM's
/// characters and no wildcard (AWS's own policies, account `aws`, are
/// policies only).
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns
pub fn iam_arn_looks_valid(arn: &str, kind: IamKind) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, "iam", "", account, resource] = parts.as_slice() else {
        return false;
    };
    let (prefix, owner_ok) = match kind {
        IamKind::Role => ("role/", account_looks_valid(account)),
        IamKind::Policy => ("policy/", account_looks_valid(account) || *account == "aws"),
    };
    let name_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    partition.starts_with("aws")
        && owner_ok
        && resource.strip_prefix(prefix).is_some_and(|path| {
            path.split('/')
                .all(|part| !part.is_empty() && part.chars().all(name_char))
        })
}

/// `xx-xxxx-N` shaped, e.g. `eu-west-1`, `us-gov-west-1`, `ap-southeast-4`.
pub fn region_looks_valid(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_shared_charset() {
        assert_eq!(name_problem("shop-2"), None);
        assert!(name_problem("Shop").is_some());
        assert!(name_problem("2shop").is_some());
        assert!(name_problem("shop_x").is_some());
        assert!(name_problem("shop-").is_some());
        assert!(name_problem("").is_some());
    }

    #[test]
    fn role_name_length_is_the_binding_limit() {
        let app = "a".repeat(40);
        assert!(resource_name_problem(&app, "prod").is_none());
        assert!(resource_name_problem(&app, &"s".repeat(19)).is_some());
        // 40 + 1 + 18 + 5 = 64: exactly at the limit.
        assert!(resource_name_problem(&app, &"s".repeat(18)).is_none());
    }

    #[test]
    fn a_schedule_needs_room_for_the_scheduler_role_too() {
        // `<app>-<stage>` of 59 characters: `-role` fits, `-sched` does not.
        let (app, stage) = ("a".repeat(40), "s".repeat(18));
        assert!(resource_name_problem(&app, &stage).is_none());
        assert!(event_function_problem(&app, &stage, "q", false).is_none());
        let problem = event_function_problem(&app, &stage, "q", true).unwrap();
        assert!(problem.contains("scheduler role"), "{problem}");
    }

    #[test]
    fn reserved_env_names_are_refused() {
        assert!(env_name_problem("AWS_REGION").is_some());
        assert!(env_name_problem("AWS_LAMBDA_EXEC_WRAPPER").is_none());
        assert!(env_name_problem("TZ").is_none());
        assert!(env_name_problem("_HANDLER").is_some());
        assert!(env_name_problem("1ABC").is_some());
        assert!(env_name_problem("GREETING").is_none());
    }

    #[test]
    fn env_size_counts_json() {
        let env = BTreeMap::from([("A".to_string(), "bc".to_string())]);
        assert_eq!(env_size(&env), r#"{"A":"bc"}"#.len());
    }

    #[test]
    fn regions() {
        assert!(region_looks_valid("eu-west-1"));
        assert!(region_looks_valid("us-gov-west-1"));
        assert!(!region_looks_valid("europe"));
        assert!(!region_looks_valid("eu-west"));
    }
}
