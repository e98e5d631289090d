//! The test harness: real services on `127.0.0.1:0`, a fresh database per
//! test (a SQLite file, or a new PostgreSQL database), and typed clients.
//!
//! A dependency the test asks for and cannot reach fails the test with a
//! message saying what to start; nothing is ever skipped.

mod database;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_oauth::SystemClock;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_registry::{PasswordParams, RegistryConfig};
use gatehouse_runtime::Shutdown;
use gatehouse_runtime::grpc::ServerLimits;
use gatehouse_runtime::shutdown::ShutdownTrigger;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tonic::transport::Channel;

pub use database::{Backend, TestDatabase};

/// Which cache a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    Memory,
    Redis,
}

/// A cache of its own for one test: a fresh key prefix on the Redis named by
/// `TEST_REDIS_URL`, or a new in-process map.
pub async fn test_kv(backend: CacheBackend) -> Arc<dyn gatehouse_runtime::kv::Kv> {
    gatehouse_runtime::kv::open(&test_kv_url(backend), &test_kv_prefix()).await.expect("open the test cache")
}

/// The cache URL of `backend`; panics with a clear message when Redis is not configured.
pub fn test_kv_url(backend: CacheBackend) -> String {
    match backend {
        CacheBackend::Memory => "memory://".to_owned(),
        CacheBackend::Redis => std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| {
            panic!("TEST_REDIS_URL is not set: run the suite through tests/run.sh, which starts Redis")
        }),
    }
}

/// A key prefix no other test uses.
pub fn test_kv_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// argon2 parameters small enough for tests (debug builds, 2 cores) while
/// still exercising the real argon2id code path.
pub const TEST_PASSWORD_PARAMS: PasswordParams = PasswordParams { memory_kib: 1024, iterations: 1, parallelism: 1 };

/// Configures a [`TestEnv`].
#[derive(Debug, Clone, Copy)]
pub struct TestEnvBuilder {
    backend: Backend,
}

/// Running services of one test. Dropping it stops them.
#[derive(Debug)]
pub struct TestEnv {
    pub database: TestDatabase,
    pub db: DatabaseConnection,
    pub registry_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    trigger: ShutdownTrigger,
}

impl TestEnv {
    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder { backend: Backend::Sqlite }
    }

    /// A gRPC client of the registry.
    pub async fn registry(&self) -> RegistryServiceClient<Channel> {
        RegistryServiceClient::new(self.channel(self.registry_addr).await)
    }

    /// A connected channel to one of this environment's gRPC servers.
    pub async fn channel(&self, addr: SocketAddr) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("valid address")
            .connect()
            .await
            .expect("test server accepts connections")
    }

    /// The gateway's base URL, without a trailing slash.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}

impl TestEnvBuilder {
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    pub fn postgres(self) -> Self {
        self.backend(Backend::Postgres)
    }

    /// Starts the registry and the gateway; returns once both accept connections.
    pub async fn start(self) -> TestEnv {
        let database = TestDatabase::create(self.backend).await;
        let db = gatehouse_runtime::database::connect(database.url(), 5).await.expect("connect to the test database");
        gatehouse_registry::migration::Migrator::up(&db, None).await.expect("registry migrations");
        let (trigger, shutdown) = Shutdown::new();

        let registry_listener = bind().await;
        let registry_addr = registry_listener.local_addr().expect("bound address");
        let config = RegistryConfig { password: TEST_PASSWORD_PARAMS, ..RegistryConfig::default() };
        let registry = gatehouse_registry::build(config, db.clone(), Arc::new(SystemClock)).expect("registry builds");
        tokio::spawn(gatehouse_registry::serve(
            registry,
            db.clone(),
            registry_listener,
            ServerLimits::default(),
            shutdown.clone().wait(),
        ));

        let gateway_listener = bind().await;
        let gateway_addr = gateway_listener.local_addr().expect("bound address");
        let clients = gatehouse_gateway::Clients::new(&format!("http://{registry_addr}"), Duration::from_secs(5))
            .expect("valid registry address");
        tokio::spawn(gatehouse_gateway::serve(
            gatehouse_gateway::GatewayConfig::default(),
            clients,
            gateway_listener,
            shutdown.wait(),
        ));

        // The listeners are bound before the servers start, so connections
        // queue until they accept: no readiness polling is needed.
        TestEnv { database, db, registry_addr, gateway_addr, trigger }
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port")
}

/// Runs one async test body once per database backend.
///
/// ```ignore
/// on_every_database!(creates_user);
/// async fn creates_user(backend: Backend) { ... }
/// ```
#[macro_export]
macro_rules! on_every_database {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}
