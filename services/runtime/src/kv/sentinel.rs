//! Redis Sentinel: the master found through its sentinels by name, and
//! followed when they fail over, without a restart.
//!
//! `redis+sentinel://[USER:PASSWORD@]HOST:PORT,HOST:PORT/MASTER_NAME[/DB]`
//! (`rediss+sentinel://` for TLS to the sentinels and the data nodes, with
//! the cache's CA and client certificate). The credentials are the data
//! nodes' and the sentinels' alike, as Sentinel deployments usually have
//! them. The master's address is asked again every second and at once
//! after a call fails with a connection error or `READONLY` (the old
//! master came back as a replica); calls in flight during the switch fail
//! as any cache call does, and the breaker takes it from there.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, IntoConnectionInfo, TlsMode};
use tokio::sync::Notify;

use super::{CacheTls, KvError};

/// How often the master's address is asked when nothing failed.
const POLL: Duration = Duration::from_secs(1);

/// A sentinel URL, read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SentinelUrl {
    pub(super) tls: bool,
    pub(super) sentinels: Vec<(String, u16)>,
    pub(super) master: String,
    pub(super) db: i64,
    /// The `USER:PASSWORD` part, as written (percent-encoded).
    credentials: Option<String>,
}

/// Whether `url` names a Sentinel group.
pub(super) fn is_sentinel_url(url: &str) -> bool {
    url.starts_with("redis+sentinel://") || url.starts_with("rediss+sentinel://")
}

pub(super) fn parse(url: &str) -> Result<SentinelUrl, String> {
    let (tls, credentials, rest) = super::split_url(url, "sentinel")?;
    let (hosts, path) = rest.split_once('/').ok_or("name the master after the sentinels: …/MASTER_NAME")?;
    let sentinels = super::host_list(hosts, 26379)?;
    let mut segments = path.split('/');
    let master = segments.next().filter(|m| !m.is_empty()).ok_or("name the master: …/MASTER_NAME")?.to_owned();
    let db = match segments.next() {
        None | Some("") => 0,
        Some(db) => db.parse().map_err(|_| format!("{db:?} is not a database number"))?,
    };
    if segments.next().is_some_and(|s| !s.is_empty()) {
        return Err("after the master only a database number may follow".to_owned());
    }
    Ok(SentinelUrl { tls, sentinels, master, db, credentials })
}

/// The sentinel client for `url`, with `tls`'s certificates for both kinds of node.
fn client(url: &SentinelUrl, tls: Option<redis::TlsCertificates>) -> Result<SentinelClient, KvError> {
    let invalid = |e: redis::RedisError| KvError(format!("cache: the sentinel URL: {e}"));
    let addresses = url.sentinels.iter().map(|(host, port)| {
        if url.tls {
            ConnectionAddr::TcpTls { host: host.clone(), port: *port, insecure: false, tls_params: None }
        } else {
            ConnectionAddr::Tcp(host.clone(), *port)
        }
    });
    let mut builder =
        SentinelClientBuilder::new(addresses, &url.master, SentinelServerType::Master).map_err(invalid)?;
    builder = builder.set_client_to_redis_db(url.db);
    if let Some(credentials) = &url.credentials {
        // redis-rs reads (and percent-decodes) the credentials of a plain URL.
        let info = format!("redis://{credentials}@localhost/").into_connection_info().map_err(invalid)?;
        let settings = info.redis_settings();
        if let Some(username) = settings.username() {
            builder = builder.set_client_to_redis_username(username).set_client_to_sentinel_username(username);
        }
        if let Some(password) = settings.password() {
            builder = builder.set_client_to_redis_password(password).set_client_to_sentinel_password(password);
        }
    }
    if url.tls {
        builder =
            builder.set_client_to_redis_tls_mode(TlsMode::Secure).set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(certificates) = tls {
            builder = builder
                .set_client_to_redis_certificates(certificates.clone())
                .set_client_to_sentinel_certificates(certificates);
        }
    }
    builder.build().map_err(invalid)
}

