#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! The Shared Signals transmitter: receivers' streams, the subjects a
//! receiver removed from its stream, each stream's outbox of signed SETs
//! (ordered by `seq` within the stream), and where the transmitter is in
//! each service's audit trail.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string, text, text_null};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum SsfStreams {
    Table,
    StreamId,
    ClientId,
    Description,
    DeliveryMethod,
    EndpointUrl,
    AuthorizationHeader,
    EventsRequested,
    Status,
    Reason,
    NextSeq,
    Dropped,
    VerifiedAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum SsfExcluded {
    Table,
    StreamId,
    UserId,
}

#[derive(Clone, Copy, DeriveIden)]
enum SsfOutbox {
    Table,
    StreamId,
    Seq,
    Jti,
    SetJwt,
    CreatedAt,
    Attempts,
    NextAttemptAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum SsfCursors {
    Table,
    Source,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SsfStreams as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .if_not_exists()
                    .col(string(S::StreamId).primary_key())
                    .col(string(S::ClientId))
                    .col(text(S::Description))
                    .col(string(S::DeliveryMethod))
                    .col(text(S::EndpointUrl))
                    // Sealed under the key-encryption key; never shown again.
                    .col(text_null(S::AuthorizationHeader))
                    .col(text(S::EventsRequested))
                    .col(string(S::Status))
                    .col(text(S::Reason))
                    .col(big_integer(S::NextSeq))
                    .col(big_integer(S::Dropped))
                    .col(big_integer(S::VerifiedAt))
                    .col(big_integer(S::LeaseUntil))
                    .col(text(S::LastError))
                    .col(big_integer(S::CreatedAt))
                    .col(big_integer(S::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // One stream per receiver (SSF §8.1.1.1: 409 for a second one).
        manager
            .create_index(
                Index::create()
                    .name("ssf_streams_client_idx")
                    .table(S::Table)
                    .col(S::ClientId)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SsfExcluded::Table)
                    .if_not_exists()
                    .col(string(SsfExcluded::StreamId))
                    .col(string(SsfExcluded::UserId))
                    .primary_key(Index::create().col(SsfExcluded::StreamId).col(SsfExcluded::UserId))
                    .to_owned(),
            )
            .await?;
        use SsfOutbox as O;
        manager
            .create_table(
                Table::create()
                    .table(O::Table)
                    .if_not_exists()
                    .col(string(O::StreamId))
                    .col(big_integer(O::Seq))
                    .col(string(O::Jti))
                    .col(text(O::SetJwt))
                    .col(big_integer(O::CreatedAt))
                    .col(integer(O::Attempts))
                    .col(big_integer(O::NextAttemptAt))
                    .primary_key(Index::create().col(O::StreamId).col(O::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ssf_outbox_jti_idx")
                    .table(O::Table)
                    .col(O::StreamId)
                    .col(O::Jti)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SsfCursors::Table)
                    .if_not_exists()
                    .col(string(SsfCursors::Source).primary_key())
                    .col(big_integer(SsfCursors::Seq))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SsfCursors::Table.into_iden(),
            SsfOutbox::Table.into_iden(),
            SsfExcluded::Table.into_iden(),
            SsfStreams::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
