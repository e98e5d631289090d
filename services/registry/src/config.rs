//! What the registry can be configured with.

use std::time::Duration;

use gatehouse_oauth::ScopeCatalogue;

use gatehouse_fetch::FetchPolicy;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    /// OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// Registry configuration.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub password: PasswordParams,
    pub scopes: ScopeCatalogue,
    /// Active client secrets one application may hold at once.
    pub max_client_secrets: usize,
    /// The issuer identifier: the one `aud` a client assertion may carry.
    pub issuer: String,
    pub registration: RegistrationConfig,
    pub metadata_documents: MetadataDocumentConfig,
    /// What the fetcher of metadata documents and `jwks_uri`s may reach.
    pub fetch: FetchPolicy,
    /// Who registers resource servers (and so claims identifiers as token audiences).
    pub resource_servers: ResourceServerPolicy,
    /// The workload token issuers trusted for client authentication.
    pub federation: crate::federation::Federation,
    /// The file they were loaded from: read again when it changes.
    pub federation_file: Option<std::path::PathBuf>,
    /// Seals two-step sign-in secrets and keys recovery-code hashes (the
    /// token service's key-encryption key). Without it, two-step sign-in
    /// cannot be turned on.
    pub key_encryption_key: Option<gatehouse_runtime::kek::KeyEncryptionKey>,
    /// Where reset and confirmation links are mailed from; None: no mail
    /// (no password reset by mail, no address confirmation).
    pub mail: Option<crate::mail::MailConfig>,
    /// Who may create an account at `/signup` (enforced here for every
    /// `CreateUser` from the gateway; an operator's creation is not a sign-up).
    pub signup: gatehouse_runtime::signup::SignupPolicy,
}

/// Who may register a resource server. Its identifier becomes the `aud`
/// of the tokens Gatehouse signs, so claiming one is claiming a name that
/// other software trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResourceServerPolicy {
    /// Operators only (the CLI, an operator's credential): the default.
    #[default]
    Operator,
    /// Any signed-in user too (a deployment whose users all run its APIs).
    Users,
}

impl std::str::FromStr for ResourceServerPolicy {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "operator" => Ok(Self::Operator),
            "users" => Ok(Self::Users),
            _ => Err("must be operator or users".to_owned()),
        }
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            password: PasswordParams::default(),
            scopes: ScopeCatalogue::default(),
            max_client_secrets: 5,
            issuer: "http://127.0.0.1:8080".to_owned(),
            registration: RegistrationConfig::default(),
            metadata_documents: MetadataDocumentConfig::default(),
            fetch: FetchPolicy::default(),
            resource_servers: ResourceServerPolicy::default(),
            federation: crate::federation::Federation::default(),
            federation_file: None,
            key_encryption_key: None,
            mail: None,
            signup: gatehouse_runtime::signup::SignupPolicy::default(),
        }
    }
}

/// Who may register a client dynamically (RFC 7591).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationPolicy {
    /// No dynamic registration (the default, as at Hydra and Zitadel).
    #[default]
    Off,
    /// With an initial access token the operator issued (`gatehouse registration token create`).
    InitialAccessToken,
    /// Anyone, limited per address; an initial access token is still honoured.
    Open,
}

#[derive(Debug, Clone)]
pub struct RegistrationConfig {
    pub policy: RegistrationPolicy,
    /// Anonymous registrations one address may make per hour.
    pub hourly_limit_per_address: u64,
    /// A dynamically registered client unused this long is deleted.
    pub unused_expiry: Duration,
    /// How long a registration access token (RFC 7592) lives; each use
    /// replaces it with a new one that lives as long. `None`: no expiry.
    pub access_token_ttl: Option<Duration>,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            policy: RegistrationPolicy::Off,
            hourly_limit_per_address: 20,
            unused_expiry: Duration::from_secs(30 * 86_400),
            access_token_ttl: Some(Duration::from_secs(90 * 86_400)),
        }
    }
}

/// Which client ID metadata documents are fetched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum MetadataDocumentPolicy {
    /// URL client ids are unknown clients.
    Off,
    /// Only documents on these hosts (exact, lowercase).
    AllowHosts(Vec<String>),
    /// Any https host the fetcher may reach (the default: the document is
    /// served by the client's own origin, and the consent page names it).
    #[default]
    Open,
}

#[derive(Debug, Clone)]
pub struct MetadataDocumentConfig {
    pub policy: MetadataDocumentPolicy,
    /// Bounds on how long a document is used before it is fetched again,
    /// whatever its `Cache-Control` says.
    pub min_cache: Duration,
    pub max_cache: Duration,
    /// How long after its freshness a last good copy still serves when a
    /// new fetch fails.
    pub stale_for: Duration,
}

impl Default for MetadataDocumentConfig {
    fn default() -> Self {
        Self {
            policy: MetadataDocumentPolicy::Open,
            min_cache: Duration::from_secs(30),
            max_cache: Duration::from_secs(86_400),
            stale_for: Duration::from_secs(86_400),
        }
    }
}
