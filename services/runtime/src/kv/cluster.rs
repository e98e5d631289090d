//! Redis Cluster: the slots spread over several masters, each with its
//! replicas.
//!
//! `redis+cluster://[USER:PASSWORD@]HOST:PORT,HOST:PORT` (`rediss+cluster://`
//! for TLS, with the cache's CA and client certificate). The hosts are seed
//! nodes: the client asks them for the slot map and connects to every
//! master; `MOVED` and `ASK` redirections are followed by the client, and a
//! failover (a replica promoted) is picked up when the calls to the old
//! master fail and the slot map is asked again. A cluster has one database,
//! so the URL names none.
//!
//! Keys that one script touches must hash to one slot: Gatehouse's key names
//! put the shared part in braces (`authz:code:{HASH}` and
//! `authz:code-used:{HASH}`), and [`super::same_slot`] refuses a call that
//! does not, on every engine, so a key named wrongly fails in every test and
//! not only on a cluster.

use std::time::Duration;

use redis::IntoConnectionInfo;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;

use super::KvError;

/// A cluster URL, read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ClusterUrl {
    pub(super) tls: bool,
    pub(super) nodes: Vec<(String, u16)>,
    /// The `USER:PASSWORD` part, as written (percent-encoded).
    credentials: Option<String>,
}

/// Whether `url` names a Redis Cluster.
pub(super) fn is_cluster_url(url: &str) -> bool {
    url.starts_with("redis+cluster://") || url.starts_with("rediss+cluster://")
}

pub(super) fn parse(url: &str) -> Result<ClusterUrl, String> {
    let (tls, credentials, rest) = super::split_url(url, "cluster")?;
    if rest.contains(['?', '#']) {
        return Err("a cluster URL takes no ?query or #fragment".to_owned());
    }
    let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !matches!(path, "" | "0") {
        return Err(format!("a cluster has only database 0, not {path:?}: name no database"));
    }
    let nodes = super::host_list(hosts, 6379)?;
    Ok(ClusterUrl { tls, nodes, credentials })
}

/// Connects to the cluster `url` names: the slot map asked of the seed nodes.
pub(super) async fn connect(
    url: &str,
    tls: &super::CacheTls,
    certificates: Option<redis::TlsCertificates>,
    timeout: Duration,
) -> Result<ClusterConnection, KvError> {
    let parsed = parse(url).map_err(|e| KvError(format!("cache: {e}")))?;
    if tls.is_set() && !parsed.tls {
        return Err(KvError(
            "cache: a CA file or client certificate is set, but the URL is not rediss+cluster://".into(),
        ));
    }
    let scheme = if parsed.tls { "rediss" } else { "redis" };
    let credentials = parsed.credentials.as_deref().map(|c| format!("{c}@")).unwrap_or_default();
    let invalid = |e: redis::RedisError| KvError(format!("cache: the cluster URL: {e}"));
    let nodes = parsed
        .nodes
        .iter()
        .map(|(host, port)| format!("{scheme}://{credentials}{host}:{port}/").into_connection_info().map_err(invalid))
        .collect::<Result<Vec<_>, _>>()?;
    let mut builder = ClusterClientBuilder::new(nodes)
        .connection_timeout(timeout.max(Duration::from_millis(250)))
        .response_timeout(timeout)
        // Redirections (MOVED, ASK) and a call to a node that just went away
        // are retried a few times, quickly; the caller's bound ends them.
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(100);
    if let Some(certificates) = certificates {
        builder = builder.certs(certificates);
    }
    let client = builder.build().map_err(invalid)?;
    let seeds = parsed.nodes.iter().map(|(host, port)| format!("{host}:{port}")).collect::<Vec<_>>().join(",");
    // As for one server: the first connection may take longer than a call.
    tokio::time::timeout(Duration::from_secs(5), client.get_async_connection())
        .await
        .map_err(|_| KvError(format!("cache: connecting to the cluster at {seeds} timed out")))?
        .map_err(|e| KvError(format!("cache: connecting to the cluster at {seeds}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_are_read_or_refused_with_the_reason() {
        let url = parse("redis+cluster://u:p%40ss@n1:7000,n2,10.0.0.3:7002").unwrap();
        assert!(!url.tls);
        assert_eq!(url.nodes, vec![("n1".into(), 7000), ("n2".into(), 6379), ("10.0.0.3".into(), 7002)]);
        assert_eq!(url.credentials.as_deref(), Some("u:p%40ss"));
        assert!(parse("rediss+cluster://n1:7000/").unwrap().tls);
        assert!(parse("redis+cluster://n1:7000/0").is_ok());
        for bad in [
            "redis+cluster://",
            "redis+cluster://n1:port",
            "redis+cluster://,n2",
            "redis+cluster://n1/1",
            "redis+cluster://n1/0/x",
            "rediss+cluster://n1#insecure",
            "redis+cluster://n1?protocol=3",
            "redis://n1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
