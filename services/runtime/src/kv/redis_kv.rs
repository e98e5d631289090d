//! The Redis cache: one multiplexed, auto-reconnecting connection per process.
//!
//! Every call is bounded by [`KvOptions::timeout`] and goes through a
//! circuit breaker (see [`super::breaker`]), so a hung or dead Redis costs a
//! request at most one short wait and then nothing: callers fall back to SQL
//! or answer UNAVAILABLE.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, Script};

use super::breaker::Breaker;
use super::{Kv, KvError, KvOptions, KvResult, Taken};

/// Deletes KEYS[1] and sets the marker KEYS[2] in one step; reports the
/// marker when the key is gone. Lua runs atomically on the server.
const TAKE_AND_MARK: &str = r"
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {1, value}
end
local marker = redis.call('GET', KEYS[2])
if marker then
  return {2, marker}
end
return {0, ''}
";

/// Puts KEYS[1] back (ARGV[2] for ARGV[3] ms) and deletes the marker KEYS[2],
/// when KEYS[1] is gone and the marker holds exactly ARGV[1].
const RESTORE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
";

/// Sets KEYS[1] only while it holds ARGV[1].
const REPLACE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

/// Starts the window on the first increment only.
const INCR_WINDOW: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
";

/// Takes a slot of KEYS[1] when fewer than ARGV[1] are taken (the window,
/// ARGV[2] ms, starts with the first); otherwise reports the time left.
const RESERVE: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  return {0, redis.call('PTTL', KEYS[1])}
end
n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, n}
";

/// Gives a slot of KEYS[1] back, keeping its window.
const RELEASE: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
";

/// A script, sent by its digest (`EVALSHA`). Where the server does not know
/// it: to one server, loaded first (`SCRIPT LOAD`, as `redis::Script` does);
/// to a cluster, sent whole (`EVAL`) to the one node that needs it, because
/// `SCRIPT LOAD` there fans out to every master, and that stalled behind the
/// client's slot-map refreshes while slots migrated or a master failed over.
#[derive(Clone)]
struct Lua {
    script: Script,
    source: &'static str,
}

impl Lua {
    fn new(source: &'static str) -> Self {
        Self { script: Script::new(source), source }
    }
}

/// Where the calls go: one server, the master a Sentinel group names, or a cluster.
#[derive(Clone)]
enum Connection {
    Fixed(ConnectionManager),
    Followed(Arc<super::sentinel::Followed>),
    Cluster(ClusterConnection),
}

impl Connection {
    fn get(&self) -> Handle {
        match self {
            Self::Fixed(connection) => Handle::Single(connection.clone()),
            Self::Followed(followed) => Handle::Single(followed.connection()),
            Self::Cluster(connection) => Handle::Cluster(connection.clone()),
        }
    }

    /// A call failed as calls to a master that is gone or demoted fail.
    fn suspect(&self) {
        if let Self::Followed(followed) = self {
            followed.suspect();
        }
    }
}

