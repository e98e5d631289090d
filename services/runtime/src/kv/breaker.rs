//! A circuit breaker in front of Redis.
//!
//! A hung Redis (SIGSTOP, a full network buffer) answers nothing: without a
//! breaker every request would wait the whole call timeout, once per cache
//! call. After `failures` consecutive failures the breaker opens and calls
//! fail at once (callers then use SQL, or answer UNAVAILABLE where the cache
//! is the only store); every `cooldown` one probe call is let through, and
//! its success closes the breaker again.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown_ms: u64,
    started: Instant,
    failures: AtomicU32,
    /// Milliseconds since `started` before which calls are refused; 0 when closed.
    open_until: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown_ms: u64::try_from(cooldown.as_millis()).unwrap_or(u64::MAX).max(1),
            started: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Whether a call may go to Redis now. When the breaker is open and its
    /// cooldown has passed, exactly one caller gets `true` (the probe) and
    /// the cooldown starts again for the others.
    pub(crate) fn allow(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now_ms();
        now >= until
            && self
                .open_until
                .compare_exchange(until, now.saturating_add(self.cooldown_ms), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    pub(crate) fn success(&self) {
        self.failures.store(0, Ordering::Release);
        if self.open_until.swap(0, Ordering::AcqRel) != 0 {
            crate::metrics::metrics().cache_breakers_open.dec();
            tracing::info!("cache reachable again, circuit breaker closed");
        }
    }

    pub(crate) fn failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        if failures >= self.threshold {
            let until = self.now_ms().saturating_add(self.cooldown_ms);
            if self.open_until.swap(until, Ordering::AcqRel) == 0 {
                let metrics = crate::metrics::metrics();
                metrics.cache_breakers_open.inc();
                metrics.cache_breaker_trips.inc();
                tracing::warn!(failures, "cache failing, circuit breaker open: calls skip it");
            }
        }
    }

    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != 0
    }
}

impl Drop for Breaker {
    fn drop(&mut self) {
        if *self.open_until.get_mut() != 0 {
            crate::metrics::metrics().cache_breakers_open.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_and_probes_once_per_cooldown() {
        let breaker = Breaker::new(3, Duration::from_millis(100));
        for _ in 0..2 {
            breaker.failure();
        }
        assert!(breaker.allow(), "two failures keep it closed");
        breaker.failure();
        assert!(breaker.is_open());
        assert!(!breaker.allow(), "open: refused at once");
        tokio::time::advance(Duration::from_millis(101)).await;
        assert!(breaker.allow(), "the first caller after the cooldown probes");
        assert!(!breaker.allow(), "only one probe");
        breaker.failure();
        assert!(!breaker.allow(), "a failed probe keeps it open");
        tokio::time::advance(Duration::from_millis(101)).await;
        assert!(breaker.allow());
        breaker.success();
        assert!(!breaker.is_open());
        assert!(breaker.allow() && breaker.allow(), "closed again");
    }
}
