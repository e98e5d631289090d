//! Validated configuration: every `GATEHOUSE_*` value is checked here,
//! before anything binds; every bad one is reported, one line each naming it.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use gatehouse_authorization::AuthorizationConfig;
use gatehouse_deployment::DatabaseSettings;
use gatehouse_oauth::ScopeCatalogue;
use gatehouse_registry::{PasswordParams, RegistryConfig};
use gatehouse_runtime::telemetry::LogFormat;
use gatehouse_runtime::tls::{ServerTls, ServerTlsFiles};
use gatehouse_token::TokenConfig;
use gatehouse_upstream::tls::ClientTls;

use crate::cli::{ServeOptions, ServeTarget};

/// One bad setting: the variable and what is wrong with its value.
#[derive(Debug)]
pub(crate) struct ConfigError {
    pub(crate) variable: &'static str,
    pub(crate) problem: String,
}

impl std::error::Error for ConfigError {}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.variable, self.problem)
    }
}

/// Every bad setting of a configuration, each naming its variable: a
/// start-up reports them all at once, one line each.
#[derive(Debug)]
pub(crate) struct ConfigErrors(pub(crate) Vec<ConfigError>);

impl std::error::Error for ConfigErrors {}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

/// What is wrong so far while the settings are read: reading goes on past
/// a bad value (with a stand-in that is never used, since a configuration
/// with any problem is refused) so that every bad setting is named.
#[derive(Debug, Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    fn add(&mut self, error: ConfigError) {
        self.0.push(error);
    }

    /// The value, or a stand-in once what is wrong was noted.
    fn note<T>(&mut self, result: Result<T, ConfigError>, stand_in: impl FnOnce() -> T) -> T {
        result.unwrap_or_else(|error| {
            self.0.push(error);
            stand_in()
        })
    }

    fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() { Ok(value) } else { Err(ConfigErrors(self.0)) }
    }
}

fn bad(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { variable, problem: problem.into() }
}

/// Everything `serve` and `migrate` need, validated.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    /// The issuer identifier, validated here once; the deployment gives it to every part.
    pub(crate) issuer: String,
    pub(crate) database_url: String,
    pub(crate) database_password_file: Option<std::path::PathBuf>,
    pub(crate) database_max_connections: u32,
    pub(crate) auto_migrate: bool,
    pub(crate) registry_listen: SocketAddr,
    pub(crate) gateway_listen: SocketAddr,
    pub(crate) metrics_listen: SocketAddr,
    pub(crate) registry_url: String,
    pub(crate) authorization_listen: SocketAddr,
    pub(crate) authorization_url: String,
    pub(crate) cache_url: String,
    pub(crate) cache_prefix: String,
    pub(crate) cache: gatehouse_runtime::kv::KvOptions,
    pub(crate) max_concurrent_requests: usize,
    pub(crate) edge: gatehouse_gateway::EdgeLimits,
    pub(crate) authorization: AuthorizationConfig,
    pub(crate) token_listen: SocketAddr,
    pub(crate) token_url: String,
    pub(crate) token: TokenConfig,
    pub(crate) signup: gatehouse_runtime::signup::SignupPolicy,
    /// Where the key-encryption key of the signing keys comes from.
    pub(crate) key_encryption_key: KekSource,
    /// The hash of the operator token (never the token itself).
    pub(crate) operator_token_hash: Option<gatehouse_oauth::SecretHash>,
    pub(crate) trusted_proxies: gatehouse_gateway::TrustedProxies,
    pub(crate) form_key: Option<gatehouse_gateway::FormKey>,
    pub(crate) rpc_timeout: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) shutdown_delay: Duration,
    pub(crate) registry: RegistryConfig,
    pub(crate) log_format: LogFormat,
    /// TLS on this process's gRPC ports.
    pub(crate) server_tls: Option<Arc<ServerTls>>,
    /// How this process calls `https://` services.
    pub(crate) client_tls: Option<ClientTls>,
    /// Where traces are exported (OTLP/gRPC); none when unset.
    pub(crate) otlp_endpoint: Option<String>,
    /// The identities of workload certificates the gRPC ports admit.
    pub(crate) peers: gatehouse_runtime::access::PeerMap,
    /// Whether the gRPC ports ask for client certificates.
    pub(crate) mutual_tls: bool,
    /// This part's internal credential for its calls (a per-part process
    /// without a workload certificate).
    pub(crate) credential: Option<gatehouse_oauth::InternalCredential>,
    pub(crate) grpc_reflection: bool,
    /// How long audit events are kept.
    pub(crate) audit_retention: Duration,
}

impl ServeConfig {
    pub(crate) fn database(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: self.database_url.clone(),
            password_file: self.database_password_file.clone(),
            max_connections: self.database_max_connections,
            migrate: self.auto_migrate,
        }
    }

    /// The database with every migration applied (`gatehouse migrate`, `credential bootstrap`).
    pub(crate) async fn open_database(&self) -> anyhow::Result<sea_orm::DatabaseConnection> {
        let settings = DatabaseSettings { max_connections: 1, migrate: true, ..self.database() };
        gatehouse_deployment::open_database(&settings).await
    }
}

