//! DPoP proofs (RFC 9449): a JWT the client signs with a key it holds, for
//! one HTTP request, carrying the public key. One verifier for every place
//! that accepts them: the token endpoint, Gatehouse's own APIs and
//! `gatehouse-client` at resource servers. What it cannot check alone, the
//! caller does: the single use of `jti` (shared state) and, at a resource,
//! that the key is the one the token is bound to.
//!
//! Checked here (§4.3): one well-formed JWT; `typ` `dpop+jwt`; an asymmetric
//! `alg` of [`ALGORITHMS`]; a `jwk` header with a public key only, which
//! verifies the signature; `jti`, `htm`, `htu` and `iat` present; `htm` the
//! request's method; `htu` the request's URL without query and fragment,
//! compared after RFC 3986 syntax- and scheme-based normalisation (case of
//! scheme and host, default port, dot segments; never trailing-slash
//! stripping); `iat` within [`MAX_AGE_SECS`] before and [`MAX_AHEAD_SECS`]
//! after now; `ath` the hash of the access token when one is presented.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{OAuthError, OAuthErrorCode};

/// The JOSE `typ` of a proof (§4.2).
pub const PROOF_TYP: &str = "dpop+jwt";

/// The proof algorithms accepted, as `dpop_signing_alg_values_supported`
/// lists them: asymmetric only (never `none` or a MAC: §4.2).
pub const ALGORITHMS: [&str; 9] = ["ES256", "ES384", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"];

/// How long after its `iat` a proof is accepted (§11.1: seconds to minutes).
pub const MAX_AGE_SECS: i64 = 300;
/// How far ahead of this server's clock a proof's `iat` may be (clock skew).
pub const MAX_AHEAD_SECS: i64 = 60;
/// How long a proof's `jti` must be remembered to refuse its replay: the
/// whole window it could be accepted in.
pub const REPLAY_WINDOW_SECS: i64 = MAX_AGE_SECS + MAX_AHEAD_SECS;

/// Longest proof read: a proof carries one public key (an RSA key of 4096
/// bits is under 1 KiB of base64).
const MAX_PROOF_LEN: usize = 8 * 1024;
/// Longest `jti` accepted (§11.1: reject oversized identifiers).
const MAX_JTI_LEN: usize = 256;
/// Members that only a private JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The HTTP method, as sent (`POST`).
    pub method: &'a str,
    /// The request's public URL (built from the configured issuer, never from `Host`).
    pub url: &'a str,
    /// The access token presented with the proof, at a protected resource: `ath` must hash it.
    pub access_token: Option<&'a str>,
    /// Seconds since the epoch.
    pub now: i64,
}

/// A proof that passed: the key's thumbprint and what the replay check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what a token is bound to (`cnf.jkt`).
    pub jkt: String,
    /// SHA-256 of the `jti`, hex: a replay cache keys on it (never the client's text).
    pub jti_hash: String,
    pub iat: i64,
    /// The server-provided nonce it carries (§8), checked by the server that hands them out.
    pub nonce: Option<String>,
}

/// The refusal of a proof without a nonce this server handed out (§8):
/// the answer carries a fresh one in `DPoP-Nonce`.
pub fn use_nonce() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::UseDpopNonce,
        "the DPoP proof must carry the nonce of this server's DPoP-Nonce header",
    )
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidDpopProof, description)
}

/// `ath`: base64url of the SHA-256 of the access token's ASCII text (§4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Whether `value` can be a JWK SHA-256 thumbprint (a `dpop_jkt` parameter,
/// §10): 43 base64url characters.
pub fn is_thumbprint(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn algorithm(name: Algorithm) -> Option<Algorithm> {
    let name = format!("{name:?}");
    ALGORITHMS.contains(&name.as_str()).then(|| name.parse().ok()).flatten()
}

/// The `jwk` header member as sent, to look for private members that the
/// typed `Jwk` would silently drop.
fn jwk_has_private_members(proof: &str) -> Result<bool, OAuthError> {
    let header = proof.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| invalid("the DPoP proof's header is not base64url"))?;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| invalid("the DPoP proof's header is not JSON"))?;
    let jwk = header.get("jwk").and_then(serde_json::Value::as_object);
    Ok(jwk.is_some_and(|jwk| PRIVATE_MEMBERS.iter().any(|member| jwk.contains_key(*member))))
}

