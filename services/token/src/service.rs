//! The service object shared by every use case.

use std::sync::Arc;

use gatehouse_client::Upstream;
use gatehouse_oauth::Clock;
use gatehouse_runtime::kv::Kv;

use crate::clients::Clients;
use crate::config::TokenConfig;
use crate::store::TokenStore;

/// The token service: cheap to clone.
#[derive(Debug, Clone)]
pub struct TokenService {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: TokenConfig,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) kv: Arc<dyn Kv>,
    pub(crate) clients: Clients,
    pub(crate) clock: Arc<dyn Clock>,
}

impl TokenService {
    pub(crate) fn new(
        config: TokenConfig,
        store: Arc<dyn TokenStore>,
        kv: Arc<dyn Kv>,
        registry: Upstream,
        authorization: Upstream,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let clients = Clients::new(registry, authorization, config.client_auth_cache, clock.clone());
        Self { inner: Arc::new(Inner { config, store, kv, clients, clock }) }
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now().timestamp()
    }

    pub fn config(&self) -> &TokenConfig {
        &self.inner.config
    }
}