/// Where the token service's key-encryption key comes from.
#[derive(Debug, Clone)]
pub(crate) enum KekSource {
    Configured(gatehouse_token::KeyEncryptionKey),
    /// The embedded default: a file beside the SQLite database, made on first start.
    BesideDatabase(std::path::PathBuf),
    /// PostgreSQL without a configured key: only an error once the token service starts.
    Missing,
}

impl KekSource {
    /// The key, making the embedded default's file when it is not there yet.
    pub(crate) fn load(&self) -> anyhow::Result<gatehouse_token::KeyEncryptionKey> {
        use anyhow::Context;
        match self {
            Self::Configured(kek) => Ok(kek.clone()),
            Self::Missing => anyhow::bail!(
                "GATEHOUSE_KEY_ENCRYPTION_KEY_FILE (or GATEHOUSE_KEY_ENCRYPTION_KEY) is required with PostgreSQL: \
                 every token replica must seal and open the signing keys with the same key (openssl rand -base64 32)"
            ),
            Self::BesideDatabase(path) => {
                if !path.exists() {
                    write_secret_file(path, &gatehouse_token::KeyEncryptionKey::generate_base64())
                        .with_context(|| format!("writing the key-encryption key {}", path.display()))?;
                    println!(
                        "generated the key-encryption key of the signing keys at {} (keep it with the database's backups)",
                        path.display()
                    );
                }
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                gatehouse_token::KeyEncryptionKey::from_base64(&text).with_context(|| path.display().to_string())
            }
        }
    }
}

/// Writes a new file readable by its owner only.
pub(crate) fn write_secret_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

fn socket_addr(variable: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| bad(variable, format!("{value:?} is not an address like 127.0.0.1:8080")))
}

/// One or more comma-separated `http(s)://host:port`: every address (and
/// every address a name resolves to) is a replica the callers balance over.
fn service_url(variable: &'static str, value: &str, tls: Option<&ClientTls>) -> Result<String, ConfigError> {
    let value = value.trim().trim_end_matches('/');
    let https = gatehouse_upstream::upstream::validate(value).map_err(|e| bad(variable, e.to_string()))?;
    if https && tls.is_none() {
        return Err(bad(variable, "https:// addresses need GATEHOUSE_TLS_CA_FILE, the CA to trust"));
    }
    Ok(value.to_owned())
}

/// The TLS files: a certificate and its key go together; a client CA needs
/// them; each file is read and checked now, so that a bad one stops the start.
fn tls(options: &ServeOptions) -> Result<(Option<Arc<ServerTls>>, Option<ClientTls>), ConfigError> {
    let identity = match (&options.tls_cert_file, &options.tls_key_file) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        (None, None) => None,
        (Some(_), None) => return Err(bad("GATEHOUSE_TLS_KEY_FILE", "is needed with GATEHOUSE_TLS_CERT_FILE")),
        (None, Some(_)) => return Err(bad("GATEHOUSE_TLS_CERT_FILE", "is needed with GATEHOUSE_TLS_KEY_FILE")),
    };
    let server = match (&identity, &options.tls_client_ca_file) {
        (Some((cert, key)), client_ca) => {
            let files = ServerTlsFiles { cert: cert.clone(), key: key.clone(), client_ca: client_ca.clone() };
            Some(ServerTls::load(files).map_err(|e| bad("GATEHOUSE_TLS_CERT_FILE", e.to_string()))?)
        }
        (None, Some(_)) => {
            return Err(bad(
                "GATEHOUSE_TLS_CLIENT_CA_FILE",
                "needs GATEHOUSE_TLS_CERT_FILE and GATEHOUSE_TLS_KEY_FILE",
            ));
        }
        (None, None) => None,
    };
    let client = options.tls_ca_file.as_ref().map(|ca| ClientTls { ca: ca.clone(), identity });
    if let Some(client) = &client {
        client.load().map_err(|e| bad("GATEHOUSE_TLS_CA_FILE", e.to_string()))?;
    }
    Ok((server, client))
}

