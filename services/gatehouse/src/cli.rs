//! The command line. Every option of `serve` and `migrate` can also come
//! from a `GATEHOUSE_*` environment variable (the flag wins).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "Gatehouse OAuth 2.0 authorization server")]
pub(crate) struct Cli {
    /// Without a command, `serve all` with the embedded defaults.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run one part, or all of them in one process.
    Serve {
        /// Which part: `all` (every service and the gateway in one process), `registry`, `authorization`, `token` or `gateway`.
        #[arg(value_enum)]
        target: ServeTarget,
        #[command(flatten)]
        options: Box<ServeOptions>,
    },
    /// Apply every service's database migrations, then exit.
    Migrate {
        #[command(flatten)]
        options: Box<ServeOptions>,
    },
    /// Manage user accounts (talks to the registry over gRPC).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage applications (talks to the registry over gRPC).
    #[command(subcommand)]
    App(AppCommand),
    /// Personal access tokens: list a user's, revoke one or all, or revoke
    /// any leaked token by its value (talks to the token service over gRPC).
    #[command(subcommand)]
    Pat(PatCommand),
    /// Signing keys of ID tokens: list them, rotate (the next key signs, the
    /// active one retires once what it signed expires), retire one early
    /// (talks to the token service over gRPC).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Resource servers (RFC 8707): the APIs tokens are issued for, by
    /// identifier (talks to the registry over gRPC).
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Internal credentials (`gic_…`) of operators, and of parts without a
    /// workload certificate: create, list, revoke (talks to the registry), or
    /// bootstrap the first one straight into a fresh database.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Print the internal plane's policy: which roles may call which RPC.
    Policy,
    /// The audit trail of every service: list events, verify the hash chains.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Dynamic client registration (RFC 7591): the initial access tokens that
    /// GATEHOUSE_DYNAMIC_REGISTRATION=token requires (talks to the registry over gRPC).
    #[command(subcommand)]
    Registration(RegistrationCommand),
    /// A user's browser sessions: list them, or sign one or all of them out (talks to the
    /// authorization service over gRPC).
    #[command(subcommand)]
    Session(SessionCommand),
    /// Any token Gatehouse issued, by its value read from standard input (never
    /// an argument, which `ps` and shell history would show): introspect or revoke it
    /// (talks to the token service over gRPC).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Make the registry hold what the files say: applications and resource servers of each
    /// document's owner (YAML or JSON; a folder: its *.yaml, *.yml and *.json). Idempotent; every
    /// file is checked and every change planned before the first is made.
    Apply {
        /// A file or a folder of them; repeat for several.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        /// Print what would change (field by field) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete the owners' applications and resource servers that no file lists.
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Print the applications and resource servers of some owners (or of every owner) as the
    /// YAML `gatehouse apply` takes back unchanged.
    Export {
        /// The username of an owner; repeat for several (default: every user who owns something).
        #[arg(long = "owner")]
        owners: Vec<String>,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Print this binary's own reference as Markdown: `cli` (docs/cli.md) or `config` (docs/configuration.md).
    Reference {
        /// `cli` (every command) or `config` (every setting).
        #[arg(value_enum)]
        what: ReferenceKind,
    },
    /// Print a shell completion script, such as `gatehouse completions bash > /etc/bash_completion.d/gatehouse`.
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SessionCommand {
    /// Where a user is signed in: each session's id, when it began and was last seen, the address and browser.
    List {
        /// The username.
        username: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Sign a user out of one session (`--id`) or of every session (`--all`).
    Revoke {
        /// The username.
        username: String,
        /// The session's id (from `gatehouse session list`).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every session of the user.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Whether the token read from standard input is active, and whose it is (RFC 7662's answer).
    Introspect {
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Revoke the token read from standard input (a reported leak); its grant's other tokens stay.
    Revoke {
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
}

/// What `gatehouse reference` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReferenceKind {
    /// Every command, its options and the exit statuses.
    Cli,
    /// Every setting of `serve`.
    Config,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Events of every service, newest first.
    List {
        /// Only events at or after this time (RFC 3339, such as 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only events of this actor id.
        #[arg(long)]
        actor: Option<String>,
        /// Only events with this action, such as signin.failed.
        #[arg(long)]
        action: Option<String>,
        /// Only events on this target, such as user:ID.
        #[arg(long)]
        target: Option<String>,
        /// At most this many events per service.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Walk every service's chain; exit 1 naming the first bad event when one breaks.
    Verify {
        #[command(flatten)]
        client: ClientOptions,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CredentialCommand {
    /// Issue a credential (printed once; only its hash is kept).
    Create {
        /// What it is for, such as the operator's name or `token-replicas`.
        #[arg(long)]
        name: String,
        /// operator, gateway, registry, authorization or token.
        #[arg(long, default_value = "operator")]
        role: String,
        /// Days until it expires; 0: never.
        #[arg(long, default_value_t = 90)]
        ttl_days: u64,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Every credential, revoked and expired ones included (never the credentials).
    List {
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Revoke a credential by id: refused everywhere within a few seconds.
    Revoke {
        /// The credential's id (from `gatehouse credential list`).
        id: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Write the first operator credential straight into the database
    /// (GATEHOUSE_DATABASE_URL; migrations applied first), for a fresh
    /// production deployment whose plane admits no one yet.
    Bootstrap {
        /// What it is for, such as the operator's name.
        #[arg(long, default_value = "first operator")]
        name: String,
        /// operator, gateway, registry, authorization or token.
        #[arg(long, default_value = "operator")]
        role: String,
        /// Days until it expires; 0: never.
        #[arg(long, default_value_t = 1)]
        ttl_days: u64,
        /// `table` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        #[command(flatten)]
        options: Box<ServeOptions>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RegistrationCommand {
    /// Initial access tokens: create one (shown once), list them, delete one.
    #[command(subcommand)]
    Token(InitialTokenCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum InitialTokenCommand {
    /// Issue a token that lets its holder register clients at /oauth/register.
    Create {
        /// What it is for (shown in the list).
        #[arg(long, default_value = "")]
        description: String,
        /// Days it stays valid (0: until deleted).
        #[arg(long, default_value_t = 30)]
        days: u64,
        #[command(flatten)]
        client: ClientOptions,
    },
    List {
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Delete a token by id: it registers nothing more (clients it registered stay).
    Delete {
        /// The token's id (from `gatehouse registration token list`).
        id: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ResourceCommand {
    /// Register a resource server; its identifier becomes its tokens' audience.
    Create {
        /// Username of the owner.
        #[arg(long)]
        owner: String,
        /// A name people recognise, shown on consent pages.
        #[arg(long)]
        name: String,
        /// The resource indicator: an absolute URI without a fragment, e.g. https://api.example.com.
        #[arg(long)]
        identifier: String,
        /// A scope it accepts; repeat for several (default: the whole catalogue).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// `opaque` (default) or `jwt` (RFC 9068).
        #[arg(long = "token-format", default_value = "opaque")]
        token_format: String,
        /// A client id that may ask for it; repeat for several.
        #[arg(long = "allow-client")]
        allowed_client_ids: Vec<String>,
        /// Every application may ask for it.
        #[arg(long)]
        any_client: bool,
        /// It also admits an application's own tokens (client_credentials, no user).
        #[arg(long)]
        application_tokens: bool,
        /// The owner's confidential application it introspects with.
        #[arg(long, default_value = "")]
        introspection_client: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// List resource servers, all or of one owner.
    List {
        /// Only the resource servers of this owner (a username).
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Show one resource server by id.
    Show {
        /// The resource server's id.
        id: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Delete a resource server: no new token names it.
    Delete {
        /// The resource server's id.
        id: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Every key: kid, algorithm, state (next, active, retiring, retired) and when.
    List {
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Promote the next key of each algorithm (or of `--alg`); refused while
    /// it has been published for less than a JWKS cache time, unless `--force`.
    Rotate {
        /// Algorithm to rotate (RS256 or ES256); repeat for several (default: every algorithm).
        #[arg(long)]
        alg: Vec<String>,
        /// Rotate even when the next key is younger than the caches that must learn it first.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Unpublish a retiring key; refused while tokens it signed may be live, unless `--force`.
    Retire {
        /// A kid is a base64url thumbprint and may begin with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Unpublish even while tokens it signed may still be live (they stop verifying).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PatCommand {
    /// List a user's personal access tokens (never the tokens themselves).
    List {
        /// Username of the token owner.
        username: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Revoke one of a user's personal access tokens (`--id`), or all of them (`--all`).
    Revoke {
        /// Username of the token owner.
        username: String,
        /// The id of the token to revoke (from `gatehouse pat list`).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Revoke every personal access token of the user.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Revoke a token by its value alone, whoever holds it (a leak a secret
    /// scanner reported); the token is read from standard input.
    RevokeValue {
        #[command(flatten)]
        client: ClientOptions,
    },
}

/// A secret given on the command line or in the environment: `Debug`
/// (and so any printed configuration) never shows it.
#[derive(Clone)]
pub(crate) struct SecretArg(pub(crate) String);

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(redacted)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ServeTarget {
    /// Every part in one process, real gRPC on loopback between them.
    All,
    Registry,
    Authorization,
    Token,
    Gateway,
}

impl ServeTarget {
    pub(crate) fn name(self) -> &'static str {
        gatehouse_deployment::Parts::from(self).name()
    }
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeOptions {
    /// SQL database: `sqlite://PATH` (default `sqlite://data/gatehouse.db`) or `postgres://...`.
    #[arg(long, env = "GATEHOUSE_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
    /// A file holding GATEHOUSE_DATABASE_URL (a Kubernetes Secret mounted as a file; a final newline is ignored).
    #[arg(long, env = "GATEHOUSE_DATABASE_URL_FILE")]
    pub(crate) database_url_file: Option<std::path::PathBuf>,
    /// A file holding the PostgreSQL password, when the URL has none (a mounted Secret such as CloudNativePG's
    /// `<cluster>-app` `password` key); read again every second, so that a rotated password takes effect without a restart.
    #[arg(long, env = "GATEHOUSE_DATABASE_PASSWORD_FILE")]
    pub(crate) database_password_file: Option<std::path::PathBuf>,
    /// Connections in the SQL pool of each service.
    #[arg(long, env = "GATEHOUSE_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub(crate) database_max_connections: u32,
    /// Apply migrations when a service starts (turn off where a migration Job runs them).
    #[arg(long, env = "GATEHOUSE_AUTO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) auto_migrate: bool,
    /// Where the registry's gRPC server listens.
    #[arg(long, env = "GATEHOUSE_REGISTRY_LISTEN", default_value = "127.0.0.1:50051")]
    pub(crate) registry_listen: String,
    /// Where the authorization service's gRPC server listens.
    #[arg(long, env = "GATEHOUSE_AUTHORIZATION_LISTEN", default_value = "127.0.0.1:50052")]
    pub(crate) authorization_listen: String,
    /// Where the token service's gRPC server listens.
    #[arg(long, env = "GATEHOUSE_TOKEN_LISTEN", default_value = "127.0.0.1:50053")]
    pub(crate) token_listen: String,
    /// Where the gateway's HTTP server listens.
    #[arg(long, env = "GATEHOUSE_GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) gateway_listen: String,
    /// Where this process serves Prometheus metrics (`GET /metrics`), apart
    /// from the public gateway port.
    #[arg(long, env = "GATEHOUSE_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    pub(crate) metrics_listen: String,
    /// PEM certificate (chain) of this process's gRPC ports; with the key, they serve TLS only.
    #[arg(long, env = "GATEHOUSE_TLS_CERT_FILE")]
    pub(crate) tls_cert_file: Option<std::path::PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, env = "GATEHOUSE_TLS_KEY_FILE")]
    pub(crate) tls_key_file: Option<std::path::PathBuf>,
    /// PEM CA whose client certificates the gRPC ports require (mutual TLS).
    #[arg(long, env = "GATEHOUSE_TLS_CLIENT_CA_FILE")]
    pub(crate) tls_client_ca_file: Option<std::path::PathBuf>,
    /// OTLP/gRPC collector that receives this process's traces, such as `http://otel-collector:4317`.
    #[arg(long, env = "GATEHOUSE_OTLP_ENDPOINT")]
    pub(crate) otlp_endpoint: Option<String>,
    /// PEM CA this process trusts when it calls `https://` services.
    #[arg(long, env = "GATEHOUSE_TLS_CA_FILE")]
    pub(crate) tls_ca_file: Option<std::path::PathBuf>,
    /// The registry's gRPC address, for the parts that call it (not used by `serve all`).
    #[arg(long, env = "GATEHOUSE_REGISTRY_URL", default_value = "http://127.0.0.1:50051")]
    pub(crate) registry_url: String,
    /// The authorization service's gRPC address, for the parts that call it (not used by `serve all`).
    #[arg(long, env = "GATEHOUSE_AUTHORIZATION_URL", default_value = "http://127.0.0.1:50052")]
    pub(crate) authorization_url: String,
    /// The token service's gRPC address, for the parts that call it (not used by `serve all`).
    #[arg(long, env = "GATEHOUSE_TOKEN_URL", default_value = "http://127.0.0.1:50053")]
    pub(crate) token_url: String,
    /// Access token lifetime in seconds (the seed platform's: 2 hours).
    #[arg(long, env = "GATEHOUSE_ACCESS_TOKEN_TTL_SECS", default_value_t = 7200)]
    pub(crate) access_token_ttl_secs: u64,
    /// Refresh token lifetime in seconds (the seed platform's: 90 days).
    #[arg(long, env = "GATEHOUSE_REFRESH_TOKEN_TTL_SECS", default_value_t = 7_776_000)]
    pub(crate) refresh_token_ttl_secs: u64,
    /// How long the token service reuses a successful client authentication (0: never);
    /// a deleted secret keeps working that long.
    #[arg(long, env = "GATEHOUSE_CLIENT_AUTH_CACHE_SECS", default_value_t = 5)]
    pub(crate) client_auth_cache_secs: u64,
    /// Seconds an active token-cache entry is trusted after SQL last confirmed it; past that the next
    /// read asks SQL again (what bounds a lost tombstone).
    #[arg(long, env = "GATEHOUSE_TOKEN_CACHE_TRUST_SECS", default_value_t = 10)]
    pub(crate) token_cache_trust_secs: u64,
    /// Seconds after a rotation within which the same refresh token, its successor unused, is a retry
    /// (new tokens, the unused ones revoked) rather than a reuse that revokes the grant; 0 (default):
    /// never, RFC 9700's strict reuse detection.
    #[arg(long, env = "GATEHOUSE_REFRESH_RETRY_WINDOW_SECS", default_value_t = 0)]
    pub(crate) refresh_retry_window_secs: u64,
    /// DPoP server nonces (RFC 9449 §8) at the token endpoint: a proof must carry a nonce handed out
    /// in `DPoP-Nonce`, a new one every N seconds, each accepted for two periods; 0 (default): off.
    #[arg(long, env = "GATEHOUSE_DPOP_NONCE_SECS", default_value_t = 0)]
    pub(crate) dpop_nonce_secs: u64,
    /// The trust domain Txn-Tokens are issued for (their `aud`, the `audience` a request must name);
    /// empty (default): the issuer's host name.
    #[arg(long, env = "GATEHOUSE_TXN_TRUST_DOMAIN", default_value = "")]
    pub(crate) txn_trust_domain: String,
    /// Longest lifetime of a Txn-Token in seconds (never longer than the token it was made from).
    #[arg(long, env = "GATEHOUSE_TXN_TOKEN_TTL_SECS", default_value_t = 300)]
    pub(crate) txn_token_ttl_secs: u64,
    /// Most Security Event Tokens one Shared Signals stream holds undelivered (push) or
    /// unacknowledged (poll); later ones are dropped and counted until the receiver catches up.
    #[arg(long, env = "GATEHOUSE_SSF_MAX_BACKLOG", default_value_t = 10_000)]
    pub(crate) ssf_max_backlog: u64,
    /// Bound of one Redis call in milliseconds; past it (and after 5 failures in a row, at once,
    /// with one probe call every 250 ms) the services go on without the cache. Under a load that
    /// saturates the process, a Redis answer can wait tens of milliseconds for the process to read
    /// it, so much less than 100 trips the breaker on a healthy Redis.
    #[arg(long, env = "GATEHOUSE_CACHE_TIMEOUT_MS", default_value_t = 100)]
    pub(crate) cache_timeout_ms: u64,
    /// Requests one process serves at once (each gRPC server, and the gateway); beyond it a request
    /// is refused at once with 503 / UNAVAILABLE and Retry-After instead of queueing.
    #[arg(long, env = "GATEHOUSE_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub(crate) max_concurrent_requests: usize,
    /// Longest request target (path and query) the gateway reads, in bytes; longer: 414.
    #[arg(long, env = "GATEHOUSE_MAX_URI_BYTES", default_value_t = 8192)]
    pub(crate) max_uri_bytes: usize,
    /// Largest request header section, in bytes; larger: 431.
    #[arg(long, env = "GATEHOUSE_MAX_HEADER_BYTES", default_value_t = 16384)]
    pub(crate) max_header_bytes: usize,
    /// Largest request body of any form or JSON endpoint, in bytes; larger: 413.
    #[arg(long, env = "GATEHOUSE_MAX_BODY_BYTES", default_value_t = 65536)]
    pub(crate) max_body_bytes: usize,
    /// Seconds a client has to send a request head before the connection is closed.
    #[arg(long, env = "GATEHOUSE_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) header_read_timeout_secs: u64,
    /// Seconds a request may take, reading its body included; longer: 408.
    #[arg(long, env = "GATEHOUSE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub(crate) request_timeout_secs: u64,
    /// Connections the gateway keeps open at once; more wait in the listen backlog.
    #[arg(long, env = "GATEHOUSE_MAX_CONNECTIONS", default_value_t = 4096)]
    pub(crate) max_connections: usize,
    /// The public base URL of the gateway: the OAuth issuer identifier (`iss`), and what decides `Secure` cookies.
    #[arg(long, env = "GATEHOUSE_ISSUER", default_value = "http://127.0.0.1:8080")]
    pub(crate) issuer: String,
    /// Codes, sessions and throttles (default `memory://`, one process only), `redis://[USER:PASSWORD@]HOST:PORT/DB`,
    /// `rediss://…` for TLS (the server's certificate checked against GATEHOUSE_CACHE_CA_FILE, or the
    /// system's roots), `redis+sentinel://HOST:PORT,HOST:PORT/MASTER_NAME[/DB]` (`rediss+sentinel://`), or
    /// `redis+cluster://HOST:PORT,HOST:PORT` (`rediss+cluster://`).
    #[arg(long, env = "GATEHOUSE_CACHE_URL", hide_env_values = true)]
    pub(crate) cache_url: Option<String>,
    /// A file holding GATEHOUSE_CACHE_URL (with its password), as a mounted Secret.
    #[arg(long, env = "GATEHOUSE_CACHE_URL_FILE")]
    pub(crate) cache_url_file: Option<std::path::PathBuf>,
    /// A file holding the Redis password, when GATEHOUSE_CACHE_URL has none (a mounted Secret, such as a Redis chart's
    /// `redis-password`); read at start.
    #[arg(long, env = "GATEHOUSE_CACHE_PASSWORD_FILE")]
    pub(crate) cache_password_file: Option<std::path::PathBuf>,
    /// PEM file of the CA that signs the Redis server's certificate (`rediss://` only); unset: the system's roots.
    #[arg(long, env = "GATEHOUSE_CACHE_CA_FILE")]
    pub(crate) cache_ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate for Redis servers that ask for one (`tls-auth-clients`), with GATEHOUSE_CACHE_CLIENT_KEY_FILE.
    #[arg(long, env = "GATEHOUSE_CACHE_CLIENT_CERT_FILE")]
    pub(crate) cache_client_cert_file: Option<std::path::PathBuf>,
    /// PEM key of GATEHOUSE_CACHE_CLIENT_CERT_FILE.
    #[arg(long, env = "GATEHOUSE_CACHE_CLIENT_KEY_FILE")]
    pub(crate) cache_client_key_file: Option<std::path::PathBuf>,
    /// Prefix of every cache key, so that several deployments can share one Redis (no braces).
    #[arg(long, env = "GATEHOUSE_CACHE_PREFIX", default_value = "gatehouse:")]
    pub(crate) cache_prefix: String,
    /// Lifetime of an authorization code, in seconds.
    #[arg(long, env = "GATEHOUSE_CODE_TTL_SECS", default_value_t = 300)]
    pub(crate) code_ttl_secs: u64,
    /// Lifetime of a login session, in seconds.
    #[arg(long, env = "GATEHOUSE_SESSION_TTL_SECS", default_value_t = 43200)]
    pub(crate) session_ttl_secs: u64,
    /// Lifetime of a device code and its user code (RFC 8628 `expires_in`).
    #[arg(long, env = "GATEHOUSE_DEVICE_CODE_TTL_SECS", default_value_t = 900)]
    pub(crate) device_code_ttl_secs: u64,
    /// Seconds a device waits between polls (RFC 8628 `interval`).
    #[arg(long, env = "GATEHOUSE_DEVICE_POLL_INTERVAL_SECS", default_value_t = 5)]
    pub(crate) device_poll_interval_secs: u64,
    /// The longest expiry a personal access token may be given, in days.
    #[arg(long, env = "GATEHOUSE_PAT_MAX_DAYS", default_value_t = 366)]
    pub(crate) pat_max_days: u64,
    /// The operator token `POST /admin/tokens/revoke` requires (secret
    /// scanning); unset turns the endpoint off. Prefer the _FILE form.
    #[arg(long, env = "GATEHOUSE_OPERATOR_TOKEN", hide_env_values = true)]
    pub(crate) operator_token: Option<SecretArg>,
    /// A file holding the operator token (a Kubernetes Secret mounted as a file).
    #[arg(long, env = "GATEHOUSE_OPERATOR_TOKEN_FILE")]
    pub(crate) operator_token_file: Option<std::path::PathBuf>,
    /// The workload certificates the gRPC ports admit, and their roles:
    /// `IDENTITY=ROLE,…` with IDENTITY a URI SAN (`spiffe://…`) or `dns:NAME`
    /// and ROLE gateway, registry, authorization, token, operator or
    /// validator:CLIENT_ID.
    #[arg(long, env = "GATEHOUSE_GRPC_PEERS", default_value = "")]
    pub(crate) grpc_peers: String,
    /// This part's internal credential (`gic_…`) for its calls to the other
    /// parts, where no workload certificate identifies it. Prefer the _FILE form.
    #[arg(long, env = "GATEHOUSE_CREDENTIAL")]
    pub(crate) credential: Option<SecretArg>,
    /// A file holding this part's internal credential.
    #[arg(long, env = "GATEHOUSE_CREDENTIAL_FILE")]
    pub(crate) credential_file: Option<std::path::PathBuf>,
    /// Client ids whose `client_credentials` access tokens identify them as
    /// validators (internal services checking tokens), comma separated.
    #[arg(long, env = "GATEHOUSE_VALIDATOR_CLIENTS", default_value = "")]
    pub(crate) validator_clients: String,
    /// Days audit events are kept (each service deletes older ones hourly).
    #[arg(long, env = "GATEHOUSE_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub(crate) audit_retention_days: u64,
    /// Serve gRPC server reflection to identified callers.
    #[arg(long, env = "GATEHOUSE_GRPC_REFLECTION", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) grpc_reflection: bool,
    /// The key-encryption key that seals the signing keys' private halves
    /// (32 random bytes, base64: `openssl rand -base64 32`); the same for
    /// every token replica. Prefer the _FILE form. Required with
    /// PostgreSQL; with SQLite, one is made beside the database when unset.
    #[arg(long, env = "GATEHOUSE_KEY_ENCRYPTION_KEY", hide_env_values = true)]
    pub(crate) key_encryption_key: Option<SecretArg>,
    /// A file holding the key-encryption key (a Kubernetes Secret mounted as a file).
    #[arg(long, env = "GATEHOUSE_KEY_ENCRYPTION_KEY_FILE")]
    pub(crate) key_encryption_key_file: Option<std::path::PathBuf>,
    /// ID token lifetime in seconds.
    #[arg(long, env = "GATEHOUSE_ID_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub(crate) id_token_ttl_secs: u64,
    /// Days after which the active signing key is replaced by the next one
    /// (0: only `gatehouse keys rotate` rotates).
    #[arg(long, env = "GATEHOUSE_SIGNING_KEY_ROTATION_DAYS", default_value_t = 90)]
    pub(crate) signing_key_rotation_days: u64,
    /// Who may create an account at `/signup`: `open`, `invitation` (with a link from
    /// `gatehouse user invite`), `email-domain` (an address at GATEHOUSE_SIGNUP_EMAIL_DOMAINS) or `off`.
    #[arg(long, env = "GATEHOUSE_SIGNUP", default_value = "open")]
    pub(crate) signup: String,
    /// The domains sign-up addresses must be at (comma-separated), with GATEHOUSE_SIGNUP=email-domain.
    #[arg(long, env = "GATEHOUSE_SIGNUP_EMAIL_DOMAINS", default_value = "")]
    pub(crate) signup_email_domains: String,
    /// Dynamic client registration (RFC 7591) at /oauth/register: `off`, `token` (an initial
    /// access token from `gatehouse registration token create` is required) or `open`.
    #[arg(long, env = "GATEHOUSE_DYNAMIC_REGISTRATION", default_value = "off")]
    pub(crate) dynamic_registration: String,
    /// Who registers resource servers (their identifiers become token audiences):
    /// `operator` (the CLI only) or `users` (signed-in users too, through pages and REST).
    #[arg(long, env = "GATEHOUSE_RESOURCE_SERVERS", default_value = "operator")]
    pub(crate) resource_servers: String,
    /// Anonymous dynamic registrations one address may make per hour.
    #[arg(long, env = "GATEHOUSE_REGISTRATION_HOURLY_LIMIT", default_value_t = 20)]
    pub(crate) registration_hourly_limit: u64,
    /// Days after which a dynamically registered client that was not used is deleted.
    #[arg(long, env = "GATEHOUSE_REGISTRATION_UNUSED_DAYS", default_value_t = 30)]
    pub(crate) registration_unused_days: u64,
    /// Days a registration access token (RFC 7592) lives; each use replaces it with a
    /// new one. 0: it never expires.
    #[arg(long, env = "GATEHOUSE_REGISTRATION_TOKEN_DAYS", default_value_t = 90)]
    pub(crate) registration_token_days: u64,
    /// Client ID metadata documents (https URLs as client ids): `open`, `off`, or a
    /// comma-separated allow-list of hosts.
    #[arg(long, env = "GATEHOUSE_CLIENT_METADATA_DOCUMENTS", default_value = "open")]
    pub(crate) client_metadata_documents: String,
    /// Comma-separated networks (CIDR) that documents may be fetched from although they are
    /// private or special-use (metadata documents and jwks_uri; the public Internet always).
    #[arg(long, env = "GATEHOUSE_FETCH_ALLOW_NETWORKS", default_value = "")]
    pub(crate) fetch_allow_networks: String,
    /// PEM roots trusted for fetched documents besides the Web PKI's.
    #[arg(long, env = "GATEHOUSE_FETCH_CA_FILE")]
    pub(crate) fetch_ca_file: Option<std::path::PathBuf>,
    /// Time limit of one document fetch, in milliseconds; at least a second under
    /// GATEHOUSE_RPC_TIMEOUT_MS, so that a slow document host is reported as such
    /// (default: 3000, or three fifths of the RPC timeout when that is shorter).
    #[arg(long, env = "GATEHOUSE_FETCH_TIMEOUT_MS")]
    pub(crate) fetch_timeout_ms: Option<u64>,
    /// An HTTP egress proxy for document fetches (`http://[user:password@]host:port`);
    /// tunnels go to the vetted address. `HTTPS_PROXY` is not read.
    #[arg(long, env = "GATEHOUSE_FETCH_PROXY")]
    pub(crate) fetch_proxy: Option<String>,
    /// The proxies in front of the gateway whose `X-Forwarded-For` hops are
    /// believed: networks (`10.0.0.0/8,fd00::/8`) or a hop count (`1`); empty
    /// for none (the connection's address is the client's).
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", default_value = "")]
    pub(crate) trusted_proxies: String,
    /// The key that binds sign-in form tokens to their cookies (32+ characters), the same on
    /// every gateway replica; unset, each gateway process makes its own.
    #[arg(long, env = "GATEHOUSE_FORM_KEY", hide_env_values = true)]
    pub(crate) form_key: Option<String>,
    /// A file holding GATEHOUSE_FORM_KEY, as a mounted Secret.
    #[arg(long, env = "GATEHOUSE_FORM_KEY_FILE")]
    pub(crate) form_key_file: Option<std::path::PathBuf>,
    /// The SMTP server that password reset and address confirmation links go out through:
    /// `smtps://user:password@host:465`, `smtp://user:password@host:587?tls=required`, or plain
    /// `smtp://127.0.0.1:25` to a relay on this machine. Unset: no mail (no reset by mail).
    #[arg(long, env = "GATEHOUSE_SMTP_URL", hide_env_values = true)]
    pub(crate) smtp_url: Option<String>,
    /// A file holding GATEHOUSE_SMTP_URL, as a mounted Secret.
    #[arg(long, env = "GATEHOUSE_SMTP_URL_FILE")]
    pub(crate) smtp_url_file: Option<std::path::PathBuf>,
    /// The sender of those mails (`Gatehouse <no-reply@example.com>`).
    #[arg(long, env = "GATEHOUSE_MAIL_FROM", default_value = "")]
    pub(crate) mail_from: String,
    /// Replaced by GATEHOUSE_TRUSTED_PROXIES; refused at start when set, so
    /// that a deployment relying on it does not silently change behaviour.
    #[arg(long, env = "GATEHOUSE_TRUST_FORWARDED_FOR", hide = true)]
    pub(crate) trust_forwarded_for: Option<String>,
    /// Time limit of every internal gRPC call, in milliseconds.
    #[arg(long, env = "GATEHOUSE_RPC_TIMEOUT_MS", default_value_t = 5000)]
    pub(crate) rpc_timeout_ms: u64,
    /// Seconds between SIGTERM and the start of the drain, during which health and
    /// readiness say "not serving" but requests are still served, so that
    /// Kubernetes removes the endpoint before the listener closes.
    #[arg(long, env = "GATEHOUSE_SHUTDOWN_DELAY_SECS", default_value_t = 0)]
    pub(crate) shutdown_delay_secs: u64,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "GATEHOUSE_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub(crate) shutdown_grace_secs: u64,
    /// argon2id memory cost in KiB.
    #[arg(long, env = "GATEHOUSE_PASSWORD_MEMORY_KIB", default_value_t = 19456)]
    pub(crate) password_memory_kib: u32,
    /// argon2id iterations.
    #[arg(long, env = "GATEHOUSE_PASSWORD_ITERATIONS", default_value_t = 2)]
    pub(crate) password_iterations: u32,
    /// A JSON file replacing the scope catalogue: `[{"name", "description", "description_zh"}]`.
    #[arg(long, env = "GATEHOUSE_SCOPES_FILE")]
    pub(crate) scopes_file: Option<PathBuf>,
    /// A JSON file of trusted workload token issuers (workload identity federation):
    /// `{"issuers": [{"issuer", "jwks_uri" | "jwks_file", "audiences", "rules": [{"claims", "client_id"}]}]}`.
    #[arg(long, env = "GATEHOUSE_FEDERATION_FILE")]
    pub(crate) federation_file: Option<PathBuf>,
    /// `text` or `json`.
    #[arg(long, env = "GATEHOUSE_LOG_FORMAT", default_value = "text")]
    pub(crate) log_format: String,
}

impl Default for ServeOptions {
    fn default() -> Self {
        // Parsing no arguments applies the same defaults and environment as the command line.
        ServeDefaults::parse_from(["gatehouse"]).options
    }
}

#[derive(Debug, Parser)]
struct ServeDefaults {
    #[command(flatten)]
    options: ServeOptions,
}

/// Options of every command that talks to the registry.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientOptions {
    /// The registry's gRPC address.
    #[arg(long, env = "GATEHOUSE_REGISTRY_URL", default_value = "http://127.0.0.1:50051", global = true)]
    pub(crate) registry_url: String,
    /// The token service's gRPC address (for `pat`, `keys`, `audit`).
    #[arg(long, env = "GATEHOUSE_TOKEN_URL", default_value = "http://127.0.0.1:50053", global = true)]
    pub(crate) token_url: String,
    /// The authorization service's gRPC address (for `audit`).
    #[arg(long, env = "GATEHOUSE_AUTHORIZATION_URL", default_value = "http://127.0.0.1:50052", global = true)]
    pub(crate) authorization_url: String,
    /// `table` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub(crate) output: OutputFormat,
    /// The operator credential (`gic_…`) the calls present. Prefer the _FILE
    /// form; with neither, the one `serve all` wrote into its data folder.
    #[arg(long, env = "GATEHOUSE_CREDENTIAL", global = true, hide_env_values = true)]
    pub(crate) credential: Option<SecretArg>,
    /// A file holding the operator credential.
    #[arg(long, env = "GATEHOUSE_CREDENTIAL_FILE", global = true)]
    pub(crate) credential_file: Option<std::path::PathBuf>,
    /// PEM CA to trust for `https://` addresses.
    #[arg(long, env = "GATEHOUSE_TLS_CA_FILE", global = true)]
    pub(crate) tls_ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate (mutual TLS), with --tls-key-file.
    #[arg(long, env = "GATEHOUSE_TLS_CERT_FILE", global = true)]
    pub(crate) tls_cert_file: Option<std::path::PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, env = "GATEHOUSE_TLS_KEY_FILE", global = true)]
    pub(crate) tls_key_file: Option<std::path::PathBuf>,
}

/// `--yes` of a command that deletes or revokes something.
#[derive(Debug, Clone, Args)]
pub(crate) struct Confirm {
    /// Go ahead without asking. Without it the command asks on a terminal, and
    /// refuses (exit 2) when standard input is not one, such as in a script.
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        /// Unique username (letters, digits, `-` and `_`).
        username: String,
        /// Email address.
        #[arg(long)]
        email: String,
        /// Name shown on pages (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (one line); required, so that it never shows in `ps`.
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Show a user by username.
    Show {
        /// The username.
        username: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Delete a user with everything they hold: their applications, grants,
    /// sessions and every token issued to them stop working at once.
    Delete {
        /// The username.
        username: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Invite someone to sign up (GATEHOUSE_SIGNUP=invitation): prints a single-use sign-up link.
    Invite {
        /// The only address the account may be created with (any when unset).
        #[arg(long)]
        email: Option<String>,
        /// How long the link works, in days (1 to 30).
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Give a user the administrator role (what an admin console signs in with).
    GrantAdmin {
        /// The username.
        username: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Take the administrator role away.
    RevokeAdmin {
        /// The username.
        username: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Give a user a role: `administrator` (what the admin console signs in with) or `user` (none).
    SetRole {
        /// The username.
        username: String,
        /// `administrator` or `user`.
        #[arg(value_enum)]
        role: UserRole,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// List users by username, all of them or those matching `--query`.
    List {
        /// Only users whose username, email or display name contains this text (any case).
        #[arg(long, default_value = "")]
        query: String,
        /// At most this many users (1 to 10000).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Disable a user: they cannot sign in, and every session and token they hold ends now.
    Disable {
        /// The username.
        username: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Enable a disabled user again (they sign in anew; what ended stays ended).
    Enable {
        /// The username.
        username: String,
        #[command(flatten)]
        client: ClientOptions,
    },
}

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum UserRole {
    /// Signs in to the admin console.
    Administrator,
    /// No role.
    User,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AppCommand {
    /// Register an application; prints its client id and (confidential only) its first secret.
    Create {
        /// Username of the owner.
        #[arg(long)]
        owner: String,
        /// A name users recognise, shown on consent pages.
        #[arg(long)]
        name: String,
        /// Callback URL; repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may return; repeat for several (default: the callback URLs).
        #[arg(long = "post-logout-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret, PKCE required).
        #[arg(long)]
        public: bool,
        /// Allowed scope; repeat for several (default: the whole catalogue).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Allowed grant type; repeat for several (default: authorization_code and refresh_token).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// What it does, shown on consent pages.
        #[arg(long, default_value = "")]
        description: String,
        /// Its home page URL.
        #[arg(long, default_value = "")]
        homepage: String,
        /// What its ID tokens are signed with: RS256 (what every relying party verifies) or ES256.
        #[arg(long = "id-token-alg", default_value = "RS256")]
        id_token_alg: String,
        /// Accept its authorization requests only as pushed requests (RFC 9126, `/oauth/par`).
        #[arg(long = "require-par")]
        require_par: bool,
        /// Issue it only DPoP-bound access tokens (RFC 9449): a token request without a proof fails.
        #[arg(long = "require-dpop")]
        require_dpop: bool,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// List applications, all or of one owner.
    List {
        /// Username of the owner.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Change an application: only what is given changes; a repeated list option replaces the whole list.
    Update {
        /// The client id.
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// A new home page URL.
        #[arg(long)]
        homepage: Option<String>,
        /// A new logo URL.
        #[arg(long)]
        logo: Option<String>,
        /// Callback URL; repeat for several (replaces every callback URL).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may return; repeat for several (replaces the list).
        #[arg(long = "post-logout-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Allowed scope; repeat for several (replaces the list).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Allowed grant type; repeat for several (replaces the list).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// What its ID tokens are signed with: RS256 or ES256.
        #[arg(long = "id-token-alg")]
        id_token_alg: Option<String>,
        /// Accept its authorization requests only as pushed requests (true or false).
        #[arg(long = "require-par")]
        require_par: Option<bool>,
        /// Issue it only DPoP-bound access tokens (true or false).
        #[arg(long = "require-dpop")]
        require_dpop: Option<bool>,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Show one application by client id.
    Show {
        /// The client id.
        id: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Add a client secret (the old ones keep working until deleted); prints it once.
    RotateSecret {
        /// The client id.
        id: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Delete one client secret.
    DeleteSecret {
        /// The client id.
        id: String,
        /// The secret's id (from `gatehouse app show`).
        secret_id: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Delete an application and its secrets.
    Delete {
        /// The client id.
        id: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        client: ClientOptions,
    },
}
