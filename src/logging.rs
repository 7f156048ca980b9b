//! What slx's own diagnostics (`-v`, `-vv`, `SLX_LOG`) may never show:
//! the SigV4 signer's canonical request (it holds the session token) and
//! the AWS SDK's request and response logging (bodies hold environment
//! values and policies). Pure: the binary's tracing setup asks it.

use tracing::Level;

/// Targets whose events below INFO carry request or response contents.
const WIRE_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_sdk_",
    "hyper",
    "h2",
    "rustls",
];

/// Whether an event of `target` at `level` could print a secret.
pub fn may_leak(target: &str, level: Level) -> bool {
    if target.starts_with("aws_sigv4") {
        // Its DEBUG and TRACE lines are the canonical request and the
        // string to sign.
        return level > Level::WARN;
    }
    WIRE_TARGETS.iter().any(|t| target.starts_with(t)) && level > Level::INFO
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_and_the_wire_are_capped_and_slx_is_not() {
        assert!(may_leak("aws_sigv4::http_request::sign", Level::DEBUG));
        assert!(!may_leak("aws_sigv4::http_request::sign", Level::WARN));
        assert!(may_leak(
            "aws_smithy_runtime::client::orchestrator",
            Level::TRACE
        ));
        assert!(may_leak("aws_sdk_lambda::operation", Level::DEBUG));
        assert!(!may_leak(
            "aws_smithy_runtime::client::orchestrator",
            Level::INFO
        ));
        assert!(!may_leak("slx::deploy::apply", Level::TRACE));
    }
}
