use sea_orm::entity::prelude::*;

/// A revocation of everything a subject holds (an application, a user, or
/// one user's grant to one application). Tokens being issued for the subject
/// while the revocation runs look here once they are stored: a row newer
/// than their request's start (or any row, for a deleted application or
/// user) means they are revoked at once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_revocations")]
pub struct Model {
    /// Grows with every revocation: the order of revocations, whatever the clocks.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `client:ID`, `user:ID` or `grant:USER_ID:CLIENT_ID`.
    pub subject: String,
    /// Database time in milliseconds (the services' shared clock).
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
