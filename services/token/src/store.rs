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
    /// When the user signed in for the grant (OpenID Connect `auth_time`):
    /// a refreshed ID token repeats the original login's time (Core §12.2).
    /// None for application tokens and rows written before it existed.
    pub(crate) auth_time: Option<i64>,
    /// How the user signed in for the grant (RFC 8176 `amr`); empty for
    /// application tokens and rows written before it was kept.
    pub(crate) amr: Vec<String>,
    /// RFC 8707 resource identifiers: an access token's audience; for a
    /// refresh token, the grant's resources (what a refresh may narrow to).
    /// Empty: no resource was named (Gatehouse's own API and UserInfo).
    pub(crate) audience: Vec<String>,
    /// RFC 9449: the thumbprint of the DPoP key the token is bound to; "" unbound.
    pub(crate) jkt: String,
    /// RFC 8693: the grant (family) an exchanged token descends from; its
    /// revocation, or the user's grant's, ends this token too.
    pub(crate) parent_family: Option<String>,
    /// RFC 8693 `act`: who acts for the subject, the current actor first.
    pub(crate) actors: Vec<String>,
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

/// One token the revocation log says was made inactive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoggedRevocation {
    /// The event's number: in commit order, with no gaps.
    pub(crate) seq: i64,
    pub(crate) hash: String,
    pub(crate) expires_at: i64,
}

/// A personal access token's description (its token is a [`TokenRecord`]
/// of kind `Personal` whose family is `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PersonalRecord {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) name: String,
    /// The current token's hash.
    pub(crate) hash: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) last_used_at: Option<i64>,
    pub(crate) last_used_address: Option<String>,
}

