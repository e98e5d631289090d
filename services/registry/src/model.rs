//! The registry's domain types.

use gatehouse_oauth::{ClientId, ClientType, GrantType, RedirectUri, ScopeSet};

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
}
