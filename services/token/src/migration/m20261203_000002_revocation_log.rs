#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! The revocation log: one numbered event per token a change made inactive,
//! written in the change's transaction, read by `WatchRevocations`; and the
//! head row that numbers them in commit order.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TokenRevocationLog {
    Table,
    Seq,
    Hash,
    ExpiresAt,
    CreatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum TokenRevocationHead {
    Table,
    Id,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TokenRevocationLog as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .if_not_exists()
                    // Given by the head row, not by a sequence: see the store.
                    .col(big_integer(L::Seq).primary_key())
                    .col(string(L::Hash))
                    .col(big_integer(L::ExpiresAt))
                    .col(big_integer(L::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("token_revocation_log_created_idx")
                    .table(L::Table)
                    .col(L::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TokenRevocationHead::Table)
                    .if_not_exists()
                    .col(integer(TokenRevocationHead::Id).primary_key())
                    .col(big_integer(TokenRevocationHead::Seq))
                    .to_owned(),
            )
            .await?;
        let head = Query::insert()
            .into_table(TokenRevocationHead::Table)
            .columns([TokenRevocationHead::Id, TokenRevocationHead::Seq])
            .values_panic([1.into(), 0.into()])
            .to_owned();
        manager.exec_stmt(head).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TokenRevocationHead::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TokenRevocationLog::Table).to_owned()).await
    }
}
