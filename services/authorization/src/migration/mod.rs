//! The authorization service's own migrations, in their own tracking table.

mod m20261126_000001_create_authz_tables;
mod m20261209_000001_sessions;

use sea_orm_migration::prelude::*;

/// Runs the authorization service's migrations.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_authz_tables::Migration),
            Box::new(gatehouse_runtime::audit::Migration { tables: crate::AUDIT_TABLES }),
            Box::new(m20261209_000001_sessions::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("authz_migrations").into_iden()
    }
}
