//! BeginAuthorization: validate the request, then say what to show next.

use gatehouse_oauth::authorize::{
    AuthorizeError, ClientResponse, Params, error_response, requested_client_id, unknown_client, validate,
};
use gatehouse_oauth::oidc::Prompt;
use gatehouse_oauth::scope::{ScopeCatalogue, ScopeEntry};
use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{OAuthError, OAuthErrorCode, ScopeSet, SecretHash, random_token};
use gatehouse_runtime::registry_client::ClientApplication;

use crate::error::{AuthzError, AuthzResult};
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
    /// The request's parameters to come back with: without what asked for
    /// this login (`prompt=login`/`select_account`, `max_age`), which the
    /// fresh sign-in satisfies; kept, they would ask again forever.
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

/// What is left of `prompt` once the user has signed in: `consent` still
/// asks for the consent page.
fn prompt_without_login(prompt: &Prompt) -> Option<String> {
    prompt.consent.then(|| "consent".to_owned())
}

fn describe(scopes: &ScopeSet, catalogue: &ScopeCatalogue) -> Vec<ScopeEntry> {
    // Catalogue order, which is the order a person reads them in.
    catalogue.entries().iter().filter(|entry| scopes.contains(&entry.scope)).cloned().collect()
}

impl Authorization {
    /// Validates in RFC order: client and redirect URI first (errors there
    /// are shown, never redirected), then everything else (errors go back to
    /// the client); then login, consent, or a code when consent was given.
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
        // OpenID Connect Core §3.1.2.1: a session too old for max_age, of
        // another user than the hint names, or prompt=login, signs in again.
        let stale = session.as_ref().is_some_and(|s| {
            request.max_age.is_some_and(|max| self.now().saturating_sub(s.auth_time) > max)
                || request.hinted_subject.as_ref().is_some_and(|sub| *sub != s.user.id)
        });
        let session = match session {
            Some(session) if !stale && !request.prompt.forces_login() => session,
            existing => {
                if request.prompt.none {
                    return Ok(redirect_error(OAuthError::new(
                        OAuthErrorCode::LoginRequired,
                        "the user is not signed in",
                    )));
                }
                let resume = params
                    .without(&["prompt", "max_age"])
                    .into_pairs()
                    .into_iter()
                    .chain(prompt_without_login(&request.prompt).map(|p| ("prompt".to_owned(), p)))
                    .collect();
                return Ok(Begin::LoginRequired(LoginRequired {
                    application: app,
                    resume,
                    reauthenticate: existing.is_some(),
                    login_hint: request.login_hint.clone(),
                }));
            }
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
        if request.scopes.is_subset(&granted) && !request.prompt.consent && identified {
            // Consent already covers this request: no page, as GitHub does.
            return Ok(Begin::Redirect(self.issue_code(record, &session).await?));
        }
        if request.prompt.none {
            let description = if identified {
                "the user has not approved these scopes"
            } else {
                "this client's redirect cannot prove who it is: the user approves every request"
            };
            return Ok(redirect_error(OAuthError::new(OAuthErrorCode::ConsentRequired, description)));
        }
        let request_id = random_token("", RANDOM_CHARS_256_BITS);
        let pending = PendingRecord { user_id: session.user.id.clone(), request: record };
        let key = key::pending(SecretHash::of(&request_id).as_str());
        self.inner.kv.set(&key, &record::encode(&pending), self.config().consent_ttl).await?;
        Ok(Begin::Consent(Consent {
            request_id,
            application: app,
            new_scopes: describe(&request.scopes.difference(&granted), &scopes),
            granted_scopes: describe(&granted, &scopes),
            redirect_uri: request.redirect_uri,
            resources: request.resources.into_iter().map(gatehouse_oauth::ResourceId::into_string).collect(),
        }))
    }
}
