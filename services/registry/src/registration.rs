//! Clients that register themselves: dynamic client registration (RFC 7591),
//! its management API (RFC 7592), the operator's initial access tokens, and
//! the expiry of dynamically registered clients nobody uses.
//!
//! Rules, enforced here (the gateway only translates JSON):
//! - off unless the operator enables it; with `InitialAccessToken` a valid
//!   operator-issued token is required; anonymous registrations are limited
//!   per address per hour, counted in the shared cache (all replicas);
//! - the redirect URIs obey the registry's rules (https, or http on
//!   loopback for native apps); a bad one is `invalid_redirect_uri`, any
//!   other bad member `invalid_client_metadata`; unknown members and grant
//!   types Gatehouse does not offer (jwt-bearer, implicit) are ignored;
//! - a client gets a secret only for `client_secret_basic`/`_post`; `none`
//!   makes it public, `private_key_jwt` needs `jwks` or `jwks_uri`;
//! - the registration access token and the secret are stored as hashes and
//!   shown once; the management API answers a wrong token and an unknown
//!   client alike (`invalid_token`), so client ids cannot be probed;
//! - deleting a client revokes its tokens and grants first (as every
//!   application deletion), then it is `invalid_client` everywhere.

use std::time::Duration;

use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{
    ClientAuthMethod, ClientId, ClientType, GrantType, OAuthError, OAuthErrorCode, Registration, ScopeSet, SecretHash,
    random_token,
};

use crate::config::RegistrationPolicy;
use crate::dependents::Deleted;
use crate::error::{RegistryError, RegistryResult};
use crate::model::{
    Application, ApplicationType, ClientExtras, ClientKeys, ClientMetadata, InitialAccessTokenInfo,
    REGISTRATION_OWNER_ID,
};
use crate::secrets::CreatedSecret;
use crate::service::Registry;
use crate::store::RegistrationToken;
use crate::validate;

/// Prefix of registration access tokens (RFC 7592), for secret scanners:
/// their own, so that one is never mistaken for a refresh token (`grt_`,
/// which registrations made before it also used, and which still work
/// until their first use replaces them).
pub const REGISTRATION_TOKEN_PREFIX: &str = "gra_";
/// Prefix of initial access tokens (RFC 7591 §3).
pub const INITIAL_ACCESS_TOKEN_PREFIX: &str = "gia_";

/// A registration's outcome: the client, and the credentials shown this once.
#[derive(Clone)]
pub struct Registered {
    pub app: Application,
    pub secret: Option<CreatedSecret>,
    pub registration_access_token: Option<String>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered").field("app", &self.app).finish_non_exhaustive()
    }
}

fn metadata_error(description: impl Into<std::borrow::Cow<'static, str>>) -> RegistryError {
    RegistryError::OAuth(OAuthError::new(OAuthErrorCode::InvalidClientMetadata, description))
}

/// A validation failure of a field, as RFC 7591 §3.2.2 names it.
fn as_metadata_error(error: RegistryError) -> RegistryError {
    match error {
        RegistryError::Invalid { field, rule } if field.contains("redirect_uris") => {
            RegistryError::OAuth(OAuthError::new(OAuthErrorCode::InvalidRedirectUri, format!("{field}: {rule}")))
        }
        RegistryError::Invalid { field, rule } => metadata_error(format!("{field}: {rule}")),
        other => other,
    }
}

fn bad_registration_token() -> RegistryError {
    RegistryError::OAuth(OAuthError::new(
        OAuthErrorCode::InvalidToken,
        "the registration access token is not valid for this client",
    ))
}

/// What a metadata document says, validated: the parts of an [`Application`] it decides.
struct Validated {
    name: String,
    logo_url: String,
    homepage_url: String,
    redirect_uris: Vec<gatehouse_oauth::RedirectUri>,
    post_logout_redirect_uris: Vec<gatehouse_oauth::RedirectUri>,
    client_type: ClientType,
    auth_method: ClientAuthMethod,
    grant_types: Vec<GrantType>,
    scopes: ScopeSet,
    application_type: ApplicationType,
    keys: ClientKeys,
    extras: ClientExtras,
    id_token_alg: gatehouse_oauth::SigningAlg,
    requirements: gatehouse_oauth::ClientRequirements,
}

