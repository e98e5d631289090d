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
        }
    });
}

impl TokenService {
    /// Deletes expired tokens batch by batch until none is left; returns how many.
    pub(crate) async fn delete_expired(&self) -> crate::error::TokenResult<u64> {
        let before = self.now() - KEEP_EXPIRED_SECS;
        let batch = self.config().cleanup_batch;
        let mut total = 0;
        loop {
            let deleted = self.inner.store.delete_expired(before, batch).await?;
            total += deleted;
            if deleted < batch {
                return Ok(total);
            }
            // Let other work in between batches.
            tokio::task::yield_now().await;
        }
    }
}
