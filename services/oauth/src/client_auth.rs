//! Reading credentials off a request: client authentication (RFC 6749
//! §2.3.1) and the bearer token of a protected-resource request (RFC 6750
//! §2). Whether they are *valid* is the services' decision; these rules say
//! only whether they were presented correctly.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{OAuthError, OAuthErrorCode};
use crate::params::Params;
use crate::secret::{AccessToken, ClientSecret};

/// How the client authenticated (RFC 8414 `token_endpoint_auth_method` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client: its `client_id` alone.
    None,
    /// A JWT signed with the client's key (RFC 7523 §2.2, OpenID Connect
    /// Core §9); the assertion travels where a secret would.
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    pub const ALL: [Self; 4] = [Self::ClientSecretBasic, Self::ClientSecretPost, Self::None, Self::PrivateKeyJwt];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|method| method.as_str() == value)
    }

    /// Whether the method proves a secret or a key (a confidential client's).
    pub const fn is_confidential(self) -> bool {
        !matches!(self, Self::None)
    }
}

/// The algorithms a `private_key_jwt` assertion may be signed with: the
/// asymmetric JWS algorithms (never `none`, never an HMAC). The metadata's
/// `token_endpoint_auth_signing_alg_values_supported`.
pub const ASSERTION_SIGNING_ALGORITHMS: [&str; 9] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// RFC 7523 §2.2's `client_assertion_type` for a JWT.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client credentials of a request, as presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuthentication {
    pub client_id: String,
    /// The client secret, or with `PrivateKeyJwt` the assertion (a
    /// credential too: it never prints).
    pub secret: ClientSecret,
    pub method: ClientAuthMethod,
}

/// Parameters that carry client authentication, kept out of what a request
/// forwards once the credentials are read.
pub const CLIENT_AUTH_PARAMETERS: [&str; 4] =
    ["client_id", "client_secret", "client_assertion_type", "client_assertion"];

impl ClientAuthentication {
    /// Reads the credentials of a token, revocation or introspection request
    /// from its `Authorization` header and body. One method only (RFC 6749
    /// §2.3: "MUST NOT use more than one authentication method").
    pub fn from_request(authorization: Option<&str>, params: &Params) -> Result<Self, OAuthError> {
        let form_id = params.single("client_id")?;
        let form_secret = params.single("client_secret")?;
        let assertion_type = params.single("client_assertion_type")?;
        let assertion = params.single("client_assertion")?;
        if assertion_type.is_some() || assertion.is_some() {
            return Self::assertion(authorization, form_id, form_secret, assertion_type, assertion);
        }
        match basic(authorization)? {
            Some(_) if form_secret.is_some() => Err(OAuthError::invalid_request(
                "use one client authentication method, not Basic and client_secret both",
            )),
            Some((id, _)) if form_id.is_some_and(|f| f != id) => {
                Err(OAuthError::invalid_request("client_id differs from the Basic credentials"))
            }
            Some((client_id, secret)) => {
                Ok(Self { client_id, secret: ClientSecret::new(secret), method: ClientAuthMethod::ClientSecretBasic })
            }
            None => Ok(Self {
                client_id: form_id.unwrap_or_default().to_owned(),
                secret: ClientSecret::new(form_secret.unwrap_or_default()),
                method: if form_secret.is_some() { ClientAuthMethod::ClientSecretPost } else { ClientAuthMethod::None },
            }),
        }
    }
}

impl ClientAuthentication {
    /// RFC 7523 §2.2: `client_assertion_type` names a JWT, `client_assertion`
    /// is one (three dot-separated parts), and no other method is used. Its
    /// `iss`/`sub` name the client; a `client_id` sent beside it is checked
    /// against them by the registry. The client id read here is the form's
    /// or, without one, the assertion's unverified `sub` (only a lookup key).
    fn assertion(
        authorization: Option<&str>,
        form_id: Option<&str>,
        form_secret: Option<&str>,
        assertion_type: Option<&str>,
        assertion: Option<&str>,
    ) -> Result<Self, OAuthError> {
        if form_secret.is_some() || basic(authorization)?.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not client_assertion and a secret both",
            ));
        }
        match assertion_type {
            Some(JWT_BEARER_ASSERTION) => {}
            Some(_) => return Err(OAuthError::invalid_client("client_assertion_type must be jwt-bearer (RFC 7523)")),
            None => return Err(OAuthError::invalid_request("client_assertion needs client_assertion_type")),
        }
        let Some(assertion) = assertion.filter(|a| !a.is_empty()) else {
            return Err(OAuthError::invalid_request("client_assertion_type needs client_assertion"));
        };
        if assertion.len() > 8192 || assertion.split('.').count() != 3 {
            return Err(OAuthError::invalid_client("client_assertion is not a signed JWT"));
        }
        let client_id = match form_id {
            Some(id) => id.to_owned(),
            None => unverified_subject(assertion)
                .ok_or_else(|| OAuthError::invalid_client("client_assertion names no client (sub)"))?,
        };
        Ok(Self { client_id, secret: ClientSecret::new(assertion), method: ClientAuthMethod::PrivateKeyJwt })
    }
}

/// The `sub` of a JWT's payload, unverified: which client to look up.
fn unverified_subject(jwt: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn malformed_basic() -> OAuthError {
    OAuthError::invalid_client("malformed Basic credentials")
}

fn percent_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("x={value}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// `Authorization: Basic` credentials, form-urlencoded inside (RFC 6749 §2.3.1).
fn basic(authorization: Option<&str>) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = authorization else { return Ok(None) };
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
        return Ok(None);
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed_basic())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed_basic())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed_basic)?;
    Ok(Some((percent_decode(id), percent_decode(secret))))
}

