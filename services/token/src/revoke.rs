//! Revocation (RFC 7009) and revoking a user's whole grant to an application.

use gatehouse_oauth::SecretHash;
use gatehouse_oauth::token::TokenKind;
use gatehouse_proto::pb::token::v1::ClientCredentials;

use crate::error::TokenResult;
use crate::service::TokenService;
use crate::store::RevokeScope;

impl TokenService {
    /// Revokes a token of the authenticated client. Revoking a refresh token
    /// revokes its whole grant (access tokens included, RFC 7009 §2.1). An
    /// unknown token, or one of another client, is left alone and the answer
    /// is the same success (RFC 7009 §2.2), so that a client learns nothing
    /// about tokens that are not its own.
    pub(crate) async fn revoke(&self, token: &str, client: Option<&ClientCredentials>) -> TokenResult<()> {
        let client = self.inner.clients.authenticate(client).await?;
        let Some(kind) = TokenKind::of(token) else {
            return Ok(());
        };
        let hash = SecretHash::of(token);
        let Some(record) = self.inner.store.find(hash.as_str()).await? else {
            return Ok(());
        };
        if record.client_id != client.client_id {
            tracing::warn!(client_id = %client.client_id, "revocation of another client's token ignored");
            return Ok(());
        }
        let scope = match kind {
            TokenKind::Refresh => RevokeScope::Family(&record.family_id),
            TokenKind::Access => RevokeScope::Token(hash.as_str()),
        };
        let revoked = self.inner.store.revoke(scope, self.now()).await?;
        self.tombstone(&revoked).await
    }

    /// Revokes every token of `user_id`'s grant to `client_id`; returns how many were live.
    pub(crate) async fn revoke_all_for_grant(&self, user_id: &str, client_id: &str) -> TokenResult<u64> {
        let revoked = self.inner.store.revoke(RevokeScope::UserClient { user_id, client_id }, self.now()).await?;
        self.tombstone(&revoked).await?;
        Ok(revoked.iter().filter(|r| r.newly).count() as u64)
    }
}
