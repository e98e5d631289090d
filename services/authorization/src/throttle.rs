//! Counters that hold across replicas (they live in the shared cache):
//! failed logins, failed client authentications and mistyped user codes.
//! Each window starts at its first failure; past a limit the answer is
//! RESOURCE_EXHAUSTED with the time left. Nothing is counted per username
//! or client alone, so nobody elsewhere can lock a user or a client out.

use std::time::Duration;

use gatehouse_oauth::{ClientAuthentication, RegisteredClient, SecretHash};

use crate::error::{AuthzError, AuthzResult};
use crate::record::key;
use crate::service::Authorization;

impl Authorization {
    async fn failures(&self, key: &str) -> AuthzResult<u64> {
        let value = self.inner.kv.get(key).await?;
        Ok(value.and_then(|v| String::from_utf8(v).ok()?.parse().ok()).unwrap_or(0))
    }

    /// Refused when any of `keys` reached its limit.
    pub(crate) async fn check_throttle(&self, keys: &[(String, u64)], window: Duration) -> AuthzResult<()> {
        for (key, limit) in keys {
            if self.failures(key).await? >= *limit {
                let retry_after = self.inner.kv.ttl(key).await?.unwrap_or(window);
                return Err(AuthzError::Throttled { retry_after: retry_after.max(Duration::from_secs(1)) });
            }
        }
        Ok(())
    }

    /// Counts one failure on each of `keys`.
    pub(crate) async fn count_failure(&self, keys: &[(String, u64)], window: Duration) -> AuthzResult<()> {
        for (key, _) in keys {
            self.inner.kv.incr(key, window).await?;
        }
        Ok(())
    }

    /// Client authentication behind the same throttle as the token
    /// endpoint's: per (client, address) and per address.
    pub(crate) async fn authenticate_client(
        &self,
        auth: &ClientAuthentication,
        address: &str,
    ) -> AuthzResult<RegisteredClient> {
        let limits = self.config().device;
        let client = SecretHash::of(&auth.client_id);
        let keys = [
            (key::client_fail_pair(client.as_str(), address), limits.client_failures_per_pair),
            (key::client_fail_address(address), limits.client_failures_per_address),
        ];
        let keys: &[(String, u64)] = if address.is_empty() { &[] } else { &keys };
        self.check_throttle(keys, limits.client_failure_window).await?;
        match self.inner.registry.authenticate_client(auth).await {
            Ok(client) => Ok(client),
            Err(status) => {
                let error = match gatehouse_proto::status::decode_oauth(&status) {
                    Some(oauth) => AuthzError::OAuth(oauth),
                    None => return Err(AuthzError::registry(status)),
                };
                self.count_failure(keys, limits.client_failure_window).await?;
                Err(error)
            }
        }
    }
}
