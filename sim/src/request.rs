//! What an AWS request is: which service, which operation, whether it
//! changes anything, and which resource it names. Read from the request
//! alone (SigV4 scope, path, `Action=` form field, `X-Amz-Target`).

use hyper::Method;
use hyper::header::HeaderMap;

/// One request as the simulator sees it.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: String,
    /// `lambda`, `apigateway`, `iam`, `sts`, `logs`, or `unknown`.
    pub(crate) service: String,
    /// The AWS operation, e.g. `CreateFunction`, `PutRestApi`.
    pub(crate) operation: String,
    pub(crate) mutating: bool,
    /// The function a Lambda request names (path segment after
    /// `/functions/`), if any.
    pub(crate) function: Option<String>,
    /// The `Qualifier` query parameter of a Lambda request.
    pub(crate) qualifier: Option<String>,
    /// The log group (or name prefix) a CloudWatch Logs request names.
    pub(crate) log_group: Option<String>,
    /// The last path segment (a statement id for `RemovePermission`).
    pub(crate) path_tail: Option<String>,
    /// When it arrived (set by the proxy).
    pub(crate) started_ms: f64,
}

/// The service from the SigV4 credential scope
/// (`Credential=AKID/20261127/us-east-1/lambda/aws4_request`).
fn service_of(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .map(|s| if s == "execute-api" { "apigateway" } else { s })
        .unwrap_or("unknown")
        .to_string()
}

pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_string())
    })
}

fn form_action(body: &[u8]) -> Option<String> {
    query_param(std::str::from_utf8(body).ok()?, "Action")
}

/// Reads of the query and JSON protocols start with these words.
fn is_read(operation: &str) -> bool {
    ["Get", "List", "Describe", "Filter", "StartLiveTail"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// Lambda's REST operations by method and path.
// https://docs.aws.amazon.com/lambda/latest/api/API_Operations.html
fn lambda_operation(method: &Method, segments: &[&str]) -> &'static str {
    // segments: ["2015-03-31", "functions", NAME, ...]
    let rest: Vec<&str> = segments.iter().skip(3).copied().collect();
    match (method.as_str(), segments.get(2).is_some(), rest.as_slice()) {
        ("POST", false, _) => "CreateFunction",
        ("GET", false, _) => "ListFunctions",
        ("GET", true, []) => "GetFunction",
        ("DELETE", true, []) => "DeleteFunction",
        ("GET", true, ["configuration"]) => "GetFunctionConfiguration",
        ("PUT", true, ["configuration"]) => "UpdateFunctionConfiguration",
        ("PUT", true, ["code"]) => "UpdateFunctionCode",
        ("POST", true, ["versions"]) => "PublishVersion",
        ("GET", true, ["versions"]) => "ListVersionsByFunction",
        ("POST", true, ["aliases"]) => "CreateAlias",
        ("GET", true, ["aliases"]) => "ListAliases",
        ("GET", true, ["aliases", _]) => "GetAlias",
        ("PUT", true, ["aliases", _]) => "UpdateAlias",
        ("DELETE", true, ["aliases", _]) => "DeleteAlias",
        ("GET", true, ["policy"]) => "GetPolicy",
        ("POST", true, ["policy"]) => "AddPermission",
        ("DELETE", true, ["policy", _]) => "RemovePermission",
        ("POST", true, ["invocations"]) => "Invoke",
        ("GET", true, ["concurrency"]) => "GetFunctionConcurrency",
        ("PUT", true, ["concurrency"]) => "PutFunctionConcurrency",
        ("DELETE", true, ["concurrency"]) => "DeleteFunctionConcurrency",
        ("GET", true, ["provisioned-concurrency"]) => "GetProvisionedConcurrencyConfig",
        ("PUT", true, ["provisioned-concurrency"]) => "PutProvisionedConcurrencyConfig",
        ("DELETE", true, ["provisioned-concurrency"]) => "DeleteProvisionedConcurrencyConfig",
        _ => "Other",
    }
}

/// Lambda's event source mapping and asynchronous-settings operations,
/// whose paths are not under `/functions/NAME` alone.
fn lambda_other_operation(method: &Method, segments: &[&str]) -> Option<&'static str> {
    let operation = match (method.as_str(), segments) {
        ("POST", [_, "event-source-mappings"]) => "CreateEventSourceMapping",
        ("GET", [_, "event-source-mappings"]) => "ListEventSourceMappings",
        ("GET", [_, "event-source-mappings", _]) => "GetEventSourceMapping",
        ("PUT", [_, "event-source-mappings", _]) => "UpdateEventSourceMapping",
        ("DELETE", [_, "event-source-mappings", _]) => "DeleteEventSourceMapping",
        ("GET", [_, "functions", _, "event-invoke-config"]) => "GetFunctionEventInvokeConfig",
        ("PUT", [_, "functions", _, "event-invoke-config"]) => "PutFunctionEventInvokeConfig",
        ("POST", [_, "functions", _, "event-invoke-config"]) => "UpdateFunctionEventInvokeConfig",
        ("DELETE", [_, "functions", _, "event-invoke-config"]) => "DeleteFunctionEventInvokeConfig",
        _ => return None,
    };
    Some(operation)
}

