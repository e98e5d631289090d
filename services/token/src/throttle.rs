//! Throttles that hold across replicas (the counters live in the shared
//! cache): failed client authentication per (client, source address) and
//! per source address, and unknown-token lookups per client, so that
//! neither client secrets nor tokens can be guessed at speed. A client
//! elsewhere is never locked out by someone else's failures (no counter is
//! per client alone). Past a limit the answer is RESOURCE_EXHAUSTED with the
//! time left (HTTP 429 with `Retry-After`). When the cache is unavailable
//! the throttle lets requests through (and says so in the log): it limits
//! guessing, and the checks it guards stay in force.

use std::time::Duration;

use gatehouse_oauth::OAuthErrorCode;

use crate::clients::Presented;
use crate::error::{TokenError, TokenResult};
use crate::service::TokenService;

/// The limits; every window starts at its first failure.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Failed authentications of one client from one address.
    pub per_client_address: u64,
    /// Failed authentications from one address, whatever the client.
    pub per_address: u64,
    pub auth_window: Duration,
    /// Lookups of tokens that do not exist (or are malformed), per client.
    pub unknown_tokens_per_client: u64,
    pub unknown_window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            per_client_address: 20,
            per_address: 100,
            auth_window: Duration::from_secs(300),
            unknown_tokens_per_client: 100,
            unknown_window: Duration::from_secs(10),
        }
    }
}

fn auth_keys(credentials: &Presented) -> Option<[String; 2]> {
    let address = credentials.address.as_str();
    if address.is_empty() {
        // Internal callers over gRPC give no address: nothing to key on.
        return None;
    }
    // The client id as sent is attacker text: keyed by its hash, bounded in size.
    let client = gatehouse_oauth::SecretHash::of(&credentials.auth.client_id);
    Some([
        format!("throttle:client-auth:{}:{address}", client.as_str()),
        format!("throttle:client-auth-addr:{address}"),
    ])
}

impl TokenService {
    /// Refuses at once when `keys` reached their limits.
    async fn over_limit(&self, keys: &[(&str, u64)]) -> TokenResult<()> {
        for (key, limit) in keys {
            let count = match self.inner.kv.get(key).await {
                Ok(value) => value.and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok()).unwrap_or(0),
                Err(error) => {
                    tracing::debug!(%error, "throttle unreadable, not enforced for this request");
                    return Ok(());
                }
            };
            if count >= *limit {
                let retry_after = self.inner.kv.ttl(key).await.ok().flatten().unwrap_or(Duration::from_secs(1));
                return Err(TokenError::Throttled { retry_after: retry_after.max(Duration::from_secs(1)) });
            }
        }
        Ok(())
    }

    async fn count(&self, keys: &[&str], window: Duration) {
        for key in keys {
            if let Err(error) = self.inner.kv.incr(key, window).await {
                tracing::debug!(%error, "throttle not counted");
            }
        }
    }

    /// Before authenticating: refused when this client and address, or
    /// this address, failed too often.
    pub(crate) async fn check_auth_throttle(&self, credentials: &Presented) -> TokenResult<()> {
        let Some([pair, address]) = auth_keys(credentials) else { return Ok(()) };
        let limits = self.config().throttle;
        self.over_limit(&[(&pair, limits.per_client_address), (&address, limits.per_address)]).await
    }

    /// After an authentication failed (`invalid_client`).
    pub(crate) async fn count_auth_failure(&self, credentials: &Presented, error: &TokenError) {
        let failed = matches!(error, TokenError::OAuth(oauth) if oauth.code == OAuthErrorCode::InvalidClient);
        if let (true, Some([pair, address])) = (failed, auth_keys(credentials)) {
            self.count(&[&pair, &address], self.config().throttle.auth_window).await;
        }
    }

    /// Client authentication behind the throttle: refused at once past the
    /// limits, and each `invalid_client` counted.
    pub(crate) async fn authenticate_client(
        &self,
        credentials: Option<&Presented>,
    ) -> TokenResult<crate::clients::Client> {
        if let Some(credentials) = credentials {
            // A kept success means the secret was right moments ago: no
            // guessing to limit, and no cache round trip on the hot path.
            if let Some(client) = self.inner.clients.kept(credentials) {
                return Ok(client);
            }
            self.check_auth_throttle(credentials).await?;
        }
        let result = self.inner.clients.authenticate(credentials).await;
        if let (Err(error), Some(credentials)) = (&result, credentials) {
            self.count_auth_failure(credentials, error).await;
        }
        result
    }

    /// After a client looked up a token that does not exist: counted, and
    /// refused once it asked for too many such tokens lately. Lookups of
    /// tokens that exist are never counted (nor cost a cache round trip).
    pub(crate) async fn unknown_token(&self, client_id: &str) -> TokenResult<()> {
        let key = format!("throttle:unknown-token:{client_id}");
        let limits = self.config().throttle;
        match self.inner.kv.incr(&key, limits.unknown_window).await {
            Ok(count) if count > limits.unknown_tokens_per_client => {
                let retry_after = self.inner.kv.ttl(&key).await.ok().flatten().unwrap_or(Duration::from_secs(1));
                Err(TokenError::Throttled { retry_after: retry_after.max(Duration::from_secs(1)) })
            }
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::debug!(%error, "throttle not counted");
                Ok(())
            }
        }
    }
}
