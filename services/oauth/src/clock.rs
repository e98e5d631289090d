//! Time as an injected dependency, so that expiry rules are testable.

use chrono::{DateTime, Utc};
use std::fmt::Debug;

/// The source of "now" for every rule that expires something.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock; the only place that reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned wall-clock read
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
