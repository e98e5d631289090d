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
    /// "" (owned) or "dynamic".
    pub registration: String,
    /// SHA-256 of the registration access token; "" when none.
    pub registration_token_hash: String,
    /// When the registration access token expires; `None`: never.
    pub registration_token_expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// token_endpoint_auth_method; "" derives it from the client type.
    pub auth_method: String,
    pub application_type: String,
    pub jwks: String,
    pub jwks_uri: String,
    /// JSON object of the echo-only RFC 7591 metadata.
    pub client_metadata: String,
    /// id_token_signed_response_alg; "" is RS256.
    pub id_token_alg: String,
    /// require_pushed_authorization_requests (RFC 9126 §6).
    pub require_par: bool,
    /// dpop_bound_access_tokens (RFC 9449 §5.2).
    pub require_dpop: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
