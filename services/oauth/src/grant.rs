//! Grant types and the token request (RFC 6749 §4, §5, §6).
//!
//! This file is the one enumeration of what the token endpoint accepts:
//! [`GrantType::ALL`] drives the metadata document, the registry's
//! validation, the JSON documents and the CLI, and [`TokenRequest`] is the
//! typed request each grant's module in the token service receives. A new
//! grant is one arm here and one module there.

use crate::error::{OAuthError, OAuthErrorCode};
use crate::params::Params;
use crate::resource::{self, ResourceId};
use crate::scope::ScopeSet;
use crate::secret::{AuthorizationCode, CodeVerifier, DeviceCode, RefreshToken};

/// The grant types Gatehouse supports (no implicit, no password: RFC 9700 §2.1.2, §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628: a device without a browser; the user approves elsewhere.
    DeviceCode,
    /// RFC 8693: a token presented by a service (or an agent) exchanged for a
    /// narrower one, for another resource, with the service as the actor.
    TokenExchange,
    /// RFC 7523 §2.1: a JWT as the grant: a workload's platform token an
    /// operator's federation rule maps to a client, or an enterprise
    /// identity provider's Identity Assertion JWT Authorization Grant.
    JwtBearer,
}

impl GrantType {
    pub const ALL: [Self; 6] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::DeviceCode,
        Self::TokenExchange,
        Self::JwtBearer,
    ];

    /// What an application gets when registration names no grant type.
    pub const DEFAULT: [Self; 2] = [Self::AuthorizationCode, Self::RefreshToken];

    /// The `grant_type` parameter value (RFC 6749 §4.1.3, §4.4.2, §6), also
    /// its name on the wire and in every document.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            Self::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|grant| grant.as_str() == value)
    }

    /// Whether the grant's tokens are for a user who authorized it (every
    /// grant but `client_credentials`, whose tokens are the application's
    /// own, token exchange, which acts on tokens a user did not give this
    /// client, and jwt-bearer, whose assertion an operator-trusted issuer
    /// made: an operator allows them, never an anonymous registration).
    pub const fn needs_user(self) -> bool {
        !matches!(self, Self::ClientCredentials | Self::TokenExchange | Self::JwtBearer)
    }

    /// The `grant_type` of a token request: missing is `invalid_request`,
    /// unknown is `unsupported_grant_type` (RFC 6749 §5.2).
    pub fn of_request(params: &Params) -> Result<Self, OAuthError> {
        let value = params.required("grant_type")?;
        // The list is the metadata's (`grant_types_supported`): the URN grant
        // names make it too long for an error description.
        Self::parse(value).ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "grant_type is not supported: the server metadata's grant_types_supported lists those that are",
            )
        })
    }
}

/// A token request, parsed once: what each grant reads, well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5).
    /// `resources` (RFC 8707) may only narrow those of the authorization request.
    AuthorizationCode {
        code: AuthorizationCode,
        redirect_uri: Option<String>,
        code_verifier: Option<CodeVerifier>,
        resources: Vec<ResourceId>,
    },
    /// RFC 6749 §6; `scope` and `resources` may only narrow.
    RefreshToken { refresh_token: RefreshToken, scope: Option<ScopeSet>, resources: Vec<ResourceId> },
    /// RFC 6749 §4.4.2, with the resources the token is for.
    ClientCredentials { scope: Option<ScopeSet>, resources: Vec<ResourceId> },
    /// RFC 8628 §3.4.
    DeviceCode { device_code: DeviceCode },
    /// RFC 8693 §2.1: `audience` values are resource identifiers here, read with `resource`.
    TokenExchange(Box<Exchange>),
    /// RFC 7523 §2.1: `assertion` (one JWT); `scope` and `resource` narrow what it allows.
    JwtBearer { assertion: crate::secret::Assertion, scope: Option<ScopeSet>, resources: Vec<ResourceId> },
}

/// RFC 8693 token type identifiers (§3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The JOSE `typ` of an Identity Assertion JWT Authorization Grant.
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";

/// Whether a JWT's header types it as an ID-JAG (media types compare
/// without case, with or without `application/`: RFC 7515 §4.1.9). Read
/// before anything is verified: it only says which checks apply.
pub fn is_id_jag(assertion: &str) -> bool {
    let typ = jsonwebtoken::decode_header(assertion).ok().and_then(|header| header.typ);
    typ.is_some_and(|typ| {
        let typ = typ.to_ascii_lowercase();
        typ == ID_JAG_TYP || typ.strip_prefix("application/") == Some(ID_JAG_TYP)
    })
}

