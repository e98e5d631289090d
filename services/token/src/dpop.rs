//! DPoP (RFC 9449) at the token service: the proof of a token request, and
//! the proof that must come with a bound token at Gatehouse's own APIs.
//! The checks of the proof itself are `gatehouse_oauth::dpop`'s; what needs
//! shared state is here: each proof is used once across every replica
//! (its `jti` kept in the shared cache for the window it could be accepted
//! in, by an atomic set-if-absent).
//!
//! Server nonces (§8), when configured: a proof at the token endpoint must
//! carry a nonce this server handed out in `DPoP-Nonce` within the last two
//! periods, or it is refused with `use_dpop_nonce` and a fresh nonce. Each
//! replica mints its own nonce once a period and records it in the shared
//! cache, so a nonce one replica gave is accepted by all of them; every
//! answer to a DPoP token request carries the current one.

use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use gatehouse_oauth::dpop::{self, Expected, Proof};
use gatehouse_oauth::{OAuthError, OAuthErrorCode};
use gatehouse_proto::pb::token::v1 as pb;

use crate::clients::Client;
use crate::error::TokenResult;
use crate::service::TokenService;

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidDpopProof, description)
}

/// What the tokens of one token request are bound to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Binding {
    /// The proof's key thumbprint: the access token's `cnf.jkt`.
    pub(crate) jkt: Option<String>,
    /// Whether the refresh token is bound too: a public client's are (§5);
    /// a confidential client's are bound by its authentication instead.
    pub(crate) refresh: bool,
}

impl Binding {
    /// The `jkt` a token of this kind is stored with ("" unbound).
    pub(crate) fn for_refresh(&self) -> String {
        if self.refresh { self.jkt.clone().unwrap_or_default() } else { String::new() }
    }
}

/// What a token request's tokens are bound to: its proof's key (a
/// public client's refresh token too); none without a proof, which a
/// client that registered `dpop_bound_access_tokens` must send.
pub(crate) fn binding_for(client: &Client, proof: Option<Proof>) -> TokenResult<Binding> {
    let Some(proof) = proof else {
        if client.requirements.dpop_bound_access_tokens {
            return Err(invalid("this application's access tokens are DPoP-bound: send a DPoP proof").into());
        }
        return Ok(Binding::default());
    };
    let public = client.client_type == gatehouse_oauth::ClientType::Public;
    Ok(Binding { jkt: Some(proof.jkt), refresh: public })
}

fn seconds(value: i64) -> Duration {
    Duration::from_secs(u64::try_from(value).unwrap_or(0))
}

impl TokenService {
    /// Verifies a proof and spends its `jti`. At the token endpoint (no
    /// access token), with nonces on, the proof must carry a current nonce.
    async fn spend(&self, proof: &pb::DpopProof, access_token: Option<&str>) -> TokenResult<Proof> {
        let expected = Expected { method: &proof.method, url: &proof.url, access_token, now: self.now() };
        let verified = dpop::verify(&proof.proof, &expected)?;
        if access_token.is_none() && self.inner.config.dpop_nonce_every.is_some() {
            let current = match verified.nonce.as_deref() {
                Some(nonce) => self.nonce_is_current(nonce).await?,
                None => false,
            };
            if !current {
                return Err(dpop::use_nonce().into());
            }
        }
        let key = format!("dpop:{{{}}}:{}", verified.jkt, verified.jti_hash);
        let fresh = self.inner.kv.set_if_absent(&key, b"1", seconds(dpop::REPLAY_WINDOW_SECS)).await;
        if !fresh.map_err(|error| crate::error::TokenError::Cache(error.to_string()))? {
            return Err(invalid("the DPoP proof was used before: make a new one for every request").into());
        }
        Ok(verified)
    }

    /// The binding of a token request's tokens: its proof's key, if it
    /// carried one (and a client that registered `dpop_bound_access_tokens`
    /// must carry one).
    pub(crate) async fn token_request_binding(
        &self,
        client: &Client,
        proof: Option<&pb::DpopProof>,
    ) -> TokenResult<Binding> {
        let verified = self.token_request_proof(proof).await?;
        binding_for(client, verified)
    }

