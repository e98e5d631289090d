//! DPoP (RFC 9449 §7) at a resource server: a token bound to a key is
//! accepted only in the `DPoP` scheme with a proof of that key for this
//! request (never as a bearer token, §7.2), and each proof only once here.
//! The proof's own checks are `gatehouse_oauth::dpop`'s, the same the token
//! endpoint runs.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_oauth::dpop::{self, Expected};
use gatehouse_oauth::{OAuthError, OAuthErrorCode};
use http::Request;
use http::header::{AUTHORIZATION, HOST};

/// The proofs this resource server accepted, for as long as one could be
/// accepted again (their `jti`, hashed, per key).
#[derive(Debug, Clone)]
pub(crate) struct SeenProofs(Arc<moka::sync::Cache<String, ()>>);

impl Default for SeenProofs {
    fn default() -> Self {
        let window = Duration::from_secs(u64::try_from(dpop::REPLAY_WINDOW_SECS).unwrap_or(360));
        Self(Arc::new(moka::sync::Cache::builder().max_capacity(1_000_000).time_to_live(window).build()))
    }
}

fn refused(code: OAuthErrorCode, description: &'static str) -> tonic::Status {
    gatehouse_proto::status::encode_oauth(&OAuthError::new(code, description))
}

/// The request's public URL without query: the resource's origin (from its
/// RFC 8707 identifier, when the layer has one) and the request's path;
/// otherwise the request's own absolute URI or its `Host`.
fn request_url<B>(request: &Request<B>, resource: Option<&str>) -> Option<String> {
    let path = request.uri().path();
    if let Some(origin) = resource.and_then(|r| url::Url::parse(r).ok()).map(|u| u.origin().ascii_serialization()) {
        return Some(format!("{origin}{path}"));
    }
    if let (Some(scheme), Some(authority)) = (request.uri().scheme_str(), request.uri().authority()) {
        return Some(format!("{scheme}://{authority}{path}"));
    }
    let host = request.headers().get(HOST)?.to_str().ok()?;
    Some(format!("http://{host}{path}"))
}

impl SeenProofs {
    /// Whether `request` presents `token` as its binding `jkt` requires.
    pub(crate) fn check<B>(
        &self,
        request: &Request<B>,
        token: &str,
        jkt: &str,
        resource: Option<&str>,
    ) -> Result<(), tonic::Status> {
        let scheme_dpop = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("dpop"));
        match (jkt.is_empty(), scheme_dpop) {
            (true, false) => return Ok(()),
            (true, true) => return Err(refused(OAuthErrorCode::InvalidToken, "the access token is not DPoP-bound")),
            (false, false) => {
                return Err(refused(
                    OAuthErrorCode::InvalidToken,
                    "the access token is DPoP-bound: present it in the DPoP scheme with a proof",
                ));
            }
            (false, true) => {}
        }
        let mut proofs = request.headers().get_all("dpop").iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return Err(refused(OAuthErrorCode::InvalidDpopProof, "send exactly one DPoP proof header"));
        };
        let proof =
            proof.to_str().map_err(|_| refused(OAuthErrorCode::InvalidDpopProof, "the DPoP header is not a JWT"))?;
        let url = request_url(request, resource)
            .ok_or_else(|| refused(OAuthErrorCode::InvalidDpopProof, "the request's URL cannot be known"))?;
        let expected = Expected {
            method: request.method().as_str(),
            url: &url,
            access_token: Some(token),
            nonce: None,
            now: gatehouse_oauth::Clock::now(&gatehouse_oauth::SystemClock).timestamp(),
        };
        let verified = dpop::verify(proof.trim(), &expected).map_err(|e| gatehouse_proto::status::encode_oauth(&e))?;
        if verified.jkt != jkt {
            return Err(refused(
                OAuthErrorCode::InvalidDpopProof,
                "the DPoP proof is not made with the key the access token is bound to",
            ));
        }
        let seen = format!("{}:{}", verified.jkt, verified.jti_hash);
        // One atomic step: of two requests with the same proof, one is first.
        if !self.0.entry(seen).or_insert(()).is_fresh() {
            return Err(refused(OAuthErrorCode::InvalidDpopProof, "the DPoP proof was used before"));
        }
        Ok(())
    }
}