impl Registry {
    fn validate_metadata(&self, metadata: &ClientMetadata) -> RegistryResult<Validated> {
        let auth_method = match metadata.token_endpoint_auth_method.as_str() {
            // RFC 7591 §2's default.
            "" => ClientAuthMethod::ClientSecretBasic,
            method => ClientAuthMethod::parse(method).ok_or_else(|| {
                metadata_error(
                    "token_endpoint_auth_method must be none, client_secret_basic, client_secret_post or private_key_jwt",
                )
            })?,
        };
        let client_type =
            if auth_method == ClientAuthMethod::None { ClientType::Public } else { ClientType::Confidential };
        let keys = match (metadata.jwks.is_empty(), metadata.jwks_uri.is_empty()) {
            (false, false) => {
                return Err(metadata_error("jwks and jwks_uri must not both be sent (RFC 7591 section 2)"));
            }
            (false, true) => {
                let value: serde_json::Value =
                    serde_json::from_str(&metadata.jwks).map_err(|_| metadata_error("jwks is not JSON"))?;
                ClientKeys::Inline(crate::assertion::checked_jwks(&value).map_err(metadata_error)?)
            }
            (true, false) => {
                ClientKeys::Uri(crate::assertion::checked_jwks_uri(&metadata.jwks_uri).map_err(metadata_error)?)
            }
            (true, true) => ClientKeys::None,
        };
        if auth_method == ClientAuthMethod::PrivateKeyJwt && keys == ClientKeys::None {
            return Err(metadata_error("private_key_jwt needs jwks or jwks_uri"));
        }
        // Keys matter only to private_key_jwt; a secret client's are not kept.
        let keys = if auth_method == ClientAuthMethod::PrivateKeyJwt { keys } else { ClientKeys::None };
        let requested: Vec<&str> = if metadata.grant_types.is_empty() {
            vec!["authorization_code"]
        } else {
            metadata.grant_types.iter().map(String::as_str).collect()
        };
        let mut grant_types: Vec<GrantType> = requested.iter().filter_map(|g| GrantType::parse(g)).collect();
        grant_types.sort();
        grant_types.dedup();
        if grant_types.is_empty() {
            return Err(metadata_error("grant_types names no grant type this server supports"));
        }
        if let Some(bad) = grant_types.iter().find(|g| !g.allowed_for(client_type)) {
            return Err(metadata_error(format!("{} needs a confidential client", bad.as_str())));
        }
        let response_types = &metadata.response_types;
        if response_types.iter().any(|t| t != "code") {
            return Err(metadata_error("response_types may only be code"));
        }
        let wants_code = grant_types.contains(&GrantType::AuthorizationCode);
        if !response_types.is_empty() && !wants_code {
            return Err(metadata_error("response type code needs the authorization_code grant type"));
        }
        let redirect_uris = if wants_code || !metadata.redirect_uris.is_empty() {
            validate::redirect_uris(&metadata.redirect_uris).map_err(as_metadata_error)?
        } else {
            Vec::new()
        };
        let application_type = match metadata.application_type.as_str() {
            "" => ApplicationType::Web,
            value => {
                ApplicationType::parse(value).ok_or_else(|| metadata_error("application_type must be web or native"))?
            }
        };
        let scopes = if metadata.scope.trim().is_empty() {
            self.scopes().all()
        } else {
            let set = ScopeSet::parse(metadata.scope.trim()).map_err(|_| metadata_error("scope is malformed"))?;
            if let Some(unknown) = self.scopes().first_unknown(&set) {
                return Err(metadata_error(format!("scope {} is not offered by this server", unknown.as_str())));
            }
            set
        };
        let scopes = crate::model::self_registered_scopes(scopes, &grant_types, self.scopes());
        let name = if metadata.client_name.trim().is_empty() {
            // A name to show: the host the client redirects to.
            redirect_uris
                .first()
                .and_then(|u| url::Url::parse(u.as_str()).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "Unnamed client".to_owned())
        } else {
            validate::line("client_name", &metadata.client_name, 1, 100).map_err(as_metadata_error)?
        };
        let extras = &metadata.extras;
        if extras.contacts.len() > 10
            || extras.contacts.iter().any(|c| c.len() > 254 || gatehouse_oauth::text::first_deceptive(c).is_some())
        {
            return Err(metadata_error("contacts: at most 10, each at most 254 characters"));
        }
        let extras = ClientExtras {
            client_uri: validate::web_url("client_uri", &extras.client_uri).map_err(as_metadata_error)?,
            contacts: extras.contacts.clone(),
            tos_uri: validate::web_url("tos_uri", &extras.tos_uri).map_err(as_metadata_error)?,
            policy_uri: validate::web_url("policy_uri", &extras.policy_uri).map_err(as_metadata_error)?,
            software_id: validate::line("software_id", &extras.software_id, 0, 100).map_err(as_metadata_error)?,
            software_version: validate::line("software_version", &extras.software_version, 0, 100)
                .map_err(as_metadata_error)?,
        };
        Ok(Validated {
            name,
            logo_url: validate::web_url("logo_uri", &metadata.logo_uri).map_err(as_metadata_error)?,
            homepage_url: extras.client_uri.clone(),
            redirect_uris,
            post_logout_redirect_uris: validate::post_logout_redirect_uris(&metadata.post_logout_redirect_uris)
                .map_err(as_metadata_error)?,
            client_type,
            auth_method,
            grant_types,
            scopes,
            application_type,
            keys,
            extras,
            id_token_alg: crate::convert::id_token_alg(&metadata.id_token_signed_response_alg)
                .map_err(as_metadata_error)?,
            requirements: gatehouse_oauth::ClientRequirements {
                pushed_authorization_requests: metadata.require_pushed_authorization_requests,
                dpop_bound_access_tokens: metadata.dpop_bound_access_tokens,
            },
        })
    }

