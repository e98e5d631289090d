#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! A grant's live access tokens found without reading its whole history.
//! Every refresh-token rotation ends the grant's access tokens that are
//! still live; a grant keeps its rotated refresh tokens (for reuse
//! detection) until they expire, so one refreshed every few minutes holds
//! thousands of rows, and the index on the grant alone made each rotation
//! read all of them. The index on (grant, kind, revoked) finds the live
//! access tokens directly, and its first column still serves every lookup
//! by grant, so the grant-only index goes.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TokenTokens {
    Table,
    FamilyId,
    Kind,
    RevokedAt,
}

const LIVE: &str = "token_tokens_family_live_idx";
const FAMILY: &str = "token_tokens_family_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let live = Index::create()
            .name(LIVE)
            .table(TokenTokens::Table)
            .col(TokenTokens::FamilyId)
            .col(TokenTokens::Kind)
            .col(TokenTokens::RevokedAt)
            .if_not_exists()
            .to_owned();
        manager.create_index(live).await?;
        manager.drop_index(Index::drop().name(FAMILY).table(TokenTokens::Table).if_exists().to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let family = Index::create()
            .name(FAMILY)
            .table(TokenTokens::Table)
            .col(TokenTokens::FamilyId)
            .if_not_exists()
            .to_owned();
        manager.create_index(family).await?;
        manager.drop_index(Index::drop().name(LIVE).table(TokenTokens::Table).if_exists().to_owned()).await
    }
}
