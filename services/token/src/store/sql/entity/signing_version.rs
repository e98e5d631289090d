use sea_orm::entity::prelude::*;

/// Per algorithm, the version of its key set: every change compares and sets it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_signing_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub alg: String,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
