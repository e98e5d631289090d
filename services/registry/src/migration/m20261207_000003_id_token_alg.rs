#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! What an application's ID tokens are signed with (OpenID Connect
//! Registration `id_token_signed_response_alg`); "" is the default, RS256.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryApplications {
    Table,
    IdTokenAlg,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryApplications as A;
        let mut column = string(A::IdTokenAlg).default("").to_owned();
        manager.alter_table(Table::alter().table(A::Table).add_column(&mut column).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryApplications as A;
        manager.alter_table(Table::alter().table(A::Table).drop_column(A::IdTokenAlg).to_owned()).await
    }
}
