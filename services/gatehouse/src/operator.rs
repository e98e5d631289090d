//! The operator's way in: the credential and TLS every CLI command calls
//! with, the embedded default's credential file, and `gatehouse credential`.
//!
//! `serve all` keeps an operator credential in its data folder
//! (`operator-credential`, readable by its user only) and the CLI reads it
//! from there when given none, so the README's two commands work unchanged.
//! A production deployment gets its first operator credential with
//! `gatehouse credential bootstrap`, which writes straight into the database.

use std::time::Duration;

use anyhow::Context;
use gatehouse_proto::pb::registry::v1 as pb;

use crate::cli::{CredentialCommand, OutputFormat};
use crate::rpc::{connect, embedded_credential_path, rpc_error};

/// Makes sure the embedded default's operator credential file holds a
/// valid credential: keeps it when it does, issues a new one otherwise.
pub(crate) async fn ensure_embedded_credential(
    registry: &gatehouse_registry::Registry,
    database_url: &str,
) -> anyhow::Result<()> {
    let Some(path) = embedded_credential_path(database_url) else {
        return Ok(());
    };
    if let Ok(text) = std::fs::read_to_string(&path)
        && registry.authenticate_credential(text.trim()).await?.is_some()
    {
        return Ok(());
    }
    let (info, credential) =
        registry.create_credential("embedded operator", "operator", None, "serve all (embedded default)").await?;
    let _ = std::fs::remove_file(&path);
    crate::config::write_secret_file(&path, credential.expose())
        .with_context(|| format!("writing the operator credential {}", path.display()))?;
    println!("operator credential {} written to {} (the CLI reads it from there)", info.id, path.display());
    Ok(())
}

fn ttl(days: u64) -> i64 {
    i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX)
}

pub(crate) async fn credential(command: CredentialCommand) -> anyhow::Result<()> {
    match command {
        CredentialCommand::Create { name, role, ttl_days, client: options } => {
            let client = connect(&options)?;
            let (info, credential) = client.create_credential(&name, &role, ttl(ttl_days)).await.map_err(rpc_error)?;
            crate::output::credential_created(options.output, &info, &credential);
        }
        CredentialCommand::List { client: options } => {
            let listed = connect(&options)?.list_credentials().await.map_err(rpc_error)?;
            crate::output::credentials(options.output, &listed);
        }
        CredentialCommand::Revoke { id, confirm, client: options } => {
            confirm.check(&format!("revoke the credential {id}; every call made with it is refused"))?;
            connect(&options)?.revoke_credential(&id).await.map_err(rpc_error)?;
            crate::output::done(options.output, &format!("revoked credential {id}"));
        }
        CredentialCommand::Bootstrap { name, role, ttl_days, output, options } => {
            bootstrap(&name, &role, ttl_days, output, *options).await?;
        }
    }
    Ok(())
}

/// Writes a credential straight into the registry's tables.
async fn bootstrap(
    name: &str,
    role: &str,
    ttl_days: u64,
    output: OutputFormat,
    options: crate::cli::ServeOptions,
) -> anyhow::Result<()> {
    let config = options.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = config.open_database().await?;
    // The use case never reaches the other services: the registry is built
    // with channels that are never called.
    let unused = gatehouse_upstream::upstream::balanced("http://127.0.0.1:9", Default::default())?;
    let upstreams =
        gatehouse_upstream::Upstreams { registry: unused.clone(), authorization: unused.clone(), token: unused };
    let kv = gatehouse_runtime::kv::open_with("memory://", "", Default::default()).await?;
    let clock = gatehouse_runtime::clock::DatabaseClock::start(db.clone()).await;
    let deps = gatehouse_runtime::part::Dependencies { db, kv, clock, upstreams };
    let config = gatehouse_registry::RegistryConfig { issuer: config.issuer.clone(), ..config.registry.clone() };
    let registry = gatehouse_registry::build(config, deps).await?;
    let ttl = (ttl_days > 0).then(|| Duration::from_secs(ttl_days.saturating_mul(86_400)));
    let (info, credential) = registry.create_credential(name, role, ttl, "gatehouse credential bootstrap").await?;
    crate::output::credential_created(output, &pb::InternalCredential::from(info), credential.expose());
    Ok(())
}