    /// A token request's proof, verified and spent (with its nonce, when
    /// nonces are on), before anything single use of the request is: a
    /// proof refused for its nonce leaves a code or an assertion unspent
    /// for the retry.
    pub(crate) async fn token_request_proof(&self, proof: Option<&pb::DpopProof>) -> TokenResult<Option<Proof>> {
        match proof.filter(|p| !p.proof.is_empty()) {
            Some(proof) => Ok(Some(self.spend(proof, None).await?)),
            None => Ok(None),
        }
    }

    /// At a protected resource of Gatehouse's own (the REST API, UserInfo):
    /// a token bound to a key is accepted only in the DPoP scheme with a
    /// proof of that key for this request (§7.1, §7.2: never as a bearer
    /// token); a bearer token is not accepted in the DPoP scheme.
    pub(crate) async fn check_presentation(
        &self,
        token: &str,
        bound_to: &str,
        proof: Option<&pb::DpopProof>,
    ) -> TokenResult<()> {
        dpop::presentation(!bound_to.is_empty(), proof.is_some())?;
        let Some(proof) = proof else { return Ok(()) };
        let verified = self.spend(proof, Some(token)).await?;
        if verified.jkt != bound_to {
            return Err(dpop::wrong_key().into());
        }
        Ok(())
    }
}

/// This replica's current DPoP nonce and when it was minted (unix seconds).
#[derive(Debug, Default)]
pub(crate) struct Nonces(RwLock<Option<(String, i64)>>);

fn nonce_key(nonce: &str) -> String {
    format!("dpop-nonce:{nonce}")
}

impl TokenService {
    /// The nonce a DPoP token request's answer carries (`DPoP-Nonce`), or
    /// `None` when nonces are off. Minted anew once a period.
    pub(crate) async fn dpop_nonce(&self) -> TokenResult<Option<String>> {
        let Some(every) = self.inner.config.dpop_nonce_every else { return Ok(None) };
        let every = i64::try_from(every.as_secs()).unwrap_or(i64::MAX).max(1);
        let now = self.now();
        let held = self.inner.nonces.0.read().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some((nonce, minted)) = held
            && now < minted.saturating_add(every)
        {
            return Ok(Some(nonce));
        }
        let nonce = gatehouse_oauth::random_token("", 32);
        // Kept for two periods (the cache entry a little longer): a nonce
        // handed out just before the next one is minted still works.
        let ttl = seconds(every.saturating_mul(2).saturating_add(60));
        self.inner
            .kv
            .set(&nonce_key(&nonce), now.to_string().as_bytes(), ttl)
            .await
            .map_err(|error| crate::error::TokenError::Cache(error.to_string()))?;
        *self.inner.nonces.0.write().unwrap_or_else(PoisonError::into_inner) = Some((nonce.clone(), now));
        Ok(Some(nonce))
    }

    /// Whether `nonce` is one this server (any replica) handed out within
    /// the last two periods.
    async fn nonce_is_current(&self, nonce: &str) -> TokenResult<bool> {
        let Some(every) = self.inner.config.dpop_nonce_every else { return Ok(true) };
        let every = i64::try_from(every.as_secs()).unwrap_or(i64::MAX).max(1);
        // What this server mints: base62 characters (and a checksum); anything else was never handed out.
        if nonce.len() > 64 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Ok(false);
        }
        let stored = self
            .inner
            .kv
            .get(&nonce_key(nonce))
            .await
            .map_err(|error| crate::error::TokenError::Cache(error.to_string()))?;
        let minted = stored.and_then(|bytes| String::from_utf8(bytes).ok()).and_then(|text| text.parse::<i64>().ok());
        Ok(minted.is_some_and(|minted| self.now() < minted.saturating_add(every.saturating_mul(2))))
    }
}
