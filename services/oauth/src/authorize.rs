//! Authorization request validation (RFC 6749 §4.1.1, §4.1.2.1).
//!
//! The order matters: until the client and its redirect URI are trusted, an
//! error is shown to the user and never redirected (an open redirector
//! otherwise); after that, errors go back to the client's redirect URI.

use url::Url;

use crate::client::{ClientId, ClientType};
use crate::error::{OAuthError, OAuthErrorCode};
use crate::oidc::{MAX_HINT_LEN, MAX_NONCE_LEN, Prompt, bounded, id_token_hint_subject, max_age};
pub use crate::params::Params;
use crate::pkce::CodeChallenge;
use crate::redirect_uri::RedirectUri;
use crate::scope::{Scope, ScopeCatalogue, ScopeSet};

/// Longest `state` echoed back; longer values are refused rather than truncated.
pub const MAX_STATE_LEN: usize = 1024;

/// What the server knows of the client, as registered.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    pub client_id: ClientId,
    pub client_type: ClientType,
    pub redirect_uris: Vec<RedirectUri>,
    pub allows_authorization_code: bool,
    pub scopes: ScopeSet,
}

impl From<&crate::client::RegisteredClient> for ClientPolicy {
    fn from(client: &crate::client::RegisteredClient) -> Self {
        Self {
            client_id: client.client_id.clone(),
            client_type: client.client_type,
            redirect_uris: client.redirect_uris.clone(),
            allows_authorization_code: client.allows(crate::GrantType::AuthorizationCode),
            scopes: client.scopes.clone(),
        }
    }
}

/// A failed authorization request, and where its error may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI is not trusted: show an error page, never redirect.
    Untrusted(OAuthError),
    /// The redirect URI is trusted: send the error there (RFC 6749 §4.1.2.1).
    Redirect { redirect_uri: String, state: Option<String>, error: OAuthError, mode: ResponseMode },
}

/// How the authorization response reaches the client: in the redirect's
/// query (RFC 6749 §4.1.2), or as a form the browser posts to the redirect
/// URI (OAuth 2.0 Form Post Response Mode), which keeps the code out of the
/// URL, the history and the Referer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

impl ResponseMode {
    pub const ALL: [Self; 2] = [Self::Query, Self::FormPost];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
        }
    }
}

/// An authorization response for the client: where, what, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// The registered redirect URI, as registered.
    pub redirect_uri: String,
    pub params: Vec<(String, String)>,
    pub mode: ResponseMode,
}

impl ClientResponse {
    fn new(redirect_uri: &str, pairs: &[(&str, &str)], mode: ResponseMode) -> Self {
        let params = pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        Self { redirect_uri: redirect_uri.to_owned(), params, mode }
    }

    /// The redirect URI with the parameters in its query (the query mode's 303).
    pub fn location(&self) -> String {
        let pairs: Vec<(&str, &str)> = self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        redirect_with(&self.redirect_uri, &pairs)
    }
}

/// A valid authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    /// The redirect URI the response goes to.
    pub redirect_uri: String,
    /// Whether the request named it; if so the token request must repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
    pub scopes: ScopeSet,
    pub state: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    /// OpenID Connect: echoed in the ID token.
    pub nonce: Option<String>,
    pub prompt: Prompt,
    /// Seconds since the user signed in beyond which they sign in again.
    pub max_age: Option<i64>,
    /// OpenID Connect `acr_values`, in order of preference (see [`crate::acr`]).
    pub acr_values: Vec<String>,
    /// Prefills the login form.
    pub login_hint: Option<String>,
    /// The `sub` of `id_token_hint`: a session of another user signs in again.
    pub hinted_subject: Option<String>,
    pub response_mode: ResponseMode,
    /// RFC 8707 resource indicators, well formed; whether the client may
    /// ask for them is the registry's to say (`invalid_target`).
    pub resources: Vec<crate::resource::ResourceId>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code will be bound to.
    pub dpop_jkt: Option<String>,
}

/// The `client_id` of an authorization request: missing, repeated or
/// malformed is an error shown to the user.
pub fn requested_client_id(params: &Params) -> Result<ClientId, OAuthError> {
    let value = params.single("client_id")?.ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
    ClientId::parse(value).ok_or_else(|| OAuthError::invalid_request("client_id is malformed"))
}

