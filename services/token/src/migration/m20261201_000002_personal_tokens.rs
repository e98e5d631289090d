#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Personal access tokens: what a user named and when they used it. The
//! token itself is a row of `token_tokens` (kind `personal`), so that every
//! rule of the cache and of revocation holds for it unchanged.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, string_null, text};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TokenPersonal {
    Table,
    Id,
    UserId,
    Name,
    Hash,
    Scopes,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    LastUsedAddress,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenPersonal::Table)
                    .if_not_exists()
                    .col(string(TokenPersonal::Id).primary_key())
                    .col(string(TokenPersonal::UserId))
                    .col(string(TokenPersonal::Name))
                    .col(string(TokenPersonal::Hash))
                    .col(text(TokenPersonal::Scopes))
                    .col(big_integer(TokenPersonal::CreatedAt))
                    .col(big_integer(TokenPersonal::ExpiresAt))
                    .col(big_integer_null(TokenPersonal::LastUsedAt))
                    .col(string_null(TokenPersonal::LastUsedAddress))
                    .col(big_integer_null(TokenPersonal::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("token_personal_user_idx")
                    .table(TokenPersonal::Table)
                    .col(TokenPersonal::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TokenPersonal::Table).to_owned()).await
    }
}
