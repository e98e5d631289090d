use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_tokens")]
pub struct Model {
    /// SHA-256 hex of the token; the token itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hash: String,
    /// `access` or `refresh`.
    pub kind: String,
    pub client_id: String,
    pub user_id: String,
    pub username: String,
    /// JSON array of scope strings.
    pub scopes: String,
    pub family_id: String,
    pub code_id: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub rotated_at: Option<i64>,
    /// For a rotated refresh token: the hash of the refresh token that
    /// replaced it, so that a retried rotation can be told from a reuse.
    pub rotated_to: Option<String>,
    /// OpenID Connect `auth_time` of the grant's login (unix seconds).
    pub auth_time: Option<i64>,
    /// RFC 8176 `amr` of the grant's sign-in, space-separated.
    pub amr: Option<String>,
    /// JSON array of resource identifiers; NULL when none.
    pub audience: Option<String>,
    /// RFC 9449: the thumbprint of the DPoP key the token is bound to; NULL when unbound.
    pub jkt: Option<String>,
    /// RFC 8693: the grant an exchanged token descends from; NULL otherwise.
    pub parent_family_id: Option<String>,
    /// RFC 8693 `act` chain, the current actor first (JSON array); NULL when none.
    pub actors: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