/// The error shown when `client_id` names no application.
pub fn unknown_client() -> OAuthError {
    OAuthError::invalid_request("client_id does not name a registered application")
}

/// Resolves the redirect URI: exactly one of the registered ones, or the
/// only one when the request omits it.
fn trusted_redirect_uri(params: &Params, client: &ClientPolicy) -> Result<(String, bool), OAuthError> {
    match params.single("redirect_uri")? {
        Some(requested) if client.redirect_uris.iter().any(|uri| uri.matches(requested)) => {
            Ok((requested.to_owned(), true))
        }
        Some(_) => Err(OAuthError::invalid_request("redirect_uri does not match a registered redirect URI")),
        None => match client.redirect_uris.as_slice() {
            [only] => Ok((only.as_str().to_owned(), false)),
            _ => Err(OAuthError::invalid_request(
                "redirect_uri is required when the application registered more than one",
            )),
        },
    }
}

/// Validates a request for `client` in RFC order.
pub fn validate(
    params: &Params,
    client: &ClientPolicy,
    catalogue: &ScopeCatalogue,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let (redirect_uri, redirect_uri_given) = trusted_redirect_uri(params, client).map_err(AuthorizeError::Untrusted)?;
    // From here on the redirect URI is trusted. `state` is read first so that
    // every later error can echo it; a repeated or oversized state is itself
    // an error, sent back without a state.
    // `response_mode` first of all, so that every later error goes back the way asked.
    let mode = match params.single("response_mode") {
        Ok(None | Some("query")) => Ok(ResponseMode::Query),
        Ok(Some("form_post")) => Ok(ResponseMode::FormPost),
        Ok(Some(_)) => Err(OAuthError::invalid_request("response_mode must be query or form_post")),
        Err(error) => Err(error),
    };
    let (mode, mode_error) = match mode {
        Ok(mode) => (mode, None),
        Err(error) => (ResponseMode::Query, Some(error)),
    };
    let fail = |state: Option<String>, error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state,
        error,
        mode,
    };
    let state = match params.single("state") {
        Ok(state) if state.is_some_and(|s| s.len() > MAX_STATE_LEN) => {
            return Err(fail(
                None,
                OAuthError::invalid_request(format!("state must be at most {MAX_STATE_LEN} characters")),
            ));
        }
        Ok(state) => state.map(str::to_owned),
        Err(error) => return Err(fail(None, error)),
    };
    let fail = |error: OAuthError| fail(state.clone(), error);
    let param = |name: &str| params.single(name).map_err(fail);
    if let Some(error) = mode_error {
        return Err(fail(error));
    }

    // Request objects are not supported, and are never silently ignored
    // (OpenID Connect Core §3.1.2.6, §6): a client relying on one would
    // otherwise get a grant of parameters it did not sign.
    if param("request")?.is_some() {
        return Err(fail(OAuthError::new(OAuthErrorCode::RequestNotSupported, "request objects are not supported")));
    }
    if param("request_uri")?.is_some() {
        return Err(fail(OAuthError::new(OAuthErrorCode::RequestUriNotSupported, "request_uri is not supported")));
    }

    match param("response_type")? {
        Some("code") => {}
        Some(_) => {
            return Err(fail(OAuthError::new(OAuthErrorCode::UnsupportedResponseType, "response_type must be code")));
        }
        None => return Err(fail(OAuthError::invalid_request("response_type is missing"))),
    }
    if !client.allows_authorization_code {
        return Err(fail(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "the application is not allowed the authorization_code grant",
        )));
    }
    let scopes = requested_scopes(param("scope")?, client, catalogue).map_err(fail)?;
    let code_challenge = match (param("code_challenge")?, param("code_challenge_method")?) {
        (Some(challenge), method) => Some(CodeChallenge::parse(challenge, method).map_err(fail)?),
        (None, Some(_)) => {
            return Err(fail(OAuthError::invalid_request("code_challenge_method is given without code_challenge")));
        }
        (None, None) if client.client_type == ClientType::Public => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge is required for public clients (PKCE, S256)",
            )));
        }
        (None, None) => None,
    };
    let resources = crate::resource::requested(params).map_err(fail)?;
    let dpop_jkt = match param("dpop_jkt")? {
        Some(jkt) if crate::dpop::is_thumbprint(jkt) => Some(jkt.to_owned()),
        Some(_) => {
            return Err(fail(OAuthError::invalid_request(
                "dpop_jkt must be the base64url SHA-256 thumbprint of a JWK (RFC 9449 §10)",
            )));
        }
        None => None,
    };
    let prompt = Prompt::parse(param("prompt")?).map_err(fail)?;
    let max_age = max_age(param("max_age")?).map_err(fail)?;
    let acr_values = crate::acr::parse_acr_values(param("acr_values")?).map_err(fail)?;
    let nonce = bounded(param("nonce")?, "nonce", MAX_NONCE_LEN).map_err(fail)?;
    let login_hint = bounded(param("login_hint")?, "login_hint", MAX_NONCE_LEN).map_err(fail)?;
    let hinted_subject = match bounded(param("id_token_hint")?, "id_token_hint", MAX_HINT_LEN).map_err(fail)? {
        Some(hint) => Some(id_token_hint_subject(&hint).map_err(fail)?),
        None => None,
    };
    // `display`, `ui_locales` and `claims_locales` only ask for
    // presentation and need not be honoured (Core §3.1.2.1). `claims`
    // (Core §5.5) asks for the scopes that release the claims it names,
    // those this application may have; the consent page shows them.
    let scopes = match param("claims")? {
        Some(claims) => {
            let wanted = crate::oidc::claims_scopes(claims).map_err(fail)?;
            let extra = ScopeSet::from_scopes(
                wanted
                    .into_iter()
                    .filter_map(Scope::parse)
                    .filter(|s| client.scopes.contains(s) && catalogue.get(s).is_some()),
            );
            scopes.union(&extra)
        }
        None => scopes,
    };
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_given,
        scopes,
        state,
        code_challenge,
        nonce,
        prompt,
        max_age,
        acr_values,
        login_hint,
        hinted_subject,
        response_mode: mode,
        resources,
        dpop_jkt,
    })
}

