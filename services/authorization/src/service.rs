//! The service object shared by every use case.

use std::sync::Arc;

use gatehouse_client::Upstream;
use gatehouse_oauth::{Clock, ScopeCatalogue};
use gatehouse_proto::pb::common::v1::ScopeDescription;
use gatehouse_runtime::kv::Kv;
use tokio::sync::OnceCell;

use crate::config::AuthorizationConfig;
use crate::error::{AuthzError, AuthzResult};
use crate::registry::Registry;
use crate::store::GrantStore;

/// The scope catalogue as the registry serves it: rules and display texts.
#[derive(Debug)]
pub(crate) struct Scopes {
    pub(crate) catalogue: ScopeCatalogue,
    pub(crate) descriptions: Vec<ScopeDescription>,
}

/// The authorization service: cheap to clone.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: AuthorizationConfig,
    pub(crate) grants: Arc<dyn GrantStore>,
    pub(crate) kv: Arc<dyn Kv>,
    pub(crate) registry: Registry,
    pub(crate) clock: Arc<dyn Clock>,
    scopes: OnceCell<Arc<Scopes>>,
}

impl Authorization {
    pub(crate) fn new(
        config: AuthorizationConfig,
        grants: Arc<dyn GrantStore>,
        kv: Arc<dyn Kv>,
        registry: Upstream,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let inner = Inner { config, grants, kv, registry: Registry::new(registry), clock, scopes: OnceCell::new() };
        Self { inner: Arc::new(inner) }
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now().timestamp()
    }

    pub fn config(&self) -> &AuthorizationConfig {
        &self.inner.config
    }

    /// The catalogue, fetched from the registry once: it is static configuration there.
    pub(crate) async fn scopes(&self) -> AuthzResult<Arc<Scopes>> {
        self.inner
            .scopes
            .get_or_try_init(|| async {
                let descriptions = self.inner.registry.scopes().await?;
                let catalogue = ScopeCatalogue::new(
                    descriptions.iter().map(|d| (d.name.clone(), d.description.clone(), d.description_zh.clone())),
                )
                .map_err(|e| AuthzError::InvalidArgument(format!("registry scope catalogue: {e}")))?;
                Ok(Arc::new(Scopes { catalogue, descriptions }))
            })
            .await
            .cloned()
    }
}
