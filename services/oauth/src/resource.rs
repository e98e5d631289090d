//! Resource indicators (RFC 8707) and the resource servers they name.
//!
//! A `resource` parameter names the protected resource a token is for by
//! its identifier, an absolute URI; the token's audience is then that
//! resource. The parameter may be repeated (RFC 8707 §2), so it is the one
//! parameter read with [`Params::all`] instead of [`Params::single`].

use crate::error::{OAuthError, OAuthErrorCode};
use crate::params::Params;
use crate::scope::ScopeSet;

/// Longest resource identifier accepted.
pub const MAX_LEN: usize = 2000;

/// Most `resource` parameters one request may carry.
pub const MAX_PER_REQUEST: usize = 10;

/// The parameter's name, here once.
pub const PARAMETER: &str = crate::params::RESOURCE;

/// Why a string is not a resource identifier; the text names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceIdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("must be an absolute URI (RFC 8707 section 2)")]
    NotAbsolute,
    #[error("must not contain a fragment (RFC 8707 section 2)")]
    Fragment,
    #[error("must not contain whitespace, control, bidirectional-override or invisible characters")]
    Whitespace,
}

/// A resource server's identifier: an absolute URI without a fragment,
/// kept exactly as given. Audiences are compared by string equality, as
/// `aud` is (RFC 7519 §4.1.3), so no normalisation is ever applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(String);

impl ResourceId {
    pub fn parse(value: &str) -> Result<Self, ResourceIdError> {
        if value.is_empty() {
            return Err(ResourceIdError::Empty);
        }
        if value.len() > MAX_LEN {
            return Err(ResourceIdError::TooLong);
        }
        if value.chars().any(|c| c.is_whitespace() || crate::text::is_deceptive(c)) {
            return Err(ResourceIdError::Whitespace);
        }
        if value.contains('#') {
            return Err(ResourceIdError::Fragment);
        }
        let url = url::Url::parse(value).map_err(|_| ResourceIdError::NotAbsolute)?;
        // `https://api.example.com` and `urn:example:api` are absolute;
        // `https:` alone or `mailto:` with nothing after it are not useful ones.
        if url.cannot_be_a_base() && url.path().is_empty() {
            return Err(ResourceIdError::NotAbsolute);
        }
        Ok(Self(value.to_owned()))
    }

    /// Wraps an identifier read back from storage, validated on the way in.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The `resource` parameters of a request, in order, without repeats:
/// malformed or too many is `invalid_target` (RFC 8707 §2). Empty values
/// count as absent.
pub fn requested(params: &Params) -> Result<Vec<ResourceId>, OAuthError> {
    let mut resources: Vec<ResourceId> = Vec::new();
    for value in params.all(PARAMETER).filter(|v| !v.is_empty()) {
        let resource = ResourceId::parse(value)
            .map_err(|e| OAuthError::new(OAuthErrorCode::InvalidTarget, format!("resource {e}")))?;
        if !resources.contains(&resource) {
            resources.push(resource);
        }
        if resources.len() > MAX_PER_REQUEST {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                format!("at most {MAX_PER_REQUEST} resource parameters are accepted"),
            ));
        }
    }
    Ok(resources)
}

/// `requested`, which may only narrow `granted` (RFC 8707 §2.2: a token
/// request may ask for fewer resources than the grant holds, never others);
/// none requested means all of `granted`.
pub fn narrow(requested: Vec<ResourceId>, granted: &[ResourceId]) -> Result<Vec<ResourceId>, OAuthError> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    match requested.iter().find(|r| !granted.contains(r)) {
        None => Ok(requested),
        Some(_) if granted.is_empty() => Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            "the grant names no resource: ask for it in the authorization request",
        )),
        Some(_) => {
            Err(OAuthError::new(OAuthErrorCode::InvalidTarget, "the resource is not one the grant was made for"))
        }
    }
}

/// How access tokens for a resource are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// An opaque `gat_` token: the resource server introspects it.
    #[default]
    Opaque,
    /// A signed JWT (RFC 9068, `typ: at+jwt`) the resource server can
    /// verify against the JWKS; still stored by hash, so still revocable
    /// and introspectable.
    Jwt,
}

impl TokenFormat {
    pub const ALL: [Self; 2] = [Self::Opaque, Self::Jwt];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == value)
    }
}

/// A registered resource server as the token rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub id: ResourceId,
    /// The scopes it accepts: an access token for it carries no others.
    pub scopes: ScopeSet,
    pub format: TokenFormat,
}

