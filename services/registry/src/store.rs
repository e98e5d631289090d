//! The registry's storage port: what the use cases need from a database.

pub(crate) mod sql;

use gatehouse_oauth::SecretHash;

use crate::error::RegistryResult;
use crate::model::{Application, ClientSecretInfo, CredentialInfo, InitialAccessTokenInfo, ResourceServer, User};

/// Persistent state of the registry. Each method is atomic: a write that
/// touches several rows runs in one transaction.
/// A registration access token (RFC 7592) as stored: its hash and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistrationToken {
    pub(crate) hash: SecretHash,
    /// Unix seconds; `None`: it does not expire.
    pub(crate) expires_at: Option<i64>,
}

#[async_trait::async_trait]
pub(crate) trait RegistryStore: Send + Sync + std::fmt::Debug {
    /// Inserts a user; `AlreadyExists` when the username key is taken.
    async fn insert_user(&self, user: &User, username_key: &str, password_hash: &str) -> RegistryResult<()>;
    async fn user_by_id(&self, id: &str) -> RegistryResult<Option<User>>;
    /// Deletes an account; false when there was none.
    async fn delete_user(&self, id: &str) -> RegistryResult<bool>;
    /// The user and their password hash.
    async fn user_by_username_key(&self, username_key: &str) -> RegistryResult<Option<(User, String)>>;

    /// Inserts an application together with its first secret and its
    /// registration access token's hash (RFC 7592), if any.
    async fn insert_application(
        &self,
        app: &Application,
        secret: Option<(&ClientSecretInfo, &SecretHash)>,
        registration_token: Option<&RegistrationToken>,
    ) -> RegistryResult<()>;
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
    /// Records that the client was used (authenticated, or began a flow).
    async fn touch_application(&self, client_id: &str, now: i64) -> RegistryResult<()>;
    /// Dynamically registered clients not used since `before` (never used:
    /// registered before it), at most `limit`.
    async fn unused_dynamic_clients(&self, before: i64, limit: u64) -> RegistryResult<Vec<String>>;

    async fn insert_initial_access_token(&self, info: &InitialAccessTokenInfo, hash: &SecretHash)
    -> RegistryResult<()>;
    async fn list_initial_access_tokens(&self) -> RegistryResult<Vec<InitialAccessTokenInfo>>;
    async fn initial_access_token_by_hash(&self, hash: &SecretHash) -> RegistryResult<Option<InitialAccessTokenInfo>>;
    async fn delete_initial_access_token(&self, id: &str) -> RegistryResult<bool>;

    /// Grants or removes the administrator role; false when there is no such user.
    async fn set_administrator(&self, user_id: &str, administrator: bool) -> RegistryResult<bool>;

    async fn insert_credential(&self, info: &CredentialInfo, hash: &SecretHash) -> RegistryResult<()>;
    async fn list_credentials(&self) -> RegistryResult<Vec<CredentialInfo>>;
    async fn credential_by_hash(&self, hash: &SecretHash) -> RegistryResult<Option<CredentialInfo>>;
    /// Marks a credential revoked at `now`; false when there is none (or it already was).
    async fn revoke_credential(&self, id: &str, now: i64) -> RegistryResult<bool>;
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
    /// The application with (secret id, hash, last used) of each of its
    /// secrets, read together for client authentication.
    async fn application_with_hashes(
        &self,
        client_id: &str,
    ) -> RegistryResult<Option<(Application, Vec<(String, SecretHash, Option<i64>)>)>>;
    /// Records a use of the secret.
    async fn touch_secret(&self, secret_id: &str, now: i64) -> RegistryResult<()>;

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
