//! Every name, ARN and URL of a stage, computed here and nowhere else.
//!
//! `StageNames` holds the names AWS resources are found by (they need no
//! account: reads start before the caller's identity is known);
//! `StageArns` adds the region, account and partition, and derives every
//! ARN and URL from them. The partition (`aws`, `aws-cn`, `aws-us-gov`)
//! and its DNS suffix come from the caller identity ARN, never assumed.
//!
//! Pure: no I/O, no SDK.

use std::collections::HashMap;
use std::ops::Deref;

use crate::aws::Tags;

/// The tag keys that mark a resource as a stage's.
pub(crate) const TAG_APP: &str = "slx:app";
pub(crate) const TAG_STAGE: &str = "slx:stage";
/// The fixed statement id of the API's one invoke permission.
pub(crate) const PERMISSION_ID: &str = "slx-apigateway-invoke";
/// The tag key that marks a function as the stage's `[events.NAME]`
/// handler `NAME` (its value).
pub(crate) const TAG_HANDLER: &str = "slx:handler";
/// The tag naming an API key as `slx keys` knows it.
pub(crate) const TAG_KEY: &str = "slx:key";
/// What precedes the imported definition's digest in the REST API's
/// description.
pub(crate) const DEFINITION_MARK: &str = "definition sha256:";
/// The statement id of the permission that lets S3 invoke a handler.
pub(crate) const S3_PERMISSION_ID: &str = "slx-s3-invoke";
/// The statement id that lets the stage's API ask a function authorizer.
pub(crate) const AUTHORIZER_PERMISSION_ID: &str = "slx-apigateway-authorizer";
/// The name of the role's one inline policy.
pub(crate) const POLICY_NAME: &str = "slx";

/// The names of a stage's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageNames {
    pub(crate) app: String,
    pub(crate) stage: String,
    /// `<app>-<stage>`: the Lambda function.
    pub(crate) function: String,
    /// The function's alias: the stage name.
    pub(crate) alias: String,
    /// `<app>-<stage>`: the REST API.
    pub(crate) api: String,
    /// `<app>-<stage>-role`.
    pub(crate) role: String,
    /// `/aws/lambda/<app>-<stage>`: where Lambda writes the function's logs.
    pub(crate) log_group: String,
    /// `/slx/leases/<app>-<stage>/`: the deploy lease's log groups are
    /// named by this prefix and a generation number.
    pub(crate) lease_prefix: String,
    /// `<app>-<stage>-sched`: the role EventBridge Scheduler assumes to
    /// run the stage's schedules.
    pub(crate) scheduler_role: String,
    /// What the stage's event handlers refer to (slx.toml's, this
    /// stage's): reads look these up even before anything exists.
    pub(crate) referenced: Referenced,
}

/// What slx.toml names for a stage that its resources' names and the
/// policies refer to: handlers, buckets, queues, the domain, the roles
/// made elsewhere and the boundary of those slx makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Referenced {
    pub(crate) handlers: std::collections::BTreeSet<String>,
    pub(crate) buckets: std::collections::BTreeSet<String>,
    /// Queues by name or ARN, as written (sources and `on_failure`).
    pub(crate) queues: std::collections::BTreeSet<String>,
    /// The handlers that are function authorizers (a subset of
    /// `handlers`).
    pub(crate) authorizers: std::collections::BTreeSet<String>,
    /// The stage's custom domain and the Route 53 hosted zone of its
    /// alias record, as slx.toml names them.
    pub(crate) domain: Option<(String, Option<String>)>,
    /// The managed policy every role slx makes carries as its
    /// permissions boundary (`permissions_boundary`).
    pub(crate) permissions_boundary: Option<String>,
    /// Roles made elsewhere (`role`, `scheduler_role`): slx makes none of
    /// its own for what they serve.
    pub(crate) function_role: Option<String>,
    pub(crate) scheduler_role: Option<String>,
}

impl Referenced {
    /// Whether slx makes the role EventBridge Scheduler assumes: not when
    /// slx.toml names roles made elsewhere (`role` without
    /// `scheduler_role` is refused for a stage with schedules).
    pub(crate) fn makes_scheduler_role(&self) -> bool {
        self.scheduler_role.is_none() && self.function_role.is_none()
    }
}

