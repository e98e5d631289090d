//! Introspection (RFC 7662): cache first, SQL on a miss or a cache failure.

use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{OAuthError, OAuthErrorCode, SecretHash};

use gatehouse_runtime::metrics::{ResultLabels, metrics};

use crate::cache::{ActiveToken, Cached, Read};
use crate::clients::Presented;
use crate::error::TokenResult;
use crate::service::TokenService;
use crate::store::Revoked;

impl TokenService {
    /// The token's record when it is active; `None` when it is not (unknown,
    /// malformed, expired, revoked or a used refresh token). A storage
    /// failure is an error, never "inactive".
    pub(crate) async fn active(&self, token: &str) -> TokenResult<Option<ActiveToken>> {
        // A malformed token is refused here, without touching storage; a
        // JWT must carry a signature of a published key first (a ~25 µs
        // check that keeps forged JWT-shaped strings away from SQL, as the
        // checksum does for opaque tokens).
        match TokenKind::of(token) {
            None => return Ok(None),
            Some(_) if gatehouse_oauth::token::is_jwt(token) && !self.signed_by_us(token) => return Ok(None),
            Some(_) => {}
        }
        let hash = SecretHash::of(token);
        let now = self.now();
        let read = self.inner.cache.cached(hash.as_str()).await;
        let stale = match read {
            Some(Read { state: Cached::Revoked, .. }) => return Ok(None),
            Some(Read { state: Cached::Active(active), .. }) if active.expires_at <= now => return Ok(None),
            Some(Read { state: Cached::Active(active), .. }) if self.inner.cache.trusted(active.checked_at, now) => {
                return Ok(Some(*active));
            }
            // Past its trust bound: SQL decides again (see `cache`).
            Some(Read { state: Cached::Active(_), bytes }) => Some(bytes),
            // A change is committing: SQL decides, and nothing is cached over the mark.
            Some(Read { state: Cached::Provisional, .. }) => None,
            None => None,
        };
        let Some(record) = self.inner.store.find(hash.as_str()).await? else {
            return Ok(None);
        };
        if record.revoked || record.rotated || record.expires_at <= now {
            if stale.is_some() {
                // The entry outlived a tombstone that never landed: write it now (best effort).
                let gone = Revoked { hash: record.hash.clone(), expires_at: record.expires_at, newly: false };
                let _ = self.inner.cache.tombstone(&[gone]).await;
            }
            return Ok(None);
        }
        let active = ActiveToken::from_record(&record, now);
        match stale {
            Some(bytes) => self.inner.cache.cache_renew(hash.as_str(), &bytes, &active).await,
            None => self.inner.cache.cache_fill(&record).await,
        }
        Ok(Some(active))
    }

    /// Whether a JWT is signed by one of the published keys.
    fn signed_by_us(&self, jwt: &str) -> bool {
        self.inner.keys.verify::<serde_json::Value>(jwt).is_some()
    }

    /// Whether SQL knows the token at all (active or not): an inactive
    /// answer for a token that never existed is what guessing looks like.
    async fn exists(&self, token: &str) -> TokenResult<bool> {
        if TokenKind::of(token).is_none() || (gatehouse_oauth::token::is_jwt(token) && !self.signed_by_us(token)) {
            return Ok(false);
        }
        Ok(self.inner.store.find(SecretHash::of(token).as_str()).await?.is_some())
    }

    /// One item of a batch: a token refused by the options (inactive, a
    /// missing scope, a caller that may not introspect) is "not active";
    /// only a failure of the service fails the whole batch.
    pub(crate) async fn introspect_in_batch(
        &self,
        token: &str,
        client: Option<&Presented>,
        required_scopes: &[String],
        audience: Option<&str>,
        validator: Option<&[String]>,
    ) -> TokenResult<Option<ActiveToken>> {
        match self.introspect(token, client, required_scopes, audience, validator, "").await {
            Err(crate::error::TokenError::OAuth(_)) => Ok(None),
            other => other,
        }
    }

