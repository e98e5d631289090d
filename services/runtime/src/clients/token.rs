//! The typed client of the token service: the token endpoint's grants,
//! introspection and revocation, API calls on a user's behalf, personal
//! tokens, signing keys.

use gatehouse_proto::pb::common::v1::Parameter;
use gatehouse_proto::pb::token::v1 as pb;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_upstream::Upstream;
use tonic::Status;

pub use pb::ClientCredentials;

/// A new personal access token.
#[derive(Debug, Clone, Default)]
pub struct NewPersonalToken {
    pub user_id: String,
    /// Recorded with the token, as with every token of a user.
    pub username: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// Seconds; 0 for the service's default.
    pub expires_in: i64,
}

#[derive(Debug, Clone)]
pub struct TokenClient {
    channel: Upstream,
}

impl TokenClient {
    pub fn new(channel: Upstream) -> Self {
        Self { channel }
    }

    /// The channel this client calls over.
    pub(crate) fn channel(&self) -> &Upstream {
        &self.channel
    }

    fn rpc(&self) -> TokenServiceClient<Upstream> {
        TokenServiceClient::new(self.channel.clone())
    }

    /// A token request (RFC 6749 §3.2): the client's credentials as
    /// presented and every other parameter as sent (the service reads the
    /// grant), and its DPoP proof (RFC 9449) if it carried one.
    pub async fn exchange(
        &self,
        client: ClientCredentials,
        parameters: Vec<Parameter>,
        dpop: Option<pb::DpopProof>,
    ) -> Result<pb::ExchangeResponse, Status> {
        Ok(self.rpc().exchange(pb::ExchangeRequest { client: Some(client), parameters, dpop }).await?.into_inner())
    }

    /// RFC 7662 introspection by an authenticated client.
    pub async fn introspect(
        &self,
        client: ClientCredentials,
        token: &str,
        token_type_hint: &str,
    ) -> Result<pb::IntrospectResponse, Status> {
        let request = pb::IntrospectRequest {
            token: token.to_owned(),
            token_type_hint: token_type_hint.to_owned(),
            required_scopes: Vec::new(),
            client: Some(client),
            audience: String::new(),
        };
        Ok(self.rpc().introspect(request).await?.into_inner())
    }

    /// Introspection by an operator (no client: every token, whoever it was issued to).
    pub async fn introspect_as_operator(&self, token: &str) -> Result<pb::IntrospectResponse, Status> {
        let request = pb::IntrospectRequest { token: token.to_owned(), ..pb::IntrospectRequest::default() };
        Ok(self.rpc().introspect(request).await?.into_inner())
    }

    /// RFC 7009 revocation by an authenticated client.
    pub async fn revoke(&self, client: ClientCredentials, token: &str, token_type_hint: &str) -> Result<(), Status> {
        let request = pb::RevokeRequest {
            token: token.to_owned(),
            token_type_hint: token_type_hint.to_owned(),
            client: Some(client),
        };
        self.rpc().revoke(request).await?;
        Ok(())
    }

    /// Whether `token` may make an API call needing `required_scope`:
    /// whose call it is, or the refusal (with its bearer-challenge reason).
    /// `dpop`: the token came in the DPoP scheme with this proof.
    pub async fn authorize_api_call(
        &self,
        token: &str,
        dpop: Option<pb::DpopProof>,
        required_scope: &str,
        changes_state: bool,
        client_address: &str,
    ) -> Result<pb::AuthorizeApiCallResponse, Status> {
        let request = pb::AuthorizeApiCallRequest {
            token: token.to_owned(),
            required_scopes: if required_scope.is_empty() { Vec::new() } else { vec![required_scope.to_owned()] },
            changes_state,
            client_address: client_address.to_owned(),
            dpop,
        };
        Ok(self.rpc().authorize_api_call(request).await?.into_inner())
    }

    pub async fn list_personal_tokens(&self, user_id: &str) -> Result<Vec<pb::PersonalTokenInfo>, Status> {
        let request = pb::ListPersonalTokensRequest { user_id: user_id.to_owned() };
        Ok(self.rpc().list_personal_tokens(request).await?.into_inner().tokens)
    }

