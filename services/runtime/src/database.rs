//! SQL connections: one code path for SQLite and PostgreSQL.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Opens a pool. SQLite files are created when missing, so the embedded
/// default works on a fresh machine.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let url = sqlite_create_if_missing(url);
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One connection per pool: SQLite has one writer, and a deferred
        // transaction that reads and then writes fails with SQLITE_BUSY
        // (not retried by the busy timeout) when another connection wrote
        // in between. The benchmark showed no gain from more connections.
        options.max_connections(1);
        // Set on every connection the pool opens. WAL with synchronous=NORMAL
        // cannot corrupt the file; a power cut may lose the last commits
        // (tokens just issued), which clients recover from by signing in again.
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    }
    Database::connect(options).await
}

fn sqlite_create_if_missing(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains(":memory:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_owned()
    }
}

/// A cheap round trip, for readiness.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}
