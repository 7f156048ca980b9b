//! What an AWS error means for slx: gone, retry later, or a real failure;
//! and the user-facing error that says which step failed and what to do.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How a deploy should react to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// The resource does not exist.
    NotFound,
    /// Throttling or a 5xx: retry with backoff.
    Transient,
    /// Lambda is still applying the last update, or API Gateway reports a
    /// concurrent change: wait and retry.
    Conflict,
    /// A just-created IAM role is not yet assumable by Lambda.
    RoleNotReady,
    /// The resource already exists (a create that raced or was repeated).
    AlreadyExists,
    /// Credentials are missing, invalid or expired.
    Credentials,
    /// The credentials work but may not call this action.
    AccessDenied,
    /// The endpoint could not be reached at all (DNS, refused, TLS).
    Unreachable,
    /// Anything else: fail the step.
    Fatal,
}

/// Classifies an error from its AWS code, message and HTTP status.
pub(crate) fn classify(
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
) -> ErrorClass {
    let message = message.unwrap_or_default();
    match code.unwrap_or_default() {
        "ResourceNotFoundException"
        | "NoSuchEntity"
        | "NotFoundException"
        | "NoSuchBucket"
        | "AWS.SimpleQueueService.NonExistentQueue"
        | "QueueDoesNotExist" => ErrorClass::NotFound,
        "ThrottlingException"
        | "TooManyRequestsException"
        | "Throttling"
        | "RequestLimitExceeded"
        | "ServiceException"
        | "ServiceUnavailableException"
        | "InternalFailure" => ErrorClass::Transient,
        "ResourceConflictException" | "ConflictException" if message.contains("already exist") => {
            ErrorClass::AlreadyExists
        }
        "ResourceConflictException" | "ConflictException" | "ResourceInUseException" => {
            ErrorClass::Conflict
        }
        // CloudWatch Logs, for concurrent requests that change one log
        // group (CreateLogGroup and DeleteLogGroup of one name); S3, for
        // a conflicting operation on one bucket.
        // https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
        "OperationAbortedException" | "OperationAborted" => ErrorClass::Conflict,
        "EntityAlreadyExists" | "ResourceAlreadyExistsException" => ErrorClass::AlreadyExists,
        "InvalidParameterValueException"
            if message.contains("cannot be assumed")
                || message.contains("role defined for the function")
                // A mapping or destination the role's new policy allows,
                // before Lambda sees that policy.
                || message.contains("role does not have permissions to call") =>
        {
            ErrorClass::RoleNotReady
        }
        // EventBridge Scheduler, before it may assume a new role.
        // https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html
        "ValidationException"
            if message.contains("must allow AWS EventBridge Scheduler to assume the role") =>
        {
            ErrorClass::RoleNotReady
        }
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch" => ErrorClass::Credentials,
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
            ErrorClass::AccessDenied
        }
        _ => match status {
            Some(429) => ErrorClass::Transient,
            Some(s) if s >= 500 => ErrorClass::Transient,
            Some(404) => ErrorClass::NotFound,
            _ => ErrorClass::Fatal,
        },
    }
}

/// An AWS call that failed, with the deploy step it belonged to.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{step} failed: {detail}")]
#[diagnostic(code(slx::aws))]
pub(crate) struct AwsError {
    pub(crate) step: String,
    pub(crate) class: ErrorClass,
    pub(crate) code: Option<String>,
    pub(crate) detail: String,
    #[help]
    pub(crate) hint: Option<String>,
}

impl AwsError {
    /// Wraps an SDK error for `step` ("create function shop-dev").
    /// The same error, reported as part of `step` (an action's
    /// description rather than the AWS call's).
    pub(crate) fn in_step(self, step: impl Into<String>) -> AwsError {
        AwsError {
            step: step.into(),
            ..self
        }
    }

