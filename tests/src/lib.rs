//! The test harness: real services on `127.0.0.1:0`, a fresh database per
//! test (a SQLite file, or a new PostgreSQL database), a fresh cache (a new
//! Redis key prefix, or an in-process map), and typed clients.
//!
//! A dependency the test asks for and cannot reach fails the test with a
//! message saying what to start; nothing is ever skipped.

mod browser;
mod client_app;
mod clock;
mod database;
mod eventually;
pub mod https_server;
mod mail_sink;
pub mod pki;
pub mod plane;
mod postgres_server;
pub mod process;
mod redis_server;

pub use clock::TestClock;
pub use eventually::{eventually, until};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_authorization::AuthorizationConfig;
use gatehouse_deployment::{
    CacheSettings, DatabaseSettings, Deployment, Elsewhere, Issuer, Lifecycle, Listen, Parts, Plane,
};
use gatehouse_proto::pb::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use gatehouse_proto::pb::common::v1::{ClientType, User};
use gatehouse_proto::pb::registry::v1 as registry_pb;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_registry::{PasswordParams, RegistryConfig};
use gatehouse_runtime::Shutdown;
use gatehouse_runtime::access::{InProcessCredentials, Role};
use gatehouse_runtime::kv::Kv;
use gatehouse_runtime::shutdown::ShutdownTrigger;
use sea_orm::DatabaseConnection;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use browser::{Browser, Page, query_pairs};
pub use client_app::{CALLBACK, ClientApp};
pub use database::{Backend, TestDatabase};
pub use mail_sink::{MailSink, mailed_token};
pub use postgres_server::OwnPostgres;
pub use redis_server::{OwnRedis, RedisCluster, SENTINEL_MASTER, SentinelGroup};

/// argon2 parameters small enough for tests (debug builds, 2 cores) while
/// still exercising the real argon2id code path.
pub const TEST_PASSWORD_PARAMS: PasswordParams = PasswordParams { memory_kib: 1024, iterations: 1, parallelism: 1 };

/// The password every `TestEnv::create_user` account gets.
pub const TEST_PASSWORD: &str = "correct horse battery";

/// A channel that presents one caller's credential on every call: what
/// tests call the services through, as the caller they mean to be.
pub type Grpc = InterceptedService<Channel, Presenting>;

/// Adds `authorization: Bearer …` to every call (nothing when `None`).
#[derive(Clone)]
pub struct Presenting(
    Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    /// An administrator's session, as the admin console sends it.
    Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
);

impl std::fmt::Debug for Presenting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Presenting(..)")
    }
}

impl Presenting {
    /// Presents `bearer` (an internal credential or an access token).
    pub fn bearer(bearer: &str) -> Self {
        Self(Some(format!("Bearer {bearer}").parse().expect("a credential is a header value")), None)
    }

    /// Presents nothing: an unidentified caller.
    pub fn nothing() -> Self {
        Self(None, None)
    }

    /// The same, with `session_token` as the console's session (what the
    /// gateway adds for an administrator).
    #[must_use]
    pub fn with_console(mut self, session_token: &str) -> Self {
        self.1 = Some(session_token.parse().expect("a session token is a header value"));
        self
    }
}

impl tonic::service::Interceptor for Presenting {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        if let Some(value) = &self.1 {
            request.metadata_mut().insert(gatehouse_runtime::access::CONSOLE_SESSION, value.clone());
        }
        Ok(request)
    }
}

/// `channel`, presenting `presenting` on every call.
pub fn presenting(channel: Channel, presenting: Presenting) -> Grpc {
    InterceptedService::new(channel, presenting)
}

/// Which cache a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    Memory,
    Redis,
    /// The six-node Redis Cluster tests/services.sh starts (`TEST_REDIS_CLUSTER_URL`).
    Cluster,
}

/// A cache of its own for one test: a fresh key prefix on the Redis named by
/// `TEST_REDIS_URL`, or a new in-process map.
pub async fn test_kv(backend: CacheBackend) -> Arc<dyn Kv> {
    gatehouse_runtime::kv::open_with(&test_kv_url(backend), &test_kv_prefix(), test_kv_options())
        .await
        .expect("open the test cache")
}

