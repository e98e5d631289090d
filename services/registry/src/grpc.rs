//! The tonic adapter: wire messages in, use cases called, wire messages out.

use gatehouse_proto::pb::common::v1 as common;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_proto::pb::registry::v1::registry_service_server::{RegistryService, RegistryServiceServer};
use gatehouse_runtime::access::{Caller, Role};
use gatehouse_runtime::audit::{Actor, AuditEvent, Outcome};
use serde_json::json;
use tonic::{Request, Response, Status};

use crate::convert::acting_owner;
use crate::error::RegistryError;
use crate::service::Registry;

pub(crate) fn server(registry: Registry) -> RegistryServiceServer<RegistryGrpc> {
    RegistryServiceServer::new(RegistryGrpc { registry })
}

#[derive(Debug)]
pub(crate) struct RegistryGrpc {
    registry: Registry,
}

type RpcResult<T> = Result<Response<T>, Status>;

/// Who made a request: the person the gateway acted for (`user_id`), or the
/// internal caller itself (an operator, a part); and from where.
fn who<T>(request: &Request<T>, user_id: &str) -> (Actor, String) {
    let caller = Caller::of(request);
    let source = caller.and_then(|c| c.remote).map(|r| r.to_string()).unwrap_or_default();
    (Actor::user_or_caller(user_id, caller), source)
}

/// The administrator the admin console acts for (the guard checked their
/// session), or `None` for any other caller.
fn console_administrator<T>(request: &Request<T>) -> Option<String> {
    Caller::of(request).filter(|caller| caller.role == Role::Console).map(|caller| caller.name.clone())
}

/// An administrator may not take their own account or role away in the
/// console: the last one would lock everybody out, and a slip cannot be
/// undone from the console itself.
fn not_themselves(administrator: Option<&str>, user_id: &str, what: &str) -> Result<(), Status> {
    match administrator {
        Some(admin) if admin == user_id => {
            Err(Status::failed_precondition(format!("an administrator cannot {what} their own account in the console")))
        }
        _ => Ok(()),
    }
}

/// [`who`], from the person's address when the gateway passed it on.
fn who_at<T>(request: &Request<T>, user_id: &str, client_address: &str) -> (Actor, String) {
    let (actor, source) = who(request, user_id);
    (actor, if client_address.is_empty() { source } else { client_address.to_owned() })
}

fn passkey_info(passkey: crate::PasskeyInfo) -> pb::PasskeyInfo {
    pb::PasskeyInfo {
        id: passkey.id,
        name: passkey.name,
        created_at: passkey.created_at,
        last_used_at: passkey.last_used_at.unwrap_or(0),
    }
}

impl RegistryGrpc {
    /// Records a change made after the password was asked again: the
    /// change when it was made, a failure when the password was wrong.
    async fn record_reauthentication<T>(
        &self,
        outcome: &Result<T, RegistryError>,
        action: &str,
        who: (Actor, String),
        user_id: &str,
    ) {
        let target = format!("user:{user_id}");
        match outcome {
            Ok(_) => self.record(action, who, target, user_id, json!(null)).await,
            Err(RegistryError::Invalid { field: "password", .. }) => {
                let event = AuditEvent::new("reauthentication.failed", Outcome::Failure, who.0, target)
                    .subject(user_id)
                    .source(&who.1);
                self.registry.audit().record(event.details(json!({ "for": action }))).await;
            }
            Err(_) => {}
        }
    }

    /// Appends an event to the registry's audit trail (after the change, before the answer).
    async fn record(
        &self,
        action: &str,
        (actor, source): (Actor, String),
        target: String,
        subject: &str,
        details: serde_json::Value,
    ) {
        let event = AuditEvent::new(action, Outcome::Success, actor, target).subject(subject).source(&source);
        self.registry.audit().record(event.details(details)).await;
    }
}

#[tonic::async_trait]
impl RegistryService for RegistryGrpc {
    async fn create_user(&self, request: Request<pb::CreateUserRequest>) -> RpcResult<pb::CreateUserResponse> {
        let who = who(&request, "");
        // Through the gateway this is a sign-up, held to the sign-up policy; an operator's creation is not.
        let signup = Caller::of(&request).is_some_and(|caller| caller.role == gatehouse_runtime::access::Role::Gateway);
        let input: crate::model::NewUser = request.into_inner().into();
        let invited = !input.invitation.is_empty();
        let created = self.registry.create_user(input, signup).await;
        let user = match created {
            Ok(user) => user,
            Err(error) => {
                if signup
                    && matches!(
                        error,
                        RegistryError::PermissionDenied(_)
                            | RegistryError::Invalid { field: "invitation" | "email", .. }
                    )
                {
                    let event = AuditEvent::new("signup.refused", Outcome::Refused, who.0, "user".to_owned())
                        .source(&who.1)
                        .details(json!({ "policy": self.registry.signup_policy(), "reason": error.to_string() }));
                    self.registry.audit().record(event).await;
                }
                return Err(error.into());
            }
        };
        let via = match (signup, invited) {
            (false, _) => "operator",
            (true, false) => "signup",
            (true, true) => "invitation",
        };
        // A sign-up's actor is the new account itself.
        let who = if signup { (Actor::user(&user.id, via), who.1) } else { who };
        self.record("user.created", who, format!("user:{}", user.id), &user.id, json!({ "via": via })).await;
        Ok(Response::new(pb::CreateUserResponse { user: Some(user.into()) }))
    }

