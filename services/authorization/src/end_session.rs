//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2-3): a
//! relying party sends the user here to end their Gatehouse session.
//!
//! The rules, in order: the client is the hint's audience or `client_id`
//! (both given, they must agree); a `post_logout_redirect_uri` needs that
//! client and must be exactly one of its registered redirect URIs (else an
//! error page, never a redirect); a session is ended at once only when the
//! verified hint names its user (a logout request is a cross-site GET, so a
//! page of another site must not be able to sign the user out unasked),
//! otherwise the user confirms first.

use gatehouse_oauth::authorize::redirect_with;
use gatehouse_runtime::clients::registry::ClientApplication;

use crate::error::{AuthzError, AuthzResult};
use crate::service::Authorization;

/// A logout request, its hint already verified by the token service.
#[derive(Debug, Default)]
pub(crate) struct EndSession {
    pub(crate) session_token: gatehouse_oauth::SessionToken,
    /// The user and client a verified `id_token_hint` names.
    pub(crate) hint: Option<(String, String)>,
    pub(crate) client_id: Option<String>,
    pub(crate) post_logout_redirect_uri: Option<String>,
    pub(crate) state: Option<String>,
    /// The user confirmed on the logout page.
    pub(crate) confirmed: bool,
}

#[derive(Debug)]
pub(crate) enum Ended {
    /// Signed out: send the browser here.
    Redirect(String),
    /// Signed out, nowhere to go: show that.
    SignedOut,
    /// Ask the user first.
    Confirm(Option<Box<ClientApplication>>),
}

impl Authorization {
    pub(crate) async fn end_session(&self, request: EndSession) -> AuthzResult<Ended> {
        let hinted_client = request.hint.as_ref().map(|(_, client)| client.clone());
        let client_id = match (hinted_client, request.client_id) {
            (Some(hinted), Some(given)) if hinted != given => {
                return Err(AuthzError::invalid("client_id", "is not the audience of id_token_hint"));
            }
            (hinted, given) => hinted.or(given),
        };
        let app = match &client_id {
            Some(id) => Some(
                self.inner
                    .registry
                    .application(id)
                    .await
                    .map_err(AuthzError::registry)?
                    .ok_or_else(|| AuthzError::invalid("client_id", "names no registered application"))?,
            ),
            None => None,
        };
        let destination = match (&request.post_logout_redirect_uri, &app) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(AuthzError::invalid(
                    "post_logout_redirect_uri",
                    "needs id_token_hint or client_id to say whose it is",
                ));
            }
            // Registered URIs only: the application's post-logout URIs, or
            // its redirect URIs when it registered none (Keycloak's "+").
            (Some(uri), Some(app)) if app.client.allows_post_logout(uri) => Some(uri.clone()),
            (Some(_), Some(_)) => {
                return Err(AuthzError::invalid(
                    "post_logout_redirect_uri",
                    "is not a registered post-logout redirect URI of the application",
                ));
            }
        };
        if let Some(session) = self.session(request.session_token.expose()).await? {
            let hint_is_this_user = request.hint.as_ref().is_some_and(|(sub, _)| *sub == session.user.id);
            if !hint_is_this_user && !request.confirmed {
                return Ok(Ended::Confirm(app.map(Box::new)));
            }
            self.logout(request.session_token.expose()).await?;
        }
        Ok(match destination {
            Some(uri) => Ended::Redirect(match request.state.as_deref() {
                Some(state) => redirect_with(&uri, &[("state", state)]),
                None => uri,
            }),
            None => Ended::SignedOut,
        })
    }
}
