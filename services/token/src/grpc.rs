//! The tonic adapter of the token service.

use gatehouse_proto::pb::token::v1 as pb;
use gatehouse_proto::pb::token::v1::token_service_server::{TokenService as TokenServiceRpc, TokenServiceServer};
use gatehouse_runtime::access::{Caller, Role};
use gatehouse_runtime::audit::{Actor, AuditEvent, Outcome};
use serde_json::json;
use tonic::{Request, Response, Status};

use crate::convert::{
    introspection, params_from_pb, personal_info, personal_secret, presented, signing_algs, signing_keys,
};
use crate::revoke::Subject;
use crate::service::TokenService;

pub(crate) fn server(service: TokenService) -> TokenServiceServer<TokenGrpc> {
    TokenServiceServer::new(TokenGrpc { service })
}

#[derive(Debug)]
pub(crate) struct TokenGrpc {
    service: TokenService,
}

type RpcResult<T> = Result<Response<T>, Status>;

/// The actor of a request: the person the gateway acted for, or the caller.
fn actor<T>(request: &Request<T>, user_id: &str) -> (Actor, String) {
    let caller = Caller::of(request);
    (Actor::user_or_caller(user_id, caller), caller.and_then(|c| c.remote).map(|r| r.to_string()).unwrap_or_default())
}

impl TokenGrpc {
    /// Appends an event to the token service's audit trail (after the change, before the answer).
    async fn audit(
        &self,
        action: &str,
        (actor, source): (Actor, String),
        target: String,
        subject: &str,
        details: serde_json::Value,
    ) {
        let event =
            AuditEvent::new(action, Outcome::Success, actor, target).subject(subject).source(&source).details(details);
        self.service.audit().record(event).await;
    }
}

/// The audiences an internal service (a validator that identified with an
/// access token) may see tokens of; `None` for every other caller.
fn validator_audiences<T>(request: &Request<T>) -> Option<Vec<String>> {
    Caller::of(request).filter(|c| c.role == Role::Validator).and_then(|c| c.audiences.clone())
}

#[tonic::async_trait]
impl TokenServiceRpc for TokenGrpc {
    async fn exchange(&self, request: Request<pb::ExchangeRequest>) -> RpcResult<pb::ExchangeResponse> {
        // An internal service (a validator) mints Txn-Tokens here for the
        // calls it makes; every other grant is the HTTP edge's.
        let internal = Caller::of(&request).is_some_and(|c| c.role == Role::Validator);
        let request = request.into_inner();
        let client = presented(request.client);
        let params = params_from_pb(request.parameters);
        if internal
            && params.single("requested_token_type").ok().flatten() != Some(gatehouse_oauth::grant::TXN_TOKEN_TYPE)
        {
            return Err(Status::permission_denied(
                "an internal service exchanges tokens here only for Txn-Tokens (requested_token_type …:txn_token)",
            ));
        }
        let dpop = request.dpop.as_ref().filter(|proof| !proof.proof.is_empty());
        let result = self.service.exchange(client.as_ref(), &params, dpop).await;
        // Every answer to a DPoP request names the nonce to use next (RFC 9449 §8).
        // Advice for the next request only: tokens already issued are answered
        // even when the cache cannot mint one now.
        let nonce = match dpop {
            Some(_) => self.service.dpop_nonce().await.unwrap_or_else(|error| {
                tracing::warn!(%error, "no DPoP nonce for this answer");
                None
            }),
            None => None,
        };
        match result {
            Ok(minted) => {
                let mut response = pb::ExchangeResponse::from(minted);
                response.dpop_nonce = nonce.unwrap_or_default();
                Ok(Response::new(response))
            }
            Err(error) => {
                let mut status = Status::from(error);
                if let Some(value) = nonce.and_then(|n| tonic::metadata::MetadataValue::try_from(n).ok()) {
                    status.metadata_mut().insert(gatehouse_proto::status::DPOP_NONCE_METADATA, value);
                }
                Err(status)
            }
        }
    }