    /// Introspection with the options of the RPC: with `client`, only that
    /// client's tokens, and those for the resource servers it introspects
    /// for, are active (the HTTP endpoint); with `audience`, only tokens
    /// meant for that resource; with `required_scopes`, an inactive token is
    /// `invalid_token` and a missing scope `insufficient_scope`. With
    /// `validator` (the audiences of an internal service's credential), a
    /// token meant for resources sees it only when it names one of them.
    pub(crate) async fn introspect(
        &self,
        token: &str,
        client: Option<&Presented>,
        required_scopes: &[String],
        audience: Option<&str>,
        validator: Option<&[String]>,
        address: &str,
    ) -> TokenResult<Option<ActiveToken>> {
        let active = self.introspect_rules(token, client, required_scopes, audience, validator).await?;
        if active.as_ref().is_some_and(|a| a.kind() == TokenKind::Personal) {
            // A personal access token's "last used" (time, and where from when known).
            self.personal_token_used(token, address).await;
        }
        Ok(active)
    }

    async fn introspect_rules(
        &self,
        token: &str,
        client: Option<&Presented>,
        required_scopes: &[String],
        audience: Option<&str>,
        validator: Option<&[String]>,
    ) -> TokenResult<Option<ActiveToken>> {
        let caller = match client {
            Some(credentials) => {
                let caller = self.authenticate_client(Some(credentials)).await?;
                // RFC 7662 §2.1 and §4: the endpoint is for authenticated
                // callers; a public client (no secret) is not one, and the
                // metadata lists only the secret methods for it.
                if caller.client_type == gatehouse_oauth::ClientType::Public {
                    return Err(OAuthError::invalid_client(
                        "introspection needs client authentication: a public client cannot introspect",
                    )
                    .into());
                }
                Some(caller)
            }
            None => None,
        };
        // A Txn-Token is never an access token (it is verified where it is
        // used, against the JWKS): introspection answers it inactive.
        let active = self.active(token).await?.filter(|a| a.kind() != TokenKind::Transaction);
        if active.is_none()
            && let Some(caller) = &caller
            && !self.exists(token).await?
        {
            self.unknown_token(caller.client_id.as_str()).await?;
        }
        // RFC 7662 §2.1: a client sees its own tokens; a resource server
        // (through the application it introspects with) the tokens meant for it.
        let active = active.filter(|a| {
            caller.as_ref().is_none_or(|c| {
                c.client_id.as_str() == a.client_id || a.audience.iter().any(|aud| c.introspects_for.contains(aud))
            })
        });
        // An internal service sees tokens meant for no resource, and those
        // meant for the resources its credential names (RFC 8707 §1).
        let active = active.filter(|a| {
            validator.is_none_or(|mine| a.audience.is_empty() || a.audience.iter().any(|aud| mine.contains(aud)))
        });
        // A token for other resources is not one this resource may accept (RFC 8707 §1, RFC 9068 §4).
        let active = active.filter(|a| audience.is_none_or(|wanted| a.audience.iter().any(|aud| aud == wanted)));
        let result = if active.is_some() { "active" } else { "inactive" };
        metrics().introspections.get_or_create(&ResultLabels { result }).inc();
        if required_scopes.is_empty() {
            return Ok(active);
        }
        let Some(active) = active else {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "the access token is invalid, expired or revoked",
            )
            .into());
        };
        if !active.kind().is_bearer() {
            return Err(OAuthError::new(OAuthErrorCode::InvalidToken, "a refresh token is not an access token").into());
        }
        if let Some(missing) = required_scopes.iter().find(|s| !active.scopes.contains(s)) {
            return Err(OAuthError::new(
                OAuthErrorCode::InsufficientScope,
                format!("the token lacks the {missing:?} scope"),
            )
            .into());
        }
        Ok(Some(active))
    }
}
