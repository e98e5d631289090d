#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, text};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum RegistryUsers {
    Table,
    Id,
    UsernameKey,
    Username,
    Email,
    DisplayName,
    AvatarUrl,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RegistryApplications {
    Table,
    ClientId,
    OwnerId,
    Name,
    Description,
    HomepageUrl,
    LogoUrl,
    RedirectUris,
    ClientType,
    GrantTypes,
    Scopes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RegistryClientSecrets {
    Table,
    Id,
    ClientId,
    SecretHash,
    Prefix,
    CreatedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RegistryUsers::Table)
                    .if_not_exists()
                    .col(string(RegistryUsers::Id).primary_key())
                    .col(string(RegistryUsers::UsernameKey).unique_key())
                    .col(string(RegistryUsers::Username))
                    .col(string(RegistryUsers::Email))
                    .col(string(RegistryUsers::DisplayName))
                    .col(text(RegistryUsers::AvatarUrl))
                    .col(text(RegistryUsers::PasswordHash))
                    .col(big_integer(RegistryUsers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RegistryApplications::Table)
                    .if_not_exists()
                    .col(string(RegistryApplications::ClientId).primary_key())
                    .col(string(RegistryApplications::OwnerId))
                    .col(string(RegistryApplications::Name))
                    .col(text(RegistryApplications::Description))
                    .col(text(RegistryApplications::HomepageUrl))
                    .col(text(RegistryApplications::LogoUrl))
                    .col(text(RegistryApplications::RedirectUris))
                    .col(string(RegistryApplications::ClientType))
                    .col(text(RegistryApplications::GrantTypes))
                    .col(text(RegistryApplications::Scopes))
                    .col(big_integer(RegistryApplications::CreatedAt))
                    .col(big_integer(RegistryApplications::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RegistryApplications::Table, RegistryApplications::OwnerId)
                            .to(RegistryUsers::Table, RegistryUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("registry_applications_owner_idx")
                    .table(RegistryApplications::Table)
                    .col(RegistryApplications::OwnerId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RegistryClientSecrets::Table)
                    .if_not_exists()
                    .col(string(RegistryClientSecrets::Id).primary_key())
                    .col(string(RegistryClientSecrets::ClientId))
                    .col(string(RegistryClientSecrets::SecretHash).unique_key())
                    .col(string(RegistryClientSecrets::Prefix))
                    .col(big_integer(RegistryClientSecrets::CreatedAt))
                    .col(big_integer_null(RegistryClientSecrets::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RegistryClientSecrets::Table, RegistryClientSecrets::ClientId)
                            .to(RegistryApplications::Table, RegistryApplications::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("registry_client_secrets_client_idx")
                    .table(RegistryClientSecrets::Table)
                    .col(RegistryClientSecrets::ClientId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RegistryClientSecrets::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(RegistryApplications::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(RegistryUsers::Table).to_owned()).await
    }
}
