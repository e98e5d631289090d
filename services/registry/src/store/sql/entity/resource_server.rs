use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registry_resource_servers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    pub name: String,
    /// The resource indicator, unique.
    pub identifier: String,
    /// JSON array of scope strings.
    pub scopes: String,
    /// `opaque` or `jwt`.
    pub token_format: String,
    /// JSON array of client ids.
    pub allowed_client_ids: String,
    pub any_client: bool,
    pub application_tokens: bool,
    /// Empty when none.
    pub introspection_client_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
