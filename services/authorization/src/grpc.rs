//! The tonic adapter of the authorization service.

use gatehouse_oauth::{AuthorizationCode, ClientAuthMethod, ClientAuthentication, CodeVerifier};
use gatehouse_proto::convert::params_from_pb;
use gatehouse_proto::pb::authorization::v1 as pb;
use gatehouse_proto::pb::authorization::v1::authorization_service_server::{
    AuthorizationService, AuthorizationServiceServer,
};
use gatehouse_runtime::audit::{Actor, AuditEvent, Outcome};
use serde_json::json;
use tonic::{Request, Response, Status};

use crate::convert::{descriptions, given, summary};
use crate::service::Authorization;

pub(crate) fn server(service: Authorization) -> AuthorizationServiceServer<AuthorizationGrpc> {
    AuthorizationServiceServer::new(AuthorizationGrpc { service })
}

#[derive(Debug)]
pub(crate) struct AuthorizationGrpc {
    service: Authorization,
}

type RpcResult<T> = Result<Response<T>, Status>;

impl AuthorizationGrpc {
    /// Records a session opened by a second step or a passkey.
    async fn record_signed_in(
        &self,
        outcome: &Result<crate::session::NewSession, crate::error::AuthzError>,
        via: &str,
        address: &str,
    ) {
        if let Ok(session) = outcome {
            let user = &session.record.user.id;
            let event =
                AuditEvent::new("signin.succeeded", Outcome::Success, Actor::user(user, via), format!("user:{user}"))
                    .subject(user)
                    .source(address);
            self.service.audit().record(event.details(json!({ "amr": session.record.amr }))).await;
        }
    }

    fn login_response(&self, session: crate::session::NewSession) -> pb::LoginResponse {
        pb::LoginResponse {
            session_token: session.token.into_exposed(),
            csrf_token: session.record.csrf_token,
            expires_at: session.record.expires_at,
            expires_in: i64::try_from(self.service.config().session_ttl.as_secs()).unwrap_or(i64::MAX),
            user: Some(session.record.user.into()),
            second_step_token: String::new(),
        }
    }
}

#[tonic::async_trait]
impl AuthorizationService for AuthorizationGrpc {
    async fn login(&self, request: Request<pb::LoginRequest>) -> RpcResult<pb::LoginResponse> {
        use crate::session::SignedIn;
        let request = request.into_inner();
        let password = gatehouse_oauth::Password::new(request.password);
        let origin = crate::session::Origin { address: &request.client_address, user_agent: &request.user_agent };
        let signed_in = self.service.login(&request.username, &password, &origin).await;
        let (action, outcome, actor, target, subject, details) = match &signed_in {
            Ok(signed_in) => {
                let (user, action) = match signed_in {
                    SignedIn::Session(session) => (&session.record.user.id, "signin.succeeded"),
                    SignedIn::SecondStep { user, .. } => (&user.id, "signin.second_step"),
                };
                let target = format!("user:{user}");
                (action, Outcome::Success, Actor::user(user, "password"), target, user.clone(), json!(null))
            }
            Err(error) => {
                let actor = Actor { kind: "anonymous".to_owned(), id: String::new(), via: "password".to_owned() };
                let reason = error.to_string();
                let target = format!("username:{}", request.username);
                ("signin.failed", Outcome::Failure, actor, target, String::new(), json!({ "reason": reason }))
            }
        };
        let event = AuditEvent::new(action, outcome, actor, target).subject(&subject).source(&request.client_address);
        self.service.audit().record(event.details(details)).await;
        match signed_in? {
            SignedIn::Session(session) => Ok(Response::new(self.login_response(session))),
            SignedIn::SecondStep { token, user } => Ok(Response::new(pb::LoginResponse {
                second_step_token: token.into_exposed(),
                user: Some(user.into()),
                ..pb::LoginResponse::default()
            })),
        }
    }

