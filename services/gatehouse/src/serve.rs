//! Starting parts: one per process (Kubernetes) or all in one (embedded).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use gatehouse_oauth::{Clock, InternalCredential, SystemClock};
use gatehouse_runtime::access::{Access, InProcessCredentials, Role};
use gatehouse_runtime::grpc::ServerLimits;
use gatehouse_runtime::kv::Kv;
use gatehouse_runtime::shutdown::{Shutdown, drain_within, signal};
use gatehouse_upstream::Upstream;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;

use crate::cli::ServeTarget;
use crate::config::ServeConfig;

/// The two moments of a shutdown: `draining` (health and readiness turn
/// "not serving", requests are still served) and `stop` (the drain).
#[derive(Debug, Clone)]
struct Lifecycle {
    draining: Shutdown,
    stop: Shutdown,
}

impl Lifecycle {
    fn limits(&self, config: &ServeConfig, identities: &Identities) -> ServerLimits {
        ServerLimits {
            draining: Some(self.draining.clone()),
            tls: config.server_tls.clone(),
            max_concurrent: config.max_concurrent_requests,
            access: identities.access.clone(),
            reflection: config.grpc_reflection,
            ..ServerLimits::default()
        }
    }
}

/// Who the parts of this process are on the internal plane, and whom
/// their servers admit.
#[derive(Debug, Clone)]
struct Identities {
    access: Access,
    in_process: InProcessCredentials,
    /// A per-part process's own credential (`GATEHOUSE_CREDENTIAL`).
    configured: Option<InternalCredential>,
}

impl Identities {
    fn new(target: ServeTarget, config: &ServeConfig) -> Self {
        // `serve all`: each part gets a credential that lives in this process
        // only; a per-part process presents its certificate or its own credential.
        let in_process = if target == ServeTarget::All {
            InProcessCredentials::for_parts()
        } else {
            InProcessCredentials::default()
        };
        let access = Access::new(config.peers.clone(), in_process.clone());
        Self { access, in_process, configured: config.credential.clone() }
    }

    /// The credential `part` calls the others with.
    fn of(&self, part: Role) -> Option<InternalCredential> {
        self.in_process.of(part).or_else(|| self.configured.clone())
    }
}

/// A server that runs until shutdown.
type Server = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

async fn connect(config: &ServeConfig, pool: &'static str) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = config.database_url.strip_prefix("sqlite://") {
        // The embedded default keeps its file in a data folder; create it.
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let db = gatehouse_runtime::database::connect_patiently(
        &config.database_url,
        config.database_max_connections,
        gatehouse_runtime::database::STARTUP_PATIENCE,
    )
    .await
    .context("connecting to the database (GATEHOUSE_DATABASE_URL)")?;
    if config.auto_migrate {
        run_migrations(&db).await?;
    }
    gatehouse_runtime::metrics::metrics().watch_pool(pool, &db);
    Ok(db)
}

/// The database with every migration applied (`gatehouse credential bootstrap`).
pub(crate) async fn open_database(config: &ServeConfig) -> anyhow::Result<DatabaseConnection> {
    let db = gatehouse_runtime::database::connect_patiently(
        &config.database_url,
        1,
        gatehouse_runtime::database::STARTUP_PATIENCE,
    )
    .await
    .context("connecting to the database (GATEHOUSE_DATABASE_URL)")?;
    run_migrations(&db).await?;
    Ok(db)
}

/// Applies every service's migrations.
pub(crate) async fn migrate(config: &ServeConfig) -> anyhow::Result<()> {
    let db = gatehouse_runtime::database::connect_patiently(
        &config.database_url,
        1,
        gatehouse_runtime::database::STARTUP_PATIENCE,
    )
    .await
    .context("connecting to the database (GATEHOUSE_DATABASE_URL)")?;
    run_migrations(&db).await?;
    println!("migrations applied");
    Ok(())
}

async fn run_migrations(db: &DatabaseConnection) -> anyhow::Result<()> {
    gatehouse_registry::migration::Migrator::up(db, None).await.context("registry migrations")?;
    gatehouse_authorization::migration::Migrator::up(db, None).await.context("authorization migrations")?;
    gatehouse_token::migration::Migrator::up(db, None).await.context("token migrations")?;
    Ok(())
}

async fn bind(address: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| format!("binding the {what} to {address}"))
}

/// The address a client in this process uses to reach a listener.
fn local_url(address: SocketAddr) -> String {
    let ip = if address.ip().is_unspecified() { std::net::Ipv4Addr::LOCALHOST.into() } else { address.ip() };
    format!("http://{}", SocketAddr::new(ip, address.port()))
}

fn channel(config: &ServeConfig, url: &str, credential: Option<InternalCredential>) -> anyhow::Result<Upstream> {
    let options = gatehouse_upstream::UpstreamOptions {
        timeout: config.rpc_timeout,
        tls: config.client_tls.clone(),
        credential: credential.and_then(|c| gatehouse_upstream::StaticCredential::bearer(c.expose())),
        ..gatehouse_upstream::UpstreamOptions::default()
    };
    gatehouse_upstream::upstream::balanced(url, options).with_context(|| format!("service address {url}"))
}

