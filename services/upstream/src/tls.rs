//! TLS for calls between services: PEM files (as a Kubernetes Secret mounts
//! them), checked when read, and re-read when they change so that rotated
//! certificates are used without a restart.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A PEM file that is missing or holds no usable certificate or key.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct TlsError {
    pub path: String,
    pub problem: String,
}

fn error(path: &Path, problem: impl std::fmt::Display) -> TlsError {
    TlsError { path: path.display().to_string(), problem: problem.to_string() }
}

/// Reads `path`, checking that it holds at least one PEM certificate.
pub fn read_certificates(path: &Path) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), TlsError> {
    let pem = std::fs::read(path).map_err(|e| error(path, e))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(path, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(error(path, "holds no certificate"));
    }
    Ok((pem, certs))
}

/// Reads `path`, checking that it holds a PEM private key.
pub fn read_private_key(path: &Path) -> Result<(Vec<u8>, PrivateKeyDer<'static>), TlsError> {
    let pem = std::fs::read(path).map_err(|e| error(path, e))?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| error(path, format!("no PEM private key: {e}")))?;
    Ok((pem, key))
}

/// What identifies the contents of some files without reading them: a
/// change of any (a Secret update swaps a symlink) means "read again".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Vec<Option<(SystemTime, u64)>>);

impl Fingerprint {
    pub fn of(paths: &[&Path]) -> Self {
        Self(
            paths.iter().map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect(),
        )
    }
}

/// How a caller connects to `https://` services: the CA that signed their
/// certificates and, for mutual TLS, its own certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    pub ca: PathBuf,
    /// Certificate and key presented to servers that ask for one (mTLS).
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTls {
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        let mut paths = vec![self.ca.as_path()];
        if let Some((cert, key)) = &self.identity {
            paths.extend([cert.as_path(), key.as_path()]);
        }
        Fingerprint::of(&paths)
    }

    /// Reads and checks the files.
    pub fn load(&self) -> Result<LoadedClientTls, TlsError> {
        let (ca, _) = read_certificates(&self.ca)?;
        let identity = match &self.identity {
            Some((cert, key)) => {
                let (cert, _) = read_certificates(cert)?;
                let (key, _) = read_private_key(key)?;
                Some(Identity::from_pem(cert, key))
            }
            None => None,
        };
        Ok(LoadedClientTls { ca: Certificate::from_pem(ca), identity })
    }
}

/// The contents of a [`ClientTls`], ready for connections.
#[derive(Debug, Clone)]
pub struct LoadedClientTls {
    ca: Certificate,
    identity: Option<Identity>,
}

impl LoadedClientTls {
    /// The TLS settings for a connection to `domain` (the name in the
    /// service's certificate, also when dialling one of its addresses).
    pub fn for_domain(&self, domain: &str) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().ca_certificate(self.ca.clone()).domain_name(domain);
        match &self.identity {
            Some(identity) => config.identity(identity.clone()),
            None => config,
        }
    }
}
