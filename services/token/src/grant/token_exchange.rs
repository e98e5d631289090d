//! Token exchange (RFC 8693) with delegation: a service that received a
//! user's access token (or an agent holding one) exchanges it for a token
//! for another resource, never wider, with itself named as the actor
//! (`act`, nested along a chain). No impersonation: the exchanged token
//! always says who acts.
//!
//! Who may exchange a subject token: the client it was issued to, or a
//! client that introspects for a resource server the token is for (the
//! service it was sent to, passing it on). The subject must be an active
//! access token; an `actor_token` must be an active access token of the
//! requesting client itself. The exchanged token descends from the subject's
//! grant: revoking that grant (or the user's authorization of its
//! application, or the application) ends it too.

use gatehouse_oauth::grant::{ACCESS_TOKEN_TYPE, Exchange, JWT_TOKEN_TYPE, narrow};
use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{OAuthError, ResourceId, Scope, ScopeSet, SecretHash};

use super::family_id;
use crate::clients::Client;
use crate::error::TokenResult;
use crate::issue::{Family, Minted};
use crate::service::TokenService;
use crate::store::{Fence, TokenRecord};

fn inactive(which: &'static str) -> OAuthError {
    OAuthError::invalid_grant(which)
}

/// An exchanged token's type identifiers: an access token, opaque or a JWT.
fn access_token_type(value: &str) -> bool {
    value == ACCESS_TOKEN_TYPE || value == JWT_TOKEN_TYPE
}

impl TokenService {
    /// The stored record of an active access token, or `None`.
    async fn active_access_token(&self, token: &str) -> TokenResult<Option<TokenRecord>> {
        let Some(record) = self.inner.store.find(SecretHash::of(token).as_str()).await? else {
            return Ok(None);
        };
        let active = record.kind == TokenKind::Access && !record.revoked && record.expires_at > self.now();
        Ok(active.then_some(record))
    }

    pub(crate) async fn token_exchange(
        &self,
        client: &Client,
        exchange: Exchange,
        binding: crate::dpop::Binding,
    ) -> TokenResult<Minted> {
        if exchange.requested_token_type.as_deref().is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
            return Err(OAuthError::invalid_request(
                "requested_token_type: only urn:ietf:params:oauth:token-type:access_token is issued",
            )
            .into());
        }
        if !access_token_type(&exchange.subject_token_type) {
            return Err(OAuthError::invalid_request(
                "subject_token_type must be urn:ietf:params:oauth:token-type:access_token (or :jwt for a JWT access token)",
            )
            .into());
        }
        // Read before the subject is: a revocation of its grant recorded
        // after this point is found once the new token is stored.
        let watermark = self.inner.store.revocation_watermark().await?;
        let subject = self
            .active_access_token(&exchange.subject_token)
            .await?
            .ok_or_else(|| inactive("subject_token is not an active access token of this server"))?;
        let client_id = client.client_id.as_str();
        let passed_on = subject.audience.iter().any(|aud| client.introspects_for.contains(aud));
        if subject.client_id != client_id && !passed_on {
            return Err(inactive(
                "this client may not exchange the subject_token: it was issued to another client, for no resource \
                 server this client introspects for",
            )
            .into());
        }
        if let Some(actor) = &exchange.actor_token {
            if !exchange.actor_token_type.as_deref().is_some_and(access_token_type) {
                return Err(OAuthError::invalid_request(
                    "actor_token_type must be urn:ietf:params:oauth:token-type:access_token",
                )
                .into());
            }
            let own = self.active_access_token(actor).await?.is_some_and(|a| a.client_id == client_id);
            if !own {
                return Err(inactive("actor_token must be an active access token of the requesting client").into());
            }
        }
        // Only ever narrowing (RFC 8693 §2.1, §5): the subject's scopes at most.
        let granted = ScopeSet::from_scopes(subject.scopes.iter().filter_map(|s| Scope::parse(s)));
        let scopes = narrow(exchange.scope.as_ref(), &granted)?.to_strings();
        let audience = self.inner.clients.resources(client_id, &exchange.resources, subject.user_id.is_empty()).await?;
        let mut actors = vec![client_id.to_owned()];
        actors.extend(subject.actors.iter().cloned());
        let family = Family {
            id: family_id(),
            code_id: subject.code_id.clone(),
            client_id: client_id.to_owned(),
            user_id: subject.user_id.clone(),
            username: subject.username.clone(),
            auth_time: subject.auth_time,
            resources: exchange.resources.into_iter().map(ResourceId::into_string).collect(),
            audience,
            binding,
            // One level: a chain's tokens all descend from the grant at its root.
            parent: Some(subject.parent_family.clone().unwrap_or_else(|| subject.family_id.clone())),
            actors,
            not_after: Some(subject.expires_at),
        };
        let minted = self.mint(&family, &scopes, None)?;
        // The subject's grant is what a revocation names.
        let fence = Fence { watermark, client_id: subject.client_id.clone(), user_id: subject.user_id.clone() };
        let minted = self.store_minted(minted, &family, &fence).await?;
        let details = serde_json::json!({
            "subject_client_id": subject.client_id,
            "actors": family.actors,
            "scope": scopes.join(" "),
            "audience": family.audience.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        });
        self.audit_issued("token.exchanged", &family, details).await;
        Ok(minted)
    }
}
