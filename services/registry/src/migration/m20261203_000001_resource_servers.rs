#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Resource servers (RFC 8707) and applications' post-logout redirect URIs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, string, text};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryResourceServers {
    Table,
    Id,
    OwnerId,
    Name,
    Identifier,
    Scopes,
    TokenFormat,
    AllowedClientIds,
    AnyClient,
    IntrospectionClientId,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum RegistryApplications {
    Table,
    PostLogoutRedirectUris,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryResourceServers as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .if_not_exists()
                    .col(string(R::Id).primary_key())
                    .col(string(R::OwnerId))
                    .col(string(R::Name))
                    // Unique: one identifier names one audience.
                    .col(text(R::Identifier).unique_key())
                    .col(text(R::Scopes))
                    .col(string(R::TokenFormat))
                    .col(text(R::AllowedClientIds))
                    .col(boolean(R::AnyClient))
                    .col(string(R::IntrospectionClientId))
                    .col(big_integer(R::CreatedAt))
                    .col(big_integer(R::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("registry_resource_servers_owner")
                    .table(R::Table)
                    .col(R::OwnerId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("registry_resource_servers_introspector")
                    .table(R::Table)
                    .col(R::IntrospectionClientId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RegistryApplications::Table)
                    .add_column(text(RegistryApplications::PostLogoutRedirectUris).default("[]"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RegistryApplications::Table)
                    .drop_column(RegistryApplications::PostLogoutRedirectUris)
                    .to_owned(),
            )
            .await?;
        manager.drop_table(Table::drop().table(RegistryResourceServers::Table).to_owned()).await
    }
}
