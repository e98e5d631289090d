//! The registry's storage port: what the use cases need from a database.

pub(crate) mod sql;

use gatehouse_oauth::SecretHash;

use crate::error::RegistryResult;
use crate::model::{Application, ClientSecretInfo, CredentialInfo, InitialAccessTokenInfo, ResourceServer, User};

/// A registration access token (RFC 7592) as stored: its hash and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistrationToken {
    pub(crate) hash: SecretHash,
    /// Unix seconds; `None`: it does not expire.
    pub(crate) expires_at: Option<i64>,
}

/// The registry's storage, one narrow trait per concern (one SQL store
/// implements all of them). Each method is atomic: a write that touches
/// several rows runs in one transaction.
#[derive(Debug, Clone)]
pub(crate) struct Stores {
    pub(crate) users: std::sync::Arc<dyn UserStore>,
    pub(crate) applications: std::sync::Arc<dyn ApplicationStore>,
    pub(crate) registrations: std::sync::Arc<dyn RegistrationStore>,
    pub(crate) credentials: std::sync::Arc<dyn CredentialStore>,
    pub(crate) resource_servers: std::sync::Arc<dyn ResourceServerStore>,
    pub(crate) second_factors: std::sync::Arc<dyn SecondFactorStore>,
    pub(crate) account_tokens: std::sync::Arc<dyn AccountTokenStore>,
}

impl Stores {
    pub(crate) fn all<S>(store: S) -> Self
    where
        S: UserStore
            + ApplicationStore
            + RegistrationStore
            + CredentialStore
            + ResourceServerStore
            + SecondFactorStore
            + AccountTokenStore
            + 'static,
    {
        let store = std::sync::Arc::new(store);
        Self {
            users: store.clone(),
            applications: store.clone(),
            registrations: store.clone(),
            credentials: store.clone(),
            resource_servers: store.clone(),
            second_factors: store.clone(),
            account_tokens: store,
        }
    }
}

/// Accounts: created, read, deleted, their administrator role.
#[async_trait::async_trait]
pub(crate) trait UserStore: Send + Sync + std::fmt::Debug {
    /// Inserts a user; `AlreadyExists` when the username key is taken. With
    /// an invitation (its hash, and now), the invitation is used by this
    /// account in the same transaction: `Invalid` `invitation` when it is
    /// unknown, used, expired or for another address, and nothing is written.
    async fn insert_user(
        &self,
        user: &User,
        username_key: &str,
        password_hash: &str,
        invitation: Option<(&SecretHash, i64)>,
    ) -> RegistryResult<()>;
    /// Stores an invitation to sign up.
    async fn insert_invitation(
        &self,
        hash: &SecretHash,
        email: &str,
        created_at: i64,
        expires_at: i64,
    ) -> RegistryResult<()>;
    async fn user_by_id(&self, id: &str) -> RegistryResult<Option<User>>;
    /// Deletes an account; false when there was none.
    async fn delete_user(&self, id: &str) -> RegistryResult<bool>;
    /// The user and their password hash.
    async fn user_by_username_key(&self, username_key: &str) -> RegistryResult<Option<(User, String)>>;
    /// Grants or removes the administrator role; false when there is no such user.
    async fn set_administrator(&self, user_id: &str, administrator: bool) -> RegistryResult<bool>;
    /// Disables the account (stamped `at`) or enables it (None); false when there is no such user.
    async fn set_disabled(&self, user_id: &str, at: Option<i64>) -> RegistryResult<bool>;
    /// Users whose username, email or display name contains `query` (any
    /// case; all when empty), by username, `limit` of them after the first
    /// `offset`.
    async fn list_users(&self, query: &str, offset: u64, limit: u64) -> RegistryResult<Vec<User>>;
    /// Replaces the password hash; false when there is no such user.
    async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> RegistryResult<bool>;
}

