//! The composition root: the one place that wires Gatehouse's parts.
//!
//! `gatehouse serve all`, each `gatehouse serve PART`, the test harness and
//! (through the binary) the benchmark all describe a [`Deployment`] and call
//! [`Deployment::start`]: it binds every listener first (so that one process
//! wires the real addresses, port 0 included), opens the database and the
//! cache once, builds each part the same way, `build(config, dependencies)`,
//! and hands back the [`Running`] servers. Callers only choose settings.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gatehouse_authorization::AuthorizationConfig;
use gatehouse_gateway::GatewayConfig;
use gatehouse_oauth::{Clock, InternalCredential};
use gatehouse_registry::{MetadataDocumentPolicy, RegistrationPolicy, Registry, RegistryConfig};
use gatehouse_runtime::access::{Access, InProcessCredentials, PeerMap, Role};
use gatehouse_runtime::grpc::ServerLimits;
use gatehouse_runtime::kv::{Kv, KvOptions};
use gatehouse_runtime::part::Dependencies;
use gatehouse_runtime::shutdown::Shutdown;
use gatehouse_runtime::tls::ServerTls;
use gatehouse_token::TokenConfig;
use gatehouse_upstream::tls::ClientTls;
use gatehouse_upstream::{Upstream, Upstreams};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;

/// Which parts one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    /// Every part, calling each other over loopback gRPC (the embedded default).
    All,
    Registry,
    Authorization,
    Token,
    Gateway,
}

impl Parts {
    fn includes(self, part: Self) -> bool {
        self == Self::All || self == part
    }

    /// The name of this process's database pool in the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Registry => "registry",
            Self::Authorization => "authorization",
            Self::Token => "token",
            Self::Gateway => "gateway",
        }
    }
}

/// The database every stateful part shares.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: String,
    /// The PostgreSQL password, read from this file (and again after a rotation) when the URL has none.
    pub password_file: Option<std::path::PathBuf>,
    pub max_connections: u32,
    /// Apply every part's migrations at start.
    pub migrate: bool,
}

/// The cache the replicas share.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub url: String,
    /// Prefixed to every key (deployments sharing one Redis).
    pub prefix: String,
    pub options: KvOptions,
}

/// Where this process's parts listen.
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    pub registry: SocketAddr,
    pub authorization: SocketAddr,
    pub token: SocketAddr,
    pub gateway: SocketAddr,
    /// The Prometheus endpoint; none when `None`.
    pub metrics: Option<SocketAddr>,
}

impl Listen {
    /// Every part on a free loopback port, no metrics endpoint.
    pub fn loopback() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self { registry: any, authorization: any, token: any, gateway: any, metrics: None }
    }
}

/// Where the parts that do not run in this process answer (comma-separated
/// `http(s)://host:port`, one per replica or a name resolving to them).
#[derive(Debug, Clone)]
pub struct Elsewhere {
    pub registry: String,
    pub authorization: String,
    pub token: String,
}

/// The internal plane: how the gRPC ports are secured and who may call them.
#[derive(Debug, Clone)]
pub struct Plane {
    /// TLS on this process's gRPC ports.
    pub server_tls: Option<Arc<ServerTls>>,
    /// How this process calls `https://` services.
    pub client_tls: Option<ClientTls>,
    /// The identities of workload certificates the gRPC ports admit.
    pub peers: PeerMap,
    /// This process's own credential (a per-part process without a workload certificate).
    pub credential: Option<InternalCredential>,
    /// Roles besides the parts that get a credential living in this process
    /// (the test harness's operator and validator).
    pub in_process_roles: Vec<Role>,
    /// The deadline of one internal call.
    pub rpc_timeout: Duration,
    /// Requests served at once by each server.
    pub max_concurrent_requests: usize,
    /// Serve gRPC server reflection (to identified callers only).
    pub reflection: bool,
}

impl Default for Plane {
    fn default() -> Self {
        Self {
            server_tls: None,
            client_tls: None,
            peers: PeerMap::default(),
            credential: None,
            in_process_roles: Vec::new(),
            rpc_timeout: Duration::from_secs(5),
            max_concurrent_requests: ServerLimits::default().max_concurrent,
            reflection: false,
        }
    }
}