/// The scope parameter (of an authorization or device request) against the
/// catalogue and the application's allowed
/// scopes. An empty scope means the basic profile (`user`), as the seed's
/// `scope` parameter is optional.
pub fn requested_scopes(
    value: Option<&str>,
    client: &ClientPolicy,
    catalogue: &ScopeCatalogue,
) -> Result<ScopeSet, OAuthError> {
    let scopes = ScopeSet::parse(value.unwrap_or_default())
        .map_err(|_| OAuthError::invalid_scope("scope is malformed: space-separated names from the scope catalogue"))?;
    let scopes = if scopes.is_empty() {
        let default = Scope::parse("user").map(|s| ScopeSet::from_scopes([s])).unwrap_or_default();
        if default.is_empty() || !default.is_subset(&client.scopes) {
            return Err(OAuthError::invalid_scope("scope is required"));
        }
        default
    } else {
        scopes
    };
    if catalogue.first_unknown(&scopes).is_some() {
        return Err(OAuthError::invalid_scope("a requested scope is not in the scope catalogue"));
    }
    if let Some(denied) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        // A catalogue name (the check above), not the caller's text.
        return Err(OAuthError::invalid_scope(format!(
            "scope {} is not allowed for this application",
            denied.as_str()
        )));
    }
    Ok(scopes)
}

/// `redirect_uri` with `pairs` appended to its query, keeping what it had.
pub fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in pairs {
                    query.append_pair(name, value);
                }
            }
            url.into()
        }
        // Registered URIs always parse; keep the input rather than panic.
        Err(_) => redirect_uri.to_owned(),
    }
}

/// The error response of RFC 6749 §4.1.2.1 with `iss` (RFC 9207).
pub fn error_response(
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
    issuer: &str,
    mode: ResponseMode,
) -> ClientResponse {
    let mut pairs = vec![("error", error.code.as_str()), ("error_description", error.description.as_ref())];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer));
    ClientResponse::new(redirect_uri, &pairs, mode)
}

/// The success response of RFC 6749 §4.1.2 with `iss` (RFC 9207).
pub fn code_response(
    redirect_uri: &str,
    code: &str,
    state: Option<&str>,
    issuer: &str,
    mode: ResponseMode,
) -> ClientResponse {
    let mut pairs = vec![("code", code)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer));
    ClientResponse::new(redirect_uri, &pairs, mode)
}

#[path = "authorize/decision.rs"]
pub mod decision;

#[cfg(test)]
#[path = "authorize/tests.rs"]
mod tests;
