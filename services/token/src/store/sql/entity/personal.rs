use sea_orm::entity::prelude::*;

/// A personal access token's description; the token is the row of
/// `token_tokens` whose hash is `hash` (kind `personal`, family `id`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_personal")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// SHA-256 hex of the current token (a regeneration replaces it).
    pub hash: String,
    /// JSON array of scope strings.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_address: Option<String>,
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
