//! Pushed authorization requests (RFC 9126): the client sends its
//! authorization request straight to the server, authenticated, and the
//! browser carries only `client_id` and the `request_uri` it got back. The
//! request is validated when pushed, kept in the cache by the hash of its
//! `request_uri`, and taken (single use) when the browser brings it.

use gatehouse_oauth::authorize::{AuthorizeError, validate};
use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{
    ClientAuthentication, ClientType, OAuthError, Params, RegisteredClient, SecretHash, random_token,
};
use serde::{Deserialize, Serialize};

use crate::error::{AuthzError, AuthzResult};
use crate::record::{self, key};
use crate::service::Authorization;

/// What every `request_uri` this server issues starts with (RFC 9126 §2.2).
pub(crate) const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A pushed request as kept: the client that pushed it and the parameters
/// the authorization endpoint will read instead of the browser's.
#[derive(Serialize, Deserialize)]
struct PushedRecord {
    client_id: String,
    params: Vec<(String, String)>,
    expires_at: i64,
}

/// The answer to a push (RFC 9126 §2.2).
#[derive(Debug)]
pub(crate) struct Pushed {
    pub(crate) request_uri: String,
    pub(crate) expires_in: i64,
}

/// A pushed request taken at the authorization endpoint.
pub(crate) struct Taken {
    pub(crate) params: Params,
    pub(crate) expires_at: i64,
}

fn unusable(description: &str) -> AuthzError {
    OAuthError::invalid_request(description.to_owned()).into()
}

impl Authorization {
    /// Authenticates the client, validates its request exactly as the
    /// authorization endpoint would (every error comes back to the client
    /// here, as JSON, instead of through a redirect), and keeps it.
    pub(crate) async fn push_authorization_request(
        &self,
        auth: &ClientAuthentication,
        address: &str,
        params: Params,
        dpop: Option<&gatehouse_proto::pb::token::v1::DpopProof>,
    ) -> AuthzResult<Pushed> {
        let client = self.authenticate_client(auth, address).await?;
        let params = self.bind_pushed(params, dpop).await?;
        // §2.1: a pushed request cannot itself point at another one.
        if params.has_any(&["request_uri"]) {
            return Err(unusable("request_uri cannot be pushed (RFC 9126 §2.1)"));
        }
        if client.client_type == ClientType::Public && !address.is_empty() {
            // Anyone can push for a public client: its pushes are counted
            // per address, so that nobody fills the cache in its name.
            let limits = &self.config().pushed;
            let slot = key::pushed_public(SecretHash::of(client.client_id.as_str()).as_str(), address);
            self.reserve(
                gatehouse_runtime::throttle::Limiter::PushedRequests,
                &[(slot, limits.public_per_address)],
                limits.public_window,
            )
            .await?
            .keep();
        }
        let mut pairs = vec![("client_id".to_owned(), client.client_id.as_str().to_owned())];
        pairs.extend(params.into_pairs());
        let params = Params::new(pairs);
        self.check_pushed(&params, &client).await?;
        let ttl = self.config().pushed.ttl;
        let expires_in = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let request_uri = self.keep_pushed(client.client_id.as_str(), params, self.now() + expires_in).await?;
        Ok(Pushed { request_uri, expires_in })
    }