/// Everything a process of Gatehouse is started from.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub parts: Parts,
    /// The issuer identifier; every part is given this one value (their
    /// configurations' own `issuer` is overwritten).
    pub issuer: Issuer,
    pub database: DatabaseSettings,
    pub cache: CacheSettings,
    pub listen: Listen,
    pub elsewhere: Elsewhere,
    pub registry: RegistryConfig,
    pub authorization: AuthorizationConfig,
    pub token: TokenConfig,
    pub gateway: GatewayConfig,
    pub plane: Plane,
    /// How long audit events are kept.
    pub audit_retention: Duration,
    /// The clock of every part; `None`: the database's, one for every replica.
    pub clock: Option<Arc<dyn Clock>>,
}

/// Where the issuer identifier comes from.
#[derive(Debug, Clone)]
pub enum Issuer {
    /// The configured public URL (validated by the caller: an origin, no trailing slash).
    Url(String),
    /// `http://` and the address the gateway was bound to (a test
    /// deployment, whose ports are chosen when bound).
    GatewayAddress,
    /// `http://localhost:` and the port the gateway was bound to on
    /// loopback: a domain name, as WebAuthn (passkeys) needs.
    GatewayLocalhost,
}

/// The two moments of a shutdown: `draining` (health and readiness turn
/// "not serving", requests are still served) and `stop` (the drain).
#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub draining: Shutdown,
    pub stop: Shutdown,
}

/// A server that runs until shutdown.
type Server = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Where a running process's listeners are bound (`None`: not in this process).
#[derive(Debug, Clone, Copy, Default)]
pub struct Addresses {
    pub registry: Option<SocketAddr>,
    pub authorization: Option<SocketAddr>,
    pub token: Option<SocketAddr>,
    pub gateway: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
}

/// A started deployment: every listener bound and every part built; the
/// servers run from [`Running::run`].
pub struct Running {
    pub addresses: Addresses,
    /// The database, when a stateful part runs here.
    pub db: Option<DatabaseConnection>,
    /// The cache, when a stateful part runs here.
    pub kv: Option<Arc<dyn Kv>>,
    /// The registry, when it runs here (for what no RPC starts).
    pub registry: Option<Registry>,
    /// The credentials living in this process (the parts' in `All`).
    pub credentials: InProcessCredentials,
    servers: Vec<Server>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("addresses", &self.addresses).field("servers", &self.servers.len()).finish()
    }
}

impl Running {
    /// Runs every server on a task of its own, as the test harness does:
    /// one server's failure is reported on stderr and leaves the others
    /// serving (a process would end, and its supervisor start it again).
    pub fn spawn_each(self) {
        for server in self.servers {
            tokio::spawn(async move {
                if let Err(error) = server.await {
                    eprintln!("a server of this deployment stopped: {error:#}");
                }
            });
        }
    }

    /// Runs every server until shutdown; the first failure ends them all.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut set = tokio::task::JoinSet::new();
        for server in self.servers {
            set.spawn(server);
        }
        while let Some(result) = set.join_next().await {
            result.context("server task")??;
        }
        Ok(())
    }
}

/// Connects to the database (creating the embedded default's folder) and
/// applies the migrations when asked to.
pub async fn open_database(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = settings.url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let db = gatehouse_runtime::database::connect_patiently(
        &settings.url,
        settings.password_file.as_deref(),
        settings.max_connections,
        gatehouse_runtime::database::STARTUP_PATIENCE,
    )
    .await
    .context("connecting to the database (GATEHOUSE_DATABASE_URL)")?;
    if settings.migrate {
        migrate(&db).await?;
    }
    Ok(db)
}

/// Applies every part's migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    gatehouse_registry::migration::Migrator::up(db, None).await.context("registry migrations")?;
    gatehouse_authorization::migration::Migrator::up(db, None).await.context("authorization migrations")?;
    gatehouse_token::migration::Migrator::up(db, None).await.context("token migrations")?;
    Ok(())
}

async fn bind(address: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| format!("binding the {what} to {address}"))
}

/// The address a client in this process uses to reach a listener.
pub fn local_url(address: SocketAddr) -> String {
    let ip = if address.ip().is_unspecified() { std::net::Ipv4Addr::LOCALHOST.into() } else { address.ip() };
    format!("http://{}", SocketAddr::new(ip, address.port()))
}

/// A bound listener of a part in this process, or where the part answers elsewhere.
struct Slot {
    listener: Option<TcpListener>,
    url: String,
}

