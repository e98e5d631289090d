//! Redirect URIs: what may be registered, and how a request's URI is matched
//! against the registered ones (RFC 6749 §3.1.2, RFC 9700 §4.1.3, RFC 8252 §7.3).

use url::{Host, Url};

/// Maximum length of a registered redirect URI.
pub const MAX_LEN: usize = 2000;

/// A registered redirect URI, kept exactly as registered: matching is simple
/// string comparison, never a normalised or prefix match (RFC 9700 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri(String);

/// Why a redirect URI cannot be registered; the text names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("must be an absolute URI")]
    NotAbsolute,
    #[error("must use https, or http on a loopback host (127.0.0.1, [::1], localhost)")]
    InsecureScheme,
    #[error("must not contain a fragment (RFC 6749 section 3.1.2)")]
    Fragment,
    #[error("must not contain a wildcard")]
    Wildcard,
    #[error("must not contain user credentials")]
    Credentials,
    #[error("must not contain whitespace, control, bidirectional-override or invisible characters")]
    Whitespace,
}

impl RedirectUri {
    /// Validates a URI for registration and keeps the string as given.
    pub fn parse(value: &str) -> Result<Self, RedirectUriError> {
        if value.is_empty() {
            return Err(RedirectUriError::Empty);
        }
        if value.len() > MAX_LEN {
            return Err(RedirectUriError::TooLong);
        }
        if value.chars().any(|c| c.is_whitespace() || crate::text::is_deceptive(c)) {
            return Err(RedirectUriError::Whitespace);
        }
        // The url crate strips a trailing empty fragment, so look at the raw text too.
        if value.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        if value.contains('*') {
            return Err(RedirectUriError::Wildcard);
        }
        let url = Url::parse(value).map_err(|_| RedirectUriError::NotAbsolute)?;
        // The scheme first: `com.example.app:/cb` is absolute, its problem is the scheme.
        if !matches!(url.scheme(), "https" | "http") {
            return Err(RedirectUriError::InsecureScheme);
        }
        if url.cannot_be_a_base() || url.host().is_none() {
            return Err(RedirectUriError::NotAbsolute);
        }
        // The url crate reports an empty user info (`https://@host`) as no
        // user info at all, so the raw authority is checked too.
        if !url.username().is_empty() || url.password().is_some() || has_userinfo(value) {
            return Err(RedirectUriError::Credentials);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            // javascript:, data:, file:, ftp: and everything else.
            _ => return Err(RedirectUriError::InsecureScheme),
        }
        Ok(Self(value.to_owned()))
    }

    /// Wraps a URI read back from storage, where it was validated on the way in.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the `redirect_uri` of a request is this registered URI.
    ///
    /// Simple string comparison, except that for http on a loopback IP the
    /// port may differ: native apps bind an ephemeral port (RFC 8252 §7.3).
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        if has_userinfo(requested) {
            return false;
        }
        let (Ok(registered), Ok(requested)) = (Url::parse(&self.0), Url::parse(requested)) else {
            return false;
        };
        registered.scheme() == "http"
            && requested.scheme() == "http"
            && is_loopback(&registered)
            && registered.host() == requested.host()
            && registered.path() == requested.path()
            && registered.query() == requested.query()
            && requested.fragment().is_none()
            && requested.username().is_empty()
            && requested.password().is_none()
    }
}

/// Whether `value` is an http URI on a loopback host: any program on the
/// device can listen there, so a code sent to it reaches whoever does
/// (RFC 8252 §8.6).
pub fn is_loopback_uri(value: &str) -> bool {
    Url::parse(value).is_ok_and(|url| url.scheme() == "http" && is_loopback(&url))
}

/// Whether the authority of `raw` (between `://` and the path) holds an `@`.
fn has_userinfo(raw: &str) -> bool {
    let Some((_, rest)) = raw.split_once("://") else { return false };
    rest.split(['/', '?', '#']).next().is_some_and(|authority| authority.contains('@'))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_https_and_loopback_http() {
        for ok in [
            "https://app.example/callback",
            "https://app.example/cb?x=1",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://localhost:3000/callback",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn registration_rejects_each_unsafe_form_with_its_rule() {
        use RedirectUriError::*;
        for (bad, why) in [
            ("", Empty),
            ("/callback", NotAbsolute),
            ("http://app.example/cb", InsecureScheme),
            ("javascript:alert(1)", InsecureScheme),
            ("com.example.app:/callback", InsecureScheme),
            ("data:text/html,hi", InsecureScheme),
            ("ftp://app.example/cb", InsecureScheme),
            ("https://app.example/cb#frag", Fragment),
            ("https://app.example/cb#", Fragment),
            ("https://*.example/cb", Wildcard),
            ("https://user:pw@app.example/cb", Credentials),
            ("https://@app.example/cb", Credentials),
            ("https://app.example/c b", Whitespace),
        ] {
            assert_eq!(RedirectUri::parse(bad), Err(why), "{bad}");
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_LEN));
        assert_eq!(RedirectUri::parse(&long), Err(TooLong));
    }

    #[test]
    fn authorize_rejects_unregistered_redirect_uri_variants() {
        let registered = RedirectUri::parse("https://app.example/cb").unwrap();
        assert!(registered.matches("https://app.example/cb"));
        for other in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://APP.example/cb",
            "https://app.example/cb#x",
            "https://app.example:443/cb",
            "https://app.example/cbx",
            "http://app.example/cb",
        ] {
            assert!(!registered.matches(other), "{other}");
        }
    }

    #[test]
    fn loopback_http_ignores_the_port_only() {
        let registered = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        assert!(registered.matches("http://127.0.0.1:51004/cb"));
        assert!(!registered.matches("http://127.0.0.1:51004/other"));
        assert!(!registered.matches("http://127.0.0.2:51004/cb"));
        assert!(!registered.matches("http://localhost:51004/cb"));
        assert!(!registered.matches("https://127.0.0.1:51004/cb"));
    }
}
