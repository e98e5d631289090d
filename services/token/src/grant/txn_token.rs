//! Transaction tokens (draft-ietf-oauth-transaction-tokens): a workload at
//! the edge of a trust domain exchanges the access token it received (or,
//! for a call that starts inside, its own) for a short-lived Txn-Token
//! that carries the user and the request's context down the internal call
//! chain; a later hop may replace it with a narrower one.
//!
//! A Txn-Token request is a token exchange (RFC 8693) with
//! `requested_token_type=urn:ietf:params:oauth:token-type:txn_token`,
//! `audience` = this trust domain, `scope` (the transaction's purpose, at
//! most the subject's), and optional `request_context` / `request_details`
//! (JSON objects: `rctx`, `tctx`). The subject is what a delegation may
//! exchange (an access token issued to the requester or passed on to it,
//! or another issuer's token by the operator's policy), or a Txn-Token
//! (replacement: `txn`, `sub`, `aud`, `tctx` kept, `scope` only narrows,
//! `req_wl` gains the requester). The token is a JWT (`typ:
//! txntoken+jwt`) signed with Gatehouse's keys, never longer-lived than the
//! subject, stored by hash as a descendant of the subject's grant: revoking
//! that grant ends it, and the revocation stream names it to every
//! `gatehouse-client`.

use gatehouse_oauth::grant::{ACCESS_TOKEN_TYPE, Exchange, JWT_TOKEN_TYPE, TXN_TOKEN_TYPE, TxnRequest, narrow};
use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{OAuthError, OAuthErrorCode, Scope, ScopeSet, SecretHash};
use serde::{Deserialize, Serialize};

use super::family_id;
use crate::clients::Client;
use crate::error::TokenResult;
use crate::issue::{Family, Minted};
use crate::service::TokenService;
use crate::store::Fence;

/// The JOSE `typ` of a Txn-Token.
pub(crate) const TXN_TOKEN_TYP: &str = "txntoken+jwt";
/// Longest `request_context` / `request_details` accepted.
const MAX_CONTEXT_BYTES: usize = 4096;

/// A Txn-Token's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TxnClaims {
    iss: String,
    iat: i64,
    exp: i64,
    aud: String,
    txn: String,
    sub: String,
    scope: String,
    /// The workloads that requested it, the first one first (space separated).
    req_wl: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tctx: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rctx: Option<serde_json::Value>,
}

fn invalid(reason: &'static str) -> OAuthError {
    OAuthError::invalid_request(reason)
}

/// A `request_context` / `request_details` value: a JSON object, bounded.
fn context(value: Option<&str>, name: &'static str) -> Result<Option<serde_json::Value>, OAuthError> {
    let Some(value) = value else { return Ok(None) };
    if value.len() > MAX_CONTEXT_BYTES {
        return Err(invalid(match name {
            "request_context" => "request_context is longer than 4096 bytes",
            _ => "request_details is longer than 4096 bytes",
        }));
    }
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(object @ serde_json::Value::Object(_)) => Ok(Some(object)),
        _ => Err(invalid(match name {
            "request_context" => "request_context must be a JSON object",
            _ => "request_details must be a JSON object",
        })),
    }
}

