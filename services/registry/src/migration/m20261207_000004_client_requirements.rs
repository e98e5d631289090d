#![allow(elided_lifetimes_in_paths)] // `SchemaManager` is declared without the lifetime by the trait
//! What an application requires of its own requests: pushed authorization
//! requests only (RFC 9126 §6) and DPoP-bound access tokens only (RFC 9449
//! §5.2). Both off for every existing application.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RegistryApplications {
    Table,
    RequirePar,
    RequireDpop,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryApplications as A;
        // One column per statement: SQLite alters one at a time.
        for name in [A::RequirePar, A::RequireDpop] {
            let mut column = boolean(name).default(false).to_owned();
            manager.alter_table(Table::alter().table(A::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RegistryApplications as A;
        for name in [A::RequirePar, A::RequireDpop] {
            manager.alter_table(Table::alter().table(A::Table).drop_column(name).to_owned()).await?;
        }
        Ok(())
    }
}
