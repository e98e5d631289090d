//! The services that hold state about the registry's applications and
//! users: the token service (tokens) and the authorization service (grants,
//! sessions). A user's revocation of one application's authorization goes
//! through here too, so that one call ends the consent and its tokens. Deleting an application or a user revokes it there first, in
//! the same call, so that nothing it held keeps working after the deletion
//! returns; when either cannot, nothing is deleted and the caller retries
//! (both revocations are idempotent).

use gatehouse_proto::pb::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use gatehouse_proto::pb::authorization::v1::{
    RevokeGrantRequest, RevokeSubjectGrantsRequest, SignOutSessionsRequest, revoke_subject_grants_request,
    sign_out_sessions_request,
};
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_proto::pb::token::v1::{
    RevokeAllForGrantRequest, RevokeAllForSubjectRequest, revoke_all_for_subject_request,
};
use gatehouse_upstream::Upstream;

use crate::error::{RegistryError, RegistryResult};

/// Channels to the token and authorization services.
#[derive(Debug, Clone)]
pub(crate) struct Dependents {
    token: Upstream,
    authorization: Upstream,
}

/// What is being deleted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deleted<'a> {
    Application(&'a str),
    User(&'a str),
}

impl Dependents {
    pub(crate) fn new(token: Upstream, authorization: Upstream) -> Self {
        Self { token, authorization }
    }

    /// Ends one user's authorization of one application: the consent first
    /// (no new codes), then every token of the grant. Both steps are
    /// idempotent. Returns whether a consent existed and how many live
    /// tokens were revoked.
    pub(crate) async fn revoke_grant(&self, user_id: &str, client_id: &str) -> RegistryResult<(bool, u64)> {
        let consent = RevokeGrantRequest { user_id: user_id.to_owned(), client_id: client_id.to_owned() };
        let existed = match AuthorizationServiceClient::new(self.authorization.clone()).revoke_grant(consent).await {
            Ok(_) => true,
            Err(status) if status.code() == tonic::Code::NotFound => false,
            Err(status) => return Err(RegistryError::Upstream { service: "authorization service", status }),
        };
        let grant = RevokeAllForGrantRequest { user_id: user_id.to_owned(), client_id: client_id.to_owned() };
        let subject = revoke_all_for_subject_request::Subject::Grant(grant);
        let revoked = TokenServiceClient::new(self.token.clone())
            .revoke_all_for_subject(RevokeAllForSubjectRequest { subject: Some(subject) })
            .await
            .map_err(|status| RegistryError::Upstream { service: "token service", status })?
            .into_inner()
            .revoked;
        Ok((existed, revoked))
    }

    /// Revokes everything `deleted` holds: tokens first (they are what
    /// works without a consent), then grants and sessions.
    pub(crate) async fn revoke(&self, deleted: Deleted<'_>) -> RegistryResult<()> {
        let (token_subject, grant_subject) = match deleted {
            Deleted::Application(id) => (
                revoke_all_for_subject_request::Subject::ClientId(id.to_owned()),
                revoke_subject_grants_request::Subject::ClientId(id.to_owned()),
            ),
            Deleted::User(id) => (
                revoke_all_for_subject_request::Subject::UserId(id.to_owned()),
                revoke_subject_grants_request::Subject::UserId(id.to_owned()),
            ),
        };
        TokenServiceClient::new(self.token.clone())
            .revoke_all_for_subject(RevokeAllForSubjectRequest { subject: Some(token_subject) })
            .await
            .map_err(|status| RegistryError::Upstream { service: "token service", status })?;
        AuthorizationServiceClient::new(self.authorization.clone())
            .revoke_subject_grants(RevokeSubjectGrantsRequest { subject: Some(grant_subject) })
            .await
            .map_err(|status| RegistryError::Upstream { service: "authorization service", status })?;
        Ok(())
    }

    /// Ends every session and token of a user who keeps their account (a
    /// password reset): tokens first, then sessions; both idempotent.
    pub(crate) async fn sign_out_everywhere(&self, user_id: &str) -> RegistryResult<()> {
        let subject = revoke_all_for_subject_request::Subject::UserSignedOut(user_id.to_owned());
        TokenServiceClient::new(self.token.clone())
            .revoke_all_for_subject(RevokeAllForSubjectRequest { subject: Some(subject) })
            .await
            .map_err(|status| RegistryError::Upstream { service: "token service", status })?;
        let which = sign_out_sessions_request::Which::AllButSessionToken(String::new());
        AuthorizationServiceClient::new(self.authorization.clone())
            .sign_out_sessions(SignOutSessionsRequest { user_id: user_id.to_owned(), which: Some(which) })
            .await
            .map_err(|status| RegistryError::Upstream { service: "authorization service", status })?;
        Ok(())
    }
}
