//! SQL connections: one code path for SQLite and PostgreSQL.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

mod primary;

/// Opens a pool. SQLite files are created when missing, so the embedded
/// default works on a fresh machine.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, None, max_connections).await
}

/// [`connect`], the PostgreSQL password read from `password_file` (and read
/// again when a rotation rewrites it) instead of the URL.
pub async fn connect_with(
    url: &str,
    password_file: Option<&std::path::Path>,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    let url = sqlite_create_if_missing(url);
    let sqlite = url.starts_with("sqlite:");
    if sqlite && password_file.is_some() {
        return Err(DbErr::Custom("a database password file is for PostgreSQL, not SQLite".into()));
    }
    let target = primary::Target {
        hosts: if sqlite { vec![url.clone()] } else { primary::hosts(&url).map_err(DbErr::Custom)? },
        password_file: password_file.map(ToOwned::to_owned),
    };
    let password = target.password().map_err(DbErr::Custom)?;
    // With target_session_attrs=read-write, the first host that accepts
    // writes, asked first so that the start says why when none does (the
    // pool would only report that it timed out waiting for a connection).
    let follow_primary = !sqlite && requires_primary(&url).map_err(DbErr::Custom)?;
    let current = if follow_primary {
        target.find(password.as_deref()).await.map_err(DbErr::Custom)?
    } else {
        if !sqlite {
            check_postgres_url(&url).map_err(DbErr::Custom)?;
        }
        0
    };
    let mut options = ConnectOptions::new(target.hosts[current].clone());
    options
        .max_connections(max_connections)
        .min_connections(1)
        // Well inside an RPC's deadline (5 s): an unreachable database is a
        // 503 in about a second, not a request that hangs until its caller
        // gives up (sqlx keeps retrying the connection until this timeout).
        .connect_timeout(Duration::from_secs(1))
        .acquire_timeout(Duration::from_millis(1500))
        .sqlx_logging(false);
    if sqlite {
        // One connection per pool: SQLite has one writer, and a deferred
        // transaction that reads and then writes fails with SQLITE_BUSY
        // (not retried by the busy timeout) when another connection wrote
        // in between. The benchmark showed no gain from more connections.
        options.max_connections(1);
        // Set on every connection the pool opens. WAL with synchronous=NORMAL
        // cannot corrupt the file; a power cut may lose the last commits
        // (tokens just issued), which clients recover from by signing in again.
        //
        // Checkpoints (copying the WAL back into the database file, with an
        // fsync) run on a connection of their own, not inside a request's
        // commit: with the automatic checkpoint, the one pooled connection
        // sat in fsync about a fifth of the time under a token-issuing
        // load, and every request waited behind it.
        let file_backed = !url.contains(":memory:") && !url.contains("mode=memory");
        options.map_sqlx_sqlite_opts(move |o| {
            let o = o
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                .pragma("cache_size", "-65536");
            if file_backed { o.pragma("wal_autocheckpoint", "0") } else { o }
        });
        let db = Database::connect(options).await?;
        if file_backed {
            spawn_checkpointer(&url).await?;
        }
        return Ok(db);
    }
    let switches = primary::Switches::new();
    let taken = switches.clone();
    if let Some(password) = password.clone() {
        options.map_sqlx_postgres_opts(move |o| o.password(&password));
    }
    if follow_primary {
        options.map_sqlx_postgres_pool_opts(move |pool| {
            let taken = taken.clone();
            pool
                // A connection to a read-only server is never pooled.
                .after_connect(|connection, _| {
                    Box::pin(async move {
                        if primary::is_read_only(connection).await? {
                            return Err(sea_orm::sqlx::Error::Configuration(
                                "the server is read-only (a standby); target_session_attrs=read-write asks for the \
                                 primary"
                                    .into(),
                            ));
                        }
                        Ok(())
                    })
                })
                // One opened before the primary moved is dropped when taken.
                .before_acquire(move |_, metadata| {
                    let fresh = !taken.predates(metadata.age);
                    Box::pin(async move { Ok(fresh) })
                })
        });
    }
    let db = Database::connect(options).await?;
    if follow_primary || target.password_file.is_some() {
        let pool = db.get_postgres_connection_pool().clone();
        primary::watch(pool, target, follow_primary, current, password, switches);
    }
    Ok(db)
}

