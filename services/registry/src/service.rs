//! The registry's use cases. Every rule about accounts and applications is
//! here; the gRPC adapter only converts.

use std::sync::Arc;

use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{ClientId, ClientType, Clock, OAuthError, ScopeCatalogue, SecretHash, random_token};

use crate::config::RegistryConfig;
use crate::dependents::{Deleted, Dependents};
use crate::error::{RegistryError, RegistryResult};
use crate::model::{Application, ApplicationPatch, ClientSecretInfo, NewApplication, NewUser, User};
use crate::password::PasswordHasherArgon2;
use crate::store::RegistryStore;
use crate::validate;

/// Prefix of client secrets, so that secret scanners can recognise leaked ones.
pub const CLIENT_SECRET_PREFIX: &str = "gcs_";
/// Characters of a secret kept as its visible prefix (the type prefix plus 4).
const VISIBLE_PREFIX_LEN: usize = CLIENT_SECRET_PREFIX.len() + 4;

/// A secret just created: its metadata, and the clear text shown this once.
#[derive(Clone)]
pub struct CreatedSecret {
    pub info: ClientSecretInfo,
    pub secret: String,
}

impl std::fmt::Debug for CreatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedSecret").field("info", &self.info).finish_non_exhaustive()
    }
}

/// The registry: accounts, applications, secrets and scopes.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: RegistryConfig,
    store: Arc<dyn RegistryStore>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasherArgon2,
    dependents: Dependents,
}

impl Registry {
    pub(crate) fn new(
        config: RegistryConfig,
        store: Arc<dyn RegistryStore>,
        dependents: Dependents,
        clock: Arc<dyn Clock>,
    ) -> RegistryResult<Self> {
        let hasher = PasswordHasherArgon2::new(config.password)?;
        Ok(Self { inner: Arc::new(Inner { config, store, clock, hasher, dependents }) })
    }

    fn now(&self) -> i64 {
        self.inner.clock.now().timestamp()
    }

    fn store(&self) -> &dyn RegistryStore {
        self.inner.store.as_ref()
    }

    pub fn scopes(&self) -> &ScopeCatalogue {
        &self.inner.config.scopes
    }

