#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, string_null, text};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TokenTokens {
    Table,
    Hash,
    Kind,
    ClientId,
    UserId,
    Username,
    Scopes,
    FamilyId,
    CodeId,
    IssuedAt,
    ExpiresAt,
    RevokedAt,
    RotatedAt,
}

async fn index(manager: &SchemaManager<'_>, name: &str, columns: &[TokenTokens]) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(TokenTokens::Table).if_not_exists();
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenTokens::Table)
                    .if_not_exists()
                    .col(string(TokenTokens::Hash).primary_key())
                    .col(string(TokenTokens::Kind))
                    .col(string(TokenTokens::ClientId))
                    .col(string(TokenTokens::UserId))
                    .col(string(TokenTokens::Username))
                    .col(text(TokenTokens::Scopes))
                    .col(string(TokenTokens::FamilyId))
                    .col(string_null(TokenTokens::CodeId))
                    .col(big_integer(TokenTokens::IssuedAt))
                    .col(big_integer(TokenTokens::ExpiresAt))
                    .col(big_integer_null(TokenTokens::RevokedAt))
                    .col(big_integer_null(TokenTokens::RotatedAt))
                    .to_owned(),
            )
            .await?;
        index(manager, "token_tokens_family_idx", &[TokenTokens::FamilyId]).await?;
        index(manager, "token_tokens_code_idx", &[TokenTokens::CodeId]).await?;
        index(manager, "token_tokens_user_client_idx", &[TokenTokens::UserId, TokenTokens::ClientId]).await?;
        index(manager, "token_tokens_expires_idx", &[TokenTokens::ExpiresAt]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TokenTokens::Table).to_owned()).await
    }
}