impl StageNames {
    pub(crate) fn new(app: &str, stage: &str) -> StageNames {
        let function = format!("{app}-{stage}");
        StageNames {
            app: app.to_string(),
            stage: stage.to_string(),
            alias: stage.to_string(),
            api: function.clone(),
            role: format!("{function}-role"),
            log_group: log_group_of(&function),
            lease_prefix: format!("/slx/leases/{function}/"),
            scheduler_role: format!("{function}-sched"),
            referenced: Referenced::default(),
            function,
        }
    }

    /// `<app>-<stage>-<handler>`: the function of an `[events.NAME]`
    /// handler (its alias is the stage's too).
    pub(crate) fn event_function(&self, handler: &str) -> String {
        format!("{}-{handler}", self.function)
    }

    /// `slx-<app>-<stage>-<handler>`: the id of the handler's entry in a
    /// bucket's notification configuration (S3 has no tags there), and
    /// the `configurationId` its events carry.
    pub(crate) fn s3_notification_id(&self, handler: &str) -> String {
        format!("slx-{}", self.event_function(handler))
    }

    /// `<app>-<stage>`: the stage's EventBridge Scheduler schedule group
    /// (tagged; a schedule itself is named after its handler).
    pub(crate) fn schedule_group(&self) -> &str {
        &self.function
    }

    /// The prefix every event handler's function name starts with.
    pub(crate) fn event_function_prefix(&self) -> String {
        format!("{}-", self.function)
    }

    /// `<app>-<stage>`: the stage's usage plan (tagged).
    pub(crate) fn usage_plan(&self) -> &str {
        &self.function
    }

    /// `<app>-<stage>-<key>`: the API key `slx keys create KEY` makes.
    pub(crate) fn api_key(&self, key: &str) -> String {
        format!("{}-{key}", self.function)
    }

    /// The prefix every stage key's name starts with (`GetApiKeys`
    /// `nameQuery`).
    pub(crate) fn api_key_prefix(&self) -> String {
        format!("{}-", self.function)
    }

    /// The tags an API key is created with: the stage's, and its name as
    /// `slx keys` knows it (another stage's `<app>-<stage>-...` prefix
    /// may overlap; the tags decide).
    pub(crate) fn api_key_tags(&self, key: &str) -> Tags {
        let mut tags = self.tags();
        tags.0.push((TAG_KEY.to_string(), key.to_string()));
        tags
    }

    /// The tags an event handler's function is created with.
    pub(crate) fn handler_tags(&self, handler: &str) -> Tags {
        let mut tags = self.tags();
        tags.0.push((TAG_HANDLER.to_string(), handler.to_string()));
        tags
    }

    /// The tags every resource of the stage is created with.
    pub(crate) fn tags(&self) -> Tags {
        Tags(vec![
            (TAG_APP.to_string(), self.app.clone()),
            (TAG_STAGE.to_string(), self.stage.clone()),
        ])
    }

    /// Whether `tags` mark a resource as this stage's.
    pub(crate) fn owns(&self, tags: &HashMap<String, String>) -> bool {
        tags.get(TAG_APP) == Some(&self.app) && tags.get(TAG_STAGE) == Some(&self.stage)
    }

    /// `slx app shop stage dev`: the description of created resources.
    pub(crate) fn description(&self) -> String {
        format!("slx app {} stage {}", self.app, self.stage)
    }

    /// What a function or the API says it is: slx.toml's `description`
    /// beside slx's own words (`Orders API (slx app shop stage dev)`),
    /// or slx's alone.
    pub(crate) fn described(&self, description: Option<&str>) -> String {
        match description {
            Some(text) => format!("{text} ({})", self.description()),
            None => self.description(),
        }
    }

    /// The REST API's description once a definition is imported (`text`:
    /// what [`described`](Self::described) gives): it records that
    /// definition's digest (what reading the API back cannot show whole:
    /// a CORS mock's answer, gateway responses).
    pub(crate) fn api_description(&self, text: &str, digest: &str) -> String {
        format!("{text}; {DEFINITION_MARK}{digest}")
    }
}

