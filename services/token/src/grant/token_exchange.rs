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
//!
//! A subject token may also be another issuer's JWT (an enterprise identity
//! provider's access token) when the operator's federation file lets this
//! client exchange that issuer's tokens (`subject_tokens`, or the token's
//! own `may_act` naming the client): the token is then for the account it
//! names, within the policy's scopes, never outliving the subject.

use gatehouse_oauth::grant::{ACCESS_TOKEN_TYPE, Exchange, JWT_TOKEN_TYPE, narrow};
use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{OAuthError, ResourceId, Scope, ScopeSet, SecretHash};

use super::family_id;
use crate::clients::Client;
use crate::error::TokenResult;
use crate::issue::{Family, Minted};
use crate::service::TokenService;
use crate::store::{Fence, TokenRecord};

/// RFC 8693 §2.2.2: an invalid or unacceptable subject or actor token is `invalid_request`.
fn inactive(which: &'static str) -> OAuthError {
    OAuthError::invalid_request(which)
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
        if let Some(txn) = exchange.txn.clone() {
            return self.transaction_token(client, exchange, txn).await;
        }
        if exchange.requested_token_type.as_deref().is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
            return Err(OAuthError::invalid_request(
                "requested_token_type: access tokens (…:access_token) and Txn-Tokens (…:txn_token) are issued",
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
        let subject = self.subject(client, &exchange.subject_token).await?;
        let client_id = client.client_id.as_str();
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
        let scopes = narrow(exchange.scope.as_ref(), &subject.scopes)?.to_strings();
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
            amr: subject.amr.clone(),
            resources: exchange.resources.into_iter().map(ResourceId::into_string).collect(),
            audience,
            binding,
            parent: subject.parent.clone(),
            actors,
            not_after: Some(subject.expires_at),
        };
        let mut minted = self.mint(&family, &scopes, None)?;
        minted.issued_token_type = Some(ACCESS_TOKEN_TYPE);
        // The subject's grant is what a revocation names.
        let fence = Fence { watermark, client_id: subject.fence_client.clone(), user_id: subject.user_id.clone() };
        let minted = self.store_minted(minted, &family, &fence).await?;
        let mut details = subject.origin;
        details["actors"] = serde_json::json!(family.actors);
        details["scope"] = serde_json::json!(scopes.join(" "));
        details["audience"] = serde_json::json!(family.audience.iter().map(|r| r.id.as_str()).collect::<Vec<_>>());
        self.audit_issued("token.exchanged", &family, details).await;
        Ok(minted)
    }

    /// What the subject token stands for: an active access token of this
    /// server issued to the requester or passed on to it (a resource server
    /// it introspects for is in its audience), or another issuer's JWT its
    /// policy lets the requester exchange (checked by the registry).
    pub(super) async fn subject(&self, client: &Client, token: &str) -> TokenResult<Subject> {
        let client_id = client.client_id.as_str();
        let Some(record) = self.active_access_token(token).await? else {
            if token.split('.').count() != 3 {
                return Err(inactive("subject_token is not an active access token of this server").into());
            }
            let foreign = self.inner.clients.verify_subject_token(token, client_id, "").await?;
            // Within the issuer's policy and the requester's own scopes.
            let scopes = ScopeSet::from_scopes(
                foreign.scopes.iter().filter_map(|s| Scope::parse(s)).filter(|s| client.scopes.contains(s)),
            );
            return Ok(Subject {
                user_id: foreign.user_id,
                username: foreign.username,
                auth_time: (foreign.auth_time > 0).then_some(foreign.auth_time),
                amr: Vec::new(),
                scopes,
                actors: foreign.actors,
                expires_at: foreign.expires_at,
                code_id: None,
                parent: None,
                fence_client: client_id.to_owned(),
                origin: serde_json::json!({"subject_issuer": foreign.issuer, "subject": foreign.subject}),
            });
        };
        let passed_on = record.audience.iter().any(|aud| client.introspects_for.contains(aud));
        if record.client_id != client_id && !passed_on {
            return Err(inactive(
                "this client may not exchange the subject_token: it was issued to another client, for no resource \
                 server this client introspects for",
            )
            .into());
        }
        Ok(Subject {
            scopes: ScopeSet::from_scopes(record.scopes.iter().filter_map(|s| Scope::parse(s))),
            // One level: a chain's tokens all descend from the grant at its root.
            parent: Some(record.parent_family.clone().unwrap_or_else(|| record.family_id.clone())),
            origin: serde_json::json!({"subject_client_id": record.client_id}),
            fence_client: record.client_id,
            user_id: record.user_id,
            username: record.username,
            auth_time: record.auth_time,
            amr: record.amr.clone(),
            actors: record.actors,
            expires_at: record.expires_at,
            code_id: record.code_id,
        })
    }
}

/// What an exchange's subject token stands for.
pub(super) struct Subject {
    pub(super) user_id: String,
    pub(super) username: String,
    pub(super) auth_time: Option<i64>,
    pub(super) amr: Vec<String>,
    /// The widest scope the exchanged token may have.
    pub(super) scopes: ScopeSet,
    /// Its actors, the current one first.
    pub(super) actors: Vec<String>,
    pub(super) expires_at: i64,
    pub(super) code_id: Option<String>,
    /// The grant the exchanged token descends from (this server's subjects).
    pub(super) parent: Option<String>,
    /// The client whose grant a revocation names.
    pub(super) fence_client: String,
    /// Where it came from, for the audit trail.
    pub(super) origin: serde_json::Value,
}
