//! The parameters of an OAuth request exactly as received (query string or
//! form body), duplicates kept, so that the rules that read them can refuse
//! a repeated one (RFC 6749 §3.1, §3.2).

use crate::error::OAuthError;

/// Name/value pairs in the order they were sent.
#[derive(Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// Pairs of an `application/x-www-form-urlencoded` text.
    pub fn from_form(bytes: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// The value of a parameter that may appear at most once (RFC 6749 §3.1:
    /// "Request and response parameters MUST NOT be included more than once").
    /// Empty values count as absent.
    pub fn single(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(format!("{} is given more than once", safe_name(name))));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    /// Every value of a parameter that may repeat (RFC 8707's `resource`), in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Like [`Params::single`], but absence is `invalid_request`.
    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.single(name)?.ok_or_else(|| OAuthError::invalid_request(format!("{} is missing", safe_name(name))))
    }

    /// Refuses any parameter given more than once: the token endpoint's rule
    /// (RFC 6749 §3.2), checked before any parameter is read. `resource`
    /// is the exception RFC 8707 §2 makes: it may be given once per resource;
    /// so is RFC 8693 §2.1's `audience`.
    pub fn refuse_repeated(&self) -> Result<(), OAuthError> {
        let mut seen = std::collections::BTreeSet::new();
        let repeatable = |name: &str| name == RESOURCE || name == "audience";
        match self.0.iter().find(|(name, _)| !repeatable(name) && !seen.insert(name.as_str())) {
            Some((name, _)) => Err(OAuthError::invalid_request(format!("{} is given more than once", safe_name(name)))),
            None => Ok(()),
        }
    }

    /// Whether any of `names` is present (with any value).
    pub fn has_any(&self, names: &[&str]) -> bool {
        self.0.iter().any(|(name, _)| names.contains(&name.as_str()))
    }

    /// The pairs without those named in `names`.
    #[must_use]
    pub fn without(&self, names: &[&str]) -> Self {
        Self(self.0.iter().filter(|(name, _)| !names.contains(&name.as_str())).cloned().collect())
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }
}

/// The one parameter that may be given once per value (RFC 8707 §2, `resource`).
pub const RESOURCE: &str = "resource";

/// Parameters that must never travel in a URL (RFC 6749 §2.3.1, §3.2: URLs
/// end up in logs, proxies and browser history).
pub const SECRET_PARAMETERS: [&str; 8] =
    ["client_secret", "code", "code_verifier", "refresh_token", "device_code", "token", "password", "client_assertion"];

impl Params {
    /// The parameters of a request to the token, revocation or
    /// introspection endpoint: a form body (RFC 6749 §3.2, RFC 7009 §2.1,
    /// RFC 7662 §2.1), and no credential in the URL.
    pub fn endpoint_form(content_type: Option<&str>, query: Option<&str>, body: &[u8]) -> Result<Self, OAuthError> {
        let query = Self::from_form(query.unwrap_or_default().as_bytes());
        if query.has_any(&SECRET_PARAMETERS) {
            return Err(OAuthError::invalid_request(
                "credentials and tokens must be sent in the request body, never in the URL",
            ));
        }
        let form =
            content_type.is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        if !form {
            return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
        }
        Ok(Self::from_form(body))
    }
}

/// A parameter's name as it may appear in an error description: the
/// request's own text, so only when it is a short plain name.
fn safe_name(name: &str) -> &str {
    let plain = name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain { name } else { "a parameter" }
}

/// Values can be secrets (codes, tokens, client secrets): names only.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| name)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_absent() {
        let p = params(&[("code", "a"), ("code", "b"), ("scope", "")]);
        assert_eq!(p.single("code").unwrap_err().code.as_str(), "invalid_request");
        assert_eq!(p.single("scope").unwrap(), None);
        assert!(p.refuse_repeated().is_err());
        assert!(params(&[("a", "1"), ("b", "2")]).refuse_repeated().is_ok());
        assert_eq!(p.required("state").unwrap_err().description, "state is missing");
    }

    #[test]
    fn debug_shows_names_never_values() {
        let p = params(&[("client_secret", "hunter2"), ("code", "gac_x")]);
        let shown = format!("{p:?}");
        assert!(shown.contains("client_secret") && !shown.contains("hunter2") && !shown.contains("gac_x"));
    }

    #[test]
    fn endpoint_forms_keep_credentials_out_of_the_url() {
        const FORM: Option<&str> = Some("application/x-www-form-urlencoded; charset=UTF-8");
        let ok = Params::endpoint_form(FORM, Some("x=1"), b"token=abc").unwrap();
        assert_eq!(ok.single("token").unwrap(), Some("abc"));
        assert!(Params::endpoint_form(FORM, Some("client_secret=s"), b"").is_err());
        assert!(Params::endpoint_form(Some("application/json"), None, b"{}").is_err());
        assert!(Params::endpoint_form(None, None, b"token=abc").is_err());
    }

    #[test]
    fn odd_names_are_not_echoed() {
        let p = params(&[("<script>", "1"), ("<script>", "2")]);
        assert_eq!(p.refuse_repeated().unwrap_err().description, "a parameter is given more than once");
    }
}
