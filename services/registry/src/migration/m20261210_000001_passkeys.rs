#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Passkeys (WebAuthn credentials): each user's, named, with the public key
//! and signature counter the relying-party library keeps (a JSON document),
//! and when each was last used.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, text};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryPasskeys {
    Table,
    Id,
    UserId,
    CredentialId,
    Name,
    Passkey,
    CreatedAt,
    LastUsedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum RegistryUsers {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryPasskeys as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .if_not_exists()
                    .col(string(P::Id).primary_key())
                    .col(string(P::UserId))
                    .col(string(P::CredentialId).unique_key())
                    .col(string(P::Name))
                    .col(text(P::Passkey))
                    .col(big_integer(P::CreatedAt))
                    .col(big_integer_null(P::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(P::Table, P::UserId)
                            .to(RegistryUsers::Table, RegistryUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("registry_passkeys_user")
                    .table(P::Table)
                    .col(P::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RegistryPasskeys::Table).to_owned()).await
    }
}