/// The tests' cache settings: the production timeout (100 ms) is meant for
/// a Redis on a quiet network, and the suite runs many tests at once on two
/// cores, where a healthy Redis can take longer to answer. The fault suite
/// runs the production defaults in processes of its own.
pub fn test_kv_options() -> gatehouse_runtime::kv::KvOptions {
    gatehouse_runtime::kv::KvOptions { timeout: Duration::from_secs(1), ..Default::default() }
}

/// The cache URL of `backend`; panics with a clear message when Redis is not configured.
pub fn test_kv_url(backend: CacheBackend) -> String {
    match backend {
        CacheBackend::Memory => "memory://".to_owned(),
        CacheBackend::Redis => std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| {
            panic!("TEST_REDIS_URL is not set: run the suite through tests/run.sh, which starts Redis")
        }),
        CacheBackend::Cluster => std::env::var("TEST_REDIS_CLUSTER_URL").unwrap_or_else(|_| {
            panic!(
                "TEST_REDIS_CLUSTER_URL is not set: run the suite through tests/run.sh, which starts a Redis Cluster"
            )
        }),
    }
}

/// A key prefix no other test uses.
pub fn test_kv_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// Configures a [`TestEnv`].
#[derive(Debug, Clone)]
pub struct TestEnvBuilder {
    backend: Backend,
    cache: CacheBackend,
    authorization: AuthorizationConfig,
    gateway: gatehouse_gateway::GatewayConfig,
    token: gatehouse_token::TokenConfig,
    registry: RegistryConfig,
    cache_url: Option<String>,
    cache_tls: gatehouse_runtime::kv::CacheTls,
    database_url: Option<String>,
    reflection: bool,
    localhost: bool,
}

/// Running services of one test. Dropping it stops them.
#[derive(Debug)]
pub struct TestEnv {
    pub database: TestDatabase,
    pub db: DatabaseConnection,
    pub kv: Arc<dyn Kv>,
    pub registry_addr: SocketAddr,
    pub authorization_addr: SocketAddr,
    pub token_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    /// The registry itself, for what no RPC starts (the expiry pass of unused clients).
    pub registry_service: gatehouse_registry::Registry,
    /// The in-process credentials of this deployment's parts, and of an operator.
    pub credentials: InProcessCredentials,
    /// Every part's clock: a test of an expiry advances it.
    pub clock: Arc<TestClock>,
    /// The issuer: `http://127.0.0.1:PORT`, or `http://localhost:PORT` (passkeys).
    issuer: String,
    trigger: ShutdownTrigger,
}

