//! The registry's domain types.

use gatehouse_oauth::{ClientId, ClientType, GrantType, RedirectUri, ResourceId, ScopeSet, TokenFormat};

/// A user account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub avatar_url: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl User {
    /// The user as an application holding `scopes` may see them (the
    /// seed's open API): the email address only with `user:email`.
    #[must_use]
    pub fn visible_to(mut self, scopes: &[String]) -> Self {
        if !scopes.iter().any(|s| s == "user:email") {
            self.email.clear();
        }
        self
    }
}

/// Input of account creation, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub avatar_url: String,
    pub password: String,
}

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

/// Input of a resource server's registration, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewResourceServer {
    pub owner_id: String,
    pub name: String,
    pub identifier: String,
    /// Empty means the whole catalogue.
    pub scopes: Vec<String>,
    /// Empty means opaque.
    pub token_format: String,
    pub allowed_client_ids: Vec<String>,
    pub any_client: bool,
    /// Empty means none.
    pub introspection_client_id: String,
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
}
