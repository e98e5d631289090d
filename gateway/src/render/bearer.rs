//! RFC 6750 §3: `WWW-Authenticate: Bearer` on protected-resource errors.

use axum::response::Response;
use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;

use gatehouse_proto::status::bearer_challenge;

use crate::error::GatewayError;

/// Adds the challenge to an error response: no error attribute when no token
/// was sent (§3.1), `invalid_token` or `insufficient_scope` otherwise.
pub(crate) fn challenge(mut response: Response, error: &GatewayError, token_sent: bool, scope: &str) -> Response {
    let oauth = error.oauth.as_ref().map(|o| o.code);
    let Some(value) = bearer_challenge(response.status().as_u16(), token_sent, oauth, scope) else {
        return response;
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}
