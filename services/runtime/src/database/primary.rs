//! Following the PostgreSQL primary: libpq's `target_session_attrs=read-write`
//! (or `primary`), with one host or several (`postgres://u@h1:5432,h2:5432/db`),
//! and the password from a file that a rotation rewrites.
//!
//! The pool connects to the first host that accepts writes, and never keeps
//! a connection to one that does not: every new connection is asked
//! `SHOW transaction_read_only`. A watcher asks the current host the same
//! every second; when it stops answering or turns read-only (a standby
//! promoted, the old primary back as a standby), the hosts are asked in
//! order, the pool's new connections go to the one that accepts writes, and
//! the connections opened before the switch are dropped when next taken
//! from the pool. Until a writable host answers, requests fail as with the
//! database down (503) and readiness says not ready; it comes back by itself.
//!
//! With the password in a file (`GATEHOUSE_DATABASE_PASSWORD_FILE`, as a
//! mounted Secret such as CloudNativePG's `<cluster>-app` `password` key),
//! the watcher reads it every second as well: after a rotation, new
//! connections use the new password; open ones stay (PostgreSQL checks a
//! password when a connection starts).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPool};
use sea_orm::sqlx::{ConnectOptions as _, Connection as _, PgConnection};

/// How often the current host is asked whether it still accepts writes.
const WATCH: Duration = Duration::from_secs(1);

/// The hosts of a libpq URL, each as a URL of its own (one, for a plain URL).
pub(super) fn hosts(url: &str) -> Result<Vec<String>, String> {
    let Some((scheme, rest)) = url.split_once("://") else { return Ok(vec![url.to_owned()]) };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, list) = match authority.rsplit_once('@') {
        Some((userinfo, list)) => (format!("{userinfo}@"), list),
        None => (String::new(), authority),
    };
    let hosts: Vec<&str> = list.split(',').collect();
    if hosts.iter().any(|h| h.is_empty()) {
        return Err(format!("the host list {list:?} has an empty entry"));
    }
    Ok(hosts.into_iter().map(|host| format!("{scheme}://{userinfo}{host}{tail}")).collect())
}

/// The host part of a one-host URL, for log lines (no credentials).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    authority.rsplit_once('@').map_or(authority, |(_, host)| host)
}

/// Where the pool may connect: the hosts of the URL, and the file the
/// password is read from when it is not in the URL.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) hosts: Vec<String>,
    pub(super) password_file: Option<PathBuf>,
}

impl Target {
    /// The password file's text (a final newline dropped), when there is one.
    pub(super) fn password(&self) -> Result<Option<String>, String> {
        let Some(path) = &self.password_file else { return Ok(None) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the database password file {}: {e}", path.display()))?;
        Ok(Some(text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t)).to_owned()))
    }

    /// How to connect to host `index`, with `password` when given.
    pub(super) fn options(&self, index: usize, password: Option<&str>) -> Result<PgConnectOptions, String> {
        let options = PgConnectOptions::from_str(&self.hosts[index])
            .map_err(|e| format!("the database URL of {}: {e}", host_of(&self.hosts[index])))?
            .disable_statement_logging();
        Ok(match password {
            Some(password) => options.password(password),
            None => options,
        })
    }

    /// Whether host `index` accepts writes: `Ok(false)` for a read-only one.
    async fn writable(&self, index: usize, password: Option<&str>) -> Result<bool, String> {
        let host = host_of(&self.hosts[index]);
        let options = self.options(index, password)?;
        let mut connection = tokio::time::timeout(Duration::from_secs(1), PgConnection::connect_with(&options))
            .await
            .map_err(|_| format!("connecting to {host} timed out"))?
            .map_err(|e| format!("connecting to {host}: {e}"))?;
        let read_only = is_read_only(&mut connection).await.map_err(|e| format!("asking {host}: {e}"));
        let _ = connection.close().await;
        Ok(!read_only?)
    }

    /// The first host that accepts writes, or why none does.
    pub(super) async fn find(&self, password: Option<&str>) -> Result<usize, String> {
        let mut reasons = Vec::new();
        for index in 0..self.hosts.len() {
            match self.writable(index, password).await {
                Ok(true) => return Ok(index),
                Ok(false) => reasons.push(format!("{} is read-only (a standby)", host_of(&self.hosts[index]))),
                Err(reason) => reasons.push(reason),
            }
        }
        Err(format!(
            "no database host accepts writes (target_session_attrs=read-write asks for the primary): {}",
            reasons.join("; ")
        ))
    }
}