    /// RFC 9449 §10.1: a DPoP proof on the push binds the code to its key,
    /// as `dpop_jkt` does; with both, they must name the same key.
    async fn bind_pushed(
        &self,
        params: Params,
        dpop: Option<&gatehouse_proto::pb::token::v1::DpopProof>,
    ) -> AuthzResult<Params> {
        let Some(proof) = dpop.filter(|p| !p.proof.is_empty()) else {
            return Ok(params);
        };
        let expected = gatehouse_oauth::dpop::Expected {
            method: &proof.method,
            url: &proof.url,
            access_token: None,
            now: self.now(),
        };
        let verified = gatehouse_oauth::dpop::verify(&proof.proof, &expected)?;
        let window = std::time::Duration::from_secs(gatehouse_oauth::dpop::REPLAY_WINDOW_SECS.unsigned_abs());
        let key = key::dpop_proof(&verified.jkt, &verified.jti_hash);
        if !self.inner.kv.set_if_absent(&key, b"1", window).await? {
            return Err(OAuthError::new(
                gatehouse_oauth::OAuthErrorCode::InvalidDpopProof,
                "the DPoP proof was used before: make a new one for every request",
            )
            .into());
        }
        match params.single("dpop_jkt")? {
            Some(jkt) if jkt != verified.jkt => Err(OAuthError::new(
                gatehouse_oauth::OAuthErrorCode::InvalidDpopProof,
                "dpop_jkt names another key than the DPoP proof's",
            )
            .into()),
            Some(_) => Ok(params),
            None => {
                let mut pairs = params.into_pairs();
                pairs.push(("dpop_jkt".to_owned(), verified.jkt));
                Ok(Params::new(pairs))
            }
        }
    }

    /// The validation of the authorization endpoint, errors as errors.
    async fn check_pushed(&self, params: &Params, client: &RegisteredClient) -> AuthzResult<()> {
        let scopes = self.scopes().await?;
        let request = match validate(params, &client.into(), &scopes) {
            Ok(request) => request,
            Err(AuthorizeError::Untrusted(error) | AuthorizeError::Redirect { error, .. }) => {
                return Err(error.into());
            }
        };
        let resources = &request.resources;
        if let Err(status) = self.inner.registry.resolve_resources(client.client_id.as_str(), resources, false).await {
            return Err(match gatehouse_proto::status::decode_oauth(&status) {
                Some(error) => error.into(),
                None => AuthzError::registry(status),
            });
        }
        Ok(())
    }

    async fn keep_pushed(&self, client_id: &str, params: Params, expires_at: i64) -> AuthzResult<String> {
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", random_token("", RANDOM_CHARS_256_BITS));
        let ttl = std::time::Duration::from_secs(u64::try_from(expires_at - self.now()).unwrap_or(0).max(1));
        let record = PushedRecord { client_id: client_id.to_owned(), params: params.into_pairs(), expires_at };
        let key = key::pushed(SecretHash::of(&request_uri).as_str());
        self.inner.kv.set(&key, &record::encode(&record), ttl).await?;
        Ok(request_uri)
    }

    /// The request a `request_uri` stands for, taken: each is used once
    /// (RFC 9126 §4). Every failure is shown to the user, never redirected:
    /// nothing says yet where the client wants its answer.
    pub(crate) async fn take_pushed(&self, request_uri: &str, client_id: &str) -> AuthzResult<Taken> {
        let key = key::pushed(SecretHash::of(request_uri).as_str());
        let Some(bytes) = self.inner.kv.take(&key).await? else {
            return Err(unusable("request_uri is unknown, expired or already used: start again from the application"));
        };
        let record: PushedRecord = record::decode(&bytes)?;
        if record.client_id != client_id || record.expires_at <= self.now() {
            return Err(unusable("request_uri is unknown, expired or already used: start again from the application"));
        }
        Ok(Taken { params: Params::new(record.params), expires_at: record.expires_at })
    }

    /// After a sign-in page, the request comes back: its parameters are
    /// kept again under a new `request_uri`, until the same expiry, and the
    /// browser is given only that.
    pub(crate) async fn push_again(
        &self,
        client_id: &str,
        expires_at: i64,
        resume: Vec<(String, String)>,
    ) -> AuthzResult<Vec<(String, String)>> {
        let request_uri = self.keep_pushed(client_id, Params::new(resume), expires_at).await?;
        Ok(vec![("client_id".to_owned(), client_id.to_owned()), ("request_uri".to_owned(), request_uri)])
    }
}