    /// Creates a personal token: its record and the token, shown once.
    pub async fn create_personal_token(&self, new: NewPersonalToken) -> Result<pb::PersonalTokenSecret, Status> {
        let request = pb::CreatePersonalTokenRequest {
            user_id: new.user_id,
            username: new.username,
            name: new.name,
            scopes: new.scopes,
            expires_in: new.expires_in,
        };
        Ok(self.rpc().create_personal_token(request).await?.into_inner())
    }

    /// A new value for a personal token (the old one stops working).
    pub async fn regenerate_personal_token(
        &self,
        user_id: &str,
        id: &str,
        expires_in: i64,
    ) -> Result<pb::PersonalTokenSecret, Status> {
        let request = pb::RegeneratePersonalTokenRequest { user_id: user_id.to_owned(), id: id.to_owned(), expires_in };
        Ok(self.rpc().regenerate_personal_token(request).await?.into_inner())
    }

    /// Revokes one personal token of the user (`id`), or all of them (`id` empty): how many.
    pub async fn revoke_personal_tokens(&self, user_id: &str, id: &str) -> Result<u64, Status> {
        let request = pb::RevokePersonalTokensRequest { user_id: user_id.to_owned(), id: id.to_owned() };
        Ok(self.rpc().revoke_personal_tokens(request).await?.into_inner().revoked)
    }

    /// Revokes a token found somewhere it should not be (secret scanning).
    pub async fn revoke_token_by_value(&self, token: &str) -> Result<pb::RevokeTokenByValueResponse, Status> {
        Ok(self
            .rpc()
            .revoke_token_by_value(pb::RevokeTokenByValueRequest { token: token.to_owned() })
            .await?
            .into_inner())
    }

    /// The published key set, and how long it may be cached.
    pub async fn jwks(&self) -> Result<pb::GetJwksResponse, Status> {
        Ok(self.rpc().get_jwks(pb::GetJwksRequest {}).await?.into_inner())
    }

    /// OpenID Connect UserInfo for an access token.
    pub async fn user_info(&self, token: &str, dpop: Option<pb::DpopProof>) -> Result<pb::UserInfoResponse, Status> {
        Ok(self.rpc().user_info(pb::UserInfoRequest { token: token.to_owned(), dpop }).await?.into_inner())
    }

    /// A Shared Signals receiver's request (stream management or poll).
    pub async fn ssf(&self, request: pb::SsfRequest) -> Result<pb::SsfResponse, Status> {
        Ok(self.rpc().ssf(request).await?.into_inner())
    }

    /// An `id_token_hint` this server issued: its subject and audience.
    pub async fn verify_id_token_hint(&self, id_token_hint: &str) -> Result<(String, String), Status> {
        let request = pb::VerifyIdTokenHintRequest { id_token_hint: id_token_hint.to_owned() };
        let verified = self.rpc().verify_id_token_hint(request).await?.into_inner();
        Ok((verified.sub, verified.client_id))
    }

    pub async fn signing_keys(&self) -> Result<Vec<pb::SigningKey>, Status> {
        Ok(self.rpc().list_signing_keys(pb::ListSigningKeysRequest {}).await?.into_inner().keys)
    }

    /// Stages new signing keys (`algs` empty: every algorithm in use); the keys after.
    pub async fn rotate_signing_keys(&self, algs: Vec<String>, force: bool) -> Result<Vec<pb::SigningKey>, Status> {
        Ok(self.rpc().rotate_signing_keys(pb::RotateSigningKeysRequest { algs, force }).await?.into_inner().keys)
    }

    /// Retires a signing key; the keys after.
    pub async fn retire_signing_key(&self, kid: &str, force: bool) -> Result<Vec<pb::SigningKey>, Status> {
        let request = pb::RetireSigningKeyRequest { kid: kid.to_owned(), force };
        Ok(self.rpc().retire_signing_key(request).await?.into_inner().keys)
    }

    super::audit_methods!();
}
