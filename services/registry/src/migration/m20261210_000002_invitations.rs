#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Invitations to sign up (the sign-up policy `invitation`): kept by the
//! hash of their token, single use, for a while, for one address or any.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, string_null};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryInvitations {
    Table,
    TokenHash,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    UsedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryInvitations as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .if_not_exists()
                    .col(string(I::TokenHash).primary_key())
                    .col(string(I::Email))
                    .col(big_integer(I::CreatedAt))
                    .col(big_integer(I::ExpiresAt))
                    .col(big_integer_null(I::UsedAt))
                    .col(string_null(I::UsedBy))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RegistryInvitations::Table).to_owned()).await
    }
}
