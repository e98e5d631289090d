//! The key-value cache behind codes, sessions, throttles and the token
//! cache: Redis in production, a process-local map in the embedded default.
//!
//! Both implementations are real parts with the same atomic semantics and
//! pass the same conformance suite; which one runs is configuration.
//! Services own their key names and record formats; this is only storage.

mod breaker;
mod cluster;
mod memory;
mod redis_kv;
mod sentinel;

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
    /// Sets `key` to `value` only while it still holds `expected` (compare
    /// and set, one atomic step); true when it was replaced.
    async fn replace(&self, key: &str, expected: &[u8], value: &[u8], ttl: Duration) -> KvResult<bool>;
    /// Sets every entry, in one round trip where the backend allows it. Every
    /// entry is attempted even when one fails; the error says that at least
    /// one was not written (which ones is not known, so retry them all).
    async fn set_many(&self, entries: &[(String, Vec<u8>, Duration)]) -> KvResult<()>;
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
    /// Undoes a [`Kv::take_and_mark`] whose work could not complete: when
    /// `key` is gone and `marker` still holds exactly `expected_marker`, sets
    /// `key` to `value` for `ttl` and deletes the marker, in one atomic step;
    /// true when it did. A replay that came in between changed nothing here
    /// (it reads the marker) and the code is usable again.
    async fn restore(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        marker: &str,
        expected_marker: &[u8],
    ) -> KvResult<bool>;
    /// Increments a counter, starting its expiry window on the first hit.
    async fn incr(&self, key: &str, window: Duration) -> KvResult<u64>;
    /// Takes one slot of the counter `key` when fewer than `limit` are
    /// taken, in one atomic step (the window starts with the first slot):
    /// `Ok(count)` when taken, `Err(time left in the window)` when full. Of
    /// any number of concurrent callers at most `limit` get a slot.
    async fn reserve(&self, key: &str, limit: u64, window: Duration) -> KvResult<Result<u64, Duration>>;
    /// Gives back one slot taken by [`Kv::reserve`] (never below zero, never
    /// reviving an expired window).
    async fn release(&self, key: &str) -> KvResult<()>;
    /// Time left before `key` expires; `None` when it does not exist.
    async fn ttl(&self, key: &str) -> KvResult<Option<Duration>>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> KvResult<()>;
}

/// TLS to Redis (`rediss://`): the CA that signs the server's certificate
/// (the system's roots when unset, as for a managed Redis with a public
/// CA) and a client certificate when the server asks for one. The files
/// are read when connecting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheTls {
    pub ca_file: Option<std::path::PathBuf>,
    /// The client certificate and its key (PEM), together or not at all.
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl CacheTls {
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.client.is_some()
    }
}

/// How long a cache call may take, and how a failing cache is given up on.
#[derive(Debug, Clone)]
pub struct KvOptions {
    /// Bound of one Redis call (the connection attempt included). About a
    /// hundred milliseconds: a hung Redis then costs a request one short wait, and
    /// the breaker makes the following ones skip it.
    pub timeout: Duration,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the open breaker refuses calls at once before one probe call
    /// is let through; a successful probe closes it.
    pub breaker_cooldown: Duration,
    /// For `rediss://` URLs.
    pub tls: CacheTls,
}

impl Default for KvOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(100),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_millis(250),
            tls: CacheTls::default(),
        }
    }
}

/// Why a cache URL cannot work, for the configuration check: `memory://`,
/// `redis://`, `rediss://`, `redis+sentinel://`, `rediss+sentinel://`,
/// `redis+cluster://` or `rediss+cluster://`.
pub fn check_url(url: &str) -> Result<(), String> {
    if is_tls_url(url) && url.contains('#') {
        // redis-rs reads `#insecure` as "do not verify the server".
        return Err("a TLS cache URL takes no #fragment: the server's certificate is always verified".to_owned());
    }
    if sentinel::is_sentinel_url(url) {
        sentinel::parse(url).map(|_| ())
    } else if cluster::is_cluster_url(url) {
        cluster::parse(url).map(|_| ())
    } else if url == "memory://" || url.starts_with("redis://") || url.starts_with("rediss://") {
        Ok(())
    } else {
        Err("must be memory://, redis://HOST:PORT/DB, rediss://HOST:PORT/DB, \
             redis+sentinel://HOST:PORT,HOST:PORT/MASTER or redis+cluster://HOST:PORT,HOST:PORT"
            .to_owned())
    }
}

