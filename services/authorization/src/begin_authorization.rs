//! BeginAuthorization: validate the request, then say what to show next.

use gatehouse_oauth::authorize::decision::{self, SignIn, SignedIn};
use gatehouse_oauth::authorize::{
    AuthorizeError, ClientResponse, Params, error_response, requested_client_id, unknown_client, validate,
};
use gatehouse_oauth::scope::{ScopeCatalogue, ScopeEntry};
use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{OAuthError, OAuthErrorCode, ScopeSet, SecretHash, random_token};
use gatehouse_runtime::clients::registry::ClientApplication;

use crate::error::{AuthzError, AuthzResult};
use crate::pushed::REQUEST_URI_PREFIX;
use crate::record::{self, PendingRecord, RequestRecord, key};
use crate::service::Authorization;

/// What the gateway shows next.
#[derive(Debug)]
pub(crate) enum Begin {
    LoginRequired(LoginRequired),
    Consent(Consent),
    /// Back to the client: with a code, or with an error.
    Redirect(ClientResponse),
}

/// The login page, then the request again with `resume`.
#[derive(Debug)]
pub(crate) struct LoginRequired {
    pub(crate) application: ClientApplication,
    /// The request's parameters to come back with (see
    /// `decision::resume_after_sign_in`).
    pub(crate) resume: Vec<(String, String)>,
    /// A session exists but must sign in again: show the form anyway.
    pub(crate) reauthenticate: bool,
    pub(crate) login_hint: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Consent {
    pub(crate) request_id: String,
    pub(crate) application: ClientApplication,
    pub(crate) new_scopes: Vec<ScopeEntry>,
    pub(crate) granted_scopes: Vec<ScopeEntry>,
    pub(crate) redirect_uri: String,
    /// The resource identifiers the tokens will be for.
    pub(crate) resources: Vec<String>,
}

fn describe(scopes: &ScopeSet, catalogue: &ScopeCatalogue) -> Vec<ScopeEntry> {
    // Catalogue order, which is the order a person reads them in.
    catalogue.entries().iter().filter(|entry| scopes.contains(&entry.scope)).cloned().collect()
}

impl Authorization {
    /// Validates in RFC order: client and redirect URI first (errors there
    /// are shown, never redirected), then everything else (errors go back to
    /// the client); then the sign-in and consent steps, decided by
    /// `gatehouse_oauth::authorize::decision` from the facts gathered here.
    pub(crate) async fn begin_authorization(
        &self,
        params: Params,
        session_token: &str,
        seed_url: bool,
        client_address: &str,
    ) -> AuthzResult<Begin> {
        let client_id = requested_client_id(&params)?;
        let found = self.inner.registry.application_for(client_id.as_str(), client_address).await;
        let app = match found.map_err(AuthzError::registry) {
            Ok(app) => app,
            // A client (a metadata document) the registry cannot use: at the
            // authorization endpoint that is an invalid request shown on the
            // error page (never a redirect); `invalid_client` is the token
            // endpoint's 401.
            Err(AuthzError::OAuth(error)) if error.code == OAuthErrorCode::InvalidClient => {
                return Err(OAuthError::invalid_request(error.description).into());
            }
            Err(error) => return Err(error),
        };
        let app = app.ok_or_else(unknown_client)?;
        // RFC 9126 §4: a pushed request's `request_uri` stands for the whole
        // request, which replaces every other parameter; it is taken here,
        // once. Any other `request_uri` (a request object by reference) is
        // refused by the validation below, back to the client.
        let (params, pushed) = match params.single("request_uri")? {
            Some(request_uri) if request_uri.starts_with(REQUEST_URI_PREFIX) => {
                let taken = self.take_pushed(request_uri, client_id.as_str()).await?;
                (taken.params, Some(taken.expires_at))
            }
            _ if app.client.requirements.pushed_authorization_requests => {
                return Err(OAuthError::invalid_request(
                    "this application's authorization requests come only with a request_uri from the pushed \
                     authorization request endpoint (RFC 9126)",
                )
                .into());
            }
            _ => (params, None),
        };
        let scopes = self.scopes().await?;
        let request = match validate(&params, &(&app.client).into(), &scopes) {
            Ok(request) => request,
            Err(AuthorizeError::Untrusted(error)) => return Err(error.into()),
            Err(AuthorizeError::Redirect { redirect_uri, state, error, mode }) => {
                return Ok(Begin::Redirect(error_response(
                    &redirect_uri,
                    state.as_deref(),
                    &error,
                    &self.config().issuer,
                    mode,
                )));
            }
        };
        let redirect_error = |error: OAuthError| {
            let (state, mode) = (request.state.as_deref(), request.response_mode);
            Begin::Redirect(error_response(&request.redirect_uri, state, &error, &self.config().issuer, mode))
        };
        // RFC 8707 §2: every resource must be one the registry admits for
        // this client, or the request fails back to the client with invalid_target.
        if let Err(status) = self.inner.registry.resolve_resources(client_id.as_str(), &request.resources, false).await
        {
            return match gatehouse_proto::status::decode_oauth(&status) {
                Some(error) => Ok(redirect_error(error)),
                None => Err(AuthzError::registry(status)),
            };
        }
        let session = self.session(session_token).await?;
        // Whether the account could sign in with a second factor matters only
        // when the request asks for one the session lacks: then the registry
        // says (an app or a passkey added since the session was opened counts).
        let can_mfa = match &session {
            Some(s) if gatehouse_oauth::acr::needs_mfa(&request.acr_values) && !s.mfa() => {
                let factors = self.inner.registry.second_factors(&s.user.id).await.map_err(AuthzError::registry)?;
                factors.totp || (factors.passkeys_enabled && !factors.passkeys.is_empty())
            }
            _ => false,
        };
        let signed_in =
            session.as_ref().map(|s| SignedIn { user_id: &s.user.id, auth_time: s.auth_time, mfa: s.mfa(), can_mfa });
        match decision::sign_in(&request, signed_in, self.now()) {
            Ok(()) => {}
            Err(SignIn::Refuse(error)) => return Ok(redirect_error(error)),
            Err(SignIn::Page { reauthenticate }) => {
                let resume = decision::resume_after_sign_in(params.into_pairs(), request.prompt);
                let resume = match pushed {
                    Some(expires_at) => self.push_again(client_id.as_str(), expires_at, resume).await?,
                    None => resume,
                };
                return Ok(Begin::LoginRequired(LoginRequired {
                    application: app,
                    resume,
                    reauthenticate,
                    login_hint: request.login_hint.clone(),
                }));
            }
        }
        let Some(session) = session else {
            return Err(AuthzError::Internal("the sign-in step passed without a session".to_owned()));
        };
        let granted =
            self.inner.grants.grant(&session.user.id, client_id.as_str()).await?.map(|g| g.scopes).unwrap_or_default();
        let mut record = RequestRecord::from(&request);
        // RFC 6749 §4.1.3 asks the token request to repeat a redirect_uri the
        // authorization request named; the seed's token URL has no such
        // parameter, so its codes do not ask for it (exact registered URIs
        // and PKCE still bind the code).
        record.redirect_uri_given &= !seed_url;
        let identified = app.client.identified_by_redirect(&request.redirect_uri);
        let new_scopes = match decision::consent(&request, &granted, identified) {
            // Consent already covers this request: no page, as GitHub does.
            decision::Consent::Covered => return Ok(Begin::Redirect(self.issue_code(record, &session).await?)),
            decision::Consent::Refuse(error) => return Ok(redirect_error(error)),
            decision::Consent::Ask { new } => new,
        };
        let request_id = random_token("", RANDOM_CHARS_256_BITS);
        let pending = PendingRecord { user_id: session.user.id.clone(), request: record };
        let key = key::pending(SecretHash::of(&request_id).as_str());
        self.inner.kv.set(&key, &record::encode(&pending), self.config().consent_ttl).await?;
        Ok(Begin::Consent(Consent {
            request_id,
            application: app,
            new_scopes: describe(&new_scopes, &scopes),
            granted_scopes: describe(&granted, &scopes),
            redirect_uri: request.redirect_uri,
            resources: request.resources.into_iter().map(gatehouse_oauth::ResourceId::into_string).collect(),
        }))
    }
}
