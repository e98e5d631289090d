//! The registry's own migrations, tracked in its own table so that the
//! services can share one database (the embedded default) without clashing.

mod m20261126_000001_create_registry_tables;
mod m20261203_000001_resource_servers;
mod m20261204_000001_client_registration;
mod m20261206_000001_internal_credentials;
mod m20261207_000001_application_tokens;
mod m20261207_000002_registration_token_expiry;
mod m20261207_000003_id_token_alg;
mod m20261207_000004_client_requirements;
mod m20261209_000001_second_factors;
mod m20261209_000002_account_mail;
mod m20261210_000001_passkeys;
mod m20261210_000002_invitations;
mod m20261211_000001_disabled_users;

use sea_orm_migration::prelude::*;

/// Runs the registry's migrations.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_registry_tables::Migration),
            Box::new(m20261203_000001_resource_servers::Migration),
            Box::new(m20261204_000001_client_registration::Migration),
            Box::new(m20261206_000001_internal_credentials::Migration),
            Box::new(m20261207_000001_application_tokens::Migration),
            Box::new(m20261207_000002_registration_token_expiry::Migration),
            Box::new(gatehouse_runtime::audit::Migration { tables: crate::AUDIT_TABLES }),
            Box::new(m20261207_000003_id_token_alg::Migration),
            Box::new(m20261207_000004_client_requirements::Migration),
            Box::new(m20261209_000001_second_factors::Migration),
            Box::new(m20261209_000002_account_mail::Migration),
            Box::new(m20261210_000001_passkeys::Migration),
            Box::new(m20261210_000002_invitations::Migration),
            Box::new(m20261211_000001_disabled_users::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("registry_migrations").into_iden()
    }
}
