//! Throttles that hold across replicas (the counters live in the shared
//! cache): failed client authentication per (client, source address) and
//! per source address, and unknown-token lookups per client, so that
//! neither client secrets nor tokens can be guessed at speed. A client
//! elsewhere is never locked out by someone else's failures (no counter is
//! per client alone). Each authentication reserves its slots before the
//! secret is checked, so a parallel burst gets no more checks through than
//! the limit. Past a limit the answer is RESOURCE_EXHAUSTED with the
//! time left (HTTP 429 with `Retry-After`). When the cache is unavailable
//! the throttle lets requests through (and says so in the log): it limits
//! guessing, and the checks it guards stay in force.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_runtime::kv::Kv;
use gatehouse_runtime::throttle::{self, Limiter, Reservation, Slot};

use crate::clients::Presented;
use crate::error::{TokenError, TokenResult};

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

/// The throttles, over the shared cache.
#[derive(Debug, Clone)]
pub(crate) struct Throttles {
    kv: Arc<dyn Kv>,
    limits: ThrottleLimits,
}

impl Throttles {
    pub(crate) fn new(kv: Arc<dyn Kv>, limits: ThrottleLimits) -> Self {
        Self { kv, limits }
    }

    /// Reserves this attempt's slots (this client and address, this
    /// address) before the secret is checked. `Ok(None)` when there is
    /// nothing to key on or the cache cannot say (then the attempt goes
    /// ahead: the throttle limits guessing, the check itself stays in force).
    pub(crate) async fn reserve_auth(&self, credentials: &Presented) -> TokenResult<Option<Reservation>> {
        let Some([pair, address]) = auth_keys(credentials) else { return Ok(None) };
        let limits = self.limits;
        let slots = [
            Slot::new(pair, limits.per_client_address, limits.auth_window),
            Slot::new(address, limits.per_address, limits.auth_window),
        ];
        match throttle::reserve(self.kv.as_ref(), Limiter::ClientAuthentication, &slots).await {
            Ok(Ok(reservation)) => Ok(Some(reservation)),
            Ok(Err(retry_after)) => Err(TokenError::Throttled { retry_after }),
            Err(error) => {
                tracing::debug!(%error, "throttle unreadable, not enforced for this request");
                Ok(None)
            }
        }
    }

    /// After the check: a failed authentication keeps its slots, anything
    /// else gives them back.
    pub(crate) async fn settle(&self, reservation: Reservation, failed: bool) {
        if failed {
            reservation.keep();
        } else if let Err(error) = reservation.release(self.kv.as_ref()).await {
            tracing::debug!(%error, "throttle slot not given back");
        }
    }

    /// After a client looked up a token that does not exist: counted, and
    /// refused once it asked for too many such tokens lately. Lookups of
    /// tokens that exist are never counted (nor cost a cache round trip).
    pub(crate) async fn unknown_token(&self, client_id: &str) -> TokenResult<()> {
        let key = format!("throttle:unknown-token:{client_id}");
        let limits = self.limits;
        match self.kv.incr(&key, limits.unknown_window).await {
            Ok(count) if count > limits.unknown_tokens_per_client => {
                gatehouse_runtime::metrics::metrics().throttled(Limiter::UnknownTokens);
                let retry_after = self.kv.ttl(&key).await.ok().flatten().unwrap_or(Duration::from_secs(1));
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
