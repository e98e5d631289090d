//! The token cache, and the one rule it keeps: **the cache may only ever
//! say less than SQL.** It holds each active token's record for its
//! remaining lifetime and a tombstone for each token that stopped being
//! active. How the rule is kept, each part enforced here:
//!
//! 1. Every change that makes tokens inactive (revocation of a token, a
//!    grant, a code's tokens, an application's or a user's, a rotation)
//!    tombstones every affected token before its call returns
//!    ([`TokenCache::tombstone`]). A rotation, which must not answer
//!    before its transaction commits, marks the tokens `Provisional` first
//!    (readers then ask SQL) and turns the marks into tombstones once
//!    committed, so that a rotation that rolls back ends nothing. When a tombstone cannot be written the
//!    call fails with UNAVAILABLE (SQL already says revoked, so a retry is
//!    safe), the tombstones are retried in the background until they land,
//!    and until then this process reads those tokens from SQL.
//! 2. An *active* entry is only ever written where no entry exists
//!    (`SET NX`: issuance and fills after a miss) or in place of the exact
//!    entry that was read (compare-and-set: re-validation). So it can never
//!    cover a tombstone, whatever the order in which racing writes land.
//! 3. An active entry is trusted for at most `cache_trust` (10 s by
//!    default) after SQL last confirmed it; after that the next read checks
//!    SQL again and either renews the entry or tombstones it. This bounds
//!    what any lost tombstone can cost (a Redis that hung and came back
//!    with old data, a process that died between SQL and the cache).
//!    Sooner, too: an entry SQL confirmed before (or while) this process last
//!    saw the cache fail is checked again at its next read, since a
//!    tombstone may have been lost in that failure (a Redis that hung and
//!    came back with its data).
//! 4. Expiry is decided by the service's clock,
//!    never by the presence of an entry; entries also carry a TTL.
//!
//! A cache failure on a read falls back to SQL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use gatehouse_oauth::Clock;
use gatehouse_oauth::token::TokenKind;
use gatehouse_runtime::kv::Kv;
use gatehouse_runtime::metrics::{CacheLabels, metrics};
use serde::{Deserialize, Serialize};

use crate::error::{TokenError, TokenResult};
use crate::store::{Revoked, TokenRecord};

fn key(hash: &str) -> String {
    format!("token:{hash}")
}

fn replayed_key(code_id: &str) -> String {
    format!("replayed-code:{code_id}")
}

fn in_doubt_key(refresh_hash: &str) -> String {
    format!("rotation-in-doubt:{refresh_hash}")
}

/// How long a rotation whose commit was in doubt may be retried: longer
/// than a database failover and a client's back-off after the 503.
const IN_DOUBT_TTL: Duration = Duration::from_secs(900);

/// How long a replayed code's mark is kept: it only has to outlive the
/// first redemption's request, which a code's lifetime (10 minutes) bounds.
const REPLAY_MARK_TTL: Duration = Duration::from_secs(600);

/// How often tombstones that could not be written are tried again.
const PENDING_RETRY_EVERY: Duration = Duration::from_millis(200);

fn cache_unavailable(error: impl std::fmt::Display) -> TokenError {
    TokenError::Cache(error.to_string())
}

/// What the cache holds for a token hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Cached {
    Active(Box<ActiveToken>),
    Revoked,
    /// A change that may end the token is about to commit (a rotation
    /// writes these before its transaction commits): readers ask SQL, and
    /// never cache over it. The change upgrades it to `Revoked` once
    /// committed; a change that rolled back leaves it, and SQL keeps
    /// answering (the token stays active, as it is). A plain tombstone here
    /// would have ended a token that the rolled-back change never ended.
    Provisional,
}

/// An active token as introspection reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActiveToken {
    pub(crate) refresh: bool,
    /// A personal access token (entries written before it existed read false).
    #[serde(default)]
    pub(crate) personal: bool,
    /// A Txn-Token (entries written before it existed read false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) transaction: bool,
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    /// The resources it is for (entries written before it existed read none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) audience: Vec<String>,
    /// When SQL last said this token is active (service clock, seconds).
    /// Entries written before this field existed read 0: checked at once.
    #[serde(default)]
    pub(crate) checked_at: i64,
    /// RFC 9449: the DPoP key thumbprint it is bound to ("" unbound).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) jkt: String,
    /// RFC 8693 `act`, the current actor first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) actors: Vec<String>,
    /// When and how the user signed in for the grant (RFC 9470 §6.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) amr: Vec<String>,
}

