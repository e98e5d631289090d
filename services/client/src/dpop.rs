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
        let encode = |error: OAuthError| gatehouse_proto::status::encode_oauth(&error);
        let authorization = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        if !dpop::presentation(!jkt.is_empty(), dpop::is_dpop_scheme(authorization)).map_err(encode)? {
            return Ok(());
        }
        let values = request.headers().get_all("dpop").iter().map(http::HeaderValue::as_bytes);
        let proof = dpop::single_proof(values)
            .map_err(encode)?
            .ok_or_else(|| refused(OAuthErrorCode::InvalidDpopProof, "the DPoP scheme needs a DPoP proof header"))?;
        let url = request_url(request, resource)
            .ok_or_else(|| refused(OAuthErrorCode::InvalidDpopProof, "the request's URL cannot be known"))?;
        let expected = Expected {
            method: request.method().as_str(),
            url: &url,
            access_token: Some(token),
            now: gatehouse_oauth::Clock::now(&gatehouse_oauth::SystemClock).timestamp(),
        };
        let verified = dpop::verify(proof.trim(), &expected).map_err(|e| gatehouse_proto::status::encode_oauth(&e))?;
        if verified.jkt != jkt {
            return Err(encode(dpop::wrong_key()));
        }
        let seen = format!("{}:{}", verified.jkt, verified.jti_hash);
        // One atomic step: of two requests with the same proof, one is first.
        if !self.0.entry(seen).or_insert(()).is_fresh() {
            return Err(refused(OAuthErrorCode::InvalidDpopProof, "the DPoP proof was used before"));
        }
        Ok(())
    }
}
