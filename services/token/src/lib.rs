//! The token service: issues access and refresh tokens (authorization_code,
//! refresh_token with rotation, client_credentials), introspects them and
//! revokes them.
//!
//! SQL (`token_*` tables) is the truth; the cache (Redis, or in process)
//! holds each active token's record for its remaining lifetime and a
//! tombstone for each revoked one, so that revocation is immediate on every
//! path and introspection survives a cache outage by reading SQL.

mod authorize_api;
mod cache;
mod callers;
mod cleanup;
mod client_auth;
mod clients;
mod config;
mod convert;
mod dpop;
mod error;
mod exchange;
mod grant;
mod grpc;
mod identity;
mod introspect;
mod issue;
pub mod keys;
pub mod migration;
mod personal;
mod revoke;
mod service;
mod ssf;
mod store;
mod throttle;
mod watch;

use std::future::Future;
use std::sync::Arc;

use gatehouse_runtime::grpc::{ServeError, ServerLimits};
use gatehouse_runtime::part::Dependencies;
use tokio::net::TcpListener;

pub use config::TokenConfig;
pub use error::{TokenError, TokenResult};
pub use gatehouse_runtime::kek::KeyEncryptionKey;
pub use service::TokenService;
pub use ssf::SsfConfig;
pub use throttle::ThrottleLimits;

/// The tables of this service's audit trail (events, head).
pub const AUDIT_TABLES: (&str, &str) = ("token_audit_events", "token_audit_head");

/// The name this service reports in `grpc.health.v1`.
pub const SERVICE_NAME: &str = "gatehouse.token.v1.TokenService";

/// Builds the service on its dependencies (migrations must have run):
/// loads the signing keys, making the first ones on a first start (sealed
/// under the configured key-encryption key, which must be the same for
/// every replica). It calls the registry and the authorization service.
pub async fn build(config: TokenConfig, deps: Dependencies) -> TokenResult<TokenService> {
    let kek = config.key_encryption_key.clone().ok_or_else(|| {
        TokenError::Internal("the token service needs a key-encryption key to seal its signing keys".to_owned())
    })?;
    let key_store = Arc::new(store::sql::keys::SqlKeyStore::new(deps.db.clone()));
    let keys = Arc::new(keys::Keys::new(key_store, kek, config.key_policy()));
    keys.start(deps.clock.now().timestamp()).await?;
    let audit = gatehouse_runtime::audit::AuditLog::new(deps.db.clone(), "token", AUDIT_TABLES, deps.clock.clone());
    let stores = store::Stores::all(store::sql::SqlTokenStore::new(deps.db.clone()));
    Ok(TokenService::new(config, stores, keys, audit, deps))
}

/// Serves the gRPC API until `shutdown` resolves. Health follows the
/// database only: with the cache down the service still answers from SQL.
pub async fn serve(
    service: TokenService,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    cleanup::spawn(service.clone());
    keys::spawn_schedule(service.inner.keys.clone(), service.inner.clock.clone());
    service.inner.feed.spawn();
    service.inner.ssf.spawn();
    // Revocation streams end when the replica drains (or stops): their
    // consumers resume from their cursors on another replica, and the
    // server's graceful stop is not held open by streams.
    if let Some(draining) = limits.draining.clone() {
        let service = service.clone();
        tokio::spawn(async move {
            draining.wait().await;
            service.inner.feed.close();
        });
    }
    let closing = service.clone();
    let shutdown = async move {
        shutdown.await;
        closing.inner.feed.close();
    };
    let access = callers::verifiers(&service).into_iter().fold(limits.access.clone(), |access, v| access.with(v));
    let refusals = Arc::new(gatehouse_runtime::audit::RefusalsToTrail::new(service.audit().clone()));
    let limits = ServerLimits { access: access.recording_refusals(refusals), ..limits };
    let readiness = service.inner.readiness.clone();
    let routes = tonic::service::Routes::new(grpc::server(service));
    let ready = move || {
        let readiness = readiness.clone();
        async move { readiness.check().await }
    };
    gatehouse_runtime::grpc::serve_service(SERVICE_NAME, routes, ready, listener, limits, shutdown).await
}