    async fn create_invitation(
        &self,
        request: Request<pb::CreateInvitationRequest>,
    ) -> RpcResult<pb::CreateInvitationResponse> {
        let who = who(&request, "");
        let request = request.into_inner();
        let (token, expires_at) = self.registry.create_invitation(&request.email, request.valid_days).await?;
        let details = json!({ "email": request.email, "expires_at": expires_at });
        self.record("invitation.created", who, "invitation".to_owned(), "", details).await;
        let link = format!("{}/signup?invitation={token}", self.registry.issuer());
        Ok(Response::new(pb::CreateInvitationResponse { token, link, expires_at }))
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> RpcResult<pb::GetUserResponse> {
        let request = request.into_inner();
        let user = match request.lookup {
            Some(pb::get_user_request::Lookup::Id(id)) => self.registry.get_user_by_id(&id).await?,
            Some(pb::get_user_request::Lookup::Username(name)) => self.registry.get_user_by_username(&name).await?,
            None => return Err(RegistryError::invalid("lookup", "set id or username").into()),
        };
        let user = match request.visible_to_scopes {
            Some(scopes) => user.visible_to(&scopes.values),
            None => user,
        };
        Ok(Response::new(pb::GetUserResponse { user: Some(user.into()) }))
    }

    async fn revoke_authorization(
        &self,
        request: Request<pb::RevokeAuthorizationRequest>,
    ) -> RpcResult<pb::RevokeAuthorizationResponse> {
        let who = who(&request, &request.get_ref().user_id);
        let request = request.into_inner();
        if request.user_id.is_empty() || request.client_id.is_empty() {
            return Err(RegistryError::invalid("user_id", "set user_id and client_id").into());
        }
        let tokens_revoked = self.registry.revoke_authorization(&request.user_id, &request.client_id).await?;
        let target = format!("application:{}", request.client_id);
        self.record("consent.revoked", who, target, &request.user_id, json!(null)).await;
        Ok(Response::new(pb::RevokeAuthorizationResponse { tokens_revoked }))
    }

    async fn delete_user(&self, request: Request<pb::DeleteUserRequest>) -> RpcResult<pb::DeleteUserResponse> {
        let user_id = request.get_ref().user_id.clone();
        let who = who(&request, &user_id);
        not_themselves(console_administrator(&request).as_deref(), &user_id, "delete")?;
        self.registry.delete_user(&user_id).await?;
        self.record("user.deleted", who, format!("user:{user_id}"), &user_id, json!(null)).await;
        Ok(Response::new(pb::DeleteUserResponse {}))
    }

    async fn verify_password(
        &self,
        request: Request<pb::VerifyPasswordRequest>,
    ) -> RpcResult<pb::VerifyPasswordResponse> {
        let caller = gatehouse_runtime::access::Caller::of(&request).map(|c| c.describe()).unwrap_or_default();
        let request = request.into_inner();
        let user = self.registry.verify_password(&request.username, request.password, &caller).await?;
        let second_factor = match &user {
            Some(user) => self.registry.second_factors(&user.id).await?.totp,
            None => false,
        };
        Ok(Response::new(pb::VerifyPasswordResponse {
            verified: user.is_some(),
            user: user.map(common::User::from),
            second_factor,
        }))
    }

    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> RpcResult<pb::RequestPasswordResetResponse> {
        let request = request.into_inner();
        self.registry.request_password_reset(&request.login, &request.client_address).await?;
        Ok(Response::new(pb::RequestPasswordResetResponse {}))
    }

    async fn reset_password(&self, request: Request<pb::ResetPasswordRequest>) -> RpcResult<pb::ResetPasswordResponse> {
        let request = request.into_inner();
        let new = gatehouse_oauth::Password::new(request.new_password);
        let user = self.registry.reset_password(&request.token, new).await?;
        let by_mail = (Actor::user(&user.id, "mail"), request.client_address);
        self.record("user.password_reset", by_mail, format!("user:{}", user.id), &user.id, json!(null)).await;
        Ok(Response::new(pb::ResetPasswordResponse {}))
    }

    async fn send_email_verification(
        &self,
        request: Request<pb::SendEmailVerificationRequest>,
    ) -> RpcResult<pb::SendEmailVerificationResponse> {
        let who = who_at(&request, &request.get_ref().user_id, &request.get_ref().client_address);
        let request = request.into_inner();
        self.registry.send_email_verification(&request.user_id).await?;
        let target = format!("user:{}", request.user_id);
        self.record("email.verification_sent", who, target, &request.user_id, json!(null)).await;
        Ok(Response::new(pb::SendEmailVerificationResponse {}))
    }

    async fn verify_email(&self, request: Request<pb::VerifyEmailRequest>) -> RpcResult<pb::VerifyEmailResponse> {
        let request = request.into_inner();
        let used = self.registry.verify_email(&request.token).await?;
        let user = used.user;
        let by_mail = (Actor::user(&user.id, "mail"), request.client_address);
        self.record("email.verified", by_mail, format!("user:{}", user.id), &user.id, json!(null)).await;
        Ok(Response::new(pb::VerifyEmailResponse { user: Some(user.into()) }))
    }

    async fn get_second_factors(
        &self,
        request: Request<pb::GetSecondFactorsRequest>,
    ) -> RpcResult<pb::GetSecondFactorsResponse> {
        let user_id = &request.get_ref().user_id;
        let factors = self.registry.second_factors(user_id).await?;
        let passkeys = self.registry.passkeys(user_id).await?;
        Ok(Response::new(pb::GetSecondFactorsResponse {
            totp: factors.totp,
            totp_pending: factors.totp_pending,
            recovery_codes_left: u32::try_from(factors.recovery_codes_left).unwrap_or(u32::MAX),
            passkeys: passkeys.into_iter().map(passkey_info).collect(),
            passkeys_enabled: self.registry.passkeys_enabled(),
        }))
    }

    async fn begin_passkey_registration(
        &self,
        request: Request<pb::BeginPasskeyRegistrationRequest>,
    ) -> RpcResult<pb::PasskeyCeremony> {
        let request = request.into_inner();
        let ceremony = self.registry.begin_passkey_registration(&request.user_id, &request.name).await?;
        Ok(Response::new(pb::PasskeyCeremony { options_json: ceremony.options_json, ceremony: ceremony.ceremony }))
    }

    async fn finish_passkey_registration(
        &self,
        request: Request<pb::FinishPasskeyRegistrationRequest>,
    ) -> RpcResult<pb::FinishPasskeyRegistrationResponse> {
        let who = who_at(&request, &request.get_ref().user_id, &request.get_ref().client_address);
        let request = request.into_inner();
        let passkey = self
            .registry
            .finish_passkey_registration(&request.user_id, &request.ceremony, &request.credential_json)
            .await?;
        let target = format!("user:{}", request.user_id);
        let details = json!({ "passkey_id": passkey.id, "name": passkey.name });
        self.record("passkey.added", who, target, &request.user_id, details).await;
        Ok(Response::new(pb::FinishPasskeyRegistrationResponse { passkey: Some(passkey_info(passkey)) }))
    }

    async fn delete_passkey(&self, request: Request<pb::DeletePasskeyRequest>) -> RpcResult<pb::DeletePasskeyResponse> {
        let who = who_at(&request, &request.get_ref().user_id, &request.get_ref().client_address);
        let request = request.into_inner();
        let passkey = self.registry.delete_passkey(&request.user_id, &request.passkey_id).await?;
        let target = format!("user:{}", request.user_id);
        let details = json!({ "passkey_id": passkey.id, "name": passkey.name });
        self.record("passkey.removed", who, target, &request.user_id, details).await;
        Ok(Response::new(pb::DeletePasskeyResponse {}))
    }

    async fn begin_passkey_sign_in(
        &self,
        request: Request<pb::BeginPasskeySignInRequest>,
    ) -> RpcResult<pb::PasskeyCeremony> {
        let (_, source) = who_at(&request, "", &request.get_ref().client_address);
        let ceremony = self.registry.begin_passkey_sign_in(&source).await?;
        Ok(Response::new(pb::PasskeyCeremony { options_json: ceremony.options_json, ceremony: ceremony.ceremony }))
    }

    async fn verify_passkey(&self, request: Request<pb::VerifyPasskeyRequest>) -> RpcResult<pb::VerifyPasskeyResponse> {
        let expected = request.get_ref().expected_user_id.clone();
        let (_, source) = who_at(&request, &expected, &request.get_ref().client_address);
        let (actor, _) = who(&request, &expected);
        let request = request.into_inner();
        let expected = (!expected.is_empty()).then_some(expected.as_str());
        let verified = self.registry.verify_passkey(&request.ceremony, &request.credential_json, expected).await?;
        match &verified {
            Some((user, passkey)) => {
                let details = json!({ "method": "passkey", "passkey_id": passkey.id });
                let target = format!("user:{}", user.id);
                self.record(
                    "passkey.verified",
                    (Actor::user_or_caller(&user.id, None), source),
                    target,
                    &user.id,
                    details,
                )
                .await;
            }
            None => {
                let target = expected.map(|user| format!("user:{user}")).unwrap_or_else(|| "passkey".to_owned());
                let mut event = AuditEvent::new("passkey.failed", Outcome::Failure, actor, target).source(&source);
                if let Some(user) = expected {
                    event = event.subject(user);
                }
                self.registry.audit().record(event.details(json!({ "reason": "assertion refused" }))).await;
            }
        }
        Ok(Response::new(match verified {
            Some((user, passkey)) => pb::VerifyPasskeyResponse {
                verified: true,
                user: Some(common::User::from(user)),
                passkey_id: passkey.id,
            },
            None => pb::VerifyPasskeyResponse::default(),
        }))
    }

    async fn begin_totp(&self, request: Request<pb::BeginTotpRequest>) -> RpcResult<pb::BeginTotpResponse> {
        let caller = Caller::of(&request).map(|c| c.describe()).unwrap_or_default();
        let who = who_at(&request, &request.get_ref().user_id, &request.get_ref().client_address);
        let request = request.into_inner();
        let begun = self.registry.begin_totp(&request.user_id, request.password, &caller).await;
        self.record_reauthentication(&begun, "totp.enrolment_started", who, &request.user_id).await;
        let enrolment = begun?;
        Ok(Response::new(pb::BeginTotpResponse {
            secret: enrolment.secret_base32,
            provisioning_uri: enrolment.provisioning_uri,
        }))
    }

    async fn confirm_totp(&self, request: Request<pb::ConfirmTotpRequest>) -> RpcResult<pb::ConfirmTotpResponse> {
        let who = who_at(&request, &request.get_ref().user_id, &request.get_ref().client_address);
        let request = request.into_inner();
        let codes = self.registry.confirm_totp(&request.user_id, &request.code).await?;
        let target = format!("user:{}", request.user_id);
        self.record("totp.enabled", who, target, &request.user_id, json!(null)).await;
        Ok(Response::new(pb::ConfirmTotpResponse { recovery_codes: codes }))
    }

    async fn disable_totp(&self, request: Request<pb::DisableTotpRequest>) -> RpcResult<pb::DisableTotpResponse> {
        let caller = Caller::of(&request).map(|c| c.describe()).unwrap_or_default();
        let who = who_at(&request, &request.get_ref().user_id, &request.get_ref().client_address);
        let request = request.into_inner();
        let disabled = self.registry.disable_totp(&request.user_id, request.password, &caller).await;
        self.record_reauthentication(&disabled, "totp.disabled", who, &request.user_id).await;
        disabled?;
        Ok(Response::new(pb::DisableTotpResponse {}))
    }

    async fn regenerate_recovery_codes(
        &self,
        request: Request<pb::RegenerateRecoveryCodesRequest>,
    ) -> RpcResult<pb::RegenerateRecoveryCodesResponse> {
        let caller = Caller::of(&request).map(|c| c.describe()).unwrap_or_default();
        let who = who_at(&request, &request.get_ref().user_id, &request.get_ref().client_address);
        let request = request.into_inner();
        let made = self.registry.regenerate_recovery_codes(&request.user_id, request.password, &caller).await;
        self.record_reauthentication(&made, "recovery_codes.regenerated", who, &request.user_id).await;
        Ok(Response::new(pb::RegenerateRecoveryCodesResponse { recovery_codes: made? }))
    }

    async fn verify_second_factor(
        &self,
        request: Request<pb::VerifySecondFactorRequest>,
    ) -> RpcResult<pb::VerifySecondFactorResponse> {
        let who = who_at(&request, &request.get_ref().user_id, &request.get_ref().client_address);
        let request = request.into_inner();
        let method = self.registry.verify_second_factor(&request.user_id, &request.code).await?;
        let target = format!("user:{}", request.user_id);
        match method {
            Some(method) => {
                let details = json!({ "method": method.as_str() });
                self.record("second_factor.verified", who, target, &request.user_id, details).await;
            }
            None => {
                let event = AuditEvent::new("second_factor.failed", Outcome::Failure, who.0, target)
                    .subject(&request.user_id)
                    .source(&who.1);
                self.registry.audit().record(event.details(json!({ "reason": "wrong code" }))).await;
            }
        }
        Ok(Response::new(pb::VerifySecondFactorResponse {
            verified: method.is_some(),
            method: method.map(|m| m.as_str().to_owned()).unwrap_or_default(),
        }))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> RpcResult<pb::ChangePasswordResponse> {
        let caller = gatehouse_runtime::access::Caller::of(&request).map(|c| c.describe()).unwrap_or_default();
        let who = who(&request, &request.get_ref().user_id);
        let request = request.into_inner();
        let who = (who.0, if request.client_address.is_empty() { who.1 } else { request.client_address.clone() });
        let new = gatehouse_oauth::Password::new(request.new_password);
        let changed = self.registry.change_password(&request.user_id, request.current_password, new, &caller).await;
        let target = format!("user:{}", request.user_id);
        match &changed {
            Ok(()) => self.record("user.password_changed", who, target, &request.user_id, json!(null)).await,
            Err(crate::error::RegistryError::Invalid { field: "current_password", .. }) => {
                let event = AuditEvent::new("password_change.failed", Outcome::Failure, who.0, target)
                    .subject(&request.user_id)
                    .source(&who.1);
                self.registry.audit().record(event.details(json!({ "reason": "wrong current password" }))).await;
            }
            Err(_) => {}
        }
        changed?;
        Ok(Response::new(pb::ChangePasswordResponse {}))
    }

    async fn set_user_role(&self, request: Request<pb::SetUserRoleRequest>) -> RpcResult<pb::SetUserRoleResponse> {
        let who = who(&request, "");
        let administrator = console_administrator(&request);
        let request = request.into_inner();
        if !request.granted {
            not_themselves(administrator.as_deref(), &request.user_id, "remove the role of")?;
        }
        let user = self.registry.set_user_role(&request.user_id, &request.role, request.granted).await?;
        let action = if request.granted { "role.granted" } else { "role.revoked" };
        self.record(action, who, format!("user:{}", user.id), &user.id, json!({ "role": request.role })).await;
        Ok(Response::new(pb::SetUserRoleResponse { user: Some(user.into()) }))
    }

    async fn set_user_disabled(
        &self,
        request: Request<pb::SetUserDisabledRequest>,
    ) -> RpcResult<pb::SetUserDisabledResponse> {
        let who = who(&request, "");
        let administrator = console_administrator(&request);
        let request = request.into_inner();
        if request.disabled {
            not_themselves(administrator.as_deref(), &request.user_id, "disable")?;
        }
        let user = self.registry.set_user_disabled(&request.user_id, request.disabled).await?;
        let action = if request.disabled { "user.disabled" } else { "user.enabled" };
        self.record(action, who, format!("user:{}", user.id), &user.id, json!(null)).await;
        Ok(Response::new(pb::SetUserDisabledResponse { user: Some(user.into()) }))
    }

    async fn list_users(&self, request: Request<pb::ListUsersRequest>) -> RpcResult<pb::ListUsersResponse> {
        let request = request.into_inner();
        let (users, next_page_token) =
            self.registry.list_users(&request.query, request.page_size, &request.page_token).await?;
        Ok(Response::new(pb::ListUsersResponse { users: users.into_iter().map(Into::into).collect(), next_page_token }))
    }

    async fn register_application(
        &self,
        request: Request<pb::RegisterApplicationRequest>,
    ) -> RpcResult<pb::RegisterApplicationResponse> {
        let who = who(&request, &request.get_ref().owner_id);
        let (app, secret) = self.registry.register_application(request.into_inner().try_into()?).await?;
        let target = format!("application:{}", app.client_id.as_str());
        self.record("application.created", who, target, &app.owner_id, json!(null)).await;
        Ok(Response::new(pb::RegisterApplicationResponse {
            application: Some(app.into()),
            client_secret: secret.map(|s| s.secret).unwrap_or_default(),
        }))
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> RpcResult<pb::ListApplicationsResponse> {
        let request = request.into_inner();
        let apps = self.registry.list_applications(acting_owner(&request.owner_id)).await?;
        Ok(Response::new(pb::ListApplicationsResponse { applications: apps.into_iter().map(Into::into).collect() }))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> RpcResult<pb::GetApplicationResponse> {
        let request = request.into_inner();
        let owner = acting_owner(&request.acting_owner_id);
        let app = self.registry.owned_application_for(&request.client_id, owner, &request.client_address).await?;
        Ok(Response::new(pb::GetApplicationResponse { application: Some(app.into()) }))
    }

    async fn update_application(
        &self,
        request: Request<pb::UpdateApplicationRequest>,
    ) -> RpcResult<pb::UpdateApplicationResponse> {
        let who = who(&request, &request.get_ref().acting_owner_id);
        let request = request.into_inner();
        let client_id = request.client_id.clone();
        let app = self.registry.update_application(&client_id, request.try_into()?).await?;
        self.record("application.updated", who, format!("application:{client_id}"), &app.owner_id, json!(null)).await;
        Ok(Response::new(pb::UpdateApplicationResponse { application: Some(app.into()) }))
    }

    async fn delete_application(
        &self,
        request: Request<pb::DeleteApplicationRequest>,
    ) -> RpcResult<pb::DeleteApplicationResponse> {
        let who = who(&request, &request.get_ref().acting_owner_id);
        let request = request.into_inner();
        let owner = self.registry.owned_application(&request.client_id, acting_owner(&request.acting_owner_id)).await;
        let owner = owner.map(|app| app.owner_id).unwrap_or_default();
        self.registry.delete_application(&request.client_id, acting_owner(&request.acting_owner_id)).await?;
        self.record("application.deleted", who, format!("application:{}", request.client_id), &owner, json!(null))
            .await;
        Ok(Response::new(pb::DeleteApplicationResponse {}))
    }

    async fn rotate_client_secret(
        &self,
        request: Request<pb::RotateClientSecretRequest>,
    ) -> RpcResult<pb::RotateClientSecretResponse> {
        let who = who(&request, &request.get_ref().acting_owner_id);
        let request = request.into_inner();
        let created =
            self.registry.rotate_client_secret(&request.client_id, acting_owner(&request.acting_owner_id)).await?;
        let target = format!("application:{}", request.client_id);
        let owner =
            self.registry.owned_application(&request.client_id, None).await.map(|a| a.owner_id).unwrap_or_default();
        self.record("secret.created", who, target, &owner, json!({ "secret_id": created.info.id })).await;
        Ok(Response::new(pb::RotateClientSecretResponse {
            secret: Some(created.info.into()),
            client_secret: created.secret,
        }))
    }

    async fn delete_client_secret(
        &self,
        request: Request<pb::DeleteClientSecretRequest>,
    ) -> RpcResult<pb::DeleteClientSecretResponse> {
        let who = who(&request, &request.get_ref().acting_owner_id);
        let request = request.into_inner();
        self.registry
            .delete_client_secret(&request.client_id, &request.secret_id, acting_owner(&request.acting_owner_id))
            .await?;
        let target = format!("application:{}", request.client_id);
        let owner =
            self.registry.owned_application(&request.client_id, None).await.map(|a| a.owner_id).unwrap_or_default();
        self.record("secret.deleted", who, target, &owner, json!({ "secret_id": request.secret_id })).await;
        Ok(Response::new(pb::DeleteClientSecretResponse {}))
    }

    async fn set_client_secret(
        &self,
        request: Request<pb::SetClientSecretRequest>,
    ) -> RpcResult<pb::SetClientSecretResponse> {
        let who = who(&request, "");
        let request = request.into_inner();
        let set = self.registry.set_client_secret(&request.client_id, &request.client_secret, request.dry_run).await?;
        if let Some(info) = set.as_ref().filter(|_| !request.dry_run) {
            let target = format!("application:{}", request.client_id);
            let owner =
                self.registry.owned_application(&request.client_id, None).await.map(|a| a.owner_id).unwrap_or_default();
            self.record("secret.set", who, target, &owner, json!({ "secret_id": info.id })).await;
        }
        Ok(Response::new(pb::SetClientSecretResponse { changed: set.is_some(), secret: set.map(Into::into) }))
    }

    async fn authenticate_client(
        &self,
        request: Request<pb::AuthenticateClientRequest>,
    ) -> RpcResult<pb::AuthenticateClientResponse> {
        let request = request.into_inner();
        let app = self
            .registry
            .authenticate_client(
                &request.client_id,
                &request.client_secret,
                &request.client_assertion,
                &request.client_address,
            )
            .await?;
        let introspects_for = self.registry.introspected_by(app.client_id.as_str()).await?;
        Ok(Response::new(pb::AuthenticateClientResponse { application: Some(app.into()), introspects_for }))
    }

    async fn verify_assertion_grant(
        &self,
        request: Request<pb::VerifyAssertionGrantRequest>,
    ) -> RpcResult<pb::VerifyAssertionGrantResponse> {
        use crate::assertion_grant::AssertionGrant;
        use pb::verify_assertion_grant_response::Grant;
        let request = request.into_inner();
        if request.subject_token {
            let identity = self
                .registry
                .verify_subject_token(&request.assertion, &request.client_id, &request.client_address)
                .await?;
            let grant = Grant::Identity(identity_to_pb(identity));
            return Ok(Response::new(pb::VerifyAssertionGrantResponse { grant: Some(grant) }));
        }
        let grant = match self
            .registry
            .verify_assertion_grant(&request.assertion, &request.client_id, &request.client_address)
            .await?
        {
            AssertionGrant::Workload(app) => {
                let introspects_for = self.registry.introspected_by(app.client_id.as_str()).await?;
                Grant::Workload(pb::AuthenticateClientResponse { application: Some((*app).into()), introspects_for })
            }
            AssertionGrant::Identity(identity) => Grant::Identity(identity_to_pb(*identity)),
        };
        Ok(Response::new(pb::VerifyAssertionGrantResponse { grant: Some(grant) }))
    }

    async fn register_client(
        &self,
        request: Request<pb::RegisterClientRequest>,
    ) -> RpcResult<pb::ClientRegistrationResponse> {
        let request = request.into_inner();
        let metadata = request.metadata.unwrap_or_default().into();
        let registered =
            self.registry.register_client(&metadata, &request.initial_access_token, &request.client_address).await?;
        let actor = Actor {
            kind: "client".to_owned(),
            id: registered.app.client_id.as_str().to_owned(),
            via: "registration".to_owned(),
        };
        let target = format!("application:{}", registered.app.client_id.as_str());
        let event =
            AuditEvent::new("application.registered", Outcome::Success, actor, target).source(&request.client_address);
        self.registry.audit().record(event).await;
        Ok(Response::new(pb::ClientRegistrationResponse {
            application: Some(registered.app.into()),
            client_secret: registered.secret.map(|s| s.secret).unwrap_or_default(),
            registration_access_token: registered.registration_access_token.unwrap_or_default(),
        }))
    }

    async fn get_client_registration(
        &self,
        request: Request<pb::ClientRegistrationRequest>,
    ) -> RpcResult<pb::ClientRegistrationResponse> {
        let request = request.into_inner();
        let (app, next) =
            self.registry.client_registration(&request.client_id, &request.registration_access_token).await?;
        Ok(Response::new(pb::ClientRegistrationResponse {
            application: Some(app.into()),
            registration_access_token: next,
            ..Default::default()
        }))
    }

    async fn update_client_registration(
        &self,
        request: Request<pb::ClientRegistrationRequest>,
    ) -> RpcResult<pb::ClientRegistrationResponse> {
        let request = request.into_inner();
        let metadata = request.metadata.unwrap_or_default().into();
        let (app, next) = self
            .registry
            .update_client_registration(&request.client_id, &request.registration_access_token, &metadata)
            .await?;
        Ok(Response::new(pb::ClientRegistrationResponse {
            application: Some(app.into()),
            registration_access_token: next,
            ..Default::default()
        }))
    }

    async fn revoke_registration_token(
        &self,
        request: Request<pb::RevokeRegistrationTokenRequest>,
    ) -> RpcResult<pb::RevokeRegistrationTokenResponse> {
        let who = who(&request, "");
        let client_id = self.registry.revoke_registration_token(&request.into_inner().token).await?;
        if let Some(client_id) = &client_id {
            self.record("registration_token.revoked", who, format!("application:{client_id}"), "", json!(null)).await;
        }
        Ok(Response::new(pb::RevokeRegistrationTokenResponse {
            found: client_id.is_some(),
            client_id: client_id.unwrap_or_default(),
        }))
    }

    async fn delete_client_registration(
        &self,
        request: Request<pb::ClientRegistrationRequest>,
    ) -> RpcResult<pb::DeleteClientRegistrationResponse> {
        let request = request.into_inner();
        self.registry.delete_client_registration(&request.client_id, &request.registration_access_token).await?;
        let actor = Actor {
            kind: "client".to_owned(),
            id: request.client_id.clone(),
            via: "registration_access_token".to_owned(),
        };
        let event = AuditEvent::new(
            "application.deleted",
            Outcome::Success,
            actor,
            format!("application:{}", request.client_id),
        );
        self.registry.audit().record(event).await;
        Ok(Response::new(pb::DeleteClientRegistrationResponse {}))
    }

    async fn create_initial_access_token(
        &self,
        request: Request<pb::CreateInitialAccessTokenRequest>,
    ) -> RpcResult<pb::CreateInitialAccessTokenResponse> {
        let who = who(&request, "");
        let request = request.into_inner();
        let ttl = match u64::try_from(request.ttl_seconds) {
            Ok(0) => None,
            Ok(seconds) => Some(std::time::Duration::from_secs(seconds)),
            Err(_) => return Err(crate::RegistryError::invalid("ttl_seconds", "must not be negative").into()),
        };
        let (info, token) = self.registry.create_initial_access_token(&request.description, ttl).await?;
        self.record("initial_access_token.created", who, format!("initial_access_token:{}", info.id), "", json!(null))
            .await;
        Ok(Response::new(pb::CreateInitialAccessTokenResponse { info: Some(info.into()), token }))
    }

    async fn list_initial_access_tokens(
        &self,
        _request: Request<pb::ListInitialAccessTokensRequest>,
    ) -> RpcResult<pb::ListInitialAccessTokensResponse> {
        let tokens = self.registry.list_initial_access_tokens().await?;
        Ok(Response::new(pb::ListInitialAccessTokensResponse { tokens: tokens.into_iter().map(Into::into).collect() }))
    }

    async fn delete_initial_access_token(
        &self,
        request: Request<pb::DeleteInitialAccessTokenRequest>,
    ) -> RpcResult<pb::DeleteInitialAccessTokenResponse> {
        let who = who(&request, "");
        let id = request.into_inner().id;
        self.registry.delete_initial_access_token(&id).await?;
        self.record("initial_access_token.deleted", who, format!("initial_access_token:{id}"), "", json!(null)).await;
        Ok(Response::new(pb::DeleteInitialAccessTokenResponse {}))
    }

    async fn authenticate_credential(
        &self,
        request: Request<pb::AuthenticateCredentialRequest>,
    ) -> RpcResult<pb::AuthenticateCredentialResponse> {
        match self.registry.authenticate_credential(&request.into_inner().credential).await? {
            Some(info) => Ok(Response::new(pb::AuthenticateCredentialResponse { credential: Some(info.into()) })),
            None => Err(Status::unauthenticated("unknown, expired or revoked credential")),
        }
    }

    async fn create_credential(
        &self,
        request: Request<pb::CreateCredentialRequest>,
    ) -> RpcResult<pb::CreateCredentialResponse> {
        let created_by = gatehouse_runtime::access::Caller::of(&request).map(|c| c.describe()).unwrap_or_default();
        let who = who(&request, "");
        let request = request.into_inner();
        let ttl = match u64::try_from(request.ttl_seconds) {
            Ok(0) => None,
            Ok(seconds) => Some(std::time::Duration::from_secs(seconds)),
            Err(_) => return Err(RegistryError::invalid("ttl_seconds", "must not be negative").into()),
        };
        let (info, credential) =
            self.registry.create_credential(&request.name, &request.role, ttl, &created_by).await?;
        let details = json!({ "role": info.role.as_str(), "name": info.name });
        self.record("credential.created", who, format!("credential:{}", info.id), "", details).await;
        Ok(Response::new(pb::CreateCredentialResponse {
            info: Some(info.into()),
            credential: credential.into_exposed(),
        }))
    }

    async fn list_credentials(
        &self,
        _request: Request<pb::ListCredentialsRequest>,
    ) -> RpcResult<pb::ListCredentialsResponse> {
        let credentials = self.registry.list_credentials().await?;
        Ok(Response::new(pb::ListCredentialsResponse {
            credentials: credentials.into_iter().map(Into::into).collect(),
        }))
    }

    async fn revoke_credential(
        &self,
        request: Request<pb::RevokeCredentialRequest>,
    ) -> RpcResult<pb::RevokeCredentialResponse> {
        let who = who(&request, "");
        let id = request.into_inner().id;
        self.registry.revoke_credential(&id).await?;
        self.record("credential.revoked", who, format!("credential:{id}"), "", json!(null)).await;
        Ok(Response::new(pb::RevokeCredentialResponse {}))
    }

    async fn create_resource_server(
        &self,
        request: Request<pb::CreateResourceServerRequest>,
    ) -> RpcResult<pb::ResourceServerResponse> {
        // The gateway asks for a signed-in user; an operator asks for itself.
        let by_operator = Caller::of(&request).is_some_and(|caller| caller.role == Role::Operator);
        let server = self.registry.create_resource_server(request.into_inner().into(), by_operator).await?;
        Ok(Response::new(pb::ResourceServerResponse { resource_server: Some(server.into()) }))
    }

    async fn list_resource_servers(
        &self,
        request: Request<pb::ListResourceServersRequest>,
    ) -> RpcResult<pb::ListResourceServersResponse> {
        let request = request.into_inner();
        let servers = self.registry.list_resource_servers(acting_owner(&request.owner_id)).await?;
        Ok(Response::new(pb::ListResourceServersResponse {
            resource_servers: servers.into_iter().map(Into::into).collect(),
        }))
    }

    async fn get_resource_server(
        &self,
        request: Request<pb::GetResourceServerRequest>,
    ) -> RpcResult<pb::ResourceServerResponse> {
        let request = request.into_inner();
        let server = self.registry.owned_resource_server(&request.id, acting_owner(&request.acting_owner_id)).await?;
        Ok(Response::new(pb::ResourceServerResponse { resource_server: Some(server.into()) }))
    }

    async fn update_resource_server(
        &self,
        request: Request<pb::UpdateResourceServerRequest>,
    ) -> RpcResult<pb::ResourceServerResponse> {
        let request = request.into_inner();
        let id = request.id.clone();
        let server = self.registry.update_resource_server(&id, request.into()).await?;
        Ok(Response::new(pb::ResourceServerResponse { resource_server: Some(server.into()) }))
    }

    async fn delete_resource_server(
        &self,
        request: Request<pb::DeleteResourceServerRequest>,
    ) -> RpcResult<pb::DeleteResourceServerResponse> {
        let request = request.into_inner();
        self.registry.delete_resource_server(&request.id, acting_owner(&request.acting_owner_id)).await?;
        Ok(Response::new(pb::DeleteResourceServerResponse {}))
    }

    async fn resolve_resources(
        &self,
        request: Request<pb::ResolveResourcesRequest>,
    ) -> RpcResult<pb::ResolveResourcesResponse> {
        let request = request.into_inner();
        let servers = self
            .registry
            .resolve_resources(&request.client_id, &request.identifiers, request.application_token)
            .await?;
        Ok(Response::new(pb::ResolveResourcesResponse {
            resource_servers: servers.into_iter().map(Into::into).collect(),
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<common::ListAuditEventsRequest>,
    ) -> RpcResult<common::ListAuditEventsResponse> {
        let caller = Caller::of(&request).cloned();
        let answer =
            gatehouse_runtime::audit::list_rpc(self.registry.audit(), caller.as_ref(), request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn verify_audit_chain(
        &self,
        _request: Request<common::VerifyAuditChainRequest>,
    ) -> RpcResult<common::VerifyAuditChainResponse> {
        Ok(Response::new(gatehouse_runtime::audit::verify_rpc(self.registry.audit()).await?))
    }

    async fn list_scopes(&self, _request: Request<pb::ListScopesRequest>) -> RpcResult<pb::ListScopesResponse> {
        Ok(Response::new(pb::ListScopesResponse {
            scopes: self.registry.scopes().entries().iter().map(Into::into).collect(),
        }))
    }
}

/// A verified ID-JAG or subject token, for the token service.
fn identity_to_pb(identity: crate::assertion_grant::IdentityGrant) -> pb::IdentityAssertion {
    pb::IdentityAssertion {
        issuer: identity.issuer,
        subject: identity.subject,
        user_id: identity.user.id,
        username: identity.user.username,
        has_scope: identity.scopes.is_some(),
        scopes: identity.scopes.unwrap_or_default(),
        resources: identity.resources,
        auth_time: identity.auth_time.unwrap_or(0),
        expires_at: identity.expires_at,
        jkt: identity.jkt.unwrap_or_default(),
        actors: identity.actors,
    }
}
