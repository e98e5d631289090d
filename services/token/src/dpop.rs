//! DPoP (RFC 9449) at the token service: the proof of a token request, and
//! the proof that must come with a bound token at Gatehouse's own APIs.
//! The checks of the proof itself are `gatehouse_oauth::dpop`'s; what needs
//! shared state is here: each proof is used once across every replica
//! (its `jti` kept in the shared cache for the window it could be accepted
//! in, by an atomic set-if-absent).

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

fn seconds(value: i64) -> Duration {
    Duration::from_secs(u64::try_from(value).unwrap_or(0))
}

impl TokenService {
    /// Verifies a proof and spends its `jti`.
    async fn spend(&self, proof: &pb::DpopProof, access_token: Option<&str>) -> TokenResult<Proof> {
        let expected = Expected { method: &proof.method, url: &proof.url, access_token, nonce: None, now: self.now() };
        let verified = dpop::verify(&proof.proof, &expected)?;
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
        let Some(proof) = proof.filter(|p| !p.proof.is_empty()) else {
            if client.requirements.dpop_bound_access_tokens {
                return Err(invalid("this application's access tokens are DPoP-bound: send a DPoP proof").into());
            }
            return Ok(Binding::default());
        };
        let verified = self.spend(proof, None).await?;
        let public = client.client_type == gatehouse_oauth::ClientType::Public;
        Ok(Binding { jkt: Some(verified.jkt), refresh: public })
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
