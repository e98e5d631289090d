//! The user's list of authorized applications, and revoking one.

use gatehouse_runtime::registry_client::ClientApplication;

use crate::error::{AuthzError, AuthzResult};
use crate::record::key;
use crate::service::Authorization;
use crate::store::{Grant, GrantSubject};

impl Authorization {
    /// The user's grants with their applications; grants of deleted
    /// applications are left out.
    pub(crate) async fn list_grants(&self, user_id: &str) -> AuthzResult<Vec<(Grant, ClientApplication)>> {
        let mut out = Vec::new();
        for grant in self.inner.grants.list(user_id).await? {
            if let Some(app) = self.inner.registry.application(&grant.client_id).await.map_err(AuthzError::registry)? {
                out.push((grant, app));
            }
        }
        Ok(out)
    }

    /// Deletes the grant, so that no new code is issued without consent and
    /// no unredeemed code is accepted; the caller revokes the grant's tokens
    /// at the token service.
    /// Deletes every grant of a deleted application or user; for a user,
    /// also ends their sessions. Idempotent. Returns how many grants went.
    pub(crate) async fn revoke_subject_grants(&self, subject: GrantSubject<'_>) -> AuthzResult<u64> {
        if let GrantSubject::User(user_id) = subject {
            let ttl = self.config().session_ttl;
            self.inner.kv.set(&key::user_deleted(user_id), b"1", ttl).await?;
        }
        self.inner.grants.delete_all(subject).await
    }

    pub(crate) async fn revoke_grant(&self, user_id: &str, client_id: &str) -> AuthzResult<()> {
        if self.inner.grants.delete(user_id, client_id).await? {
            Ok(())
        } else {
            Err(AuthzError::NotFound(format!("no authorization of application {client_id:?}")))
        }
    }
}
