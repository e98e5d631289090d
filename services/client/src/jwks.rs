//! Local verification of JWT access tokens (RFC 9068 §4) against the token
//! service's published keys, fetched over gRPC (`GetJwks`) and cached: for
//! the key set's `max_age`, and fetched again at once (at most every
//! [`REFETCH_AT_MOST_EVERY`]) when a token names a key the cache does not
//! hold, which is how a verifier follows a key rotation (the next key is
//! published before it signs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_proto::pb::token::v1::GetJwksRequest;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_upstream::Upstream;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

/// An unknown `kid` fetches the key set again, but not more often than this
/// (a stream of forged kids must not become a stream of fetches).
pub const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// The claims of a JWT access token the layer reads (RFC 9068 §2.2).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct AccessClaims {
    pub(crate) sub: String,
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) scope: String,
    pub(crate) exp: i64,
    #[serde(default)]
    pub(crate) aud: Audience,
    /// RFC 9449 §6.1: the DPoP key the token is bound to.
    #[serde(default)]
    pub(crate) cnf: Option<Confirmation>,
    /// RFC 8693 §4.1: who acts for the subject, nested along a chain.
    #[serde(default)]
    pub(crate) act: Option<serde_json::Value>,
    /// RFC 9068 §2.2.1: when and how strongly the user signed in.
    #[serde(default)]
    pub(crate) auth_time: Option<i64>,
    #[serde(default)]
    pub(crate) acr: Option<String>,
    #[serde(default)]
    pub(crate) amr: Vec<String>,
}

/// The `sub`s of a nested `act`, the current actor first.
pub(crate) fn actor_chain(mut act: Option<&serde_json::Value>) -> Vec<String> {
    let mut chain = Vec::new();
    while let Some(current) = act {
        let Some(sub) = current.get("sub").and_then(serde_json::Value::as_str) else { break };
        chain.push(sub.to_owned());
        act = current.get("act");
    }
    chain
}

/// RFC 7800 `cnf` with RFC 9449's `jkt`.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Confirmation {
    #[serde(default)]
    pub(crate) jkt: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

impl Audience {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(aud) => vec![aud],
            Self::Many(auds) => auds,
            Self::None => Vec::new(),
        }
    }
}

/// Why a JWT was not accepted locally.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Bad signature, wrong type, issuer or audience, expired: a 401.
    Invalid,
    /// The keys could not be fetched: a 503, as an unreachable token service is.
    Unavailable,
}

#[derive(Debug)]
struct Keys {
    set: JwkSet,
    issuer: String,
    fetched: Instant,
    max_age: Duration,
}

/// The cached key set of one token service.
#[derive(Debug, Clone)]
pub(crate) struct JwksCache {
    client: TokenServiceClient<Upstream>,
    keys: Arc<Mutex<Option<Keys>>>,
}

impl JwksCache {
    pub(crate) fn new(client: TokenServiceClient<Upstream>) -> Self {
        Self { client, keys: Arc::default() }
    }

    /// The token's claims when it is a JWT access token signed by a
    /// published key of the issuer, unexpired and meant for `audience`.
    pub(crate) async fn verify(&self, token: &str, audience: &str) -> Result<AccessClaims, Rejected> {
        // RFC 9068 §4: the `typ` tells an access token from an ID token (or
        // a Txn-Token), signed by the same keys, which must never pass as one.
        self.verify_typed(token, "at+jwt", audience).await
    }

    /// The claims of a JWT of type `typ` signed by a published key of the
    /// issuer, unexpired and meant for `audience`.
    pub(crate) async fn verify_typed<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        audience: &str,
    ) -> Result<T, Rejected> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Rejected::Invalid)?;
        if header.typ.as_deref().map(str::to_ascii_lowercase).as_deref() != Some(typ) {
            return Err(Rejected::Invalid);
        }
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(Rejected::Invalid);
        }
        let kid = header.kid.ok_or(Rejected::Invalid)?;
        let (key, issuer) = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        jsonwebtoken::decode::<T>(token, &key, &validation).map(|data| data.claims).map_err(|_| Rejected::Invalid)
    }

    /// The key `kid` and the issuer, from the cache or a fresh fetch.
    async fn key(&self, kid: &str) -> Result<(DecodingKey, String), Rejected> {
        let mut keys = self.keys.lock().await;
        let fresh = keys.as_ref().is_some_and(|k| k.fetched.elapsed() < k.max_age);
        let known = keys.as_ref().and_then(|k| k.set.find(kid).map(|_| ()));
        let may_refetch = keys.as_ref().is_none_or(|k| k.fetched.elapsed() >= REFETCH_AT_MOST_EVERY);
        if !fresh || (known.is_none() && may_refetch) {
            match self.fetch().await {
                Ok(fetched) => *keys = Some(fetched),
                // Expired keys are kept for a failed fetch: they are still
                // the issuer's keys, and a rotation publishes ahead.
                Err(rejected) if keys.is_none() => return Err(rejected),
                Err(_) => {}
            }
        }
        let keys = keys.as_ref().ok_or(Rejected::Unavailable)?;
        let jwk = keys.set.find(kid).ok_or(Rejected::Invalid)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| Rejected::Invalid)?;
        Ok((key, keys.issuer.clone()))
    }

    async fn fetch(&self) -> Result<Keys, Rejected> {
        let mut client = self.client.clone();
        let response = client.get_jwks(GetJwksRequest {}).await.map_err(|_| Rejected::Unavailable)?.into_inner();
        let set: JwkSet = serde_json::from_str(&response.jwks).map_err(|_| Rejected::Unavailable)?;
        let max_age = Duration::from_secs(u64::try_from(response.max_age).unwrap_or(0));
        Ok(Keys { set, issuer: response.issuer, fetched: Instant::now(), max_age })
    }
}
