//! The user's list of authorized applications, and revoking one.

use gatehouse_proto::pb::authorization::v1::ApplicationSummary;

use crate::error::{AuthzError, AuthzResult};
use crate::registry::summary;
use crate::service::Authorization;
use crate::store::Grant;

impl Authorization {
    /// The user's grants with their applications; grants of deleted
    /// applications are left out.
    pub(crate) async fn list_grants(&self, user_id: &str) -> AuthzResult<Vec<(Grant, ApplicationSummary)>> {
        let mut out = Vec::new();
        for grant in self.inner.grants.list(user_id).await? {
            if let Some(app) = self.inner.registry.application(&grant.client_id).await? {
                out.push((grant, summary(&app)));
            }
        }
        Ok(out)
    }

    /// Deletes the grant, so that no new code is issued without consent and
    /// no unredeemed code is accepted; the caller revokes the grant's tokens
    /// at the token service.
    pub(crate) async fn revoke_grant(&self, user_id: &str, client_id: &str) -> AuthzResult<()> {
        if self.inner.grants.delete(user_id, client_id).await? {
            Ok(())
        } else {
            Err(AuthzError::NotFound(format!("no authorization of application {client_id:?}")))
        }
    }
}
