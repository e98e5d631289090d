//! Exchange: the token endpoint's rules (RFC 6749 §4.1.3, §4.4, §5, §6).

use gatehouse_oauth::{GrantType, OAuthError, OAuthErrorCode};
use gatehouse_proto::pb::token::v1::ExchangeRequest;

use crate::error::TokenResult;
use crate::issue::Minted;
use crate::service::TokenService;

impl TokenService {
    /// Runs one token request. The grant type is checked first (a cheap,
    /// secret-free rule), then the client is authenticated, then the grant.
    pub(crate) async fn exchange(&self, request: ExchangeRequest) -> TokenResult<Minted> {
        let grant = match (request.grant_type.as_str(), GrantType::parse(&request.grant_type)) {
            ("", _) => return Err(OAuthError::invalid_request("grant_type is missing").into()),
            (_, Some(grant)) => grant,
            (other, None) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::UnsupportedGrantType,
                    format!("grant_type {other:?} is not supported: use authorization_code, refresh_token or client_credentials"),
                )
                .into());
            }
        };
        let client = self.inner.clients.authenticate(request.client.as_ref()).await?;
        if !client.grant_types.contains(&grant) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                format!("the application is not allowed the {} grant", grant.as_str()),
            )
            .into());
        }
        match grant {
            GrantType::AuthorizationCode => self.authorization_code(&client, &request).await,
            GrantType::RefreshToken => self.refresh_token(&client, &request).await,
            GrantType::ClientCredentials => self.client_credentials(&client, &request).await,
        }
    }
}
