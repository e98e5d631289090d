#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Signing keys (ID tokens, JWT access tokens) and, per algorithm, the
//! version every change of its keys compares and sets: two replicas that
//! start or rotate at once cannot both install an active key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, text};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TokenSigningKeys {
    Table,
    Kid,
    Alg,
    PublicJwk,
    SealedPrivateKey,
    CreatedAt,
    ActivatedAt,
    DeactivatedAt,
    RetiredAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum TokenSigningVersions {
    Table,
    Alg,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenSigningKeys::Table)
                    .if_not_exists()
                    .col(string(TokenSigningKeys::Kid).primary_key())
                    .col(string(TokenSigningKeys::Alg))
                    .col(text(TokenSigningKeys::PublicJwk))
                    // AES-256-GCM under the key-encryption key; empty once retired.
                    .col(text(TokenSigningKeys::SealedPrivateKey))
                    .col(big_integer(TokenSigningKeys::CreatedAt))
                    .col(big_integer_null(TokenSigningKeys::ActivatedAt))
                    .col(big_integer_null(TokenSigningKeys::DeactivatedAt))
                    .col(big_integer_null(TokenSigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TokenSigningVersions::Table)
                    .if_not_exists()
                    .col(string(TokenSigningVersions::Alg).primary_key())
                    .col(big_integer(TokenSigningVersions::Version))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TokenSigningVersions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TokenSigningKeys::Table).to_owned()).await
    }
}
