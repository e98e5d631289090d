//! Starting parts: one per process (Kubernetes) or all in one (embedded).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use gatehouse_oauth::SystemClock;
use gatehouse_runtime::grpc::ServerLimits;
use gatehouse_runtime::shutdown::{Shutdown, drain_within, signal};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;

use crate::cli::ServeTarget;
use crate::config::ServeConfig;

async fn connect(config: &ServeConfig) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = config.database_url.strip_prefix("sqlite://") {
        // The embedded default keeps its file in a data folder; create it.
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    gatehouse_runtime::database::connect(&config.database_url, config.database_max_connections)
        .await
        .context("connecting to the database (GATEHOUSE_DATABASE_URL)")
}

/// Applies every service's migrations.
pub(crate) async fn migrate(config: &ServeConfig) -> anyhow::Result<()> {
    let db = connect(config).await?;
    run_migrations(&db).await?;
    println!("migrations applied");
    Ok(())
}

async fn run_migrations(db: &DatabaseConnection) -> anyhow::Result<()> {
    gatehouse_registry::migration::Migrator::up(db, None).await.context("registry migrations")?;
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

/// Runs `target` until SIGTERM or SIGINT, then drains within the grace period.
pub(crate) async fn run(target: ServeTarget, config: ServeConfig) -> anyhow::Result<()> {
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(async move {
        signal().await;
        trigger.trigger();
    });
    let grace = config.shutdown_grace;
    let servers = start(target, config, shutdown.clone());
    tokio::pin!(servers);
    tokio::select! {
        result = &mut servers => return result,
        () = shutdown.wait() => {}
    }
    drain_within(grace, "gatehouse", async {
        if let Err(error) = servers.await {
            tracing::error!(error = %format!("{error:#}"), "server stopped with an error during shutdown");
        }
    })
    .await;
    Ok(())
}

async fn start(target: ServeTarget, config: ServeConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    match target {
        ServeTarget::All => {
            let registry_listener = bind(config.registry_listen, "registry").await?;
            let gateway_listener = bind(config.gateway_listen, "gateway").await?;
            let registry_url = local_url(registry_listener.local_addr()?);
            let registry = registry(&config, registry_listener, shutdown.clone()).await?;
            let gateway = gateway(&config, &registry_url, gateway_listener, shutdown)?;
            tokio::try_join!(registry, gateway)?;
        }
        ServeTarget::Registry => {
            let listener = bind(config.registry_listen, "registry").await?;
            registry(&config, listener, shutdown).await?.await?;
        }
        ServeTarget::Gateway => {
            let listener = bind(config.gateway_listen, "gateway").await?;
            gateway(&config, &config.registry_url, listener, shutdown)?.await?;
        }
    }
    Ok(())
}

async fn registry(
    config: &ServeConfig,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<impl Future<Output = anyhow::Result<()>> + use<>> {
    let db = connect(config).await?;
    if config.auto_migrate {
        run_migrations(&db).await?;
    }
    let registry = gatehouse_registry::build(config.registry.clone(), db.clone(), Arc::new(SystemClock))?;
    let address = listener.local_addr()?;
    println!("registry listening on {} (gRPC)", local_url(address));
    Ok(async move {
        gatehouse_registry::serve(registry, db, listener, ServerLimits::default(), shutdown.wait())
            .await
            .context("registry server")
    })
}

fn gateway(
    config: &ServeConfig,
    registry_url: &str,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<impl Future<Output = anyhow::Result<()>> + use<>> {
    let clients = gatehouse_gateway::Clients::new(registry_url, config.rpc_timeout)?;
    let gateway_config = gatehouse_gateway::GatewayConfig { rpc_timeout: config.rpc_timeout };
    let address = listener.local_addr()?;
    println!("gateway listening on {} (HTTP)", local_url(address));
    Ok(async move {
        gatehouse_gateway::serve(gateway_config, clients, listener, shutdown.wait()).await.context("gateway server")
    })
}