impl TestEnv {
    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder {
            backend: Backend::Sqlite,
            cache: CacheBackend::Memory,
            authorization: AuthorizationConfig::default(),
            gateway: gatehouse_gateway::GatewayConfig::default(),
            token: gatehouse_token::TokenConfig::default(),
            registry: RegistryConfig { password: TEST_PASSWORD_PARAMS, ..RegistryConfig::default() },
            cache_url: None,
            cache_tls: gatehouse_runtime::kv::CacheTls::default(),
            database_url: None,
            reflection: false,
            localhost: false,
        }
    }

    /// A connected channel to one of this environment's gRPC servers.
    pub async fn channel(&self, addr: SocketAddr) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("valid address")
            .connect()
            .await
            .expect("test server accepts connections")
    }

    /// What `role` presents on its calls.
    pub fn as_role(&self, role: Role) -> Presenting {
        Presenting::bearer(self.credentials.of(role).expect("the test deployment has every role's credential").expose())
    }

    /// A balanced channel to the token service for an internal service
    /// (`gatehouse-client`), identified as a validator.
    pub fn validator_channel(&self) -> gatehouse_client::Upstream {
        self.validator_channel_to(&format!("http://{}", self.token_addr))
    }

    /// The same, to another address (a proxy in front of the token service).
    pub fn validator_channel_to(&self, address: &str) -> gatehouse_client::Upstream {
        let credential = self.credentials.of(Role::Validator).expect("the test deployment has a validator");
        gatehouse_client::connect_with_credential(address, credential.expose()).expect("valid address")
    }

    /// The typed clients every Gatehouse caller uses, presenting `role`'s credential.
    pub fn clients_as(&self, role: Role) -> gatehouse_runtime::clients::Clients {
        let credential = self.credentials.of(role).expect("the test deployment has every role's credential");
        let channel = |addr: SocketAddr| {
            gatehouse_client::connect_with_credential(&format!("http://{addr}"), credential.expose())
                .expect("valid address")
        };
        gatehouse_runtime::clients::Clients {
            registry: gatehouse_runtime::clients::RegistryClient::new(channel(self.registry_addr)),
            authorization: gatehouse_runtime::clients::AuthorizationClient::new(channel(self.authorization_addr)),
            token: gatehouse_runtime::clients::TokenClient::new(channel(self.token_addr)),
        }
    }

    /// The registry, called as the gateway (what most tests stand in for).
    pub async fn registry(&self) -> RegistryServiceClient<Grpc> {
        self.registry_as(self.as_role(Role::Gateway)).await
    }

    pub async fn registry_as(&self, caller: Presenting) -> RegistryServiceClient<Grpc> {
        RegistryServiceClient::new(presenting(self.channel(self.registry_addr).await, caller))
    }

    /// The authorization service, called as the gateway.
    pub async fn authorization(&self) -> AuthorizationServiceClient<Grpc> {
        self.authorization_as(self.as_role(Role::Gateway)).await
    }

    pub async fn authorization_as(&self, caller: Presenting) -> AuthorizationServiceClient<Grpc> {
        AuthorizationServiceClient::new(presenting(self.channel(self.authorization_addr).await, caller))
    }

    /// The token service, called as the gateway.
    pub async fn token(&self) -> TokenServiceClient<Grpc> {
        self.token_as(self.as_role(Role::Gateway)).await
    }

    pub async fn token_as(&self, caller: Presenting) -> TokenServiceClient<Grpc> {
        TokenServiceClient::new(presenting(self.channel(self.token_addr).await, caller))
    }

    /// Moves every part's time forward (expiries, intervals, `auth_time`).
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The gateway's base URL (the issuer), without a trailing slash.
    /// The gateway's public URL: the issuer.
    pub fn gateway_url(&self) -> String {
        self.issuer.clone()
    }

    /// A browser-like HTTP client of the gateway: keeps cookies, follows no redirects.
    pub fn browser(&self) -> Browser {
        Browser::new(self.gateway_url())
    }

    /// An initial access token (RFC 7591 §3) from the operator, for an hour.
    pub async fn initial_access_token(&self) -> String {
        let registry = self.clients_as(Role::Operator).registry;
        let created = registry.create_initial_access_token("tests", 3600).await;
        created.expect("the operator creates an initial access token").1
    }

    /// A fresh session of `username` (signed in with [`TEST_PASSWORD`]): its token.
    pub async fn session_of(&self, username: &str) -> String {
        let password = gatehouse_oauth::Password::new(TEST_PASSWORD);
        let login = self.clients_as(Role::Gateway).authorization.login(username, &password, "127.0.0.1", "tests").await;
        login.expect("sign in").session_token
    }

    /// Creates an account with [`TEST_PASSWORD`].
    pub async fn create_user(&self, username: &str) -> User {
        let account = self.clients_as(Role::Gateway).registry.create_user(test_user(username)).await;
        User::from(account.expect("create user"))
    }

    /// Registers an application owned by `owner`; returns (client id, secret).
    pub async fn register_app(
        &self,
        owner: &User,
        redirect_uris: &[&str],
        client_type: ClientType,
        scopes: &[&str],
    ) -> (String, String) {
        let spec = AppSpec { redirect_uris, client_type, scopes, ..AppSpec::default() };
        let registered = self.clients_as(Role::Gateway).registry.register_application(spec.of(&owner.id)).await;
        let (app, secret) = registered.expect("register the application");
        (app.client_id, secret)
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

    pub fn cache(mut self, cache: CacheBackend) -> Self {
        self.cache = cache;
        self
    }

    pub fn redis(self) -> Self {
        self.cache(CacheBackend::Redis)
    }

    /// Serves gRPC server reflection (off by default, as in production).
    pub fn reflection(mut self) -> Self {
        self.reflection = true;
        self
    }

    /// Uses the Redis at `url` (a test's own server) instead of the shared one.
    pub fn cache_url(mut self, url: String) -> Self {
        self.cache_url = Some(url);
        self
    }

    /// A database of the test's own (a server it started) instead of a fresh one on the suite's.
    pub fn database_url(mut self, url: String) -> Self {
        self.database_url = Some(url);
        self
    }

    /// The CA and client certificate for a `rediss://` [`TestEnvBuilder::cache_url`].
    pub fn cache_tls(mut self, tls: gatehouse_runtime::kv::CacheTls) -> Self {
        self.cache_tls = tls;
        self
    }

    /// Changes the authorization service's configuration (the issuer is always the gateway's URL).
    pub fn authorization_config(mut self, change: impl FnOnce(&mut AuthorizationConfig)) -> Self {
        change(&mut self.authorization);
        self
    }

    /// Changes the gateway's configuration (the issuer is always its own URL).
    pub fn gateway_config(mut self, change: impl FnOnce(&mut gatehouse_gateway::GatewayConfig)) -> Self {
        change(&mut self.gateway);
        self
    }

    /// Changes the registry's configuration (the issuer is always the gateway's URL).
    pub fn registry_config(mut self, change: impl FnOnce(&mut RegistryConfig)) -> Self {
        change(&mut self.registry);
        self
    }

    /// Changes the token service's configuration.
    pub fn token_config(mut self, change: impl FnOnce(&mut gatehouse_token::TokenConfig)) -> Self {
        change(&mut self.token);
        self
    }

    /// Starts the registry, the authorization, token services and the
    /// gateway in this process, wired by the deployment `serve all` runs.
    /// The issuer is `http://localhost:PORT` rather than the gateway's
    /// address: a domain name, which WebAuthn (passkeys) needs.
    pub fn localhost(mut self) -> Self {
        self.localhost = true;
        self
    }

    pub async fn start(self) -> TestEnv {
        let database = match &self.database_url {
            Some(url) => TestDatabase::at(url.clone()),
            None => TestDatabase::create(self.backend).await,
        };
        let (trigger, stop) = Shutdown::new();
        let clock = Arc::new(TestClock::default());
        let deployment = Deployment {
            parts: Parts::All,
            // Every listener on a free port; the issuer is the gateway's address.
            issuer: if self.localhost { Issuer::GatewayLocalhost } else { Issuer::GatewayAddress },
            database: DatabaseSettings {
                url: database.url().to_owned(),
                password_file: None,
                max_connections: 5,
                migrate: true,
            },
            cache: CacheSettings {
                url: self.cache_url.clone().unwrap_or_else(|| test_kv_url(self.cache)),
                prefix: test_kv_prefix(),
                options: gatehouse_runtime::kv::KvOptions { tls: self.cache_tls.clone(), ..test_kv_options() },
            },
            listen: Listen::loopback(),
            elsewhere: Elsewhere { registry: String::new(), authorization: String::new(), token: String::new() },
            registry: gatehouse_registry::RegistryConfig { key_encryption_key: Some(test_kek()), ..self.registry },
            authorization: self.authorization,
            token: gatehouse_token::TokenConfig { key_encryption_key: Some(test_kek()), ..self.token },
            gateway: self.gateway,
            plane: Plane {
                in_process_roles: vec![Role::Operator, Role::Validator],
                reflection: self.reflection,
                ..Plane::default()
            },
            audit_retention: Duration::from_secs(30 * 86_400),
            clock: Some(clock.clone()),
        };
        let running =
            deployment.start(&Lifecycle { draining: stop.clone(), stop }).await.expect("the test deployment starts");
        let addresses = running.addresses;
        let address = |a: Option<SocketAddr>| a.expect("every part runs in the test deployment");
        let gateway_addr = address(addresses.gateway);
        let issuer = if self.localhost {
            format!("http://localhost:{}", gateway_addr.port())
        } else {
            format!("http://{gateway_addr}")
        };
        let env = TestEnv {
            issuer,
            database,
            db: running.db.clone().expect("the test deployment has a database"),
            kv: running.kv.clone().expect("the test deployment has a cache"),
            registry_addr: address(addresses.registry),
            authorization_addr: address(addresses.authorization),
            token_addr: address(addresses.token),
            gateway_addr,
            registry_service: running.registry.clone().expect("the registry runs in the test deployment"),
            credentials: running.credentials.clone(),
            clock,
            trigger,
        };
        running.spawn_each();
        env
    }
}

