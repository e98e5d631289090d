//! One module per grant type, and the one place that routes a parsed
//! [`TokenRequest`] to its module: a new grant is an arm here and a module
//! beside the others (its parsing is an arm of `gatehouse_oauth::grant`).

mod authorization_code;
mod client_credentials;
mod device_code;
mod jwt_bearer;
mod refresh_token;
mod token_exchange;
mod txn_token;

use gatehouse_oauth::TokenRequest;

use crate::clients::Client;
use crate::dpop::Binding;
use crate::error::TokenResult;
use crate::issue::Minted;
use crate::service::TokenService;

impl TokenService {
    /// Runs the grant of an authenticated client that is allowed it.
    /// `binding`: the DPoP key the request's tokens are bound to, if any.
    pub(crate) async fn grant(&self, client: &Client, request: TokenRequest, binding: Binding) -> TokenResult<Minted> {
        match request {
            TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier, resources } => {
                self.authorization_code(client, code, redirect_uri, code_verifier, resources, binding).await
            }
            TokenRequest::RefreshToken { refresh_token, scope, resources } => {
                self.refresh_token(client, &refresh_token, scope.as_ref(), resources, binding).await
            }
            TokenRequest::ClientCredentials { scope, resources } => {
                self.client_credentials(client, scope.as_ref(), resources, binding).await
            }
            TokenRequest::DeviceCode { device_code } => self.device_code(client, device_code, binding).await,
            TokenRequest::TokenExchange(exchange) => self.token_exchange(client, *exchange, binding).await,
            // Routed before a client is known (`TokenService::jwt_bearer`): the assertion may be the credential.
            TokenRequest::JwtBearer { .. } => {
                Err(gatehouse_oauth::OAuthError::invalid_request("the jwt-bearer grant is not run here").into())
            }
        }
    }
}

/// A new grant family's id. Time-ordered (UUIDv7): every token row is
/// indexed by its family, and ids that only grow keep those index inserts
/// at the end of the index, one page for a whole batch of new tokens,
/// where random ids touched a page per token. Family ids never leave the
/// service.
pub(crate) fn family_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
