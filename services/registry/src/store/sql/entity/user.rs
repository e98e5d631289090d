use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registry_users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Lowercased username: the unique key, so "Alice" and "alice" collide.
    #[sea_orm(unique)]
    pub username_key: String,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub avatar_url: String,
    pub password_hash: String,
    pub created_at: i64,
    /// Holds the administrator role (the admin console's); set only by operators.
    pub administrator: bool,
    /// When the address was confirmed by a link sent to it.
    pub email_verified_at: Option<i64>,
    /// When an operator or an administrator disabled the account; none while enabled.
    pub disabled_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
