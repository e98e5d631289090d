//! The user's list of authorized applications, and revoking one.

use gatehouse_runtime::clients::registry::ClientApplication;

use crate::error::{AuthzError, AuthzResult};
use crate::record::key;
use crate::service::Authorization;
use crate::store::{Grant, GrantSubject};

/// A client known only by its id (its metadata document failed).
fn unresolved(client_id: &str, reason: &str) -> Option<ClientApplication> {
    let client = gatehouse_oauth::RegisteredClient {
        client_id: gatehouse_oauth::ClientId::parse(client_id)?,
        client_type: gatehouse_oauth::ClientType::Public,
        grant_types: Vec::new(),
        redirect_uris: Vec::new(),
        scopes: gatehouse_oauth::ScopeSet::default(),
        post_logout_redirect_uris: Vec::new(),
        introspects_for: Vec::new(),
        registration: gatehouse_oauth::Registration::MetadataDocument,
        id_token_alg: gatehouse_oauth::SigningAlg::default(),
        requirements: gatehouse_oauth::ClientRequirements::default(),
    };
    Some(ClientApplication {
        client,
        owner_id: String::new(),
        name: client_id.to_owned(),
        description: reason.to_owned(),
        homepage_url: String::new(),
        logo_url: String::new(),
    })
}

impl Authorization {
    /// The user's grants with their applications; grants of deleted
    /// applications are left out.
    pub(crate) async fn list_grants(&self, user_id: &str) -> AuthzResult<Vec<(Grant, ClientApplication)>> {
        let mut out = Vec::new();
        for grant in self.inner.grants.list(user_id).await? {
            match self.inner.registry.application(&grant.client_id).await.map_err(AuthzError::registry) {
                Ok(Some(app)) => out.push((grant, app)),
                Ok(None) => {}
                // A metadata document's client whose document cannot be
                // used now: still listed, so that the person can revoke it.
                Err(AuthzError::OAuth(error)) => {
                    if let Some(app) = unresolved(&grant.client_id, &error.description) {
                        out.push((grant, app));
                    }
                }
                Err(error) => return Err(error),
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
