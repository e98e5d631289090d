//! Login, sessions and logout, with failed-login throttling.

use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{Password, SecretHash, SessionToken, random_token};

use crate::error::{AuthzError, AuthzResult};
use crate::record::{self, SecondStepRecord, SessionRecord, key};
use crate::service::Authorization;
use crate::store::SessionRow;

/// Prefix of session tokens (the cookie value).
const SESSION_PREFIX: &str = "gss_";

/// Prefix of the token that carries a sign-in to its second step.
const SECOND_STEP_PREFIX: &str = "gs2_";
/// How long a sign-in waits for its second step.
const SECOND_STEP_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// How often a session's last use is written down.
const SEEN_EVERY_SECS: i64 = 60;
/// The longest User-Agent kept.
const MAX_USER_AGENT: usize = 256;

/// Where a sign-in comes from, as the gateway saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) address: &'a str,
    pub(crate) user_agent: &'a str,
}

/// A session just opened.
#[derive(Debug)]
pub(crate) struct NewSession {
    pub(crate) token: SessionToken,
    pub(crate) record: SessionRecord,
}

/// What a right password leads to.
/// What the second step of a sign-in is proven with (never printed: a
/// code is a secret while it lives).
#[derive(Clone, Copy)]
pub(crate) enum SecondStepProof<'a> {
    /// Six digits from the app, or a recovery code.
    Code(&'a str),
    /// One of the account's passkeys: a ceremony and the browser's assertion.
    Passkey { ceremony: &'a str, credential_json: &'a str },
}

impl std::fmt::Debug for SecondStepProof<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Code(_) => "Code(redacted)",
            Self::Passkey { .. } => "Passkey(redacted)",
        })
    }
}

#[derive(Debug)]

pub(crate) enum SignedIn {
    /// A session (the account has no second factor).
    Session(NewSession),
    /// The second step is next: this token (a secret, stored as a hash)
    /// carries the sign-in to it, for a few minutes.
    SecondStep { token: SessionToken, user: crate::record::SessionUser },
}

fn username_key(username: &str) -> String {
    username.trim().to_ascii_lowercase()
}

impl Authorization {
    /// Checks credentials and opens a session. An unknown user and a wrong
    /// password give the same error after the same work (the registry
    /// verifies against a dummy hash).
    pub(crate) async fn login(
        &self,
        username: &str,
        password: &Password,
        origin: &Origin<'_>,
    ) -> AuthzResult<SignedIn> {
        let address = origin.address;
        let throttle = self.config().throttle;
        let keys = [
            (key::fail_pair(&username_key(username), address), throttle.per_user_and_address),
            (key::fail_address(address), throttle.per_address),
        ];
        let reservation = self.reserve(gatehouse_runtime::throttle::Limiter::SignIn, &keys, throttle.window).await?;
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
        if user.second_factor {
            let token = random_token(SECOND_STEP_PREFIX, RANDOM_CHARS_256_BITS);
            let expires_at = self.now() + i64::try_from(SECOND_STEP_TTL.as_secs()).unwrap_or(i64::MAX);
            let pending = SecondStepRecord { user: user.account.clone(), expires_at };
            let key = key::second_step(SecretHash::of(&token).as_str());
            self.inner.kv.set(&key, &record::encode(&pending), SECOND_STEP_TTL).await?;
            return Ok(SignedIn::SecondStep { token: SessionToken::new(token), user: user.account });
        }
        let amr = record::password_amr();
        self.open_session(user.account, amr, origin).await.map(SignedIn::Session)
    }

