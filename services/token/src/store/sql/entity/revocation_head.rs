use sea_orm::entity::prelude::*;

/// The one row (`id = 1`) holding the newest event's number. A transaction
/// that logs events updates it, which locks it until that transaction
/// commits: numbers are handed out in commit order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_revocation_head")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
