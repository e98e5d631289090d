//! The typed client of the authorization service: sign-in, sessions, the
//! authorization request and its decision, the device flow, grants.

use gatehouse_oauth::Password;
use gatehouse_proto::pb::authorization::v1 as pb;
use gatehouse_proto::pb::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use gatehouse_proto::pb::common::v1::Parameter;
use gatehouse_proto::status::{decode_reason, reason};
use gatehouse_upstream::Upstream;
use tonic::Status;

pub use pb::begin_authorization_response::Outcome as AuthorizationOutcome;
pub use pb::end_session_response::Outcome as EndSessionOutcome;

fn malformed(reason: impl std::fmt::Display) -> Status {
    super::malformed("authorization service", reason)
}

/// An RP-initiated logout request (OpenID Connect RP-Initiated Logout 1.0),
/// after the token service verified its `id_token_hint`.
#[derive(Debug, Clone, Default)]
pub struct EndSession {
    pub session_token: String,
    /// The hint's `sub` and audience; empty without a hint.
    pub hinted_subject: String,
    pub hinted_client_id: String,
    pub client_id: String,
    pub post_logout_redirect_uri: String,
    pub state: String,
    /// The user confirmed on the page.
    pub confirmed: bool,
}

/// Where a request came from and who is asking: the session cookie's token
/// and the client's address (for throttles), as every page call carries them.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub session_token: &'a str,
    pub client_address: &'a str,
}

#[derive(Debug, Clone)]
pub struct AuthorizationClient {
    channel: Upstream,
}

impl AuthorizationClient {
    pub fn new(channel: Upstream) -> Self {
        Self { channel }
    }

    /// The channel this client calls over.
    pub(crate) fn channel(&self) -> &Upstream {
        &self.channel
    }

    fn rpc(&self) -> AuthorizationServiceClient<Upstream> {
        AuthorizationServiceClient::new(self.channel.clone())
    }

    /// Signs in with a password: the new session.
    pub async fn login(
        &self,
        username: &str,
        password: &Password,
        client_address: &str,
        user_agent: &str,
    ) -> Result<pb::LoginResponse, Status> {
        let request = pb::LoginRequest {
            username: username.to_owned(),
            password: password.expose().to_owned(),
            client_address: client_address.to_owned(),
            user_agent: user_agent.to_owned(),
        };
        Ok(self.rpc().login(request).await?.into_inner())
    }

    /// The second step of a sign-in: `second_step_token` from [`Self::login`]
    /// and the code from the person's app (or a recovery code).
    pub async fn complete_login(
        &self,
        second_step_token: &str,
        code: &str,
        client_address: &str,
        user_agent: &str,
    ) -> Result<pb::LoginResponse, Status> {
        let request = pb::CompleteLoginRequest {
            second_step_token: second_step_token.to_owned(),
            code: code.to_owned(),
            client_address: client_address.to_owned(),
            user_agent: user_agent.to_owned(),
            ..Default::default()
        };
        Ok(self.rpc().complete_login(request).await?.into_inner())
    }

    /// The second step of a sign-in with one of the account's passkeys
    /// instead of a code: a ceremony from the registry's `BeginPasskeySignIn`
    /// and the browser's assertion (JSON).
    pub async fn complete_login_with_passkey(
        &self,
        second_step_token: &str,
        ceremony: &str,
        credential_json: &str,
        client_address: &str,
        user_agent: &str,
    ) -> Result<pb::LoginResponse, Status> {
        let request = pb::CompleteLoginRequest {
            second_step_token: second_step_token.to_owned(),
            passkey_ceremony: ceremony.to_owned(),
            passkey_credential_json: credential_json.to_owned(),
            client_address: client_address.to_owned(),
            user_agent: user_agent.to_owned(),
            ..Default::default()
        };
        Ok(self.rpc().complete_login(request).await?.into_inner())
    }

    /// Signs in with a passkey alone (no password, no second step).
    pub async fn login_with_passkey(
        &self,
        ceremony: &str,
        credential_json: &str,
        client_address: &str,
        user_agent: &str,
    ) -> Result<pb::LoginResponse, Status> {
        let request = pb::LoginWithPasskeyRequest {
            ceremony: ceremony.to_owned(),
            credential_json: credential_json.to_owned(),
            client_address: client_address.to_owned(),
            user_agent: user_agent.to_owned(),
        };
        Ok(self.rpc().login_with_passkey(request).await?.into_inner())
    }

    /// The user's live sessions; the one of `current_session_token` marked.
    pub async fn sessions(&self, user_id: &str, current_session_token: &str) -> Result<Vec<pb::SessionInfo>, Status> {
        let request = pb::ListSessionsRequest {
            user_id: user_id.to_owned(),
            current_session_token: current_session_token.to_owned(),
        };
        Ok(self.rpc().list_sessions(request).await?.into_inner().sessions)
    }

    /// Signs out one of the user's sessions (`Ok(false)`: not theirs, or over).
    pub async fn sign_out_session(&self, user_id: &str, session_id: &str) -> Result<bool, Status> {
        let which = pb::sign_out_sessions_request::Which::SessionId(session_id.to_owned());
        let request = pb::SignOutSessionsRequest { user_id: user_id.to_owned(), which: Some(which) };
        match self.rpc().sign_out_sessions(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
            Err(status) => Err(status),
        }
    }

