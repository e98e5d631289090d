//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID
//! Connect Core §9, draft-ietf-oauth-rfc7523bis).
//!
//! An assertion authenticates its client when, all checked here:
//! - the client registered `private_key_jwt` and keys (`jwks`, or a
//!   `jwks_uri` fetched through the SSRF-safe fetcher);
//! - it is signed with one of them by an asymmetric algorithm (never `none`
//!   or an HMAC: the client holds no shared secret);
//! - `iss` and `sub` are the client id;
//! - `aud` is this server's issuer identifier **as its sole value** (the
//!   rfc7523bis fix of the audience-injection attack: an assertion made for
//!   another server's token endpoint URL never passes here). The token
//!   endpoint URL is refused too, which older clients send; the metadata
//!   says which audience is wanted by naming the issuer;
//! - `exp` is present, not past (30 s of leeway), and at most 10 minutes
//!   ahead; `nbf` and `iat`, when present, not in the future;
//! - `jti` is present and not seen before for this client: it is recorded
//!   in the shared cache until the assertion expires (atomic set-if-absent,
//!   so two replicas cannot both accept one assertion).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_oauth::{ClientAuthMethod, OAuthError, SecretHash};
use gatehouse_runtime::kv::Kv;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::error::{RegistryError, RegistryResult};
use crate::federation::TrustedIssuer;
use crate::model::{Application, ClientKeys};
use gatehouse_fetch::Fetcher;

/// Leeway on the assertion's times.
const LEEWAY_SECS: i64 = 30;
/// Longest remaining lifetime accepted: an assertion is made for one request.
const MAX_LIFETIME_SECS: i64 = 600;
/// Cap on a fetched `jwks_uri` document.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// How long a fetched key set is used before it is fetched again.
const JWKS_CACHE: Duration = Duration::from_secs(300);
/// An unknown `kid` refetches a key set at most this often.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// `gatehouse_oauth::client_auth::ASSERTION_SIGNING_ALGORITHMS`, as jsonwebtoken names them.
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn failed(reason: &'static str) -> RegistryError {
    RegistryError::OAuth(OAuthError::invalid_client(reason))
}

/// A JWT's payload.
pub(crate) type Claims = serde_json::Map<String, serde_json::Value>;

/// Longest remaining lifetime of an ID-JAG accepted (its `jti` is kept that long).
const MAX_IDENTITY_ASSERTION_SECS: i64 = 24 * 3600;

/// The same check's refusal when the JWT is an authorization grant (RFC
/// 7523 §3.1: `invalid_grant`) rather than a client's credential.
pub(crate) fn as_grant_error(error: RegistryError) -> RegistryError {
    match error {
        RegistryError::OAuth(oauth) if oauth.code == gatehouse_oauth::OAuthErrorCode::InvalidClient => {
            let reason = oauth.description.replace("client_assertion", "the assertion");
            RegistryError::OAuth(OAuthError::invalid_grant(reason))
        }
        other => other,
    }
}

/// A registered `jwks` value: a JWK Set of public keys, as compact JSON.
pub(crate) fn checked_jwks(value: &serde_json::Value) -> Result<String, String> {
    let text = value.to_string();
    if text.len() > MAX_JWKS_BYTES {
        return Err(format!("jwks is larger than {MAX_JWKS_BYTES} bytes"));
    }
    let set: JwkSet = serde_json::from_value(value.clone()).map_err(|_| "jwks is not a JWK Set".to_owned())?;
    if set.keys.is_empty() {
        return Err("jwks holds no key".to_owned());
    }
    for key in &set.keys {
        if DecodingKey::from_jwk(key).is_err() {
            return Err("jwks holds a key that cannot verify signatures".to_owned());
        }
        match &key.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_) => {
                return Err("jwks must hold public keys, not a shared secret".to_owned());
            }
            // RFC 7518 §3.3: 2048 bits or more. A shorter modulus is
            // factorable, and whoever factors it signs as the client.
            jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) if rsa_modulus_bits(&rsa.n) < MIN_RSA_BITS => {
                return Err(format!("jwks holds an RSA key shorter than {MIN_RSA_BITS} bits"));
            }
            _ => {}
        }
    }
    Ok(text)
}

/// The shortest RSA modulus accepted in a client's keys.
const MIN_RSA_BITS: usize = 2048;

/// The bit length of a base64url-encoded big-endian modulus (0 if unreadable).
fn rsa_modulus_bits(n: &str) -> usize {
    use base64::Engine;
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n.trim_end_matches('=')) else {
        return 0;
    };
    let bytes: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(first) => &bytes[first..],
        None => return 0,
    };
    bytes.len() * 8 - bytes[0].leading_zeros() as usize
}

