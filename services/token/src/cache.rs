//! The token cache: each active token's record for its remaining lifetime,
//! and a tombstone for each revoked one. A cache failure on a read falls
//! back to SQL; a failed tombstone fails the revocation, so that it is
//! retried rather than leaving a revoked token active in the cache.

use std::time::Duration;

use gatehouse_oauth::token::TokenKind;
use gatehouse_runtime::metrics::{CacheLabels, metrics};
use serde::{Deserialize, Serialize};

use crate::error::{TokenError, TokenResult};
use crate::service::TokenService;
use crate::store::{Revoked, TokenRecord};

fn key(hash: &str) -> String {
    format!("token:{hash}")
}

fn replayed_key(code_id: &str) -> String {
    format!("replayed-code:{code_id}")
}

/// How long a replayed code's mark is kept: it only has to outlive the
/// first redemption's request, which a code's lifetime (10 minutes) bounds.
const REPLAY_MARK_TTL: Duration = Duration::from_secs(600);

fn cache_unavailable(error: impl std::fmt::Display) -> TokenError {
    TokenError::Upstream { service: "token cache", status: tonic::Status::unavailable(error.to_string()) }
}

/// What the cache holds for a token hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Cached {
    Active(ActiveToken),
    Revoked,
}

/// An active token as introspection reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActiveToken {
    pub(crate) refresh: bool,
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
}

impl ActiveToken {
    pub(crate) fn kind(&self) -> TokenKind {
        if self.refresh { TokenKind::Refresh } else { TokenKind::Access }
    }
}

impl From<&TokenRecord> for ActiveToken {
    fn from(record: &TokenRecord) -> Self {
        Self {
            refresh: record.kind == TokenKind::Refresh,
            client_id: record.client_id.clone(),
            user_id: record.user_id.clone(),
            username: record.username.clone(),
            scopes: record.scopes.clone(),
            issued_at: record.issued_at,
            expires_at: record.expires_at,
        }
    }
}

fn remaining(expires_at: i64, now: i64) -> Option<Duration> {
    u64::try_from(expires_at - now).ok().filter(|s| *s > 0).map(Duration::from_secs)
}

impl TokenService {
    /// The cached state of a token; `None` on a miss or a cache failure.
    pub(crate) async fn cached(&self, hash: &str) -> Option<Cached> {
        let (cached, result) = match self.inner.kv.get(&key(hash)).await {
            Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(cached) => (Some(cached), "hit"),
                Err(_) => (None, "error"),
            },
            Ok(None) => (None, "miss"),
            Err(error) => {
                tracing::warn!(%error, "token cache read failed, reading SQL");
                (None, "error")
            }
        };
        metrics().cache_lookups.get_or_create(&CacheLabels { cache: "token", result }).inc();
        cached
    }

    /// Caches newly issued tokens. Best effort: SQL already has them.
    pub(crate) async fn cache_issued(&self, records: &[TokenRecord]) {
        let now = self.now();
        for record in records {
            let Some(ttl) = remaining(record.expires_at, now) else { continue };
            let value = serde_json::to_vec(&Cached::Active(record.into())).unwrap_or_default();
            if let Err(error) = self.inner.kv.set(&key(&record.hash), &value, ttl).await {
                tracing::warn!(%error, "token cache write failed");
            }
        }
    }

    /// Caches a token read from SQL, unless the cache already holds a state
    /// for it: a tombstone written meanwhile must win over this older read.
    pub(crate) async fn cache_fill(&self, record: &TokenRecord) {
        let Some(ttl) = remaining(record.expires_at, self.now()) else { return };
        let value = serde_json::to_vec(&Cached::Active(record.into())).unwrap_or_default();
        if let Err(error) = self.inner.kv.set_if_absent(&key(&record.hash), &value, ttl).await {
            tracing::warn!(%error, "token cache fill failed");
        }
    }

    /// Tombstones revoked tokens for the rest of their lifetime.
    pub(crate) async fn tombstone(&self, revoked: &[Revoked]) -> TokenResult<()> {
        let now = self.now();
        let value = serde_json::to_vec(&Cached::Revoked).unwrap_or_default();
        for token in revoked {
            let Some(ttl) = remaining(token.expires_at, now) else { continue };
            self.inner.kv.set(&key(&token.hash), &value, ttl).await.map_err(cache_unavailable)?;
        }
        Ok(())
    }

    /// Marks a code as replayed, for a first redemption still in flight.
    pub(crate) async fn mark_replayed(&self, code_id: &str) -> TokenResult<()> {
        self.inner.kv.set(&replayed_key(code_id), b"1", REPLAY_MARK_TTL).await.map_err(cache_unavailable)
    }

    pub(crate) async fn was_replayed(&self, code_id: &str) -> TokenResult<bool> {
        Ok(self.inner.kv.get(&replayed_key(code_id)).await.map_err(cache_unavailable)?.is_some())
    }
}
