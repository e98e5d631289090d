//! RFC 6750 §3: `WWW-Authenticate: Bearer` on protected-resource errors.

use axum::response::Response;
use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;

use gatehouse_oauth::OAuthErrorCode;
use gatehouse_proto::status::{bearer_challenge, dpop_challenge};

use crate::error::GatewayError;

/// Adds the challenge to an error response: no error attribute when no token
/// was sent (§3.1), `invalid_token` or `insufficient_scope` otherwise.
/// Beside it, the DPoP challenge (RFC 9449 §7.1, §7.2: both schemes are
/// accepted, so both are offered), which alone names a bad proof.
pub(crate) fn challenge(mut response: Response, error: &GatewayError, token_sent: bool, scope: &str) -> Response {
    let oauth = error.oauth.as_ref().map(|o| o.code);
    let status = response.status().as_u16();
    let proof_error =
        matches!(oauth, Some(OAuthErrorCode::InvalidDpopProof | OAuthErrorCode::UseDpopNonce)) && token_sent;
    let bearer = if proof_error { None } else { bearer_challenge(status, token_sent, oauth, scope) };
    for value in [bearer, dpop_challenge(status, token_sent, oauth)].into_iter().flatten() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(WWW_AUTHENTICATE, value);
        }
    }
    response
}
