//! The authorization service: login sessions, consents (grants) and
//! single-use authorization codes, i.e. RFC 6749 §4.1 up to the code.
//!
//! Sessions, pending requests, codes and login throttles live in the cache
//! (Redis, or the in-process cache of the embedded default); grants live in
//! its own `authz_*` tables. Users and applications are asked of the
//! registry over gRPC.

mod begin_authorization;
mod code;
mod config;
mod convert;
mod decide;
mod device;
mod end_session;
mod error;
mod grants;
mod grpc;
pub mod migration;
mod pushed;
mod record;
mod redeem_code;
mod service;
mod session;
mod store;
mod throttle;

use std::future::Future;
use std::sync::Arc;

use gatehouse_runtime::grpc::{ServeError, ServerLimits};
use gatehouse_runtime::part::Dependencies;
use tokio::net::TcpListener;

pub use config::{AuthorizationConfig, DeviceConfig, PushedConfig, ThrottleConfig};
pub use error::{AuthzError, AuthzResult};
pub use service::Authorization;

/// The tables of this service's audit trail (events, head).
pub const AUDIT_TABLES: (&str, &str) = ("authz_audit_events", "authz_audit_head");

/// The name this service reports in `grpc.health.v1`.
pub const SERVICE_NAME: &str = "gatehouse.authorization.v1.AuthorizationService";

/// Builds the service on its dependencies (migrations must have run): it
/// calls the registry, keeps sessions and codes in the cache, and is ready
/// while both the database and the cache answer.
pub async fn build(config: AuthorizationConfig, deps: Dependencies) -> AuthzResult<Authorization> {
    let audit =
        gatehouse_runtime::audit::AuditLog::new(deps.db.clone(), "authorization", AUDIT_TABLES, deps.clock.clone());
    let grants = Arc::new(store::sql::SqlGrantStore::new(deps.db.clone()));
    let sessions = Arc::new(store::sql::SqlSessionStore::new(deps.db.clone()));
    let readiness = deps.database_and_cache_readiness();
    let stores: (Arc<dyn store::GrantStore>, Arc<dyn store::SessionStore>) = (grants, sessions);
    Ok(Authorization::new(config, stores, deps.kv, deps.upstreams.registry, deps.clock, audit, readiness))
}

/// Serves the gRPC API until `shutdown` resolves; health follows the
/// database and the cache.
pub async fn serve(
    service: Authorization,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let registry = gatehouse_runtime::clients::registry::RegistryCredentials::verifier(service.inner.registry.clone());
    let refusals = Arc::new(gatehouse_runtime::audit::RefusalsToTrail::new(service.audit().clone()));
    let limits = ServerLimits { access: limits.access.clone().with(registry).recording_refusals(refusals), ..limits };
    let readiness = service.inner.readiness.clone();
    let routes = tonic::service::Routes::new(grpc::server(service));
    let ready = move || {
        let readiness = readiness.clone();
        async move { readiness.check().await }
    };
    gatehouse_runtime::grpc::serve_service(SERVICE_NAME, routes, ready, listener, limits, shutdown).await
}
