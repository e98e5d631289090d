//! The gateway: Gatehouse's only public edge. It parses HTTP, calls the
//! internal services over gRPC and renders their decisions; it holds no
//! OAuth rule and no durable state.

mod clients;
mod headers;
mod routes;

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

pub use clients::{Clients, ClientsError};

/// Gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Upper bound of every internal call, so that a stuck service gives a
    /// 503 rather than a hanging request.
    pub rpc_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self { rpc_timeout: Duration::from_secs(5) }
    }
}

/// Shared state of the HTTP handlers.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) clients: Clients,
    #[allow(dead_code)] // read by the OAuth routes as they land
    pub(crate) config: GatewayConfig,
}

/// Serves HTTP on `listener` until `shutdown` resolves, then finishes
/// in-flight requests.
pub async fn serve(
    config: GatewayConfig,
    clients: Clients,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = routes::router(AppState { clients, config });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