fn issuer(value: &str) -> Result<String, ConfigError> {
    const VARIABLE: &str = "GATEHOUSE_ISSUER";
    let url = url::Url::parse(value).map_err(|_| bad(VARIABLE, format!("{value:?} is not an absolute URL")))?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !plain {
        return Err(bad(VARIABLE, "must be an http(s) URL without query or fragment, like https://auth.example.com"));
    }
    // The gateway serves its endpoints, pages and well-known documents at
    // the root of its host; an issuer with a path would publish endpoint
    // URLs and RFC 8414 discovery locations that it does not answer.
    if url.path() != "/" {
        return Err(bad(
            VARIABLE,
            "must be an origin without a path, like https://auth.example.com (give Gatehouse its own host)",
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn registration_policy(value: &str) -> Result<gatehouse_registry::RegistrationPolicy, ConfigError> {
    use gatehouse_registry::RegistrationPolicy;
    match value.trim() {
        "off" => Ok(RegistrationPolicy::Off),
        "token" => Ok(RegistrationPolicy::InitialAccessToken),
        "open" => Ok(RegistrationPolicy::Open),
        other => Err(bad("GATEHOUSE_DYNAMIC_REGISTRATION", format!("{other:?} is not off, token or open"))),
    }
}

fn metadata_document_policy(value: &str) -> Result<gatehouse_registry::MetadataDocumentPolicy, ConfigError> {
    use gatehouse_registry::MetadataDocumentPolicy;
    match value.trim() {
        "open" => Ok(MetadataDocumentPolicy::Open),
        "off" | "" => Ok(MetadataDocumentPolicy::Off),
        hosts => {
            let hosts: Vec<String> =
                hosts.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
            if let Some(bad_host) = hosts.iter().find(|h| url::Host::parse(h).is_err() || h.contains(['/', ':'])) {
                return Err(bad(
                    "GATEHOUSE_CLIENT_METADATA_DOCUMENTS",
                    format!("{bad_host:?} is not a host name (use open, off, or hosts like app.example,vscode.dev)"),
                ));
            }
            Ok(MetadataDocumentPolicy::AllowHosts(hosts))
        }
    }
}

fn cache_url(value: &str) -> Result<String, ConfigError> {
    gatehouse_runtime::kv::check_url(value).map_err(|reason| bad("GATEHOUSE_CACHE_URL", reason))?;
    Ok(value.to_owned())
}

/// The TLS files of a `rediss://` cache, checked against the URL.
fn cache_tls(
    url: &str,
    ca_file: Option<&std::path::Path>,
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> Result<gatehouse_runtime::kv::CacheTls, ConfigError> {
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert.to_owned(), key.to_owned())),
        (None, None) => None,
        _ => {
            return Err(bad(
                "GATEHOUSE_CACHE_CLIENT_CERT_FILE",
                "goes with GATEHOUSE_CACHE_CLIENT_KEY_FILE: set both or neither",
            ));
        }
    };
    let tls = gatehouse_runtime::kv::CacheTls { ca_file: ca_file.map(ToOwned::to_owned), client };
    if tls.is_set() && !gatehouse_runtime::kv::is_tls_url(url) {
        return Err(bad(
            "GATEHOUSE_CACHE_CA_FILE",
            "and the client certificate need a TLS GATEHOUSE_CACHE_URL (rediss://, rediss+sentinel://, rediss+cluster://)",
        ));
    }
    Ok(tls)
}

fn seconds(variable: &'static str, value: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(Duration::from_secs(value))
    } else {
        Err(bad(variable, format!("must be between {min} and {max} seconds")))
    }
}

fn millis(variable: &'static str, value: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(Duration::from_millis(value))
    } else {
        Err(bad(variable, format!("must be between {min} and {max} milliseconds")))
    }
}

fn database_url(value: &str) -> Result<String, ConfigError> {
    const VARIABLE: &str = "GATEHOUSE_DATABASE_URL";
    if value.starts_with("sqlite:") {
        Ok(value.to_owned())
    } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        gatehouse_runtime::database::check_postgres_url(value).map_err(|reason| bad(VARIABLE, reason))?;
        Ok(value.to_owned())
    } else {
        Err(bad(VARIABLE, "must start with sqlite: or postgres://"))
    }
}

/// The PostgreSQL password file: readable now, and with a URL that carries no password.
fn database_password_file(
    url: &str,
    file: Option<&std::path::Path>,
) -> Result<Option<std::path::PathBuf>, ConfigError> {
    const VARIABLE: &str = "GATEHOUSE_DATABASE_PASSWORD_FILE";
    let Some(file) = file else { return Ok(None) };
    if url.starts_with("sqlite:") {
        return Err(bad(VARIABLE, "is for PostgreSQL; the database URL is SQLite"));
    }
    let authority = url.split_once("://").map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
    if authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':')) {
        return Err(bad(VARIABLE, "and a password in GATEHOUSE_DATABASE_URL: keep the password in one place"));
    }
    std::fs::metadata(file).map_err(|e| bad(VARIABLE, format!("cannot read {}: {e}", file.display())))?;
    Ok(Some(file.to_owned()))
}

fn scope_catalogue(path: Option<&std::path::Path>) -> Result<ScopeCatalogue, ConfigError> {
    const VARIABLE: &str = "GATEHOUSE_SCOPES_FILE";
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        description: String,
        #[serde(default)]
        description_zh: String,
    }
    let Some(path) = path else {
        return Ok(ScopeCatalogue::default());
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(VARIABLE, format!("cannot read {}: {e}", path.display())))?;
    let entries: Vec<Entry> =
        serde_json::from_str(&text).map_err(|e| bad(VARIABLE, format!("{}: {e}", path.display())))?;
    ScopeCatalogue::new(entries.into_iter().map(|e| (e.name, e.description, e.description_zh)))
        .map_err(|e| bad(VARIABLE, e.to_string()))
}

impl ServeConfig {
    /// Settings that only make sense for some targets.
    pub(crate) fn for_target(self, target: ServeTarget) -> Result<Self, ConfigErrors> {
        if target == ServeTarget::All && self.server_tls.is_some() {
            // The parts of `serve all` call each other on loopback, inside one process.
            return Err(ConfigErrors::from(bad(
                "GATEHOUSE_TLS_CERT_FILE",
                "TLS is for the per-part processes (serve registry|authorization|token)",
            )));
        }
        // A peer map names certificates; a gRPC port that asks for none would never use it.
        let serves_grpc = matches!(target, ServeTarget::Registry | ServeTarget::Authorization | ServeTarget::Token);
        if serves_grpc && !self.peers.is_empty() && !self.mutual_tls {
            return Err(ConfigErrors::from(bad(
                "GATEHOUSE_GRPC_PEERS",
                "lists workload certificates, but the gRPC port asks for none: set GATEHOUSE_TLS_CLIENT_CA_FILE (mutual TLS)",
            )));
        }
        Ok(self)
    }
}