/// Runs `target` until SIGTERM or SIGINT, then drains within the grace period.
pub(crate) async fn run(target: ServeTarget, config: ServeConfig) -> anyhow::Result<()> {
    let (drain_trigger, draining) = Shutdown::new();
    let (trigger, shutdown) = Shutdown::new();
    let delay = config.shutdown_delay;
    tokio::spawn(async move {
        signal().await;
        drain_trigger.trigger();
        if !delay.is_zero() {
            tracing::info!(delay_secs = delay.as_secs(), "not serving; draining starts after the shutdown delay");
            tokio::time::sleep(delay).await;
        }
        trigger.trigger();
    });
    let grace = config.shutdown_grace;
    let life = Lifecycle { draining, stop: shutdown.clone() };
    let servers = start(target, &config, &life).await?;
    let all = futures_all(servers);
    tokio::pin!(all);
    tokio::select! {
        result = &mut all => return result,
        () = shutdown.wait() => {}
    }
    drain_within(grace, "gatehouse", async {
        if let Err(error) = all.await {
            tracing::error!(error = %format!("{error:#}"), "server stopped with an error during shutdown");
        }
    })
    .await;
    Ok(())
}

/// Runs every server; the first failure ends them all.
async fn futures_all(servers: Vec<Server>) -> anyhow::Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for server in servers {
        set.spawn(server);
    }
    while let Some(result) = set.join_next().await {
        result.context("server task")??;
    }
    Ok(())
}

/// Binds every listener of `target` first (so that `serve all` wires the
/// real addresses, port 0 included), then builds the parts.
async fn start(target: ServeTarget, config: &ServeConfig, life: &Lifecycle) -> anyhow::Result<Vec<Server>> {
    let wants = |part: ServeTarget| target == ServeTarget::All || target == part;
    let registry_listener =
        if wants(ServeTarget::Registry) { Some(bind(config.registry_listen, "registry").await?) } else { None };
    let authorization_listener = if wants(ServeTarget::Authorization) {
        Some(bind(config.authorization_listen, "authorization service").await?)
    } else {
        None
    };
    let token_listener =
        if wants(ServeTarget::Token) { Some(bind(config.token_listen, "token service").await?) } else { None };
    let gateway_listener =
        if wants(ServeTarget::Gateway) { Some(bind(config.gateway_listen, "gateway").await?) } else { None };

    // In one process, parts call each other on the addresses just bound.
    let registry_url = match &registry_listener {
        Some(listener) => local_url(listener.local_addr()?),
        None => config.registry_url.clone(),
    };
    let authorization_url = match &authorization_listener {
        Some(listener) => local_url(listener.local_addr()?),
        None => config.authorization_url.clone(),
    };

    let token_url = match &token_listener {
        Some(listener) => local_url(listener.local_addr()?),
        None => config.token_url.clone(),
    };

    let needs_db = registry_listener.is_some() || authorization_listener.is_some() || token_listener.is_some();
    // The registry's: private_key_jwt replay marks and registration limits.
    let needs_kv = registry_listener.is_some() || authorization_listener.is_some() || token_listener.is_some();
    let kv = if needs_kv {
        Some(
            gatehouse_runtime::kv::open_with(&config.cache_url, &config.cache_prefix, config.cache)
                .await
                .context("connecting to the cache (GATEHOUSE_CACHE_URL)")?,
        )
    } else {
        None
    };
    let db = if needs_db { Some(connect(config, target.name()).await?) } else { None };
    // One clock for every replica: the database's (see gatehouse_runtime::clock).
    let clock: Arc<dyn Clock> = match &db {
        Some(db) => gatehouse_runtime::clock::DatabaseClock::start(db.clone()).await,
        None => Arc::new(SystemClock),
    };
    let ids = Identities::new(target, config);
    let mut servers: Vec<Server> = vec![metrics(bind(config.metrics_listen, "metrics endpoint").await?, life)?];
    if let (Some(listener), Some(db), Some(kv)) = (registry_listener, db.clone(), kv.clone()) {
        let own = ids.of(Role::Registry);
        let dependents = gatehouse_registry::Dependents::new(
            channel(config, &token_url, own.clone())?,
            channel(config, &authorization_url, own)?,
        );
        servers.push(registry(config, db, dependents, kv, clock.clone(), listener, life.clone(), &ids, target).await?);
    }
    if let (Some(listener), Some(db), Some(kv)) = (authorization_listener, db.clone(), kv.clone()) {
        let registry = channel(config, &registry_url, ids.of(Role::Authorization))?;
        servers.push(authorization(config, db, kv, registry, clock.clone(), listener, life.clone(), &ids)?);
    }
    if let (Some(listener), Some(db), Some(kv)) = (token_listener, db, kv) {
        let own = ids.of(Role::Token);
        let upstream = (channel(config, &registry_url, own.clone())?, channel(config, &authorization_url, own)?);
        servers.push(token(config, db, kv, upstream, clock.clone(), listener, life.clone(), &ids)?);
    }
    if let Some(listener) = gateway_listener {
        let own = ids.of(Role::Gateway);
        let clients = gatehouse_gateway::Clients::new(
            channel(config, &registry_url, own.clone())?,
            channel(config, &authorization_url, own.clone())?,
            channel(config, &token_url, own)?,
        );
        servers.push(gateway(config, clients, listener, life.clone())?);
    }
    Ok(servers)
}

