//! The Redis cache: one multiplexed, auto-reconnecting connection per process.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::{Kv, KvError, KvResult, Taken};

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

/// Starts the window on the first increment only.
const INCR_WINDOW: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
";

/// Redis behind the [`Kv`] interface.
#[derive(Clone)]
pub struct RedisKv {
    prefix: String,
    connection: ConnectionManager,
    take_and_mark: Script,
    incr_window: Script,
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

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisKv {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, KvError> {
        let client = redis::Client::open(url).map_err(err)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let connection = ConnectionManager::new_with_config(client, config).await.map_err(err)?;
        Ok(Self {
            prefix: prefix.to_owned(),
            connection,
            take_and_mark: Script::new(TAKE_AND_MARK),
            incr_window: Script::new(INCR_WINDOW),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait::async_trait]
impl Kv for RedisKv {
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<()> {
        let mut connection = self.connection.clone();
        let options = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(millis(ttl)));
        connection.set_options::<_, _, ()>(self.key(key), value, options).await.map_err(err)
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<bool> {
        let mut connection = self.connection.clone();
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(millis(ttl)));
        let set: Option<String> = connection.set_options(self.key(key), value, options).await.map_err(err)?;
        Ok(set.is_some())
    }

    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let mut connection = self.connection.clone();
        connection.get(self.key(key)).await.map_err(err)
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        let mut connection = self.connection.clone();
        connection.del::<_, ()>(self.key(key)).await.map_err(err)
    }

    async fn take(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let mut connection = self.connection.clone();
        connection.get_del(self.key(key)).await.map_err(err)
    }

    async fn take_and_mark(
        &self,
        key: &str,
        marker: &str,
        marker_value: &[u8],
        marker_ttl: Duration,
    ) -> KvResult<Taken> {
        let mut connection = self.connection.clone();
        let (kind, value): (u8, Vec<u8>) = self
            .take_and_mark
            .key(self.key(key))
            .key(self.key(marker))
            .arg(marker_value)
            .arg(millis(marker_ttl))
            .invoke_async(&mut connection)
            .await
            .map_err(err)?;
        Ok(match kind {
            1 => Taken::Value(value),
            2 => Taken::Marked(value),
            _ => Taken::Missing,
        })
    }

    async fn incr(&self, key: &str, window: Duration) -> KvResult<u64> {
        let mut connection = self.connection.clone();
        self.incr_window.key(self.key(key)).arg(millis(window)).invoke_async(&mut connection).await.map_err(err)
    }

    async fn ttl(&self, key: &str) -> KvResult<Option<Duration>> {
        let mut connection = self.connection.clone();
        let ms: i64 = connection.pttl(self.key(key)).await.map_err(err)?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }

    async fn ping(&self) -> KvResult<()> {
        let mut connection = self.connection.clone();
        redis::cmd("PING").query_async::<String>(&mut connection).await.map(|_| ()).map_err(err)
    }
}
