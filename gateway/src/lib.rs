//! The gateway: Gatehouse's only public edge. It parses HTTP, calls the
//! internal services over gRPC and renders their decisions; it holds no
//! OAuth rule and no durable state.

mod clients;
mod cors;
mod cross_site;
mod edge;
mod error;
mod forwarded;
mod headers;
mod i18n;
mod observe;
#[cfg(test)]
mod properties;
pub mod render;
pub use edge::EdgeLimits;
mod routes;
pub use routes::rest_access::{REST_ACCESS, RestAccess, markdown as rest_access_markdown};
mod session;
mod shed;

use std::future::Future;

use gatehouse_upstream::Upstreams;
use tokio::net::TcpListener;

use clients::Clients;
pub use clients::channel;
pub use forwarded::TrustedProxies;
pub use session::FormKey;

/// Gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The public base URL (the OAuth issuer identifier), without a trailing slash.
    pub issuer: String,
    /// Who may create an account at `/signup` (what the pages offer; the
    /// registry enforces it).
    pub signup: gatehouse_runtime::signup::SignupPolicy,
    /// Whether the registry mails links (password reset, address
    /// confirmation): the pages then offer them.
    pub mail_enabled: bool,
    /// The proxies whose `X-Forwarded-For` hops say who the client is.
    pub trusted_proxies: TrustedProxies,
    /// Binds sign-in form tokens to their cookies; the same on every
    /// replica. `None`: a key of this process (one gateway only).
    pub form_key: Option<FormKey>,
    /// Fires when shutdown begins: `/readyz` answers 503 from then on, so
    /// that Kubernetes stops routing here while the gateway still serves.
    pub draining: Option<gatehouse_runtime::Shutdown>,
    /// Requests served at once; past it, 503 with `Retry-After` at once.
    pub max_concurrent_requests: usize,
    /// Sizes and times of what a client may send (see `edge`).
    pub limits: EdgeLimits,
    /// The hash of the operator token that `POST /admin/tokens/revoke`
    /// requires; `None` turns the endpoint off.
    pub operator_token_hash: Option<gatehouse_oauth::SecretHash>,
    /// Whether the registry takes dynamic registrations (RFC 7591): the
    /// metadata then names `registration_endpoint`.
    pub dynamic_registration: bool,
    /// Whether the registry fetches client ID metadata documents: the
    /// metadata then says `client_id_metadata_document_supported`.
    pub client_id_metadata_documents: bool,
    /// The time the console's "last day" and "last N hours" count from: the
    /// services' clock (a test's own), the wall clock by default.
    pub clock: std::sync::Arc<dyn gatehouse_oauth::Clock>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".to_owned(),
            signup: gatehouse_runtime::signup::SignupPolicy::default(),
            mail_enabled: false,
            trusted_proxies: TrustedProxies::None,
            form_key: None,
            draining: None,
            max_concurrent_requests: 512,
            limits: EdgeLimits::default(),
            operator_token_hash: None,
            dynamic_registration: false,
            client_id_metadata_documents: true,
            clock: std::sync::Arc::new(gatehouse_oauth::SystemClock),
        }
    }
}

impl GatewayConfig {
    /// Now, in Unix milliseconds, by the configured clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Cookies are `Secure` unless the issuer is plain http on a loopback
    /// host (local development, where browsers would drop them).
    pub(crate) fn secure_cookies(&self) -> bool {
        let Some(rest) = self.issuer.strip_prefix("http://") else {
            return true;
        };
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host
            .rsplit_once(':')
            .map_or(host, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { host });
        !matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    }
}

/// Shared state of the HTTP handlers, behind one `Arc`: axum clones the
/// state for every extractor and middleware of every request, and a deep
/// clone (the service clients' channels, the configuration's strings) cost
/// several percent of a token request's CPU.
#[derive(Debug, Clone)]
pub(crate) struct AppState(std::sync::Arc<Shared>);

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) clients: Clients,
    pub(crate) config: GatewayConfig,
    /// The issuer's origin (`scheme://host[:port]`), computed once.
    pub(crate) origin: std::sync::Arc<str>,
    pub(crate) form_key: FormKey,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The gateway, built: the public HTTP surface over the internal services.
#[derive(Debug, Clone)]
pub struct Gateway {
    state: AppState,
}

/// Builds the gateway from its configuration and the services it calls
/// (channels only: nothing is dialled until a request needs a service).
pub fn build(config: GatewayConfig, upstreams: Upstreams) -> Gateway {
    let origin = cross_site::issuer_origin(&config.issuer).into();
    let form_key = config.form_key.clone().unwrap_or_else(FormKey::random);
    let shared = Shared { clients: Clients::new(upstreams), config, origin, form_key };
    Gateway { state: AppState(std::sync::Arc::new(shared)) }
}

/// Serves HTTP on `listener` until `shutdown` resolves, then finishes
/// in-flight requests.
pub async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = gateway.state.config.limits;
    edge::serve(routes::router(gateway.state), listener, limits, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_except_on_plain_http_loopback() {
        let config = |issuer: &str| GatewayConfig { issuer: issuer.to_owned(), ..GatewayConfig::default() };
        assert!(!config("http://127.0.0.1:8080").secure_cookies());
        assert!(!config("http://localhost").secure_cookies());
        assert!(config("https://auth.example").secure_cookies());
        assert!(config("http://auth.example").secure_cookies());
        assert!(config("https://127.0.0.1").secure_cookies());
    }
}