/// A registered `jwks_uri`: an https URL (the fetcher enforces the rest when it is used).
pub(crate) fn checked_jwks_uri(value: &str) -> Result<String, String> {
    let ok = value.len() <= 2000
        && url::Url::parse(value).is_ok_and(|u| u.scheme() == "https" && u.host().is_some() && u.fragment().is_none());
    if ok { Ok(value.to_owned()) } else { Err("jwks_uri must be an https URL".to_owned()) }
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

struct FetchedKeys {
    set: Arc<JwkSet>,
    fetched: Instant,
}

/// Verifies client assertions; holds the fetched `jwks_uri` key sets.
pub(crate) struct Assertions {
    issuer: String,
    fetcher: Fetcher,
    kv: Arc<dyn Kv>,
    remote: moka::sync::Cache<String, Arc<FetchedKeys>>,
}

impl std::fmt::Debug for Assertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertions").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl Assertions {
    pub(crate) fn new(issuer: String, fetcher: Fetcher, kv: Arc<dyn Kv>) -> Self {
        let remote = moka::sync::Cache::builder().max_capacity(10_000).time_to_live(JWKS_CACHE * 12).build();
        Self { issuer, fetcher, kv, remote }
    }

    /// Whether `assertion` authenticates `app` at time `now` (unix seconds).
    /// Every failure is `invalid_client` with a reason a developer can act on.
    pub(crate) async fn verify(
        &self,
        app: &Application,
        assertion: &str,
        now: i64,
        requester: &str,
    ) -> RegistryResult<()> {
        if app.auth_method != ClientAuthMethod::PrivateKeyJwt {
            return Err(failed("this client does not authenticate with private_key_jwt"));
        }
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| failed("client_assertion is not a JWT"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(failed("client_assertion must be signed with an asymmetric algorithm"));
        }
        let client_id = app.client_id.as_str();
        let validation = signature_only(header.alg);
        let mut verified = None;
        for key in self.candidate_keys(app, header.kid.as_deref(), header.alg, requester).await? {
            if let Ok(data) = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation) {
                verified = Some(data.claims);
                break;
            }
        }
        let claims =
            verified.ok_or_else(|| failed("client_assertion's signature does not verify with the client's keys"))?;
        if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
            return Err(failed("client_assertion's iss and sub must be the client_id"));
        }
        let sole_audience = match &claims.aud {
            Some(serde_json::Value::String(aud)) => aud == &self.issuer,
            Some(serde_json::Value::Array(list)) => list.len() == 1 && list[0].as_str() == Some(self.issuer.as_str()),
            _ => false,
        };
        if !sole_audience {
            return Err(failed("client_assertion's aud must be the issuer identifier, as its only value"));
        }
        let exp = claims.exp.ok_or_else(|| failed("client_assertion has no exp"))?;
        if exp + LEEWAY_SECS <= now {
            return Err(failed("client_assertion has expired"));
        }
        if exp - now > MAX_LIFETIME_SECS {
            return Err(failed("client_assertion's exp is more than 10 minutes ahead"));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECS)
            || claims.iat.is_some_and(|iat| iat > now + LEEWAY_SECS)
        {
            return Err(failed("client_assertion is not valid yet"));
        }
        let jti = claims
            .jti
            .filter(|j| !j.is_empty() && j.len() <= 512)
            .ok_or_else(|| failed("client_assertion has no jti"))?;
        let key = format!("assertion-jti:{}", SecretHash::of(&format!("{client_id}\n{jti}")).as_str());
        let ttl = Duration::from_secs(u64::try_from(exp + LEEWAY_SECS - now).unwrap_or(1).max(1));
        let first = self.kv.set_if_absent(&key, b"1", ttl).await.map_err(|e| RegistryError::Cache(e.to_string()))?;
        if !first {
            return Err(failed("client_assertion was already used (its jti is single use)"));
        }
        Ok(())
    }

    /// A workload token of an issuer the operator trusts (see
    /// [`crate::federation`]): the client its rules map it to. Every
    /// failure is `invalid_client` with a reason a developer can act on.
    pub(crate) async fn verify_federated(
        &self,
        issuer: &TrustedIssuer,
        token: &str,
        now: i64,
        requester: &str,
    ) -> RegistryResult<String> {
        let claims = self.trusted_claims(issuer, token, now, requester).await?;
        if !issuer.accepts_audience(claims.get("aud")) {
            return Err(failed("client_assertion's aud names no audience this issuer's tokens may have here"));
        }
        issuer
            .client_for(&claims)
            .map(str::to_owned)
            .ok_or_else(|| failed("no federation rule maps this workload token's claims to a client"))
    }

    /// An Identity Assertion JWT Authorization Grant (ID-JAG) of a trusted
    /// identity provider: its claims once `typ`, signature, `iss`, times,
    /// `aud` (this server's issuer, as its sole value), `client_id` (the
    /// authenticated client) and `jti` (single use until it expires, across
    /// replicas) are checked. Every failure is `invalid_grant`.
    pub(crate) async fn verify_identity_assertion(
        &self,
        issuer: &TrustedIssuer,
        token: &str,
        client_id: &str,
        now: i64,
        requester: &str,
    ) -> RegistryResult<Claims> {
        let refused = |reason: &'static str| RegistryError::OAuth(OAuthError::invalid_grant(reason));
        let claims = self.trusted_claims(issuer, token, now, requester).await.map_err(as_grant_error)?;
        let sole_audience = match claims.get("aud") {
            Some(serde_json::Value::String(aud)) => aud == &self.issuer,
            Some(serde_json::Value::Array(list)) => list.len() == 1 && list[0].as_str() == Some(self.issuer.as_str()),
            _ => false,
        };
        if !sole_audience {
            return Err(refused("the identity assertion's aud must be this server's issuer identifier, alone"));
        }
        if claims.get("client_id").and_then(serde_json::Value::as_str) != Some(client_id) {
            return Err(refused("the identity assertion's client_id is not the authenticated client"));
        }
        let exp = claims.get("exp").and_then(serde_json::Value::as_i64).unwrap_or(now);
        if exp - now > MAX_IDENTITY_ASSERTION_SECS {
            return Err(refused("the identity assertion's exp is more than a day ahead"));
        }
        if claims.get("iat").and_then(serde_json::Value::as_i64).is_none() {
            return Err(refused("the identity assertion has no iat"));
        }
        let jti = claims
            .get("jti")
            .and_then(serde_json::Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 512)
            .ok_or_else(|| refused("the identity assertion has no jti"))?;
        let key = format!("id-jag-jti:{}", SecretHash::of(&format!("{}\n{jti}", issuer.issuer)).as_str());
        let ttl = Duration::from_secs(u64::try_from(exp + LEEWAY_SECS - now).unwrap_or(1).max(1));
        let first = self.kv.set_if_absent(&key, b"1", ttl).await.map_err(|e| RegistryError::Cache(e.to_string()))?;
        if !first {
            return Err(refused("the identity assertion was already used (its jti is single use)"));
        }
        Ok(claims)
    }

    /// A token of a trusted issuer: its claims once it is signed by one of
    /// the issuer's keys (asymmetric algorithms only), names the issuer as
    /// `iss`, has an `exp` not past and no `nbf`/`iat` in the future.
    pub(crate) async fn trusted_claims(
        &self,
        issuer: &TrustedIssuer,
        token: &str,
        now: i64,
        requester: &str,
    ) -> RegistryResult<Claims> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| failed("client_assertion is not a JWT"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(failed("client_assertion must be signed with an asymmetric algorithm"));
        }
        let set = match (&issuer.jwks, &issuer.jwks_uri) {
            (Some(jwks), _) => Arc::new(
                serde_json::from_value::<JwkSet>(jwks.clone()).map_err(|_| failed("the issuer's jwks is malformed"))?,
            ),
            (None, Some(uri)) => self.remote_keys(uri, header.kid.as_deref(), requester).await?,
            (None, None) => return Err(failed("the issuer has no keys")),
        };
        let validation = signature_only(header.alg);
        let claims = matching_keys(&set, header.kid.as_deref(), header.alg)?
            .iter()
            .find_map(|key| jsonwebtoken::decode::<Claims>(token, key, &validation).ok())
            .ok_or_else(|| failed("client_assertion's signature does not verify with its issuer's keys"))?
            .claims;
        if claims.get("iss").and_then(serde_json::Value::as_str) != Some(issuer.issuer.as_str()) {
            return Err(failed("client_assertion's iss is not a trusted issuer"));
        }
        let time = |name: &str| claims.get(name).and_then(serde_json::Value::as_i64);
        let exp = time("exp").ok_or_else(|| failed("client_assertion has no exp"))?;
        if exp + LEEWAY_SECS <= now {
            return Err(failed("client_assertion has expired"));
        }
        if time("nbf").is_some_and(|nbf| nbf > now + LEEWAY_SECS)
            || time("iat").is_some_and(|iat| iat > now + LEEWAY_SECS)
        {
            return Err(failed("client_assertion is not valid yet"));
        }
        Ok(claims)
    }

    /// The client's keys that may have signed with `alg` (by `kid` when it names one).
    async fn candidate_keys(
        &self,
        app: &Application,
        kid: Option<&str>,
        alg: Algorithm,
        requester: &str,
    ) -> RegistryResult<Vec<DecodingKey>> {
        let set = match &app.keys {
            ClientKeys::None => return Err(failed("the client registered no keys")),
            ClientKeys::Inline(text) => {
                Arc::new(serde_json::from_str::<JwkSet>(text).map_err(|_| failed("the client's jwks is malformed"))?)
            }
            ClientKeys::Uri(uri) => self.remote_keys(uri, kid, requester).await?,
        };
        matching_keys(&set, kid, alg)
    }

    async fn remote_keys(&self, uri: &str, kid: Option<&str>, requester: &str) -> RegistryResult<Arc<JwkSet>> {
        let cached = self.remote.get(uri);
        let known = |set: &JwkSet| kid.is_none_or(|kid| set.find(kid).is_some());
        if let Some(entry) = &cached {
            let fresh = entry.fetched.elapsed() < JWKS_CACHE;
            let may_refetch = entry.fetched.elapsed() >= REFETCH_AT_MOST_EVERY;
            if fresh && (known(&entry.set) || !may_refetch) {
                return Ok(entry.set.clone());
            }
        }
        match self.fetcher.get(uri, MAX_JWKS_BYTES, requester).await {
            Ok(fetched) => {
                // The same rules as registered keys: public, usable, RSA ≥ 2048 bits.
                let value: serde_json::Value = serde_json::from_slice(&fetched.body)
                    .map_err(|_| failed("the client's jwks_uri is not a JWK Set"))?;
                checked_jwks(&value).map_err(|reason| {
                    RegistryError::OAuth(OAuthError::invalid_client(format!("the client's jwks_uri: {reason}")))
                })?;
                let set: JwkSet =
                    serde_json::from_value(value).map_err(|_| failed("the client's jwks_uri is not a JWK Set"))?;
                let set = Arc::new(set);
                self.remote.insert(uri.to_owned(), Arc::new(FetchedKeys { set: set.clone(), fetched: Instant::now() }));
                Ok(set)
            }
            Err(error) => {
                tracing::warn!(uri, %error, "fetching a client's jwks_uri failed");
                match cached {
                    Some(entry) => Ok(entry.set.clone()),
                    None => Err(failed("the client's jwks_uri could not be fetched")),
                }
            }
        }
    }
}

