//! The OAuth error: a closed set of RFC codes plus a specific description.

use std::borrow::Cow;

/// Error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1 and RFC 7009 §2.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OAuthErrorCode {
    /// "The request is missing a required parameter, includes an invalid parameter value,
    /// includes a parameter more than once, or is otherwise malformed." (RFC 6749 §5.2)
    InvalidRequest,
    /// "Client authentication failed (e.g., unknown client, no client authentication
    /// included, or unsupported authentication method)." (RFC 6749 §5.2)
    InvalidClient,
    /// "The provided authorization grant ... or refresh token is invalid, expired, revoked,
    /// does not match the redirection URI ..., or was issued to another client." (RFC 6749 §5.2)
    InvalidGrant,
    /// "The authenticated client is not authorized to use this authorization grant type."
    /// (RFC 6749 §5.2)
    UnauthorizedClient,
    /// "The authorization grant type is not supported by the authorization server." (RFC 6749 §5.2)
    UnsupportedGrantType,
    /// "The requested scope is invalid, unknown, malformed, or exceeds the scope granted by the
    /// resource owner." (RFC 6749 §5.2)
    InvalidScope,
    /// "The resource owner or authorization server denied the request." (RFC 6749 §4.1.2.1)
    AccessDenied,
    /// "The authorization server does not support obtaining an authorization code using this
    /// method." (RFC 6749 §4.1.2.1)
    UnsupportedResponseType,
    /// "The authorization server encountered an unexpected condition that prevented it from
    /// fulfilling the request." (RFC 6749 §4.1.2.1)
    ServerError,
    /// "The authorization server is currently unable to handle the request due to a temporary
    /// overloading or maintenance of the server." (RFC 6749 §4.1.2.1)
    TemporarilyUnavailable,
    /// "The access token provided is expired, revoked, malformed, or invalid for other
    /// reasons." (RFC 6750 §3.1)
    InvalidToken,
    /// "The request requires higher privileges than provided by the access token." (RFC 6750 §3.1)
    InsufficientScope,
    /// "The authorization server does not support the revocation of the presented token
    /// type." (RFC 7009 §2.2.1)
    UnsupportedTokenType,
    /// "The authorization request is still pending as the end user hasn't yet completed the
    /// user-interaction steps." (RFC 8628 §3.5)
    AuthorizationPending,
    /// "A variant of authorization_pending, the authorization request is still pending and
    /// polling should continue, but the interval MUST be increased by 5 seconds." (RFC 8628 §3.5)
    SlowDown,
    /// "The device_code has expired, and the device authorization session has concluded."
    /// (RFC 8628 §3.5)
    ExpiredToken,
    /// "The Authorization Server requires End-User authentication" and `prompt=none` forbids
    /// showing the login page (OpenID Connect Core §3.1.2.6).
    LoginRequired,
    /// "The Authorization Server requires End-User consent" and `prompt=none` forbids asking
    /// (OpenID Connect Core §3.1.2.6).
    ConsentRequired,
    /// "The Authorization Server requires End-User interaction of some form to proceed"
    /// (OpenID Connect Core §3.1.2.6).
    InteractionRequired,
    /// "The request parameter contains an invalid Request Object" or is not supported: Gatehouse
    /// takes no request objects (OpenID Connect Core §3.1.2.6, §6).
    RequestNotSupported,
    /// The `request_uri` parameter is not supported (OpenID Connect Core §3.1.2.6, §6).
    RequestUriNotSupported,
    /// "The requested resource is invalid, missing, unknown, or malformed" (RFC 8707 §2): also
    /// a resource the client may not ask for, or one the grant was not made for.
    InvalidTarget,
    /// "The value of one or more redirection URIs is invalid." (RFC 7591 §3.2.2)
    InvalidRedirectUri,
    /// "The value of one of the client metadata fields is invalid and the server has rejected
    /// this request." (RFC 7591 §3.2.2)
    InvalidClientMetadata,
    /// "The DPoP proof is invalid" (RFC 9449 §5, §7.1): missing where required, malformed,
    /// for another request, replayed, or not for the key a token is bound to.
    InvalidDpopProof,
    /// The server wants a DPoP proof with the nonce it sent in `DPoP-Nonce` (RFC 9449 §8, §9).
    UseDpopNonce,
    /// "The Authorization Server is unable to meet the requirements of the Relying Party for
    /// the authentication of the End-User" (OpenID Connect Unmet Authentication Requirements
    /// 1.0 §4; RFC 9470 §5): `acr_values` asked for a class the user cannot reach.
    UnmetAuthenticationRequirements,
    /// "The authentication event associated with the access token presented with the request
    /// does not meet the authentication requirements of the protected resource" (RFC 9470 §3).
    InsufficientUserAuthentication,
}

impl OAuthErrorCode {
    /// Every code, for table-driven tests and for decoding.
    pub const ALL: [Self; 28] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::UnsupportedResponseType,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::UnsupportedTokenType,
        Self::AuthorizationPending,
        Self::SlowDown,
        Self::ExpiredToken,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::InteractionRequired,
        Self::RequestNotSupported,
        Self::RequestUriNotSupported,
        Self::InvalidTarget,
        Self::InvalidRedirectUri,
        Self::InvalidClientMetadata,
        Self::InvalidDpopProof,
        Self::UseDpopNonce,
        Self::UnmetAuthenticationRequirements,
        Self::InsufficientUserAuthentication,
    ];

    /// The wire string of the code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InsufficientUserAuthentication => "insufficient_user_authentication",
        }
    }

    /// Parses a wire string; `None` for anything that is not an RFC code.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == value)
    }
}

/// An OAuth error with a specific, secret-free description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    /// Lowercase, no trailing punctuation, never containing a secret.
    pub description: Cow<'static, str>,
}

/// Longest error description sent: a description explains, it never carries data.
pub const MAX_DESCRIPTION_LEN: usize = 200;

/// `text` as an `error_description` may carry it (RFC 6749 §5.2: printable
/// ASCII without `"` and `\`, here at most [`MAX_DESCRIPTION_LEN`]
/// characters): other characters become `?`, and a longer text is cut.
/// Descriptions are written without the caller's input in the first place;
/// this is the guard that holds whatever a message contains.
pub fn safe_description(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
    if text.len() <= MAX_DESCRIPTION_LEN && text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    let mut safe: String = text.chars().take(MAX_DESCRIPTION_LEN).map(|c| if allowed(c) { c } else { '?' }).collect();
    if text.chars().count() > MAX_DESCRIPTION_LEN {
        safe.truncate(MAX_DESCRIPTION_LEN - 3);
        safe.push_str("...");
    }
    Cow::Owned(safe)
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let description = description.into();
        let description = match safe_description(&description) {
            Cow::Borrowed(_) => description,
            Cow::Owned(safe) => Cow::Owned(safe),
        };
        Self { code, description }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_to_rfc_6749_characters_and_length() {
        assert_eq!(safe_description("scope is malformed"), "scope is malformed");
        assert_eq!(safe_description("a \"quoted\" \\ value\u{7f}é"), "a ?quoted? ? value??");
        let input = "x".repeat(8192);
        let long = safe_description(&input);
        assert_eq!(long.len(), MAX_DESCRIPTION_LEN);
        assert!(long.ends_with("..."));
        assert_eq!(OAuthError::invalid_request("bad \"x\"").description, "bad ?x?");
    }

    #[test]
    fn every_code_parses_back_from_its_wire_string() {
        for code in OAuthErrorCode::ALL {
            assert_eq!(OAuthErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(OAuthErrorCode::parse("invalid"), None);
    }
}
