//! The registry's domain types.

use gatehouse_oauth::{
    ClientAuthMethod, ClientId, ClientType, GrantType, RedirectUri, Registration, ResourceId, ScopeSet, TokenFormat,
};

/// The account that owns dynamically registered clients (made by a
/// migration; nobody can sign in to it).
pub const REGISTRATION_OWNER_ID: &str = "gatehouse:registration";

/// A user account: the one record every service shares (see `gatehouse_proto::convert::Account`).
pub use gatehouse_proto::convert::Account as User;

/// Inputs of account and resource-server creation, shared with the typed client.
pub use gatehouse_proto::convert::{NewResourceServer, NewUser};

/// A client secret's metadata; the secret itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSecretInfo {
    pub id: String,
    /// The first characters of the secret, to tell secrets apart.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// An application (OAuth client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub client_id: ClientId,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub homepage_url: String,
    pub logo_url: String,
    pub redirect_uris: Vec<RedirectUri>,
    pub client_type: ClientType,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub secrets: Vec<ClientSecretInfo>,
    /// Where RP-initiated logout may return; empty: the redirect URIs.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub created_at: i64,
    pub updated_at: i64,
    pub registration: Registration,
    /// How it authenticates at the token endpoint.
    pub auth_method: ClientAuthMethod,
    pub application_type: ApplicationType,
    /// Its public keys for `private_key_jwt`: a JWK Set, or where it is published.
    pub keys: ClientKeys,
    /// RFC 7591 metadata shown and echoed back only.
    pub extras: ClientExtras,
    /// When it last authenticated (self-registered clients unused for long expire).
    pub last_used_at: Option<i64>,
    /// What its ID tokens are signed with.
    pub id_token_alg: gatehouse_oauth::SigningAlg,
    /// PAR only, DPoP-bound tokens only.
    pub requirements: gatehouse_oauth::ClientRequirements,
}

impl Application {
    /// What an application registered by a user starts with beyond its form.
    pub(crate) fn default_auth_method(client_type: ClientType) -> ClientAuthMethod {
        match client_type {
            ClientType::Confidential => ClientAuthMethod::ClientSecretBasic,
            ClientType::Public => ClientAuthMethod::None,
        }
    }
}

/// OpenID Connect Registration §2 `application_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApplicationType {
    #[default]
    Web,
    Native,
}

impl ApplicationType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "web" => Some(Self::Web),
            "native" => Some(Self::Native),
            _ => None,
        }
    }
}

/// A client's public keys for `private_key_jwt` (RFC 7591 §2: `jwks` and
/// `jwks_uri` never both).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClientKeys {
    #[default]
    None,
    /// A JWK Set, as JSON text (validated on the way in).
    Inline(String),
    /// An https URL serving the JWK Set.
    Uri(String),
}

impl ClientKeys {
    /// The inline JWK Set's JSON, or "".
    pub fn jwks(&self) -> &str {
        match self {
            Self::Inline(jwks) => jwks,
            _ => "",
        }
    }

    /// The `jwks_uri`, or "".
    pub fn jwks_uri(&self) -> &str {
        match self {
            Self::Uri(uri) => uri,
            _ => "",
        }
    }
}

/// The scopes a self-registered client may ask for: what it registered,
/// plus `offline_access` when it registered the refresh_token grant, for that
/// scope is what gives these clients refresh tokens
/// (`RegisteredClient::gets_refresh_token`) and MCP clients add it at
/// authorization time whatever they registered.
pub(crate) fn self_registered_scopes(
    scopes: ScopeSet,
    grant_types: &[GrantType],
    catalogue: &gatehouse_oauth::ScopeCatalogue,
) -> ScopeSet {
    match gatehouse_oauth::Scope::parse("offline_access") {
        Some(offline) if grant_types.contains(&GrantType::RefreshToken) && catalogue.get(&offline).is_some() => {
            scopes.union(&ScopeSet::from_scopes([offline]))
        }
        _ => scopes,
    }
}

pub use gatehouse_oauth::registration::{ClientExtras, ClientMetadata};

/// An internal credential's metadata (never the credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    pub id: String,
    pub name: String,
    pub role: gatehouse_runtime::access::Role,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl CredentialInfo {
    /// Whether it identifies its holder at `now`.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires_at| expires_at > now)
    }
}

/// An operator-issued initial access token's metadata (RFC 7591 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAccessTokenInfo {
    pub id: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// Input of application registration, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewApplication {
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub homepage_url: String,
    pub logo_url: String,
    pub redirect_uris: Vec<String>,
    /// `None` means confidential.
    pub client_type: Option<ClientType>,
    /// Empty means authorization_code and refresh_token.
    pub grant_types: Vec<GrantType>,
    /// Empty means the whole catalogue.
    pub scopes: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub id_token_alg: gatehouse_oauth::SigningAlg,
    pub requirements: gatehouse_oauth::ClientRequirements,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ApplicationPatch {
    /// When set, the caller must own the application.
    pub acting_owner_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub homepage_url: Option<String>,
    pub logo_url: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub scopes: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub id_token_alg: Option<gatehouse_oauth::SigningAlg>,
    pub require_pushed_authorization_requests: Option<bool>,
    pub dpop_bound_access_tokens: Option<bool>,
}

/// A resource server (RFC 8707): an API that access tokens are issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub identifier: ResourceId,
    /// The scopes it accepts.
    pub scopes: ScopeSet,
    pub token_format: TokenFormat,
    /// Who may ask for it, unless `any_client`.
    pub allowed_client_ids: Vec<ClientId>,
    pub any_client: bool,
    /// Whether it admits tokens with no user (`client_credentials`).
    pub application_tokens: bool,
    /// The application that introspects for it, if any.
    pub introspection_client_id: Option<ClientId>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ResourceServer {
    /// Whether `client_id` may ask for tokens for it.
    pub fn admits(&self, client_id: &str) -> bool {
        self.any_client || self.allowed_client_ids.iter().any(|c| c.as_str() == client_id)
    }
}

/// A partial update of a resource server: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ResourceServerPatch {
    pub acting_owner_id: Option<String>,
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub token_format: Option<String>,
    pub allowed_client_ids: Option<Vec<String>>,
    pub any_client: Option<bool>,
    /// Empty removes it.
    pub introspection_client_id: Option<String>,
    pub application_tokens: Option<bool>,
}
