#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Revocations of a whole subject (application, user, grant), and the link
//! from a rotated refresh token to its successor.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, string, string_null};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TokenTokens {
    Table,
    RotatedTo,
}

#[derive(Clone, Copy, DeriveIden)]
enum TokenRevocations {
    Table,
    Id,
    Subject,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(TokenTokens::Table).add_column(string_null(TokenTokens::RotatedTo)).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TokenRevocations::Table)
                    .if_not_exists()
                    .col(big_pk_auto(TokenRevocations::Id))
                    .col(string(TokenRevocations::Subject))
                    .col(big_integer(TokenRevocations::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("token_revocations_subject_idx")
                    .table(TokenRevocations::Table)
                    .col(TokenRevocations::Subject)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TokenRevocations::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(TokenTokens::Table).drop_column(TokenTokens::RotatedTo).to_owned())
            .await
    }
}