/// Whether `url` asks for TLS to the cache (`rediss://`, `rediss+sentinel://`, `rediss+cluster://`).
pub fn is_tls_url(url: &str) -> bool {
    url.starts_with("rediss://") || url.starts_with("rediss+")
}

/// Why a key prefix cannot work: Redis Cluster hashes the first `{…}` of a
/// key, so braces in the prefix would put every key in one slot (or split
/// keys that must stay together).
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.contains(['{', '}']) {
        Err("may not contain { or }: Redis Cluster reads braces in a key as its hash tag".to_owned())
    } else {
        Ok(())
    }
}

/// The part of `key` Redis Cluster hashes to pick its slot: the text inside
/// the first `{…}` when it is not empty, else the whole key.
pub fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        let inner = &key[open + 1..];
        if let Some(close) = inner.find('}')
            && close > 0
        {
            return &inner[..close];
        }
    }
    key
}

/// Keys that one atomic call touches must share a slot (a hash tag), on
/// every engine: a key named wrongly fails every test, not only on a cluster.
pub(crate) fn same_slot(key: &str, other: &str) -> KvResult<()> {
    if hash_tag(key) == hash_tag(other) {
        Ok(())
    } else {
        Err(KvError(format!(
            "keys {key:?} and {other:?} are used together but do not share a hash tag ({{…}}): \
             they could sit on different Redis Cluster nodes"
        )))
    }
}

/// `redis+KIND://` or `rediss+KIND://` read: whether TLS, the
/// `USER:PASSWORD` part as written (percent-encoded), and what follows it.
fn split_url<'a>(url: &'a str, kind: &str) -> Result<(bool, Option<String>, &'a str), String> {
    let (tls, rest) = match (url.strip_prefix("rediss+"), url.strip_prefix("redis+")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err(format!("not a redis+{kind}:// URL")),
    };
    let rest =
        rest.strip_prefix(kind).and_then(|r| r.strip_prefix("://")).ok_or(format!("not a redis+{kind}:// URL"))?;
    Ok(match rest.rsplit_once('@') {
        Some((credentials, rest)) => (tls, Some(credentials.to_owned()), rest),
        None => (tls, None, rest),
    })
}

/// `HOST[:PORT],HOST[:PORT]…` of a Sentinel or Cluster URL.
fn host_list(hosts: &str, default_port: u16) -> Result<Vec<(String, u16)>, String> {
    let mut list = Vec::new();
    for host in hosts.split(',') {
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) => (name, port.parse::<u16>().map_err(|_| format!("{host:?}: not HOST:PORT"))?),
            None => (host, default_port),
        };
        if name.is_empty() {
            return Err(format!("{host:?}: not HOST:PORT"));
        }
        list.push((name.to_owned(), port));
    }
    Ok(list)
}

/// Opens the cache named by `url`: `memory://` or `redis://...`; every key is
/// prefixed with `prefix`.
pub async fn open(url: &str, prefix: &str) -> KvResult<Arc<dyn Kv>> {
    open_with(url, prefix, KvOptions::default()).await
}

/// [`open`] with explicit timeouts and breaker settings (Redis only).
pub async fn open_with(url: &str, prefix: &str, options: KvOptions) -> KvResult<Arc<dyn Kv>> {
    if url == "memory://" || url == "memory" {
        Ok(Arc::new(MemoryKv::new(prefix)))
    } else if url.starts_with("redis://")
        || url.starts_with("rediss://")
        || sentinel::is_sentinel_url(url)
        || cluster::is_cluster_url(url)
    {
        Ok(Arc::new(RedisKv::connect(url, prefix, options).await?))
    } else {
        Err(KvError(format!(
            "unsupported cache url {url:?}: use memory://, redis://, redis+sentinel:// or redis+cluster://"
        )))
    }
}
