//! The credential a caller presents on every call it makes: an internal
//! credential (`gic_…`, fixed for the process) or a token that renews itself
//! (a validator's `client_credentials` access token). It travels as
//! `authorization: Bearer …` metadata; callers with a workload certificate
//! need none.

use std::sync::Arc;

use http::HeaderValue;

/// Something that gives the `authorization` value of the next call.
pub trait CallCredential: Send + Sync + std::fmt::Debug {
    /// The header value now; `None` sends the call without one (the server
    /// then answers UNAUTHENTICATED unless a certificate identifies the caller).
    fn authorization(&self) -> Option<HeaderValue>;
}

/// A credential that does not change while the process runs.
#[derive(Clone)]
pub struct StaticCredential(HeaderValue);

impl StaticCredential {
    /// `Bearer credential`; `None` when it cannot be a header value.
    pub fn bearer(credential: &str) -> Option<Arc<dyn CallCredential>> {
        let mut value = HeaderValue::from_str(&format!("Bearer {credential}")).ok()?;
        // Kept out of HTTP/2 header compression tables and `Debug`.
        value.set_sensitive(true);
        Some(Arc::new(Self(value)))
    }
}

impl std::fmt::Debug for StaticCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticCredential(..)")
    }
}

impl CallCredential for StaticCredential {
    fn authorization(&self) -> Option<HeaderValue> {
        Some(self.0.clone())
    }
}