/// Why a PostgreSQL URL cannot work, for the configuration check: an empty
/// host in the list, a `target_session_attrs` Gatehouse cannot honour, or
/// several hosts without `target_session_attrs=read-write`.
pub fn check_postgres_url(url: &str) -> Result<(), String> {
    let hosts = primary::hosts(url)?;
    if !requires_primary(url)? && hosts.len() > 1 {
        return Err("several hosts need target_session_attrs=read-write (Gatehouse follows the one that accepts \
                    writes)"
            .to_owned());
    }
    Ok(())
}

/// Whether a PostgreSQL URL asks for a server that accepts writes
/// (`target_session_attrs=read-write` or `primary`); `any` and no value do
/// not. The other values of libpq (read-only, standby, prefer-standby) are
/// refused: Gatehouse writes.
fn requires_primary(url: &str) -> Result<bool, String> {
    let Some((_, query)) = url.split_once('?') else { return Ok(false) };
    let mut wanted = false;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("target_session_attrs=") {
            wanted = match value {
                "any" => false,
                "read-write" | "primary" => true,
                other => {
                    return Err(format!(
                        "target_session_attrs={other}: Gatehouse writes; use read-write (or primary, or any)"
                    ));
                }
            };
        }
    }
    Ok(wanted)
}

/// [`connect`], retried for up to `patience`: at start-up a database that is
/// not accepting connections yet (a PostgreSQL pod still starting, a
/// machine busy enough that the first connection misses its 1-second
/// deadline) is waited for, with a log line per attempt, rather than ending
/// the process. Requests keep the short deadlines of [`connect`].
pub async fn connect_patiently(
    url: &str,
    password_file: Option<&std::path::Path>,
    max_connections: u32,
    patience: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(100);
    loop {
        match connect_with(url, password_file, max_connections).await {
            Ok(db) => return Ok(db),
            Err(error) if tokio::time::Instant::now() + pause < deadline => {
                tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "the database is not reachable yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod session_attrs_tests {
    use super::requires_primary;

    #[test]
    fn target_session_attrs_asks_for_the_primary_or_is_refused() {
        assert_eq!(requires_primary("postgres://u@h/db"), Ok(false));
        assert_eq!(requires_primary("postgres://u@h/db?target_session_attrs=any"), Ok(false));
        assert_eq!(requires_primary("postgres://u@h/db?sslmode=require&target_session_attrs=read-write"), Ok(true));
        assert_eq!(requires_primary("postgres://u@h/db?target_session_attrs=primary"), Ok(true));
        assert!(requires_primary("postgres://u@h/db?target_session_attrs=standby").is_err());
    }
}

/// How long the processes wait for their database at start-up.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL frames (pages, 4 KiB by default) past which the checkpointer resets
/// the WAL even if that makes the writer wait: about 16 MiB.
const WAL_FRAMES_LIMIT: i64 = 4096;

/// Runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection every
/// [`CHECKPOINT_EVERY`]: a passive checkpoint never blocks the writer or
/// readers, and once it has copied every frame the next write starts the
/// WAL over, so the file stays small. The task lives as long as the runtime
/// (the process); its connection holds no lock between checkpoints.
async fn spawn_checkpointer(url: &str) -> Result<(), DbErr> {
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
    let options: SqliteConnectOptions = url.parse().map_err(|e: sea_orm::sqlx::Error| DbErr::Custom(e.to_string()))?;
    let mut connection = options
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into())))?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let passive = sea_orm::sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut connection)
                .await;
            // (busy, frames in the WAL, frames copied). Under a steady write
            // load a passive checkpoint may never catch up with the writer,
            // and the WAL only starts over once one has: past the limit, a
            // TRUNCATE checkpoint waits for the writer (briefly) and resets it.
            let result = match passive {
                Ok((_, frames, _)) if frames > WAL_FRAMES_LIMIT => {
                    sea_orm::sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut connection).await.map(drop)
                }
                other => other.map(drop),
            };
            if let Err(error) = result {
                tracing::warn!(%error, "SQLite checkpoint failed; retrying");
                if connection.ping().await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(())
}

