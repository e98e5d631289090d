//! Exchange: the token endpoint's rules (RFC 6749 §4.1.3, §4.4, §5, §6).

use gatehouse_oauth::{GrantType, OAuthError, OAuthErrorCode};
use gatehouse_proto::pb::token::v1::ExchangeRequest;
use gatehouse_runtime::metrics::{IssuedLabels, metrics};

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
            (_, None) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::UnsupportedGrantType,
                    "grant_type is not supported: use authorization_code, refresh_token or client_credentials",
                )
                .into());
            }
        };
        let client = self.authenticate_client(request.client.as_ref()).await?;
        if !client.grant_types.contains(&grant) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                format!("the application is not allowed the {} grant", grant.as_str()),
            )
            .into());
        }
        let minted = match grant {
            GrantType::AuthorizationCode => self.authorization_code(&client, &request).await,
            GrantType::RefreshToken => self.refresh_token(&client, &request).await,
            GrantType::ClientCredentials => self.client_credentials(&client, &request).await,
        }?;
        // Counted once stored: a failed grant issued nothing.
        let issued = &metrics().tokens_issued;
        issued.get_or_create(&IssuedLabels { grant_type: grant.as_str(), token_type: "access_token" }).inc();
        if minted.refresh_token.is_some() {
            issued.get_or_create(&IssuedLabels { grant_type: grant.as_str(), token_type: "refresh_token" }).inc();
        }
        Ok(minted)
    }
}