    async fn complete_login(&self, request: Request<pb::CompleteLoginRequest>) -> RpcResult<pb::LoginResponse> {
        let request = request.into_inner();
        let origin = crate::session::Origin { address: &request.client_address, user_agent: &request.user_agent };
        let proof = if request.passkey_ceremony.is_empty() {
            crate::session::SecondStepProof::Code(&request.code)
        } else {
            crate::session::SecondStepProof::Passkey {
                ceremony: &request.passkey_ceremony,
                credential_json: &request.passkey_credential_json,
            }
        };
        let completed = self.service.complete_login(&request.second_step_token, proof, &origin).await;
        // The registry records each code it checks; this records the session it opened.
        self.record_signed_in(&completed, "second_factor", &request.client_address).await;
        Ok(Response::new(self.login_response(completed?)))
    }

    async fn login_with_passkey(&self, request: Request<pb::LoginWithPasskeyRequest>) -> RpcResult<pb::LoginResponse> {
        let request = request.into_inner();
        let origin = crate::session::Origin { address: &request.client_address, user_agent: &request.user_agent };
        let signed_in = self.service.login_with_passkey(&request.ceremony, &request.credential_json, &origin).await;
        // The registry records each assertion it checks; this records the session it opened.
        self.record_signed_in(&signed_in, "passkey", &request.client_address).await;
        Ok(Response::new(self.login_response(signed_in?)))
    }

