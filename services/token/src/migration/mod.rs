//! The token service's own migrations, in their own tracking table.

mod m20261126_000001_create_token_tables;
mod m20261201_000001_revocations;
mod m20261201_000002_personal_tokens;
mod m20261202_000001_signing_keys;
mod m20261202_000002_token_auth_time;
mod m20261203_000001_token_audience;
mod m20261203_000002_revocation_log;
mod m20261207_000001_token_family_live;
mod m20261207_000002_token_binding;
mod m20261207_000003_token_exchange;
mod m20261208_000001_shared_signals;
mod m20261209_000001_token_amr;

use sea_orm_migration::prelude::*;

/// Runs the token service's migrations.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_token_tables::Migration),
            Box::new(m20261201_000001_revocations::Migration),
            Box::new(m20261201_000002_personal_tokens::Migration),
            Box::new(m20261202_000001_signing_keys::Migration),
            Box::new(m20261202_000002_token_auth_time::Migration),
            Box::new(m20261203_000001_token_audience::Migration),
            Box::new(m20261203_000002_revocation_log::Migration),
            Box::new(gatehouse_runtime::audit::Migration { tables: crate::AUDIT_TABLES }),
            Box::new(m20261207_000001_token_family_live::Migration),
            Box::new(m20261207_000002_token_binding::Migration),
            Box::new(m20261207_000003_token_exchange::Migration),
            Box::new(m20261208_000001_shared_signals::Migration),
            Box::new(m20261209_000001_token_amr::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("token_migrations").into_iden()
    }
}
