//! The registry service: user accounts, applications (OAuth clients), their
//! client secrets and the scope catalogue.
//!
//! It owns the `registry_*` tables and nothing else; other services reach
//! this data only through its gRPC API.

mod account_mail;
mod applications;
mod assertion;
pub mod assertion_grant;
mod config;
mod convert;
mod credentials;
mod dependents;
mod error;
pub mod federation;
mod grpc;
mod mail;
mod metadata_document;
pub mod migration;
mod model;
mod passkeys;
mod password;
mod registration;
mod resource_servers;
mod second_factor;
mod secrets;
mod service;
mod store;
mod users;
mod validate;

use std::sync::Arc;

use gatehouse_runtime::grpc::{ServeError, ServerLimits};
use gatehouse_runtime::part::Dependencies;
use tokio::net::TcpListener;

pub use config::{
    MetadataDocumentConfig, MetadataDocumentPolicy, PasswordParams, RegistrationConfig, RegistrationPolicy,
    RegistryConfig, ResourceServerPolicy,
};
use dependents::Dependents;
pub use error::{RegistryError, RegistryResult};
pub use mail::{MailConfig, MailConfigError};
pub use model::{
    Application, ApplicationPatch, ApplicationType, ClientExtras, ClientKeys, ClientMetadata, ClientSecretInfo,
    CredentialInfo, InitialAccessTokenInfo, NewApplication, NewResourceServer, NewUser, REGISTRATION_OWNER_ID,
    ResourceServer, ResourceServerPatch, User,
};
pub use passkeys::{MAX_PASSKEYS, PasskeyCeremony, PasskeyInfo};
pub use registration::{INITIAL_ACCESS_TOKEN_PREFIX, REGISTRATION_TOKEN_PREFIX, Registered};
pub use second_factor::{RECOVERY_CODES, SecondFactorMethod, SecondFactors, TotpEnrolment};
pub use secrets::{CLIENT_SECRET_PREFIX, CreatedSecret};
pub use service::Registry;

/// The registry's own checks of an application's and a resource server's
/// fields, for a caller that plans every change before it makes one
/// (`gatehouse apply`): what passes here passes the registry (the scope
/// catalogue aside, which only a running registry knows).
pub mod checks {
    use gatehouse_oauth::{ClientType, GrantType};

    use crate::{RegistryResult, validate};

    /// An application's fields, as a caller would send them.
    #[derive(Debug, Clone, Copy)]
    pub struct ApplicationFields<'a> {
        pub name: &'a str,
        pub description: &'a str,
        pub homepage_url: &'a str,
        pub logo_url: &'a str,
        pub redirect_uris: &'a [String],
        pub post_logout_redirect_uris: &'a [String],
        /// Empty: the default.
        pub grant_types: &'a [GrantType],
        pub client_type: ClientType,
    }

    /// An application's fields as registration and update check them.
    pub fn application(fields: ApplicationFields<'_>) -> RegistryResult<()> {
        validate::line("name", fields.name, 1, 100)?;
        validate::text("description", fields.description, 1000)?;
        validate::web_url("homepage_url", fields.homepage_url)?;
        validate::web_url("logo_url", fields.logo_url)?;
        validate::redirect_uris(fields.redirect_uris)?;
        validate::post_logout_redirect_uris(fields.post_logout_redirect_uris)?;
        if !fields.grant_types.is_empty() {
            validate::grant_types(fields.grant_types, fields.client_type)?;
        }
        Ok(())
    }

    /// A resource server's fields as creation checks them.
    pub fn resource_server(name: &str, identifier: &str, token_format: &str) -> RegistryResult<()> {
        validate::line("name", name, 1, 100)?;
        validate::resource_identifier(identifier)?;
        validate::token_format(token_format)?;
        Ok(())
    }
}

/// The tables of this service's audit trail (events, head).
pub const AUDIT_TABLES: (&str, &str) = ("registry_audit_events", "registry_audit_head");

/// The name this service reports in `grpc.health.v1`.
pub const SERVICE_NAME: &str = "gatehouse.registry.v1.RegistryService";

/// Builds the registry on its dependencies (migrations must have run). The
/// token and authorization services are the ones a deletion revokes at
/// first; the cache is shared by the replicas (assertion replay marks,
/// registration limits). Ready while the database answers.
pub async fn build(config: RegistryConfig, deps: Dependencies) -> RegistryResult<Registry> {
    let audit = gatehouse_runtime::audit::AuditLog::new(deps.db.clone(), "registry", AUDIT_TABLES, deps.clock.clone());
    let dependents = Dependents::new(deps.upstreams.token.clone(), deps.upstreams.authorization.clone());
    let store = store::Stores::all(store::sql::SqlRegistryStore::new(deps.db.clone()));
    Registry::new(config, store, dependents, deps.kv.clone(), deps.clock.clone(), audit, deps.database_readiness())
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
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let refusals = Arc::new(gatehouse_runtime::audit::RefusalsToTrail::new(registry.audit().clone()));
    let access = limits.access.clone().with(credentials::verifier(registry.clone())).recording_refusals(refusals);
    let limits = ServerLimits { access, ..limits };
    let readiness = registry.inner.readiness.clone();
    let routes = tonic::service::Routes::new(grpc::server(registry));
    let ready = move || {
        let readiness = readiness.clone();
        async move { readiness.check().await }
    };
    gatehouse_runtime::grpc::serve_service(SERVICE_NAME, routes, ready, listener, limits, shutdown).await
}
