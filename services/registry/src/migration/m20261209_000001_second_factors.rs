#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Two-step sign-in: a user's TOTP secret (sealed with the key-encryption
//! key; unconfirmed until the first code is typed) with the last time step
//! accepted, and their recovery codes (keyed hashes, each used once).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryTotp {
    Table,
    UserId,
    SealedSecret,
    CreatedAt,
    ConfirmedAt,
    LastStep,
}

#[derive(Clone, Copy, DeriveIden)]
enum RegistryRecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum RegistryUsers {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryRecoveryCodes as R;
        use RegistryTotp as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .if_not_exists()
                    .col(string(T::UserId).primary_key())
                    .col(string(T::SealedSecret))
                    .col(big_integer(T::CreatedAt))
                    .col(big_integer_null(T::ConfirmedAt))
                    .col(big_integer_null(T::LastStep))
                    .foreign_key(
                        ForeignKey::create()
                            .from(T::Table, T::UserId)
                            .to(RegistryUsers::Table, RegistryUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .if_not_exists()
                    .col(string(R::Id).primary_key())
                    .col(string(R::UserId))
                    .col(string(R::CodeHash).unique_key())
                    .col(big_integer(R::CreatedAt))
                    .col(big_integer_null(R::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(R::Table, R::UserId)
                            .to(RegistryUsers::Table, RegistryUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("registry_recovery_codes_user")
                    .table(R::Table)
                    .col(R::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RegistryRecoveryCodes::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(RegistryTotp::Table).to_owned()).await
    }
}
