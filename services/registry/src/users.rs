//! Accounts: creation, lookup, deletion (with everything the user held) and
//! password checks.

use crate::dependents::Deleted;
use crate::error::{RegistryError, RegistryResult};
use crate::model::{NewUser, User};
use crate::service::Registry;
use crate::validate;

impl Registry {
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
}
