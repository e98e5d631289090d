//! One module per grant type.

mod authorization_code;
mod client_credentials;
mod refresh_token;

use gatehouse_oauth::{OAuthError, ScopeSet};

/// A requested `scope` that must stay within `allowed`; empty means all of
/// `allowed` (RFC 6749 §3.3, §6).
pub(crate) fn narrow(requested: &str, allowed: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    let scopes =
        ScopeSet::parse(requested).map_err(|bad| OAuthError::invalid_scope(format!("scope {bad:?} is malformed")))?;
    if scopes.is_empty() {
        return Ok(allowed.clone());
    }
    if let Some(wider) = scopes.iter().find(|s| !allowed.contains(s)) {
        return Err(OAuthError::invalid_scope(format!("scope {:?} exceeds what was granted", wider.as_str())));
    }
    Ok(scopes)
}