/// `/aws/lambda/<function>`: where Lambda writes a function's logs.
pub(crate) fn log_group_of(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// An AWS partition and the DNS suffix of its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    pub(crate) id: String,
    pub(crate) dns_suffix: String,
}

impl Partition {
    /// The partition named in an ARN (`arn:aws-cn:iam::1:user/x`).
    pub(crate) fn from_arn(arn: &str) -> Option<Partition> {
        let id = arn.strip_prefix("arn:")?.split(':').next()?;
        Some(Partition::named(id))
    }

    /// The partition a region belongs to, when no ARN says.
    pub(crate) fn of_region(region: &str) -> Partition {
        Partition::named(if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        })
    }

    // https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html
    fn named(id: &str) -> Partition {
        let dns_suffix = match id {
            "aws-cn" => "amazonaws.com.cn",
            _ => "amazonaws.com",
        };
        Partition {
            id: id.to_string(),
            dns_suffix: dns_suffix.to_string(),
        }
    }
}

/// A stage's names placed in one region of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageArns {
    names: StageNames,
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) partition: Partition,
}

impl Deref for StageArns {
    type Target = StageNames;

    fn deref(&self) -> &StageNames {
        &self.names
    }
}

impl StageArns {
    /// `caller_arn` is the caller identity ARN; its partition wins over
    /// the region's (they agree on real AWS).
    pub(crate) fn new(names: StageNames, region: &str, account: &str, caller_arn: &str) -> Self {
        StageArns {
            names,
            region: region.to_string(),
            account: account.to_string(),
            partition: Partition::from_arn(caller_arn)
                .unwrap_or_else(|| Partition::of_region(region)),
        }
    }

    pub(crate) fn names(&self) -> &StageNames {
        &self.names
    }

