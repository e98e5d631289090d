//! WatchRevocations: the revocation log (see [`TokenStore::revocations_after`])
//! as a stream, for the caches of resource servers.
//!
//! One poller per replica reads the log's head every [`POLL_EVERY`] while
//! someone watches (a change made on this replica pokes it at once), and
//! each stream reads the events after its cursor whenever the head moves.
//! The log numbers events in commit order with no gaps, so reading "after
//! N" never skips one that commits late.

use std::time::Duration;

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, watch};

use crate::error::TokenResult;
use crate::store::{LoggedRevocation, RevocationLog};

/// How often the head is read while someone watches.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// ... and while nobody does.
const IDLE_POLL_EVERY: Duration = Duration::from_secs(1);
/// A quiet stream still says where it is this often.
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(500);
/// A stream ends after this long; the consumer resumes from its cursor,
/// possibly on another replica.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);
/// Most events in one message.
const BATCH: u64 = 1000;
/// Events are kept this much longer than the access-token lifetime.
pub(crate) const RETENTION_MARGIN: Duration = Duration::from_secs(600);

/// One message of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) revoked: Vec<LoggedRevocation>,
    pub(crate) cursor: i64,
    pub(crate) head: i64,
    pub(crate) reset: bool,
}

/// The replica's view of the log's head, the streams that read the log
/// after it, and the signal that they end.
#[derive(Debug)]
pub(crate) struct Feed {
    log: Arc<dyn RevocationLog>,
    head: watch::Sender<i64>,
    poke: Notify,
    closing: watch::Sender<bool>,
    /// Each live stream's cursor, for the lag metric.
    cursors: std::sync::RwLock<std::collections::HashMap<u64, i64>>,
    next_stream: std::sync::atomic::AtomicU64,
}

/// A stream of the feed while it runs: counted among the consumers, its
/// cursor among the cursors.
struct Consumer {
    feed: Arc<Feed>,
    id: u64,
}

impl Consumer {
    fn new(feed: &Arc<Feed>, cursor: i64) -> Self {
        let id = feed.next_stream.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        feed.cursors().insert(id, cursor);
        gatehouse_runtime::metrics::metrics().revocation_consumers.inc();
        Self { feed: feed.clone(), id }
    }

    fn at(&self, cursor: i64) {
        self.feed.cursors().insert(self.id, cursor);
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.feed.cursors().remove(&self.id);
        gatehouse_runtime::metrics::metrics().revocation_consumers.dec();
    }
}

impl Feed {
    pub(crate) fn new(log: Arc<dyn RevocationLog>) -> Arc<Self> {
        Arc::new(Self {
            log,
            head: watch::channel(0).0,
            poke: Notify::new(),
            closing: watch::channel(false).0,
            cursors: std::sync::RwLock::default(),
            next_stream: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn cursors(&self) -> std::sync::RwLockWriteGuard<'_, std::collections::HashMap<u64, i64>> {
        self.cursors.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many events of the log the slowest stream has not been sent.
    fn lag(&self, head: i64) -> i64 {
        let cursors = self.cursors.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        cursors.values().map(|cursor| head.saturating_sub(*cursor).max(0)).max().unwrap_or(0)
    }

    /// A change was just committed here: read the head now.
    pub(crate) fn poke(&self) {
        self.poke.notify_one();
    }

    /// Ends every stream (the replica drains or stops); consumers reconnect elsewhere.
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Runs the head poller for the life of the process.
    pub(crate) fn spawn(self: &Arc<Self>) {
        let feed = self.clone();
        tokio::spawn(async move {
            loop {
                let every = if feed.head.receiver_count() > 0 { POLL_EVERY } else { IDLE_POLL_EVERY };
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = feed.poke.notified() => {}
                }
                match feed.log.revocation_log_bounds().await {
                    Ok((_, head)) => {
                        feed.head.send_if_modified(|known| std::mem::replace(known, head) != head);
                        gatehouse_runtime::metrics::metrics().revocation_lag.set(feed.lag(head));
                    }
                    Err(error) => tracing::debug!(%error, "reading the revocation log's head failed"),
                }
            }
        });
    }

    /// A stream of the log after `after` (None: from the head on). The
    /// first failure to read the log is the stream's last message.
    pub(crate) async fn watch(self: &Arc<Self>, after: Option<i64>) -> TokenResult<mpsc::Receiver<TokenResult<Batch>>> {
        let (first, head) = self.log.revocation_log_bounds().await?;
        let (mut cursor, reset) = match after {
            None => (head, false),
            // Events after `after` were deleted (or the cursor is not of this log at all).
            Some(after) if after.saturating_add(1) < first || after > head => (head, true),
            Some(after) => (after, false),
        };
        let (sender, receiver) = mpsc::channel(4);
        if reset && sender.send(Ok(Batch { revoked: Vec::new(), cursor, head, reset: true })).await.is_err() {
            return Ok(receiver);
        }
        let feed = self.clone();
        tokio::spawn(async move {
            let consumer = Consumer::new(&feed, cursor);
            let mut heads = feed.head.subscribe();
            let mut closing = feed.closing.subscribe();
            let ends = tokio::time::Instant::now() + STREAM_LIFETIME;
            loop {
                if *closing.borrow() || tokio::time::Instant::now() >= ends {
                    return;
                }
                let events = match feed.log.revocations_after(cursor, BATCH).await {
                    Ok(events) => events,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                };
                if let Some(last) = events.last() {
                    cursor = last.seq;
                    consumer.at(cursor);
                    let head = (*heads.borrow()).max(cursor);
                    if sender.send(Ok(Batch { revoked: events, cursor, head, reset: false })).await.is_err() {
                        return;
                    }
                    continue;
                }
                let head = *heads.borrow_and_update();
                if head > cursor {
                    // The head moved past events this read did not find:
                    // retention deleted them under a slow consumer.
                    match feed.gap(cursor).await {
                        // Not expected (events commit with the head that
                        // counts them); read again, without spinning.
                        Ok(false) => {
                            tokio::time::sleep(POLL_EVERY).await;
                            continue;
                        }
                        Ok(true) => {
                            cursor = head;
                            consumer.at(cursor);
                            let reset = Batch { revoked: Vec::new(), cursor, head, reset: true };
                            if sender.send(Ok(reset)).await.is_err() {
                                return;
                            }
                            continue;
                        }
                        Err(error) => {
                            let _ = sender.send(Err(error)).await;
                            return;
                        }
                    }
                }
                tokio::select! {
                    changed = heads.changed() => if changed.is_err() { return },
                    _ = closing.changed() => return,
                    () = sender.closed() => return,
                    () = tokio::time::sleep(HEARTBEAT) => {
                        let beat = Batch { revoked: Vec::new(), cursor, head: head.max(cursor), reset: false };
                        if sender.send(Ok(beat)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(receiver)
    }

    /// Whether the events right after `cursor` are gone from the log.
    async fn gap(&self, cursor: i64) -> TokenResult<bool> {
        let (first, _) = self.log.revocation_log_bounds().await?;
        Ok(cursor.saturating_add(1) < first)
    }

    /// Deletes the events logged before `before_ms`, `batch` at a time.
    pub(crate) async fn delete_older_than(&self, before_ms: i64, batch: u64) -> TokenResult<u64> {
        crate::store::in_batches(batch, || self.log.delete_old_revocations(before_ms, batch)).await
    }
}
