//! RFC 6750 §3: `WWW-Authenticate: Bearer` on protected-resource errors.

use axum::response::Response;
use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;

use crate::error::GatewayError;

/// Adds the challenge to an error response: no error attribute when no token
/// was sent (§3.1), `invalid_token` or `insufficient_scope` otherwise.
pub(crate) fn challenge(mut response: Response, error: &GatewayError, token_sent: bool, scope: &str) -> Response {
    // Only for an authentication or authorization answer: a 503 is not about the token.
    if !matches!(response.status(), http::StatusCode::UNAUTHORIZED | http::StatusCode::FORBIDDEN) {
        return response;
    }
    let value = match error.oauth.as_ref().map(|o| o.code.as_str()) {
        _ if !token_sent => r#"Bearer realm="gatehouse""#.to_owned(),
        Some("insufficient_scope") => {
            format!(r#"Bearer realm="gatehouse", error="insufficient_scope", scope="{scope}""#)
        }
        _ => r#"Bearer realm="gatehouse", error="invalid_token""#.to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}
