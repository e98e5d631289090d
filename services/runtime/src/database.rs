//! SQL connections: one code path for SQLite and PostgreSQL.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

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
        // SQLite allows one writer; a single connection avoids SQLITE_BUSY
        // between writers of the same process and keeps transactions simple.
        options.max_connections(1);
    }
    let db = Database::connect(options).await?;
    if url.starts_with("sqlite:") {
        db.execute_unprepared("PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;")
            .await?;
    }
    Ok(db)
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
