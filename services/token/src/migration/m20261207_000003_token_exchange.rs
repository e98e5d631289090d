#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Tokens issued by a token exchange (RFC 8693): the grant they descend
//! from (`parent_family_id`, so that revoking it, or the user's grant to its
//! application, ends them too), and who acts (`actors`, a JSON array, the
//! current actor first: the `act` chain).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TokenTokens {
    Table,
    ParentFamilyId,
    Actors,
}

const PARENT: &str = "token_tokens_parent_family_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TokenTokens as T;
        // One column per statement: SQLite alters one at a time.
        for column in [T::ParentFamilyId, T::Actors] {
            manager.alter_table(Table::alter().table(T::Table).add_column(text_null(column)).to_owned()).await?;
        }
        let index = Index::create().name(PARENT).table(T::Table).col(T::ParentFamilyId).if_not_exists().to_owned();
        manager.create_index(index).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TokenTokens as T;
        manager.drop_index(Index::drop().name(PARENT).table(T::Table).if_exists().to_owned()).await?;
        for column in [T::ParentFamilyId, T::Actors] {
            manager.alter_table(Table::alter().table(T::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