/// Applications and their client secrets.
#[async_trait::async_trait]
pub(crate) trait ApplicationStore: Send + Sync + std::fmt::Debug {
    /// Inserts an application together with its first secret and its
    /// registration access token's hash (RFC 7592), if any.
    async fn insert_application(
        &self,
        app: &Application,
        secret: Option<(&ClientSecretInfo, &SecretHash)>,
        registration_token: Option<&RegistrationToken>,
    ) -> RegistryResult<()>;
    /// Records that the client was used (authenticated, or began a flow).
    async fn touch_application(&self, client_id: &str, now: i64) -> RegistryResult<()>;
    async fn list_applications(&self, owner_id: Option<&str>) -> RegistryResult<Vec<Application>>;
    async fn application(&self, client_id: &str) -> RegistryResult<Option<Application>>;
    /// Writes every mutable field of `app`; `NotFound` when it is gone.
    async fn update_application(&self, app: &Application) -> RegistryResult<()>;
    /// Deletes an application and its secrets; false when there was none.
    async fn delete_application(&self, client_id: &str) -> RegistryResult<bool>;
    /// Adds a secret unless the application already holds `max`
    /// (`FailedPrecondition`); the count and insert are one locked step.
    async fn add_secret(
        &self,
        client_id: &str,
        secret: &ClientSecretInfo,
        hash: &SecretHash,
        max: usize,
    ) -> RegistryResult<()>;
    /// Deletes one secret; with `keep_one`, refuses to delete the last one.
    async fn delete_secret(&self, client_id: &str, secret_id: &str, keep_one: bool) -> RegistryResult<()>;
    /// Makes `secret` the application's only secret: the others are deleted
    /// and it is inserted in one locked step (`NotFound` when it is gone).
    async fn replace_secrets(
        &self,
        client_id: &str,
        secret: &ClientSecretInfo,
        hash: &SecretHash,
    ) -> RegistryResult<()>;
    /// The application with (secret id, hash, last used) of each of its
    /// secrets, read together for client authentication.
    async fn application_with_hashes(
        &self,
        client_id: &str,
    ) -> RegistryResult<Option<(Application, Vec<(String, SecretHash, Option<i64>)>)>>;
    /// Records a use of the secret.
    async fn touch_secret(&self, secret_id: &str, now: i64) -> RegistryResult<()>;
}

/// Dynamic registration (RFC 7591/7592): registration access tokens, initial access tokens, unused clients.
#[async_trait::async_trait]
pub(crate) trait RegistrationStore: Send + Sync + std::fmt::Debug {
    /// The application and its registration access token, when it has one.
    async fn application_with_registration_token(
        &self,
        client_id: &str,
    ) -> RegistryResult<Option<(Application, RegistrationToken)>>;
    /// Replaces the registration access token `old` by `new`, only while
    /// `old` is still the client's (compare and set); true when replaced.
    async fn replace_registration_token(
        &self,
        client_id: &str,
        old: &SecretHash,
        new: &RegistrationToken,
    ) -> RegistryResult<bool>;
    /// Removes the registration access token whose hash is `hash`; the
    /// client it belonged to, if any.
    async fn remove_registration_token(&self, hash: &SecretHash) -> RegistryResult<Option<String>>;
    /// Dynamically registered clients not used since `before` (never used:
    /// registered before it), at most `limit`.
    async fn unused_dynamic_clients(&self, before: i64, limit: u64) -> RegistryResult<Vec<String>>;
    async fn insert_initial_access_token(&self, info: &InitialAccessTokenInfo, hash: &SecretHash)
    -> RegistryResult<()>;
    async fn list_initial_access_tokens(&self) -> RegistryResult<Vec<InitialAccessTokenInfo>>;
    async fn initial_access_token_by_hash(&self, hash: &SecretHash) -> RegistryResult<Option<InitialAccessTokenInfo>>;
    async fn delete_initial_access_token(&self, id: &str) -> RegistryResult<bool>;
}

/// Internal credentials of the internal plane.
#[async_trait::async_trait]
pub(crate) trait CredentialStore: Send + Sync + std::fmt::Debug {
    async fn insert_credential(&self, info: &CredentialInfo, hash: &SecretHash) -> RegistryResult<()>;
    async fn list_credentials(&self) -> RegistryResult<Vec<CredentialInfo>>;
    async fn credential_by_hash(&self, hash: &SecretHash) -> RegistryResult<Option<CredentialInfo>>;
    /// Marks a credential revoked at `now`; false when there is none (or it already was).
    async fn revoke_credential(&self, id: &str, now: i64) -> RegistryResult<bool>;
}

/// Resource servers (RFC 8707).
#[async_trait::async_trait]
pub(crate) trait ResourceServerStore: Send + Sync + std::fmt::Debug {
    /// Inserts a resource server; `AlreadyExists` when its identifier is taken.
    async fn insert_resource_server(&self, server: &ResourceServer) -> RegistryResult<()>;
    async fn list_resource_servers(&self, owner_id: Option<&str>) -> RegistryResult<Vec<ResourceServer>>;
    async fn resource_server(&self, id: &str) -> RegistryResult<Option<ResourceServer>>;
    async fn resource_server_by_identifier(&self, identifier: &str) -> RegistryResult<Option<ResourceServer>>;
    async fn resource_servers_introspected_by(&self, client_id: &str) -> RegistryResult<Vec<ResourceServer>>;
    /// Writes every mutable field; `NotFound` when it is gone.
    async fn update_resource_server(&self, server: &ResourceServer) -> RegistryResult<()>;
    async fn delete_resource_server(&self, id: &str) -> RegistryResult<bool>;
}

