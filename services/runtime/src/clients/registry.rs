//! The typed client of the registry: what the authorization and token
//! services, the gateway and the command line ask of it, as methods that
//! take plain arguments and answer the shared records.

use gatehouse_oauth::{
    ClientAuthMethod, ClientAuthentication, Password, RegisteredClient, Resource, ResourceId, ScopeSet, TokenFormat,
};
use gatehouse_proto::pb::common::v1::{ClientType, ScopeDescription};
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_upstream::Upstream;
use tonic::{Code, Status};

pub use gatehouse_proto::convert::{Account, NewResourceServer, NewUser};

/// What an assertion grant authenticates or names.
#[derive(Debug)]
pub enum AssertionGrant {
    /// A workload token: the client a federation rule maps it to.
    Workload(Box<RegisteredClient>),
    /// A verified ID-JAG.
    Identity(Box<pb::IdentityAssertion>),
}

/// An application as the authorization pages show it, with its OAuth rules.
#[derive(Debug, Clone)]
pub struct ClientApplication {
    pub client: RegisteredClient,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub homepage_url: String,
    pub logo_url: String,
}

/// A registry client over a shared (balanced, health-checked) channel.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    channel: Upstream,
}

fn malformed(reason: impl std::fmt::Display) -> Status {
    super::malformed("registry", reason)
}

impl TryFrom<pb::Application> for ClientApplication {
    type Error = Status;

    fn try_from(app: pb::Application) -> Result<Self, Status> {
        Ok(Self {
            client: RegisteredClient::try_from(&app).map_err(malformed)?,
            owner_id: app.owner_id,
            name: app.name,
            description: app.description,
            homepage_url: app.homepage_url,
            logo_url: app.logo_url,
        })
    }
}

impl RegistryClient {
    pub fn new(channel: Upstream) -> Self {
        Self { channel }
    }

    /// The channel this client calls over.
    pub(crate) fn channel(&self) -> &Upstream {
        &self.channel
    }

    fn rpc(&self) -> RegistryServiceClient<Upstream> {
        RegistryServiceClient::new(self.channel.clone())
    }