impl TokenService {
    pub(crate) async fn transaction_token(
        &self,
        client: &Client,
        exchange: Exchange,
        txn: TxnRequest,
    ) -> TokenResult<Minted> {
        let config = self.config();
        let domain = config.txn_trust_domain.as_str();
        if txn.audiences.len() != 1 || txn.audiences[0] != domain {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                format!("audience must be this trust domain, {domain:?}, alone"),
            )
            .into());
        }
        let Some(requested) = exchange.scope.as_ref() else {
            return Err(invalid("scope is required: the purpose of the transaction").into());
        };
        if exchange.actor_token.is_some() {
            return Err(invalid("a Txn-Token request takes no actor_token").into());
        }
        let rctx = context(txn.request_context.as_deref(), "request_context")?;
        let tctx = context(txn.request_details.as_deref(), "request_details")?;
        let watermark = self.inner.store.revocation_watermark().await?;
        let client_id = client.client_id.as_str().to_owned();
        let now = self.now();
        let (base, family) = if exchange.subject_token_type == TXN_TOKEN_TYPE {
            // Replacement: what stays, from the token being replaced.
            let (previous, record) = self.active_txn_token(&exchange.subject_token).await?;
            if tctx.is_some() {
                return Err(invalid("request_details cannot change a Txn-Token's tctx").into());
            }
            let scopes = ScopeSet::from_scopes(previous.scope.split_ascii_whitespace().filter_map(Scope::parse));
            let scope = narrow(Some(requested), &scopes)?.to_strings().join(" ");
            let rctx = match (previous.rctx.clone(), rctx) {
                (Some(serde_json::Value::Object(mut kept)), Some(serde_json::Value::Object(added))) => {
                    // Values may be added, never changed.
                    for (name, value) in added {
                        kept.entry(name).or_insert(value);
                    }
                    Some(serde_json::Value::Object(kept))
                }
                (kept, added) => kept.or(added),
            };
            let claims = TxnClaims {
                iat: now,
                exp: (now + seconds(config.txn_token_ttl)).min(previous.exp),
                scope,
                req_wl: format!("{} {client_id}", previous.req_wl),
                rctx,
                ..previous
            };
            let family = Family {
                id: family_id(),
                code_id: record.code_id.clone(),
                client_id: client_id.clone(),
                user_id: record.user_id.clone(),
                username: record.username.clone(),
                auth_time: record.auth_time,
                amr: record.amr.clone(),
                resources: Vec::new(),
                audience: Vec::new(),
                binding: crate::dpop::Binding::default(),
                parent: Some(record.parent_family.clone().unwrap_or_else(|| record.family_id.clone())),
                actors: Vec::new(),
                not_after: Some(previous.exp),
            };
            (claims, (family, record.client_id))
        } else {
            if exchange.subject_token_type != ACCESS_TOKEN_TYPE && exchange.subject_token_type != JWT_TOKEN_TYPE {
                return Err(invalid(
                    "subject_token_type must be …:access_token, …:jwt or …:txn_token (never a refresh token)",
                )
                .into());
            }
            let subject = self.subject(client, &exchange.subject_token).await?;
            let scope = narrow(Some(requested), &subject.scopes)?.to_strings().join(" ");
            let sub = if subject.user_id.is_empty() { subject.fence_client.clone() } else { subject.user_id.clone() };
            let claims = TxnClaims {
                iss: config.issuer.clone(),
                iat: now,
                exp: (now + seconds(config.txn_token_ttl)).min(subject.expires_at),
                aud: domain.to_owned(),
                txn: uuid::Uuid::new_v4().to_string(),
                sub,
                scope,
                req_wl: client_id.clone(),
                tctx,
                rctx,
            };
            let family = Family {
                id: family_id(),
                code_id: subject.code_id.clone(),
                client_id: client_id.clone(),
                user_id: subject.user_id.clone(),
                username: subject.username.clone(),
                auth_time: subject.auth_time,
                amr: subject.amr.clone(),
                resources: Vec::new(),
                audience: Vec::new(),
                binding: crate::dpop::Binding::default(),
                parent: subject.parent.clone(),
                actors: Vec::new(),
                not_after: Some(subject.expires_at),
            };
            (claims, (family, subject.fence_client))
        };
        let (family, fence_client) = family;
        // ES256: a Txn-Token is minted per transaction and verified at every
        // hop, and the draft, unlike RFC 9068, asks no particular algorithm.
        let token = self.inner.keys.sign(gatehouse_oauth::SigningAlg::Es256, TXN_TOKEN_TYP, &base)?;
        let scopes: Vec<String> = base.scope.split_ascii_whitespace().map(str::to_owned).collect();
        let ttl = std::time::Duration::from_secs(u64::try_from(base.exp - now).unwrap_or(0));
        let record = self.record(TokenKind::Transaction, &token, &family, &scopes, now, ttl);
        let minted = Minted {
            access_token: gatehouse_oauth::AccessToken::new(token),
            refresh_token: None,
            expires_in: base.exp - now,
            scopes,
            records: vec![record],
            id_token: None,
            dpop: false,
            issued_token_type: Some(TXN_TOKEN_TYPE),
        };
        let fence = Fence { watermark, client_id: fence_client, user_id: family.user_id.clone() };
        let minted = self.store_minted(minted, &family, &fence).await?;
        let details = serde_json::json!({"txn": base.txn, "req_wl": base.req_wl, "scope": base.scope});
        self.audit_issued("token.transaction_token", &family, details).await;
        Ok(minted)
    }

    /// A Txn-Token of this server that is still active, with its claims and record.
    async fn active_txn_token(&self, token: &str) -> TokenResult<(TxnClaims, crate::store::TokenRecord)> {
        let refused = || invalid("subject_token is not an active Txn-Token of this trust domain");
        let claims = self.inner.keys.verify::<TxnClaims>(token).ok_or_else(refused)?;
        let record = self.inner.store.find(SecretHash::of(token).as_str()).await?.ok_or_else(refused)?;
        if record.kind != TokenKind::Transaction || record.revoked || record.expires_at <= self.now() {
            return Err(refused().into());
        }
        Ok((claims, record))
    }
}

fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
