//! Keeps a custom endpoint's host on operations that AWS serves from a
//! prefixed host (CloudWatch Logs `StartLiveTail` goes to
//! `streaming-logs.<region>.amazonaws.com`). Against `--endpoint-url`
//! (a local moto, a proxy) the prefix makes a host that does not resolve.
//!
//! Installed only when an endpoint URL is set; changes nothing else.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug)]
pub(crate) struct KeepEndpointHost {
    /// `host[:port]` of the configured endpoint.
    pub(crate) authority: String,
}

impl KeepEndpointHost {
    pub(crate) fn for_endpoint(endpoint: &str) -> Option<KeepEndpointHost> {
        let rest = endpoint
            .split_once("://")
            .map_or(endpoint, |(_, rest)| rest);
        let authority = rest.split('/').next()?.to_string();
        (!authority.is_empty()).then_some(KeepEndpointHost { authority })
    }

    /// The URI with a `<prefix>-` in front of the endpoint's host removed.
    pub(crate) fn unprefixed(&self, uri: &str) -> Option<String> {
        let (scheme, rest) = uri.split_once("://")?;
        let (prefix, tail) = rest.split_once('-')?;
        (tail.starts_with(&self.authority) && !prefix.contains('.') && !prefix.contains('/'))
            .then(|| format!("{scheme}://{tail}"))
    }
}

impl Intercept for KeepEndpointHost {
    fn name(&self) -> &'static str {
        "KeepEndpointHost"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if let Some(fixed) = self.unprefixed(request.uri()) {
            request.set_uri(fixed)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_a_prefix_added_to_the_endpoint_host() {
        let keep = KeepEndpointHost::for_endpoint("http://127.0.0.1:5000").unwrap();
        assert_eq!(
            keep.unprefixed("http://streaming-127.0.0.1:5000/")
                .as_deref(),
            Some("http://127.0.0.1:5000/")
        );
        assert_eq!(keep.unprefixed("http://127.0.0.1:5000/"), None);
        let keep = KeepEndpointHost::for_endpoint("https://logs.example.com").unwrap();
        assert_eq!(keep.unprefixed("https://other-logs.example.org/"), None);
    }
}
