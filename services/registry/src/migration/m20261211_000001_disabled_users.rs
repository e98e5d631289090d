#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Accounts an operator or an administrator disabled: they keep their data
//! and cannot sign in until enabled again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer_null;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryUsers {
    Table,
    DisabledAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut column = big_integer_null(RegistryUsers::DisabledAt).to_owned();
        manager.alter_table(Table::alter().table(RegistryUsers::Table).add_column(&mut column).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let drop = Table::alter().table(RegistryUsers::Table).drop_column(RegistryUsers::DisabledAt).to_owned();
        manager.alter_table(drop).await
    }
}