    /// Whether the registration may go ahead: the policy, the initial
    /// access token, and the per-address limit for anonymous ones.
    async fn admit_registration(&self, initial_access_token: &str, address: &str) -> RegistryResult<()> {
        let config = &self.inner.config.registration;
        if !initial_access_token.is_empty() {
            let hash = SecretHash::of(initial_access_token);
            let valid = self
                .stores()
                .registrations
                .initial_access_token_by_hash(&hash)
                .await?
                .is_some_and(|token| token.expires_at.is_none_or(|at| at > self.now()));
            return if valid {
                Ok(())
            } else {
                Err(RegistryError::OAuth(OAuthError::new(
                    OAuthErrorCode::InvalidToken,
                    "the initial access token is not valid",
                )))
            };
        }
        if config.policy == RegistrationPolicy::InitialAccessToken {
            return Err(RegistryError::OAuth(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "registration needs an initial access token from this server's operator",
            )));
        }
        let key = format!("registrations:{address}");
        let count = self
            .inner
            .kv
            .incr(&key, Duration::from_secs(3600))
            .await
            .map_err(|e| RegistryError::Cache(e.to_string()))?;
        if count > config.hourly_limit_per_address {
            gatehouse_runtime::metrics::metrics().throttled(gatehouse_runtime::throttle::Limiter::ClientRegistration);
            let retry_after = self.inner.kv.ttl(&key).await.ok().flatten().unwrap_or(Duration::from_secs(3600));
            return Err(RegistryError::Throttled { what: "too many registrations from this address", retry_after });
        }
        Ok(())
    }

    /// RFC 7591 §3: registers a client from its metadata.
    pub async fn register_client(
        &self,
        metadata: &ClientMetadata,
        initial_access_token: &str,
        address: &str,
    ) -> RegistryResult<Registered> {
        // Off is off, whatever was sent; then the metadata, so that a bad
        // request costs no slot of the address's hourly allowance.
        if self.inner.config.registration.policy == RegistrationPolicy::Off {
            return Err(RegistryError::OAuth(OAuthError::new(
                OAuthErrorCode::AccessDenied,
                "dynamic client registration is not enabled on this server",
            )));
        }
        let validated = self.validate_metadata(metadata)?;
        // A client nobody vouched for gets only the grants a user
        // authorizes: tokens with no user behind them need an operator's
        // initial access token.
        if initial_access_token.is_empty()
            && let Some(grant) = validated.grant_types.iter().find(|g| !g.needs_user())
        {
            return Err(metadata_error(format!(
                "{} needs an initial access token from this server's operator; anonymous registrations get only the grants a user authorizes",
                grant.as_str()
            )));
        }
        self.admit_registration(initial_access_token, address).await?;
        let now = self.now();
        let mut app = Application {
            client_id: ClientId::generate(),
            owner_id: REGISTRATION_OWNER_ID.to_owned(),
            name: validated.name,
            description: String::new(),
            homepage_url: validated.homepage_url,
            logo_url: validated.logo_url,
            redirect_uris: validated.redirect_uris,
            client_type: validated.client_type,
            grant_types: validated.grant_types,
            scopes: validated.scopes,
            secrets: Vec::new(),
            post_logout_redirect_uris: validated.post_logout_redirect_uris,
            created_at: now,
            updated_at: now,
            registration: Registration::Dynamic,
            auth_method: validated.auth_method,
            application_type: validated.application_type,
            keys: validated.keys,
            extras: validated.extras,
            last_used_at: None,
            id_token_alg: validated.id_token_alg,
            requirements: validated.requirements,
        };
        let secret =
            matches!(app.auth_method, ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost)
                .then(|| self.new_secret());
        let (token, stored) = self.new_registration_token();
        let secret_row = secret.as_ref().map(|(created, hash)| (&created.info, hash));
        self.stores().applications.insert_application(&app, secret_row, Some(&stored)).await?;
        if let Some((created, _)) = &secret {
            app.secrets.push(created.info.clone());
        }
        tracing::info!(client_id = %app.client_id, address, "client registered dynamically");
        Ok(Registered { app, secret: secret.map(|(created, _)| created), registration_access_token: Some(token) })
    }

    /// A new registration access token: its clear text (shown once) and
    /// what is stored of it.
    fn new_registration_token(&self) -> (String, RegistrationToken) {
        let token = random_token(REGISTRATION_TOKEN_PREFIX, RANDOM_CHARS_256_BITS);
        let ttl = self.inner.config.registration.access_token_ttl;
        let expires_at = ttl.map(|ttl| self.now().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)));
        let stored = RegistrationToken { hash: SecretHash::of(&token), expires_at };
        (token, stored)
    }

    /// The client when `token` is its live registration access token
    /// (RFC 7592 §2), and the token as stored. Wrong, expired, revoked and
    /// unknown read the same.
    async fn registered_client(&self, client_id: &str, token: &str) -> RegistryResult<(Application, SecretHash)> {
        if token.is_empty() {
            return Err(RegistryError::OAuth(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "send the registration access token as a Bearer token (RFC 7592 section 2)",
            )));
        }
        let found = self.stores().registrations.application_with_registration_token(client_id).await?;
        match found {
            // Constant-time comparison of the hashes.
            Some((app, stored))
                if !token.is_empty()
                    && stored.hash.verify(token)
                    && stored.expires_at.is_none_or(|expires| expires > self.now()) =>
            {
                Ok((app, stored.hash))
            }
            _ => Err(bad_registration_token()),
        }
    }

    /// RFC 7592 §3: each use of a registration access token replaces it;
    /// the old one stops working at once. Of two concurrent uses one wins,
    /// the other is refused as a bad token.
    async fn rotate_registration_token(&self, client_id: &str, used: &SecretHash) -> RegistryResult<String> {
        let (token, stored) = self.new_registration_token();
        if self.stores().registrations.replace_registration_token(client_id, used, &stored).await? {
            Ok(token)
        } else {
            Err(bad_registration_token())
        }
    }

    /// RFC 7592 §2.1: reads a client's registration; the answer carries the
    /// token that replaces the one used.
    pub async fn client_registration(&self, client_id: &str, token: &str) -> RegistryResult<(Application, String)> {
        let (app, used) = self.registered_client(client_id, token).await?;
        let next = self.rotate_registration_token(client_id, &used).await?;
        Ok((app, next))
    }

    /// Revokes a registration access token by its value (a leaked one,
    /// reported): the client keeps working, its registration can no longer
    /// be read, changed or deleted with it. The client it belonged to, if any.
    pub async fn revoke_registration_token(&self, token: &str) -> RegistryResult<Option<String>> {
        if token.is_empty() {
            return Ok(None);
        }
        self.stores().registrations.remove_registration_token(&SecretHash::of(token)).await
    }

    /// RFC 7592 §2.2: replaces a client's metadata. Its id, secrets and
    /// registration access token stay; its kind of authentication (none, a
    /// secret, a key) cannot change, for a change would need credentials
    /// the client does not have: it registers anew instead.
    pub async fn update_client_registration(
        &self,
        client_id: &str,
        token: &str,
        metadata: &ClientMetadata,
    ) -> RegistryResult<(Application, String)> {
        let (mut app, used) = self.registered_client(client_id, token).await?;
        let validated = self.validate_metadata(metadata)?;
        let family = |m: ClientAuthMethod| match m {
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => 1,
            ClientAuthMethod::None => 0,
            ClientAuthMethod::PrivateKeyJwt => 2,
        };
        if family(validated.auth_method) != family(app.auth_method) {
            return Err(metadata_error(
                "token_endpoint_auth_method cannot change between none, a secret and a key: register a new client",
            ));
        }
        // Grants with no user cannot be added after registration: they are
        // granted with an initial access token, at registration only.
        if validated.grant_types.iter().any(|g| !g.needs_user() && !app.grant_types.contains(g)) {
            return Err(metadata_error(
                "client_credentials cannot be added to a registration: register a new client with an initial access token",
            ));
        }
        app.name = validated.name;
        app.logo_url = validated.logo_url;
        app.homepage_url = validated.homepage_url;
        app.redirect_uris = validated.redirect_uris;
        app.post_logout_redirect_uris = validated.post_logout_redirect_uris;
        app.auth_method = validated.auth_method;
        app.grant_types = validated.grant_types;
        app.scopes = validated.scopes;
        app.application_type = validated.application_type;
        app.keys = validated.keys;
        app.extras = validated.extras;
        app.id_token_alg = validated.id_token_alg;
        app.requirements = validated.requirements;
        app.updated_at = self.now();
        self.stores().applications.update_application(&app).await?;
        let next = self.rotate_registration_token(client_id, &used).await?;
        Ok((app, next))
    }

    /// RFC 7592 §2.3: deletes a client, after revoking everything it holds.
    pub async fn delete_client_registration(&self, client_id: &str, token: &str) -> RegistryResult<()> {
        self.registered_client(client_id, token).await?;
        self.delete_application(client_id, None).await
    }

    /// Deletes dynamically registered clients unused for the configured
    /// time, at most `limit` per call; how many it deleted.
    pub async fn expire_unused_clients(&self, limit: u64) -> RegistryResult<usize> {
        let unused = self.inner.config.registration.unused_expiry;
        let before = self.now() - i64::try_from(unused.as_secs()).unwrap_or(i64::MAX / 2);
        let ids = self.stores().registrations.unused_dynamic_clients(before, limit).await?;
        let mut deleted = 0;
        for id in ids {
            self.inner.dependents.revoke(Deleted::Application(&id)).await?;
            if self.stores().applications.delete_application(&id).await? {
                deleted += 1;
                tracing::info!(client_id = %id, "unused dynamically registered client expired");
            }
        }
        Ok(deleted)
    }

    /// Issues an initial access token (RFC 7591 §3) for the operator.
    pub async fn create_initial_access_token(
        &self,
        description: &str,
        ttl: Option<Duration>,
    ) -> RegistryResult<(InitialAccessTokenInfo, String)> {
        let now = self.now();
        let info = InitialAccessTokenInfo {
            id: uuid::Uuid::now_v7().to_string(),
            description: validate::line("description", description, 0, 200)?,
            created_at: now,
            expires_at: ttl.map(|ttl| now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)),
        };
        let token = random_token(INITIAL_ACCESS_TOKEN_PREFIX, RANDOM_CHARS_256_BITS);
        self.stores().registrations.insert_initial_access_token(&info, &SecretHash::of(&token)).await?;
        Ok((info, token))
    }

    pub async fn list_initial_access_tokens(&self) -> RegistryResult<Vec<InitialAccessTokenInfo>> {
        self.stores().registrations.list_initial_access_tokens().await
    }

    pub async fn delete_initial_access_token(&self, id: &str) -> RegistryResult<()> {
        if self.stores().registrations.delete_initial_access_token(id).await? {
            Ok(())
        } else {
            Err(RegistryError::NotFound(format!("initial access token {id:?} not found")))
        }
    }
}