/// The bearer token of a protected-resource request: `Authorization: Bearer`
/// (RFC 6750 §2.1), `Authorization: token` (the seed platform's and
/// GitHub's form), or the `access_token` query parameter (RFC 6750 §2.3, the
/// seed's URL). A token sent more than one way is `invalid_request` (RFC 6750
/// §2: "MUST NOT use more than one method").
/// The one `Authorization` header of a request, given every value it came
/// with: two are refused rather than one of them silently chosen (a proxy
/// and the client could each believe theirs counts); a value that is not
/// visible ASCII is refused too.
pub fn single_authorization<'a>(values: &[&'a [u8]]) -> Result<Option<&'a str>, OAuthError> {
    match values {
        [] => Ok(None),
        [value] => std::str::from_utf8(value)
            .ok()
            .filter(|text| text.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
            .map(Some)
            .ok_or_else(|| OAuthError::invalid_request("the Authorization header is not visible ASCII")),
        _ => Err(OAuthError::invalid_request("send one Authorization header")),
    }
}

/// Access tokens never travel in the URL (OAuth 2.1 §5.2: URLs end up in
/// logs, history and `Referer`); one in the query is refused, not ignored.
pub fn refuse_token_in_query(query: &Params) -> Result<(), OAuthError> {
    if query.has_any(&["access_token"]) {
        return Err(OAuthError::invalid_request(
            "an access token in the URL is not accepted: send it in the Authorization header",
        ));
    }
    Ok(())
}

/// An access token presented where only a signed-in browser session is
/// taken (RFC 6750 §3.1: the token is valid but cannot reach this resource).
pub fn session_only() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::InsufficientScope,
        "this operation needs a browser session: no access token reaches it",
    )
}

pub fn bearer_token(authorization: Option<&str>, query: &Params) -> Result<Option<AccessToken>, OAuthError> {
    let from_header = authorization.and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        // `DPoP` (RFC 9449 §7.1): the same token, with a proof the caller checks.
        (scheme.eq_ignore_ascii_case("bearer")
            || scheme.eq_ignore_ascii_case("token")
            || scheme.eq_ignore_ascii_case("dpop"))
        .then(|| token.trim())
    });
    let from_query =
        query.single("access_token").map_err(|_| OAuthError::invalid_request("send the access token one way only"))?;
    if from_query.is_some() && from_header.is_some() {
        return Err(OAuthError::invalid_request("send the access token one way only"));
    }
    Ok(from_header.or(from_query).filter(|t| !t.is_empty()).map(AccessToken::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret"));
        let auth = ClientAuthentication::from_request(Some(&header), &params(&[])).unwrap();
        assert_eq!(auth.method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!((auth.client_id.as_str(), auth.secret.expose()), ("my client", "s:cret"));
        assert!(!format!("{auth:?}").contains("s:cret"));
    }

    #[test]
    fn two_methods_or_malformed_basic_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        let both = ClientAuthentication::from_request(Some(&header), &params(&[("client_secret", "b")]));
        assert_eq!(both.unwrap_err().code.as_str(), "invalid_request");
        let other = ClientAuthentication::from_request(Some(&header), &params(&[("client_id", "z")]));
        assert_eq!(other.unwrap_err().code.as_str(), "invalid_request");
        let bad = ClientAuthentication::from_request(Some("Basic %%%"), &params(&[]));
        assert_eq!(bad.unwrap_err().code.as_str(), "invalid_client");
    }

    #[test]
    fn public_and_post_clients() {
        let public = ClientAuthentication::from_request(None, &params(&[("client_id", "pub")])).unwrap();
        assert_eq!(public.method, ClientAuthMethod::None);
        let post =
            ClientAuthentication::from_request(None, &params(&[("client_id", "c"), ("client_secret", "s")])).unwrap();
        assert_eq!(post.method, ClientAuthMethod::ClientSecretPost);
    }

    #[test]
    fn one_authorization_header_and_no_token_in_the_url() {
        assert_eq!(single_authorization(&[]).unwrap(), None);
        assert_eq!(single_authorization(&[b"Bearer a"]).unwrap(), Some("Bearer a"));
        let two = single_authorization(&[b"Bearer a", b"Bearer b"]).unwrap_err();
        assert_eq!(two.code.as_str(), "invalid_request");
        assert!(single_authorization(&["Bearer \u{e9}".as_bytes()]).is_err(), "not visible ASCII");
        assert!(refuse_token_in_query(&params(&[("access_token", "x")])).is_err());
        assert!(refuse_token_in_query(&params(&[("other", "x")])).is_ok());
    }

    #[test]
    fn bearer_tokens_come_from_either_header_form_or_the_query() {
        let token = |header: Option<&str>, query: &[(&str, &str)]| {
            bearer_token(header, &params(query)).unwrap().map(AccessToken::into_exposed)
        };
        assert_eq!(token(Some("Bearer abc"), &[]).as_deref(), Some("abc"));
        assert_eq!(token(Some("token abc"), &[]).as_deref(), Some("abc"));
        assert_eq!(token(None, &[("access_token", "q1"), ("x", "2")]).as_deref(), Some("q1"));
        assert_eq!(token(None, &[("x", "2")]), None);
        assert_eq!(token(Some("Basic abc"), &[]), None);
        assert!(bearer_token(Some("Bearer abc"), &params(&[("access_token", "abc")])).is_err(), "two ways");
        assert!(bearer_token(None, &params(&[("access_token", "a"), ("access_token", "b")])).is_err(), "twice");
    }
}
