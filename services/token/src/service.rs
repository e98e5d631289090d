//! The service object shared by every use case.

use std::sync::Arc;

use gatehouse_oauth::Clock;
use gatehouse_runtime::kv::Kv;
use gatehouse_runtime::part::Dependencies;

use crate::cache::TokenCache;
use crate::clients::Clients;
use crate::config::TokenConfig;
use crate::store::{PersonalTokenStore, Stores, TokenStore};

/// What must be left of the caller's deadline for a request to commit: the
/// commit and the answer's way back take a few milliseconds.
const COMMIT_MARGIN: std::time::Duration = std::time::Duration::from_millis(100);

/// The token service: cheap to clone.
#[derive(Debug, Clone)]
pub struct TokenService {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: TokenConfig,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) personal: Arc<dyn PersonalTokenStore>,
    pub(crate) kv: Arc<dyn Kv>,
    pub(crate) clients: Clients,
    pub(crate) clock: Arc<dyn Clock>,
    /// The token cache and what this process owes it.
    pub(crate) cache: TokenCache,
    /// Failed client authentication and unknown-token lookups.
    pub(crate) throttles: crate::throttle::Throttles,
    /// The signing keys (ID tokens) and the JWKS.
    pub(crate) keys: Arc<crate::keys::Keys>,
    /// The revocation log's head as this replica knows it (WatchRevocations).
    pub(crate) feed: Arc<crate::watch::Feed>,
    /// The token service's audit trail.
    pub(crate) audit: gatehouse_runtime::audit::AuditLog,
    /// What this part's readiness follows.
    pub(crate) readiness: gatehouse_runtime::part::Readiness,
    /// This replica's DPoP nonce (RFC 9449 §8), when nonces are on.
    pub(crate) nonces: crate::dpop::Nonces,
    /// The Shared Signals transmitter.
    pub(crate) ssf: Arc<crate::ssf::Transmitter>,
}

impl TokenService {
    /// The service over its store and signing keys; the rest from `deps`
    /// (ready while the database answers: with the cache down it still
    /// answers from SQL).
    pub(crate) fn new(
        config: TokenConfig,
        stores: Stores,
        keys: Arc<crate::keys::Keys>,
        audit: gatehouse_runtime::audit::AuditLog,
        deps: Dependencies,
    ) -> Self {
        let readiness = deps.database_readiness();
        let Dependencies { kv, clock, upstreams, db, .. } = deps;
        let (registry, authorization) = (upstreams.registry, upstreams.authorization);
        let ssf = crate::ssf::Transmitter::new(crate::ssf::Parts {
            db,
            keys: keys.clone(),
            issuer: config.issuer.clone(),
            clock: clock.clone(),
            config: config.ssf.clone(),
            registry: registry.clone(),
            authorization: authorization.clone(),
            audit: audit.clone(),
        });
        let clients = Clients::new(registry, authorization, config.client_auth_cache, clock.clone());
        let feed = crate::watch::Feed::new(stores.log);
        let cache = TokenCache::new(kv.clone(), clock.clone(), config.cache_trust, feed.clone());
        let throttles = crate::throttle::Throttles::new(kv.clone(), config.throttle);
        Self {
            inner: Arc::new(Inner {
                config,
                store: stores.tokens,
                personal: stores.personal,
                kv,
                clients,
                clock,
                cache,
                throttles,
                keys,
                feed,
                audit,
                readiness,
                nonces: crate::dpop::Nonces::default(),
                ssf,
            }),
        }
    }

    /// The token service's audit trail.
    pub fn audit(&self) -> &gatehouse_runtime::audit::AuditLog {
        &self.inner.audit
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now().timestamp()
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now().timestamp_millis()
    }

    /// Fails when the caller's deadline has passed or is too close to
    /// answer in time: called right before a request commits, so that work
    /// nobody waits for any more is not done (its caller was, or is about
    /// to be, told "unavailable", and will retry).
    pub(crate) fn before_commit(&self) -> crate::error::TokenResult<()> {
        self.before_commit_by(gatehouse_upstream::deadline::current())
    }

    /// [`TokenService::before_commit`] for a `deadline` taken from the
    /// request (in a task that commits for several requests).
    pub(crate) fn before_commit_by(&self, deadline: Option<tokio::time::Instant>) -> crate::error::TokenResult<()> {
        let now = tokio::time::Instant::now();
        if deadline.is_some_and(|deadline| deadline.saturating_duration_since(now) < COMMIT_MARGIN) {
            return Err(crate::error::TokenError::DeadlineExceeded);
        }
        Ok(())
    }

    pub fn config(&self) -> &TokenConfig {
        &self.inner.config
    }
}
