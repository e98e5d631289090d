#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Registration access tokens (RFC 7592) expire, and are found by value for
//! revocation: an expiry column and an index on the token's hash.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer_null;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryApplications {
    Table,
    RegistrationTokenHash,
    RegistrationTokenExpiresAt,
}

const INDEX: &str = "idx_registry_applications_registration_token_hash";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryApplications as A;
        let mut column = big_integer_null(A::RegistrationTokenExpiresAt).to_owned();
        manager.alter_table(Table::alter().table(A::Table).add_column(&mut column).to_owned()).await?;
        let index =
            Index::create().name(INDEX).table(A::Table).col(A::RegistrationTokenHash).if_not_exists().to_owned();
        manager.create_index(index).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryApplications as A;
        manager.drop_index(Index::drop().name(INDEX).table(A::Table).to_owned()).await?;
        let drop = Table::alter().table(A::Table).drop_column(A::RegistrationTokenExpiresAt).to_owned();
        manager.alter_table(drop).await
    }
}