impl ActiveToken {
    pub(crate) fn kind(&self) -> TokenKind {
        match (self.refresh, self.personal, self.transaction) {
            (true, _, _) => TokenKind::Refresh,
            (false, true, _) => TokenKind::Personal,
            (false, false, true) => TokenKind::Transaction,
            (false, false, false) => TokenKind::Access,
        }
    }

    pub(crate) fn from_record(record: &TokenRecord, checked_at: i64) -> Self {
        Self {
            refresh: record.kind == TokenKind::Refresh,
            personal: record.kind == TokenKind::Personal,
            transaction: record.kind == TokenKind::Transaction,
            client_id: record.client_id.clone(),
            user_id: record.user_id.clone(),
            username: record.username.clone(),
            scopes: record.scopes.clone(),
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            audience: record.audience.clone(),
            checked_at,
            jkt: record.jkt.clone(),
            actors: record.actors.clone(),
            auth_time: record.auth_time,
            amr: record.amr.clone(),
        }
    }

    /// How the user signed in (`amr`) and its class (`acr`), as the grant's
    /// sign-in had them; nothing without an interactive sign-in.
    pub(crate) fn authentication(&self) -> (Vec<String>, Option<&'static str>) {
        gatehouse_oauth::acr::of_sign_in(self.auth_time, &self.amr)
    }
}

/// A cache read: the state and the exact bytes it was read as (for the
/// compare-and-set of a re-validation).
pub(crate) struct Read {
    pub(crate) state: Cached,
    pub(crate) bytes: Vec<u8>,
}

fn remaining(expires_at: i64, now: i64) -> Option<Duration> {
    u64::try_from(expires_at - now).ok().filter(|s| *s > 0).map(Duration::from_secs)
}

fn encode(cached: &Cached) -> Vec<u8> {
    serde_json::to_vec(cached).unwrap_or_default()
}

/// When this process last saw the cache fail (service clock, seconds; 0: never).
#[derive(Debug, Default)]
pub(crate) struct CacheFailures {
    last: AtomicI64,
}

impl CacheFailures {
    fn record(&self, now: i64) {
        self.last.fetch_max(now, Ordering::AcqRel);
    }

    fn last(&self) -> i64 {
        self.last.load(Ordering::Acquire)
    }
}

/// Tombstones this process could not write yet: hash -> expiry. While a
/// hash is here, this process reads that token from SQL, not the cache.
#[derive(Debug, Default)]
pub(crate) struct PendingTombstones {
    hashes: RwLock<HashMap<String, i64>>,
    retrying: AtomicBool,
}

impl PendingTombstones {
    fn contains(&self, hash: &str) -> bool {
        let hashes = self.hashes.read().unwrap_or_else(PoisonError::into_inner);
        !hashes.is_empty() && hashes.contains_key(hash)
    }

    fn add(&self, revoked: &[Revoked]) {
        let mut hashes = self.hashes.write().unwrap_or_else(PoisonError::into_inner);
        hashes.extend(revoked.iter().map(|r| (r.hash.clone(), r.expires_at)));
    }

    fn snapshot(&self) -> Vec<(String, i64)> {
        let hashes = self.hashes.read().unwrap_or_else(PoisonError::into_inner);
        hashes.iter().map(|(hash, expires)| (hash.clone(), *expires)).collect()
    }

