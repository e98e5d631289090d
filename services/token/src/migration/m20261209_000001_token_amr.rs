#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! A token row remembers how its user signed in (RFC 8176 `amr`,
//! space-separated), so that a refreshed token keeps its `acr` and `amr`
//! (RFC 9470 §6.1).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_null;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TokenTokens {
    Table,
    Amr,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(TokenTokens::Table).add_column(string_null(TokenTokens::Amr)).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(TokenTokens::Table).drop_column(TokenTokens::Amr).to_owned()).await
    }
}