    async fn introspect(&self, request: Request<pb::IntrospectRequest>) -> RpcResult<pb::IntrospectResponse> {
        let validator = validator_audiences(&request);
        let request = request.into_inner();
        let client = presented(request.client);
        let audience = Some(request.audience.as_str()).filter(|a| !a.is_empty());
        let (scopes, validator) = (&request.required_scopes, validator.as_deref());
        let active = self.service.introspect(&request.token, client.as_ref(), scopes, audience, validator, "").await?;
        Ok(Response::new(introspection(active)))
    }

    async fn batch_introspect(
        &self,
        request: Request<pb::BatchIntrospectRequest>,
    ) -> RpcResult<pb::BatchIntrospectResponse> {
        let validator = validator_audiences(&request);
        let mut results = Vec::new();
        for item in request.into_inner().requests {
            let client = presented(item.client);
            let audience = Some(item.audience.as_str()).filter(|a| !a.is_empty());
            let (scopes, validator) = (&item.required_scopes, validator.as_deref());
            let active =
                self.service.introspect_in_batch(&item.token, client.as_ref(), scopes, audience, validator).await?;
            results.push(introspection(active));
        }
        Ok(Response::new(pb::BatchIntrospectResponse { results }))
    }

    async fn revoke(&self, request: Request<pb::RevokeRequest>) -> RpcResult<pb::RevokeResponse> {
        let request = request.into_inner();
        self.service.revoke(&request.token, presented(request.client).as_ref()).await?;
        Ok(Response::new(pb::RevokeResponse {}))
    }

    async fn authorize_api_call(
        &self,
        request: Request<pb::AuthorizeApiCallRequest>,
    ) -> RpcResult<pb::AuthorizeApiCallResponse> {
        let request = request.into_inner();
        let active = self
            .service
            .authorize_api_call(
                &request.token,
                request.dpop.as_ref(),
                &request.required_scopes,
                request.changes_state,
                &request.client_address,
            )
            .await?;
        Ok(Response::new(pb::AuthorizeApiCallResponse {
            user_id: active.user_id,
            client_id: active.client_id,
            scopes: active.scopes,
        }))
    }

    async fn create_personal_token(
        &self,
        request: Request<pb::CreatePersonalTokenRequest>,
    ) -> RpcResult<pb::PersonalTokenSecret> {
        let who = actor(&request, &request.get_ref().user_id);
        let r = request.into_inner();
        let created =
            self.service.create_personal_token(&r.user_id, &r.username, &r.name, &r.scopes, r.expires_in).await?;
        let details = json!({ "name": r.name, "scopes": r.scopes });
        self.audit("personal_token.created", who, format!("personal_token:{}", created.info.id), &r.user_id, details)
            .await;
        Ok(Response::new(personal_secret(created)))
    }

    async fn list_personal_tokens(
        &self,
        request: Request<pb::ListPersonalTokensRequest>,
    ) -> RpcResult<pb::ListPersonalTokensResponse> {
        let tokens = self.service.list_personal_tokens(&request.into_inner().user_id).await?;
        Ok(Response::new(pb::ListPersonalTokensResponse { tokens: tokens.into_iter().map(personal_info).collect() }))
    }

    async fn regenerate_personal_token(
        &self,
        request: Request<pb::RegeneratePersonalTokenRequest>,
    ) -> RpcResult<pb::PersonalTokenSecret> {
        let who = actor(&request, &request.get_ref().user_id);
        let r = request.into_inner();
        let created = self.service.regenerate_personal_token(&r.user_id, &r.id, r.expires_in).await?;
        self.audit("personal_token.regenerated", who, format!("personal_token:{}", r.id), &r.user_id, json!(null))
            .await;
        Ok(Response::new(personal_secret(created)))
    }