    /// The role and name of an internal credential; `None` when the
    /// registry does not know it (or it expired, or was revoked).
    pub async fn authenticate_credential(
        &self,
        credential: &str,
    ) -> Result<Option<(crate::access::Role, String)>, Status> {
        let request = pb::AuthenticateCredentialRequest { credential: credential.to_owned() };
        match self.rpc().authenticate_credential(request).await {
            Ok(response) => {
                let info = response.into_inner().credential.ok_or_else(|| malformed("no credential"))?;
                let role = crate::access::Role::parse(&info.role).ok_or_else(|| malformed("unknown role"))?;
                Ok(Some((role, format!("{} ({})", info.name, info.id))))
            }
            Err(status) if status.code() == Code::Unauthenticated => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Checks a client's credentials (RFC 6749 §2.3). A failure is the
    /// registry's status: `UNAUTHENTICATED` with `invalid_client`.
    /// `address`: where the client called from (empty when not known).
    pub async fn authenticate_client(
        &self,
        auth: &ClientAuthentication,
        address: &str,
    ) -> Result<RegisteredClient, Status> {
        // A private_key_jwt assertion travels in the presented secret's place.
        let (client_secret, client_assertion) = match auth.method {
            ClientAuthMethod::PrivateKeyJwt => (String::new(), auth.secret.expose().to_owned()),
            _ => (auth.secret.expose().to_owned(), String::new()),
        };
        let request = pb::AuthenticateClientRequest {
            client_id: auth.client_id.clone(),
            client_secret,
            client_assertion,
            client_address: address.to_owned(),
        };
        let response = self.rpc().authenticate_client(request).await?.into_inner();
        let app = response.application.ok_or_else(|| malformed("no application"))?;
        let mut client = RegisteredClient::try_from(&app).map_err(malformed)?;
        client.introspects_for = response.introspects_for;
        Ok(client)
    }

    /// An assertion presented as an authorization grant (RFC 7523 §2.1):
    /// the client a workload token maps to, or the user an ID-JAG names.
    /// `client_id`: the authenticated client, empty when there is none.
    pub async fn verify_assertion_grant(
        &self,
        assertion: &str,
        client_id: &str,
        address: &str,
    ) -> Result<AssertionGrant, Status> {
        use pb::verify_assertion_grant_response::Grant;
        let request = pb::VerifyAssertionGrantRequest {
            assertion: assertion.to_owned(),
            client_id: client_id.to_owned(),
            client_address: address.to_owned(),
            subject_token: false,
        };
        match self.rpc().verify_assertion_grant(request).await?.into_inner().grant {
            Some(Grant::Workload(response)) => {
                let app = response.application.ok_or_else(|| malformed("no application"))?;
                let mut client = RegisteredClient::try_from(&app).map_err(malformed)?;
                client.introspects_for = response.introspects_for;
                Ok(AssertionGrant::Workload(Box::new(client)))
            }
            Some(Grant::Identity(identity)) => Ok(AssertionGrant::Identity(Box::new(identity))),
            None => Err(malformed("no grant")),
        }
    }

    /// Another issuer's JWT as `client_id`'s token exchange subject (RFC
    /// 8693): the user it names, by that issuer's policy.
    pub async fn verify_subject_token(
        &self,
        token: &str,
        client_id: &str,
        address: &str,
    ) -> Result<pb::IdentityAssertion, Status> {
        use pb::verify_assertion_grant_response::Grant;
        let request = pb::VerifyAssertionGrantRequest {
            assertion: token.to_owned(),
            client_id: client_id.to_owned(),
            client_address: address.to_owned(),
            subject_token: true,
        };
        match self.rpc().verify_assertion_grant(request).await?.into_inner().grant {
            Some(Grant::Identity(identity)) => Ok(identity),
            _ => Err(malformed("no identity")),
        }
    }

    /// The resource servers `client_id` asks for (RFC 8707), in order. A
    /// refusal is the registry's status: `INVALID_ARGUMENT` with `invalid_target`.
    /// `application_token`: the token will have no user (client_credentials).
    pub async fn resolve_resources(
        &self,
        client_id: &str,
        resources: &[ResourceId],
        application_token: bool,
    ) -> Result<Vec<Resource>, Status> {
        if resources.is_empty() {
            return Ok(Vec::new());
        }
        let request = pb::ResolveResourcesRequest {
            client_id: client_id.to_owned(),
            identifiers: resources.iter().map(|r| r.as_str().to_owned()).collect(),
            application_token,
        };
        let servers = self.rpc().resolve_resources(request).await?.into_inner().resource_servers;
        servers
            .into_iter()
            .map(|server| {
                Ok(Resource {
                    id: ResourceId::from_stored(server.identifier),
                    scopes: ScopeSet::parse(&server.scopes.join(" ")).map_err(|_| malformed("a resource's scopes"))?,
                    format: TokenFormat::parse(&server.token_format).ok_or_else(|| malformed("a token format"))?,
                })
            })
            .collect()
    }

    /// Revokes a registration access token (RFC 7592) by value: the client
    /// it belonged to, `None` when no registration holds it.
    pub async fn revoke_registration_token(&self, token: &str) -> Result<Option<String>, Status> {
        let request = pb::RevokeRegistrationTokenRequest { token: token.to_owned() };
        let answer = self.rpc().revoke_registration_token(request).await?.into_inner();
        Ok(answer.found.then_some(answer.client_id))
    }

    /// The application, or `None` when it does not exist.
    pub async fn application(&self, client_id: &str) -> Result<Option<ClientApplication>, Status> {
        self.application_for(client_id, "").await
    }

    /// As [`RegistryClient::application`], for a request from `address`.
    pub async fn application_for(&self, client_id: &str, address: &str) -> Result<Option<ClientApplication>, Status> {
        let request = pb::GetApplicationRequest {
            client_id: client_id.to_owned(),
            acting_owner_id: String::new(),
            client_address: address.to_owned(),
        };
        match self.rpc().get_application(request).await {
            Ok(response) => response.into_inner().application.map(ClientApplication::try_from).transpose(),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// The user when the password is theirs; `None` otherwise (unknown user
    /// and wrong password alike).
    pub async fn verify_password(&self, username: &str, password: &Password) -> Result<Option<Verified>, Status> {
        let request =
            pb::VerifyPasswordRequest { username: username.to_owned(), password: password.expose().to_owned() };
        let response = self.rpc().verify_password(request).await?.into_inner();
        let second_factor = response.second_factor;
        Ok(response
            .user
            .filter(|_| response.verified)
            .map(|user| Verified { account: Account::from(user), second_factor }))
    }

    /// Which second factor `code` is for the user (`totp`, `recovery_code`),
    /// or `None` when it is wrong; RESOURCE_EXHAUSTED past the account's limit.
    pub async fn verify_second_factor(
        &self,
        user_id: &str,
        code: &str,
        client_address: &str,
    ) -> Result<Option<String>, Status> {
        let request = pb::VerifySecondFactorRequest {
            user_id: user_id.to_owned(),
            code: code.to_owned(),
            client_address: client_address.to_owned(),
        };
        let response = self.rpc().verify_second_factor(request).await?.into_inner();
        Ok(response.verified.then_some(response.method))
    }

    /// The user, or `None` when there is no such user.
    pub async fn user(&self, id: &str) -> Result<Option<Account>, Status> {
        let lookup = Some(pb::get_user_request::Lookup::Id(id.to_owned()));
        match self.rpc().get_user(pb::GetUserRequest { lookup, visible_to_scopes: None }).await {
            Ok(response) => Ok(response.into_inner().user.map(Account::from)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    pub async fn scopes(&self) -> Result<Vec<ScopeDescription>, Status> {
        Ok(self.rpc().list_scopes(pb::ListScopesRequest {}).await?.into_inner().scopes)
    }
}

/// A user whose password was right.
#[derive(Debug, Clone)]
pub struct Verified {
    pub account: Account,
    /// The account signs in with a second step.
    pub second_factor: bool,
}

/// A new application's settings. Empty lists are the registry's defaults
/// (the default grant types, no scopes beyond the catalogue's).
#[derive(Debug, Clone, Default)]
pub struct NewApplication {
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub homepage_url: String,
    pub logo_url: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    pub public: bool,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// What its ID tokens are signed with ("": RS256).
    pub id_token_signed_response_alg: String,
    /// RFC 9126 §6: authorization requests only as pushed requests.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2: access tokens only DPoP-bound.
    pub dpop_bound_access_tokens: bool,
}

impl From<NewApplication> for pb::RegisterApplicationRequest {
    fn from(new: NewApplication) -> Self {
        let client_type = if new.public { ClientType::Public } else { ClientType::Confidential };
        Self {
            owner_id: new.owner_id,
            name: new.name,
            description: new.description,
            homepage_url: new.homepage_url,
            logo_url: new.logo_url,
            redirect_uris: new.redirect_uris,
            client_type: client_type as i32,
            grant_types: new.grant_types,
            scopes: new.scopes,
            post_logout_redirect_uris: new.post_logout_redirect_uris,
            id_token_signed_response_alg: new.id_token_signed_response_alg,
            require_pushed_authorization_requests: new.require_pushed_authorization_requests,
            dpop_bound_access_tokens: new.dpop_bound_access_tokens,
        }
    }
}

/// Changes to an application: `None` keeps what it has.
#[derive(Debug, Clone, Default)]
pub struct ApplicationChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub homepage_url: Option<String>,
    pub logo_url: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub id_token_signed_response_alg: Option<String>,
    pub require_pushed_authorization_requests: Option<bool>,
    pub dpop_bound_access_tokens: Option<bool>,
}

/// Changes to a resource server: `None` keeps what it has.
#[derive(Debug, Clone, Default)]
pub struct ResourceServerChanges {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub token_format: Option<String>,
    pub allowed_client_ids: Option<Vec<String>>,
    pub any_client: Option<bool>,
    pub introspection_client_id: Option<String>,
    pub application_tokens: Option<bool>,
}

/// What a dynamic registration (RFC 7591) or its management (RFC 7592) answered.
pub type Registration = pb::ClientRegistrationResponse;

fn list(values: Option<Vec<String>>) -> Option<pb::StringList> {
    values.map(|values| pb::StringList { values })
}

/// Applications, users, resource servers, registrations and credentials:
/// what people (through the gateway) and operators (through the command
/// line) manage. `acting_owner_id` empty: an operator, who may act on any.
impl RegistryClient {
    pub async fn list_applications(&self, owner_id: &str) -> Result<Vec<pb::Application>, Status> {
        let request = pb::ListApplicationsRequest { owner_id: owner_id.to_owned() };
        Ok(self.rpc().list_applications(request).await?.into_inner().applications)
    }

    /// The application as its owner manages it (`NOT_FOUND` when it is not theirs).
    pub async fn owned_application(&self, acting_owner_id: &str, client_id: &str) -> Result<pb::Application, Status> {
        let request = pb::GetApplicationRequest {
            client_id: client_id.to_owned(),
            acting_owner_id: acting_owner_id.to_owned(),
            client_address: String::new(),
        };
        self.rpc().get_application(request).await?.into_inner().application.ok_or_else(|| malformed("no application"))
    }

    /// Registers an application: it and its secret (empty for a public client), shown once.
    pub async fn register_application(&self, new: NewApplication) -> Result<(pb::Application, String), Status> {
        let answer = self.rpc().register_application(pb::RegisterApplicationRequest::from(new)).await?.into_inner();
        Ok((answer.application.ok_or_else(|| malformed("no application"))?, answer.client_secret))
    }

    pub async fn update_application(
        &self,
        acting_owner_id: &str,
        client_id: &str,
        changes: ApplicationChanges,
    ) -> Result<pb::Application, Status> {
        let request = pb::UpdateApplicationRequest {
            client_id: client_id.to_owned(),
            acting_owner_id: acting_owner_id.to_owned(),
            name: changes.name,
            description: changes.description,
            homepage_url: changes.homepage_url,
            logo_url: changes.logo_url,
            redirect_uris: list(changes.redirect_uris),
            grant_types: changes.grant_types.map(|values| pb::GrantTypeList { values }),
            scopes: list(changes.scopes),
            post_logout_redirect_uris: list(changes.post_logout_redirect_uris),
            id_token_signed_response_alg: changes.id_token_signed_response_alg,
            require_pushed_authorization_requests: changes.require_pushed_authorization_requests,
            dpop_bound_access_tokens: changes.dpop_bound_access_tokens,
        };
        self.rpc()
            .update_application(request)
            .await?
            .into_inner()
            .application
            .ok_or_else(|| malformed("no application"))
    }

    /// Deletes an application and revokes everything issued to it.
    pub async fn delete_application(&self, acting_owner_id: &str, client_id: &str) -> Result<(), Status> {
        let request = pb::DeleteApplicationRequest {
            client_id: client_id.to_owned(),
            acting_owner_id: acting_owner_id.to_owned(),
        };
        self.rpc().delete_application(request).await?;
        Ok(())
    }

    /// Adds a secret: its metadata and the secret in clear text, shown once.
    pub async fn rotate_client_secret(
        &self,
        acting_owner_id: &str,
        client_id: &str,
    ) -> Result<(pb::ClientSecretInfo, String), Status> {
        let request = pb::RotateClientSecretRequest {
            client_id: client_id.to_owned(),
            acting_owner_id: acting_owner_id.to_owned(),
        };
        let answer = self.rpc().rotate_client_secret(request).await?.into_inner();
        Ok((answer.secret.ok_or_else(|| malformed("no secret"))?, answer.client_secret))
    }

    pub async fn delete_client_secret(
        &self,
        acting_owner_id: &str,
        client_id: &str,
        secret_id: &str,
    ) -> Result<(), Status> {
        let request = pb::DeleteClientSecretRequest {
            client_id: client_id.to_owned(),
            secret_id: secret_id.to_owned(),
            acting_owner_id: acting_owner_id.to_owned(),
        };
        self.rpc().delete_client_secret(request).await?;
        Ok(())
    }

    /// Withdraws a user's authorization of an application (consent and
    /// tokens): how many tokens were revoked. Safe to retry.
    pub async fn revoke_authorization(&self, user_id: &str, client_id: &str) -> Result<u64, Status> {
        let request = pb::RevokeAuthorizationRequest { user_id: user_id.to_owned(), client_id: client_id.to_owned() };
        Ok(self.rpc().revoke_authorization(request).await?.into_inner().tokens_revoked)
    }

    async fn get_user(
        &self,
        lookup: pb::get_user_request::Lookup,
        scopes: Option<&[String]>,
    ) -> Result<Account, Status> {
        let request = pb::GetUserRequest {
            lookup: Some(lookup),
            visible_to_scopes: scopes.map(|values| pb::StringList { values: values.to_vec() }),
        };
        let user = self.rpc().get_user(request).await?.into_inner().user.ok_or_else(|| malformed("no user"))?;
        Ok(Account::from(user))
    }

    /// The user named `username` (`NOT_FOUND` when there is none).
    pub async fn user_named(&self, username: &str) -> Result<Account, Status> {
        self.get_user(pb::get_user_request::Lookup::Username(username.to_owned()), None).await
    }

    /// The user as an application holding `scopes` may see them (the registry's rule).
    pub async fn user_visible_to(&self, id: &str, scopes: &[String]) -> Result<Account, Status> {
        self.get_user(pb::get_user_request::Lookup::Id(id.to_owned()), Some(scopes)).await
    }

    pub async fn create_user(&self, new: NewUser) -> Result<Account, Status> {
        let user = self
            .rpc()
            .create_user(pb::CreateUserRequest::from(new))
            .await?
            .into_inner()
            .user
            .ok_or_else(|| malformed("no user"))?;
        Ok(Account::from(user))
    }

    /// Deletes the account, its applications and every token it held.
    /// Changes a user's password (the current one required); `client_address` is the person's.
    pub async fn change_password(
        &self,
        user_id: &str,
        current_password: &str,
        new_password: &str,
        client_address: &str,
    ) -> Result<(), Status> {
        let request = pb::ChangePasswordRequest {
            user_id: user_id.to_owned(),
            current_password: current_password.to_owned(),
            new_password: new_password.to_owned(),
            client_address: client_address.to_owned(),
        };
        self.rpc().change_password(request).await?;
        Ok(())
    }

    /// Mails a reset link to the account `login` names, if any (the same answer either way).
    pub async fn request_password_reset(&self, login: &str, client_address: &str) -> Result<(), Status> {
        let request =
            pb::RequestPasswordResetRequest { login: login.to_owned(), client_address: client_address.to_owned() };
        self.rpc().request_password_reset(request).await?;
        Ok(())
    }

    /// Sets a new password with a reset link's token.
    pub async fn reset_password(&self, token: &str, new_password: &str, client_address: &str) -> Result<(), Status> {
        let request = pb::ResetPasswordRequest {
            token: token.to_owned(),
            new_password: new_password.to_owned(),
            client_address: client_address.to_owned(),
        };
        self.rpc().reset_password(request).await?;
        Ok(())
    }

    /// Mails a link that confirms the account's address.
    pub async fn send_email_verification(&self, user_id: &str, client_address: &str) -> Result<(), Status> {
        let request =
            pb::SendEmailVerificationRequest { user_id: user_id.to_owned(), client_address: client_address.to_owned() };
        self.rpc().send_email_verification(request).await?;
        Ok(())
    }

    /// Confirms an address with its link's token.
    pub async fn verify_email(&self, token: &str, client_address: &str) -> Result<(), Status> {
        let request = pb::VerifyEmailRequest { token: token.to_owned(), client_address: client_address.to_owned() };
        self.rpc().verify_email(request).await?;
        Ok(())
    }

    /// What the account has for its second step.
    pub async fn second_factors(&self, user_id: &str) -> Result<pb::GetSecondFactorsResponse, Status> {
        Ok(self
            .rpc()
            .get_second_factors(pb::GetSecondFactorsRequest { user_id: user_id.to_owned() })
            .await?
            .into_inner())
    }

    /// Starts adding a passkey: the browser's creation options and the ceremony id.
    pub async fn begin_passkey_registration(
        &self,
        user_id: &str,
        name: &str,
        client_address: &str,
    ) -> Result<pb::PasskeyCeremony, Status> {
        let request = pb::BeginPasskeyRegistrationRequest {
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            client_address: client_address.to_owned(),
        };
        Ok(self.rpc().begin_passkey_registration(request).await?.into_inner())
    }

    /// Finishes adding a passkey with the browser's credential (JSON).
    pub async fn finish_passkey_registration(
        &self,
        user_id: &str,
        ceremony: &str,
        credential_json: &str,
        client_address: &str,
    ) -> Result<pb::PasskeyInfo, Status> {
        let request = pb::FinishPasskeyRegistrationRequest {
            user_id: user_id.to_owned(),
            ceremony: ceremony.to_owned(),
            credential_json: credential_json.to_owned(),
            client_address: client_address.to_owned(),
        };
        let response = self.rpc().finish_passkey_registration(request).await?.into_inner();
        response.passkey.ok_or_else(|| Status::internal("the registry answered no passkey"))
    }

    /// Removes one of the account's passkeys.
    pub async fn delete_passkey(&self, user_id: &str, passkey_id: &str, client_address: &str) -> Result<(), Status> {
        let request = pb::DeletePasskeyRequest {
            user_id: user_id.to_owned(),
            passkey_id: passkey_id.to_owned(),
            client_address: client_address.to_owned(),
        };
        self.rpc().delete_passkey(request).await?;
        Ok(())
    }

    /// Starts a passkey sign-in naming no account.
    pub async fn begin_passkey_sign_in(&self, client_address: &str) -> Result<pb::PasskeyCeremony, Status> {
        let request = pb::BeginPasskeySignInRequest { client_address: client_address.to_owned() };
        Ok(self.rpc().begin_passkey_sign_in(request).await?.into_inner())
    }

    /// The account whose passkey signed the ceremony's challenge, or `None`;
    /// with `expected_user_id`, only that account's passkeys count.
    pub async fn verify_passkey(
        &self,
        ceremony: &str,
        credential_json: &str,
        expected_user_id: &str,
        client_address: &str,
    ) -> Result<Option<Account>, Status> {
        let request = pb::VerifyPasskeyRequest {
            ceremony: ceremony.to_owned(),
            credential_json: credential_json.to_owned(),
            expected_user_id: expected_user_id.to_owned(),
            client_address: client_address.to_owned(),
        };
        let response = self.rpc().verify_passkey(request).await?.into_inner();
        Ok(response.user.filter(|_| response.verified).map(Account::from))
    }

    /// Starts TOTP enrolment (the password again): (secret in base32, Key URI).
    pub async fn begin_totp(
        &self,
        user_id: &str,
        password: &str,
        client_address: &str,
    ) -> Result<pb::BeginTotpResponse, Status> {
        let request = pb::BeginTotpRequest {
            user_id: user_id.to_owned(),
            password: password.to_owned(),
            client_address: client_address.to_owned(),
        };
        Ok(self.rpc().begin_totp(request).await?.into_inner())
    }

    /// Confirms enrolment with the app's first code; the recovery codes.
    pub async fn confirm_totp(&self, user_id: &str, code: &str, client_address: &str) -> Result<Vec<String>, Status> {
        let request = pb::ConfirmTotpRequest {
            user_id: user_id.to_owned(),
            code: code.to_owned(),
            client_address: client_address.to_owned(),
        };
        Ok(self.rpc().confirm_totp(request).await?.into_inner().recovery_codes)
    }

    /// Turns TOTP off (the password again).
    pub async fn disable_totp(&self, user_id: &str, password: &str, client_address: &str) -> Result<(), Status> {
        let request = pb::DisableTotpRequest {
            user_id: user_id.to_owned(),
            password: password.to_owned(),
            client_address: client_address.to_owned(),
        };
        self.rpc().disable_totp(request).await?;
        Ok(())
    }

    /// New recovery codes (the password again); the old ones stop working.
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: &str,
        password: &str,
        client_address: &str,
    ) -> Result<Vec<String>, Status> {
        let request = pb::RegenerateRecoveryCodesRequest {
            user_id: user_id.to_owned(),
            password: password.to_owned(),
            client_address: client_address.to_owned(),
        };
        Ok(self.rpc().regenerate_recovery_codes(request).await?.into_inner().recovery_codes)
    }

    pub async fn delete_user(&self, user_id: &str) -> Result<(), Status> {
        self.rpc().delete_user(pb::DeleteUserRequest { user_id: user_id.to_owned() }).await?;
        Ok(())
    }

    /// An invitation to sign up (operators): the token (shown once), the sign-up link, and when it expires.
    pub async fn create_invitation(
        &self,
        email: &str,
        valid_days: u32,
    ) -> Result<pb::CreateInvitationResponse, Status> {
        let request = pb::CreateInvitationRequest { email: email.to_owned(), valid_days };
        Ok(self.rpc().create_invitation(request).await?.into_inner())
    }

    /// Disables an account (its sessions and tokens end) or enables it:
    /// operators and the admin console.
    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> Result<Account, Status> {
        let request = pb::SetUserDisabledRequest { user_id: user_id.to_owned(), disabled };
        let user =
            self.rpc().set_user_disabled(request).await?.into_inner().user.ok_or_else(|| malformed("no user"))?;
        Ok(Account::from(user))
    }

    /// A page of users and the token of the next page (empty: the last):
    /// operators and the admin console.
    pub async fn list_users(
        &self,
        query: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Account>, String), Status> {
        let request = pb::ListUsersRequest { query: query.to_owned(), page_size, page_token: page_token.to_owned() };
        let answer = self.rpc().list_users(request).await?.into_inner();
        Ok((answer.users.into_iter().map(Account::from).collect(), answer.next_page_token))
    }

    /// Grants or removes a role (operators only).
    pub async fn set_user_role(&self, user_id: &str, role: &str, granted: bool) -> Result<Account, Status> {
        let request = pb::SetUserRoleRequest { user_id: user_id.to_owned(), role: role.to_owned(), granted };
        let user = self.rpc().set_user_role(request).await?.into_inner().user.ok_or_else(|| malformed("no user"))?;
        Ok(Account::from(user))
    }

    pub async fn list_resource_servers(&self, owner_id: &str) -> Result<Vec<pb::ResourceServer>, Status> {
        let request = pb::ListResourceServersRequest { owner_id: owner_id.to_owned() };
        Ok(self.rpc().list_resource_servers(request).await?.into_inner().resource_servers)
    }

    pub async fn resource_server(&self, acting_owner_id: &str, id: &str) -> Result<pb::ResourceServer, Status> {
        let request = pb::GetResourceServerRequest { id: id.to_owned(), acting_owner_id: acting_owner_id.to_owned() };
        server(self.rpc().get_resource_server(request).await?.into_inner())
    }

    pub async fn create_resource_server(&self, new: NewResourceServer) -> Result<pb::ResourceServer, Status> {
        server(self.rpc().create_resource_server(pb::CreateResourceServerRequest::from(new)).await?.into_inner())
    }

    pub async fn update_resource_server(
        &self,
        acting_owner_id: &str,
        id: &str,
        changes: ResourceServerChanges,
    ) -> Result<pb::ResourceServer, Status> {
        let request = pb::UpdateResourceServerRequest {
            id: id.to_owned(),
            acting_owner_id: acting_owner_id.to_owned(),
            name: changes.name,
            scopes: list(changes.scopes),
            token_format: changes.token_format,
            allowed_client_ids: list(changes.allowed_client_ids),
            any_client: changes.any_client,
            introspection_client_id: changes.introspection_client_id,
            application_tokens: changes.application_tokens,
        };
        server(self.rpc().update_resource_server(request).await?.into_inner())
    }

    pub async fn delete_resource_server(&self, acting_owner_id: &str, id: &str) -> Result<(), Status> {
        let request =
            pb::DeleteResourceServerRequest { id: id.to_owned(), acting_owner_id: acting_owner_id.to_owned() };
        self.rpc().delete_resource_server(request).await?;
        Ok(())
    }

    /// Dynamic client registration (RFC 7591); `initial_access_token` empty when open.
    pub async fn register_client(
        &self,
        metadata: pb::ClientMetadata,
        initial_access_token: &str,
        client_address: &str,
    ) -> Result<Registration, Status> {
        let request = pb::RegisterClientRequest {
            metadata: Some(metadata),
            initial_access_token: initial_access_token.to_owned(),
            client_address: client_address.to_owned(),
        };
        Ok(self.rpc().register_client(request).await?.into_inner())
    }

    fn management(client_id: &str, token: &str, metadata: Option<pb::ClientMetadata>) -> pb::ClientRegistrationRequest {
        pb::ClientRegistrationRequest {
            client_id: client_id.to_owned(),
            registration_access_token: token.to_owned(),
            metadata,
        }
    }

    /// RFC 7592 read, with the registration access token.
    pub async fn client_registration(&self, client_id: &str, token: &str) -> Result<Registration, Status> {
        Ok(self.rpc().get_client_registration(Self::management(client_id, token, None)).await?.into_inner())
    }

    /// RFC 7592 update: the whole metadata replaces the registration's.
    pub async fn update_client_registration(
        &self,
        client_id: &str,
        token: &str,
        metadata: pb::ClientMetadata,
    ) -> Result<Registration, Status> {
        let request = Self::management(client_id, token, Some(metadata));
        Ok(self.rpc().update_client_registration(request).await?.into_inner())
    }

    /// RFC 7592 delete.
    pub async fn delete_client_registration(&self, client_id: &str, token: &str) -> Result<(), Status> {
        self.rpc().delete_client_registration(Self::management(client_id, token, None)).await?;
        Ok(())
    }

    /// Makes `secret` the application's only client secret (operators
    /// only); whether anything changed (with `dry_run`: would change).
    pub async fn set_client_secret(&self, client_id: &str, secret: &str, dry_run: bool) -> Result<bool, Status> {
        let request =
            pb::SetClientSecretRequest { client_id: client_id.to_owned(), client_secret: secret.to_owned(), dry_run };
        Ok(self.rpc().set_client_secret(request).await?.into_inner().changed)
    }

    /// An initial access token for dynamic registration (RFC 7591 §3): its
    /// record and the token, shown once. `ttl_seconds` 0: it does not expire.
    pub async fn create_initial_access_token(
        &self,
        description: &str,
        ttl_seconds: i64,
    ) -> Result<(pb::InitialAccessToken, String), Status> {
        let request = pb::CreateInitialAccessTokenRequest { description: description.to_owned(), ttl_seconds };
        let answer = self.rpc().create_initial_access_token(request).await?.into_inner();
        Ok((answer.info.ok_or_else(|| malformed("no token record"))?, answer.token))
    }

    pub async fn list_initial_access_tokens(&self) -> Result<Vec<pb::InitialAccessToken>, Status> {
        Ok(self.rpc().list_initial_access_tokens(pb::ListInitialAccessTokensRequest {}).await?.into_inner().tokens)
    }

    pub async fn delete_initial_access_token(&self, id: &str) -> Result<(), Status> {
        self.rpc().delete_initial_access_token(pb::DeleteInitialAccessTokenRequest { id: id.to_owned() }).await?;
        Ok(())
    }

    /// An internal credential for a workload: its record and the credential, shown once.
    pub async fn create_credential(
        &self,
        name: &str,
        role: &str,
        ttl_seconds: i64,
    ) -> Result<(pb::InternalCredential, String), Status> {
        let request = pb::CreateCredentialRequest { name: name.to_owned(), role: role.to_owned(), ttl_seconds };
        let answer = self.rpc().create_credential(request).await?.into_inner();
        Ok((answer.info.ok_or_else(|| malformed("no credential record"))?, answer.credential))
    }

    pub async fn list_credentials(&self) -> Result<Vec<pb::InternalCredential>, Status> {
        Ok(self.rpc().list_credentials(pb::ListCredentialsRequest {}).await?.into_inner().credentials)
    }

    pub async fn revoke_credential(&self, id: &str) -> Result<(), Status> {
        self.rpc().revoke_credential(pb::RevokeCredentialRequest { id: id.to_owned() }).await?;
        Ok(())
    }

    super::audit_methods!();
}

fn server(answer: pb::ResourceServerResponse) -> Result<pb::ResourceServer, Status> {
    answer.resource_server.ok_or_else(|| malformed("no resource server"))
}

/// The guard of the authorization and token services: internal credentials
/// checked by the registry (which owns them), behind the verification cache.
#[derive(Debug, Clone)]
pub struct RegistryCredentials(pub RegistryClient);

#[tonic::async_trait]
impl crate::access::Verifier for RegistryCredentials {
    async fn verify(&self, bearer: &str) -> Result<Option<crate::access::Caller>, crate::access::Unavailable> {
        if !gatehouse_oauth::InternalCredential::is_well_formed(bearer) {
            return Ok(None);
        }
        match self.0.authenticate_credential(bearer).await {
            Ok(found) => Ok(found.map(|(role, name)| crate::access::Caller {
                role,
                name,
                mechanism: crate::access::Mechanism::Credential,
                client_id: None,
                audiences: None,
                remote: None,
            })),
            Err(status) => Err(crate::access::Unavailable(format!("registry: {}", status.message()))),
        }
    }
}

impl RegistryCredentials {
    /// This verifier behind the verification cache.
    pub fn verifier(client: RegistryClient) -> std::sync::Arc<dyn crate::access::Verifier> {
        crate::access::cached(std::sync::Arc::new(Self(client)))
    }
}
