//! `authorization_code` (RFC 6749 §4.1.3): the code is redeemed by the
//! authorization service, which checks client, redirect URI and PKCE.

use gatehouse_oauth::{AuthorizationCode, CodeVerifier, OAuthError, ResourceId};

use super::family_id;
use crate::clients::{Client, Redeemed};
use crate::error::TokenResult;
use crate::issue::{Family, Minted};
use crate::service::TokenService;
use crate::store::{Fence, RevokeScope};

impl TokenService {
    pub(crate) async fn authorization_code(
        &self,
        client: &Client,
        code: AuthorizationCode,
        redirect_uri: Option<String>,
        code_verifier: Option<CodeVerifier>,
        resources: Vec<ResourceId>,
        binding: crate::dpop::Binding,
    ) -> TokenResult<Minted> {
        // Read before the code is redeemed: a revocation of the grant that
        // records itself after this point is found once the tokens are stored.
        let watermark = self.inner.store.revocation_watermark().await?;
        let (client_id, jkt) = (client.client_id.as_str(), binding.jkt.as_deref());
        let redeemed = self.inner.clients.redeem(&code, client_id, redirect_uri, code_verifier, jkt).await?;
        let granted = match redeemed {
            Redeemed::Granted(granted) => *granted,
            Redeemed::Replayed { code_id } => {
                // RFC 6749 §4.1.2: a code used twice revokes what it issued.
                // The mark first, then the revocation: the winner, which may
                // not have stored its tokens yet, looks for the mark after
                // storing them (see below), so one side always catches the other.
                let marked = self.inner.cache.mark_replayed(&code_id).await;
                self.revoke_code(&code_id).await?;
                marked?;
                tracing::warn!(client_id = %client.client_id, "replayed authorization code: its tokens are revoked");
                return Err(OAuthError::invalid_grant(
                    "authorization code was already used; the tokens issued from it are revoked",
                )
                .into());
            }
        };
        let code_id = granted.code_id;
        let mut family = Family {
            id: family_id(),
            code_id: Some(code_id.clone()),
            client_id: client.client_id.as_str().to_owned(),
            user_id: granted.user_id,
            username: granted.username,
            auth_time: Some(granted.auth_time),
            amr: granted.amr.clone(),
            resources: granted.resources,
            audience: Vec::new(),
            binding,
            parent: None,
            actors: Vec::new(),
            not_after: None,
        };
        let refresh = client.gets_refresh_token(&granted.scopes).then_some(granted.scopes.as_slice());
        // Nothing is stored yet: a failure here gives the code back, so the
        // client's retry is a redemption, not a replay (a wrong `resource`
        // too: the code's client proved PKCE and may ask again correctly).
        let stored = async {
            family.audience = self.audience(&family.client_id, resources, &family.resources).await?;
            let mut minted = self.mint(&family, &granted.scopes, refresh)?;
            let nonce = granted.nonce.as_deref();
            minted.id_token = self
                .id_token(
                    client.id_token_alg,
                    &family,
                    &granted.scopes,
                    nonce,
                    &minted.access_token,
                    granted.account.as_ref(),
                )
                .await?
                .map(gatehouse_oauth::IdToken::new);
            self.before_commit()?;
            let fence = Fence { watermark, client_id: family.client_id.clone(), user_id: family.user_id.clone() };
            let caught = self.inner.store.insert(&minted.records, &fence).await?;
            Ok((minted, caught))
        }
        .await;
        let (minted, caught) = match stored {
            Ok(stored) => stored,
            Err(error) => {
                self.inner.clients.restore(&code, client.client_id.as_str()).await;
                return Err(error);
            }
        };
        // A replay that came in while these tokens were being stored may
        // have revoked by code before they existed: it marked the code first,
        // so the mark is visible now, and the tokens are revoked here. The
        // answer is then what it would have been had the replay come just
        // after this exchange: the tokens, already revoked (exactly one
        // redemption succeeds; nothing it issued stays active). When the mark
        // cannot be read, the tokens are revoked and not handed out.
        match self.inner.cache.was_replayed(&code_id).await {
            Ok(false) => {}
            Ok(true) => {
                self.revoke_code(&code_id).await?;
                return Ok(minted);
            }
            Err(error) => {
                self.revoke_code(&code_id).await?;
                return Err(error);
            }
        }
        self.fence(caught, &family.client_id, &family.id).await?;
        self.inner.cache.cache_issued(&minted.records).await;
        Ok(minted)
    }

    /// Revokes everything issued from a code, in SQL and in the cache.
    async fn revoke_code(&self, code_id: &str) -> TokenResult<()> {
        let revoked = self.inner.store.revoke(RevokeScope::Code(code_id), self.now(), self.now_ms()).await?;
        self.inner.cache.tombstone(&revoked).await
    }
}