impl Slot {
    async fn new(wanted: bool, address: SocketAddr, what: &str, elsewhere: &str) -> anyhow::Result<Self> {
        if !wanted {
            return Ok(Self { listener: None, url: elsewhere.to_owned() });
        }
        let listener = bind(address, what).await?;
        let url = local_url(listener.local_addr()?);
        Ok(Self { listener: Some(listener), url })
    }

    fn address(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }
}

impl Deployment {
    /// Binds every listener, opens the database and the cache, builds every
    /// part of [`Deployment::parts`]; the servers start with [`Running::run`].
    pub async fn start(self, life: &Lifecycle) -> anyhow::Result<Running> {
        let wants = |part: Parts| self.parts.includes(part);
        let registry = Slot::new(wants(Parts::Registry), self.listen.registry, "registry", &self.elsewhere.registry);
        let registry = registry.await?;
        let authorization = Slot::new(
            wants(Parts::Authorization),
            self.listen.authorization,
            "authorization service",
            &self.elsewhere.authorization,
        )
        .await?;
        let token = Slot::new(wants(Parts::Token), self.listen.token, "token service", &self.elsewhere.token).await?;
        let gateway = Slot::new(wants(Parts::Gateway), self.listen.gateway, "gateway", "").await?;
        let metrics = match self.listen.metrics {
            Some(address) => Some(bind(address, "metrics endpoint").await?),
            None => None,
        };
        let mut addresses = Addresses {
            registry: registry.address(),
            authorization: authorization.address(),
            token: token.address(),
            gateway: gateway.address(),
            metrics: None,
        };

        let issuer = match (&self.issuer, gateway.address()) {
            (Issuer::Url(url), _) => url.clone(),
            (Issuer::GatewayAddress, Some(address)) => format!("http://{address}"),
            (Issuer::GatewayLocalhost, Some(address)) => format!("http://localhost:{}", address.port()),
            (Issuer::GatewayAddress | Issuer::GatewayLocalhost, None) => {
                anyhow::bail!("the issuer is the gateway's address, but no gateway runs here")
            }
        };
        let mut credentials =
            if self.parts == Parts::All { InProcessCredentials::for_parts() } else { InProcessCredentials::default() };
        for role in &self.plane.in_process_roles {
            credentials.add(*role);
        }
        let access = Access::new(self.plane.peers.clone(), credentials.clone());
        let limits = ServerLimits {
            draining: Some(life.draining.clone()),
            tls: self.plane.server_tls.clone(),
            max_concurrent: self.plane.max_concurrent_requests,
            access,
            reflection: self.plane.reflection,
            ..ServerLimits::default()
        };
        let urls = (registry.url.clone(), authorization.url.clone(), token.url.clone());
        // The channels `part` calls the others with, presenting its credential.
        let upstreams_of = |part: Role| -> anyhow::Result<Upstreams> {
            let credential = credentials.of(part).or_else(|| self.plane.credential.clone());
            Ok(Upstreams {
                registry: self.channel(&urls.0, credential.clone())?,
                authorization: self.channel(&urls.1, credential.clone())?,
                token: self.channel(&urls.2, credential)?,
            })
        };

        // What `part` serves with: the shared limits, and the check of the
        // admin console's calls over `part`'s own channels.
        let limits_of = |part: Role| -> anyhow::Result<ServerLimits> {
            let administrators = gatehouse_runtime::clients::ConsoleAdministrators::new(&upstreams_of(part)?);
            Ok(ServerLimits {
                access: limits.access.clone().with_administrators(Arc::new(administrators)),
                ..limits.clone()
            })
        };

        let mut servers: Vec<Server> = Vec::new();
        if let Some(listener) = metrics {
            addresses.metrics = Some(listener.local_addr()?);
            let stop = life.stop.clone();
            servers.push(Box::pin(async move {
                gatehouse_runtime::metrics::serve(listener, stop.wait()).await.context("metrics endpoint")
            }));
        }

        let stateful = [&registry, &authorization, &token].iter().any(|slot| slot.listener.is_some());
        let (mut db_out, mut kv_out, mut registry_out) = (None, None, None);
        if stateful {
            let kv = gatehouse_runtime::kv::open_with(&self.cache.url, &self.cache.prefix, self.cache.options.clone())
                .await
                .context("connecting to the cache (GATEHOUSE_CACHE_URL)")?;
            let db = open_database(&self.database).await?;
            gatehouse_runtime::metrics::metrics().watch_pool(self.parts.name(), &db);
            let clock = match &self.clock {
                Some(clock) => clock.clone(),
                None => gatehouse_runtime::clock::DatabaseClock::start(db.clone()).await,
            };
            let deps = |part: Role| -> anyhow::Result<Dependencies> {
                Ok(Dependencies {
                    db: db.clone(),
                    kv: kv.clone(),
                    clock: clock.clone(),
                    upstreams: upstreams_of(part)?,
                })
            };

            if let Some(listener) = registry.listener {
                let config = RegistryConfig { issuer: issuer.clone(), ..self.registry.clone() };
                let service = gatehouse_registry::build(config, deps(Role::Registry)?).await?;
                self.keep_audit(service.audit().clone(), life);
                let stop = life.stop.clone();
                tokio::spawn(gatehouse_registry::expire_unused_clients(service.clone(), stop.wait()));
                let (service_out, limits, stop) = (service.clone(), limits_of(Role::Registry)?, life.stop.clone());
                servers.push(Box::pin(async move {
                    gatehouse_registry::serve(service, listener, limits, stop.wait()).await.context("registry server")
                }));
                registry_out = Some(service_out);
            }
            if let Some(listener) = authorization.listener {
                let config = AuthorizationConfig { issuer: issuer.clone(), ..self.authorization.clone() };
                let service = gatehouse_authorization::build(config, deps(Role::Authorization)?).await?;
                self.keep_audit(service.audit().clone(), life);
                let (limits, stop) = (limits_of(Role::Authorization)?, life.stop.clone());
                servers.push(Box::pin(async move {
                    gatehouse_authorization::serve(service, listener, limits, stop.wait())
                        .await
                        .context("authorization server")
                }));
            }
            if let Some(listener) = token.listener {
                let config = TokenConfig { issuer: issuer.clone(), ..self.token.clone() };
                let service =
                    gatehouse_token::build(config, deps(Role::Token)?).await.context("loading the signing keys")?;
                self.keep_audit(service.audit().clone(), life);
                let (limits, stop) = (limits_of(Role::Token)?, life.stop.clone());
                servers.push(Box::pin(async move {
                    gatehouse_token::serve(service, listener, limits, stop.wait()).await.context("token server")
                }));
            }
            db_out = Some(db);
            kv_out = Some(kv);
        }
        if let Some(listener) = gateway.listener {
            let config = GatewayConfig {
                issuer: issuer.clone(),
                draining: Some(life.draining.clone()),
                // What the gateway advertises follows what the registry does.
                dynamic_registration: self.registry.registration.policy != RegistrationPolicy::Off,
                client_id_metadata_documents: self.registry.metadata_documents.policy != MetadataDocumentPolicy::Off,
                clock: self.clock.clone().unwrap_or_else(|| self.gateway.clock.clone()),
                ..self.gateway.clone()
            };
            let gateway = gatehouse_gateway::build(config, upstreams_of(Role::Gateway)?);
            let stop = life.stop.clone();
            servers.push(Box::pin(async move {
                gatehouse_gateway::serve(gateway, listener, stop.wait()).await.context("gateway server")
            }));
        }
        Ok(Running { addresses, db: db_out, kv: kv_out, registry: registry_out, credentials, servers })
    }

    fn channel(&self, url: &str, credential: Option<InternalCredential>) -> anyhow::Result<Upstream> {
        let options = gatehouse_upstream::UpstreamOptions {
            timeout: self.plane.rpc_timeout,
            tls: self.plane.client_tls.clone(),
            credential: credential.and_then(|c| gatehouse_upstream::StaticCredential::bearer(c.expose())),
            ..gatehouse_upstream::UpstreamOptions::default()
        };
        gatehouse_upstream::upstream::balanced(url, options).with_context(|| format!("service address {url}"))
    }

    /// Deletes a trail's events past the retention period, hourly, until shutdown.
    fn keep_audit(&self, trail: gatehouse_runtime::audit::AuditLog, life: &Lifecycle) {
        let stop = life.stop.clone();
        tokio::spawn(gatehouse_runtime::audit::keep_for(trail, self.audit_retention, stop.wait()));
    }
}
