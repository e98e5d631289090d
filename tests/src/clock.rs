//! The clock of a test deployment: the wall clock plus what the test moved
//! it forward by, so that a test of an expiry advances time instead of
//! waiting it out. Every part of a [`crate::TestEnv`] reads it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_oauth::{Clock, SystemClock};

/// The wall clock, advanced by the test.
#[derive(Debug, Default)]
pub struct TestClock {
    ahead_ms: AtomicI64,
}

impl TestClock {
    /// Moves every part's time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).expect("a test advances by less than 292 million years");
        self.ahead_ms.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + chrono::Duration::milliseconds(self.ahead_ms.load(Ordering::SeqCst))
    }
}