    fn arn(&self, service: &str, region: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{region}:{}:{resource}",
            self.partition.id, self.account
        )
    }

    pub(crate) fn function_arn(&self) -> String {
        self.arn(
            "lambda",
            &self.region,
            &format!("function:{}", self.function),
        )
    }

    /// The function of event handler `handler`.
    pub(crate) fn event_function_arn(&self, handler: &str) -> String {
        self.arn(
            "lambda",
            &self.region,
            &format!("function:{}", self.event_function(handler)),
        )
    }

    /// The stage alias of event handler `handler`'s function: what its
    /// source invokes.
    pub(crate) fn event_alias_arn(&self, handler: &str) -> String {
        format!("{}:{}", self.event_function_arn(handler), self.alias)
    }

    /// The role EventBridge Scheduler assumes for the stage's schedules:
    /// slx.toml's `scheduler_role`, else the one slx makes.
    pub(crate) fn scheduler_role_arn(&self) -> String {
        match &self.referenced.scheduler_role {
            Some(arn) => arn.clone(),
            None => self.arn("iam", "", &format!("role/{}", self.scheduler_role)),
        }
    }

    /// The stage's schedule group.
    pub(crate) fn schedule_group_arn(&self) -> String {
        self.arn(
            "scheduler",
            &self.region,
            &format!("schedule-group/{}", self.schedule_group()),
        )
    }

    /// Every schedule of the stage's group, as an IAM policy resource.
    pub(crate) fn schedules_arn(&self) -> String {
        self.arn(
            "scheduler",
            &self.region,
            &format!("schedule/{}/*", self.schedule_group()),
        )
    }

    /// The functions of the handlers slx.toml names for the stage (each
    /// with its versions and aliases), as IAM policy resources.
    pub(crate) fn handler_functions_arns(&self) -> Vec<String> {
        self.each_handler(|handler| self.event_function_arn(handler))
    }

    /// Their log groups (and streams), as IAM policy resources.
    pub(crate) fn handler_log_groups_arns(&self) -> Vec<String> {
        self.each_handler(|handler| self.event_log_group_arn(handler))
    }

    /// `arn_of` each handler slx.toml names, and what is under it (`:*`:
    /// a function's versions and aliases, a log group's streams).
    fn each_handler(&self, arn_of: impl Fn(&str) -> String) -> Vec<String> {
        self.referenced
            .handlers
            .iter()
            .map(|handler| arn_of(handler))
            .flat_map(|arn| [format!("{arn}:*"), arn])
            .collect()
    }

    /// Only resources slx tagged as this stage's: with a name pattern
    /// another stage's names can match too (`shop-dev-*` and stage
    /// `dev-eu`'s `shop-dev-eu`), what a statement may touch.
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html#access_tags_control-resources
    pub(crate) fn tagged_as_stage(&self) -> serde_json::Value {
        serde_json::json!({
            "StringEquals": {
                format!("aws:ResourceTag/{TAG_APP}"): self.app,
                format!("aws:ResourceTag/{TAG_STAGE}"): self.stage,
            }
        })
    }

    /// Only requests that tag what they make as this stage's.
    pub(crate) fn tagging_as_stage(&self) -> serde_json::Value {
        serde_json::json!({
            "StringEquals": {
                format!("aws:RequestTag/{TAG_APP}"): self.app,
                format!("aws:RequestTag/{TAG_STAGE}"): self.stage,
            }
        })
    }

    /// Every event handler function of the stage's name (and its versions
    /// and aliases), those slx.toml no longer names too, as an IAM policy
    /// resource: another stage's can match it, so only with
    /// `tagged_as_stage`.
    pub(crate) fn event_functions_arns(&self) -> [String; 2] {
        let base = self.arn(
            "lambda",
            &self.region,
            &format!("function:{}*", self.event_function_prefix()),
        );
        [base.clone(), format!("{base}:*")]
    }

    /// Every event source mapping of the region: Lambda authorises
    /// `ListEventSourceMappings` and mapping ids on this, not per function.
    pub(crate) fn event_source_mappings_arn(&self) -> String {
        self.arn("lambda", &self.region, "event-source-mapping:*")
    }

    /// The streams of handler `handler`'s log group, as a policy resource.
    pub(crate) fn event_log_streams_arn(&self, handler: &str) -> String {
        format!("{}:*", self.event_log_group_arn(handler))
    }

    /// Every handler log group of the stage's name (deployer policy):
    /// only with `tagged_as_stage`, as `event_functions_arns`.
    pub(crate) fn event_log_groups_arns(&self) -> [String; 2] {
        let group =
            self.log_group_arn_of(&format!("{}*", log_group_of(&self.event_function_prefix())));
        [group.clone(), format!("{group}:*")]
    }

    /// A queue slx.toml names by name (in the stage's region and
    /// account) or by ARN (kept as it is).
    pub(crate) fn queue_arn(&self, queue: &str) -> String {
        if queue.starts_with("arn:") {
            queue.to_string()
        } else {
            self.arn("sqs", &self.region, queue)
        }
    }

    /// The schedule of event handler `handler`.
    pub(crate) fn schedule_arn(&self, handler: &str) -> String {
        self.arn(
            "scheduler",
            &self.region,
            &format!("schedule/{}/{handler}", self.schedule_group()),
        )
    }

    /// An SSM parameter of the stage's region and account (`/shop/db`
    /// or `db`: the ARN always has one `/` after `parameter`).
    pub(crate) fn ssm_parameter_arn(&self, name: &str) -> String {
        self.arn(
            "ssm",
            &self.region,
            &format!("parameter/{}", name.trim_start_matches('/')),
        )
    }

    /// A Secrets Manager secret named in slx.toml: its ARN as given, or
    /// by name, with the six random characters Secrets Manager appends.
    // https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_iam-policies.html
    pub(crate) fn secret_arn(&self, id: &str) -> String {
        if id.starts_with("arn:") {
            id.to_string()
        } else {
            self.arn(
                "secretsmanager",
                &self.region,
                &format!("secret:{id}-??????"),
            )
        }
    }

    /// A bucket's ARN (S3 ARNs name neither region nor account).
    pub(crate) fn bucket_arn(&self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}", self.partition.id)
    }

    pub(crate) fn alias_arn(&self) -> String {
        format!("{}:{}", self.function_arn(), self.alias)
    }

    /// The role the stage's functions run with: slx.toml's `role`, else
    /// the one slx makes (IAM is global: no region in the ARN).
    pub(crate) fn role_arn(&self) -> String {
        match &self.referenced.function_role {
            Some(arn) => arn.clone(),
            None => self.arn("iam", "", &format!("role/{}", self.role)),
        }
    }

    /// The log group's streams, as an IAM policy resource.
    pub(crate) fn log_streams_arn(&self) -> String {
        self.arn(
            "logs",
            &self.region,
            &format!("log-group:{}:*", self.log_group),
        )
    }

    /// The log group itself (as Live Tail and tagging name it).
    pub(crate) fn log_group_arn(&self) -> String {
        self.log_group_arn_of(&self.log_group)
    }

    /// The log group of event handler `handler`'s function.
    pub(crate) fn event_log_group_arn(&self, handler: &str) -> String {
        self.log_group_arn_of(&log_group_of(&self.event_function(handler)))
    }

    fn log_group_arn_of(&self, group: &str) -> String {
        self.arn("logs", &self.region, &format!("log-group:{group}"))
    }

    /// Every log group of the stage's deploy lease (and its streams), as
    /// an IAM policy resource.
    pub(crate) fn leases_arn(&self) -> String {
        self.arn(
            "logs",
            &self.region,
            &format!("log-group:{}*", self.lease_prefix),
        )
    }

    /// API Gateway's resource ARNs: the REST API collection and every
    /// API below it. (An API's id is not known before it is created, so
    /// a deployer's rights cannot name it.)
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html
    pub(crate) fn rest_apis_arn(&self) -> String {
        format!(
            "arn:{}:apigateway:{}::/restapis",
            self.partition.id, self.region
        )
    }

    /// Usage plans and API keys, which a deployer's rights cannot narrow
    /// further (their ids are made by API Gateway).
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html
    pub(crate) fn usage_plans_and_keys_arns(&self) -> [String; 2] {
        let base = format!("arn:{}:apigateway:{}::", self.partition.id, self.region);
        [format!("{base}/usageplans"), format!("{base}/apikeys")]
    }

    /// What API Gateway answers API keys' values at: the keys, and each
    /// usage plan's keys.
    pub(crate) fn api_key_values_arns(&self) -> [String; 4] {
        let base = format!("arn:{}:apigateway:{}::", self.partition.id, self.region);
        [
            format!("{base}/apikeys"),
            format!("{base}/apikeys/*"),
            format!("{base}/usageplans/*/keys"),
            format!("{base}/usageplans/*/keys/*"),
        ]
    }

    /// Custom domain names: slx.toml may name any, so the grant names
    /// the collection.
    pub(crate) fn domain_names_arn(&self) -> String {
        format!(
            "arn:{}:apigateway:{}::/domainnames",
            self.partition.id, self.region
        )
    }

    /// The Route 53 hosted zone slx.toml names for the stage's domain
    /// (Route 53 is global: no region, no account).
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonroute53.html
    pub(crate) fn hosted_zone_arns(&self) -> Vec<String> {
        self.names()
            .referenced
            .domain
            .iter()
            .filter_map(|(_, zone)| zone.as_ref())
            .map(|zone| format!("arn:{}:route53:::hostedzone/{zone}", self.partition.id))
            .collect()
    }

    /// What API Gateway calls to reach the stage's alias.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
    pub(crate) fn integration_uri(&self) -> String {
        self.invocation_uri(&self.alias_arn())
    }

    /// What API Gateway calls to invoke a Lambda authorizer's alias.
    pub(crate) fn authorizer_uri(&self, authorizer: &str) -> String {
        self.invocation_uri(&self.event_alias_arn(authorizer))
    }

    fn invocation_uri(&self, function_arn: &str) -> String {
        format!(
            "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
            self.partition.id, self.region
        )
    }

    /// Every method of every stage of REST API `api_id`: the source of
    /// the one invoke permission.
    pub(crate) fn api_source_arn(&self, api_id: &str) -> String {
        self.arn("execute-api", &self.region, &format!("{api_id}/*"))
    }

    /// Every authorizer of REST API `api_id`: the source of the statement
    /// that lets it invoke a function authorizer.
    pub(crate) fn authorizers_source_arn(&self, api_id: &str) -> String {
        self.arn(
            "execute-api",
            &self.region,
            &format!("{api_id}/authorizers/*"),
        )
    }

    /// The stage's public URL.
    pub(crate) fn invoke_url(&self, api_id: &str) -> String {
        format!(
            "https://{api_id}.execute-api.{}.{}/{}",
            self.region, self.partition.dns_suffix, self.stage
        )
    }

    /// The service principals of Lambda and API Gateway. Since 2022 AWS
    /// uses `<service>.amazonaws.com` in every partition, China included.
    // https://docs.amazonaws.cn/en_us/aws/latest/userguide/iam.html
    pub(crate) fn lambda_principal(&self) -> &'static str {
        "lambda.amazonaws.com"
    }

    pub(crate) fn scheduler_principal(&self) -> &'static str {
        "scheduler.amazonaws.com"
    }

    pub(crate) fn s3_principal(&self) -> &'static str {
        "s3.amazonaws.com"
    }

    pub(crate) fn apigateway_principal(&self) -> &'static str {
        "apigateway.amazonaws.com"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arns(region: &str, caller: &str) -> StageArns {
        StageArns::new(
            StageNames::new("shop", "dev"),
            region,
            "123456789012",
            caller,
        )
    }

    #[test]
    fn names_follow_app_and_stage() {
        let names = StageNames::new("shop", "prod");
        assert_eq!(names.function, "shop-prod");
        assert_eq!(names.api, "shop-prod");
        assert_eq!(names.alias, "prod");
        assert_eq!(names.role, "shop-prod-role");
        assert_eq!(names.log_group, "/aws/lambda/shop-prod");
        assert_eq!(names.lease_prefix, "/slx/leases/shop-prod/");
        let tags = HashMap::from([
            (TAG_APP.to_string(), "shop".to_string()),
            (TAG_STAGE.to_string(), "prod".to_string()),
        ]);
        assert!(names.owns(&tags));
        assert!(!StageNames::new("shop", "dev").owns(&tags));
    }

    #[test]
    fn arns_and_urls_in_the_commercial_partition() {
        let arns = arns("eu-west-1", "arn:aws:iam::123456789012:user/ci");
        assert_eq!(
            arns.alias_arn(),
            "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev:dev"
        );
        assert_eq!(
            arns.role_arn(),
            "arn:aws:iam::123456789012:role/shop-dev-role"
        );
        assert_eq!(
            arns.integration_uri(),
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:shop-dev:dev/invocations"
        );
        assert_eq!(
            arns.api_source_arn("abc"),
            "arn:aws:execute-api:eu-west-1:123456789012:abc/*"
        );
        assert_eq!(
            arns.invoke_url("abc"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/dev"
        );
        assert_eq!(
            arns.log_streams_arn(),
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/shop-dev:*"
        );
    }

    #[test]
    fn china_and_govcloud_take_their_partition_from_the_caller() {
        let cn = arns("cn-north-1", "arn:aws-cn:iam::123456789012:user/ci");
        assert_eq!(
            cn.function_arn(),
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:shop-dev"
        );
        assert_eq!(
            cn.invoke_url("abc"),
            "https://abc.execute-api.cn-north-1.amazonaws.com.cn/dev"
        );
        assert!(cn.integration_uri().starts_with("arn:aws-cn:apigateway:"));
        let gov = arns(
            "us-gov-west-1",
            "arn:aws-us-gov:sts::123456789012:assumed-role/r/s",
        );
        assert_eq!(
            gov.role_arn(),
            "arn:aws-us-gov:iam::123456789012:role/shop-dev-role"
        );
        assert!(gov.invoke_url("x").ends_with(".amazonaws.com/dev"));
        // No usable caller ARN (a local endpoint): the region decides.
        assert_eq!(arns("cn-northwest-1", "").partition.id, "aws-cn");
        assert_eq!(arns("us-east-1", "").partition.id, "aws");
    }
}
