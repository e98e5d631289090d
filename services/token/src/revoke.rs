//! Revocation (RFC 7009), and revoking everything a grant, an application
//! or a user holds.

use gatehouse_oauth::SecretHash;
use gatehouse_oauth::token::TokenKind;

use crate::clients::Presented;
use crate::error::TokenResult;
use crate::service::TokenService;
use crate::store::{Fence, RevokeScope};

/// Whose tokens a bulk revocation ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// One user's grant to one application.
    Grant { user_id: &'a str, client_id: &'a str },
    /// A deleted application.
    Client(&'a str),
    /// A deleted user.
    User(&'a str),
    /// Every token a user holds now (a password reset); later ones live.
    UserTokens(&'a str),
}

impl TokenService {
    /// Revokes a token of the authenticated client. Revoking a refresh token
    /// revokes its whole grant (access tokens included, RFC 7009 §2.1). An
    /// unknown token, or one of another client, is left alone and the answer
    /// is the same success (RFC 7009 §2.2), so that a client learns nothing
    /// about tokens that are not its own.
    pub(crate) async fn revoke(&self, token: &str, client: Option<&Presented>) -> TokenResult<()> {
        let client = self.authenticate_client(client).await?;
        let Some(kind) = TokenKind::of(token) else {
            return self.unknown_token(client.client_id.as_str()).await;
        };
        let hash = SecretHash::of(token);
        let Some(record) = self.inner.store.find(hash.as_str()).await? else {
            return self.unknown_token(client.client_id.as_str()).await;
        };
        if record.client_id != client.client_id.as_str() {
            tracing::warn!(client_id = %client.client_id, "revocation of another client's token ignored");
            return Ok(());
        }
        let scope = match kind {
            TokenKind::Refresh => RevokeScope::Family(&record.family_id),
            TokenKind::Access | TokenKind::Personal | TokenKind::Transaction => RevokeScope::Token(hash.as_str()),
        };
        let revoked = self.inner.store.revoke(scope, self.now(), self.now_ms()).await?;
        self.inner.cache.tombstone(&revoked).await
    }

    /// Revokes every token of `subject`, in SQL and in the cache, before it
    /// returns; tokens being issued for it at the same moment are revoked
    /// too (they find the revocation once stored). Returns how many were live.
    pub(crate) async fn revoke_subject(&self, subject: Subject<'_>) -> TokenResult<u64> {
        let scope = match subject {
            Subject::Grant { user_id, client_id } => RevokeScope::UserClient { user_id, client_id },
            Subject::Client(client_id) => {
                // Its successful authentications end here at once; the other
                // replicas' end within their few seconds, and meanwhile any
                // token they issue for it finds the revocation and is refused.
                self.inner.clients.forget(client_id);
                RevokeScope::Client(client_id)
            }
            Subject::User(user_id) => RevokeScope::User(user_id),
            Subject::UserTokens(user_id) => RevokeScope::UserTokens(user_id),
        };
        let revoked = self.inner.store.revoke(scope, self.now(), self.now_ms()).await?;
        self.inner.cache.tombstone(&revoked).await?;
        Ok(revoked.iter().filter(|r| r.newly).count() as u64)
    }

    /// Called once a personal token of `user_id` is stored: when the user
    /// was deleted meanwhile, it is revoked and not handed out (no grant to
    /// race, so only the deletion counts).
    pub(crate) async fn check_fence(&self, user_id: &str, family_id: &str) -> TokenResult<()> {
        let fence = Fence { watermark: i64::MAX, client_id: String::new(), user_id: user_id.to_owned() };
        let caught = self.inner.store.fenced(&fence).await?;
        self.fence(caught, "", family_id).await
    }

    /// Called once a new family's tokens are stored, with the subject of
    /// a revocation that ran meanwhile and caught them (see
    /// [`crate::store::Fence`]): then they are revoked and not handed out.
    pub(crate) async fn fence(&self, caught: Option<String>, client_id: &str, family_id: &str) -> TokenResult<()> {
        let Some(subject) = caught else {
            return Ok(());
        };
        tracing::warn!(client_id, "tokens issued while their grant was being revoked: revoked");
        let revoked = self.inner.store.revoke(RevokeScope::Family(family_id), self.now(), self.now_ms()).await?;
        self.inner.cache.tombstone(&revoked).await?;
        if subject == RevokeScope::Client(client_id).subject().unwrap_or_default() {
            // A deleted application: a kept authentication let it this far.
            self.inner.clients.forget(client_id);
            return Err(gatehouse_oauth::OAuthError::invalid_client("client authentication failed").into());
        }
        Err(gatehouse_oauth::OAuthError::invalid_grant("the grant was revoked").into())
    }
}
