//! What slx's own diagnostics (`-v`, `-vv`, `SLX_LOG`) may show, as an
//! allow list: slx's own events at any level; below WARN, only the SDK's
//! retry decisions of everyone else's. Other crates' debug lines carry
//! what must never reach a terminal or a CI log: the SigV4 signer's
//! canonical request (it holds the session token), the SDK's request and
//! response bodies (environment values, policies), `ureq`'s URLs (a
//! presigned code URL during `slx promote`), `aws_config`'s
//! `credential_process` command line. A crate added later stays quiet
//! until it is listed here. Pure: the binary's tracing setup asks it.

use tracing::Level;

/// Targets whose events below WARN may be shown: slx's own, and the SDK's
/// retry strategy (which attempt, after how long; no request contents).
const OPEN_TARGETS: &[&str] = &["slx", "aws_smithy_runtime::client::retries"];

/// Whether an event of `target` at `level` could print a secret.
pub fn may_leak(target: &str, level: Level) -> bool {
    let open = OPEN_TARGETS.iter().any(|open| {
        target == *open
            || target
                .strip_prefix(open)
                .is_some_and(|rest| rest.starts_with("::"))
    });
    !open && level > Level::WARN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slx_and_the_retry_strategy_speak_below_warn() {
        for (target, level) in [
            ("aws_sigv4::http_request::sign", Level::DEBUG),
            ("aws_smithy_runtime::client::orchestrator", Level::TRACE),
            ("aws_smithy_runtime::client::orchestrator", Level::INFO),
            ("aws_sdk_lambda::operation", Level::DEBUG),
            ("ureq::unversioned::transport", Level::TRACE),
            ("aws_config::profile::credentials::exec", Level::DEBUG),
            ("slxother", Level::DEBUG),
        ] {
            assert!(may_leak(target, level), "{target} at {level}");
        }
        for (target, level) in [
            ("slx", Level::TRACE),
            ("slx::deploy::apply", Level::TRACE),
            (
                "aws_smithy_runtime::client::retries::strategy::standard",
                Level::DEBUG,
            ),
            ("aws_sigv4::http_request::sign", Level::WARN),
            ("hyper", Level::ERROR),
        ] {
            assert!(!may_leak(target, level), "{target} at {level}");
        }
    }
}
