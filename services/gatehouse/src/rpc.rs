//! The CLI's calls: a channel carrying the operator's credential and TLS,
//! the registry client, and one readable line for a failed call.

use std::path::{Path, PathBuf};

use gatehouse_oauth::InternalCredential;
use gatehouse_runtime::clients::{AuthorizationClient, Clients, RegistryClient, TokenClient};
use gatehouse_upstream::Upstream;

use crate::cli::ClientOptions;
use crate::failure::{Class, Failure, usage};

/// The file name of the embedded default's operator credential.
const EMBEDDED_FILE: &str = "operator-credential";

/// Where the embedded default keeps its operator credential: beside the
/// SQLite database; `None` for PostgreSQL.
pub(crate) fn embedded_credential_path(database_url: &str) -> Option<PathBuf> {
    let path = database_url.strip_prefix("sqlite://")?;
    let path = Path::new(path.split('?').next().unwrap_or(path));
    Some(path.parent().unwrap_or(Path::new(".")).join(EMBEDDED_FILE))
}

/// The credential the CLI presents: given, from a file, or the embedded
/// default's file when it is there.
fn presented_credential(options: &ClientOptions) -> anyhow::Result<Option<InternalCredential>> {
    let text = match (&options.credential, &options.credential_file) {
        (Some(_), Some(_)) => return Err(usage("give --credential or --credential-file, not both")),
        (Some(credential), None) => credential.0.trim().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| usage(format!("reading {}: {e}", path.display())))?
            .trim()
            .to_owned(),
        (None, None) => {
            let url =
                std::env::var("GATEHOUSE_DATABASE_URL").unwrap_or_else(|_| "sqlite://data/gatehouse.db".to_owned());
            match embedded_credential_path(&url).and_then(|path| std::fs::read_to_string(path).ok()) {
                Some(text) => text.trim().to_owned(),
                None => return Ok(None),
            }
        }
    };
    if !InternalCredential::is_well_formed(&text) {
        return Err(usage("the credential is not an internal credential (gic_…)"));
    }
    Ok(Some(InternalCredential::new(text)))
}

/// A channel to `url` with the CLI's credential and TLS settings.
pub(crate) fn channel(options: &ClientOptions, url: &str, variable: &str) -> anyhow::Result<Upstream> {
    let identity = match (&options.tls_cert_file, &options.tls_key_file) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        (None, None) => None,
        _ => return Err(usage("--tls-cert-file and --tls-key-file go together")),
    };
    let tls = match (&options.tls_ca_file, identity) {
        (Some(ca), identity) => Some(gatehouse_upstream::tls::ClientTls { ca: ca.clone(), identity }),
        (None, Some(_)) => return Err(usage("a client certificate needs --tls-ca-file (the servers' CA) too")),
        (None, None) => None,
    };
    let upstream = gatehouse_upstream::UpstreamOptions {
        tls,
        credential: presented_credential(options)?
            .and_then(|c| gatehouse_upstream::StaticCredential::bearer(c.expose())),
        ..gatehouse_upstream::UpstreamOptions::default()
    };
    gatehouse_upstream::upstream::balanced(url, upstream).map_err(|e| usage(format!("{variable} {url:?}: {e:#}")))
}

/// The registry behind `GATEHOUSE_REGISTRY_URL`: the same comma-separated
/// address list the services take, balanced the same way (a replica that is
/// down is skipped).
pub(crate) fn connect(options: &ClientOptions) -> anyhow::Result<RegistryClient> {
    Ok(RegistryClient::new(channel(options, &options.registry_url, "GATEHOUSE_REGISTRY_URL")?))
}

/// The token service behind `GATEHOUSE_TOKEN_URL`.
pub(crate) fn token_service(options: &ClientOptions) -> anyhow::Result<TokenClient> {
    Ok(TokenClient::new(channel(options, &options.token_url, "GATEHOUSE_TOKEN_URL")?))
}

/// All three services (the audit trail spans them).
pub(crate) fn services(options: &ClientOptions) -> anyhow::Result<Clients> {
    Ok(Clients {
        registry: connect(options)?,
        authorization: AuthorizationClient::new(channel(
            options,
            &options.authorization_url,
            "GATEHOUSE_AUTHORIZATION_URL",
        )?),
        token: token_service(options)?,
    })
}

/// Turns a status into one readable line (the service's message and the
/// code), classified for the exit status.
#[allow(clippy::needless_pass_by_value)] // shaped for `.map_err(rpc_error)`
pub(crate) fn rpc_error(status: tonic::Status) -> anyhow::Error {
    let code = status.code();
    let message = if gatehouse_runtime::access::refusal_of(&status)
        == Some(gatehouse_runtime::access::Refusal::Unauthenticated)
    {
        format!(
            "the server does not know this caller: give an operator credential (GATEHOUSE_CREDENTIAL_FILE, \
             `gatehouse credential create` or `bootstrap`) or a client certificate listed in GATEHOUSE_GRPC_PEERS \
             ({code:?})"
        )
    } else if matches!(code, tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled) {
        format!(
            "cannot reach the registry (is `gatehouse serve` running, and GATEHOUSE_REGISTRY_URL right?): {} ({code:?})",
            status.message()
        )
    } else {
        format!("{} ({code:?})", status.message())
    };
    anyhow::Error::new(Failure { class: Class::of(code), code: Some(code), message })
}
