//! Login, sessions and logout, with failed-login throttling.

use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{Password, SecretHash, SessionToken, random_token};

use crate::error::{AuthzError, AuthzResult};
use crate::record::{self, SessionRecord, key};
use crate::service::Authorization;

/// Prefix of session tokens (the cookie value).
const SESSION_PREFIX: &str = "gss_";

/// A session just opened.
#[derive(Debug)]
pub(crate) struct NewSession {
    pub(crate) token: SessionToken,
    pub(crate) record: SessionRecord,
}

fn username_key(username: &str) -> String {
    username.trim().to_ascii_lowercase()
}

impl Authorization {
    /// Checks credentials and opens a session. An unknown user and a wrong
    /// password give the same error after the same work (the registry
    /// verifies against a dummy hash).
    pub(crate) async fn login(&self, username: &str, password: &Password, address: &str) -> AuthzResult<NewSession> {
        let throttle = self.config().throttle;
        let keys = [
            (key::fail_pair(&username_key(username), address), throttle.per_user_and_address),
            (key::fail_address(address), throttle.per_address),
        ];
        let reservation = self.reserve(&keys, throttle.window).await?;
        let verified = match self.inner.registry.verify_password(username, password).await {
            Ok(verified) => verified,
            Err(status) => {
                // Not answered (or throttled by the registry): no guess was judged here.
                reservation.release(self.inner.kv.as_ref()).await?;
                return Err(AuthzError::registry(status));
            }
        };
        let Some(user) = verified else {
            reservation.keep();
            return Err(AuthzError::InvalidCredentials);
        };
        reservation.release(self.inner.kv.as_ref()).await?;
        self.inner.kv.delete(&keys[0].0).await?;
        self.open_session(user).await
    }

    async fn open_session(&self, user: crate::record::SessionUser) -> AuthzResult<NewSession> {
        let token = random_token(SESSION_PREFIX, RANDOM_CHARS_256_BITS);
        let ttl = self.config().session_ttl;
        let record = SessionRecord {
            user,
            csrf_token: random_token("", RANDOM_CHARS_256_BITS),
            expires_at: self.now() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            auth_time: self.now(),
        };
        // Keyed by the token's hash: a leak of the cache does not leak sessions.
        self.inner.kv.set(&key::session(SecretHash::of(&token).as_str()), &record::encode(&record), ttl).await?;
        Ok(NewSession { token: SessionToken::new(token), record })
    }

    /// The session of `token`, if it is live.
    pub(crate) async fn session(&self, token: &str) -> AuthzResult<Option<SessionRecord>> {
        if !token.starts_with(SESSION_PREFIX) {
            return Ok(None);
        }
        let Some(bytes) = self.inner.kv.get(&key::session(SecretHash::of(token).as_str())).await? else {
            return Ok(None);
        };
        let record: SessionRecord = record::decode(&bytes)?;
        if record.expires_at <= self.now() {
            return Ok(None);
        }
        if self.inner.kv.get(&key::user_deleted(&record.user.id)).await?.is_some() {
            return Ok(None);
        }
        Ok(Some(record))
    }

    pub(crate) async fn require_session(&self, token: &str) -> AuthzResult<SessionRecord> {
        self.session(token).await?.ok_or(AuthzError::NoSession)
    }

    pub(crate) async fn logout(&self, token: &str) -> AuthzResult<()> {
        if token.starts_with(SESSION_PREFIX) {
            self.inner.kv.delete(&key::session(SecretHash::of(token).as_str())).await?;
        }
        Ok(())
    }
}