    fn remove(&self, written: &[(String, i64)]) {
        let mut hashes = self.hashes.write().unwrap_or_else(PoisonError::into_inner);
        for (hash, _) in written {
            hashes.remove(hash);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.hashes.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The token cache: the rule above, over the shared cache, with what this
/// process owes it. Cheap to clone (one shared state).
#[derive(Debug, Clone)]
pub(crate) struct TokenCache {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    kv: Arc<dyn Kv>,
    clock: Arc<dyn Clock>,
    /// How long an active entry is trusted after SQL last confirmed it.
    trust: Duration,
    failures: CacheFailures,
    pending: PendingTombstones,
    /// Poked when a change committed: its events are in the revocation log.
    feed: Arc<crate::watch::Feed>,
}

impl TokenCache {
    pub(crate) fn new(kv: Arc<dyn Kv>, clock: Arc<dyn Clock>, trust: Duration, feed: Arc<crate::watch::Feed>) -> Self {
        let state =
            State { kv, clock, trust, failures: CacheFailures::default(), pending: PendingTombstones::default(), feed };
        Self { state: Arc::new(state) }
    }

    fn now(&self) -> i64 {
        self.state.clock.now().timestamp()
    }

    /// The cached state of a token; `None` on a miss, a cache failure, or
    /// while this process still owes the token a tombstone.
    pub(crate) async fn cached(&self, hash: &str) -> Option<Read> {
        if self.state.pending.contains(hash) {
            return None;
        }
        let (read, result) = match self.state.kv.get(&key(hash)).await {
            Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(state) => (Some(Read { state, bytes }), "hit"),
                Err(_) => (None, "error"),
            },
            Ok(None) => (None, "miss"),
            Err(error) => {
                tracing::debug!(%error, "token cache read failed, reading SQL");
                self.state.failures.record(self.now());
                (None, "error")
            }
        };
        metrics().cache_lookups.get_or_create(&CacheLabels { cache: "token", result }).inc();
        read
    }

    /// Whether an active entry checked at `checked_at` is still trusted at
    /// `now`: within the trust bound, and confirmed after the last cache
    /// failure this process saw.
    pub(crate) fn trusted(&self, checked_at: i64, now: i64) -> bool {
        let trust = i64::try_from(self.state.trust.as_secs()).unwrap_or(i64::MAX);
        checked_at <= now && now - checked_at < trust && checked_at > self.state.failures.last()
    }

    /// Caches newly issued tokens, only where the cache holds nothing for
    /// them: a revocation that raced the issuance may have tombstoned them
    /// already, and its tombstone must win. Best effort: SQL has them.
    pub(crate) async fn cache_issued(&self, records: &[TokenRecord]) {
        for record in records {
            self.cache_fill(record).await;
        }
    }

    /// Caches a token read from (or just written to) SQL, unless the cache
    /// already holds a state for it: a tombstone written meanwhile must win.
    pub(crate) async fn cache_fill(&self, record: &TokenRecord) {
        let now = self.now();
        let Some(ttl) = remaining(record.expires_at, now) else { return };
        let value = encode(&Cached::Active(Box::new(ActiveToken::from_record(record, now))));
        if let Err(error) = self.state.kv.set_if_absent(&key(&record.hash), &value, ttl).await {
            tracing::debug!(%error, "token cache fill failed");
        }
    }

    /// Renews an entry that SQL confirmed, in place of the exact bytes read
    /// (a tombstone written since is left alone).
    pub(crate) async fn cache_renew(&self, hash: &str, read: &[u8], active: &ActiveToken) {
        let now = self.now();
        let Some(ttl) = remaining(active.expires_at, now) else { return };
        let renewed = ActiveToken { checked_at: now, ..active.clone() };
        let value = encode(&Cached::Active(Box::new(renewed)));
        if let Err(error) = self.state.kv.replace(&key(hash), read, &value, ttl).await {
            tracing::debug!(%error, "token cache renewal failed");
        }
    }

    /// Tombstone entries for (hash, expiry) pairs, each for the rest of its
    /// token's lifetime (expired ones need none).
    fn tombstones<'a>(&self, tokens: impl Iterator<Item = (&'a str, i64)>) -> Vec<(String, Vec<u8>, Duration)> {
        let now = self.now();
        let value = encode(&Cached::Revoked);
        tokens.filter_map(|(hash, expires_at)| Some((key(hash), value.clone(), remaining(expires_at, now)?))).collect()
    }

