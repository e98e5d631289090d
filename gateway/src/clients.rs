//! gRPC clients of the internal services, over lazily connected channels.

use std::time::Duration;

use gatehouse_runtime::clients::{AuthorizationClient, RegistryClient, TokenClient};
use gatehouse_upstream::{Upstream, UpstreamError, UpstreamOptions, Upstreams};
use tonic_health::pb::health_client::HealthClient;

/// Typed clients of every service the gateway calls, and their channels
/// (for health checks).
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    typed: gatehouse_runtime::clients::Clients,
    channels: Upstreams,
}

/// A channel over every replica behind `address` (comma-separated
/// `http://host:port`, re-resolved and health-checked; see
/// [`gatehouse_upstream::upstream`]) with a per-call timeout. Nothing is
/// dialled here: the gateway starts (and answers 503) even while a service
/// is still coming up.
pub fn channel(address: &str, timeout: Duration) -> Result<Upstream, UpstreamError> {
    gatehouse_upstream::upstream::balanced(address, UpstreamOptions { timeout, ..UpstreamOptions::default() })
}

impl Clients {
    pub(crate) fn new(upstreams: Upstreams) -> Self {
        Self { typed: gatehouse_runtime::clients::Clients::new(upstreams.clone()), channels: upstreams }
    }

    pub(crate) fn registry(&self) -> &RegistryClient {
        &self.typed.registry
    }

    pub(crate) fn authorization(&self) -> &AuthorizationClient {
        &self.typed.authorization
    }

    pub(crate) fn token(&self) -> &TokenClient {
        &self.typed.token
    }

    /// The three clients together (what spans every service's audit trail).
    pub(crate) fn all(&self) -> &gatehouse_runtime::clients::Clients {
        &self.typed
    }

    /// The three clients for the admin console: every call carries the
    /// administrator's session, which each service checks (a live session of
    /// an enabled administrator) before it serves the console's rows.
    pub(crate) fn console(
        &self,
        session_token: &str,
    ) -> Result<gatehouse_runtime::clients::Clients, crate::error::GatewayError> {
        self.typed.for_console(session_token).map_err(crate::error::GatewayError::from)
    }

    /// Health clients of every service, with the service's name.
    pub(crate) fn health(&self) -> [(&'static str, HealthClient<Upstream>); 3] {
        [
            ("registry", HealthClient::new(self.channels.registry.clone())),
            ("authorization", HealthClient::new(self.channels.authorization.clone())),
            ("token", HealthClient::new(self.channels.token.clone())),
        ]
    }
}