    /// Creates an account. Fails with `Invalid` naming the field, or
    /// `AlreadyExists` when the username is taken in any letter case.
    pub async fn create_user(&self, input: NewUser) -> RegistryResult<User> {
        validate::username(&input.username)?;
        validate::email(input.email.trim())?;
        validate::password(&input.password)?;
        let display_name = validate::line("display_name", &input.display_name, 0, 100)?;
        let avatar_url = validate::web_url("avatar_url", &input.avatar_url)?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            display_name: if display_name.is_empty() { input.username.clone() } else { display_name },
            username: input.username,
            email: input.email.trim().to_owned(),
            avatar_url,
            created_at: self.now(),
        };
        let key = validate::username_key(&user.username);
        // Fail fast on a taken name before paying for argon2; the unique index
        // still decides under a race.
        if self.store().user_by_username_key(&key).await?.is_some() {
            return Err(RegistryError::AlreadyExists(format!("username {:?} is taken", user.username)));
        }
        let hash = self.inner.hasher.hash(input.password).await?;
        self.store().insert_user(&user, &key, &hash).await?;
        Ok(user)
    }

    pub async fn get_user_by_id(&self, id: &str) -> RegistryResult<User> {
        self.store().user_by_id(id).await?.ok_or_else(|| RegistryError::NotFound(format!("user {id:?} not found")))
    }

    /// Deletes an account and everything it holds: its applications (as
    /// [`Registry::delete_application`] does), then every token and grant
    /// it holds as a user and its sessions, then the account. Each step is
    /// idempotent, so a failed deletion is retried from the start.
    pub async fn delete_user(&self, id: &str) -> RegistryResult<()> {
        let user = self.get_user_by_id(id).await?;
        for app in self.store().list_applications(Some(&user.id)).await? {
            self.inner.dependents.revoke(Deleted::Application(app.client_id.as_str())).await?;
            self.store().delete_application(app.client_id.as_str()).await?;
        }
        self.inner.dependents.revoke(Deleted::User(&user.id)).await?;
        if self.store().delete_user(&user.id).await? {
            Ok(())
        } else {
            Err(RegistryError::NotFound(format!("user {id:?} not found")))
        }
    }

    pub async fn get_user_by_username(&self, username: &str) -> RegistryResult<User> {
        self.store()
            .user_by_username_key(&validate::username_key(username))
            .await?
            .map(|(user, _)| user)
            .ok_or_else(|| RegistryError::NotFound(format!("user {username:?} not found")))
    }

    /// Checks a password. An unknown user is verified against a dummy hash,
    /// so both failures take the same time and give the same answer.
    pub async fn verify_password(&self, username: &str, password: String) -> RegistryResult<Option<User>> {
        let found = if validate::username(username).is_ok() {
            self.store().user_by_username_key(&validate::username_key(username)).await?
        } else {
            None
        };
        let (user, hash) = found.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
        let ok = self.inner.hasher.verify(hash, password).await?;
        Ok(user.filter(|_| ok))
    }

    fn new_secret(&self) -> (CreatedSecret, SecretHash) {
        let secret = random_token(CLIENT_SECRET_PREFIX, RANDOM_CHARS_256_BITS);
        let info = ClientSecretInfo {
            // v7 ids sort by creation time, which is the order secrets are listed in.
            id: uuid::Uuid::now_v7().to_string(),
            prefix: secret[..VISIBLE_PREFIX_LEN].to_owned(),
            created_at: self.now(),
            last_used_at: None,
        };
        let hash = SecretHash::of(&secret);
        (CreatedSecret { info, secret }, hash)
    }

    /// Registers an application; a confidential one gets its first secret.
    pub async fn register_application(
        &self,
        input: NewApplication,
    ) -> RegistryResult<(Application, Option<CreatedSecret>)> {
        if self.store().user_by_id(&input.owner_id).await?.is_none() {
            return Err(RegistryError::invalid("owner_id", format!("user {:?} does not exist", input.owner_id)));
        }
        let client_type = input.client_type.unwrap_or(ClientType::Confidential);
        let now = self.now();
        let mut app = Application {
            client_id: ClientId::generate(),
            owner_id: input.owner_id,
            name: validate::line("name", &input.name, 1, 100)?,
            description: validate::text("description", &input.description, 1000)?,
            homepage_url: validate::web_url("homepage_url", &input.homepage_url)?,
            logo_url: validate::web_url("logo_url", &input.logo_url)?,
            redirect_uris: validate::redirect_uris(&input.redirect_uris)?,
            client_type,
            grant_types: validate::grant_types(&input.grant_types, client_type)?,
            scopes: validate::scopes(&input.scopes, self.scopes())?,
            secrets: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let created = (client_type == ClientType::Confidential).then(|| self.new_secret());
        let secret_row = created.as_ref().map(|(created, hash)| (&created.info, hash));
        self.store().insert_application(&app, secret_row).await?;
        if let Some((created, _)) = &created {
            app.secrets.push(created.info.clone());
        }
        Ok((app, created.map(|(created, _)| created)))
    }

    /// Lists applications of one owner, or all of them.
    pub async fn list_applications(&self, owner_id: Option<&str>) -> RegistryResult<Vec<Application>> {
        self.store().list_applications(owner_id).await
    }

    pub async fn get_application(&self, client_id: &str) -> RegistryResult<Application> {
        self.store()
            .application(client_id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("application {client_id:?} not found")))
    }

    /// The application, checked to belong to `acting_owner` when one is given.
    /// Another owner's application answers NotFound, not PermissionDenied, so
    /// that client ids of others cannot be probed.
    pub async fn owned_application(&self, client_id: &str, acting_owner: Option<&str>) -> RegistryResult<Application> {
        let app = self.get_application(client_id).await?;
        match acting_owner {
            Some(owner) if owner != app.owner_id => {
                Err(RegistryError::NotFound(format!("application {client_id:?} not found")))
            }
            _ => Ok(app),
        }
    }

    /// Applies the fields set in `patch`; the whole patch is validated before anything is written.
    pub async fn update_application(&self, client_id: &str, patch: ApplicationPatch) -> RegistryResult<Application> {
        let mut app = self.owned_application(client_id, patch.acting_owner_id.as_deref()).await?;
        if let Some(name) = &patch.name {
            app.name = validate::line("name", name, 1, 100)?;
        }
        if let Some(description) = &patch.description {
            app.description = validate::text("description", description, 1000)?;
        }
        if let Some(homepage) = &patch.homepage_url {
            app.homepage_url = validate::web_url("homepage_url", homepage)?;
        }
        if let Some(logo) = &patch.logo_url {
            app.logo_url = validate::web_url("logo_url", logo)?;
        }
        if let Some(uris) = &patch.redirect_uris {
            app.redirect_uris = validate::redirect_uris(uris)?;
        }
        if let Some(grants) = &patch.grant_types {
            app.grant_types = validate::grant_types(grants, app.client_type)?;
        }
        if let Some(scopes) = &patch.scopes {
            app.scopes = validate::scopes(scopes, self.scopes())?;
        }
        app.updated_at = self.now();
        self.store().update_application(&app).await?;
        Ok(app)
    }

    /// Deletes an application after revoking everything it holds (tokens,
    /// grants): once this returns, none of its tokens works anywhere. The
    /// revocation comes first, so a failure leaves the application in place
    /// to delete again; from the revocation on, no token is issued to it.
    /// Ends a user's authorization of an application (consent and tokens);
    /// `NotFound` when there was neither.
    pub async fn revoke_authorization(&self, user_id: &str, client_id: &str) -> RegistryResult<u64> {
        match self.inner.dependents.revoke_grant(user_id, client_id).await? {
            (false, 0) => Err(RegistryError::NotFound(format!("no authorization of application {client_id:?}"))),
            (_, revoked) => Ok(revoked),
        }
    }

    pub async fn delete_application(&self, client_id: &str, acting_owner: Option<&str>) -> RegistryResult<()> {
        self.owned_application(client_id, acting_owner).await?;
        self.inner.dependents.revoke(Deleted::Application(client_id)).await?;
        if self.store().delete_application(client_id).await? {
            Ok(())
        } else {
            Err(RegistryError::NotFound(format!("application {client_id:?} not found")))
        }
    }

    /// Adds a secret; the old ones keep working until deleted, so a secret
    /// rotates without downtime.
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        acting_owner: Option<&str>,
    ) -> RegistryResult<CreatedSecret> {
        let app = self.owned_application(client_id, acting_owner).await?;
        if app.client_type == ClientType::Public {
            return Err(RegistryError::FailedPrecondition("public applications have no client secret".to_owned()));
        }
        let (created, hash) = self.new_secret();
        self.store().add_secret(client_id, &created.info, &hash, self.inner.config.max_client_secrets).await?;
        Ok(created)
    }

    pub async fn delete_client_secret(
        &self,
        client_id: &str,
        secret_id: &str,
        acting_owner: Option<&str>,
    ) -> RegistryResult<()> {
        let app = self.owned_application(client_id, acting_owner).await?;
        let keep_one = app.client_type == ClientType::Confidential;
        self.store().delete_secret(client_id, secret_id, keep_one).await
    }

    /// Authenticates a client (RFC 6749 §2.3.1). Every failure is the same
    /// `invalid_client`, so that a caller learns nothing about which part was wrong.
    pub async fn authenticate_client(&self, client_id: &str, secret: &str) -> RegistryResult<Application> {
        let failed = || RegistryError::OAuth(OAuthError::invalid_client("client authentication failed"));
        let Some((app, hashes)) = self.store().application_with_hashes(client_id).await? else {
            return Err(failed());
        };
        match app.client_type {
            // A public client is identified, not authenticated; sending a
            // secret it does not have is a client error.
            ClientType::Public if secret.is_empty() => return Ok(app),
            ClientType::Public => return Err(failed()),
            ClientType::Confidential if secret.is_empty() => return Err(failed()),
            ClientType::Confidential => {}
        }
        // Check every stored hash (constant-time each) rather than stopping at
        // the first match, so timing does not tell which secret matched.
        let mut matched = None;
        for (id, hash, last_used) in &hashes {
            if hash.verify(secret) {
                matched = Some((id.clone(), *last_used));
            }
        }
        let (secret_id, last_used) = matched.ok_or_else(failed)?;
        // "Last used" is shown to a minute: skip the write (a SQLite write
        // lock) when it would not change what is shown.
        let now = self.now();
        if last_used.is_none_or(|at| now - at >= 60) {
            self.store().touch_secret(&secret_id, now).await?;
        }
        Ok(app)
    }
}