pub(super) async fn is_read_only(connection: &mut PgConnection) -> Result<bool, sea_orm::sqlx::Error> {
    let value: String = sea_orm::sqlx::query_scalar("SHOW transaction_read_only").fetch_one(connection).await?;
    Ok(value == "on")
}

/// When the pool last moved away from a host: connections older than that
/// are dropped when taken. Kept as milliseconds since `epoch`.
#[derive(Debug)]
pub(super) struct Switches {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Switches {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self { epoch: Instant::now(), last_ms: AtomicU64::new(0) })
    }

    /// Records a switch now (stored one past its millisecond, so that 0 is "none yet").
    fn mark(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_ms.store(now + 1, Ordering::SeqCst);
    }

    /// Whether a connection `age` old was opened before the last switch.
    pub(super) fn predates(&self, age: Duration) -> bool {
        match self.last_ms.load(Ordering::SeqCst) {
            0 => false,
            last => age > self.epoch.elapsed().saturating_sub(Duration::from_millis(last - 1)),
        }
    }
}

/// Watches the pool's host (with `follow_primary`) and the password file,
/// and gives the pool new connect options when either changes; ends when
/// the pool is closed.
pub(super) fn watch(
    pool: PgPool,
    target: Target,
    follow_primary: bool,
    current: usize,
    password: Option<String>,
    switches: Arc<Switches>,
) {
    tokio::spawn(async move {
        let (mut current, mut password) = (current, password);
        let mut lost = false;
        loop {
            tokio::time::sleep(WATCH).await;
            if pool.is_closed() {
                return;
            }
            // A rotated password: new connections use it.
            let mut changed = false;
            match target.password() {
                Ok(read) if read != password => {
                    tracing::info!("the database password file changed; new connections use the new password");
                    password = read;
                    changed = true;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "keeping the database password read before"),
            }
            if follow_primary {
                if let Ok(true) = target.writable(current, password.as_deref()).await {
                    lost = false;
                } else {
                    // Gone or read-only: what the pool holds may not write any more.
                    if !lost {
                        switches.mark();
                        tracing::warn!(
                            host = host_of(&target.hosts[current]),
                            "the database host no longer accepts writes"
                        );
                    }
                    match target.find(password.as_deref()).await {
                        Ok(index) => {
                            if index != current {
                                tracing::warn!(host = host_of(&target.hosts[index]), "following the database primary");
                            }
                            switches.mark();
                            current = index;
                            lost = false;
                            changed = true;
                        }
                        Err(reason) => {
                            if !lost {
                                tracing::error!(%reason, "no database primary; requests answer unavailable until one is back");
                            }
                            lost = true;
                        }
                    }
                }
            }
            if changed {
                match target.options(current, password.as_deref()) {
                    Ok(options) => pool.set_connect_options(options),
                    Err(error) => tracing::error!(%error, "the database connect options"),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_list_becomes_one_url_per_host() {
        assert_eq!(
            hosts("postgres://u:p%40w@h1:5432,h2,10.0.0.3:6432/db?target_session_attrs=read-write&sslmode=require")
                .unwrap(),
            vec![
                "postgres://u:p%40w@h1:5432/db?target_session_attrs=read-write&sslmode=require",
                "postgres://u:p%40w@h2/db?target_session_attrs=read-write&sslmode=require",
                "postgres://u:p%40w@10.0.0.3:6432/db?target_session_attrs=read-write&sslmode=require",
            ]
        );
        assert_eq!(hosts("postgresql://h/db").unwrap(), vec!["postgresql://h/db"]);
        assert!(hosts("postgres://u@h1,,h2/db").is_err());
        assert_eq!(host_of("postgres://u:secret@h1:5432/db?x=y"), "h1:5432");
    }

    #[test]
    fn connections_opened_before_a_switch_are_known() {
        let started = Instant::now().checked_sub(Duration::from_secs(10)).unwrap();
        let switches = Switches { epoch: started, last_ms: AtomicU64::new(0) };
        assert!(!switches.predates(Duration::from_secs(3600)), "no switch yet");
        switches.mark();
        assert!(switches.predates(Duration::from_millis(500)), "opened before the switch");
        assert!(!switches.predates(Duration::ZERO), "opened after it");
    }
}
