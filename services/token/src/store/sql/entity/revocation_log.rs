use sea_orm::entity::prelude::*;

/// One token a change made inactive, numbered in commit order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_revocation_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// SHA-256 hex of the token.
    pub hash: String,
    pub expires_at: i64,
    /// Milliseconds (service clock): what retention counts from.
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
