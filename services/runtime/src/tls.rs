//! TLS (and mutual TLS) on the gRPC ports, from PEM files that are re-read
//! when they change: a rotated certificate (a Kubernetes Secret update, a
//! cert-manager renewal) is used for every new connection without a
//! restart, and established connections keep theirs.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use gatehouse_upstream::tls::{Fingerprint, TlsError, read_certificates, read_private_key};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// Where a server's TLS material is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA (mTLS).
    pub client_ca: Option<PathBuf>,
}

impl ServerTlsFiles {
    fn fingerprint(&self) -> Fingerprint {
        let mut paths = vec![self.cert.as_path(), self.key.as_path()];
        paths.extend(self.client_ca.as_deref());
        Fingerprint::of(&paths)
    }

    fn build(&self) -> Result<rustls::ServerConfig, TlsError> {
        let (_, certs) = read_certificates(&self.cert)?;
        let (_, key) = read_private_key(&self.key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let invalid = |path: &std::path::Path, e: &dyn std::fmt::Display| TlsError {
            path: path.display().to_string(),
            problem: e.to_string(),
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(&self.cert, &e))?;
        let builder = match &self.client_ca {
            Some(path) => {
                let (_, cas) = read_certificates(path)?;
                let mut roots = rustls::RootCertStore::empty();
                for ca in cas {
                    roots.add(ca).map_err(|e| invalid(path, &e))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| invalid(path, &e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| invalid(&self.key, &e))?;
        // gRPC is HTTP/2 only.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

/// A server's current TLS configuration, re-read when its files change.
#[derive(Debug)]
pub struct ServerTls {
    files: ServerTlsFiles,
    current: RwLock<(Fingerprint, Arc<rustls::ServerConfig>)>,
}

/// How often the files are looked at (only when a connection arrives).
const RECHECK: Duration = Duration::from_secs(1);

impl ServerTls {
    /// Reads the files; an unreadable or invalid one fails here, at start.
    pub fn load(files: ServerTlsFiles) -> Result<Arc<Self>, TlsError> {
        let fingerprint = files.fingerprint();
        let config = Arc::new(files.build()?);
        Ok(Arc::new(Self { files, current: RwLock::new((fingerprint, config)) }))
    }

    /// The configuration for a new connection, re-read first when the files
    /// changed. A failed re-read keeps the previous configuration (a Secret
    /// update may be half written) and is tried again later.
    fn config(&self) -> Arc<rustls::ServerConfig> {
        let fingerprint = self.files.fingerprint();
        {
            let current = self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if current.0 == fingerprint {
                return current.1.clone();
            }
        }
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.files.build() {
            Ok(config) => {
                tracing::info!(cert = %self.files.cert.display(), "TLS files changed, new connections use them");
                *current = (fingerprint, Arc::new(config));
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the changed TLS files, keeping the previous ones");
                current.0 = fingerprint;
            }
        }
        current.1.clone()
    }
}

/// The connections of `listener`, each after its TLS handshake. Handshakes
/// run in their own tasks (a slow client cannot hold up the others) and are
/// bounded in time; a failed one is logged and dropped. The listener is
/// closed once the server drops the stream: the returned task ends then.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<ServerTls>,
) -> (ReceiverStream<std::io::Result<TlsStream<TcpStream>>>, tokio::task::JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(64);
    let acceptor_task = tokio::spawn(async move {
        let mut checked = Instant::now();
        let mut acceptor = TlsAcceptor::from(tls.config());
        loop {
            let accepted = tokio::select! {
                () = sender.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let tcp = match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    // Such as too many open files: back off instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if checked.elapsed() >= RECHECK {
                acceptor = TlsAcceptor::from(tls.config());
                checked = Instant::now();
            }
            let _ = tcp.set_nodelay(true);
            let (acceptor, sender) = (acceptor.clone(), sender.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = sender.send(Ok(stream)).await;
                    }
                    Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            });
        }
    });
    (ReceiverStream::new(receiver), acceptor_task)
}