/// Creates an account with [`TEST_PASSWORD`] through any registry, such as
/// one a test started as a separate process.
/// The account every fixture creates: `username`, an address derived from
/// it, and [`TEST_PASSWORD`].
pub fn test_user(username: &str) -> gatehouse_runtime::clients::registry::NewUser {
    gatehouse_runtime::clients::registry::NewUser {
        username: username.to_owned(),
        email: format!("{}@example.com", username.to_lowercase()),
        display_name: String::new(),
        avatar_url: String::new(),
        password: gatehouse_oauth::Password::new(TEST_PASSWORD),
        client_address: String::new(),
        invitation: String::new(),
    }
}

/// [`test_user`] through any registry client (for tests of the wire and its callers).
pub async fn create_user(registry: &mut RegistryServiceClient<Grpc>, username: &str) -> User {
    let request = registry_pb::CreateUserRequest::from(test_user(username));
    registry.create_user(request).await.expect("create user").into_inner().user.expect("user")
}

/// An application to register through [`register_application`].
#[derive(Debug, Clone)]
pub struct AppSpec<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [&'a str],
    pub client_type: ClientType,
    /// Empty: the registry's default (authorization_code and refresh_token).
    pub grants: &'a [gatehouse_oauth::GrantType],
    /// Empty: the whole catalogue.
    pub scopes: &'a [&'a str],
}

