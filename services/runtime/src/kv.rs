//! The key-value cache behind codes, sessions, throttles and the token
//! cache: Redis in production, a process-local map in the embedded default.
//!
//! Both implementations are real parts with the same atomic semantics and
//! pass the same conformance suite; which one runs is configuration.
//! Services own their key names and record formats; this is only storage.

mod memory;
mod redis_kv;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

pub use memory::MemoryKv;
pub use redis_kv::RedisKv;

/// A cache failure (Redis unreachable, for instance).
#[derive(Debug, thiserror::Error)]
#[error("cache: {0}")]
pub struct KvError(pub String);

pub type KvResult<T> = Result<T, KvError>;

/// What [`Kv::take_and_mark`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// The key existed; it is now deleted and the marker set.
    Value(Vec<u8>),
    /// The key was gone but its marker exists: a replay.
    Marked(Vec<u8>),
    /// Neither exists.
    Missing,
}

/// Atomic key-value operations with expiry. Every key is namespaced by the
/// implementation's prefix, so that tests and tenants cannot collide.
#[async_trait::async_trait]
pub trait Kv: Send + Sync + Debug {
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<()>;
    /// Sets `key` only when it does not exist; true when it was set.
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<bool>;
    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    async fn delete(&self, key: &str) -> KvResult<()>;
    /// Gets and deletes in one step: of concurrent takers exactly one gets the value.
    async fn take(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    /// Takes `key` and, in the same atomic step, sets `marker` to the given
    /// value for `marker_ttl`; when `key` is gone, reports the marker instead.
    /// This is how a single-use code remembers that it was used.
    async fn take_and_mark(
        &self,
        key: &str,
        marker: &str,
        marker_value: &[u8],
        marker_ttl: Duration,
    ) -> KvResult<Taken>;
    /// Increments a counter, starting its expiry window on the first hit.
    async fn incr(&self, key: &str, window: Duration) -> KvResult<u64>;
    /// Time left before `key` expires; `None` when it does not exist.
    async fn ttl(&self, key: &str) -> KvResult<Option<Duration>>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> KvResult<()>;
}

/// Opens the cache named by `url`: `memory://` or `redis://...`; every key is
/// prefixed with `prefix`.
pub async fn open(url: &str, prefix: &str) -> KvResult<Arc<dyn Kv>> {
    if url == "memory://" || url == "memory" {
        Ok(Arc::new(MemoryKv::new(prefix)))
    } else if url.starts_with("redis://") || url.starts_with("rediss://") {
        Ok(Arc::new(RedisKv::connect(url, prefix).await?))
    } else {
        Err(KvError(format!("unsupported cache url {url:?}: use memory:// or redis://")))
    }
}
