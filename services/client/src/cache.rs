//! [`TokenCache`]: validations remembered in memory, kept true by the token
//! service's revocation stream (`WatchRevocations`).
//!
//! The promise: **a token revoked at time T is refused by every layer using
//! the cache by T + `stream_bound` (2 s by default), whatever fails.** How:
//!
//! 1. A validation (Introspect's answer) is cached by the token's SHA-256
//!    until the token expires or `max_age` passes; an inactive answer for
//!    `negative_ttl`.
//! 2. A background task reads the stream. Every revoked token it names is
//!    evicted and remembered as revoked (for `max_age`), so a validation
//!    that was in flight when the event came cannot put it back: a fill
//!    checks for the tombstone *after* inserting, and undoes itself.
//! 3. The cache is trusted only while the stream is healthy: a message
//!    (events or the 500 ms heartbeat) within `stream_bound`, and caught up
//!    (its cursor at the log's head, or behind it for less than the bound).
//!    Otherwise every request is introspected, until the stream is back and
//!    has caught up. Reconnection resumes from the last cursor, so no event
//!    is missed; a cursor the log no longer holds drops every validation.
//!
//! The residual window is the token service's own: it answers from SQL or
//! from a cache that is tombstoned before its revocation call returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gatehouse_proto::pb::token::v1::WatchRevocationsRequest;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_upstream::Upstream;
use moka::Expiry;
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;

use crate::Caller;

/// How a [`TokenCache`] behaves.
#[derive(Debug, Clone)]
pub struct TokenCacheOptions {
    /// Most validations held (each about 250 bytes with its caller).
    pub max_entries: u64,
    /// Longest a validation is used without asking again, whatever the stream says.
    pub max_age: Duration,
    /// How long an inactive answer is remembered.
    pub negative_ttl: Duration,
    /// The stream silent, or behind, for longer than this: the cache is not used.
    pub stream_bound: Duration,
}

impl Default for TokenCacheOptions {
    fn default() -> Self {
        Self {
            max_entries: 1_000_000,
            max_age: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(2),
            stream_bound: Duration::from_secs(2),
        }
    }
}

/// The key: a token's SHA-256, as the revocation log names it.
pub(crate) type Key = [u8; 32];

pub(crate) fn key_of(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

fn key_from_hex(hex: &str) -> Option<Key> {
    let mut key = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

/// A remembered validation.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Active(Arc<Caller>),
    Inactive,
}

struct AnswerExpiry {
    max_age: Duration,
    negative_ttl: Duration,
    clock: Arc<dyn gatehouse_oauth::Clock>,
}

impl Expiry<Key, Answer> for AnswerExpiry {
    fn expire_after_create(&self, _: &Key, answer: &Answer, _: Instant) -> Option<Duration> {
        Some(match answer {
            Answer::Inactive => self.negative_ttl,
            Answer::Active(caller) => {
                let now = self.clock.now().timestamp();
                let left = Duration::from_secs(u64::try_from(caller.expires_at - now).unwrap_or(0));
                left.min(self.max_age)
            }
        })
    }
}

/// What the cache has done, for metrics and the example service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Requests answered from memory.
    pub hits: u64,
    /// Requests that introspected while the cache was trusted (first sight, expiry).
    pub misses: u64,
    /// Requests that introspected because the stream was down or behind.
    pub fallbacks: u64,
    /// Total time the cache was not trusted, in milliseconds (since start).
    pub fallback_ms: u64,
    /// The stream's last cursor and the log head it reported: their difference is the lag.
    pub cursor: i64,
    pub head: i64,
    /// Revoked tokens the stream named.
    pub revocations: u64,
    /// Times every validation was dropped (a cursor older than the log).
    pub resets: u64,
    /// Validations held now.
    pub entries: u64,
}

/// No time recorded.
const NEVER: u64 = u64::MAX;

/// The stream's health, as milliseconds since the cache started (atomics:
/// read on every request, written by the stream task).
#[derive(Debug)]
struct Health {
    started: Instant,
    /// When the stream last said anything.
    heard: AtomicU64,
    /// Since when its cursor has been behind the head it reports.
    behind_since: AtomicU64,
    /// Since when the cache has not been trusted, and the time untrusted before.
    untrusted_since: AtomicU64,
    fallback: AtomicU64,
}