    async fn list_sessions(&self, request: Request<pb::ListSessionsRequest>) -> RpcResult<pb::ListSessionsResponse> {
        let request = request.into_inner();
        let sessions = self.service.list_sessions(&request.user_id, &request.current_session_token).await?;
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: sessions
                .into_iter()
                .map(|(row, current)| pb::SessionInfo {
                    id: row.id,
                    created_at: row.created_at,
                    last_seen_at: row.last_seen_at,
                    expires_at: row.expires_at,
                    address: row.address,
                    user_agent: row.user_agent,
                    amr: row.amr,
                    current,
                })
                .collect(),
        }))
    }

    async fn sign_out_sessions(
        &self,
        request: Request<pb::SignOutSessionsRequest>,
    ) -> RpcResult<pb::SignOutSessionsResponse> {
        use pb::sign_out_sessions_request::Which;
        let request = request.into_inner();
        let user = request.user_id.clone();
        let (signed_out, details) = match request.which {
            Some(Which::SessionId(id)) => {
                (self.service.sign_out_session(&user, &id).await?, json!({ "session_id": id }))
            }
            Some(Which::AllButSessionToken(token)) => {
                (self.service.sign_out_other_sessions(&user, &token).await?, json!({ "all_others": true }))
            }
            None => {
                return Err(
                    crate::error::AuthzError::invalid("which", "name a session, or all but the current one").into()
                );
            }
        };
        let event = AuditEvent::new(
            "sessions.signed_out",
            Outcome::Success,
            Actor::user(&user, "session"),
            format!("user:{user}"),
        )
        .subject(&user)
        .details(json!({ "count": signed_out, "which": details }));
        self.service.audit().record(event).await;
        Ok(Response::new(pb::SignOutSessionsResponse { signed_out }))
    }

    async fn get_session(&self, request: Request<pb::GetSessionRequest>) -> RpcResult<pb::GetSessionResponse> {
        let session = self.service.require_session(&request.into_inner().session_token).await?;
        Ok(Response::new(pb::GetSessionResponse {
            csrf_token: session.csrf_token,
            expires_at: session.expires_at,
            user: Some(session.user.into()),
            signed_in_seconds_ago: (self.service.now() - session.auth_time).max(0),
            auth_time: session.auth_time,
            amr: session.amr,
        }))
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> RpcResult<pb::LogoutResponse> {
        let token = request.into_inner().session_token;
        let user = self.service.require_session(&token).await.ok().map(|session| session.user.id);
        self.service.logout(&token).await?;
        if let Some(user) = user {
            let event =
                AuditEvent::new("signout", Outcome::Success, Actor::user(&user, "session"), format!("user:{user}"));
            self.service.audit().record(event.subject(&user)).await;
        }
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn end_session(&self, request: Request<pb::EndSessionRequest>) -> RpcResult<pb::EndSessionResponse> {
        use crate::end_session::{EndSession, Ended};
        use pb::end_session_response::Outcome;
        let request = request.into_inner();
        let hint = given(request.hinted_subject).zip(given(request.hinted_client_id));
        let signed_in = self.service.require_session(&request.session_token).await.ok().map(|session| session.user.id);
        let ended = self
            .service
            .end_session(EndSession {
                session_token: gatehouse_oauth::SessionToken::new(request.session_token),
                hint,
                client_id: given(request.client_id),
                post_logout_redirect_uri: given(request.post_logout_redirect_uri),
                state: given(request.state),
                confirmed: request.confirmed,
            })
            .await?;
        // RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) signed the person out.
        if let Some(user) = signed_in.filter(|_| !matches!(ended, Ended::Confirm(_))) {
            let event = AuditEvent::new(
                "signout",
                gatehouse_runtime::audit::Outcome::Success,
                Actor::user(&user, "session"),
                format!("user:{user}"),
            );
            self.service.audit().record(event.subject(&user).details(json!({ "via": "end_session" }))).await;
        }
        let outcome = match ended {
            Ended::Redirect(uri) => Outcome::RedirectUri(uri),
            Ended::SignedOut => Outcome::SignedOut(pb::SignedOut {}),
            Ended::Confirm(app) => {
                Outcome::Confirm(pb::ConfirmLogout { application: app.map(|app| crate::convert::summary(*app)) })
            }
        };
        Ok(Response::new(pb::EndSessionResponse { outcome: Some(outcome) }))
    }

    async fn begin_authorization(
        &self,
        request: Request<pb::BeginAuthorizationRequest>,
    ) -> RpcResult<pb::BeginAuthorizationResponse> {
        let request = request.into_inner();
        let params = params_from_pb(request.parameters);
        let begin = self
            .service
            .begin_authorization(params, &request.session_token, request.seed_url, &request.client_address)
            .await?;
        Ok(Response::new(begin.into()))
    }

    async fn decide(&self, request: Request<pb::DecideRequest>) -> RpcResult<pb::DecideResponse> {
        let request = request.into_inner();
        let response = self.service.decide(&request.session_token, &request.request_id, request.approve).await?;
        let (redirect_uri, form_post) = crate::convert::client_response(response);
        Ok(Response::new(pb::DecideResponse { redirect_uri, form_post }))
    }

    async fn redeem_code(&self, request: Request<pb::RedeemCodeRequest>) -> RpcResult<pb::RedeemCodeResponse> {
        let request = request.into_inner();
        let code = AuthorizationCode::new(request.code);
        let verifier = given(request.code_verifier).map(CodeVerifier::new);
        let redirect_uri = given(request.redirect_uri);
        let dpop_jkt = given(request.dpop_jkt);
        let (client_id, redirect_uri, jkt) = (&request.client_id, redirect_uri.as_deref(), dpop_jkt.as_deref());
        let redeemed = self.service.redeem_code(&code, client_id, redirect_uri, verifier.as_ref(), jkt).await?;
        Ok(Response::new(redeemed.into()))
    }

    async fn list_audit_events(
        &self,
        request: Request<gatehouse_proto::pb::common::v1::ListAuditEventsRequest>,
    ) -> RpcResult<gatehouse_proto::pb::common::v1::ListAuditEventsResponse> {
        let caller = gatehouse_runtime::access::Caller::of(&request).cloned();
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

    async fn restore_code(&self, request: Request<pb::RestoreCodeRequest>) -> RpcResult<pb::RestoreCodeResponse> {
        let request = request.into_inner();
        let restored = self.service.restore_code(&AuthorizationCode::new(request.code), &request.client_id).await?;
        Ok(Response::new(pb::RestoreCodeResponse { restored }))
    }

    async fn list_grants(&self, request: Request<pb::ListGrantsRequest>) -> RpcResult<pb::ListGrantsResponse> {
        let grants = self.service.list_grants(&request.into_inner().user_id).await?;
        let grants = grants
            .into_iter()
            .map(|(grant, application)| pb::Grant {
                application: Some(summary(application)),
                scopes: grant.scopes.to_strings(),
                created_at: grant.created_at,
                last_used_at: grant.last_used_at.unwrap_or(0),
            })
            .collect();
        Ok(Response::new(pb::ListGrantsResponse { grants }))
    }

    async fn revoke_grant(&self, request: Request<pb::RevokeGrantRequest>) -> RpcResult<pb::RevokeGrantResponse> {
        let request = request.into_inner();
        self.service.revoke_grant(&request.user_id, &request.client_id).await?;
        Ok(Response::new(pb::RevokeGrantResponse {}))
    }

    async fn push_authorization_request(
        &self,
        request: Request<pb::PushAuthorizationRequestRequest>,
    ) -> RpcResult<pb::PushAuthorizationRequestResponse> {
        let request = request.into_inner();
        let client = request.client.ok_or_else(|| Status::invalid_argument("client is required"))?;
        let (auth, address) = gatehouse_proto::convert::client_credentials_from_pb(client);
        let params = params_from_pb(request.parameters);
        let pushed = self.service.push_authorization_request(&auth, &address, params, request.dpop.as_ref()).await?;
        Ok(Response::new(pb::PushAuthorizationRequestResponse {
            request_uri: pushed.request_uri,
            expires_in: pushed.expires_in,
        }))
    }

    async fn start_device_authorization(
        &self,
        request: Request<pb::StartDeviceAuthorizationRequest>,
    ) -> RpcResult<pb::StartDeviceAuthorizationResponse> {
        let request = request.into_inner();
        let method =
            if request.client_secret.is_empty() { ClientAuthMethod::None } else { ClientAuthMethod::ClientSecretPost };
        let auth = ClientAuthentication {
            client_id: request.client_id,
            secret: gatehouse_oauth::ClientSecret::new(request.client_secret),
            method,
        };
        let params = params_from_pb(request.parameters);
        let started = self.service.start_device_authorization(&auth, &request.client_address, &params).await?;
        Ok(Response::new(pb::StartDeviceAuthorizationResponse {
            device_code: started.device_code.into_exposed(),
            user_code: started.user_code.display(),
            verification_uri: started.verification_uri,
            verification_uri_complete: started.verification_uri_complete,
            expires_in: started.expires_in,
            interval: started.interval,
        }))
    }

    async fn lookup_user_code(
        &self,
        request: Request<pb::LookupUserCodeRequest>,
    ) -> RpcResult<pb::LookupUserCodeResponse> {
        let request = request.into_inner();
        let found =
            self.service.lookup_user_code(&request.session_token, &request.user_code, &request.client_address).await?;
        Ok(Response::new(pb::LookupUserCodeResponse {
            application: Some(summary(found.application)),
            owner: found.owner,
            scopes: descriptions(&found.scopes),
            user_code: found.user_code.display(),
        }))
    }

    async fn decide_device(&self, request: Request<pb::DecideDeviceRequest>) -> RpcResult<pb::DecideDeviceResponse> {
        let request = request.into_inner();
        self.service
            .decide_device(&request.session_token, &request.user_code, &request.client_address, request.approve)
            .await?;
        Ok(Response::new(pb::DecideDeviceResponse {}))
    }

    async fn redeem_device_code(
        &self,
        request: Request<pb::RedeemDeviceCodeRequest>,
    ) -> RpcResult<pb::RedeemDeviceCodeResponse> {
        let request = request.into_inner();
        let code = gatehouse_oauth::DeviceCode::new(request.device_code);
        let redeemed = self.service.redeem_device_code(&code, &request.client_id).await?;
        Ok(Response::new(pb::RedeemDeviceCodeResponse {
            device_id: redeemed.code_id,
            user_id: redeemed.user_id,
            username: redeemed.username,
            scopes: redeemed.scopes,
            auth_time: redeemed.auth_time,
            amr: redeemed.amr,
        }))
    }

    async fn revoke_subject_grants(
        &self,
        request: Request<pb::RevokeSubjectGrantsRequest>,
    ) -> RpcResult<pb::RevokeSubjectGrantsResponse> {
        use pb::revoke_subject_grants_request::Subject;
        let subject = match &request.get_ref().subject {
            Some(Subject::ClientId(id)) if !id.is_empty() => crate::store::GrantSubject::Client(id),
            Some(Subject::UserId(id)) if !id.is_empty() => crate::store::GrantSubject::User(id),
            _ => return Err(crate::error::AuthzError::invalid("subject", "set client_id or user_id").into()),
        };
        let revoked = self.service.revoke_subject_grants(subject).await?;
        Ok(Response::new(pb::RevokeSubjectGrantsResponse { revoked }))
    }
}