/// draft-ietf-oauth-transaction-tokens: a Txn-Token.
pub const TXN_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:txn_token";

/// RFC 8693 §4.1's `act` of an actor chain (the current actor first in
/// `actors`): the current actor outermost, each earlier one nested inside.
pub fn act_claim(actors: &[String]) -> Option<serde_json::Value> {
    actors.iter().rev().fold(None, |inner, actor| {
        let mut act = serde_json::json!({ "sub": actor });
        if let Some(inner) = inner {
            act["act"] = inner;
        }
        Some(act)
    })
}

/// A token exchange request (RFC 8693 §2.1), well formed.
#[derive(Clone, PartialEq, Eq)]
pub struct Exchange {
    pub subject_token: String,
    pub subject_token_type: String,
    pub actor_token: Option<String>,
    pub actor_token_type: Option<String>,
    pub requested_token_type: Option<String>,
    pub scope: Option<ScopeSet>,
    pub resources: Vec<ResourceId>,
    /// For a Txn-Token: the `audience` values as sent (a trust domain's
    /// name, not a resource identifier), and the request's context and
    /// details (JSON objects as strings).
    pub txn: Option<TxnRequest>,
}

/// What a Txn-Token request (draft-ietf-oauth-transaction-tokens) adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRequest {
    pub audiences: Vec<String>,
    pub request_context: Option<String>,
    pub request_details: Option<String>,
}

/// Tokens never print.
impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("subject_token_type", &self.subject_token_type)
            .field("actor_token_type", &self.actor_token_type)
            .field("requested_token_type", &self.requested_token_type)
            .field("scope", &self.scope)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    fn parse(params: &Params) -> Result<Self, OAuthError> {
        let text = |name: &str| params.single(name).map(|v| v.map(str::to_owned));
        let actor_token = text("actor_token")?;
        let actor_token_type = text("actor_token_type")?;
        // §2.1: actor_token_type is required with actor_token, and only with it.
        if actor_token.is_some() != actor_token_type.is_some() {
            return Err(OAuthError::invalid_request("actor_token and actor_token_type go together"));
        }
        let requested_token_type = text("requested_token_type")?;
        let mut resources = resource::requested(params)?;
        // A Txn-Token's audience is a trust domain's name, not a resource.
        let txn = if requested_token_type.as_deref() == Some(TXN_TOKEN_TYPE) {
            Some(TxnRequest {
                audiences: params.all("audience").map(str::to_owned).collect(),
                request_context: text("request_context")?,
                request_details: text("request_details")?,
            })
        } else {
            for audience in params.all("audience") {
                let id = ResourceId::parse(audience).map_err(|_| {
                    OAuthError::new(
                        OAuthErrorCode::InvalidTarget,
                        "audience must name a resource server by its identifier (an absolute URI)",
                    )
                })?;
                if !resources.contains(&id) {
                    resources.push(id);
                }
            }
            None
        };
        Ok(Self {
            subject_token: params.required("subject_token")?.to_owned(),
            subject_token_type: params.required("subject_token_type")?.to_owned(),
            actor_token,
            actor_token_type,
            requested_token_type,
            scope: scope(params)?,
            resources,
            txn,
        })
    }
}

impl TokenRequest {
    /// Reads the parameters `grant` uses. Repeated parameters are refused
    /// before anything is read (RFC 6749 §3.2).
    pub fn parse(grant: GrantType, params: &Params) -> Result<Self, OAuthError> {
        params.refuse_repeated()?;
        let text = |name: &str| params.single(name).map(|v| v.map(str::to_owned));
        Ok(match grant {
            GrantType::AuthorizationCode => Self::AuthorizationCode {
                code: AuthorizationCode::new(params.required("code")?),
                redirect_uri: text("redirect_uri")?,
                code_verifier: text("code_verifier")?.map(CodeVerifier::new),
                resources: resource::requested(params)?,
            },
            GrantType::RefreshToken => Self::RefreshToken {
                refresh_token: RefreshToken::new(params.required("refresh_token")?),
                scope: scope(params)?,
                resources: resource::requested(params)?,
            },
            GrantType::ClientCredentials => {
                Self::ClientCredentials { scope: scope(params)?, resources: resource::requested(params)? }
            }
            GrantType::DeviceCode => Self::DeviceCode { device_code: DeviceCode::new(params.required("device_code")?) },
            GrantType::TokenExchange => Self::TokenExchange(Box::new(Exchange::parse(params)?)),
            GrantType::JwtBearer => Self::JwtBearer {
                assertion: crate::secret::Assertion::new(params.required("assertion")?),
                scope: scope(params)?,
                resources: resource::requested(params)?,
            },
        })
    }

