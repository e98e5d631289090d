//! The browser session: cookie handling and CSRF checks. The session itself
//! lives in the authorization service; the gateway only carries its token.

use gatehouse_proto::pb::common::v1::User;
use http::HeaderMap;
use http::header::COOKIE;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::GatewayError;

/// The session cookie. Served over https it carries the `__Host-` prefix:
/// the browser then takes it only with `Secure`, `Path=/` and no `Domain`,
/// so a sibling subdomain can neither set nor overwrite it (RFC 6265bis
/// §4.1.3.2). On a plain-http loopback issuer (development) the prefix
/// cannot be honoured and is left off.
pub(crate) fn session_cookie(state: &AppState) -> &'static str {
    if state.config.secure_cookies() { "__Host-gatehouse_session" } else { "gatehouse_session" }
}

/// Double-submit token of the forms shown before a session exists (login,
/// sign-up): prefixed like the session cookie, so that nobody on a sibling
/// subdomain can plant a known value.
pub(crate) fn form_cookie(state: &AppState) -> &'static str {
    if state.config.secure_cookies() { "__Host-gatehouse_form" } else { "gatehouse_form" }
}
/// Carries a sign-in whose password was right to its second step (a few minutes).
pub(crate) fn second_step_cookie(state: &AppState) -> &'static str {
    if state.config.secure_cookies() { "__Host-gatehouse_2fa" } else { "gatehouse_2fa" }
}
/// Header carrying the CSRF token on state-changing REST calls.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// A live session.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) token: String,
    pub(crate) user: User,
    pub(crate) csrf_token: String,
    /// Seconds since the person signed in (by the authorization service's clock).
    pub(crate) signed_in_seconds_ago: i64,
}

/// How recent a sign-in must be for a sensitive change (deleting the
/// account or an application, adding a passkey, a new client secret or
/// personal token): older, and the person signs in again first.
pub(crate) const RECENT_SIGN_IN_SECS: i64 = 15 * 60;

impl Session {
    /// Whether the sign-in is recent enough for a sensitive change.
    pub(crate) fn is_recent(&self) -> bool {
        self.signed_in_seconds_ago <= RECENT_SIGN_IN_SECS
    }
}

/// Both tokens are secrets of the session: never printed.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("token", &"(redacted)")
            .field("user", &self.user.id)
            .field("csrf_token", &"(redacted)")
            .finish()
    }
}

/// The value of cookie `name`.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value. HttpOnly (no script reads it), SameSite=Lax (not
/// sent on cross-site POSTs), Secure unless the issuer is loopback http.
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if state.config.secure_cookies() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

/// The live session of the request, if any.
pub(crate) async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, GatewayError> {
    let Some(token) = cookie(headers, session_cookie(state)) else {
        return Ok(None);
    };
    let found = state.clients.authorization().session(&token).await?;
    Ok(found.and_then(|found| {
        let signed_in_seconds_ago = found.signed_in_seconds_ago;
        found.user.map(|user| Session { token, user, csrf_token: found.csrf_token, signed_in_seconds_ago })
    }))
}

/// The key that binds a sign-in form's token to its cookie: the form
/// carries HMAC-SHA-256(key, the cookie's value), so a value planted in the
/// cookie (by a sibling subdomain, on a browser without cookie prefixes)
/// has no matching form token without the key. Every gateway replica needs
/// the same key (`GATEHOUSE_FORM_KEY`); without it each process makes one.
#[derive(Clone)]
pub struct FormKey([u8; 32]);

