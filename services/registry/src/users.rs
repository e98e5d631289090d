//! Accounts: creation, lookup, deletion (with everything the user held) and
//! password checks.

use gatehouse_oauth::SecretHash;
use gatehouse_runtime::signup::SignupPolicy;
use gatehouse_runtime::throttle::{self, Limiter, Slot};

use crate::dependents::Deleted;
use crate::error::{RegistryError, RegistryResult};
use crate::model::{NewUser, User};
use crate::service::Registry;
use crate::validate;

/// The prefix of invitation tokens.
const INVITATION_PREFIX: &str = "giv_";

impl Registry {
    /// Creates an account. Fails with `Invalid` naming the field, or
    /// `AlreadyExists` when the username is taken in any letter case. A
    /// sign-up (`signup`: through the gateway) is held to the sign-up
    /// policy first; an operator's creation is not.
    pub async fn create_user(&self, input: NewUser, signup: bool) -> RegistryResult<User> {
        validate::username(&input.username)?;
        validate::email(input.email.trim())?;
        let invitation = if signup { self.signup_allows(&input)? } else { None };
        validate::password(input.password.expose())?;
        let display_name = validate::line("display_name", &input.display_name, 0, 100)?;
        let avatar_url = validate::web_url("avatar_url", &input.avatar_url)?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            display_name: if display_name.is_empty() { input.username.clone() } else { display_name },
            username: input.username,
            email: input.email.trim().to_owned(),
            avatar_url,
            created_at: self.now(),
            // Never through sign-up or creation: only an operator grants it.
            administrator: false,
            email_verified: false,
            disabled: false,
        };
        let key = validate::username_key(&user.username);
        // A sign-up tells whether a name is taken: every attempt that gets
        // this far takes a slot, so a stranger learns names no faster than
        // the limit (and makes accounts no faster either).
        if !input.client_address.is_empty() {
            let slot =
                Slot::new(format!("registry:signup:{}", input.client_address), SIGNUPS_PER_ADDRESS, SIGNUP_WINDOW);
            let kv = self.inner.kv.as_ref();
            match throttle::reserve(kv, Limiter::Signup, &[slot])
                .await
                .map_err(|e| RegistryError::Cache(e.to_string()))?
            {
                Ok(reservation) => reservation.keep(),
                Err(retry_after) => {
                    return Err(RegistryError::Throttled { what: "too many sign-ups from this address", retry_after });
                }
            }
        }
        // Fail fast on a taken name before paying for argon2; the unique index
        // still decides under a race.
        if self.stores().users.user_by_username_key(&key).await?.is_some() {
            return Err(RegistryError::AlreadyExists(format!("username {:?} is taken", user.username)));
        }
        let hash = self.inner.hasher.hash(input.password.into_exposed()).await?;
        let invitation = invitation.as_ref().map(|hash| (hash, self.now()));
        self.stores().users.insert_user(&user, &key, &hash, invitation).await?;
        Ok(user)
    }

    /// Whether the sign-up policy lets this sign-up through: the
    /// invitation's hash to use with it when the policy asks for one.
    fn signup_allows(&self, input: &NewUser) -> RegistryResult<Option<SecretHash>> {
        match &self.inner.config.signup {
            SignupPolicy::Open => Ok(None),
            SignupPolicy::Off => Err(RegistryError::PermissionDenied(
                "sign-up is off on this server: an operator creates accounts".to_owned(),
            )),
            policy @ SignupPolicy::EmailDomains(domains) => {
                if policy.email_allowed(&input.email) {
                    Ok(None)
                } else {
                    Err(RegistryError::invalid("email", format!("must be an address at {}", domains.join(", "))))
                }
            }
            SignupPolicy::Invitation => {
                let token = input.invitation.trim();
                if !token.starts_with(INVITATION_PREFIX) {
                    return Err(RegistryError::invalid("invitation", "is required: sign-up is by invitation"));
                }
                Ok(Some(SecretHash::of(token)))
            }
        }
    }

    /// The sign-up policy's word (`open`, `invitation`, `email-domain`, `off`).
    pub fn signup_policy(&self) -> &'static str {
        self.inner.config.signup.as_str()
    }

    /// The issuer (the public URL the pages are served at).
    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// An invitation to sign up: a single-use token (shown once), for
    /// `email` only when it names one, for `valid_days` (1 to 30).
    pub async fn create_invitation(&self, email: &str, valid_days: u32) -> RegistryResult<(String, i64)> {
        let email = email.trim();
        if !email.is_empty() {
            validate::email(email)?;
        }
        let days = if valid_days == 0 { 7 } else { valid_days };
        if !(1..=30).contains(&days) {
            return Err(RegistryError::invalid("valid_days", "is from 1 to 30"));
        }
        let token = gatehouse_oauth::random_token(INVITATION_PREFIX, 43);
        let now = self.now();
        let expires_at = now + i64::from(days) * 86_400;
        self.stores().users.insert_invitation(&SecretHash::of(&token), email, now, expires_at).await?;
        Ok((token, expires_at))
    }

    pub async fn get_user_by_id(&self, id: &str) -> RegistryResult<User> {
        self.stores()
            .users
            .user_by_id(id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("user {id:?} not found")))
    }

    /// Deletes an account and everything it holds: its applications (as
    /// [`Registry::delete_application`] does), then every token and grant
    /// it holds as a user and its sessions, then the account. Each step is
    /// idempotent, so a failed deletion is retried from the start.
    pub async fn delete_user(&self, id: &str) -> RegistryResult<()> {
        let user = self.get_user_by_id(id).await?;
        for app in self.stores().applications.list_applications(Some(&user.id)).await? {
            self.inner.dependents.revoke(Deleted::Application(app.client_id.as_str())).await?;
            self.stores().applications.delete_application(app.client_id.as_str()).await?;
        }
        self.inner.dependents.revoke(Deleted::User(&user.id)).await?;
        if self.stores().users.delete_user(&user.id).await? {
            Ok(())
        } else {
            Err(RegistryError::NotFound(format!("user {id:?} not found")))
        }
    }

    pub async fn get_user_by_username(&self, username: &str) -> RegistryResult<User> {
        self.stores()
            .users
            .user_by_username_key(&validate::username_key(username))
            .await?
            .map(|(user, _)| user)
            .ok_or_else(|| RegistryError::NotFound(format!("user {username:?} not found")))
    }

    /// Checks a password. An unknown user is verified against a dummy hash,
    /// so both failures take the same time and give the same answer. Whoever calls, the registry limits failed checks
    /// per account and per caller itself (defence in depth behind the
    /// sign-in page's own throttle): past either limit the answer is
    /// RESOURCE_EXHAUSTED before any argon2 work, whether or not the
    /// password would have been right. Each check reserves its slots before
    /// argon2 runs, so a parallel burst gets no more checks than the limit.
    pub async fn verify_password(
        &self,
        username: &str,
        password: String,
        caller: &str,
    ) -> RegistryResult<Option<User>> {
        let slots = password_throttle_keys(username, caller);
        let kv = self.inner.kv.as_ref();
        let cache = |e: gatehouse_runtime::kv::KvError| RegistryError::Cache(e.to_string());
        let reservation = match throttle::reserve(kv, Limiter::Password, &slots).await.map_err(cache)? {
            Ok(reservation) => reservation,
            Err(retry_after) => {
                tracing::warn!(caller, "password checks throttled");
                return Err(RegistryError::Throttled { what: "too many failed password checks", retry_after });
            }
        };
        let verified = match self.check_password(username, password).await {
            Ok(verified) => verified,
            Err(error) => {
                reservation.release(kv).await.map_err(cache)?;
                return Err(error);
            }
        };
        if verified.is_some() {
            reservation.release(kv).await.map_err(cache)?;
        } else {
            reservation.keep();
        }
        Ok(verified)
    }

    /// Changes `user_id`'s password: the current one must be right (checked
    /// as a sign-in is, throttled per account and caller before any argon2
    /// work), the new one must meet the password rules and differ from it.
    pub async fn change_password(
        &self,
        user_id: &str,
        current: String,
        new: gatehouse_oauth::Password,
        caller: &str,
    ) -> RegistryResult<()> {
        let user = self.get_user_by_id(user_id).await?;
        validate::password(new.expose())?;
        if new.expose() == current {
            return Err(RegistryError::invalid("new_password", "must differ from the current password"));
        }
        if self.verify_password(&user.username, current, caller).await?.is_none() {
            return Err(RegistryError::invalid("current_password", "is not the account's password"));
        }
        let hash = self.inner.hasher.hash(new.into_exposed()).await?;
        if !self.stores().users.set_password_hash(user_id, &hash).await? {
            return Err(RegistryError::NotFound(format!("user {user_id:?} not found")));
        }
        Ok(())
    }

    /// Grants or removes a role (only `administrator` exists); the account as it is now.
    pub async fn set_user_role(&self, user_id: &str, role: &str, granted: bool) -> RegistryResult<User> {
        if role != "administrator" {
            return Err(RegistryError::invalid("role", "the only role is administrator"));
        }
        if !self.stores().users.set_administrator(user_id, granted).await? {
            return Err(RegistryError::NotFound(format!("user {user_id:?} not found")));
        }
        self.get_user_by_id(user_id).await
    }

    /// Disables an account (it cannot sign in, and every session and token
    /// it holds ends before this returns) or enables it again. Disabling
    /// twice ends everything again (the call is safe to retry).
    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> RegistryResult<User> {
        let at = disabled.then(|| self.now());
        if !self.stores().users.set_disabled(user_id, at).await? {
            return Err(RegistryError::NotFound(format!("user {user_id:?} not found")));
        }
        if disabled {
            self.inner.dependents.sign_out_everywhere(user_id).await?;
        }
        self.get_user_by_id(user_id).await
    }

    /// A page of users (see [`UserStore::list_users`]) and the token of the next one.
    pub async fn list_users(
        &self,
        query: &str,
        page_size: u32,
        page_token: &str,
    ) -> RegistryResult<(Vec<User>, String)> {
        if query.chars().count() > 256 {
            return Err(RegistryError::invalid("query", "at most 256 characters"));
        }
        let size = match page_size {
            0 => 100,
            1..=500 => u64::from(page_size),
            _ => return Err(RegistryError::invalid("page_size", "1 to 500")),
        };
        let offset = if page_token.is_empty() {
            0
        } else {
            page_token
                .parse::<u64>()
                .map_err(|_| RegistryError::invalid("page_token", "not a token of this listing"))?
        };
        let mut users = self.stores().users.list_users(query, offset, size + 1).await?;
        let next = if users.len() as u64 > size {
            users.truncate(usize::try_from(size).unwrap_or(usize::MAX));
            (offset + size).to_string()
        } else {
            String::new()
        };
        Ok((users, next))
    }

    async fn check_password(&self, username: &str, password: String) -> RegistryResult<Option<User>> {
        let found = if validate::username(username).is_ok() {
            self.stores().users.user_by_username_key(&validate::username_key(username)).await?
        } else {
            None
        };
        let (user, hash) = found.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
        let ok = self.inner.hasher.verify(hash, password).await?;
        // A disabled account is refused like a wrong password, after the same work.
        Ok(user.filter(|user| ok && !user.disabled))
    }
}

/// Sign-up attempts (made or refused as taken) one address may make per
/// window: a household or an office signs up a few people an hour, a
/// script probing for names or making accounts is held to the same pace.
const SIGNUPS_PER_ADDRESS: u64 = 10;
const SIGNUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// Failed password checks allowed per account (the sign-in page allows 5
/// per account and address; this bounds a spray from many addresses).
const FAILURES_PER_ACCOUNT: u64 = 20;
/// Failed password checks allowed per caller a minute: far above a real
/// sign-in page's, far below a guessing script's.
const FAILURES_PER_CALLER: u64 = 600;

fn password_throttle_keys(username: &str, caller: &str) -> [Slot; 2] {
    let account = gatehouse_oauth::SecretHash::of(&validate::username_key(username));
    let caller = gatehouse_oauth::SecretHash::of(caller);
    [
        Slot::new(
            format!("registry:pwfail:user:{}", account.as_str()),
            FAILURES_PER_ACCOUNT,
            std::time::Duration::from_secs(15 * 60),
        ),
        Slot::new(
            format!("registry:pwfail:caller:{}", caller.as_str()),
            FAILURES_PER_CALLER,
            std::time::Duration::from_secs(60),
        ),
    ]
}