/// One call's connection: to one server, or to the cluster (which routes
/// each command by its key's slot).
#[derive(Clone)]
enum Handle {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Redis behind the [`Kv`] interface.
#[derive(Clone)]
pub struct RedisKv {
    prefix: String,
    connection: Connection,
    take_and_mark: Lua,
    incr_window: Lua,
    reserve: Lua,
    release: Lua,
    replace: Lua,
    restore: Lua,
    timeout: Duration,
    breaker: Arc<Breaker>,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

#[allow(clippy::needless_pass_by_value)] // shaped for `.map_err(err)`
fn err(error: redis::RedisError) -> KvError {
    KvError(error.to_string())
}

/// The CA and client certificate of `tls`, read from their files.
fn certificates(tls: &super::CacheTls) -> Result<redis::TlsCertificates, KvError> {
    let read = |what: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| KvError(format!("cache TLS: reading the {what} {}: {e}", path.display())))
    };
    let root_cert = tls.ca_file.as_deref().map(|path| read("CA file", path)).transpose()?;
    let client_tls = match &tls.client {
        Some((cert, key)) => Some(redis::ClientTlsConfig {
            client_cert: read("client certificate", cert)?,
            client_key: read("client key", key)?,
        }),
        None => None,
    };
    Ok(redis::TlsCertificates { client_tls, root_cert })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisKv {
    pub async fn connect(url: &str, prefix: &str, options: KvOptions) -> Result<Self, KvError> {
        // No retries inside the connection manager: a retried call would
        // outlive the timeout. A broken connection is re-established in the
        // background; the breaker keeps calls away meanwhile.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout.max(Duration::from_millis(250))))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(0);
        super::check_prefix(prefix).map_err(|reason| KvError(format!("cache: the key prefix {prefix:?} {reason}")))?;
        let certificates = || -> Result<_, KvError> {
            if url.starts_with("rediss+") {
                let _ = rustls::crypto::ring::default_provider().install_default();
                Ok(Some(certificates(&options.tls)?))
            } else {
                Ok(None)
            }
        };
        let connection = if super::sentinel::is_sentinel_url(url) {
            Connection::Followed(super::sentinel::Followed::start(url, &options.tls, certificates()?, config).await?)
        } else if super::cluster::is_cluster_url(url) {
            Connection::Cluster(super::cluster::connect(url, &options.tls, certificates()?, options.timeout).await?)
        } else {
            Connection::Fixed(Self::fixed(url, &options, config).await?)
        };
        Ok(Self {
            prefix: prefix.to_owned(),
            connection,
            take_and_mark: Lua::new(TAKE_AND_MARK),
            incr_window: Lua::new(INCR_WINDOW),
            reserve: Lua::new(RESERVE),
            release: Lua::new(RELEASE),
            replace: Lua::new(REPLACE),
            restore: Lua::new(RESTORE),
            timeout: options.timeout,
            breaker: Arc::new(Breaker::new(options.breaker_failures, options.breaker_cooldown)),
        })
    }

    /// A connection to the one server `url` names.
    async fn fixed(
        url: &str,
        options: &KvOptions,
        config: redis::aio::ConnectionManagerConfig,
    ) -> Result<ConnectionManager, KvError> {
        let client = if url.starts_with("rediss://") {
            // The one provider Gatehouse's TLS uses; redis builds its client
            // configuration on the process default.
            let _ = rustls::crypto::ring::default_provider().install_default();
            redis::Client::build_with_tls(url, certificates(&options.tls)?)
        } else if options.tls.is_set() {
            return Err(KvError("cache: a CA file or client certificate is set, but the URL is not rediss://".into()));
        } else {
            redis::Client::open(url)
        }
        .map_err(err)?;
        let target = match &client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port) | redis::ConnectionAddr::TcpTls { host, port, .. } => {
                format!("{host}:{port}")
            }
            other => other.to_string(),
        };
        // The first connection may take longer than one call's bound (a cold
        // start, a DNS lookup); only the calls after it are held to it.
        tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| KvError(format!("cache: connecting to {target} timed out")))?
            .map_err(|e| KvError(format!("cache: connecting to {target}: {e}")))
    }

    /// Runs one call under the timeout and the breaker.
    async fn guarded<T>(&self, call: impl Future<Output = redis::RedisResult<T>>) -> KvResult<T> {
        if !self.breaker.allow() {
            return Err(KvError("cache unavailable (circuit breaker open)".to_owned()));
        }
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                self.breaker.success();
                Ok(value)
            }
            Ok(Err(error)) => {
                self.breaker.failure();
                if error.is_io_error()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()
                    || error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
                {
                    self.connection.suspect();
                }
                Err(err(error))
            }
            Err(_) => {
                self.breaker.failure();
                self.connection.suspect();
                Err(KvError(format!("cache call timed out after {} ms", self.timeout.as_millis())))
            }
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `lua` on `keys` with `args`, under the timeout and the breaker.
    async fn eval<T: redis::FromRedisValue>(&self, lua: &Lua, keys: &[String], args: &[Vec<u8>]) -> KvResult<T> {
        let mut connection = self.connection.get();
        if let Handle::Cluster(_) = connection {
            // By digest, and whole when this node does not know it yet
            // (which also makes it known there): never a SCRIPT LOAD fan-out.
            let call = async {
                let mut by_digest = redis::cmd("EVALSHA");
                by_digest.arg(lua.script.get_hash()).arg(keys.len()).arg(keys).arg(args);
                match by_digest.query_async(&mut connection).await {
                    Err(error) if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                        let mut whole = redis::cmd("EVAL");
                        whole.arg(lua.source).arg(keys.len()).arg(keys).arg(args);
                        whole.query_async(&mut connection).await
                    }
                    answer => answer,
                }
            };
            self.guarded(call).await
        } else {
            let mut invocation = lua.script.prepare_invoke();
            for key in keys {
                invocation.key(key);
            }
            for arg in args {
                invocation.arg(arg);
            }
            self.guarded(invocation.invoke_async(&mut connection)).await
        }
    }
}