    /// The second step of a sign-in: the code from the person's app (or a
    /// recovery code), checked by the registry, whose limit per account
    /// holds across every sign-in and replica. A right code opens the
    /// session (`amr` pwd, otp, mfa) and ends the pending sign-in; a wrong
    /// one leaves it for another try while it lasts.
    pub(crate) async fn complete_login(
        &self,
        token: &str,
        proof: SecondStepProof<'_>,
        origin: &Origin<'_>,
    ) -> AuthzResult<NewSession> {
        let address = origin.address;
        if !token.starts_with(SECOND_STEP_PREFIX) {
            return Err(AuthzError::SecondStepExpired);
        }
        let key = key::second_step(SecretHash::of(token).as_str());
        let Some(bytes) = self.inner.kv.get(&key).await? else {
            return Err(AuthzError::SecondStepExpired);
        };
        let pending: SecondStepRecord = record::decode(&bytes)?;
        if pending.expires_at <= self.now() {
            return Err(AuthzError::SecondStepExpired);
        }
        let user_id = &pending.user.id;
        let (checked, methods) = match proof {
            SecondStepProof::Code(code) => (
                self.inner.registry.verify_second_factor(user_id, code, address).await.map(|m| m.is_some()),
                gatehouse_oauth::acr::AMR_PASSWORD_AND_OTP,
            ),
            SecondStepProof::Passkey { ceremony, credential_json } => (
                self.inner
                    .registry
                    .verify_passkey(ceremony, credential_json, user_id, address)
                    .await
                    .map(|user| user.is_some()),
                gatehouse_oauth::acr::AMR_PASSWORD_AND_PASSKEY,
            ),
        };
        let accepted = match checked {
            Ok(accepted) => accepted,
            // The account's limit of wrong codes: wait, as for passwords.
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                let retry_after =
                    gatehouse_proto::status::decode_retry_after(&status).unwrap_or(std::time::Duration::from_secs(60));
                return Err(AuthzError::Throttled { retry_after });
            }
            // Turned off since the password was checked: sign in again.
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                return Err(AuthzError::SecondStepExpired);
            }
            // Not a code or an assertion at all (too long, not JSON, a used ceremony): not accepted.
            Err(status) if status.code() == tonic::Code::InvalidArgument => return Err(AuthzError::InvalidCredentials),
            Err(status) => return Err(AuthzError::registry(status)),
        };
        if !accepted {
            return Err(AuthzError::InvalidCredentials);
        }
        // One session per pending sign-in: of two right codes at once, one takes it.
        if self.inner.kv.take(&key).await?.is_none() {
            return Err(AuthzError::SecondStepExpired);
        }
        self.open_session(pending.user, gatehouse_oauth::acr::amr(methods), origin).await
    }

    /// A sign-in with a passkey alone: the registry checks the assertion
    /// (user verification required, so two factors); a refused one is
    /// `InvalidCredentials`. No password, so no password throttle: a
    /// ceremony is single use and its start is limited per address.
    pub(crate) async fn login_with_passkey(
        &self,
        ceremony: &str,
        credential_json: &str,
        origin: &Origin<'_>,
    ) -> AuthzResult<NewSession> {
        let user = self
            .inner
            .registry
            .verify_passkey(ceremony, credential_json, "", origin.address)
            .await
            .map_err(|status| match status.code() {
                // Not an assertion (not JSON, a used or expired ceremony): not accepted.
                tonic::Code::InvalidArgument => AuthzError::InvalidCredentials,
                _ => AuthzError::registry(status),
            })?
            .ok_or(AuthzError::InvalidCredentials)?;
        let amr = gatehouse_oauth::acr::amr(gatehouse_oauth::acr::AMR_PASSKEY);
        self.open_session(user, amr, origin).await
    }

    async fn open_session(
        &self,
        user: crate::record::SessionUser,
        amr: Vec<String>,
        origin: &Origin<'_>,
    ) -> AuthzResult<NewSession> {
        let token = random_token(SESSION_PREFIX, RANDOM_CHARS_256_BITS);
        let ttl = self.config().session_ttl;
        let now = self.now();
        let hash = SecretHash::of(&token).as_str().to_owned();
        let expires_at = now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let row = SessionRow {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.id.clone(),
            token_hash: hash.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            address: origin.address.to_owned(),
            user_agent: origin.user_agent.chars().take(MAX_USER_AGENT).collect(),
            amr: amr.clone(),
        };
        // Listed first: a session the list cannot show is never opened.
        self.inner.sessions.insert(&row, now).await?;
        let record = SessionRecord {
            user,
            csrf_token: random_token("", RANDOM_CHARS_256_BITS),
            expires_at,
            auth_time: now,
            amr,
            id: row.id,
            seen_at: now,
        };
        // Keyed by the token's hash: a leak of the cache does not leak sessions.
        self.inner.kv.set(&key::session(&hash), &record::encode(&record), ttl).await?;
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
        let now = self.now();
        if !record.id.is_empty() && now.saturating_sub(record.seen_at) >= SEEN_EVERY_SECS {
            self.seen(token, record.clone(), now).await;
        }
        Ok(Some(record))
    }

    /// Records that a session was used (at most once a minute): its row's
    /// last-seen time, and the cache record's, so the next minute's
    /// requests write nothing. A failure here costs only the time shown.
    async fn seen(&self, token: &str, mut record: SessionRecord, now: i64) {
        if let Err(error) = self.inner.sessions.touch(&record.id, now).await {
            tracing::warn!(%error, "could not record a session's last use");
            return;
        }
        let Some(ttl) = u64::try_from(record.expires_at - now).ok().filter(|s| *s > 0) else { return };
        record.seen_at = now;
        let key = key::session(SecretHash::of(token).as_str());
        if let Err(error) = self.inner.kv.set(&key, &record::encode(&record), std::time::Duration::from_secs(ttl)).await
        {
            tracing::warn!(%error, "could not record a session's last use");
        }
    }

    /// The user's live sessions, most recently seen first; the one of
    /// `current_token` (if any) marked.
    pub(crate) async fn list_sessions(
        &self,
        user_id: &str,
        current_token: &str,
    ) -> AuthzResult<Vec<(SessionRow, bool)>> {
        let current = SecretHash::of(current_token);
        let rows = self.inner.sessions.list(user_id, self.now()).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let is_current = !current_token.is_empty() && row.token_hash == current.as_str();
                (row, is_current)
            })
            .collect())
    }

    /// Signs out one of the user's sessions; NOT_FOUND when it is not theirs or over.
    pub(crate) async fn sign_out_session(&self, user_id: &str, id: &str) -> AuthzResult<u32> {
        let Some(hash) = self.inner.sessions.remove(user_id, id).await? else {
            return Err(AuthzError::NotFound("no such session".to_owned()));
        };
        self.inner.kv.delete(&key::session(&hash)).await?;
        Ok(1)
    }

    /// Signs out every session of the user but the one of `keep_token`.
    pub(crate) async fn sign_out_other_sessions(&self, user_id: &str, keep_token: &str) -> AuthzResult<u32> {
        let keep = self.session(keep_token).await?.filter(|s| s.user.id == user_id).map(|s| s.id).unwrap_or_default();
        let hashes = self.inner.sessions.remove_others(user_id, &keep).await?;
        for hash in &hashes {
            self.inner.kv.delete(&key::session(hash)).await?;
        }
        Ok(u32::try_from(hashes.len()).unwrap_or(u32::MAX))
    }

    pub(crate) async fn require_session(&self, token: &str) -> AuthzResult<SessionRecord> {
        self.session(token).await?.ok_or(AuthzError::NoSession)
    }

    pub(crate) async fn logout(&self, token: &str) -> AuthzResult<()> {
        if token.starts_with(SESSION_PREFIX) {
            let hash = SecretHash::of(token);
            self.inner.kv.delete(&key::session(hash.as_str())).await?;
            self.inner.sessions.remove_by_hash(hash.as_str()).await?;
        }
        Ok(())
    }
}