/// The connection to the current master, replaced when the sentinels name another.
pub(super) struct Followed {
    current: RwLock<(String, ConnectionManager)>,
    sentinel: tokio::sync::Mutex<SentinelClient>,
    config: ConnectionManagerConfig,
    wake: Notify,
}

impl Followed {
    /// Asks the sentinels for the master, connects, and follows it from then on.
    pub(super) async fn start(
        url: &str,
        tls: &CacheTls,
        certificates: Option<redis::TlsCertificates>,
        config: ConnectionManagerConfig,
    ) -> Result<Arc<Self>, KvError> {
        let parsed = parse(url).map_err(|e| KvError(format!("cache: {e}")))?;
        if tls.is_set() && !parsed.tls {
            return Err(KvError(
                "cache: a CA file or client certificate is set, but the URL is not rediss+sentinel://".into(),
            ));
        }
        let mut sentinel = client(&parsed, certificates)?;
        let (address, manager) = Self::master(&mut sentinel, config.clone()).await?;
        let followed = Arc::new(Self {
            current: RwLock::new((address, manager)),
            sentinel: sentinel.into(),
            config,
            wake: Notify::new(),
        });
        tokio::spawn(Self::follow(Arc::downgrade(&followed)));
        Ok(followed)
    }

    async fn master(
        sentinel: &mut SentinelClient,
        config: ConnectionManagerConfig,
    ) -> Result<(String, ConnectionManager), KvError> {
        let client = sentinel
            .async_get_client()
            .await
            .map_err(|e| KvError(format!("cache: asking the sentinels for the master: {e}")))?;
        let address = client.get_connection_info().addr().to_string();
        let manager = tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| KvError(format!("cache: connecting to the master {address} timed out")))?
            .map_err(|e| KvError(format!("cache: connecting to the master {address}: {e}")))?;
        Ok((address, manager))
    }

    /// The connection to the master as last known.
    pub(super) fn connection(&self) -> ConnectionManager {
        self.current.read().unwrap_or_else(PoisonError::into_inner).1.clone()
    }

    /// A call failed the way a failover makes calls fail: ask the sentinels now.
    pub(super) fn suspect(&self) {
        self.wake.notify_one();
    }

    async fn follow(this: Weak<Self>) {
        loop {
            let Some(followed) = this.upgrade() else { return };
            let woken = followed.wake.notified();
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(POLL) => {}
            }
            followed.refresh().await;
        }
    }

    async fn refresh(&self) {
        let mut sentinel = self.sentinel.lock().await;
        let Ok(client) = sentinel.async_get_client().await else {
            // No sentinel answered, or none knows a master yet: keep what we have.
            return;
        };
        let address = client.get_connection_info().addr().to_string();
        if self.current.read().unwrap_or_else(PoisonError::into_inner).0 == address {
            return;
        }
        if let Ok(Ok(manager)) = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, self.config.clone()),
        )
        .await
        {
            tracing::warn!(master = %address, "the cache's sentinels name a new master; following it");
            *self.current.write().unwrap_or_else(PoisonError::into_inner) = (address, manager);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_are_read_or_refused_with_the_reason() {
        let url = parse("redis+sentinel://u:p%40ss@s1:26379,s2,10.0.0.3:26380/mymaster/2").unwrap();
        assert!(!url.tls);
        assert_eq!(url.sentinels, vec![("s1".into(), 26379), ("s2".into(), 26379), ("10.0.0.3".into(), 26380)]);
        assert_eq!((url.master.as_str(), url.db), ("mymaster", 2));
        assert!(parse("rediss+sentinel://s1/mymaster").unwrap().tls);
        for bad in [
            "redis+sentinel://s1:26379",
            "redis+sentinel://s1:26379/",
            "redis+sentinel://s1:port/m",
            "redis+sentinel://,s2/m",
            "redis+sentinel://s1/m/zero",
            "redis+sentinel://s1/m/1/extra",
            "redis://s1/m",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
