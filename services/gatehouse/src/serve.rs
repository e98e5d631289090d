//! `gatehouse serve` and `gatehouse migrate`: the settings of a
//! [`Deployment`] from the validated configuration; the wiring itself is the
//! deployment crate's, the same one the test harness starts.

use gatehouse_deployment::{CacheSettings, Deployment, Elsewhere, Issuer, Lifecycle, Listen, Parts, Plane, local_url};
use gatehouse_runtime::shutdown::{Shutdown, drain_within, signal};

use crate::cli::ServeTarget;
use crate::config::ServeConfig;

impl From<ServeTarget> for Parts {
    fn from(target: ServeTarget) -> Self {
        match target {
            ServeTarget::All => Self::All,
            ServeTarget::Registry => Self::Registry,
            ServeTarget::Authorization => Self::Authorization,
            ServeTarget::Token => Self::Token,
            ServeTarget::Gateway => Self::Gateway,
        }
    }
}

impl ServeConfig {
    /// The deployment `target` runs; the key-encryption key is loaded (or
    /// made, for the embedded default) where the token service (signing
    /// keys) or the registry (two-step sign-in secrets) runs.
    fn deployment(&self, target: ServeTarget) -> anyhow::Result<Deployment> {
        let parts = Parts::from(target);
        let mut token = self.token.clone();
        let mut registry = self.registry.clone();
        if matches!(target, ServeTarget::All | ServeTarget::Token | ServeTarget::Registry) {
            let kek = self.key_encryption_key.load()?;
            token.key_encryption_key = Some(kek.clone());
            registry.key_encryption_key = Some(kek);
        }
        Ok(Deployment {
            parts,
            issuer: Issuer::Url(self.issuer.clone()),
            database: self.database(),
            cache: CacheSettings {
                url: self.cache_url.clone(),
                prefix: self.cache_prefix.clone(),
                options: self.cache.clone(),
            },
            listen: Listen {
                registry: self.registry_listen,
                authorization: self.authorization_listen,
                token: self.token_listen,
                gateway: self.gateway_listen,
                metrics: Some(self.metrics_listen),
            },
            elsewhere: Elsewhere {
                registry: self.registry_url.clone(),
                authorization: self.authorization_url.clone(),
                token: self.token_url.clone(),
            },
            registry,
            authorization: self.authorization.clone(),
            token,
            gateway: gatehouse_gateway::GatewayConfig {
                signup: self.signup.clone(),
                mail_enabled: self.registry.mail.is_some(),
                trusted_proxies: self.trusted_proxies.clone(),
                form_key: self.form_key.clone(),
                max_concurrent_requests: self.max_concurrent_requests,
                limits: self.edge,
                operator_token_hash: self.operator_token_hash.clone(),
                ..gatehouse_gateway::GatewayConfig::default()
            },
            plane: Plane {
                server_tls: self.server_tls.clone(),
                client_tls: self.client_tls.clone(),
                peers: self.peers.clone(),
                credential: self.credential.clone(),
                in_process_roles: Vec::new(),
                rpc_timeout: self.rpc_timeout,
                max_concurrent_requests: self.max_concurrent_requests,
                reflection: self.grpc_reflection,
            },
            audit_retention: self.audit_retention,
            clock: None,
        })
    }
}

/// Applies every service's migrations.
pub(crate) async fn migrate(config: &ServeConfig) -> anyhow::Result<()> {
    config.open_database().await?;
    println!("migrations applied");
    Ok(())
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
    let life = Lifecycle { draining, stop: shutdown.clone() };
    let running = config.deployment(target)?.start(&life).await?;
    if let (ServeTarget::All, Some(registry)) = (target, &running.registry) {
        crate::operator::ensure_embedded_credential(registry, &config.database_url).await?;
    }
    let listening = [
        ("metrics", running.addresses.metrics, "/metrics (HTTP)"),
        ("registry", running.addresses.registry, " (gRPC)"),
        ("authorization", running.addresses.authorization, " (gRPC)"),
        ("token", running.addresses.token, " (gRPC)"),
        ("gateway", running.addresses.gateway, " (HTTP)"),
    ];
    for (part, address, what) in listening {
        if let Some(address) = address {
            gatehouse_runtime::telemetry::listening(part, &local_url(address), what);
        }
    }
    let all = running.run();
    tokio::pin!(all);
    tokio::select! {
        result = &mut all => return result,
        () = shutdown.wait() => {}
    }
    drain_within(config.shutdown_grace, "gatehouse", async {
        if let Err(error) = all.await {
            tracing::error!(error = %format!("{error:#}"), "server stopped with an error during shutdown");
        }
    })
    .await;
    Ok(())
}
