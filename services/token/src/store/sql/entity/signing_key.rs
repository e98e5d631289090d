use sea_orm::entity::prelude::*;

/// A signing key. Its state follows from its times: published and waiting
/// (none set), active (activated), retiring (deactivated: still published,
/// no longer signing), retired (gone from the JWKS, private key erased).
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub sealed_private_key: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub deactivated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

/// The sealed private key is ciphertext, but still not for logs.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