    /// What a read found, or `None` when the credentials may not make it:
    /// for reads a narrower policy leaves out on purpose (another stage's
    /// tags, key values under `--read-only`, a role slx no longer uses).
    pub(crate) fn unless_denied<T>(read: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
        match read {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.class == ErrorClass::AccessDenied => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// An error slx itself raises for `step` (not an AWS answer).
    pub(crate) fn fatal(
        step: impl Into<String>,
        detail: impl Into<String>,
        hint: &str,
    ) -> AwsError {
        AwsError {
            step: step.into(),
            class: ErrorClass::Fatal,
            code: None,
            detail: detail.into(),
            hint: Some(hint.to_string()),
        }
    }

    pub(crate) fn from_sdk<E, R>(step: impl Into<String>, error: &SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HttpStatus,
    {
        let status = error.raw_response().and_then(HttpStatus::status);
        let (code, message) = match error {
            SdkError::ServiceError(service) => (
                service.err().code().map(str::to_string),
                service.err().message().map(redact),
            ),
            other => (None, Some(describe_transport(other))),
        };
        let class = match error {
            _ if message.as_deref().is_some_and(mentions_credentials) => ErrorClass::Credentials,
            SdkError::DispatchFailure(failure) if failure.is_io() => ErrorClass::Unreachable,
            SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_)
            | SdkError::ResponseError(_) => ErrorClass::Transient,
            SdkError::ConstructionFailure(_) => ErrorClass::Credentials,
            _ => classify(code.as_deref(), message.as_deref(), status),
        };
        let detail = match (&code, &message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            (None, Some(message)) => message.clone(),
            (None, None) => format!("HTTP {}", status.map_or("error".into(), |s| s.to_string())),
        };
        AwsError {
            step: step.into(),
            class,
            hint: hint_for(class, message.as_deref()),
            code,
            detail,
        }
    }
}

/// An AWS message without the environment values some messages quote:
/// Lambda's size error appends every variable after "String measured:",
/// and a validation error quotes the value it refused (`Value '...' at
/// 'environment.variables'`).
fn redact(message: &str) -> String {
    let mut text = message.to_string();
    if let Some(at) = text.find("String measured:") {
        text.truncate(at);
        text.push_str("(the variables are not shown)");
    }
    // Every quoted value, not only up to the first that is not an
    // environment value: a message lists several validation errors.
    let mut from = 0;
    while let Some(found) = text[from..].find("Value '") {
        let start = from + found;
        let value_start = start + "Value '".len();
        let Some(end) = text[value_start..].find("' at '") else {
            break;
        };
        let field_start = value_start + end + "' at '".len();
        if text[field_start..].starts_with("environment") {
            let hidden = "Value (not shown)";
            text.replace_range(start..value_start + end + 1, hidden);
            from = start + hidden.len();
        } else {
            from = field_start;
        }
    }
    text
}

fn mentions_credentials(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("no providers in chain provided credentials")
        || text.contains("credentials")
            && (text.contains("provider") || text.contains("expired") || text.contains("missing"))
}

fn describe_transport<E, R>(error: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    // The SDK's Display is terse ("dispatch failure"); the source chain
    // holds the useful part (connection refused, no credentials...).
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The action an AccessDenied message names (`... is not authorized to
/// perform: lambda:ListTags on resource ...`).
fn denied_action(message: &str) -> Option<&str> {
    let rest = message
        .split("perform: ")
        .nth(1)
        .or_else(|| message.split("perform ").nth(1))?;
    let action = rest.split_whitespace().next()?;
    action
        .contains(':')
        .then_some(action.trim_end_matches([',', '.']))
}

pub(crate) fn hint_for(class: ErrorClass, message: Option<&str>) -> Option<String> {
    let hint = match class {
        ErrorClass::AccessDenied => {
            return Some(match message.and_then(denied_action) {
                Some(action) => format!(
                    "these credentials may not call {action}: add it to the deployer's IAM policy (docs/deploy.md lists every action slx calls)"
                ),
                None => "these credentials are not allowed this call: check the deployer's IAM policy (docs/deploy.md lists every action slx calls)".to_string(),
            });
        }
        ErrorClass::Credentials => {
            "no usable AWS credentials: pass --profile NAME (run `aws sso login --profile NAME` for SSO), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; `aws sts get-caller-identity` shows what the AWS CLI sees"
        }
        ErrorClass::Unreachable => {
            "could not connect: check the network, any proxy, and --endpoint-url / AWS_ENDPOINT_URL"
        }
        ErrorClass::Transient => {
            "AWS is throttling or unavailable; run the same command again: it resumes where it stopped"
        }
        ErrorClass::Conflict => {
            "another change to this stage is in progress; wait a minute and run the command again"
        }
        ErrorClass::RoleNotReady => {
            "a new IAM role is still propagating: run the command again in a minute; a role made elsewhere (`role`, `scheduler_role`) must trust the service (`slx iam-policy --roles` prints the trust policy it needs)"
        }
        ErrorClass::NotFound | ErrorClass::AlreadyExists | ErrorClass::Fatal => {
            "fix the cause above and run the command again: it resumes where it stopped"
        }
    };
    Some(hint.to_string())
}

/// The HTTP status of a raw response, where there is one.
pub(crate) trait HttpStatus {
    fn status(&self) -> Option<u16>;
}

/// Event-stream messages (e.g. Live Tail) have no HTTP status.
impl HttpStatus for aws_smithy_types::event_stream::RawMessage {
    fn status(&self) -> Option<u16> {
        None
    }
}

impl HttpStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values_quoted_by_aws_are_never_shown() {
        let size = "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {\"DB_PASSWORD\":\"hunter2\"}";
        let redacted = redact(size);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains("exceeded the 4KB limit"), "{redacted}");
        let validation = "1 validation error detected: Value '{API_KEY=sk-live-123}' at 'environment.variables' failed to satisfy constraint";
        let redacted = redact(validation);
        assert!(!redacted.contains("sk-live-123"), "{redacted}");
        assert!(
            redacted.contains("at 'environment.variables' failed"),
            "{redacted}"
        );
        let other = "Value 'x' at 'functionName' failed to satisfy constraint";
        assert_eq!(redact(other), other, "names are not secrets");
        // Several errors in one message: every environment value goes,
        // after a value that is not one too.
        let several = "2 validation errors detected: Value 'x' at 'functionName' failed; \
                       Value '{TOKEN=tok-9}' at 'environment.variables' failed";
        let redacted = redact(several);
        assert!(!redacted.contains("tok-9"), "{redacted}");
        assert!(
            redacted.contains("Value 'x' at 'functionName'"),
            "{redacted}"
        );
    }

    #[test]
    fn a_denied_call_is_named_in_the_hint() {
        let message = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: lambda:ListTags on resource: arn:aws:lambda:us-east-1:123456789012:function:shop-dev because no identity-based policy allows the lambda:ListTags action";
        assert_eq!(denied_action(message), Some("lambda:ListTags"));
        let hint = hint_for(ErrorClass::AccessDenied, Some(message)).unwrap();
        assert!(hint.contains("may not call lambda:ListTags"), "{hint}");
        assert!(
            !hint.contains("credentials:"),
            "not a credentials problem: {hint}"
        );
        assert_eq!(denied_action("Access Denied"), None);
    }

    #[test]
    fn recognises_missing_credentials_in_transport_errors() {
        assert!(mentions_credentials(
            "dispatch failure: other: the credential provider was not enabled: no providers in chain provided credentials"
        ));
        assert!(!mentions_credentials(
            "dispatch failure: io error: Connection refused"
        ));
    }

    #[test]
    fn classifies_the_errors_a_deploy_meets() {
        let c = |code, message, status| classify(Some(code), Some(message), status);
        assert_eq!(
            c(
                "ValidationException",
                "The execution role you provide must allow AWS EventBridge Scheduler to assume the role.",
                Some(400)
            ),
            ErrorClass::RoleNotReady
        );
        assert_eq!(
            c(
                "InvalidParameterValueException",
                "The function execution role does not have permissions to call ReceiveMessage on SQS",
                Some(400)
            ),
            ErrorClass::RoleNotReady
        );
        assert_eq!(
            c(
                "NoSuchBucket",
                "The specified bucket does not exist",
                Some(404)
            ),
            ErrorClass::NotFound
        );
        assert_eq!(
            c("ResourceNotFoundException", "Function not found", Some(404)),
            ErrorClass::NotFound
        );
        assert_eq!(c("NoSuchEntity", "role", Some(404)), ErrorClass::NotFound);
        assert_eq!(
            c("TooManyRequestsException", "Rate exceeded", Some(429)),
            ErrorClass::Transient
        );
        assert_eq!(
            c(
                "ResourceConflictException",
                "An update is in progress for resource",
                Some(409)
            ),
            ErrorClass::Conflict
        );
        assert_eq!(
            c(
                "ResourceConflictException",
                "Function already exist: shop-dev",
                Some(409)
            ),
            ErrorClass::AlreadyExists
        );
        assert_eq!(
            c(
                "InvalidParameterValueException",
                "The role defined for the function cannot be assumed by Lambda.",
                Some(400)
            ),
            ErrorClass::RoleNotReady
        );
        assert_eq!(
            c("EntityAlreadyExists", "Role exists", Some(409)),
            ErrorClass::AlreadyExists
        );
        assert_eq!(
            c("ExpiredToken", "expired", Some(403)),
            ErrorClass::Credentials
        );
        assert_eq!(
            c(
                "AccessDeniedException",
                "User: arn:aws:iam::1:user/ci is not authorized to perform: lambda:ListTags on resource: arn",
                Some(403)
            ),
            ErrorClass::AccessDenied
        );
        assert_eq!(
            c("ValidationException", "bad", Some(400)),
            ErrorClass::Fatal
        );
        assert_eq!(classify(None, None, Some(503)), ErrorClass::Transient);
        assert_eq!(classify(None, None, Some(404)), ErrorClass::NotFound);
    }
}