/// Which tokens a revocation covers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RevokeScope<'a> {
    Token(&'a str),
    Family(&'a str),
    Code(&'a str),
    /// One user's grant to one application.
    UserClient {
        user_id: &'a str,
        client_id: &'a str,
    },
    /// Everything of a deleted application.
    Client(&'a str),
    /// Everything of a deleted user.
    User(&'a str),
    /// Every token a user holds now, the account kept (a password reset):
    /// like a grant's revocation, it catches only what was being issued
    /// from before it.
    UserTokens(&'a str),
}

impl RevokeScope<'_> {
    /// The subject a revocation of this scope records, so that tokens being
    /// issued for it at the same moment find it (see [`TokenStore::fenced`]).
    /// Tokens, families and codes need none: nothing new is issued into them
    /// once they are revoked (a rotation refuses a revoked refresh token).
    pub(crate) fn subject(&self) -> Option<String> {
        match self {
            Self::Token(_) | Self::Family(_) | Self::Code(_) => None,
            Self::UserClient { user_id, client_id } => Some(grant_subject(user_id, client_id)),
            Self::Client(client_id) => Some(format!("client:{client_id}")),
            Self::User(user_id) => Some(format!("user:{user_id}")),
            Self::UserTokens(user_id) => Some(signed_out_subject(user_id)),
        }
    }
}

pub(crate) fn signed_out_subject(user_id: &str) -> String {
    format!("signout:{user_id}")
}

pub(crate) fn grant_subject(user_id: &str, client_id: &str) -> String {
    format!("grant:{user_id}:{client_id}")
}

/// Whom a new family's tokens are for: what a revocation running at the
/// same moment may have meant to catch (see [`TokenStore::insert`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fence {
    /// The newest subject revocation read before the grant was redeemed:
    /// a grant revocation only catches the tokens when it came after it.
    pub(crate) watermark: i64,
    pub(crate) client_id: String,
    /// Empty for an application's own tokens.
    pub(crate) user_id: String,
}

impl Fence {
    /// The subjects whose revocation catches these tokens: the
    /// application, the user and the user's grant to the application.
    pub(crate) fn subjects(&self) -> Vec<String> {
        let mut subjects = vec![format!("client:{}", self.client_id)];
        if !self.user_id.is_empty() {
            subjects.push(format!("user:{}", self.user_id));
            subjects.push(grant_subject(&self.user_id, &self.client_id));
            subjects.push(signed_out_subject(&self.user_id));
        }
        subjects
    }

    /// The subject that caught the tokens, given the newest revocation of
    /// each subject: the application or the user deleted (at any time), or
    /// the grant revoked, or the user signed out everywhere, after the watermark.
    pub(crate) fn caught_by(&self, newest: &std::collections::HashMap<String, i64>) -> Option<String> {
        let grant = (!self.user_id.is_empty()).then(|| grant_subject(&self.user_id, &self.client_id));
        let signed_out = (!self.user_id.is_empty()).then(|| signed_out_subject(&self.user_id));
        self.subjects().into_iter().find(|subject| match newest.get(subject) {
            Some(id) if Some(subject) == grant.as_ref() || Some(subject) == signed_out.as_ref() => *id > self.watermark,
            Some(_) => true,
            None => false,
        })
    }
}

/// Runs inside a rotation's transaction before it commits (see [`TokenStore::rotate`]).
pub(crate) type BeforeCommit = std::sync::Arc<dyn Fn(Vec<Revoked>) -> CommitCheck + Send + Sync>;

/// The future a [`BeforeCommit`] returns.
pub(crate) type CommitCheck = std::pin::Pin<Box<dyn std::future::Future<Output = TokenResult<()>> + Send>>;

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rotation {
    /// The successors are stored; `ended` are the tokens the rotation made
    /// inactive (the old refresh token and the previous access tokens).
    Rotated { ended: Vec<Revoked> },
    /// The refresh token had been rotated moments ago and its successor was
    /// never used: the same client retrying a request whose answer it did
    /// not receive. The unused successors are revoked (in `ended`) and the
    /// new ones stored in their place.
    Retried { ended: Vec<Revoked> },
    /// Rotated before, outside the retry window (none by default) or with its successor used:
    /// a reuse (RFC 9700 §4.14.2).
    Reused,
    /// Revoked (or gone): nothing written.
    Inactive,
}

/// The service's storage, one trait per concern (one SQL store implements all three).
#[derive(Debug, Clone)]
pub(crate) struct Stores {
    pub(crate) tokens: std::sync::Arc<dyn TokenStore>,
    pub(crate) personal: std::sync::Arc<dyn PersonalTokenStore>,
    pub(crate) log: std::sync::Arc<dyn RevocationLog>,
}

impl Stores {
    pub(crate) fn all<S: TokenStore + PersonalTokenStore + RevocationLog + 'static>(store: S) -> Self {
        let store = std::sync::Arc::new(store);
        Self { tokens: store.clone(), personal: store.clone(), log: store }
    }
}

/// When a rotated refresh token presented again is the client's retry (its
/// successor, never used, is replaced) rather than a reuse (the grant ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetryRule {
    /// Rotated at or after this time (`i64::MAX`: never by time).
    pub(crate) since: i64,
    /// Rotated to this successor by an attempt whose commit's outcome was
    /// not known when it answered 503: the client never saw the successor.
    pub(crate) in_doubt: Option<String>,
}

impl RetryRule {
    /// Whether a rotation at `rotated_at` to `successor` may be retried.
    pub(crate) fn allows(&self, rotated_at: i64, successor: &str) -> bool {
        rotated_at >= self.since || self.in_doubt.as_deref() == Some(successor)
    }
}

/// Tokens: issued, read, rotated, revoked, fenced and cleaned up.
#[async_trait::async_trait]
pub(crate) trait TokenStore: Send + Sync + std::fmt::Debug {
    /// Inserts a new family's tokens in one transaction, then, once they
    /// are committed, looks for a revocation that caught them: returns its
    /// subject (see [`Fence::caught_by`]). A revocation records its subject
    /// before it revokes by scope, so either it finds these tokens or this
    /// look finds it.
    async fn insert(&self, tokens: &[TokenRecord], fence: &Fence) -> TokenResult<Option<String>>;
    async fn find(&self, hash: &str) -> TokenResult<Option<TokenRecord>>;
    /// Marks the refresh token rotated, ends the family's previous access
    /// tokens and inserts the successors (an access token and the new
    /// refresh token, in that order), in one transaction; of concurrent
    /// rotations exactly one wins. A second rotation of a refresh token
    /// that `retry` allows, its successor unused, is a retry.
    ///
    /// `before_commit` is given the tokens the rotation ends and runs inside
    /// the transaction, before the commit: it tombstones them, so that a
    /// rotation whose tombstones cannot be written is not committed at all
    /// (the client's retry with the same refresh token then simply works).
    /// Concurrent rotations of different grants may share one transaction
    /// (group commit); each one's `before_commit` sees only its own tokens,
    /// and one that fails takes only its own rotation out.
    async fn rotate(
        &self,
        refresh_hash: &str,
        successors: &[TokenRecord],
        now: i64,
        retry: &RetryRule,
        before_commit: BeforeCommit,
    ) -> TokenResult<Rotation>;
    /// Revokes the tokens in `scope`; returns every unexpired token of it,
    /// newly revoked or not (to tombstone them all again: a revocation
    /// retried after a cache failure must still reach the cache). Scopes
    /// with a subject record it first, stamped `now_ms` (see [`RevokeScope::subject`]).
    async fn revoke(&self, scope: RevokeScope<'_>, now: i64, now_ms: i64) -> TokenResult<Vec<Revoked>>;
    /// The newest recorded subject revocation (0 when none): read before a
    /// code is redeemed, then given to [`TokenStore::fenced`].
    async fn revocation_watermark(&self) -> TokenResult<i64>;
    /// The subject of a revocation that caught tokens just stored for
    /// `fence` (see [`Fence::caught_by`]), for tokens stored otherwise than
    /// by [`TokenStore::insert`].
    async fn fenced(&self, fence: &Fence) -> TokenResult<Option<String>>;
    /// Deletes up to `limit` rows that expired before `before`; returns how many.
    async fn delete_expired(&self, before: i64, limit: u64) -> TokenResult<u64>;
}

/// Personal access tokens' descriptions, beside their tokens.
#[async_trait::async_trait]
pub(crate) trait PersonalTokenStore: Send + Sync + std::fmt::Debug {
    /// Stores a personal access token and its description, together.
    async fn insert_personal(&self, personal: &PersonalRecord, token: &TokenRecord) -> TokenResult<()>;
    /// The user's personal access tokens that were not revoked, newest first.
    async fn personal_tokens(&self, user_id: &str) -> TokenResult<Vec<PersonalRecord>>;
    /// Replaces a personal access token's token, in one transaction: the
    /// old token revoked, `token` stored, the description pointing at it.
    /// Returns the old token, for the cache's tombstone.
    async fn regenerate_personal(&self, id: &str, token: &TokenRecord, now: i64) -> TokenResult<Vec<Revoked>>;
    /// Marks descriptions revoked (their tokens are revoked by hash first).
    async fn personal_revoked(&self, ids: &[String], now: i64) -> TokenResult<()>;
    /// Records a use of the personal access token of `hash`.
    async fn touch_personal(&self, hash: &str, now: i64, address: &str) -> TokenResult<()>;
}

/// The revocation log: every change that makes a token inactive, in commit order.
#[async_trait::async_trait]
pub(crate) trait RevocationLog: Send + Sync + std::fmt::Debug {
    /// The revocation log after event `after`, oldest first, at most `limit`.
    /// Every change that makes a token inactive (revocation of any scope,
    /// rotation, a personal token's regeneration) logs it in its own
    /// transaction, numbered in commit order: a reader that has read up to
    /// N has seen every event numbered up to N.
    async fn revocations_after(&self, after: i64, limit: u64) -> TokenResult<Vec<LoggedRevocation>>;
    /// (the first event still held, the newest event's number); the first
    /// is `head + 1` when the log is empty.
    async fn revocation_log_bounds(&self) -> TokenResult<(i64, i64)>;
    /// Deletes up to `limit` events logged before `before_ms`; returns how many.
    async fn delete_old_revocations(&self, before_ms: i64, limit: u64) -> TokenResult<u64>;
}

/// Runs `delete` (which deletes at most `batch` rows and says how many)
/// until a call deletes fewer; returns the total.
pub(crate) async fn in_batches<F, Fut>(batch: u64, mut delete: F) -> TokenResult<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = TokenResult<u64>>,
{
    let mut total = 0;
    loop {
        let deleted = delete().await?;
        total += deleted;
        if deleted < batch {
            return Ok(total);
        }
        // Let other work in between batches.
        tokio::task::yield_now().await;
    }
}
