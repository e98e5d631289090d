//! One module per grant type.

mod authorization_code;
mod client_credentials;
mod refresh_token;

use gatehouse_oauth::{OAuthError, ScopeSet};

/// A requested `scope` that must stay within `allowed`; empty means all of
/// `allowed` (RFC 6749 §3.3, §6).
pub(crate) fn narrow(requested: &str, allowed: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    let scopes = ScopeSet::parse(requested).map_err(|_| OAuthError::invalid_scope("scope is malformed"))?;
    if scopes.is_empty() {
        return Ok(allowed.clone());
    }
    if scopes.iter().any(|s| !allowed.contains(s)) {
        return Err(OAuthError::invalid_scope("the requested scope exceeds what was granted"));
    }
    Ok(scopes)
}

/// A new grant family's id. Time-ordered (UUIDv7): every token row is
/// indexed by its family, and ids that only grow keep those index inserts
/// at the end of the index, one page for a whole batch of new tokens,
/// where random ids touched a page per token. Family ids never leave the
/// service.
pub(crate) fn family_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