/// A check of the signature by `alg` alone: times are checked against the
/// service clock, and the audience where "sole value" can be enforced, by
/// the callers.
fn signature_only(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.algorithms = vec![alg];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation
}

/// The keys of `set` that may have signed with `alg` (by `kid` when it names one).
fn matching_keys(set: &JwkSet, kid: Option<&str>, alg: Algorithm) -> RegistryResult<Vec<DecodingKey>> {
    let keys = set
        .keys
        .iter()
        .filter(|jwk| kid.is_none_or(|kid| jwk.common.key_id.as_deref() == Some(kid)))
        .filter(|jwk| jwk.common.key_algorithm.is_none_or(|a| format!("{a:?}") == format!("{alg:?}")))
        .filter_map(|jwk| DecodingKey::from_jwk(jwk).ok())
        .collect::<Vec<_>>();
    if keys.is_empty() {
        return Err(failed("no key matches the assertion's kid and alg"));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn rsa_jwks(modulus_bytes: usize) -> serde_json::Value {
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![0xc5; modulus_bytes]);
        serde_json::json!({"keys": [{"kty": "RSA", "kid": "r", "n": n, "e": "AQAB"}]})
    }

    #[test]
    fn rsa_keys_shorter_than_2048_bits_are_refused() {
        assert!(checked_jwks(&rsa_jwks(256)).is_ok(), "2048 bits");
        let short = checked_jwks(&rsa_jwks(255)).unwrap_err();
        assert!(short.contains("shorter than 2048 bits"), "{short}");
        assert!(checked_jwks(&serde_json::json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]})).is_err());
        assert_eq!(rsa_modulus_bits("AQAB"), 17);
        assert_eq!(rsa_modulus_bits("AAEA"), 9, "leading zero bytes do not count");
    }
}
