//! A gate in front of every request of a [`Writer`](super::Writer): an
//! SDK interceptor that asks, as the last step before each attempt is
//! handed to the HTTP client (signed; the SDK's own retries and slx's
//! included), whether writing is still allowed, and refuses the request
//! unsent when it is not. Asked any earlier, a process stopped between
//! the question and the send would send on resuming.
//!
//! The deploy lease installs one so that a process which stalled past its
//! lease (a suspended laptop, a paused CI job) cannot send a single write
//! once it runs again. Knows nothing of leases: it only asks.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Whether a write may be sent now; `Err` says why not.
pub(crate) type Admit = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

#[derive(Clone)]
pub(crate) struct WriteGate {
    pub(crate) admit: Admit,
}

impl std::fmt::Debug for WriteGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteGate")
    }
}

impl Intercept for WriteGate {
    fn name(&self) -> &'static str {
        "WriteGate"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        (self.admit)().map_err(BoxError::from)
    }
}
