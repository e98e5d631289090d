//! The registry service: user accounts, applications (OAuth clients), their
//! client secrets and the scope catalogue.
//!
//! It owns the `registry_*` tables and nothing else; other services reach
//! this data only through its gRPC API.

mod applications;
mod config;
mod convert;
mod dependents;
mod error;
mod grpc;
pub mod migration;
mod model;
mod password;
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

pub use config::{PasswordParams, RegistryConfig};
pub use dependents::Dependents;
pub use error::{RegistryError, RegistryResult};
pub use model::{
    Application, ApplicationPatch, ClientSecretInfo, NewApplication, NewResourceServer, NewUser, ResourceServer,
    ResourceServerPatch, User,
};
pub use secrets::{CLIENT_SECRET_PREFIX, CreatedSecret};
pub use service::Registry;

/// The name this service reports in `grpc.health.v1`.
pub const SERVICE_NAME: &str = "gatehouse.registry.v1.RegistryService";

/// Builds the registry on an open database (migrations must have run).
/// `dependents` are the services a deletion revokes at first.
pub fn build(
    config: RegistryConfig,
    db: DatabaseConnection,
    dependents: Dependents,
    clock: Arc<dyn Clock>,
) -> RegistryResult<Registry> {
    Registry::new(config, Arc::new(store::sql::SqlRegistryStore::new(db)), dependents, clock)
}

/// Serves the registry's gRPC API on `listener` until `shutdown` resolves.
pub async fn serve(
    registry: Registry,
    db: DatabaseConnection,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let routes = tonic::service::Routes::new(grpc::server(registry));
    let ready = move || {
        let db = db.clone();
        async move { gatehouse_runtime::database::ping(&db).await }
    };
    gatehouse_runtime::grpc::serve_service(SERVICE_NAME, routes, ready, listener, limits, shutdown).await
}