    /// Signs out every session of the user but the one of `keep_session_token`; how many.
    pub async fn sign_out_other_sessions(&self, user_id: &str, keep_session_token: &str) -> Result<u32, Status> {
        let which = pb::sign_out_sessions_request::Which::AllButSessionToken(keep_session_token.to_owned());
        let request = pb::SignOutSessionsRequest { user_id: user_id.to_owned(), which: Some(which) };
        Ok(self.rpc().sign_out_sessions(request).await?.into_inner().signed_out)
    }

    /// The session behind `session_token`; `None` when there is none (or it ended).
    pub async fn session(&self, session_token: &str) -> Result<Option<pb::GetSessionResponse>, Status> {
        match self.rpc().get_session(pb::GetSessionRequest { session_token: session_token.to_owned() }).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                Ok(answer.user.is_some().then_some(answer))
            }
            Err(status) if decode_reason(&status).is_some_and(|(r, _)| r == reason::NO_SESSION) => Ok(None),
            Err(status) => Err(status),
        }
    }

    pub async fn logout(&self, session_token: &str) -> Result<(), Status> {
        self.rpc().logout(pb::LogoutRequest { session_token: session_token.to_owned() }).await?;
        Ok(())
    }

    pub async fn end_session(&self, end: EndSession) -> Result<EndSessionOutcome, Status> {
        let request = pb::EndSessionRequest {
            session_token: end.session_token,
            hinted_subject: end.hinted_subject,
            hinted_client_id: end.hinted_client_id,
            client_id: end.client_id,
            post_logout_redirect_uri: end.post_logout_redirect_uri,
            state: end.state,
            confirmed: end.confirmed,
        };
        self.rpc().end_session(request).await?.into_inner().outcome.ok_or_else(|| malformed("no outcome"))
    }

    /// An authorization request (RFC 6749 §4.1.1) with its parameters as
    /// sent; `seed_url`: it came to the seed's `/oauth_authorize.html`.
    pub async fn begin_authorization(
        &self,
        caller: Caller<'_>,
        parameters: Vec<Parameter>,
        seed_url: bool,
    ) -> Result<AuthorizationOutcome, Status> {
        let request = pb::BeginAuthorizationRequest {
            parameters,
            session_token: caller.session_token.to_owned(),
            seed_url,
            client_address: caller.client_address.to_owned(),
        };
        self.rpc().begin_authorization(request).await?.into_inner().outcome.ok_or_else(|| malformed("no outcome"))
    }

    /// The user's decision on the consent page.
    pub async fn decide(
        &self,
        session_token: &str,
        request_id: &str,
        approve: bool,
    ) -> Result<pb::DecideResponse, Status> {
        let request =
            pb::DecideRequest { session_token: session_token.to_owned(), request_id: request_id.to_owned(), approve };
        Ok(self.rpc().decide(request).await?.into_inner())
    }

    /// The applications the user authorized.
    pub async fn list_grants(&self, user_id: &str) -> Result<Vec<pb::Grant>, Status> {
        Ok(self.rpc().list_grants(pb::ListGrantsRequest { user_id: user_id.to_owned() }).await?.into_inner().grants)
    }

    /// A device authorization request (RFC 8628 §3.1), the client's
    /// credentials as presented.
    /// Pushes an authorization request (RFC 9126) for the client these credentials authenticate.
    pub async fn push_authorization_request(
        &self,
        client: gatehouse_proto::pb::token::v1::ClientCredentials,
        parameters: Vec<Parameter>,
        dpop: Option<gatehouse_proto::pb::token::v1::DpopProof>,
    ) -> Result<pb::PushAuthorizationRequestResponse, Status> {
        let request = pb::PushAuthorizationRequestRequest { client: Some(client), parameters, dpop };
        Ok(self.rpc().push_authorization_request(request).await?.into_inner())
    }

    pub async fn start_device_authorization(
        &self,
        client_id: &str,
        client_secret: &str,
        client_address: &str,
        parameters: Vec<Parameter>,
    ) -> Result<pb::StartDeviceAuthorizationResponse, Status> {
        let request = pb::StartDeviceAuthorizationRequest {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            client_address: client_address.to_owned(),
            parameters,
        };
        Ok(self.rpc().start_device_authorization(request).await?.into_inner())
    }

    /// What the typed user code asks for, to confirm (RFC 8628 §3.3).
    pub async fn lookup_user_code(
        &self,
        caller: Caller<'_>,
        user_code: &str,
    ) -> Result<pb::LookupUserCodeResponse, Status> {
        let request = pb::LookupUserCodeRequest {
            session_token: caller.session_token.to_owned(),
            user_code: user_code.to_owned(),
            client_address: caller.client_address.to_owned(),
        };
        Ok(self.rpc().lookup_user_code(request).await?.into_inner())
    }

    pub async fn decide_device(&self, caller: Caller<'_>, user_code: &str, approve: bool) -> Result<(), Status> {
        let request = pb::DecideDeviceRequest {
            session_token: caller.session_token.to_owned(),
            user_code: user_code.to_owned(),
            approve,
            client_address: caller.client_address.to_owned(),
        };
        self.rpc().decide_device(request).await?;
        Ok(())
    }

    super::audit_methods!();
}
