//! What the token service can be configured with.

use std::time::Duration;

/// Token service configuration.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The issuer identifier (`iss` of ID tokens), byte for byte the one
    /// of the discovery documents and of the authorization responses.
    pub issuer: String,
    /// ID token lifetime.
    pub id_token_ttl: Duration,
    /// When signing keys rotate (`None`: only by `gatehouse keys rotate`).
    pub key_rotation: Option<Duration>,
    /// Access token lifetime; the seed platform's is 2 hours.
    pub access_ttl: Duration,
    /// Refresh token lifetime; the seed platform's is 90 days.
    pub refresh_ttl: Duration,
    /// How often expired rows are deleted.
    pub cleanup_every: Duration,
    /// Rows deleted per statement, so that cleanup never holds long locks.
    pub cleanup_batch: u64,
    /// How long a successful client authentication is reused (0: never).
    /// A deleted secret keeps working here up to this long (a deleted
    /// application does not: its revocation record refuses its new tokens).
    pub client_auth_cache: Duration,
    /// How long an active cache entry is trusted after SQL last confirmed
    /// it; past that, the next read asks SQL again. Bounds how long a lost
    /// tombstone can matter (see the `cache` module).
    pub cache_trust: Duration,
    /// How soon after a rotation the same refresh token may be presented
    /// again as a *retry* (its successor never used: the client did not get
    /// the answer, say a 503 at its deadline) instead of a reuse that
    /// revokes the grant. 0 (the default) turns retries off: RFC 9700's
    /// strict reuse detection. A 503 does not need it: a rotation whose
    /// answer cannot be given (tombstones refused, deadline too close) is
    /// not committed, so the same refresh token works again.
    pub refresh_retry_window: Duration,
    /// Failed client authentication and unknown-token lookups, throttled.
    pub throttle: crate::throttle::ThrottleLimits,
    /// The longest expiry a personal access token may be given.
    pub personal_token_max_ttl: Duration,
    /// Client ids whose `client_credentials` access tokens identify them as
    /// validators on the internal plane (`GATEHOUSE_VALIDATOR_CLIENTS`).
    pub validators: Vec<String>,
    /// The trust domain Txn-Tokens are for (their `aud`).
    pub txn_trust_domain: String,
    /// How long a Txn-Token lives at most (never longer than its subject).
    pub txn_token_ttl: Duration,
    /// DPoP server nonces (RFC 9449 §8) at the token endpoint, a new one
    /// every this long (`None`: off, proofs need no nonce).
    pub dpop_nonce_every: Option<Duration>,
    /// The key the signing keys are sealed under at rest; the same for
    /// every replica. Required: the service does not start without it.
    pub key_encryption_key: Option<crate::KeyEncryptionKey>,
    /// The Shared Signals transmitter.
    pub ssf: crate::SsfConfig,
}

impl TokenConfig {
    /// When keys are published ahead and kept after, from the lifetimes.
    pub(crate) fn key_policy(&self) -> crate::keys::KeyPolicy {
        use crate::keys::{JWKS_MAX_AGE, RELOAD_EVERY};
        crate::keys::KeyPolicy {
            rotate_every: self.key_rotation,
            // Every verifier's cached JWKS, and every replica, has seen it by then.
            publish_lead: JWKS_MAX_AGE + 2 * RELOAD_EVERY,
            // What a key signed lives at most this long (JWT access tokens
            // will be signed too), and verifiers may still hold the old JWKS.
            retire_after: self.id_token_ttl.max(self.access_ttl) + JWKS_MAX_AGE + 2 * RELOAD_EVERY,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".to_owned(),
            id_token_ttl: Duration::from_secs(60 * 60),
            key_rotation: Some(Duration::from_secs(90 * 24 * 60 * 60)),
            access_ttl: Duration::from_secs(2 * 60 * 60),
            refresh_ttl: Duration::from_secs(90 * 24 * 60 * 60),
            cleanup_every: Duration::from_secs(10 * 60),
            cleanup_batch: 1000,
            client_auth_cache: Duration::from_secs(5),
            cache_trust: Duration::from_secs(10),
            refresh_retry_window: Duration::ZERO,
            throttle: crate::throttle::ThrottleLimits::default(),
            personal_token_max_ttl: Duration::from_secs(366 * 24 * 60 * 60),
            validators: Vec::new(),
            key_encryption_key: None,
            dpop_nonce_every: None,
            txn_trust_domain: "127.0.0.1".to_owned(),
            txn_token_ttl: Duration::from_secs(300),
            ssf: crate::SsfConfig::default(),
        }
    }
}