/// Scopes that concern Gatehouse itself (the ID token, UserInfo, refresh
/// tokens), never a resource server: a token for resources keeps them.
pub const PROVIDER_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The scope of an access token for `resources`: what was granted that one
/// of them accepts, plus the provider's own scopes (RFC 6749 §3.3 lets the
/// server issue less than was asked; the response's `scope` says what).
/// No resources: the grant's scope unchanged.
pub fn scope_for(granted: &[String], resources: &[Resource]) -> Vec<String> {
    if resources.is_empty() {
        return granted.to_vec();
    }
    granted
        .iter()
        .filter(|s| {
            PROVIDER_SCOPES.contains(&s.as_str()) || resources.iter().any(|r| r.scopes.iter().any(|a| a.as_str() == *s))
        })
        .cloned()
        .collect()
}

/// The token format for `resources`: a JWT when any of them asks for one
/// (a JWT is introspectable too, so a resource that wants opaque tokens
/// loses nothing).
pub fn format_for(resources: &[Resource]) -> TokenFormat {
    if resources.iter().any(|r| r.format == TokenFormat::Jwt) { TokenFormat::Jwt } else { TokenFormat::Opaque }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    fn id(value: &str) -> ResourceId {
        ResourceId::parse(value).unwrap()
    }

    #[test]
    fn identifiers_are_absolute_uris_without_fragments() {
        for good in
            ["https://api.example.com", "https://api.example.com/v1/", "urn:example:api", "http://127.0.0.1:9/mcp"]
        {
            assert_eq!(ResourceId::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(ResourceId::parse(""), Err(ResourceIdError::Empty));
        assert_eq!(ResourceId::parse("/relative"), Err(ResourceIdError::NotAbsolute));
        assert_eq!(ResourceId::parse("api.example.com"), Err(ResourceIdError::NotAbsolute));
        assert_eq!(ResourceId::parse("https://a/#x"), Err(ResourceIdError::Fragment));
        assert_eq!(ResourceId::parse("https://a/ b"), Err(ResourceIdError::Whitespace));
        assert_eq!(ResourceId::parse(&format!("https://a/{}", "x".repeat(MAX_LEN))), Err(ResourceIdError::TooLong));
    }

    #[test]
    fn the_parameter_repeats_and_malformed_values_are_invalid_target() {
        let got = requested(&params(&[("resource", "https://a"), ("resource", "urn:b"), ("resource", "https://a")]));
        assert_eq!(got.unwrap(), vec![id("https://a"), id("urn:b")]);
        assert!(requested(&params(&[("resource", "")])).unwrap().is_empty());
        let bad = requested(&params(&[("resource", "not a uri")])).unwrap_err();
        assert_eq!(bad.code, OAuthErrorCode::InvalidTarget);
        let many: Vec<(String, String)> =
            (0..=MAX_PER_REQUEST).map(|i| ("resource".to_owned(), format!("https://r{i}"))).collect();
        assert_eq!(requested(&Params::new(many)).unwrap_err().code, OAuthErrorCode::InvalidTarget);
    }

    #[test]
    fn a_token_request_narrows_the_grants_resources_and_never_widens_them() {
        let granted = [id("https://a"), id("https://b")];
        assert_eq!(narrow(vec![], &granted).unwrap(), granted.to_vec());
        assert_eq!(narrow(vec![id("https://b")], &granted).unwrap(), vec![id("https://b")]);
        assert_eq!(narrow(vec![id("https://c")], &granted).unwrap_err().code, OAuthErrorCode::InvalidTarget);
        assert_eq!(narrow(vec![id("https://a")], &[]).unwrap_err().code, OAuthErrorCode::InvalidTarget);
    }

    #[test]
    fn a_resources_token_carries_only_scopes_one_of_them_accepts() {
        let api = Resource { id: id("https://a"), scopes: ScopeSet::parse("user").unwrap(), format: TokenFormat::Jwt };
        let granted: Vec<String> = ["openid", "user", "projects"].map(String::from).to_vec();
        assert_eq!(scope_for(&granted, std::slice::from_ref(&api)), vec!["openid".to_owned(), "user".to_owned()]);
        assert_eq!(scope_for(&granted, &[]), granted);
        assert_eq!(format_for(&[api]), TokenFormat::Jwt);
        assert_eq!(format_for(&[]), TokenFormat::Opaque);
    }
}
