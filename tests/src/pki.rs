//! A throw-away PKI for TLS tests: a CA and, signed by it, a server
//! certificate for `localhost` and 127.0.0.1 and a client certificate,
//! written to files the way a Secret mount holds them.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

/// PEM texts: the CA, and (certificate, key) pairs.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: String,
    pub server: (String, String),
    pub client: (String, String),
}

/// A new CA named `name`, with its server and client certificates.
pub fn pki(name: &str) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, format!("{name} CA"));
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("a key")).expect("a self-signed CA");
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let mut params = CertificateParams::new(names).expect("leaf parameters");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &ca).expect("a signed certificate");
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        server: leaf(vec!["localhost".to_owned(), "127.0.0.1".to_owned()], ExtendedKeyUsagePurpose::ServerAuth),
        client: leaf(vec!["gatehouse-gateway".to_owned()], ExtendedKeyUsagePurpose::ClientAuth),
        ca: ca.pem(),
    }
}

/// A folder of PEM files (`ca.pem`, `server.pem`, `server.key`,
/// `client.pem`, `client.key`), removed on drop.
#[derive(Debug)]
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    /// An empty folder under the temporary directory.
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        Self { dir }
    }

    /// `pki`'s files in a new folder.
    pub fn of(prefix: &str, pki: &Pki) -> Self {
        let files = Self::new(prefix);
        files.write(pki);
        files
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes every file the way Kubernetes updates a Secret volume: a new
    /// file renamed over the old one.
    pub fn write(&self, pki: &Pki) {
        let write = |name: &str, text: &str| {
            let temporary = self.path(&format!(".{name}.new"));
            std::fs::write(&temporary, text).expect("write a PEM file");
            std::fs::rename(&temporary, self.path(name)).expect("rename it into place");
        };
        write("ca.pem", &pki.ca);
        write("server.pem", &pki.server.0);
        write("server.key", &pki.server.1);
        write("client.pem", &pki.client.0);
        write("client.key", &pki.client.1);
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
