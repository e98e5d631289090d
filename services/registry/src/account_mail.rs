//! Links mailed to an account: password reset and address confirmation.
//!
//! - A link carries a random 256-bit token; only its SHA-256 is stored,
//!   with its purpose, the address it went to and its expiry (reset 30
//!   minutes, confirmation 24 hours). Using it deletes it: once.
//! - Asking for a reset answers the same whether or not the account
//!   exists, and the same quickly: the mail is sent after the answer.
//!   Only a confirmed address (or the username) finds the account, and
//!   the link goes only to a confirmed address.
//! - Mail is bounded: requests per address of the asker, and mails per
//!   account, each reserved before any work and held across replicas.
//! - A reset ends every session and token of the account.

use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{SecretHash, random_token};
use gatehouse_runtime::throttle::{self, Limiter, Slot};

use crate::error::{RegistryError, RegistryResult};
use crate::model::User;
use crate::service::Registry;
use crate::store::AccountToken;
use crate::validate;

const RESET: &str = "password_reset";
const VERIFY: &str = "verify_email";
const RESET_TTL_SECS: i64 = 30 * 60;
const VERIFY_TTL_SECS: i64 = 24 * 3600;
/// Reset requests one address may make an hour (found or not).
const REQUESTS_PER_ADDRESS: u64 = 10;
/// Mails one account may be sent an hour (resets and confirmations alike).
const MAILS_PER_ACCOUNT: u64 = 3;
const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// What a used link was for.
#[derive(Debug, Clone)]
pub struct UsedLink {
    pub user: User,
}

impl Registry {
    fn mailer(&self) -> RegistryResult<&crate::mail::Mailer> {
        self.inner.mailer.as_ref().ok_or_else(|| {
            RegistryError::FailedPrecondition("mail is not set up on this server (GATEHOUSE_SMTP_URL)".to_owned())
        })
    }

    /// Whether this server sends mail (reset and confirmation links).
    pub fn sends_mail(&self) -> bool {
        self.inner.mailer.is_some()
    }

