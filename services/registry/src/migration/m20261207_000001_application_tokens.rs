#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Whether a resource server admits tokens with no user behind them
//! (`client_credentials`): off for every server until its owner says so.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryResourceServers {
    Table,
    ApplicationTokens,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut column = boolean(RegistryResourceServers::ApplicationTokens).default(false).to_owned();
        let alter = Table::alter().table(RegistryResourceServers::Table).add_column(&mut column).to_owned();
        manager.alter_table(alter).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let alter = Table::alter()
            .table(RegistryResourceServers::Table)
            .drop_column(RegistryResourceServers::ApplicationTokens)
            .to_owned();
        manager.alter_table(alter).await
    }
}
