#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Internal credentials: what operators (and parts without a workload
//! certificate) present to the internal gRPC plane, kept as hashes; and the
//! administrator role of user accounts (granted only by operators).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, boolean, string};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryCredentials {
    Table,
    Id,
    CredentialHash,
    Name,
    Role,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum RegistryUsers {
    Table,
    Administrator,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryCredentials as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .if_not_exists()
                    .col(string(C::Id).primary_key())
                    .col(string(C::CredentialHash).unique_key())
                    .col(string(C::Name))
                    .col(string(C::Role))
                    .col(string(C::CreatedBy))
                    .col(big_integer(C::CreatedAt))
                    .col(big_integer_null(C::ExpiresAt))
                    .col(big_integer_null(C::RevokedAt))
                    .to_owned(),
            )
            .await?;
        let mut column = boolean(RegistryUsers::Administrator).default(false).to_owned();
        manager.alter_table(Table::alter().table(RegistryUsers::Table).add_column(&mut column).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let drop = Table::alter().table(RegistryUsers::Table).drop_column(RegistryUsers::Administrator).to_owned();
        manager.alter_table(drop).await?;
        manager.drop_table(Table::drop().table(RegistryCredentials::Table).to_owned()).await
    }
}
