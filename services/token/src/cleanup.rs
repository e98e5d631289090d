//! Deleting expired tokens in bounded batches, so that rows do not pile up
//! and no statement holds locks for long.

use crate::service::TokenService;

/// Expired rows are kept this long, for audits of recent activity.
const KEEP_EXPIRED_SECS: i64 = 24 * 60 * 60;

/// Runs the cleanup loop for the life of the process.
pub(crate) fn spawn(service: TokenService) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(service.config().cleanup_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match service.delete_expired().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "expired tokens deleted"),
                Err(error) => tracing::warn!(%error, "expired-token cleanup failed"),
            }
            match service.delete_old_revocations().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "revocation log events past retention deleted"),
                Err(error) => tracing::warn!(%error, "revocation log cleanup failed"),
            }
        }
    });
}

impl TokenService {
    /// Deletes expired tokens batch by batch until none is left; returns how many.
    pub(crate) async fn delete_expired(&self) -> crate::error::TokenResult<u64> {
        let before = self.now() - KEEP_EXPIRED_SECS;
        let batch = self.config().cleanup_batch;
        crate::store::in_batches(batch, || self.inner.store.delete_expired(before, batch)).await
    }

    /// Deletes the revocation log's events older than the retention (the
    /// access-token lifetime and a margin), batch by batch.
    pub(crate) async fn delete_old_revocations(&self) -> crate::error::TokenResult<u64> {
        let keep = self.config().access_ttl.saturating_add(crate::watch::RETENTION_MARGIN);
        let before = self.now_ms().saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
        self.inner.feed.delete_older_than(before, self.config().cleanup_batch).await
    }
}
