#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Where an account is signed in: one row per session (the session itself
//! stays in the cache, keyed by its token's hash), so that a person can
//! list their sessions and end one or all others from another browser.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum AuthzSessions {
    Table,
    Id,
    UserId,
    TokenHash,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    Address,
    UserAgent,
    Amr,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use AuthzSessions as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .if_not_exists()
                    .col(string(S::Id).primary_key())
                    .col(string(S::UserId))
                    .col(string(S::TokenHash).unique_key())
                    .col(big_integer(S::CreatedAt))
                    .col(big_integer(S::LastSeenAt))
                    .col(big_integer(S::ExpiresAt))
                    .col(string(S::Address))
                    .col(string(S::UserAgent))
                    .col(string(S::Amr))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("authz_sessions_user").table(S::Table).col(S::UserId).if_not_exists().to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuthzSessions::Table).to_owned()).await
    }
}
