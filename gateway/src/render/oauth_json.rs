//! RFC 6749 §5.1/§5.2 JSON: token responses and OAuth error bodies.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

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

/// The OAuth error code of a gateway error: the service's, or the nearest one.
pub(crate) fn error_code(error: &GatewayError) -> &'static str {
    match &error.oauth {
        Some(oauth) => oauth.code.as_str(),
        None => match error.code {
            // No RFC 6749 code means "too many requests"; this one tells a client to come back
            // later, and the 429 with Retry-After says when.
            gatehouse_proto::ErrorCode::Unavailable | gatehouse_proto::ErrorCode::ResourceExhausted => {
                "temporarily_unavailable"
            }
            gatehouse_proto::ErrorCode::Internal => "server_error",
            _ => "invalid_request",
        },
    }
}

/// An RFC 6749 §5.2 error. `invalid_client` is 401, with
/// `WWW-Authenticate: Basic` when the client tried Basic authentication.
pub(crate) fn error(error: &GatewayError, used_basic: bool) -> Response {
    let code = error_code(error);
    let status = match code {
        _ if error.code == gatehouse_proto::ErrorCode::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = no_store(status, json!({ "error": code, "error_description": error.message }));
    if code == "invalid_client" && used_basic {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="gatehouse""#));
    }
    super::with_retry_after(response, error)
}