impl AppSpec<'_> {
    /// The application `owner_id` registers.
    pub fn of(&self, owner_id: &str) -> gatehouse_runtime::clients::registry::NewApplication {
        gatehouse_runtime::clients::registry::NewApplication {
            owner_id: owner_id.to_owned(),
            name: self.name.to_owned(),
            description: "An application under test".to_owned(),
            homepage_url: "https://app.example".to_owned(),
            logo_url: String::new(),
            redirect_uris: self.redirect_uris.iter().map(|u| (*u).to_owned()).collect(),
            post_logout_redirect_uris: Vec::new(),
            public: self.client_type == ClientType::Public,
            grant_types: gatehouse_proto::convert::grant_types_to_pb(self.grants),
            scopes: self.scopes.iter().map(|s| (*s).to_owned()).collect(),
            id_token_signed_response_alg: String::new(),
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
        }
    }
}

impl Default for AppSpec<'_> {
    fn default() -> Self {
        Self {
            name: "Test App",
            redirect_uris: &[client_app::CALLBACK],
            client_type: ClientType::Confidential,
            grants: &[],
            scopes: &[],
        }
    }
}

/// Registers an application owned by `owner_id` through any registry (the
/// one fixture for it); returns (client id, client secret, empty for public).
pub async fn register_application(
    registry: &mut RegistryServiceClient<Grpc>,
    owner_id: &str,
    spec: AppSpec<'_>,
) -> (String, String) {
    let request = registry_pb::RegisterApplicationRequest::from(spec.of(owner_id));
    let response = registry.register_application(request).await.expect("register the application").into_inner();
    (response.application.expect("application").client_id, response.client_secret)
}

/// Runs one async test body once per database backend.
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

/// Runs one async test body once per cache backend.
#[macro_export]
macro_rules! on_every_cache {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::CacheBackend::Memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::CacheBackend::Redis).await
                }
            )*
        }
    };
}

/// The key-encryption key every test deployment seals its signing keys
/// with (fixed, so that replicas of one test share it).
pub const TEST_KEK: &str = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=";

pub fn test_kek() -> gatehouse_token::KeyEncryptionKey {
    gatehouse_token::KeyEncryptionKey::from_base64(TEST_KEK).expect("TEST_KEK is 32 bytes of base64")
}

/// RFC 4648 base32 (no padding), as the page shows the key.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.trim().bytes().filter(|c| *c != b'=') {
        let index = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase()).expect("base32") as u32;
        value = (value << 5) | index;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}

/// The six-digit TOTP of `secret` (base32, as the security page shows it) at `unix` (RFC 6238 with HMAC-SHA-1, RFC 4226 §5.3 truncation).
pub fn totp_code(secret: &str, unix: i64) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &base32_decode(secret));
    let counter = (unix as u64 / 30).to_be_bytes();
    let mac = hmac::sign(&key, &counter);
    let mac = mac.as_ref();
    let offset = usize::from(mac[19] & 0x0f);
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    format!("{:06}", binary % 1_000_000)
}