/// A URL as `htu` compares: scheme, host and port normalised by the URL
/// parser (lower case, default port dropped, dot segments resolved), no
/// query, no fragment.
fn comparable(url: &str) -> Option<String> {
    let mut url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// Whether an `Authorization` value uses the `DPoP` scheme (RFC 9449 §7.1).
pub fn is_dpop_scheme(authorization: Option<&str>) -> bool {
    authorization.and_then(|v| v.split_once(' ')).is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("dpop"))
}

/// A request's one `DPoP` header, from its values (§4.3: more than one is refused).
pub fn single_proof<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<Option<&'a str>, OAuthError> {
    let mut values = values.into_iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(invalid("send one DPoP header, not several"));
    }
    first.map(|v| std::str::from_utf8(v).map_err(|_| invalid("the DPoP header is not a JWT"))).transpose()
}

/// At a protected resource (§7.1, §7.2): a token bound to a key only in the
/// `DPoP` scheme, a bearer token never in it. `Ok(true)` when a proof of the
/// token's key must then be checked.
pub fn presentation(bound: bool, dpop_scheme: bool) -> Result<bool, OAuthError> {
    match (bound, dpop_scheme) {
        (false, false) => Ok(false),
        (false, true) => Err(OAuthError::new(OAuthErrorCode::InvalidToken, "the access token is not DPoP-bound")),
        (true, false) => Err(OAuthError::new(
            OAuthErrorCode::InvalidToken,
            "the access token is DPoP-bound: present it in the DPoP scheme with a proof",
        )),
        (true, true) => Ok(true),
    }
}

/// The refusal of a proof made with another key than the token's.
pub fn wrong_key() -> OAuthError {
    invalid("the DPoP proof is not made with the key the access token is bound to")
}

/// Verifies `proof` for the `expected` request. Every refusal is
/// `invalid_dpop_proof` with what was wrong. The nonce, if any, is
/// returned for the server that requires nonces to check ([`use_nonce`]).
pub fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, OAuthError> {
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
        return Err(invalid("the DPoP proof is empty or too long"));
    }
    let header = jsonwebtoken::decode_header(proof).map_err(|_| invalid("the DPoP proof is not a signed JWT"))?;
    if header.typ.as_deref() != Some(PROOF_TYP) {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let alg = algorithm(header.alg).ok_or_else(|| invalid("the DPoP proof's alg is not an accepted asymmetric one"))?;
    let jwk: Jwk = header.jwk.ok_or_else(|| invalid("the DPoP proof carries no jwk"))?;
    if jwk_has_private_members(proof)? {
        return Err(invalid("the DPoP proof's jwk holds a private key"));
    }
    if matches!(jwk.algorithm, jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)) {
        return Err(invalid("the DPoP proof's jwk is a shared secret, not a public key"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the DPoP proof's jwk is not a usable public key"))?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(proof, &key, &validation)
        .map_err(|error| match error.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                invalid("the DPoP proof's signature does not verify with its jwk")
            }
            jsonwebtoken::errors::ErrorKind::Json(_) => invalid("the DPoP proof lacks jti, htm, htu or iat"),
            _ => invalid("the DPoP proof cannot be verified with its jwk and alg"),
        })?
        .claims;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(invalid("the DPoP proof's jti is empty or too long"));
    }
    if claims.htm != expected.method {
        return Err(invalid("the DPoP proof's htm is not this request's method"));
    }
    match (comparable(&claims.htu), comparable(expected.url)) {
        (Some(presented), Some(wanted)) if presented == wanted => {}
        _ => return Err(invalid("the DPoP proof's htu is not this request's URL")),
    }
    if claims.iat < expected.now - MAX_AGE_SECS || claims.iat > expected.now + MAX_AHEAD_SECS {
        return Err(invalid("the DPoP proof's iat is too old or too far ahead"));
    }
    if let Some(token) = expected.access_token {
        let wanted = access_token_hash(token);
        let matches = claims.ath.as_deref().is_some_and(|ath| bool::from(ath.as_bytes().ct_eq(wanted.as_bytes())));
        if !matches {
            return Err(invalid("the DPoP proof's ath is not the hash of the access token"));
        }
    }
    let jkt = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| invalid("the DPoP proof's jwk has no thumbprint"))?;
    let jti_hash = hex(&Sha256::digest(claims.jti.as_bytes()));
    let nonce = claims.nonce.filter(|n| !n.is_empty() && n.len() <= MAX_JTI_LEN);
    Ok(Proof { jkt, jti_hash, iat: claims.iat, nonce })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