impl FormKey {
    /// A key from an operator's secret (at least 32 characters).
    pub fn from_secret(secret: &str) -> Result<Self, &'static str> {
        use sha2::Digest;
        if secret.trim().len() < 32 {
            return Err("must be at least 32 characters (openssl rand -base64 32)");
        }
        if secret.contains("CHANGE-ME") {
            return Err("is still the manifests' placeholder: replace it with openssl rand -base64 32");
        }
        Ok(Self(sha2::Sha256::digest(secret.trim().as_bytes()).into()))
    }

    /// A key of this process alone.
    pub fn random() -> Self {
        use sha2::Digest;
        let token = gatehouse_oauth::secret::random_token("", 43);
        Self(sha2::Sha256::digest(token.as_bytes()).into())
    }

    /// The form token that goes with the cookie value `nonce`.
    pub(crate) fn sign(&self, nonce: &str) -> String {
        use hmac::Mac;
        // HMAC takes a key of any length: this cannot fail.
        let Ok(mut mac) = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0) else { return String::new() };
        mac.update(b"gatehouse sign-in form\0");
        mac.update(nonce.as_bytes());
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for FormKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormKey(redacted)")
    }
}

/// Compares a presented CSRF token with the expected one in constant time.
pub(crate) fn verify_csrf(expected: &str, presented: Option<&str>) -> Result<(), GatewayError> {
    let presented = presented.unwrap_or_default();
    let same = !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()));
    if same {
        Ok(())
    } else {
        Err(GatewayError::forbidden("the form expired or did not come from this site: reload and try again"))
    }
}

/// The client address (throttles, audit): the connection's, or the one the
/// trusted proxies in front report (see [`crate::forwarded`]).
pub(crate) fn client_address(state: &AppState, headers: &HeaderMap, peer: std::net::SocketAddr) -> String {
    state.config.trusted_proxies.client_address(headers, peer.ip()).to_string()
}

/// A local path to return to after login: only same-site paths, so that
/// `next` cannot become an open redirect.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/account/applications".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_of_a_session_prints_neither_token() {
        let session = Session {
            token: "gss_sessionsecret".to_owned(),
            user: User { id: "u1".to_owned(), ..User::default() },
            csrf_token: "csrfsecret".to_owned(),
            signed_in_seconds_ago: 0,
        };
        let shown = format!("{session:?}");
        assert!(!shown.contains("sessionsecret") && !shown.contains("csrfsecret"), "{shown}");
        assert!(shown.contains("u1"));
    }

    #[test]
    fn a_sign_in_is_recent_for_fifteen_minutes() {
        let at = |seconds| Session {
            token: String::new(),
            user: User::default(),
            csrf_token: String::new(),
            signed_in_seconds_ago: seconds,
        };
        assert!(at(0).is_recent());
        assert!(at(RECENT_SIGN_IN_SECS).is_recent());
        assert!(!at(RECENT_SIGN_IN_SECS + 1).is_recent());
    }

    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "a=1; gatehouse_session=gss_x; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "gatehouse_session").as_deref(), Some("gss_x"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn next_is_only_ever_a_local_path() {
        assert_eq!(safe_next(Some("/oauth/authorize?client_id=x")), "/oauth/authorize?client_id=x");
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", ""] {
            assert_eq!(safe_next(Some(bad)), "/account/applications", "{bad}");
        }
        assert_eq!(safe_next(None), "/account/applications");
    }

    #[test]
    fn form_tokens_are_bound_to_their_nonce_and_key() {
        let key = FormKey::from_secret(&"s".repeat(40)).unwrap();
        let token = key.sign("nonce-one");
        assert_eq!(token, key.sign("nonce-one"), "the same on every replica with the same key");
        assert_ne!(token, key.sign("nonce-two"));
        assert_ne!(token, FormKey::from_secret(&"t".repeat(40)).unwrap().sign("nonce-one"));
        assert_ne!(token, "nonce-one", "never the bare nonce (a double submit)");
        assert!(FormKey::from_secret("short").is_err());
        assert!(FormKey::from_secret("CHANGE-ME-openssl-rand-base64-32").is_err(), "the placeholder");
        assert_eq!(format!("{key:?}"), "FormKey(redacted)");
    }

    #[test]
    fn csrf_must_match_exactly() {
        assert!(verify_csrf("abc", Some("abc")).is_ok());
        assert!(verify_csrf("abc", Some("abd")).is_err());
        assert!(verify_csrf("abc", None).is_err());
        assert!(verify_csrf("", Some("")).is_err());
    }
}