/// A user's TOTP enrolment as stored.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TotpRow {
    /// Sealed with the key-encryption key under `totp:{user_id}`.
    pub(crate) sealed_secret: String,
    pub(crate) confirmed_at: Option<i64>,
    pub(crate) last_step: Option<i64>,
}

impl std::fmt::Debug for TotpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRow")
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// Second factors: TOTP and recovery codes. Every check-and-use is one
/// conditional write, so two replicas cannot both accept the same code.
#[async_trait::async_trait]
pub(crate) trait SecondFactorStore: Send + Sync + std::fmt::Debug {
    async fn totp(&self, user_id: &str) -> RegistryResult<Option<TotpRow>>;
    /// Stores a new unconfirmed secret, replacing an unconfirmed one; false
    /// (nothing written) when a confirmed one is in force.
    async fn put_pending_totp(&self, user_id: &str, sealed_secret: &str, now: i64) -> RegistryResult<bool>;
    /// Confirms the pending secret with the step of its first code and
    /// replaces the recovery codes, in one transaction; false when there
    /// is no pending secret (none, or confirmed meanwhile).
    async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        now: i64,
        recovery_hashes: &[String],
    ) -> RegistryResult<bool>;
    /// Records `step` as the last accepted one, only if it is later than
    /// the stored one (the replay rule); false when it is not (or TOTP is off).
    async fn advance_totp_step(&self, user_id: &str, step: i64) -> RegistryResult<bool>;
    /// Marks an unused recovery code used; false when no unused code has this hash.
    async fn use_recovery_code(&self, user_id: &str, code_hash: &str, now: i64) -> RegistryResult<bool>;
    /// Replaces every recovery code of the user.
    async fn replace_recovery_codes(&self, user_id: &str, hashes: &[String], now: i64) -> RegistryResult<()>;
    /// Unused recovery codes.
    async fn recovery_codes_left(&self, user_id: &str) -> RegistryResult<u64>;
    /// Removes the TOTP secret and the recovery codes; false when there was no secret.
    async fn delete_second_factors(&self, user_id: &str) -> RegistryResult<bool>;
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user_id: &str) -> RegistryResult<Vec<PasskeyRow>>;
    /// Stores a new passkey while the user has fewer than `limit`; `Ok(false)`
    /// at the limit, `AlreadyExists` when the credential is registered already.
    async fn insert_passkey(&self, row: &PasskeyRow, limit: u64) -> RegistryResult<bool>;
    /// Deletes one of the user's passkeys; false when the user has no such passkey.
    async fn delete_passkey(&self, user_id: &str, id: &str) -> RegistryResult<bool>;
    /// Records a use: when, and the library's record when it changed (counter, backup state).
    async fn touch_passkey(&self, id: &str, passkey: Option<&str>, now: i64) -> RegistryResult<()>;
}

/// A passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasskeyRow {
    pub(crate) id: String,
    pub(crate) user_id: String,
    /// base64url, no padding.
    pub(crate) credential_id: String,
    pub(crate) name: String,
    /// `webauthn_rs::prelude::Passkey` as JSON (a public key and a counter: nothing secret).
    pub(crate) passkey: String,
    pub(crate) created_at: i64,
    pub(crate) last_used_at: Option<i64>,
}

/// A link mailed to an account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountToken {
    pub(crate) hash: SecretHash,
    pub(crate) user_id: String,
    pub(crate) purpose: &'static str,
    pub(crate) email: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

/// Single-use links mailed to accounts, and the addresses they confirm.
#[async_trait::async_trait]
pub(crate) trait AccountTokenStore: Send + Sync + std::fmt::Debug {
    /// Stores a link; the user's expired links go in the same transaction.
    async fn insert_account_token(&self, token: &AccountToken, now: i64) -> RegistryResult<()>;
    /// Takes (deletes and returns) the live link of `purpose` with this hash:
    /// of two uses at once, one gets it.
    async fn take_account_token(
        &self,
        hash: &SecretHash,
        purpose: &str,
        now: i64,
    ) -> RegistryResult<Option<AccountToken>>;
    /// Deletes every link of `purpose` the user holds.
    async fn delete_account_tokens(&self, user_id: &str, purpose: &str) -> RegistryResult<()>;
    /// Marks the address confirmed, only while it is still the account's.
    async fn set_email_verified(&self, user_id: &str, email: &str, now: i64) -> RegistryResult<bool>;
    /// The account whose confirmed address is `email` (compared without letter case).
    async fn user_by_verified_email(&self, email: &str) -> RegistryResult<Option<User>>;
}
