//! `refresh_token` (RFC 6749 §6) with rotation on every use: a rotated
//! refresh token presented again revokes its whole grant (RFC 9700 §4.14.2).

use gatehouse_oauth::grant::narrow;
use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{OAuthError, RefreshToken, ResourceId, Scope, ScopeSet};

use crate::clients::Client;
use crate::error::TokenResult;
use crate::issue::{Family, Minted};
use crate::service::TokenService;
use crate::store::{BeforeCommit, CommitCheck, RetryRule, RevokeScope, Revoked, Rotation};

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("refresh token is invalid, expired or revoked")
}

impl TokenService {
    pub(crate) async fn refresh_token(
        &self,
        client: &Client,
        refresh_token: &RefreshToken,
        scope: Option<&ScopeSet>,
        resources: Vec<ResourceId>,
        binding: crate::dpop::Binding,
    ) -> TokenResult<Minted> {
        if TokenKind::of(refresh_token.expose()) != Some(TokenKind::Refresh) {
            return Err(invalid().into());
        }
        let hash = refresh_token.hash();
        // SQL, not the cache: rotation state is only ever decided there.
        let Some(old) = self.inner.store.find(hash.as_str()).await? else {
            return Err(invalid().into());
        };
        if old.client_id != client.client_id.as_str() {
            return Err(OAuthError::invalid_grant("refresh token was issued to another client").into());
        }
        if old.revoked || old.expires_at <= self.now() {
            return Err(invalid().into());
        }
        // RFC 9449 §5: a bound refresh token (a public client's) is used
        // only with a proof of its key, and stays bound to it.
        if !old.jkt.is_empty() && binding.jkt.as_deref() != Some(old.jkt.as_str()) {
            return Err(OAuthError::new(
                gatehouse_oauth::OAuthErrorCode::InvalidDpopProof,
                "the refresh token is DPoP-bound: send a DPoP proof made with its key",
            )
            .into());
        }
        let granted = ScopeSet::from_scopes(old.scopes.iter().filter_map(|s| Scope::parse(s)));
        let access_scopes = narrow(scope, &granted)?.to_strings();
        let mut family = Family {
            id: old.family_id.clone(),
            code_id: old.code_id.clone(),
            client_id: old.client_id.clone(),
            user_id: old.user_id.clone(),
            username: old.username.clone(),
            auth_time: old.auth_time,
            amr: old.amr.clone(),
            resources: old.audience.clone(),
            audience: Vec::new(),
            binding,
            parent: None,
            actors: Vec::new(),
            not_after: None,
        };
        // The new refresh token keeps the grant's full scope and resources;
        // only the access token narrows.
        family.audience = self.audience(&family.client_id, resources, &family.resources).await?;
        let mut minted = self.mint(&family, &access_scopes, Some(&old.scopes))?;
        // A new ID token with the same iss, sub, aud and the original
        // auth_time, and no nonce (Core §12.2).
        minted.id_token = self
            .id_token(client.id_token_alg, &family, &access_scopes, None, &minted.access_token, None)
            .await?
            .map(gatehouse_oauth::IdToken::new);
        let now = self.now();
        let window = i64::try_from(self.config().refresh_retry_window.as_secs()).unwrap_or(i64::MAX);
        // A window of 0 turns retries off: no rotation time is at or after "never".
        let retry_since = if window == 0 { i64::MAX } else { now.saturating_sub(window) };
        // The old refresh token is rotated in SQL and the previous
        // generation's access tokens are revoked; the cache must say so too
        // before the rotation commits (the rule of the `cache` module). When
        // the tombstones cannot be written, or the caller's deadline is too
        // close to answer in time, nothing is committed: the answer is 503
        // and the client's retry with the same refresh token simply works.
        let old_refresh = Revoked { hash: old.hash.clone(), expires_at: old.expires_at, newly: false };
        let service = self.clone();
        // What the committing attempt marked, to confirm once it committed.
        let marked = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let marks = marked.clone();
        // The caller's deadline, for the check that runs in the writer's task.
        let deadline = gatehouse_upstream::deadline::current();
        let before_commit = move |mut ended: Vec<Revoked>| -> CommitCheck {
            let service = service.clone();
            let old_refresh = old_refresh.clone();
            let marks = marks.clone();
            Box::pin(async move {
                service.before_commit_by(deadline)?;
                ended.push(old_refresh);
                service.inner.cache.mark_provisional(&ended).await?;
                *marks.lock().await = ended;
                Ok(())
            })
        };
        let before_commit: BeforeCommit = std::sync::Arc::new(before_commit);
        let mut rule = RetryRule { since: retry_since, in_doubt: None };
        let successor = minted.records.iter().find(|t| t.kind == TokenKind::Refresh).map(|t| t.hash.clone());
        loop {
            let rotated =
                self.inner.store.rotate(hash.as_str(), &minted.records, now, &rule, before_commit.clone()).await;
            match rotated {
                Ok(Rotation::Rotated { .. }) => break,
                Ok(Rotation::Retried { .. }) => {
                    tracing::info!(family_id = %old.family_id, "refresh retried: its unused successors replaced");
                    break;
                }
                // A rotated token back: the client's retry of an attempt
                // answered 503 whose commit landed all the same, or a reuse.
                Ok(Rotation::Reused) if rule.in_doubt.is_none() => match self.inner.cache.in_doubt(hash.as_str()).await
                {
                    Some(in_doubt) => rule.in_doubt = Some(in_doubt),
                    None => return Err(self.reuse_detected(&old.family_id).await),
                },
                Ok(Rotation::Reused) => return Err(self.reuse_detected(&old.family_id).await),
                Ok(Rotation::Inactive) => return Err(invalid().into()),
                Err(error) => {
                    // The database failed, perhaps during the commit: the
                    // answer is 503 and the client will retry this token.
                    if let (crate::error::TokenError::Storage(_), Some(successor)) = (&error, &successor) {
                        self.inner.cache.mark_in_doubt(hash.as_str(), successor).await;
                    }
                    return Err(error);
                }
            }
        }
        self.inner.cache.confirm_tombstones(&marked.lock().await).await;
        self.inner.cache.cache_issued(&minted.records).await;
        Ok(minted)
    }

    /// Revokes the whole grant after a rotated refresh token came back.
    async fn reuse_detected(&self, family_id: &str) -> crate::error::TokenError {
        tracing::warn!(family_id, "rotated refresh token reused: revoking the grant");
        let revoked = match self.inner.store.revoke(RevokeScope::Family(family_id), self.now(), self.now_ms()).await {
            Ok(revoked) => revoked,
            Err(error) => return error,
        };
        if let Err(error) = self.inner.cache.tombstone(&revoked).await {
            return error;
        }
        OAuthError::invalid_grant("refresh token was already used; the grant is revoked").into()
    }
}
