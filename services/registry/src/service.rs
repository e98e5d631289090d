//! The registry's service object. Its use cases live one module per
//! resource (`users`, `applications`, `secrets`); every rule about accounts
//! and applications is there, and the gRPC adapter only converts.

use std::sync::Arc;

use gatehouse_oauth::{Clock, ScopeCatalogue};

use gatehouse_runtime::kv::Kv;

use crate::assertion::Assertions;
use crate::config::RegistryConfig;
use crate::dependents::Dependents;
use crate::error::{RegistryError, RegistryResult};
use crate::metadata_document::MetadataDocuments;
use crate::password::PasswordHasherArgon2;
use crate::store::Stores;
use gatehouse_fetch::Fetcher;

/// The registry: accounts, applications, secrets and scopes.
#[derive(Debug, Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: RegistryConfig,
    pub(crate) stores: Stores,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hasher: PasswordHasherArgon2,
    pub(crate) dependents: Dependents,
    /// The shared cache: assertion `jti`s, registration limits.
    pub(crate) kv: Arc<dyn Kv>,
    pub(crate) documents: MetadataDocuments,
    pub(crate) assertions: Assertions,
    /// The workload token issuers in force (workload identity federation).
    pub(crate) federation: crate::federation::Trusted,
    /// The registry's audit trail.
    pub(crate) audit: gatehouse_runtime::audit::AuditLog,
    /// What this part's readiness follows.
    pub(crate) readiness: gatehouse_runtime::part::Readiness,
    /// Sends reset and confirmation links; None without mail settings.
    pub(crate) mailer: Option<crate::mail::Mailer>,
    /// The WebAuthn relying party (the issuer); None when the issuer is not a domain name.
    pub(crate) webauthn: Option<webauthn_rs::Webauthn>,
}

impl Registry {
    pub(crate) fn new(
        config: RegistryConfig,
        stores: Stores,
        dependents: Dependents,
        kv: Arc<dyn Kv>,
        clock: Arc<dyn Clock>,
        audit: gatehouse_runtime::audit::AuditLog,
        readiness: gatehouse_runtime::part::Readiness,
    ) -> RegistryResult<Self> {
        let hasher = PasswordHasherArgon2::new(config.password)?;
        let fetcher = Fetcher::new(config.fetch.clone());
        let documents = MetadataDocuments::new(config.metadata_documents.clone(), fetcher.clone());
        let assertions = Assertions::new(config.issuer.clone(), fetcher, kv.clone());
        let federation = crate::federation::Trusted::new(config.federation.clone(), config.federation_file.clone());
        let mailer = match &config.mail {
            Some(mail) => {
                Some(crate::mail::Mailer::new(mail).map_err(|e| RegistryError::FailedPrecondition(e.to_string()))?)
            }
            None => None,
        };
        let webauthn = crate::passkeys::relying_party(&config.issuer);
        Ok(Self {
            inner: Arc::new(Inner {
                webauthn,
                config,
                stores,
                clock,
                hasher,
                dependents,
                kv,
                documents,
                assertions,
                federation,
                audit,
                readiness,
                mailer,
            }),
        })
    }

    /// The registry's audit trail.
    pub fn audit(&self) -> &gatehouse_runtime::audit::AuditLog {
        &self.inner.audit
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now().timestamp()
    }

    /// The storage, one narrow trait per concern.
    pub(crate) fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    pub fn scopes(&self) -> &ScopeCatalogue {
        &self.inner.config.scopes
    }
}
