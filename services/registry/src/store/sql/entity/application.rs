use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registry_applications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub homepage_url: String,
    pub logo_url: String,
    /// JSON array of strings.
    pub redirect_uris: String,
    pub client_type: String,
    /// JSON array of grant type strings.
    pub grant_types: String,
    /// JSON array of scope strings.
    pub scopes: String,
    /// JSON array of strings.
    pub post_logout_redirect_uris: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