/// EventBridge Scheduler's REST operations.
// https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Operations.html
fn scheduler_operation(method: &Method, segments: &[&str]) -> &'static str {
    match (method.as_str(), segments) {
        ("GET", ["schedule-groups"]) => "ListScheduleGroups",
        ("POST", ["schedule-groups", _]) => "CreateScheduleGroup",
        ("GET", ["schedule-groups", _]) => "GetScheduleGroup",
        ("DELETE", ["schedule-groups", _]) => "DeleteScheduleGroup",
        ("GET", ["schedules"]) => "ListSchedules",
        ("POST", ["schedules", _]) => "CreateSchedule",
        ("GET", ["schedules", _]) => "GetSchedule",
        ("PUT", ["schedules", _]) => "UpdateSchedule",
        ("DELETE", ["schedules", _]) => "DeleteSchedule",
        ("GET", ["tags", ..]) => "ListTagsForResource",
        ("POST", ["tags", ..]) => "TagResource",
        ("DELETE", ["tags", ..]) => "UntagResource",
        _ => "Other",
    }
}

/// API Gateway's REST operations that the simulator treats specially.
// https://docs.aws.amazon.com/apigateway/latest/api/API_Operations.html
fn apigateway_operation(method: &Method, segments: &[&str]) -> String {
    let operation = match (method.as_str(), segments) {
        ("POST", ["restapis"]) => "CreateRestApi",
        ("GET", ["restapis"]) => "GetRestApis",
        ("PUT", ["restapis", _]) => "PutRestApi",
        ("DELETE", ["restapis", _]) => "DeleteRestApi",
        ("POST", ["restapis", _, "deployments"]) => "CreateDeployment",
        ("GET", ["restapis", _, "stages", _]) => "GetStage",
        ("GET", ["restapis", _, "resources"]) => "GetResources",
        ("POST", ["usageplans"]) => "CreateUsagePlan",
        ("PATCH", ["usageplans", _]) => "UpdateUsagePlan",
        ("DELETE", ["usageplans", _]) => "DeleteUsagePlan",
        ("POST", ["usageplans", _, "keys"]) => "CreateUsagePlanKey",
        ("GET", ["usageplans", _, "keys"]) => "GetUsagePlanKeys",
        ("GET", ["apikeys"]) => "GetApiKeys",
        ("POST", ["apikeys"]) => "CreateApiKey",
        ("DELETE", ["apikeys", _]) => "DeleteApiKey",
        ("POST", ["domainnames"]) => "CreateDomainName",
        ("DELETE", ["domainnames", _]) => "DeleteDomainName",
        ("POST", ["domainnames", _, "basepathmappings"]) => "CreateBasePathMapping",
        ("DELETE", ["domainnames", _, "basepathmappings", _]) => "DeleteBasePathMapping",
        ("GET", ..) => "Get",
        _ => "Other",
    };
    operation.to_string()
}

