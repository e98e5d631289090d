//! One clock for every replica: the database's.
//!
//! Token expiry is compared across processes: a token stamped by one token
//! replica is introspected by another, and a replica whose wall clock runs
//! five minutes fast would stamp tokens five minutes off. [`DatabaseClock`]
//! reads the database server's clock at start and every
//! [`SYNC_EVERY`] (half the round trip added), and between reads counts
//! with the process's monotonic clock, which a step of the wall clock does
//! not move. It never goes backwards: a read that is behind what it already
//! answered is ignored, so a clock stepped back cannot make an expired token
//! active again. The leeway between replicas is the read's round trip plus
//! the drift of the monotonic clock over one period: milliseconds.
//!
//! With SQLite the database's clock is this machine's; with PostgreSQL it is
//! the server's, shared by every replica.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_oauth::{Clock, SystemClock};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::time::Instant;

/// How often the database's clock is read again.
pub const SYNC_EVERY: Duration = Duration::from_secs(10);

/// The database's time; see the module docs.
#[derive(Debug)]
pub struct DatabaseClock {
    /// (monotonic instant, database time in milliseconds at that instant).
    anchor: RwLock<(Instant, i64)>,
    /// The latest time answered, in milliseconds: the floor of every answer.
    answered: AtomicI64,
}

fn millis_of(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

impl DatabaseClock {
    /// Reads the database's clock (or, when it cannot be read, this
    /// machine's, until the first successful read) and keeps it in sync for
    /// the life of the process.
    pub async fn start(db: DatabaseConnection) -> Arc<Self> {
        let initial = match read(&db).await {
            Ok(anchor) => anchor,
            Err(error) => {
                tracing::warn!(%error, "cannot read the database's clock yet, using this machine's until it can be");
                (Instant::now(), millis_of(SystemClock.now()))
            }
        };
        let clock = Arc::new(Self { anchor: RwLock::new(initial), answered: AtomicI64::new(initial.1) });
        let syncing = Arc::downgrade(&clock);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SYNC_EVERY).await;
                let Some(clock) = syncing.upgrade() else { return };
                match read(&db).await {
                    Ok(anchor) => clock.resync(anchor),
                    Err(error) => tracing::debug!(%error, "database clock not read; counting on"),
                }
            }
        });
        clock
    }

    fn resync(&self, (at, millis): (Instant, i64)) {
        let mut anchor = self.anchor.write().unwrap_or_else(PoisonError::into_inner);
        *anchor = (at, millis);
    }

    fn now_millis(&self) -> i64 {
        let (at, millis) = *self.anchor.read().unwrap_or_else(PoisonError::into_inner);
        let elapsed = i64::try_from(at.elapsed().as_millis()).unwrap_or(i64::MAX);
        let counted = millis.saturating_add(elapsed);
        // Never behind an earlier answer (a database clock stepped back).
        self.answered.fetch_max(counted, Ordering::AcqRel).max(counted)
    }
}

impl Clock for DatabaseClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_millis()).unwrap_or_default()
    }
}

/// The database's time now: (the instant halfway through the query, its time in ms).
async fn read(db: &DatabaseConnection) -> Result<(Instant, i64), sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now_ms",
        _ => "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AS now_ms",
    };
    let sent = Instant::now();
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| sea_orm::DbErr::Custom("the database returned no time".to_owned()))?;
    let millis: i64 = row.try_get("", "now_ms")?;
    let received = Instant::now();
    Ok((sent + (received - sent) / 2, millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn never_goes_backwards_and_follows_the_database() {
        let db = crate::database::connect("sqlite::memory:", 1).await.unwrap();
        let clock = DatabaseClock::start(db).await;
        let first = clock.now();
        assert!((first - SystemClock.now()).num_seconds().abs() <= 1, "SQLite's clock is this machine's");
        // The database's clock stepped back an hour: answers stay where they were.
        clock.resync((Instant::now(), millis_of(first) - 3_600_000));
        assert!(clock.now() >= first);
        // Forward again: followed at once.
        clock.resync((Instant::now(), millis_of(first) + 60_000));
        assert!(clock.now() >= first + chrono::Duration::seconds(60));
    }
}
