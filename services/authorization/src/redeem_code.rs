//! RedeemCode: the single use of an authorization code (RFC 6749 §4.1.3).

use gatehouse_oauth::code_grant::{self, IssuedCode, Redemption, invalid_code};
use gatehouse_oauth::secret::{RANDOM_CHARS_256_BITS, has_valid_checksum};
use gatehouse_oauth::{AuthorizationCode, CodeVerifier, OAuthError};
use gatehouse_runtime::kv::Taken;

use crate::code::CODE_PREFIX;
use crate::error::{AuthzError, AuthzResult};
use crate::record::{self, CodeRecord, key};
use crate::service::Authorization;

/// What a redeemed code grants: the record both services share.
pub(crate) use gatehouse_proto::convert::RedeemedCode as Redeemed;

/// Seconds within which a grant's "last used" time is not written again.
const LAST_USED_GRANULARITY: i64 = 60;

impl Authorization {
    /// Redeems a code exactly once. The code is read first and checked;
    /// taking it and marking it used is then one atomic cache step, so of
    /// concurrent redemptions exactly one gets the record and the others see
    /// the mark (a replay, RFC 6749 §4.1.2). A failed check of the request
    /// (client, redirect URI, PKCE) consumes the code, so a stolen code
    /// cannot be retried with guessed verifiers; a failure of the service
    /// itself (the grant's SQL read) leaves it untouched, so the client's
    /// retry after a 503 is not mistaken for a replay.
    pub(crate) async fn redeem_code(
        &self,
        code: &AuthorizationCode,
        client_id: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&CodeVerifier>,
        dpop_jkt: Option<&str>,
    ) -> AuthzResult<Redeemed> {
        if !has_valid_checksum(code.expose(), CODE_PREFIX, RANDOM_CHARS_256_BITS) {
            return Err(invalid_code().into());
        }
        let code_id = code.hash().as_str().to_owned();
        let Some(bytes) = self.inner.kv.get(&key::code(&code_id)).await? else {
            return Err(match self.inner.kv.get(&key::code_used(&code_id)).await? {
                Some(first) => self.replayed(&first, code_id, client_id),
                None => invalid_code().into(),
            });
        };
        let record: CodeRecord = record::decode(&bytes)?;
        let request = &record.request;
        let challenge = request.code_challenge();
        let issued = IssuedCode {
            client_id: &request.client_id,
            redirect_uri: &request.redirect_uri,
            redirect_uri_given: request.redirect_uri_given,
            code_challenge: challenge.as_ref(),
            dpop_jkt: request.dpop_jkt.as_deref(),
            expires_at: record.expires_at,
        };
        let presented = Redemption { client_id, redirect_uri, code_verifier, dpop_jkt };
        if let Err(refused) = code_grant::check(&issued, &presented, self.now()) {
            self.take(&code_id, &bytes).await?;
            return Err(refused.into());
        }
        // The user may have revoked the application since the code was issued.
        let grant = self.inner.grants.grant(&record.user_id, client_id).await?;
        let Some(grant) = grant.filter(|g| record.request.scopes().is_subset(&g.scopes)) else {
            self.take(&code_id, &bytes).await?;
            return Err(OAuthError::invalid_grant("the user revoked this authorization").into());
        };
        // The single use.
        match self.take(&code_id, &bytes).await? {
            Taken::Value(_) => {}
            Taken::Marked(first) => return Err(self.replayed(&first, code_id, client_id)),
            // Expired between the read and now.
            Taken::Missing => return Err(invalid_code().into()),
        }
        // "Last used" is kept to the minute, as the registry keeps a secret's:
        // writing it at every redemption made each code exchange a write on
        // the same row as every other exchange of that user and application.
        // The code is spent by now: a failure here is logged, not answered.
        let now = self.now();
        if grant.last_used_at.is_none_or(|at| now - at >= LAST_USED_GRANULARITY)
            && let Err(error) = self.inner.grants.touch(&record.user_id, client_id, now).await
        {
            tracing::warn!(%error, "could not record the grant's last use");
        }
        Ok(Redeemed {
            code_id,
            user_id: record.user_id,
            username: record.username,
            scopes: record.request.scopes.clone(),
            auth_time: record.auth_time,
            nonce: record.request.nonce.clone(),
            resources: record.request.resources.clone(),
            account: record.account.clone(),
            amr: record.amr.clone(),
        })
    }

    /// Takes the code and marks it used, in one atomic step. The mark holds
    /// the code's id and its record, so that [`Authorization::restore_code`]
    /// can put the code back when the tokens could not be stored.
    async fn take(&self, code_id: &str, record: &[u8]) -> AuthzResult<Taken> {
        let (code, used) = (key::code(code_id), key::code_used(code_id));
        let mark = used_mark(code_id, record);
        Ok(self.inner.kv.take_and_mark(&code, &used, &mark, self.config().code_replay_ttl).await?)
    }

    /// Puts a redeemed code back when the redemption could not complete
    /// (the token service could not store the tokens): a failure before the
    /// tokens exist leaves the code redeemable, so the client's retry after
    /// a 503 is a redemption, not a replay. Only the client the code was
    /// issued to may; a code that expired meanwhile stays gone.
    pub(crate) async fn restore_code(&self, code: &AuthorizationCode, client_id: &str) -> AuthzResult<bool> {
        if !has_valid_checksum(code.expose(), CODE_PREFIX, RANDOM_CHARS_256_BITS) {
            return Ok(false);
        }
        let code_id = code.hash().as_str().to_owned();
        let Some(mark) = self.inner.kv.get(&key::code_used(&code_id)).await? else {
            return Ok(false);
        };
        let Some((_, bytes)) = split_mark(&mark) else { return Ok(false) };
        let record: CodeRecord = record::decode(bytes)?;
        let left = record.expires_at - self.now();
        if record.request.client_id != client_id || left <= 0 {
            return Ok(false);
        }
        let ttl = std::time::Duration::from_secs(u64::try_from(left).unwrap_or(0));
        let restored =
            self.inner.kv.restore(&key::code(&code_id), bytes, ttl, &key::code_used(&code_id), &mark).await?;
        if restored {
            tracing::info!(client_id, "authorization code restored after a failed redemption");
        }
        Ok(restored)
    }

    fn replayed(&self, first: &[u8], code_id: String, client_id: &str) -> AuthzError {
        let first = split_mark(first).map_or(first, |(id, _)| id).to_vec();
        let code_id = String::from_utf8(first).unwrap_or(code_id);
        tracing::warn!(client_id, "authorization code replayed");
        AuthzError::Replayed { code_id }
    }
}

/// A used code's mark: its id, a newline, its record.
fn used_mark(code_id: &str, record: &[u8]) -> Vec<u8> {
    let mut mark = Vec::with_capacity(code_id.len() + 1 + record.len());
    mark.extend_from_slice(code_id.as_bytes());
    mark.push(b'\n');
    mark.extend_from_slice(record);
    mark
}

/// (id, record) of a mark; `None` for a mark of the old shape (the id alone).
fn split_mark(mark: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = mark.iter().position(|b| *b == b'\n')?;
    Some((&mark[..at], &mark[at + 1..]))
}