/// Classifies a request.
pub(crate) fn classify(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Call {
    let service = service_of(headers);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
    let (operation, mutating) = if let Some(target) = target {
        let read = is_read(&target);
        (target, !read)
    } else if let Some(action) = form_action(body) {
        let read = is_read(&action);
        (action, !read)
    } else if service == "lambda" {
        let operation = lambda_other_operation(method, &segments)
            .unwrap_or_else(|| lambda_operation(method, &segments))
            .to_string();
        let mutating = *method != Method::GET && operation != "Invoke";
        (operation, mutating)
    } else if service == "scheduler" {
        (
            scheduler_operation(method, &segments).to_string(),
            *method != Method::GET,
        )
    } else if service == "apigateway" {
        (
            apigateway_operation(method, &segments),
            *method != Method::GET,
        )
    } else if service == "route53" {
        let operation = match (method.as_str(), segments.as_slice()) {
            ("POST", [_, "hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
            ("GET", [_, "hostedzone", _, "rrset"]) => "ListResourceRecordSets",
            ("POST", [_, "hostedzone"]) => "CreateHostedZone",
            ("GET", ..) => "Get",
            _ => "Other",
        };
        (operation.to_string(), *method != Method::GET)
    } else if service == "s3"
        && query
            .split('&')
            .any(|p| p == "notification" || p == "notification=")
    {
        let operation = if *method == Method::PUT {
            "PutBucketNotificationConfiguration"
        } else {
            "GetBucketNotificationConfiguration"
        };
        (operation.to_string(), *method == Method::PUT)
    } else {
        ("Other".to_string(), *method != Method::GET)
    };
    let (operation, mutating) = if service == "lambda" && segments.get(1) == Some(&"tags") {
        match method.as_str() {
            "GET" => ("ListTags".to_string(), false),
            "POST" => ("TagResource".to_string(), true),
            _ => ("UntagResource".to_string(), true),
        }
    } else {
        (operation, mutating)
    };
    let function = (service == "lambda" && segments.get(1) == Some(&"functions"))
        .then(|| segments.get(2).map(|s| percent_decode(s)))
        .flatten();
    let log_group = (service == "logs")
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten()
        .and_then(|request| {
            ["logGroupName", "logGroupNamePrefix", "logGroupIdentifier"]
                .iter()
                .find_map(|key| request[*key].as_str().map(str::to_string))
        });
    Call {
        method: method.as_str().to_string(),
        service,
        operation,
        mutating,
        function,
        qualifier: query_param(query, "Qualifier"),
        log_group,
        path_tail: segments.last().map(|s| percent_decode(s)),
        started_ms: 0.0,
    }
}

/// `%3A` → `:` (function names may arrive as ARNs).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A form-encoded field of a query-protocol body (`RoleName=...`).
pub(crate) fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    query_param(text, name).map(|v| percent_decode(&v.replace('+', " ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(service: &str, target: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=AK/20261127/us-east-1/{service}/aws4_request, SignedHeaders=host")
                .parse()
                .unwrap(),
        );
        if let Some(target) = target {
            headers.insert("x-amz-target", target.parse().unwrap());
        }
        headers
    }

    #[test]
    fn operations_of_each_protocol() {
        let op = |method: Method, path: &str, query: &str, service: &str| {
            let call = classify(&method, path, query, &headers(service, None), b"");
            (call.operation, call.mutating)
        };
        assert_eq!(
            op(Method::POST, "/schedules/nightly", "", "scheduler"),
            ("CreateSchedule".into(), true)
        );
        assert_eq!(
            op(Method::GET, "/schedule-groups/shop-dev", "", "scheduler"),
            ("GetScheduleGroup".into(), false)
        );
        assert_eq!(
            op(
                Method::POST,
                "/2015-03-31/event-source-mappings/",
                "",
                "lambda"
            ),
            ("CreateEventSourceMapping".into(), true)
        );
        assert_eq!(
            op(
                Method::PUT,
                "/2019-09-25/functions/f/event-invoke-config",
                "Qualifier=dev",
                "lambda"
            ),
            ("PutFunctionEventInvokeConfig".into(), true)
        );
        assert_eq!(
            op(Method::PUT, "/shop-uploads", "notification", "s3"),
            ("PutBucketNotificationConfiguration".into(), true)
        );
        let call = classify(
            &Method::PUT,
            "/2015-03-31/functions/shop-dev/code",
            "",
            &headers("lambda", None),
            b"",
        );
        assert_eq!(
            (call.operation.as_str(), call.mutating),
            ("UpdateFunctionCode", true)
        );
        assert_eq!(call.function.as_deref(), Some("shop-dev"));
        let call = classify(
            &Method::POST,
            "/2015-03-31/functions/shop-dev/invocations",
            "Qualifier=dev",
            &headers("lambda", None),
            b"{}",
        );
        assert_eq!((call.operation.as_str(), call.mutating), ("Invoke", false));
        assert_eq!(call.qualifier.as_deref(), Some("dev"));
        let call = classify(
            &Method::PUT,
            "/2017-10-31/functions/f/concurrency",
            "",
            &headers("lambda", None),
            b"{}",
        );
        assert_eq!(
            (call.operation.as_str(), call.mutating),
            ("PutFunctionConcurrency", true)
        );
        let call = classify(
            &Method::GET,
            "/2019-09-30/functions/f/concurrency",
            "",
            &headers("lambda", None),
            b"",
        );
        assert_eq!(call.operation, "GetFunctionConcurrency");
        let call = classify(
            &Method::POST,
            "/",
            "",
            &headers("iam", None),
            b"Action=CreateRole&RoleName=r",
        );
        assert_eq!(
            (call.operation.as_str(), call.mutating),
            ("CreateRole", true)
        );
        assert_eq!(
            form_field(b"Action=CreateRole&RoleName=shop-dev-role", "RoleName").as_deref(),
            Some("shop-dev-role")
        );
        let call = classify(
            &Method::POST,
            "/",
            "",
            &headers("logs", Some("Logs_20140328.DescribeLogGroups")),
            b"{}",
        );
        assert_eq!(
            (call.operation.as_str(), call.mutating),
            ("DescribeLogGroups", false)
        );
        let call = classify(
            &Method::POST,
            "/restapis/abc/deployments",
            "",
            &headers("apigateway", None),
            b"{}",
        );
        assert_eq!(
            (call.operation.as_str(), call.mutating),
            ("CreateDeployment", true)
        );
        assert_eq!(percent_decode("arn%3Aaws%3Alambda"), "arn:aws:lambda");
    }
}