    async fn take_slot(&self, key: String, limit: u64) -> RegistryResult<bool> {
        let slot = Slot::new(key, limit, HOUR);
        match throttle::reserve(self.inner.kv.as_ref(), Limiter::AccountMail, &[slot])
            .await
            .map_err(|e| RegistryError::Cache(e.to_string()))?
        {
            Ok(reservation) => {
                reservation.keep();
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    /// A new link for `user`: the token (for the URL), stored by hash.
    async fn new_link(&self, user: &User, purpose: &'static str, ttl: i64) -> RegistryResult<String> {
        let token = random_token("gml_", RANDOM_CHARS_256_BITS);
        let now = self.now();
        let stored = AccountToken {
            hash: SecretHash::of(&token),
            user_id: user.id.clone(),
            purpose,
            email: user.email.clone(),
            created_at: now,
            expires_at: now + ttl,
        };
        self.stores().account_tokens.insert_account_token(&stored, now).await?;
        Ok(token)
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.inner.config.issuer.trim_end_matches('/'))
    }

    /// Sends in the background: the answer never waits for (or tells of) the mail.
    fn send_later(&self, to: String, subject: &'static str, body: String) {
        let Ok(mailer) = self.mailer().cloned() else { return };
        tokio::spawn(async move {
            if let Err(error) = mailer.send(&to, subject, body).await {
                tracing::warn!(%error, "a mail to an account holder could not be sent");
            }
        });
    }

    /// Mails a reset link to the account `login` names (its username, or
    /// its confirmed address), if there is one with a confirmed address.
    /// The answer is the same either way, and as quick: after the lookup
    /// both do, the link is made, recorded and mailed in the background.
    pub async fn request_password_reset(&self, login: &str, client_address: &str) -> RegistryResult<()> {
        self.mailer()?;
        let login = login.trim();
        if login.is_empty() || login.len() > 320 {
            return Err(RegistryError::invalid("login", "a username or an email address"));
        }
        let asker = SecretHash::of(client_address);
        if !self.take_slot(format!("registry:reset:addr:{}", asker.as_str()), REQUESTS_PER_ADDRESS).await? {
            return Err(RegistryError::Throttled {
                what: "too many password reset requests from this address",
                retry_after: HOUR,
            });
        }
        let user = if login.contains('@') {
            self.stores().account_tokens.user_by_verified_email(login).await?
        } else if validate::username(login).is_ok() {
            self.stores().users.user_by_username_key(&validate::username_key(login)).await?.map(|(user, _)| user)
        } else {
            None
        };
        let Some(user) = user.filter(|user| user.email_verified && !user.email.is_empty()) else {
            return Ok(());
        };
        let registry = self.clone();
        let client_address = client_address.to_owned();
        tokio::spawn(async move {
            if let Err(error) = registry.mail_reset_link(&user, &client_address).await {
                tracing::warn!(%error, "a password reset link could not be made");
            }
        });
        Ok(())
    }

    async fn mail_reset_link(&self, user: &User, client_address: &str) -> RegistryResult<()> {
        use gatehouse_runtime::audit::{Actor, AuditEvent, Outcome};
        // Past the account's limit nothing is sent, and nothing tells.
        if !self.take_slot(format!("registry:mail:user:{}", user.id), MAILS_PER_ACCOUNT).await? {
            return Ok(());
        }
        let token = self.new_link(user, RESET, RESET_TTL_SECS).await?;
        let event = AuditEvent::new(
            "password_reset.requested",
            Outcome::Success,
            Actor::user(&user.id, "mail"),
            format!("user:{}", user.id),
        )
        .subject(&user.id)
        .source(client_address);
        self.audit().record(event).await;
        let body = format!(
            "Someone (hopefully you) asked to reset the password of the account {username}.\n\n\
             Set a new password within 30 minutes:\n{link}\n\n\
             The link works once. If you did not ask, ignore this mail: your password stays as it is.\n",
            username = user.username,
            link = self.link("/password/reset", &token),
        );
        self.send_later(user.email.clone(), "Reset your password", body);
        Ok(())
    }

    /// Sets a new password with a reset link's token; every session and
    /// token of the account ends (the caller revokes them, see the gRPC adapter).
    pub async fn reset_password(&self, token: &str, new_password: gatehouse_oauth::Password) -> RegistryResult<User> {
        validate::password(new_password.expose())?;
        let used = self.stores().account_tokens.take_account_token(&SecretHash::of(token), RESET, self.now()).await?;
        let Some(used) = used else {
            return Err(RegistryError::invalid("token", "this link is unknown, used or expired: ask for a new one"));
        };
        let user = self.get_user_by_id(&used.user_id).await?;
        let hash = self.inner.hasher.hash(new_password.into_exposed()).await?;
        if !self.stores().users.set_password_hash(&user.id, &hash).await? {
            return Err(RegistryError::NotFound(format!("user {:?} not found", user.id)));
        }
        // Any other reset link of the account is void now.
        self.stores().account_tokens.delete_account_tokens(&user.id, RESET).await?;
        self.inner.dependents.sign_out_everywhere(&user.id).await?;
        Ok(user)
    }

    /// Mails a link that confirms the account's address.
    pub async fn send_email_verification(&self, user_id: &str) -> RegistryResult<()> {
        self.mailer()?;
        let user = self.get_user_by_id(user_id).await?;
        if user.email.is_empty() {
            return Err(RegistryError::FailedPrecondition("the account has no email address".to_owned()));
        }
        if user.email_verified {
            return Err(RegistryError::FailedPrecondition("the address is already confirmed".to_owned()));
        }
        if !self.take_slot(format!("registry:mail:user:{}", user.id), MAILS_PER_ACCOUNT).await? {
            return Err(RegistryError::Throttled { what: "too many mails to this account", retry_after: HOUR });
        }
        let token = self.new_link(&user, VERIFY, VERIFY_TTL_SECS).await?;
        let body = format!(
            "Confirm that {email} is the address of the account {username}:\n{link}\n\n\
             The link works once, for 24 hours. If you did not sign up, ignore this mail.\n",
            email = user.email,
            username = user.username,
            link = self.link("/account/email/verify", &token),
        );
        self.send_later(user.email.clone(), "Confirm your email address", body);
        Ok(())
    }

    /// Confirms an address with its link's token (if it is still the account's).
    pub async fn verify_email(&self, token: &str) -> RegistryResult<UsedLink> {
        let used = self.stores().account_tokens.take_account_token(&SecretHash::of(token), VERIFY, self.now()).await?;
        let Some(used) = used else {
            return Err(RegistryError::invalid("token", "this link is unknown, used or expired: ask for a new one"));
        };
        if !self.stores().account_tokens.set_email_verified(&used.user_id, &used.email, self.now()).await? {
            return Err(RegistryError::invalid("token", "the account's address changed since this link was sent"));
        }
        Ok(UsedLink { user: self.get_user_by_id(&used.user_id).await? })
    }
}
