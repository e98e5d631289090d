//! CORS on the endpoints that browser-based OAuth clients call with `fetch`
//! (MCP clients in a browser, single-page apps): discovery, the JWKS, the
//! token, revocation, introspection, UserInfo, device and registration
//! endpoints. Never on pages or the REST API, whose cookies must not be
//! readable cross-origin.
//!
//! Every origin is allowed and no credentials are: the answers are governed
//! by the client's own credentials in the request (Fetch standard: `*` is
//! safe exactly when cookies are not sent or honoured). Preflights are
//! answered here, before routing and without authentication, and they allow
//! the headers MCP clients send (`MCP-Protocol-Version`). `WWW-Authenticate`
//! is exposed so that a browser client can read a 401's challenge.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, VARY,
};
use http::{HeaderValue, Method, StatusCode};

/// Paths answered with CORS headers (exact), and the prefixes for the
/// well-known documents' path forms and RFC 7592's per-client URLs.
const EXACT: &[&str] = &[
    "/oauth/jwks",
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/userinfo",
    "/oauth/device_authorization",
    "/oauth/par",
    "/oauth/register",
];
const PREFIXES: &[&str] = &["/.well-known/", "/oauth/register/"];

const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, DPoP";
const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
const EXPOSE_HEADERS: &str = "WWW-Authenticate, Retry-After, Location, DPoP-Nonce";

pub(crate) fn applies(path: &str) -> bool {
    EXACT.contains(&path) || PREFIXES.iter().any(|prefix| path.starts_with(prefix))
}

pub(crate) async fn cors(request: Request, next: Next) -> Response {
    if !applies(request.uri().path()) {
        return next.run(request).await;
    }
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    if preflight {
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
        headers.append(VARY, HeaderValue::from_static("Access-Control-Request-Headers"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_oauth_endpoints_get_cors() {
        for path in [
            "/oauth/token",
            "/oauth/register",
            "/oauth/register/abc",
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/tenant",
            "/oauth/jwks",
        ] {
            assert!(applies(path), "{path}");
        }
        for path in ["/oauth/authorize", "/login", "/account/applications", "/api/applications", "/oauth/tokenx"] {
            assert!(!applies(path), "{path}");
        }
    }
}
