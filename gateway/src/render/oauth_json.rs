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

/// An RFC 6749 §5.2 error as a handler's `Err`: handlers of the OAuth JSON
/// endpoints use `?` on anything that becomes a [`GatewayError`]; a failure
/// after the client tried Basic authentication says so with
/// [`OAuthJsonError::after_basic`], so that `invalid_client` carries the challenge.
#[derive(Debug)]
pub(crate) struct OAuthJsonError {
    error: GatewayError,
    used_basic: bool,
}

impl<E: Into<GatewayError>> From<E> for OAuthJsonError {
    fn from(error: E) -> Self {
        Self { error: error.into(), used_basic: false }
    }
}

impl OAuthJsonError {
    /// Maps a failure of a request whose client authenticated with Basic (or not).
    pub(crate) fn after_basic<E: Into<GatewayError>>(used_basic: bool) -> impl FnOnce(E) -> Self {
        move |error| Self { error: error.into(), used_basic }
    }
}

impl IntoResponse for OAuthJsonError {
    fn into_response(self) -> Response {
        error(&self.error, self.used_basic)
    }
}

/// What an OAuth JSON handler returns.
pub(crate) type OAuthJsonResult = Result<Response, OAuthJsonError>;
