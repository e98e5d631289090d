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

/// Runs `delete` (which deletes at most `batch` rows and says how many)
/// until a call deletes fewer; returns the total.
pub(crate) async fn in_batches<F, Fut>(batch: u64, mut delete: F) -> crate::error::TokenResult<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::error::TokenResult<u64>>,
{
    let mut total = 0;
    loop {
        let deleted = delete().await?;
        total += deleted;
        if deleted < batch {
            return Ok(total);
        }
        // Let other work in between batches.
        tokio::task::yield_now().await;
    }
}

impl TokenService {
    /// Deletes expired tokens batch by batch until none is left; returns how many.
    pub(crate) async fn delete_expired(&self) -> crate::error::TokenResult<u64> {
        let before = self.now() - KEEP_EXPIRED_SECS;
        let batch = self.config().cleanup_batch;
        in_batches(batch, || self.inner.store.delete_expired(before, batch)).await
    }
}