impl Health {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            heard: AtomicU64::new(NEVER),
            behind_since: AtomicU64::new(NEVER),
            untrusted_since: AtomicU64::new(NEVER),
            fallback: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }
}

/// A cache of validations shared by any number of layers (clone it freely).
/// Start it inside a tokio runtime; its stream task lives as long as any clone.
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    options: TokenCacheOptions,
    answers: moka::sync::Cache<Key, Answer>,
    /// Tokens the stream named revoked: never cached again.
    revoked: moka::sync::Cache<Key, ()>,
    health: Health,
    hits: AtomicU64,
    misses: AtomicU64,
    fallbacks: AtomicU64,
    revocations: AtomicU64,
    resets: AtomicU64,
    cursor: AtomicI64,
    head: AtomicI64,
    stopped: AtomicBool,
    /// Woken by every stream message: what [`TokenCache::ready`] waits on.
    heard: tokio::sync::Notify,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
    }
}

/// Reconnection backoff of the stream.
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(1);

impl TokenCache {
    /// A cache fed by the token service behind `channel`; its stream task starts now.
    pub fn start(channel: Upstream, options: TokenCacheOptions) -> Self {
        let answers = moka::sync::Cache::builder()
            .max_capacity(options.max_entries)
            .expire_after(AnswerExpiry {
                max_age: options.max_age,
                negative_ttl: options.negative_ttl,
                clock: Arc::new(gatehouse_oauth::SystemClock),
            })
            .build();
        let revoked =
            moka::sync::Cache::builder().max_capacity(options.max_entries).time_to_live(options.max_age).build();
        let inner = Arc::new(Inner {
            options,
            answers,
            revoked,
            health: Health::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            revocations: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            cursor: AtomicI64::new(0),
            head: AtomicI64::new(0),
            stopped: AtomicBool::new(false),
            heard: tokio::sync::Notify::new(),
        });
        tokio::spawn(follow(Arc::downgrade(&inner), TokenServiceClient::new(channel)));
        Self { inner }
    }

    /// Whether the cache may be used now (the stream healthy and caught up).
    pub fn trusted(&self) -> bool {
        let bound = u64::try_from(self.inner.options.stream_bound.as_millis()).unwrap_or(u64::MAX);
        let health = &self.inner.health;
        let now = health.now();
        let heard = health.heard.load(Ordering::Acquire);
        let behind = health.behind_since.load(Ordering::Acquire);
        let ok = heard != NEVER
            && now.saturating_sub(heard) <= bound
            && (behind == NEVER || now.saturating_sub(behind) <= bound);
        if ok {
            let since = health.untrusted_since.swap(NEVER, Ordering::AcqRel);
            if since != NEVER {
                health.fallback.fetch_add(now.saturating_sub(since), Ordering::Relaxed);
            }
        } else {
            let _ = health.untrusted_since.compare_exchange(NEVER, now, Ordering::AcqRel, Ordering::Relaxed);
        }
        ok
    }

