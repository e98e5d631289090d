//! `authorization_code` (RFC 6749 §4.1.3): the code is redeemed by the
//! authorization service, which checks client, redirect URI and PKCE.

use gatehouse_oauth::{GrantType, OAuthError};
use gatehouse_proto::pb::authorization::v1::RedeemCodeRequest;
use gatehouse_proto::pb::token::v1::ExchangeRequest;

use super::family_id;
use crate::clients::{Client, Redeemed};
use crate::error::TokenResult;
use crate::issue::{Family, Minted};
use crate::service::TokenService;
use crate::store::RevokeScope;

impl TokenService {
    pub(crate) async fn authorization_code(&self, client: &Client, request: &ExchangeRequest) -> TokenResult<Minted> {
        if request.code.is_empty() {
            return Err(OAuthError::invalid_request("code is missing").into());
        }
        let redeem = RedeemCodeRequest {
            code: request.code.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_verifier: request.code_verifier.clone(),
        };
        let granted = match self.inner.clients.redeem(redeem).await? {
            Redeemed::Granted(granted) => granted,
            Redeemed::Replayed { code_id } => {
                // RFC 6749 §4.1.2: a code used twice revokes what it issued.
                let revoked = self.inner.store.revoke(RevokeScope::Code(&code_id), self.now()).await?;
                self.tombstone(&revoked).await?;
                tracing::warn!(client_id = %client.client_id, revoked = revoked.len(), "replayed authorization code: its tokens are revoked");
                return Err(OAuthError::invalid_grant(
                    "authorization code was already used; the tokens issued from it are revoked",
                )
                .into());
            }
        };
        let family = Family {
            id: family_id(),
            code_id: Some(granted.code_id),
            client_id: client.client_id.clone(),
            user_id: granted.user_id,
            username: granted.username,
        };
        let refresh = client.grant_types.contains(&GrantType::RefreshToken).then_some(granted.scopes.as_slice());
        let minted = self.mint(&family, &granted.scopes, refresh);
        self.inner.store.insert(&minted.records).await?;
        self.cache_issued(&minted.records).await;
        Ok(minted)
    }
}
