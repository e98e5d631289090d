//! The service's storage port: tokens, stored by hash.

pub(crate) mod sql;

use gatehouse_oauth::token::TokenKind;

use crate::error::TokenResult;

/// One issued token, as stored. The token itself is never stored: `hash` is
/// its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRecord {
    pub(crate) hash: String,
    pub(crate) kind: TokenKind,
    pub(crate) client_id: String,
    /// Empty for client_credentials tokens.
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) scopes: Vec<String>,
    /// The grant a token belongs to: everything issued from one code (or one
    /// client_credentials request) and its refresh rotations.
    pub(crate) family_id: String,
    /// The authorization code the family started from.
    pub(crate) code_id: Option<String>,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) revoked: bool,
    /// For refresh tokens: already exchanged for a new one.
    pub(crate) rotated: bool,
}

/// A token that a revocation just switched off: what the cache must tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revoked {
    pub(crate) hash: String,
    pub(crate) expires_at: i64,
    /// False when it was revoked before: tombstoned again all the same, so
    /// that a revocation retried after a cache failure still reaches the cache.
    pub(crate) newly: bool,
}

/// Which tokens a revocation covers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RevokeScope<'a> {
    Token(&'a str),
    Family(&'a str),
    Code(&'a str),
    UserClient { user_id: &'a str, client_id: &'a str },
}

#[async_trait::async_trait]
pub(crate) trait TokenStore: Send + Sync + std::fmt::Debug {
    /// Inserts tokens in one transaction.
    async fn insert(&self, tokens: &[TokenRecord]) -> TokenResult<()>;
    async fn find(&self, hash: &str) -> TokenResult<Option<TokenRecord>>;
    /// Marks the refresh token rotated and inserts its successors, in one
    /// transaction; false (and nothing written) when it was already rotated
    /// or revoked, so that of concurrent rotations exactly one wins.
    async fn rotate(&self, refresh_hash: &str, successors: &[TokenRecord]) -> TokenResult<bool>;
    /// Revokes the tokens in `scope`; returns all of them, newly revoked or not.
    async fn revoke(&self, scope: RevokeScope<'_>, now: i64) -> TokenResult<Vec<Revoked>>;
    /// Deletes up to `limit` rows that expired before `before`; returns how many.
    async fn delete_expired(&self, before: i64, limit: u64) -> TokenResult<u64>;
}
