//! The registry service: user accounts, applications (OAuth clients), their
//! client secrets and the scope catalogue.
//!
//! It owns the `registry_*` tables and nothing else; other services reach
//! this data only through its gRPC API.

mod applications;
mod assertion;
mod config;
mod convert;
mod credentials;
mod dependents;
mod error;
pub mod fetch;
mod grpc;
mod metadata_document;
pub mod migration;
mod model;
mod password;
mod registration;
mod resource_servers;
mod secrets;
mod service;
mod store;
mod users;
mod validate;

use std::sync::Arc;

use gatehouse_oauth::Clock;
use gatehouse_runtime::grpc::{ServeError, ServerLimits};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

pub use config::{
    MetadataDocumentConfig, MetadataDocumentPolicy, PasswordParams, RegistrationConfig, RegistrationPolicy,
    RegistryConfig, ResourceServerPolicy,
};
pub use dependents::Dependents;
pub use error::{RegistryError, RegistryResult};
pub use model::{
    Application, ApplicationPatch, ApplicationType, ClientExtras, ClientKeys, ClientMetadata, ClientSecretInfo,
    CredentialInfo, InitialAccessTokenInfo, NewApplication, NewResourceServer, NewUser, REGISTRATION_OWNER_ID,
    ResourceServer, ResourceServerPatch, User,
};
pub use registration::{INITIAL_ACCESS_TOKEN_PREFIX, REGISTRATION_TOKEN_PREFIX, Registered};
pub use secrets::{CLIENT_SECRET_PREFIX, CreatedSecret};
pub use service::Registry;

/// The tables of this service's audit trail (events, head).
pub const AUDIT_TABLES: (&str, &str) = ("registry_audit_events", "registry_audit_head");

/// The name this service reports in `grpc.health.v1`.
pub const SERVICE_NAME: &str = "gatehouse.registry.v1.RegistryService";

/// Builds the registry on an open database (migrations must have run).
/// `dependents` are the services a deletion revokes at first; `kv` is the
/// cache shared by the replicas (assertion replay marks, registration limits).
pub fn build(
    config: RegistryConfig,
    db: DatabaseConnection,
    dependents: Dependents,
    kv: Arc<dyn gatehouse_runtime::kv::Kv>,
    clock: Arc<dyn Clock>,
) -> RegistryResult<Registry> {
    let audit = gatehouse_runtime::audit::AuditLog::new(db.clone(), "registry", AUDIT_TABLES, clock.clone());
    Registry::new(config, Arc::new(store::sql::SqlRegistryStore::new(db)), dependents, kv, clock, audit)
}

/// How often unused dynamically registered clients are looked for.
const EXPIRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes unused dynamically registered clients every hour until `stop`
/// resolves (a failed pass is retried at the next one).
pub async fn expire_unused_clients(registry: Registry, stop: impl std::future::Future<Output = ()>) {
    let pass = async {
        let mut interval = tokio::time::interval(EXPIRY_INTERVAL);
        loop {
            interval.tick().await;
            if let Err(error) = registry.expire_unused_clients(100).await {
                tracing::warn!(%error, "expiring unused dynamically registered clients failed");
            }
        }
    };
    tokio::select! {
        () = pass => {}
        () = stop => {}
    }
}

/// Serves the registry's gRPC API on `listener` until `shutdown` resolves.
pub async fn serve(
    registry: Registry,
    db: DatabaseConnection,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let refusals = Arc::new(gatehouse_runtime::audit::RefusalsToTrail::new(registry.audit().clone()));
    let access = limits.access.clone().with(credentials::verifier(registry.clone())).recording_refusals(refusals);
    let limits = ServerLimits { access, ..limits };
    let routes = tonic::service::Routes::new(grpc::server(registry));
    let ready = move || {
        let db = db.clone();
        async move { gatehouse_runtime::database::ping(&db).await }
    };
    gatehouse_runtime::grpc::serve_service(SERVICE_NAME, routes, ready, listener, limits, shutdown).await
}
