//! Issuing authorization codes.

use gatehouse_oauth::authorize::{ClientResponse, code_response};
use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{SecretHash, random_token};

use crate::error::AuthzResult;
use crate::record::{self, CodeRecord, RequestRecord, SessionRecord, key};
use crate::service::Authorization;

/// Prefix of authorization codes.
pub(crate) const CODE_PREFIX: &str = "gac_";

impl Authorization {
    /// Issues a code for `request` (256 bits from a CSPRNG, stored only as
    /// its hash, with the configured TTL) and returns the client redirect.
    pub(crate) async fn issue_code(
        &self,
        request: RequestRecord,
        session: &SessionRecord,
    ) -> AuthzResult<ClientResponse> {
        let code = random_token(CODE_PREFIX, RANDOM_CHARS_256_BITS);
        let issuer = &self.config().issuer;
        let redirect =
            code_response(&request.redirect_uri, &code, request.state.as_deref(), issuer, request.response_mode());
        let record = CodeRecord {
            request,
            user_id: session.user.id.clone(),
            username: session.user.username.clone(),
            // The login's time, not the code's: what max_age and auth_time mean.
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            expires_at: self.now() + i64::try_from(self.config().code_ttl.as_secs()).unwrap_or(i64::MAX),
            account: Some(session.user.clone()),
        };
        let key = key::code(SecretHash::of(&code).as_str());
        self.inner.kv.set(&key, &record::encode(&record), self.config().code_ttl).await?;
        Ok(redirect)
    }
}
