#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! A token row remembers when its user signed in (OpenID Connect
//! `auth_time`), so that an ID token issued on refresh repeats it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer_null;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TokenTokens {
    Table,
    AuthTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(TokenTokens::Table).add_column(big_integer_null(TokenTokens::AuthTime)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(TokenTokens::Table).drop_column(TokenTokens::AuthTime).to_owned())
            .await
    }
}
