#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, text};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AuthzGrants {
    Table,
    UserId,
    ClientId,
    Scopes,
    CreatedAt,
    UpdatedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthzGrants::Table)
                    .if_not_exists()
                    .col(string(AuthzGrants::UserId))
                    .col(string(AuthzGrants::ClientId))
                    .col(text(AuthzGrants::Scopes))
                    .col(big_integer(AuthzGrants::CreatedAt))
                    .col(big_integer(AuthzGrants::UpdatedAt))
                    .col(big_integer_null(AuthzGrants::LastUsedAt))
                    .primary_key(Index::create().col(AuthzGrants::UserId).col(AuthzGrants::ClientId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuthzGrants::Table).to_owned()).await
    }
}