/// Deletes a trail's events past the retention period, hourly, until shutdown.
fn keep_audit(trail: gatehouse_runtime::audit::AuditLog, config: &ServeConfig, life: &Lifecycle) {
    let stop = life.stop.clone();
    tokio::spawn(gatehouse_runtime::audit::keep_for(trail, config.audit_retention, async move { stop.wait().await }));
}

fn metrics(listener: TcpListener, life: &Lifecycle) -> anyhow::Result<Server> {
    println!("metrics listening on {}/metrics (HTTP)", local_url(listener.local_addr()?));
    let stop = life.stop.clone();
    Ok(Box::pin(async move {
        gatehouse_runtime::metrics::serve(listener, async move { stop.wait().await }).await.context("metrics endpoint")
    }))
}

#[allow(clippy::too_many_arguments)] // the composition root's one wiring of the registry
async fn registry(
    config: &ServeConfig,
    db: DatabaseConnection,
    dependents: gatehouse_registry::Dependents,
    kv: Arc<dyn gatehouse_runtime::kv::Kv>,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    life: Lifecycle,
    ids: &Identities,
    target: ServeTarget,
) -> anyhow::Result<Server> {
    let registry = gatehouse_registry::build(config.registry.clone(), db.clone(), dependents, kv, clock)?;
    if target == ServeTarget::All {
        crate::operator::ensure_embedded_credential(&registry, &config.database_url).await?;
    }
    println!("registry listening on {} (gRPC)", local_url(listener.local_addr()?));
    keep_audit(registry.audit().clone(), config, &life);
    let limits = life.limits(config, ids);
    let expiry_stop = life.stop.clone();
    tokio::spawn(gatehouse_registry::expire_unused_clients(registry.clone(), async move { expiry_stop.wait().await }));
    Ok(Box::pin(async move {
        gatehouse_registry::serve(registry, db, listener, limits, life.stop.wait()).await.context("registry server")
    }))
}

#[allow(clippy::too_many_arguments)] // the composition root's one wiring of the authorization service
fn authorization(
    config: &ServeConfig,
    db: DatabaseConnection,
    kv: Arc<dyn Kv>,
    registry: Upstream,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    life: Lifecycle,
    ids: &Identities,
) -> anyhow::Result<Server> {
    let service = gatehouse_authorization::build(config.authorization.clone(), db.clone(), kv.clone(), registry, clock);
    println!("authorization listening on {} (gRPC)", local_url(listener.local_addr()?));
    keep_audit(service.audit().clone(), config, &life);
    let limits = life.limits(config, ids);
    Ok(Box::pin(async move {
        gatehouse_authorization::serve(service, db, kv, listener, limits, life.stop.wait())
            .await
            .context("authorization server")
    }))
}

#[allow(clippy::too_many_arguments)] // the composition root's one wiring of the token service
fn token(
    config: &ServeConfig,
    db: DatabaseConnection,
    kv: Arc<dyn Kv>,
    (registry, authorization): (Upstream, Upstream),
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    life: Lifecycle,
    ids: &Identities,
) -> anyhow::Result<Server> {
    let kek = config.key_encryption_key.load()?;
    println!("token listening on {} (gRPC)", local_url(listener.local_addr()?));
    let limits = life.limits(config, ids);
    let token_config = config.token.clone();
    let retention = config.clone();
    Ok(Box::pin(async move {
        let service = gatehouse_token::build(token_config, db.clone(), kv, (registry, authorization), kek, clock)
            .await
            .context("loading the signing keys")?;
        keep_audit(service.audit().clone(), &retention, &life);
        gatehouse_token::serve(service, db, listener, limits, life.stop.wait()).await.context("token server")
    }))
}

fn gateway(
    config: &ServeConfig,
    clients: gatehouse_gateway::Clients,
    listener: TcpListener,
    life: Lifecycle,
) -> anyhow::Result<Server> {
    let gateway_config = gatehouse_gateway::GatewayConfig {
        issuer: config.authorization.issuer.clone(),
        signup_enabled: config.signup_enabled,
        trusted_proxies: config.trusted_proxies.clone(),
        form_key: config.form_key.clone(),
        draining: Some(life.draining.clone()),
        max_concurrent_requests: config.max_concurrent_requests,
        limits: config.edge,
        operator_token_hash: config.operator_token_hash.clone(),
        dynamic_registration: config.registry.registration.policy != gatehouse_registry::RegistrationPolicy::Off,
        client_id_metadata_documents: config.registry.metadata_documents.policy
            != gatehouse_registry::MetadataDocumentPolicy::Off,
    };
    println!("gateway listening on {} (HTTP)", local_url(listener.local_addr()?));
    Ok(Box::pin(async move {
        gatehouse_gateway::serve(gateway_config, clients, listener, life.stop.wait()).await.context("gateway server")
    }))
}
