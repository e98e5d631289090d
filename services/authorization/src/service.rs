//! The service object shared by every use case.

use std::sync::Arc;

use gatehouse_oauth::{Clock, ScopeCatalogue};
use gatehouse_runtime::clients::registry::RegistryClient;
use gatehouse_runtime::kv::Kv;
use gatehouse_upstream::Upstream;
use tokio::sync::OnceCell;

use crate::config::AuthorizationConfig;
use crate::error::{AuthzError, AuthzResult};
use crate::store::GrantStore;

/// The authorization service: cheap to clone.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: AuthorizationConfig,
    pub(crate) grants: Arc<dyn GrantStore>,
    /// Where each account is signed in (the sessions themselves are in the cache).
    pub(crate) sessions: Arc<dyn crate::store::SessionStore>,
    pub(crate) kv: Arc<dyn Kv>,
    pub(crate) registry: RegistryClient,
    pub(crate) clock: Arc<dyn Clock>,
    scopes: OnceCell<Arc<ScopeCatalogue>>,
    /// The authorization service's audit trail.
    pub(crate) audit: gatehouse_runtime::audit::AuditLog,
    /// What this part's readiness follows.
    pub(crate) readiness: gatehouse_runtime::part::Readiness,
}

impl Authorization {
    pub(crate) fn new(
        config: AuthorizationConfig,
        (grants, sessions): (Arc<dyn GrantStore>, Arc<dyn crate::store::SessionStore>),
        kv: Arc<dyn Kv>,
        registry: Upstream,
        clock: Arc<dyn Clock>,
        audit: gatehouse_runtime::audit::AuditLog,
        readiness: gatehouse_runtime::part::Readiness,
    ) -> Self {
        let registry = RegistryClient::new(registry);
        let inner = Inner { config, grants, sessions, kv, registry, clock, scopes: OnceCell::new(), audit, readiness };
        Self { inner: Arc::new(inner) }
    }

    /// The authorization service's audit trail.
    pub fn audit(&self) -> &gatehouse_runtime::audit::AuditLog {
        &self.inner.audit
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now().timestamp()
    }

    pub fn config(&self) -> &AuthorizationConfig {
        &self.inner.config
    }

    /// The catalogue (rules and display texts), fetched from the registry
    /// once: it is static configuration there.
    pub(crate) async fn scopes(&self) -> AuthzResult<Arc<ScopeCatalogue>> {
        self.inner
            .scopes
            .get_or_try_init(|| async {
                let descriptions = self.inner.registry.scopes().await.map_err(AuthzError::registry)?;
                let catalogue =
                    ScopeCatalogue::new(descriptions.into_iter().map(|d| (d.name, d.description, d.description_zh)))
                        // The registry validated its catalogue at start: not the caller's fault.
                        .map_err(|e| AuthzError::Internal(format!("the registry's scope catalogue: {e}")))?;
                Ok(Arc::new(catalogue))
            })
            .await
            .cloned()
    }
}
