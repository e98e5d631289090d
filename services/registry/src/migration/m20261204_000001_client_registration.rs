#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! Clients that register themselves (RFC 7591 / RFC 7592) and clients that
//! authenticate with a key (RFC 7523): the applications' new columns, the
//! operator's initial access tokens, and the account that owns dynamically
//! registered clients.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, text};

use crate::model::REGISTRATION_OWNER_ID;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryApplications {
    Table,
    Registration,
    RegistrationTokenHash,
    LastUsedAt,
    AuthMethod,
    ApplicationType,
    Jwks,
    JwksUri,
    ClientMetadata,
}

#[derive(Clone, Copy, DeriveIden)]
enum RegistryInitialAccessTokens {
    Table,
    Id,
    TokenHash,
    Description,
    CreatedAt,
    ExpiresAt,
}

#[derive(Clone, Copy, DeriveIden)]
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryApplications as A;
        // SQLite adds one column per statement.
        let columns = [
            // "" for an application a user registered; "dynamic" for RFC 7591.
            string(A::Registration).default("").to_owned(),
            // SHA-256 of the RFC 7592 registration access token; "" when none.
            string(A::RegistrationTokenHash).default("").to_owned(),
            // When the client last authenticated or was looked up for a flow (unix seconds).
            big_integer_null(A::LastUsedAt),
            // token_endpoint_auth_method; "" derives it from the client type.
            string(A::AuthMethod).default("").to_owned(),
            string(A::ApplicationType).default("web").to_owned(),
            // A JSON Web Key Set (RFC 7517) for private_key_jwt, or "".
            text(A::Jwks).default("").to_owned(),
            text(A::JwksUri).default("").to_owned(),
            // The other RFC 7591 metadata it registered, echoed back (a JSON object).
            text(A::ClientMetadata).default("{}").to_owned(),
        ];
        for mut column in columns {
            manager.alter_table(Table::alter().table(A::Table).add_column(&mut column).to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("registry_applications_registration")
                    .table(A::Table)
                    .col(A::Registration)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        use RegistryInitialAccessTokens as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .if_not_exists()
                    .col(string(T::Id).primary_key())
                    .col(string(T::TokenHash).unique_key())
                    .col(string(T::Description))
                    .col(big_integer(T::CreatedAt))
                    .col(big_integer_null(T::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // The owner of dynamically registered clients: an account nobody can
        // sign in to (its username fails the username rules, so no lookup
        // finds it, and "!" is no password hash).
        let insert = Query::insert()
            .into_table(RegistryUsers::Table)
            .columns([
                RegistryUsers::Id,
                RegistryUsers::UsernameKey,
                RegistryUsers::Username,
                RegistryUsers::Email,
                RegistryUsers::DisplayName,
                RegistryUsers::AvatarUrl,
                RegistryUsers::PasswordHash,
                RegistryUsers::CreatedAt,
            ])
            .values_panic([
                REGISTRATION_OWNER_ID.into(),
                "@registration".into(),
                "@registration".into(),
                "".into(),
                "Dynamic client registration".into(),
                "".into(),
                "!".into(),
                0i64.into(),
            ])
            .to_owned();
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryApplications as A;
        manager.drop_table(Table::drop().table(RegistryInitialAccessTokens::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("registry_applications_registration").table(A::Table).to_owned()).await?;
        for column in [
            A::Registration,
            A::RegistrationTokenHash,
            A::LastUsedAt,
            A::AuthMethod,
            A::ApplicationType,
            A::Jwks,
            A::JwksUri,
            A::ClientMetadata,
        ] {
            manager.alter_table(Table::alter().table(A::Table).drop_column(column).to_owned()).await?;
        }
        let delete = Query::delete()
            .from_table(RegistryUsers::Table)
            .and_where(Expr::col(RegistryUsers::Id).eq(REGISTRATION_OWNER_ID))
            .to_owned();
        manager.exec_stmt(delete).await
    }
}
