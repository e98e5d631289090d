//! gRPC clients of the internal services, over lazily connected channels.

use std::time::Duration;

use gatehouse_proto::pb::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_upstream::{Upstream, UpstreamError, UpstreamOptions, Upstreams};
use tonic_health::pb::health_client::HealthClient;

/// Channels to every service the gateway calls.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    registry: Upstream,
    authorization: Upstream,
    token: Upstream,
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
        let Upstreams { registry, authorization, token } = upstreams;
        Self { registry, authorization, token }
    }

    pub(crate) fn registry(&self) -> RegistryServiceClient<Upstream> {
        RegistryServiceClient::new(self.registry.clone())
    }

    pub(crate) fn authorization(&self) -> AuthorizationServiceClient<Upstream> {
        AuthorizationServiceClient::new(self.authorization.clone())
    }

    pub(crate) fn token(&self) -> TokenServiceClient<Upstream> {
        TokenServiceClient::new(self.token.clone())
    }

    /// Health clients of every service, with the service's name.
    pub(crate) fn health(&self) -> [(&'static str, HealthClient<Upstream>); 3] {
        [
            ("registry", HealthClient::new(self.registry.clone())),
            ("authorization", HealthClient::new(self.authorization.clone())),
            ("token", HealthClient::new(self.token.clone())),
        ]
    }
}