    async fn revoke_personal_tokens(
        &self,
        request: Request<pb::RevokePersonalTokensRequest>,
    ) -> RpcResult<pb::RevokePersonalTokensResponse> {
        let who = actor(&request, &request.get_ref().user_id);
        let r = request.into_inner();
        let id = (!r.id.is_empty()).then_some(r.id.as_str());
        let revoked = self.service.revoke_personal_tokens(&r.user_id, id).await?;
        let target = id.map_or_else(|| format!("user:{}", r.user_id), |id| format!("personal_token:{id}"));
        self.audit("personal_token.revoked", who, target, &r.user_id, json!({ "revoked": revoked })).await;
        Ok(Response::new(pb::RevokePersonalTokensResponse { revoked }))
    }

    async fn revoke_token_by_value(
        &self,
        request: Request<pb::RevokeTokenByValueRequest>,
    ) -> RpcResult<pb::RevokeTokenByValueResponse> {
        let who = actor(&request, "");
        let token = request.into_inner().token;
        let found = self.service.revoke_token_by_value(&token).await?;
        // Not a token of this service: perhaps the registry's.
        if found.is_none()
            && let Some(client_id) = self.service.revoke_registration_token_by_value(&token).await?
        {
            return Ok(Response::new(pb::RevokeTokenByValueResponse {
                found: true,
                token_type: "registration_access_token".to_owned(),
                user_id: String::new(),
                client_id,
                revoked_now: true,
            }));
        }
        if let Some(found) = &found {
            let target = format!(
                "{}:{}",
                found.kind.as_str(),
                if found.client_id.is_empty() { "personal" } else { found.client_id.as_str() }
            );
            let details = json!({ "client_id": found.client_id, "revoked_now": found.newly });
            self.audit("token.revoked_by_value", who, target, &found.user_id, details).await;
        }
        Ok(Response::new(match found {
            Some(found) => pb::RevokeTokenByValueResponse {
                found: true,
                token_type: found.kind.as_str().to_owned(),
                user_id: found.user_id,
                client_id: found.client_id,
                revoked_now: found.newly,
            },
            None => pb::RevokeTokenByValueResponse::default(),
        }))
    }

    type WatchRevocationsStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::RevocationEvents, Status>> + Send>>;

