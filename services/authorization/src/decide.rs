//! Decide: the user's approve or deny of a pending request.

use gatehouse_oauth::authorize::{ClientResponse, error_response};
use gatehouse_oauth::{OAuthError, OAuthErrorCode, SecretHash};

use crate::error::{AuthzError, AuthzResult};
use crate::record::{self, PendingRecord, key};
use crate::service::Authorization;

impl Authorization {
    /// Records a consent in the audit trail (the grant is stored).
    pub(crate) async fn consent_granted(&self, user_id: &str, client_id: &str, scopes: &str, source: &str) {
        use gatehouse_runtime::audit::{Actor, AuditEvent, Outcome};
        let event = AuditEvent::new(
            "consent.granted",
            Outcome::Success,
            Actor::user(user_id, "session"),
            format!("application:{client_id}"),
        )
        .subject(user_id)
        .source(source)
        .details(serde_json::json!({ "scopes": scopes }));
        self.inner.audit.record(event).await;
    }

    /// Answers a consent page once: the pending request is taken atomically,
    /// so a double submit cannot mint two codes.
    pub(crate) async fn decide(
        &self,
        session_token: &str,
        request_id: &str,
        approve: bool,
    ) -> AuthzResult<ClientResponse> {
        let session = self.require_session(session_token).await?;
        let key = key::pending(SecretHash::of(request_id).as_str());
        let bytes = self.inner.kv.take(&key).await?.ok_or(AuthzError::RequestExpired)?;
        let pending: PendingRecord = record::decode(&bytes)?;
        if pending.user_id != session.user.id {
            return Err(AuthzError::RequestExpired);
        }
        let request = pending.request;
        if !approve {
            let error = OAuthError::new(OAuthErrorCode::AccessDenied, "the user denied the request");
            let (state, mode) = (request.state.as_deref(), request.response_mode());
            return Ok(error_response(&request.redirect_uri, state, &error, &self.config().issuer, mode));
        }
        let client_id = request.client_id()?;
        self.inner.grants.add_scopes(&session.user.id, client_id.as_str(), &request.scopes(), self.now()).await?;
        self.consent_granted(&session.user.id, client_id.as_str(), &request.scopes().to_string(), "").await;
        self.issue_code(request, &session).await
    }
}
