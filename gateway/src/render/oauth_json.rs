//! RFC 6749 §5.1/§5.2 JSON: token responses and OAuth error bodies.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

use gatehouse_oauth::OAuthErrorCode;
use gatehouse_proto::status::{Surface, http_status, oauth_code};

use crate::error::GatewayError;

/// A JSON body that must never be cached (RFC 6749 §5.1: tokens and secrets).
pub(crate) fn no_store(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// RFC 7009 §2.2's answer: 200 and no body, never cached.
pub(crate) fn no_store_empty() -> Response {
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An RFC 6749 §5.2 error, its status from the one table
/// (`gatehouse_proto::status::http_status`); `invalid_client` carries
/// `WWW-Authenticate: Basic` when the client tried Basic authentication.
pub(crate) fn error(error: &GatewayError, used_basic: bool) -> Response {
    let oauth = error.oauth.as_ref().map(|o| o.code);
    let code = oauth_code(error.code, oauth);
    let status = StatusCode::from_u16(http_status(Surface::TokenEndpoint, error.code, oauth))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = no_store(status, json!({ "error": code.as_str(), "error_description": error.message }));
    if code == OAuthErrorCode::InvalidClient && used_basic {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="gatehouse""#));
    }
    super::with_retry_after(response, error)
}
