//! What every part is built from besides its own configuration, one value
//! the same for all of them: `build(config, dependencies)` then
//! `serve(part, listener, limits, shutdown)`.

use std::sync::Arc;

use gatehouse_oauth::Clock;
use gatehouse_upstream::Upstreams;
use sea_orm::DatabaseConnection;

use crate::kv::Kv;

/// The shared state and the channels a part is built on.
#[derive(Debug, Clone)]
pub struct Dependencies {
    /// The database, migrated.
    pub db: DatabaseConnection,
    /// The cache the replicas share.
    pub kv: Arc<dyn Kv>,
    /// One clock for every part (the database's in a deployment).
    pub clock: Arc<dyn Clock>,
    /// The other parts.
    pub upstreams: Upstreams,
}

impl Dependencies {
    /// Ready while the database answers.
    pub fn database_readiness(&self) -> Readiness {
        Readiness { db: self.db.clone(), kv: None }
    }

    /// Ready while the database and the cache both answer.
    pub fn database_and_cache_readiness(&self) -> Readiness {
        Readiness { db: self.db.clone(), kv: Some(self.kv.clone()) }
    }
}

/// What a part's readiness follows (`grpc.health.v1`, `/readyz`).
#[derive(Debug, Clone)]
pub struct Readiness {
    db: DatabaseConnection,
    kv: Option<Arc<dyn Kv>>,
}

impl Readiness {
    /// One cheap round trip to each.
    pub async fn check(&self) -> bool {
        let cache = match &self.kv {
            Some(kv) => kv.ping().await.is_ok(),
            None => true,
        };
        cache && crate::database::ping(&self.db).await
    }
}

/// The gRPC health of every service in this process, for the plain HTTP
/// `/readyz` of the metrics port: kubelet's native gRPC probes cannot speak
/// TLS, so pods whose gRPC port does are probed there instead.
pub mod serving {
    use std::collections::BTreeMap;
    use std::sync::{LazyLock, RwLock};

    static SERVICES: LazyLock<RwLock<BTreeMap<String, bool>>> = LazyLock::new(RwLock::default);

    pub(crate) fn set(service_name: &str, serving: bool) {
        SERVICES.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(service_name.to_owned(), serving);
    }

    /// True when every gRPC service of the process is SERVING (and when it has none).
    pub fn ready() -> bool {
        SERVICES.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().all(|serving| *serving)
    }
}