/// A setting that can hold a secret, from its variable or from the file its
/// `_FILE` variable names (a Kubernetes Secret mounted as a file), not both.
/// The file's final newline is not part of the value; its text is never
/// part of an error.
impl crate::cli::ServeOptions {
    /// Mail settings: both the server and the sender, or neither.
    fn mail(&self) -> Result<Option<gatehouse_registry::MailConfig>, ConfigError> {
        let url = secret_setting(
            "GATEHOUSE_SMTP_URL",
            "GATEHOUSE_SMTP_URL_FILE",
            self.smtp_url.as_deref(),
            self.smtp_url_file.as_deref(),
        )?;
        let from = self.mail_from.trim();
        match (url, from.is_empty()) {
            (None, true) => Ok(None),
            (None, false) => Err(bad("GATEHOUSE_SMTP_URL", "is needed with GATEHOUSE_MAIL_FROM")),
            (Some(_), true) => Err(bad("GATEHOUSE_MAIL_FROM", "is needed with GATEHOUSE_SMTP_URL")),
            (Some(url), false) => {
                let mail = gatehouse_registry::MailConfig { url: url.trim().to_owned(), from: from.to_owned() };
                mail.check().map_err(|e| bad("GATEHOUSE_SMTP_URL", e.to_string()))?;
                Ok(Some(mail))
            }
        }
    }
}

fn secret_setting(
    variable: &'static str,
    file_variable: &'static str,
    value: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(bad(variable, format!("set it or {file_variable}, not both"))),
        (Some(value), None) => Ok(Some(value.to_owned())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| {
                Some(text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t)).to_owned())
            })
            .map_err(|e| bad(file_variable, format!("{}: {e}", path.display()))),
        (None, None) => Ok(None),
    }
}

/// `url` with `password` (percent-encoded) in its credentials: `redis://host`
/// becomes `redis://:PASSWORD@host`, `redis://user@host` `redis://user:PASSWORD@host`.
fn with_password(url: &str, password: &str) -> Result<String, String> {
    let Some((scheme, rest)) = url.split_once("://").filter(|(scheme, _)| scheme.starts_with("redis")) else {
        return Err("is for a Redis GATEHOUSE_CACHE_URL".to_owned());
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let encoded: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
    // form encoding writes a space as '+', which a URL's userinfo reads literally.
    let encoded = encoded.replace('+', "%20");
    match rest[..end].rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => {
            Err("and a password in GATEHOUSE_CACHE_URL: keep the password in one place".to_owned())
        }
        Some((user, hosts)) => Ok(format!("{scheme}://{user}:{encoded}@{hosts}{}", &rest[end..])),
        None => Ok(format!("{scheme}://:{encoded}@{rest}")),
    }
}

/// Where the database is when nothing says otherwise: the embedded default.
const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db";

