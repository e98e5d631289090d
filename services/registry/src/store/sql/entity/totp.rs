use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registry_totp")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// The secret sealed with the key-encryption key (label `totp:{user_id}`).
    pub sealed_secret: String,
    pub created_at: i64,
    /// None while enrolment waits for its first code.
    pub confirmed_at: Option<i64>,
    /// The last time step accepted: a code for it or an earlier one is refused.
    pub last_step: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
