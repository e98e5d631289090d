#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! The registry service's audit trail: its events and the chain's head row.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (tables, indexes) = gatehouse_runtime::audit::schema(crate::AUDIT_TABLES.0, crate::AUDIT_TABLES.1);
        for table in tables {
            manager.create_table(table).await?;
        }
        for index in indexes {
            manager.create_index(index).await?;
        }
        manager.exec_stmt(gatehouse_runtime::audit::head_row(crate::AUDIT_TABLES.1)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new(crate::AUDIT_TABLES.0)).to_owned()).await?;
        manager.drop_table(Table::drop().table(Alias::new(crate::AUDIT_TABLES.1)).to_owned()).await
    }
}