fn sqlite_create_if_missing(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains(":memory:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_owned()
    }
}

/// Whether `error` is a transaction that lost a conflict with another one
/// (PostgreSQL's deadlock or serialization failure, SQLite's busy): the
/// statement did nothing and may simply run again.
pub fn is_conflict(error: &DbErr) -> bool {
    let database = match error {
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => {
            e.as_database_error()
        }
        _ => None,
    };
    database.and_then(|e| e.code()).is_some_and(|code| matches!(code.as_ref(), "40P01" | "40001" | "5" | "517"))
}

/// How often a statement that lost a conflict is run again.
pub const CONFLICT_ATTEMPTS: usize = 5;

/// The row with a unique key (primary key or unique index), if any.
///
/// Use instead of `.one()` for lookups by a unique key: `.one()` adds a
/// `LIMIT ?` with a bound value, and SQLite re-prepares such a statement
/// (parses and plans it again) on every run instead of reusing the cached
/// one: about a tenth of the CPU of an authorization redirect went there.
/// The key makes the limit useless anyway.
pub async fn unique<E, C>(select: sea_orm::Select<E>, db: &C) -> Result<Option<E::Model>, DbErr>
where
    E: sea_orm::EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    Ok(select.all(db).await?.into_iter().next())
}

/// A cheap round trip, for readiness.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::*;

    fn size(path: &std::path::Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    /// Waits until the database file holds `bytes`: the checkpointer has
    /// copied that much of the WAL into it. Fails after 20 checkpoint periods.
    async fn checkpointed(file: &std::path::Path, bytes: u64) {
        let deadline = tokio::time::Instant::now() + CHECKPOINT_EVERY * 20;
        while size(file) < bytes {
            assert!(tokio::time::Instant::now() < deadline, "not checkpointed: {} of {bytes} bytes", size(file));
            tokio::time::sleep(CHECKPOINT_EVERY / 5).await;
        }
    }

    /// Writes reach the database file without anyone checkpointing on the
    /// request path, and the WAL starts over instead of growing.
    #[tokio::test]
    async fn the_background_checkpointer_copies_the_wal_and_keeps_it_small() {
        let dir = std::env::temp_dir().join(format!("gatehouse-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("folder");
        let file = dir.join("db.sqlite");
        let wal = dir.join("db.sqlite-wal");
        let db = connect(&format!("sqlite://{}", file.display()), 1).await.expect("connect");
        db.execute_unprepared("CREATE TABLE t (v BLOB)").await.expect("create");
        let write_a_megabyte = || async {
            for _ in 0..16 {
                db.execute_unprepared("INSERT INTO t VALUES (randomblob(65536))").await.expect("insert");
            }
        };
        write_a_megabyte().await;
        assert!(size(&wal) >= 1 << 20, "the writes are in the WAL ({} bytes)", size(&wal));
        checkpointed(&file, 1 << 20).await;
        // A steady load, well past the limit: the WAL is bounded all the same.
        for _ in 0..24 {
            write_a_megabyte().await;
        }
        checkpointed(&file, 25 << 20).await;
        let limit = u64::try_from(WAL_FRAMES_LIMIT).unwrap_or(0) * 4096;
        let deadline = tokio::time::Instant::now() + CHECKPOINT_EVERY * 20;
        while size(&wal) > limit {
            assert!(tokio::time::Instant::now() < deadline, "the WAL stays at {} bytes", size(&wal));
            write_a_megabyte().await;
            tokio::time::sleep(CHECKPOINT_EVERY / 5).await;
        }
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
