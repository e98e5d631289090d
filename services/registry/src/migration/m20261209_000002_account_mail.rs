#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Mail to the account: whether its address was confirmed, and the
//! single-use links sent to it (password reset, address confirmation),
//! kept only as hashes until used or expired.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryUsers {
    Table,
    EmailVerifiedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum RegistryAccountTokens {
    Table,
    TokenHash,
    UserId,
    Purpose,
    Email,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryAccountTokens as T;
        let mut column = big_integer_null(RegistryUsers::EmailVerifiedAt).to_owned();
        manager.alter_table(Table::alter().table(RegistryUsers::Table).add_column(&mut column).to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .if_not_exists()
                    .col(string(T::TokenHash).primary_key())
                    .col(string(T::UserId))
                    .col(string(T::Purpose))
                    .col(string(T::Email))
                    .col(big_integer(T::CreatedAt))
                    .col(big_integer(T::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("registry_account_tokens_user")
                    .table(T::Table)
                    .col(T::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RegistryAccountTokens::Table).to_owned()).await?;
        let drop = Table::alter().table(RegistryUsers::Table).drop_column(RegistryUsers::EmailVerifiedAt).to_owned();
        manager.alter_table(drop).await
    }
}