#[async_trait::async_trait]
impl Kv for RedisKv {
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<()> {
        let mut connection = self.connection.get();
        let options = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(millis(ttl)));
        self.guarded(connection.set_options::<_, _, ()>(self.key(key), value, options)).await
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<bool> {
        let mut connection = self.connection.get();
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(millis(ttl)));
        let set: Option<String> = self.guarded(connection.set_options(self.key(key), value, options)).await?;
        Ok(set.is_some())
    }

    async fn replace(&self, key: &str, expected: &[u8], value: &[u8], ttl: Duration) -> KvResult<bool> {
        let args = [expected.to_vec(), value.to_vec(), millis(ttl).to_string().into_bytes()];
        let replaced: i64 = self.eval(&self.replace, &[self.key(key)], &args).await?;
        Ok(replaced == 1)
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>, Duration)]) -> KvResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        match self.connection.get() {
            Handle::Single(mut connection) => {
                // One round trip; not a transaction: each entry stands alone.
                let mut pipe = redis::pipe();
                for (key, value, ttl) in entries {
                    let options = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(millis(*ttl)));
                    pipe.set_options(self.key(key), value, options).ignore();
                }
                self.guarded(pipe.query_async::<()>(&mut connection)).await
            }
            Handle::Cluster(connection) => {
                // The keys sit in different slots: each is its own command,
                // all sent at once over the cluster's connections.
                let calls = entries.iter().map(|(key, value, ttl)| {
                    let mut connection = connection.clone();
                    let options = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(millis(*ttl)));
                    let key = self.key(key);
                    async move { connection.set_options::<_, _, ()>(key, value, options).await }
                });
                self.guarded(async { futures_util::future::try_join_all(calls).await.map(|_| ()) }).await
            }
        }
    }

    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let mut connection = self.connection.get();
        self.guarded(connection.get(self.key(key))).await
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        let mut connection = self.connection.get();
        self.guarded(connection.del::<_, ()>(self.key(key))).await
    }

    async fn take(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let mut connection = self.connection.get();
        self.guarded(connection.get_del(self.key(key))).await
    }

    async fn take_and_mark(
        &self,
        key: &str,
        marker: &str,
        marker_value: &[u8],
        marker_ttl: Duration,
    ) -> KvResult<Taken> {
        super::same_slot(key, marker)?;
        let args = [marker_value.to_vec(), millis(marker_ttl).to_string().into_bytes()];
        let (kind, value): (u8, Vec<u8>) =
            self.eval(&self.take_and_mark, &[self.key(key), self.key(marker)], &args).await?;
        Ok(match kind {
            1 => Taken::Value(value),
            2 => Taken::Marked(value),
            _ => Taken::Missing,
        })
    }

    async fn restore(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        marker: &str,
        expected_marker: &[u8],
    ) -> KvResult<bool> {
        super::same_slot(key, marker)?;
        let args = [expected_marker.to_vec(), value.to_vec(), millis(ttl).to_string().into_bytes()];
        let restored: i64 = self.eval(&self.restore, &[self.key(key), self.key(marker)], &args).await?;
        Ok(restored == 1)
    }

    async fn incr(&self, key: &str, window: Duration) -> KvResult<u64> {
        self.eval(&self.incr_window, &[self.key(key)], &[millis(window).to_string().into_bytes()]).await
    }

    async fn reserve(&self, key: &str, limit: u64, window: Duration) -> KvResult<Result<u64, Duration>> {
        let args = [limit.to_string().into_bytes(), millis(window).to_string().into_bytes()];
        let (taken, value): (u8, i64) = self.eval(&self.reserve, &[self.key(key)], &args).await?;
        Ok(if taken == 1 {
            Ok(u64::try_from(value).unwrap_or(0))
        } else {
            Err(u64::try_from(value).map_or(window, Duration::from_millis))
        })
    }

    async fn release(&self, key: &str) -> KvResult<()> {
        self.eval::<i64>(&self.release, &[self.key(key)], &[]).await.map(|_| ())
    }

    async fn ttl(&self, key: &str) -> KvResult<Option<Duration>> {
        let mut connection = self.connection.get();
        let ms: i64 = self.guarded(connection.pttl(self.key(key))).await?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }

    async fn ping(&self) -> KvResult<()> {
        let mut connection = self.connection.get();
        // Health checks bypass the breaker's refusal (they are how an open
        // breaker is noticed to be healable) but are still bounded.
        match tokio::time::timeout(self.timeout, redis::cmd("PING").query_async::<String>(&mut connection)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(err(error)),
            Err(_) => Err(KvError("cache ping timed out".to_owned())),
        }
    }
}