    async fn watch_revocations(
        &self,
        request: Request<pb::WatchRevocationsRequest>,
    ) -> RpcResult<Self::WatchRevocationsStream> {
        use tokio_stream::StreamExt;
        let batches = self.service.inner.feed.watch(request.into_inner().after).await?;
        let stream = tokio_stream::wrappers::ReceiverStream::new(batches)
            .map(|batch| batch.map(crate::convert::revocation_events).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_jwks(&self, _: Request<pb::GetJwksRequest>) -> RpcResult<pb::GetJwksResponse> {
        Ok(Response::new(pb::GetJwksResponse {
            jwks: self.service.inner.keys.jwks().to_string(),
            max_age: i64::try_from(crate::keys::JWKS_MAX_AGE.as_secs()).unwrap_or(0),
            issuer: self.service.config().issuer.clone(),
        }))
    }

    async fn user_info(&self, request: Request<pb::UserInfoRequest>) -> RpcResult<pb::UserInfoResponse> {
        let request = request.into_inner();
        let claims = self.service.user_info(&request.token, request.dpop.as_ref()).await?;
        Ok(Response::new(claims.into()))
    }

    async fn verify_id_token_hint(
        &self,
        request: Request<pb::VerifyIdTokenHintRequest>,
    ) -> RpcResult<pb::VerifyIdTokenHintResponse> {
        let (sub, client_id) = self.service.id_token_hint(&request.into_inner().id_token_hint)?;
        Ok(Response::new(pb::VerifyIdTokenHintResponse { sub, client_id }))
    }

    async fn list_signing_keys(
        &self,
        _: Request<pb::ListSigningKeysRequest>,
    ) -> RpcResult<pb::ListSigningKeysResponse> {
        Ok(Response::new(signing_keys(self.service.inner.keys.list().await?)))
    }

    async fn rotate_signing_keys(
        &self,
        request: Request<pb::RotateSigningKeysRequest>,
    ) -> RpcResult<pb::ListSigningKeysResponse> {
        let who = actor(&request, "");
        let request = request.into_inner();
        let algs = signing_algs(&request.algs)?;
        self.service.inner.keys.rotate(&algs, self.service.now(), request.force).await?;
        let details = json!({ "algs": request.algs, "force": request.force });
        self.audit("key.rotated", who, "signing_keys".to_owned(), "", details).await;
        Ok(Response::new(signing_keys(self.service.inner.keys.list().await?)))
    }

    async fn retire_signing_key(
        &self,
        request: Request<pb::RetireSigningKeyRequest>,
    ) -> RpcResult<pb::ListSigningKeysResponse> {
        let who = actor(&request, "");
        let request = request.into_inner();
        self.service.inner.keys.retire(&request.kid, self.service.now(), request.force).await?;
        self.audit("key.retired", who, format!("signing_key:{}", request.kid), "", json!({ "force": request.force }))
            .await;
        Ok(Response::new(signing_keys(self.service.inner.keys.list().await?)))
    }

    async fn revoke_all_for_grant(
        &self,
        request: Request<pb::RevokeAllForGrantRequest>,
    ) -> RpcResult<pb::RevokeAllForGrantResponse> {
        let who = actor(&request, "");
        let request = request.into_inner();
        let subject = Subject::Grant { user_id: &request.user_id, client_id: &request.client_id };
        let revoked = self.service.revoke_subject(subject).await?;
        let target = format!("grant:{}:{}", request.user_id, request.client_id);
        self.audit("tokens.revoked", who, target, &request.user_id, json!({ "revoked": revoked })).await;
        Ok(Response::new(pb::RevokeAllForGrantResponse { revoked }))
    }

    async fn ssf(&self, request: Request<pb::SsfRequest>) -> RpcResult<pb::SsfResponse> {
        Ok(Response::new(self.service.ssf(request.into_inner()).await?))
    }

    async fn list_audit_events(
        &self,
        request: Request<gatehouse_proto::pb::common::v1::ListAuditEventsRequest>,
    ) -> RpcResult<gatehouse_proto::pb::common::v1::ListAuditEventsResponse> {
        let caller = Caller::of(&request).cloned();
        let answer =
            gatehouse_runtime::audit::list_rpc(self.service.audit(), caller.as_ref(), request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn verify_audit_chain(
        &self,
        _request: Request<gatehouse_proto::pb::common::v1::VerifyAuditChainRequest>,
    ) -> RpcResult<gatehouse_proto::pb::common::v1::VerifyAuditChainResponse> {
        Ok(Response::new(gatehouse_runtime::audit::verify_rpc(self.service.audit()).await?))
    }

    async fn revoke_all_for_subject(
        &self,
        request: Request<pb::RevokeAllForSubjectRequest>,
    ) -> RpcResult<pb::RevokeAllForSubjectResponse> {
        use pb::revoke_all_for_subject_request::Subject as Wire;
        let request = request.into_inner();
        let subject = match &request.subject {
            Some(Wire::Grant(grant)) if !grant.user_id.is_empty() && !grant.client_id.is_empty() => {
                Subject::Grant { user_id: &grant.user_id, client_id: &grant.client_id }
            }
            Some(Wire::ClientId(id)) if !id.is_empty() => Subject::Client(id),
            Some(Wire::UserId(id)) if !id.is_empty() => Subject::User(id),
            Some(Wire::UserSignedOut(id)) if !id.is_empty() => Subject::UserTokens(id),
            _ => {
                return Err(Status::invalid_argument(
                    "set grant (user_id and client_id), client_id, user_id or user_signed_out",
                ));
            }
        };
        let revoked = self.service.revoke_subject(subject).await?;
        Ok(Response::new(pb::RevokeAllForSubjectResponse { revoked }))
    }
}
