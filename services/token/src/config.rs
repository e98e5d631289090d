//! What the token service can be configured with.

use std::time::Duration;

/// Token service configuration.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// Access token lifetime; the seed platform's is 2 hours.
    pub access_ttl: Duration,
    /// Refresh token lifetime; the seed platform's is 90 days.
    pub refresh_ttl: Duration,
    /// How often expired rows are deleted.
    pub cleanup_every: Duration,
    /// Rows deleted per statement, so that cleanup never holds long locks.
    pub cleanup_batch: u64,
    /// How long a successful client authentication is reused (0: never).
    /// A deleted secret or application keeps working here up to this long.
    pub client_auth_cache: Duration,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(2 * 60 * 60),
            refresh_ttl: Duration::from_secs(90 * 24 * 60 * 60),
            cleanup_every: Duration::from_secs(10 * 60),
            cleanup_batch: 1000,
            client_auth_cache: Duration::from_secs(5),
        }
    }
}