impl ServeOptions {
    /// GATEHOUSE_DATABASE_URL, from the variable, its file or the default.
    pub(crate) fn database_url(&self) -> Result<String, ConfigError> {
        let url = secret_setting(
            "GATEHOUSE_DATABASE_URL",
            "GATEHOUSE_DATABASE_URL_FILE",
            self.database_url.as_deref(),
            self.database_url_file.as_deref(),
        )?;
        Ok(url.unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()))
    }

    /// GATEHOUSE_CACHE_URL, from the variable, its file or the default
    /// (`memory://`), with the password of GATEHOUSE_CACHE_PASSWORD_FILE.
    fn cache_url(&self) -> Result<String, ConfigError> {
        const PASSWORD_FILE: &str = "GATEHOUSE_CACHE_PASSWORD_FILE";
        let url = secret_setting(
            "GATEHOUSE_CACHE_URL",
            "GATEHOUSE_CACHE_URL_FILE",
            self.cache_url.as_deref(),
            self.cache_url_file.as_deref(),
        )?
        .unwrap_or_else(|| "memory://".to_owned());
        let Some(password) = secret_setting(PASSWORD_FILE, PASSWORD_FILE, None, self.cache_password_file.as_deref())?
        else {
            return Ok(url);
        };
        with_password(&url, &password).map_err(|reason| bad(PASSWORD_FILE, reason))
    }

    /// The key-encryption key from the variable or its file.
    fn key_encryption_key(&self, database_url: &str) -> Result<KekSource, ConfigError> {
        const VARIABLE: &str = "GATEHOUSE_KEY_ENCRYPTION_KEY";
        let text = secret_setting(
            VARIABLE,
            "GATEHOUSE_KEY_ENCRYPTION_KEY_FILE",
            self.key_encryption_key.as_ref().map(|key| key.0.as_str()),
            self.key_encryption_key_file.as_deref(),
        )?;
        let Some(text) = text else {
            return Ok(match database_url.strip_prefix("sqlite://") {
                Some(path) => {
                    let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
                    let dir = path.parent().unwrap_or(std::path::Path::new("."));
                    KekSource::BesideDatabase(dir.join("signing-kek"))
                }
                None => KekSource::Missing,
            });
        };
        gatehouse_token::KeyEncryptionKey::from_base64(&text)
            .map(KekSource::Configured)
            .map_err(|e| bad(VARIABLE, e.to_string()))
    }

    /// The workload identities the gRPC ports admit.
    fn peers(&self) -> Result<gatehouse_runtime::access::PeerMap, ConfigError> {
        gatehouse_runtime::access::PeerMap::parse(&self.grpc_peers)
            .map_err(|e| bad("GATEHOUSE_GRPC_PEERS", e.to_string()))
    }

    /// This part's internal credential, from the variable or its file.
    fn credential(&self) -> Result<Option<gatehouse_oauth::InternalCredential>, ConfigError> {
        const VARIABLE: &str = "GATEHOUSE_CREDENTIAL";
        let text = match (&self.credential, &self.credential_file) {
            (Some(_), Some(_)) => return Err(bad(VARIABLE, "set it or GATEHOUSE_CREDENTIAL_FILE, not both")),
            (Some(credential), None) => credential.0.trim().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| bad("GATEHOUSE_CREDENTIAL_FILE", format!("{}: {e}", path.display())))?
                .trim()
                .to_owned(),
            (None, None) => return Ok(None),
        };
        if !gatehouse_oauth::InternalCredential::is_well_formed(&text) {
            return Err(bad(VARIABLE, "is not an internal credential (gic_…, from `gatehouse credential create`)"));
        }
        Ok(Some(gatehouse_oauth::InternalCredential::new(text)))
    }

    fn trusted_proxies(&self) -> Result<gatehouse_gateway::TrustedProxies, ConfigError> {
        if self.trust_forwarded_for.is_some() {
            return Err(bad(
                "GATEHOUSE_TRUST_FORWARDED_FOR",
                "replaced by GATEHOUSE_TRUSTED_PROXIES: list the proxies' networks (10.0.0.0/8) or their number (1)",
            ));
        }
        self.trusted_proxies.parse().map_err(|reason: String| bad("GATEHOUSE_TRUSTED_PROXIES", &reason))
    }

    fn operator_token_hash(&self) -> Result<Option<gatehouse_oauth::SecretHash>, ConfigError> {
        let token = secret_setting(
            "GATEHOUSE_OPERATOR_TOKEN",
            "GATEHOUSE_OPERATOR_TOKEN_FILE",
            self.operator_token.as_ref().map(|token| token.0.as_str()),
            self.operator_token_file.as_deref(),
        )?;
        let Some(token) = token.map(|token| token.trim().to_owned()) else {
            return Ok(None);
        };
        // A short shared token is guessable: require what a generated one has.
        if token.len() < 32 {
            return Err(bad("GATEHOUSE_OPERATOR_TOKEN", "must be at least 32 characters (openssl rand -hex 32)"));
        }
        Ok(Some(gatehouse_oauth::SecretHash::of(&token)))
    }

    /// The fetch deadline: as set, else 3 s, or three fifths of a shorter
    /// RPC timeout (the fetch runs inside an RPC's deadline).
    fn fetch_timeout(&self) -> u64 {
        self.fetch_timeout_ms.unwrap_or_else(|| (self.rpc_timeout_ms.saturating_mul(3) / 5).clamp(100, 3000))
    }

    fn fetch_policy(&self) -> Result<gatehouse_fetch::FetchPolicy, ConfigError> {
        const NETWORKS: &str = "GATEHOUSE_FETCH_ALLOW_NETWORKS";
        let allow_networks = self
            .fetch_allow_networks
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.parse::<ipnet::IpNet>()
                    .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| bad(NETWORKS, format!("{n:?} is not a network like 10.0.0.0/8 or an address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let extra_roots = match &self.fetch_ca_file {
            None => Vec::new(),
            Some(path) => {
                gatehouse_upstream::tls::read_certificates(path)
                    .map_err(|e| bad("GATEHOUSE_FETCH_CA_FILE", e.to_string()))?
                    .1
            }
        };
        Ok(gatehouse_fetch::FetchPolicy {
            allow_networks,
            extra_roots,
            timeout: millis("GATEHOUSE_FETCH_TIMEOUT_MS", self.fetch_timeout(), 100, 60_000)?,
            proxy: self
                .fetch_proxy
                .as_deref()
                .filter(|url| !url.trim().is_empty())
                .map(|url| gatehouse_fetch::FetchProxy::parse(url.trim()))
                .transpose()
                .map_err(|e| bad("GATEHOUSE_FETCH_PROXY", e))?,
            ..gatehouse_fetch::FetchPolicy::default()
        })
    }

    fn edge_limits(&self) -> Result<gatehouse_gateway::EdgeLimits, ConfigError> {
        let bytes = |variable: &'static str, value: usize, min: usize, max: usize| {
            if (min..=max).contains(&value) {
                Ok(value)
            } else {
                Err(bad(variable, format!("must be between {min} and {max} bytes")))
            }
        };
        Ok(gatehouse_gateway::EdgeLimits {
            max_uri_bytes: bytes("GATEHOUSE_MAX_URI_BYTES", self.max_uri_bytes, 1024, 65536)?,
            max_header_bytes: bytes("GATEHOUSE_MAX_HEADER_BYTES", self.max_header_bytes, 4096, 262_144)?,
            max_body_bytes: bytes("GATEHOUSE_MAX_BODY_BYTES", self.max_body_bytes, 4096, 16 * 1024 * 1024)?,
            header_read_timeout: seconds("GATEHOUSE_HEADER_READ_TIMEOUT_SECS", self.header_read_timeout_secs, 1, 300)?,
            request_timeout: seconds("GATEHOUSE_REQUEST_TIMEOUT_SECS", self.request_timeout_secs, 1, 600)?,
            max_connections: match self.max_connections {
                0 => return Err(bad("GATEHOUSE_MAX_CONNECTIONS", "must be at least 1")),
                n => n,
            },
        })
    }

    pub(crate) fn validate(&self) -> Result<ServeConfig, ConfigErrors> {
        let mut problems = Problems::default();
        // Both the registry's documents and the transmitter's pushes go out under one policy.
        let fetch = problems.note(self.fetch_policy(), Default::default);
        if self.database_max_connections == 0 {
            problems.add(bad("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.rpc_timeout_ms == 0 {
            problems.add(bad("GATEHOUSE_RPC_TIMEOUT_MS", "must be at least 1"));
        }
        // A fetch runs inside the RPC that needs the document (the gateway's
        // call, its deadline passed down): if it could outlast that deadline,
        // a slow document host would surface as an outage (503) instead of
        // the page that says the client's document did not arrive in time.
        if self.fetch_timeout_ms.is_some_and(|fetch| fetch.saturating_add(1000) > self.rpc_timeout_ms) {
            problems.add(bad(
                "GATEHOUSE_FETCH_TIMEOUT_MS",
                format!("must be at least 1000 below GATEHOUSE_RPC_TIMEOUT_MS ({})", self.rpc_timeout_ms),
            ));
        }
        if self.password_memory_kib < 1024 {
            problems.add(bad("GATEHOUSE_PASSWORD_MEMORY_KIB", "must be at least 1024 (1 MiB)"));
        }
        if self.password_iterations == 0 {
            problems.add(bad("GATEHOUSE_PASSWORD_ITERATIONS", "must be at least 1"));
        }
        let (server_tls, client_tls) = problems.note(tls(self), Default::default);
        let log_format = problems.note(
            LogFormat::parse(&self.log_format)
                .ok_or_else(|| bad("GATEHOUSE_LOG_FORMAT", format!("{:?} is neither text nor json", self.log_format))),
            || LogFormat::Text,
        );
        // Read once (they may come from files); the other settings that
        // depend on them see the default when they are wrong, so that each
        // mistake is named once.
        let (database, cache) = (self.database_url(), self.cache_url());
        let (database_text, cache_text) = (
            database.as_deref().unwrap_or(DEFAULT_DATABASE_URL).to_owned(),
            cache.as_deref().unwrap_or("memory://").to_owned(),
        );
        let config = ServeConfig {
            issuer: problems.note(issuer(&self.issuer), Default::default),
            database_url: problems.note(database.and_then(|url| database_url(&url)), Default::default),
            database_password_file: problems
                .note(database_password_file(&database_text, self.database_password_file.as_deref()), Default::default),
            database_max_connections: self.database_max_connections,
            auto_migrate: self.auto_migrate,
            registry_listen: problems.note(socket_addr("GATEHOUSE_REGISTRY_LISTEN", &self.registry_listen), || {
                std::net::SocketAddr::from(([0, 0, 0, 0], 0))
            }),
            gateway_listen: problems.note(socket_addr("GATEHOUSE_GATEWAY_LISTEN", &self.gateway_listen), || {
                std::net::SocketAddr::from(([0, 0, 0, 0], 0))
            }),
            metrics_listen: problems.note(socket_addr("GATEHOUSE_METRICS_LISTEN", &self.metrics_listen), || {
                std::net::SocketAddr::from(([0, 0, 0, 0], 0))
            }),
            registry_url: problems
                .note(service_url("GATEHOUSE_REGISTRY_URL", &self.registry_url, client_tls.as_ref()), Default::default),
            authorization_listen: problems
                .note(socket_addr("GATEHOUSE_AUTHORIZATION_LISTEN", &self.authorization_listen), || {
                    std::net::SocketAddr::from(([0, 0, 0, 0], 0))
                }),
            authorization_url: problems.note(
                service_url("GATEHOUSE_AUTHORIZATION_URL", &self.authorization_url, client_tls.as_ref()),
                Default::default,
            ),
            cache_url: problems.note(cache.and_then(|url| cache_url(&url)), Default::default),
            cache_prefix: problems.note(
                gatehouse_runtime::kv::check_prefix(&self.cache_prefix)
                    .map(|()| self.cache_prefix.clone())
                    .map_err(|reason| bad("GATEHOUSE_CACHE_PREFIX", reason)),
                Default::default,
            ),
            cache: gatehouse_runtime::kv::KvOptions {
                timeout: problems
                    .note(millis("GATEHOUSE_CACHE_TIMEOUT_MS", self.cache_timeout_ms, 5, 5000), Default::default),
                tls: problems.note(
                    cache_tls(
                        &cache_text,
                        self.cache_ca_file.as_deref(),
                        self.cache_client_cert_file.as_deref(),
                        self.cache_client_key_file.as_deref(),
                    ),
                    Default::default,
                ),
                ..gatehouse_runtime::kv::KvOptions::default()
            },
            max_concurrent_requests: match self.max_concurrent_requests {
                0 => {
                    problems.add(bad("GATEHOUSE_MAX_CONCURRENT_REQUESTS", "must be at least 1"));
                    1
                }
                n => n,
            },
            edge: problems.note(self.edge_limits(), Default::default),
            authorization: AuthorizationConfig {
                code_ttl: problems
                    .note(seconds("GATEHOUSE_CODE_TTL_SECS", self.code_ttl_secs, 10, 600), Default::default),
                session_ttl: problems.note(
                    seconds("GATEHOUSE_SESSION_TTL_SECS", self.session_ttl_secs, 60, 30 * 24 * 3600),
                    Default::default,
                ),
                device: gatehouse_authorization::DeviceConfig {
                    code_ttl: problems.note(
                        seconds("GATEHOUSE_DEVICE_CODE_TTL_SECS", self.device_code_ttl_secs, 60, 3600),
                        Default::default,
                    ),
                    interval: problems.note(
                        seconds("GATEHOUSE_DEVICE_POLL_INTERVAL_SECS", self.device_poll_interval_secs, 1, 60),
                        Default::default,
                    ),
                    ..gatehouse_authorization::DeviceConfig::default()
                },
                ..AuthorizationConfig::default()
            },
            token_listen: problems.note(socket_addr("GATEHOUSE_TOKEN_LISTEN", &self.token_listen), || {
                std::net::SocketAddr::from(([0, 0, 0, 0], 0))
            }),
            token_url: problems
                .note(service_url("GATEHOUSE_TOKEN_URL", &self.token_url, client_tls.as_ref()), Default::default),
            key_encryption_key: problems.note(self.key_encryption_key(&database_text), || KekSource::Missing),
            token: TokenConfig {
                id_token_ttl: problems.note(
                    seconds("GATEHOUSE_ID_TOKEN_TTL_SECS", self.id_token_ttl_secs, 60, 24 * 3600),
                    Default::default,
                ),
                key_rotation: match self.signing_key_rotation_days {
                    0 => None,
                    days => Some(problems.note(
                        seconds(
                            "GATEHOUSE_SIGNING_KEY_ROTATION_DAYS",
                            days.saturating_mul(86_400),
                            86_400,
                            3660 * 86_400,
                        ),
                        Default::default,
                    )),
                },
                access_ttl: problems.note(
                    seconds("GATEHOUSE_ACCESS_TOKEN_TTL_SECS", self.access_token_ttl_secs, 60, 7 * 24 * 3600),
                    Default::default,
                ),
                refresh_ttl: problems.note(
                    seconds("GATEHOUSE_REFRESH_TOKEN_TTL_SECS", self.refresh_token_ttl_secs, 600, 400 * 24 * 3600),
                    Default::default,
                ),
                client_auth_cache: problems.note(
                    seconds("GATEHOUSE_CLIENT_AUTH_CACHE_SECS", self.client_auth_cache_secs, 0, 60),
                    Default::default,
                ),
                cache_trust: problems.note(
                    seconds("GATEHOUSE_TOKEN_CACHE_TRUST_SECS", self.token_cache_trust_secs, 1, 300),
                    Default::default,
                ),
                refresh_retry_window: problems.note(
                    seconds("GATEHOUSE_REFRESH_RETRY_WINDOW_SECS", self.refresh_retry_window_secs, 0, 300),
                    Default::default,
                ),
                personal_token_max_ttl: problems.note(
                    seconds(
                        "GATEHOUSE_PAT_MAX_DAYS",
                        self.pat_max_days.saturating_mul(86_400),
                        86_400,
                        10 * 366 * 86_400,
                    ),
                    Default::default,
                ),
                validators: self
                    .validator_clients
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                txn_trust_domain: match self.txn_trust_domain.trim() {
                    "" => url::Url::parse(&self.issuer)
                        .ok()
                        .and_then(|url| url.host_str().map(str::to_owned))
                        .unwrap_or_else(|| "localhost".to_owned()),
                    domain => domain.to_owned(),
                },
                txn_token_ttl: problems
                    .note(seconds("GATEHOUSE_TXN_TOKEN_TTL_SECS", self.txn_token_ttl_secs, 10, 3600), Default::default),
                ssf: gatehouse_token::SsfConfig {
                    push: fetch.clone(),
                    max_backlog: if (1..=1_000_000).contains(&self.ssf_max_backlog) {
                        self.ssf_max_backlog
                    } else {
                        problems.add(bad("GATEHOUSE_SSF_MAX_BACKLOG", "must be between 1 and 1000000"));
                        1
                    },
                    ..gatehouse_token::SsfConfig::default()
                },
                dpop_nonce_every: match self.dpop_nonce_secs {
                    0 => None,
                    secs => Some(problems.note(seconds("GATEHOUSE_DPOP_NONCE_SECS", secs, 10, 3600), Default::default)),
                },
                ..TokenConfig::default()
            },
            operator_token_hash: problems.note(self.operator_token_hash(), Default::default),
            signup: problems.note(
                gatehouse_runtime::signup::SignupPolicy::parse(&self.signup, &self.signup_email_domains)
                    .map_err(|reason| bad("GATEHOUSE_SIGNUP", reason)),
                Default::default,
            ),
            trusted_proxies: problems.note(self.trusted_proxies(), Default::default),
            form_key: problems.note(
                secret_setting(
                    "GATEHOUSE_FORM_KEY",
                    "GATEHOUSE_FORM_KEY_FILE",
                    self.form_key.as_deref(),
                    self.form_key_file.as_deref(),
                )
                .and_then(|key| {
                    key.as_deref()
                        .map(gatehouse_gateway::FormKey::from_secret)
                        .transpose()
                        .map_err(|reason| bad("GATEHOUSE_FORM_KEY", reason))
                }),
                Default::default,
            ),
            rpc_timeout: Duration::from_millis(self.rpc_timeout_ms),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            shutdown_delay: problems
                .note(seconds("GATEHOUSE_SHUTDOWN_DELAY_SECS", self.shutdown_delay_secs, 0, 300), Default::default),
            registry: RegistryConfig {
                password: PasswordParams {
                    memory_kib: self.password_memory_kib,
                    iterations: self.password_iterations,
                    parallelism: 1,
                },
                scopes: problems.note(scope_catalogue(self.scopes_file.as_deref()), Default::default),
                registration: gatehouse_registry::RegistrationConfig {
                    policy: problems.note(registration_policy(&self.dynamic_registration), Default::default),
                    hourly_limit_per_address: match self.registration_hourly_limit {
                        0 => {
                            problems.add(bad("GATEHOUSE_REGISTRATION_HOURLY_LIMIT", "must be at least 1"));
                            1
                        }
                        n => n,
                    },
                    unused_expiry: problems.note(
                        seconds(
                            "GATEHOUSE_REGISTRATION_UNUSED_DAYS",
                            self.registration_unused_days.saturating_mul(86_400),
                            86_400,
                            3660 * 86_400,
                        ),
                        Default::default,
                    ),
                    access_token_ttl: match self.registration_token_days {
                        0 => None,
                        days => Some(problems.note(
                            seconds(
                                "GATEHOUSE_REGISTRATION_TOKEN_DAYS",
                                days.saturating_mul(86_400),
                                86_400,
                                3660 * 86_400,
                            ),
                            Default::default,
                        )),
                    },
                },
                metadata_documents: gatehouse_registry::MetadataDocumentConfig {
                    policy: problems.note(metadata_document_policy(&self.client_metadata_documents), Default::default),
                    ..gatehouse_registry::MetadataDocumentConfig::default()
                },
                fetch,
                resource_servers: problems.note(
                    self.resource_servers.parse().map_err(|reason: String| bad("GATEHOUSE_RESOURCE_SERVERS", reason)),
                    Default::default,
                ),
                federation: match &self.federation_file {
                    None => gatehouse_registry::federation::Federation::default(),
                    Some(path) => problems.note(
                        gatehouse_registry::federation::Federation::load(&path.to_string_lossy())
                            .map_err(|reason| bad("GATEHOUSE_FEDERATION_FILE", reason)),
                        Default::default,
                    ),
                },
                federation_file: self.federation_file.clone(),
                mail: problems.note(self.mail(), Default::default),
                signup: gatehouse_runtime::signup::SignupPolicy::parse(&self.signup, &self.signup_email_domains)
                    .unwrap_or_default(),
                ..RegistryConfig::default()
            },
            log_format,
            server_tls,
            client_tls,
            peers: problems.note(self.peers(), Default::default),
            mutual_tls: self.tls_client_ca_file.is_some(),
            credential: problems.note(self.credential(), Default::default),
            grpc_reflection: self.grpc_reflection,
            audit_retention: problems.note(
                seconds(
                    "GATEHOUSE_AUDIT_RETENTION_DAYS",
                    self.audit_retention_days.saturating_mul(86_400),
                    86_400,
                    36_600 * 86_400,
                ),
                Default::default,
            ),
            otlp_endpoint: match self.otlp_endpoint.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url.to_owned()),
                Some(url) => {
                    problems.add(bad("GATEHOUSE_OTLP_ENDPOINT", format!("{url:?} is not an http(s):// address")));
                    None
                }
            },
        };
        problems.finish(config)
    }
}

#[cfg(test)]
mod password_tests {
    #[test]
    fn a_cache_password_goes_into_the_url_encoded() {
        use super::with_password;
        assert_eq!(with_password("redis://r:6379/0", "p@ss w").unwrap(), "redis://:p%40ss%20w@r:6379/0");
        assert_eq!(with_password("rediss://app@r:6380", "x").unwrap(), "rediss://app:x@r:6380");
        assert_eq!(
            with_password("redis+sentinel://s1:26379,s2:26379/mymaster/0", "x").unwrap(),
            "redis+sentinel://:x@s1:26379,s2:26379/mymaster/0"
        );
        assert_eq!(with_password("redis+cluster://n1,n2", "x").unwrap(), "redis+cluster://:x@n1,n2");
        assert!(with_password("redis://u:old@r", "x").is_err());
        assert!(with_password("memory://", "x").is_err());
    }
}
