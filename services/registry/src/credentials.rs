//! Internal credentials (`gic_…`): issued to operators (and to parts that
//! have no workload certificate) by an operator, or by `gatehouse credential
//! bootstrap` on a fresh database; kept only as hashes; listed, expired and
//! revoked. The registry answers for them: its own guard looks them up
//! here, the other services through `AuthenticateCredential`.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_oauth::{InternalCredential, SecretHash};
use gatehouse_runtime::access::{Caller, Mechanism, Role, Unavailable, Verifier};

use crate::error::{RegistryError, RegistryResult};
use crate::model::CredentialInfo;
use crate::service::Registry;
use crate::validate;

impl Registry {
    /// Issues a credential for `role`, recorded as made by `created_by`.
    pub async fn create_credential(
        &self,
        name: &str,
        role: &str,
        ttl: Option<Duration>,
        created_by: &str,
    ) -> RegistryResult<(CredentialInfo, InternalCredential)> {
        let role = Role::parse(role).ok_or_else(|| {
            RegistryError::invalid(
                "role",
                "must be one of operator, validator, gateway, registry, authorization, token",
            )
        })?;
        let now = self.now();
        let info = CredentialInfo {
            id: uuid::Uuid::now_v7().to_string(),
            name: validate::line("name", name, 1, 100)?,
            role,
            created_by: created_by.to_owned(),
            created_at: now,
            expires_at: ttl.map(|ttl| now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)),
            revoked_at: None,
        };
        let credential = InternalCredential::generate();
        self.stores().credentials.insert_credential(&info, &credential.hash()).await?;
        tracing::info!(id = %info.id, role = %info.role, created_by, "internal credential created");
        Ok((info, credential))
    }

    pub async fn list_credentials(&self) -> RegistryResult<Vec<CredentialInfo>> {
        self.stores().credentials.list_credentials().await
    }

    pub async fn revoke_credential(&self, id: &str) -> RegistryResult<()> {
        if self.stores().credentials.revoke_credential(id, self.now()).await? {
            tracing::info!(id, "internal credential revoked");
            Ok(())
        } else {
            Err(RegistryError::NotFound(format!("no credential {id:?} that is not already revoked")))
        }
    }

    /// The credential's record when it is valid now; `None` for anything
    /// else (malformed, unknown, expired, revoked).
    pub async fn authenticate_credential(&self, presented: &str) -> RegistryResult<Option<CredentialInfo>> {
        if !InternalCredential::is_well_formed(presented) {
            return Ok(None);
        }
        let found = self.stores().credentials.credential_by_hash(&SecretHash::of(presented)).await?;
        Ok(found.filter(|info| info.is_valid_at(self.now())))
    }
}

/// The registry's own guard: credentials looked up in its store.
#[derive(Debug, Clone)]
pub(crate) struct StoredCredentials(pub(crate) Registry);

#[tonic::async_trait]
impl Verifier for StoredCredentials {
    async fn verify(&self, bearer: &str) -> Result<Option<Caller>, Unavailable> {
        match self.0.authenticate_credential(bearer).await {
            Ok(found) => Ok(found.map(|info| Caller {
                role: info.role,
                name: format!("{} ({})", info.name, info.id),
                mechanism: Mechanism::Credential,
                client_id: None,
                audiences: None,
                remote: None,
            })),
            Err(error) => Err(Unavailable(error.to_string())),
        }
    }
}

/// [`StoredCredentials`] behind the verification cache.
pub(crate) fn verifier(registry: Registry) -> Arc<dyn Verifier> {
    gatehouse_runtime::access::cached(Arc::new(StoredCredentials(registry)))
}