    /// Waits until the cache is trusted (its stream up and caught up), at
    /// most `within`; whether it is. A host's readiness probe can wait on it.
    pub async fn ready(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the check, so a message in between is not missed.
            let heard = self.inner.heard.notified();
            tokio::pin!(heard);
            heard.as_mut().enable();
            if self.trusted() {
                return true;
            }
            if tokio::time::timeout_at(deadline, heard).await.is_err() {
                return self.trusted();
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        let inner = &self.inner;
        let health = &inner.health;
        let since = health.untrusted_since.load(Ordering::Acquire);
        let open = if since == NEVER { 0 } else { health.now().saturating_sub(since) };
        CacheStats {
            hits: inner.hits.load(Ordering::Relaxed),
            misses: inner.misses.load(Ordering::Relaxed),
            fallbacks: inner.fallbacks.load(Ordering::Relaxed),
            fallback_ms: health.fallback.load(Ordering::Relaxed).saturating_add(open),
            cursor: inner.cursor.load(Ordering::Relaxed),
            head: inner.head.load(Ordering::Relaxed),
            revocations: inner.revocations.load(Ordering::Relaxed),
            resets: inner.resets.load(Ordering::Relaxed),
            entries: inner.answers.entry_count(),
        }
    }

    /// Whether the stream named this token revoked (within `max_age`).
    pub(crate) fn is_revoked(&self, key: &Key) -> bool {
        self.inner.revoked.contains_key(key)
    }

    /// The remembered validation, when the cache is trusted; counts the lookup.
    pub(crate) fn lookup(&self, key: &Key) -> Option<Answer> {
        if !self.trusted() {
            self.inner.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self.is_revoked(key) {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Some(Answer::Inactive);
        }
        let found = self.inner.answers.get(key);
        let counter = if found.is_some() { &self.inner.hits } else { &self.inner.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers a validation just received, unless the stream has named
    /// the token revoked meanwhile: the tombstone is looked for after the
    /// insert, so a revocation processed at any moment of the fill wins.
    /// Returns the answer to act on.
    pub(crate) fn fill(&self, key: Key, answer: Answer) -> Answer {
        self.inner.answers.insert(key, answer.clone());
        if self.is_revoked(&key) {
            self.inner.answers.invalidate(&key);
            return Answer::Inactive;
        }
        answer
    }

    /// Remembers a validation obtained elsewhere (a batch introspection at
    /// start-up, say) for `token`, as a fill does: unless the stream has
    /// named the token revoked.
    pub fn prime(&self, token: &str, caller: Caller) {
        self.fill(key_of(token), Answer::Active(Arc::new(caller)));
    }

    fn revoke(&self, key: Key) {
        self.inner.revoked.insert(key, ());
        self.inner.answers.invalidate(&key);
    }
}

/// The stream task: reads WatchRevocations for as long as the cache lives,
/// resuming from the last cursor after any failure.
async fn follow(cache: std::sync::Weak<Inner>, mut client: TokenServiceClient<Upstream>) {
    let mut after: Option<i64> = None;
    let mut backoff = RECONNECT_MIN;
    loop {
        let Some(inner) = cache.upgrade() else { return };
        if inner.stopped.load(Ordering::Acquire) {
            return;
        }
        drop(inner);
        let stream = client.watch_revocations(WatchRevocationsRequest { after }).await;
        let mut stream = match stream {
            Ok(response) => response.into_inner(),
            Err(status) => {
                tracing::debug!(code = ?status.code(), "revocation stream unavailable; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        while let Some(message) = stream.next().await {
            let Some(inner) = cache.upgrade() else { return };
            let Ok(message) = message else { break };
            backoff = RECONNECT_MIN;
            let view = TokenCache { inner };
            if message.reset {
                view.inner.answers.invalidate_all();
                view.inner.resets.fetch_add(1, Ordering::Relaxed);
            }
            for revoked in &message.revoked {
                if let Some(key) = key_from_hex(&revoked.token_hash) {
                    view.revoke(key);
                }
            }
            let count = u64::try_from(message.revoked.len()).unwrap_or(u64::MAX);
            view.inner.revocations.fetch_add(count, Ordering::Relaxed);
            view.inner.cursor.store(message.cursor, Ordering::Relaxed);
            view.inner.head.store(message.head, Ordering::Relaxed);
            after = Some(message.cursor);
            let health = &view.inner.health;
            let now = health.now();
            health.heard.store(now, Ordering::Release);
            if message.cursor >= message.head {
                health.behind_since.store(NEVER, Ordering::Release);
            } else {
                let _ = health.behind_since.compare_exchange(NEVER, now, Ordering::AcqRel, Ordering::Relaxed);
            }
            view.inner.heard.notify_waiters();
        }
        // The stream ended (the replica drained, the 5-minute lifetime, a
        // network cut): resume from the cursor at once.
        tokio::time::sleep(RECONNECT_MIN).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_logs_hex_hashes() {
        let token = "gat_example";
        let hex: String = key_of(token).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(key_from_hex(&hex), Some(key_of(token)));
        assert_eq!(hex, gatehouse_oauth::SecretHash::of(token).as_str(), "the same hash as the token service's");
        assert_eq!(key_from_hex("zz"), None);
        assert_eq!(key_from_hex(&"g".repeat(64)), None);
    }
}
