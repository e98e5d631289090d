//! Cross-site form posts are refused, as a second line behind the CSRF
//! tokens: a state-changing request to a page or the REST API whose
//! `Sec-Fetch-Site` says `cross-site`, or whose `Origin` is another origin,
//! is answered 403 before any handler runs. Browsers send one
//! or both on every POST; clients that are not browsers send neither and
//! are not affected. The OAuth endpoints that other sites post to by design
//! (the token, revocation and introspection endpoints, the seed's token
//! URL, and a POST to the authorization endpoint) are exempt, and so is
//! every endpoint that answers CORS (`cors.rs`): bearer- or
//! client-authenticated, never by cookie.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;

use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render;

/// Paths other sites (and clients) legitimately post to.
const EXEMPT: &[&str] = &[
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/device_authorization",
    "/oauth/authorize",
    // RP-initiated logout may be a form POST from the relying party; it
    // ends a session only for a verified hint of that user, else it asks
    // (and the confirmation, /oauth/logout/confirm, is not exempt).
    "/oauth/logout",
    "/api/oauth/access_token",
];

/// The origin (`scheme://host[:port]`) of the issuer URL.
pub(crate) fn issuer_origin(issuer: &str) -> String {
    url::Url::parse(issuer).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

/// Whether the request says it came from another site.
fn cross_site(headers: &HeaderMap, own_origin: &str) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|site| site.eq_ignore_ascii_case("cross-site")) {
        return true;
    }
    // `Origin: null` is what Chromium sends for a same-origin form post from
    // a page with `Referrer-Policy: no-referrer` (ours): not evidence either
    // way. Browsers that send it for a cross-site post also send
    // `Sec-Fetch-Site: cross-site`, and the CSRF token stands behind both.
    match headers.get(http::header::ORIGIN).map(|v| v.to_str().unwrap_or_default()) {
        None | Some("null") => false,
        Some(origin) => !origin.eq_ignore_ascii_case(own_origin),
    }
}

pub(crate) async fn refuse_cross_site(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let writes = !request.method().is_safe();
    if !writes || EXEMPT.contains(&path) || crate::cors::applies(path) || !cross_site(request.headers(), &state.origin)
    {
        return next.run(request).await;
    }
    tracing::warn!(path, "cross-site form post refused");
    let error = GatewayError::forbidden("this request came from another site: open the page here and try again");
    render::error_for_path(path, Lang::from_headers(request.headers()), &error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn only_the_own_origin_may_post() {
        let own = issuer_origin("https://auth.example/base");
        assert_eq!(own, "https://auth.example");
        assert!(!cross_site(&headers(&[]), &own), "no browser headers: a client, not a browser");
        assert!(!cross_site(&headers(&[("origin", "https://auth.example")]), &own));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")]), &own));
        assert!(cross_site(&headers(&[("origin", "https://evil.example")]), &own));
        assert!(!cross_site(&headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]), &own));
        assert!(cross_site(&headers(&[("origin", "null"), ("sec-fetch-site", "cross-site")]), &own));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")]), &own));
        assert!(cross_site(&headers(&[("origin", "https://auth.example"), ("sec-fetch-site", "cross-site")]), &own));
    }
}
