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
mod record;
mod redeem_code;
mod service;
mod session;
mod store;
mod throttle;

use std::future::Future;
use std::sync::Arc;

use gatehouse_oauth::Clock;
use gatehouse_runtime::grpc::{ServeError, ServerLimits};
use gatehouse_runtime::kv::Kv;
use gatehouse_upstream::Upstream;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

pub use config::{AuthorizationConfig, DeviceConfig, ThrottleConfig};
pub use error::{AuthzError, AuthzResult};
pub use service::Authorization;

/// The tables of this service's audit trail (events, head).
pub const AUDIT_TABLES: (&str, &str) = ("authz_audit_events", "authz_audit_head");

/// The name this service reports in `grpc.health.v1`.
pub const SERVICE_NAME: &str = "gatehouse.authorization.v1.AuthorizationService";

/// Builds the service on an open database (migrations must have run).
pub fn build(
    config: AuthorizationConfig,
    db: DatabaseConnection,
    kv: Arc<dyn Kv>,
    registry: Upstream,
    clock: Arc<dyn Clock>,
) -> Authorization {
    let audit = gatehouse_runtime::audit::AuditLog::new(db.clone(), "authorization", AUDIT_TABLES, clock.clone());
    Authorization::new(config, Arc::new(store::sql::SqlGrantStore::new(db)), kv, registry, clock, audit)
}

/// Serves the gRPC API until `shutdown` resolves; health follows the
/// database and the cache.
pub async fn serve(
    service: Authorization,
    db: DatabaseConnection,
    kv: Arc<dyn Kv>,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let registry = gatehouse_runtime::registry_client::RegistryCredentials::verifier(service.inner.registry.clone());
    let refusals = Arc::new(gatehouse_runtime::audit::RefusalsToTrail::new(service.audit().clone()));
    let limits = ServerLimits { access: limits.access.clone().with(registry).recording_refusals(refusals), ..limits };
    let routes = tonic::service::Routes::new(grpc::server(service));
    let ready = move || {
        let (db, kv) = (db.clone(), kv.clone());
        async move { gatehouse_runtime::database::ping(&db).await && kv.ping().await.is_ok() }
    };
    gatehouse_runtime::grpc::serve_service(SERVICE_NAME, routes, ready, listener, limits, shutdown).await
}