    /// Tombstones tokens for the rest of their lifetime, all in one round
    /// trip. On failure the tombstones are kept for a background retry and
    /// the call fails (UNAVAILABLE): its caller may retry, and meanwhile
    /// this process reads those tokens from SQL.
    pub(crate) async fn tombstone(&self, revoked: &[Revoked]) -> TokenResult<()> {
        // The change committed: its events are in the log; streams here hear of them now.
        self.state.feed.poke();
        let entries = self.tombstones(revoked.iter().map(|r| (r.hash.as_str(), r.expires_at)));
        match self.state.kv.set_many(&entries).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.state.failures.record(self.now());
                self.state.pending.add(revoked);
                self.retry_pending_tombstones();
                Err(cache_unavailable(error))
            }
        }
    }

    /// Marks tokens whose change has not committed yet (`Provisional`):
    /// from here on every reader asks SQL about them, so the change is seen
    /// everywhere the moment it commits. A failure is only reported (the
    /// change is then rolled back); a mark that landed anyway, even late
    /// (a hung Redis runs its queued commands when it resumes), only sends
    /// readers to SQL, which still says active.
    pub(crate) async fn mark_provisional(&self, revoked: &[Revoked]) -> TokenResult<()> {
        let now = self.now();
        let value = encode(&Cached::Provisional);
        let entries: Vec<_> =
            revoked.iter().filter_map(|r| Some((key(&r.hash), value.clone(), remaining(r.expires_at, now)?))).collect();
        self.state.kv.set_many(&entries).await.map_err(cache_unavailable)
    }

    /// After the change committed: the provisional marks become tombstones.
    /// Best effort: until they land, readers of the marks ask SQL (which
    /// says inactive), and this process owes them (retried in the background).
    pub(crate) async fn confirm_tombstones(&self, revoked: &[Revoked]) {
        if let Err(error) = self.tombstone(revoked).await {
            tracing::debug!(%error, "committed change's tombstones owed; readers ask SQL meanwhile");
        }
    }

    /// Writes owed tombstones until none is left (one task at a time).
    fn retry_pending_tombstones(&self) {
        if self.state.pending.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PENDING_RETRY_EVERY).await;
                let owed = cache.state.pending.snapshot();
                let entries = cache.tombstones(owed.iter().map(|(hash, expires)| (hash.as_str(), *expires)));
                if cache.state.kv.set_many(&entries).await.is_ok() {
                    cache.state.pending.remove(&owed);
                    tracing::info!(tombstones = owed.len(), "owed token tombstones written");
                }
                if cache.state.pending.len() == 0 {
                    cache.state.pending.retrying.store(false, Ordering::Release);
                    // A tombstone added between the check and the store starts its own task.
                    if cache.state.pending.len() == 0 || cache.state.pending.retrying.swap(true, Ordering::AcqRel) {
                        return;
                    }
                }
            }
        });
    }

    /// Marks a code as replayed, for a first redemption still in flight.
    pub(crate) async fn mark_replayed(&self, code_id: &str) -> TokenResult<()> {
        self.state.kv.set(&replayed_key(code_id), b"1", REPLAY_MARK_TTL).await.map_err(cache_unavailable)
    }

    pub(crate) async fn was_replayed(&self, code_id: &str) -> TokenResult<bool> {
        Ok(self.state.kv.get(&replayed_key(code_id)).await.map_err(cache_unavailable)?.is_some())
    }

    /// Records that the rotation of `refresh_hash` to `successor_hash` failed
    /// with an outcome not known (a commit cut off by a database failover
    /// may have landed on the new primary): the client, answered 503, never
    /// saw the successor and will retry. Best effort: without the cache the
    /// retry is judged by the retry window alone.
    pub(crate) async fn mark_in_doubt(&self, refresh_hash: &str, successor_hash: &str) {
        let written = self.state.kv.set(&in_doubt_key(refresh_hash), successor_hash.as_bytes(), IN_DOUBT_TTL).await;
        if let Err(error) = written {
            tracing::warn!(%error, "a rotation in doubt could not be recorded; its retry counts as a reuse");
        }
    }

    /// The successor an in-doubt rotation of `refresh_hash` stored, if any.
    pub(crate) async fn in_doubt(&self, refresh_hash: &str) -> Option<String> {
        let found = self.state.kv.get(&in_doubt_key(refresh_hash)).await.ok()??;
        String::from_utf8(found).ok()
    }
}
