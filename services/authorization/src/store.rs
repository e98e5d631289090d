//! The service's storage port: grants (remembered consents).

pub(crate) mod sql;

use gatehouse_oauth::ScopeSet;

use crate::error::AuthzResult;

/// One user's consent to one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) user_id: String,
    pub(crate) client_id: String,
    pub(crate) scopes: ScopeSet,
    pub(crate) created_at: i64,
    pub(crate) last_used_at: Option<i64>,
}

/// Whose grants a bulk deletion removes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GrantSubject<'a> {
    Client(&'a str),
    User(&'a str),
}

#[async_trait::async_trait]
pub(crate) trait GrantStore: Send + Sync + std::fmt::Debug {
    async fn grant(&self, user_id: &str, client_id: &str) -> AuthzResult<Option<Grant>>;
    /// Adds `scopes` to the grant (creating it), in one transaction; returns the union.
    async fn add_scopes(&self, user_id: &str, client_id: &str, scopes: &ScopeSet, now: i64) -> AuthzResult<ScopeSet>;
    /// Records that the grant was used (a code redeemed).
    async fn touch(&self, user_id: &str, client_id: &str, now: i64) -> AuthzResult<()>;
    /// The user's grants, newest first.
    async fn list(&self, user_id: &str) -> AuthzResult<Vec<Grant>>;
    /// Deletes a grant; false when there was none.
    async fn delete(&self, user_id: &str, client_id: &str) -> AuthzResult<bool>;
    /// Deletes every grant of an application or of a user; returns how many.
    async fn delete_all(&self, subject: GrantSubject<'_>) -> AuthzResult<u64>;
}

/// Where an account is signed in, as a person sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRow {
    pub(crate) id: String,
    pub(crate) user_id: String,
    /// The cache key of the session (SHA-256 of its token).
    pub(crate) token_hash: String,
    pub(crate) created_at: i64,
    pub(crate) last_seen_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) address: String,
    pub(crate) user_agent: String,
    pub(crate) amr: Vec<String>,
}

/// The sessions' index by user: the sessions themselves live in the cache.
#[async_trait::async_trait]
pub(crate) trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Adds a session; removes the user's expired ones in the same transaction.
    async fn insert(&self, row: &SessionRow, now: i64) -> AuthzResult<()>;
    /// The user's live sessions, most recently seen first.
    async fn list(&self, user_id: &str, now: i64) -> AuthzResult<Vec<SessionRow>>;
    async fn touch(&self, id: &str, now: i64) -> AuthzResult<()>;
    /// Removes one of the user's sessions; its cache key, when it was there.
    async fn remove(&self, user_id: &str, id: &str) -> AuthzResult<Option<String>>;
    /// Removes every session of the user but `keep` (a session id); their cache keys.
    async fn remove_others(&self, user_id: &str, keep: &str) -> AuthzResult<Vec<String>>;
    /// Removes the session whose token hashes to `token_hash` (signed out).
    async fn remove_by_hash(&self, token_hash: &str) -> AuthzResult<()>;
}