    pub const fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::DeviceCode { .. } => GrantType::DeviceCode,
            Self::TokenExchange(_) => GrantType::TokenExchange,
            Self::JwtBearer { .. } => GrantType::JwtBearer,
        }
    }
}

/// The optional `scope` parameter (RFC 6749 §3.3); empty means "as granted".
fn scope(params: &Params) -> Result<Option<ScopeSet>, OAuthError> {
    let Some(value) = params.single("scope")? else { return Ok(None) };
    let scopes = ScopeSet::parse(value).map_err(|_| OAuthError::invalid_scope("scope is malformed"))?;
    Ok((!scopes.is_empty()).then_some(scopes))
}

/// A requested scope that must stay within `allowed`; none means all of
/// `allowed` (RFC 6749 §3.3, §6).
pub fn narrow(requested: Option<&ScopeSet>, allowed: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    match requested {
        None => Ok(allowed.clone()),
        Some(scopes) if scopes.is_subset(allowed) => Ok(scopes.clone()),
        Some(_) => Err(OAuthError::invalid_scope("the requested scope exceeds what was granted")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn grant_types_round_trip_and_password_is_not_one() {
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
        }
        assert_eq!(GrantType::parse("password"), None);
        assert_eq!(GrantType::parse("implicit"), None);
    }

    #[test]
    fn the_grant_type_is_read_first() {
        let code = |p: &[(&str, &str)]| GrantType::of_request(&params(p)).unwrap_err().code;
        assert_eq!(code(&[]), OAuthErrorCode::InvalidRequest);
        assert_eq!(code(&[("grant_type", "password")]), OAuthErrorCode::UnsupportedGrantType);
        assert_eq!(code(&[("grant_type", "a"), ("grant_type", "b")]), OAuthErrorCode::InvalidRequest);
    }

    #[test]
    fn each_grant_reads_its_parameters() {
        let request = TokenRequest::parse(
            GrantType::AuthorizationCode,
            &params(&[("code", "gac_1"), ("redirect_uri", "https://a/cb"), ("code_verifier", "")]),
        )
        .unwrap();
        assert_eq!(
            request,
            TokenRequest::AuthorizationCode {
                code: AuthorizationCode::new("gac_1"),
                redirect_uri: Some("https://a/cb".to_owned()),
                code_verifier: None,
                resources: Vec::new(),
            }
        );
        assert_eq!(request.grant_type(), GrantType::AuthorizationCode);
        let missing = TokenRequest::parse(GrantType::RefreshToken, &params(&[])).unwrap_err();
        assert_eq!(missing.description, "refresh_token is missing");
        let twice = TokenRequest::parse(GrantType::ClientCredentials, &params(&[("x", "1"), ("x", "2")]));
        assert_eq!(twice.unwrap_err().code, OAuthErrorCode::InvalidRequest);
        let bad_scope = TokenRequest::parse(GrantType::ClientCredentials, &params(&[("scope", "a\u{1}")]));
        assert_eq!(bad_scope.unwrap_err().code, OAuthErrorCode::InvalidScope);
    }

    #[test]
    fn debug_of_a_request_shows_no_secret() {
        let request = TokenRequest::parse(
            GrantType::RefreshToken,
            &params(&[("refresh_token", "grt_secretvalue"), ("scope", "user")]),
        )
        .unwrap();
        assert!(!format!("{request:?}").contains("grt_secretvalue"));
    }

    #[test]
    fn narrowing_never_widens() {
        let all = ScopeSet::parse("user projects").unwrap();
        let one = ScopeSet::parse("user").unwrap();
        assert_eq!(narrow(None, &all).unwrap(), all);
        assert_eq!(narrow(Some(&one), &all).unwrap(), one);
        assert!(narrow(Some(&all), &one).is_err());
    }
}
