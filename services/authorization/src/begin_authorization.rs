//! BeginAuthorization: validate the request, then say what to show next.

use gatehouse_oauth::authorize::{
    AuthorizeError, Params, error_redirect, requested_client_id, unknown_client, validate,
};
use gatehouse_oauth::scope::{ScopeCatalogue, ScopeEntry};
use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{ScopeSet, SecretHash, random_token};
use gatehouse_runtime::registry_client::ClientApplication;

use crate::error::{AuthzError, AuthzResult};
use crate::record::{self, PendingRecord, RequestRecord, key};
use crate::service::Authorization;

/// What the gateway shows next.
#[derive(Debug)]
pub(crate) enum Begin {
    LoginRequired(ClientApplication),
    Consent(Consent),
    /// A 303 to the client: with a code, or with an error.
    Redirect(String),
}

#[derive(Debug)]
pub(crate) struct Consent {
    pub(crate) request_id: String,
    pub(crate) application: ClientApplication,
    pub(crate) new_scopes: Vec<ScopeEntry>,
    pub(crate) granted_scopes: Vec<ScopeEntry>,
    pub(crate) redirect_uri: String,
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
    ) -> AuthzResult<Begin> {
        let client_id = requested_client_id(&params)?;
        let app = self.inner.registry.application(client_id.as_str()).await.map_err(AuthzError::registry)?;
        let app = app.ok_or_else(unknown_client)?;
        let scopes = self.scopes().await?;
        let request = match validate(&params, &(&app.client).into(), &scopes) {
            Ok(request) => request,
            Err(AuthorizeError::Untrusted(error)) => return Err(error.into()),
            Err(AuthorizeError::Redirect { redirect_uri, state, error }) => {
                return Ok(Begin::Redirect(error_redirect(
                    &redirect_uri,
                    state.as_deref(),
                    &error,
                    &self.config().issuer,
                )));
            }
        };
        let Some(session) = self.session(session_token).await? else {
            return Ok(Begin::LoginRequired(app));
        };
        let granted =
            self.inner.grants.grant(&session.user.id, client_id.as_str()).await?.map(|g| g.scopes).unwrap_or_default();
        let mut record = RequestRecord::from(&request);
        // RFC 6749 §4.1.3 asks the token request to repeat a redirect_uri the
        // authorization request named; the seed's token URL has no such
        // parameter, so its codes do not ask for it (exact registered URIs
        // and PKCE still bind the code).
        record.redirect_uri_given &= !seed_url;
        if request.scopes.is_subset(&granted) {
            // Consent already covers this request: no page, as GitHub does.
            return Ok(Begin::Redirect(self.issue_code(record, &session).await?));
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
        }))
    }
}
