//! Exchange: the token endpoint's rules (RFC 6749 §4.1.3, §4.4, §5, §6).

use gatehouse_oauth::{GrantType, OAuthError, OAuthErrorCode, Params, TokenRequest};
use gatehouse_runtime::metrics::{IssuedLabels, metrics};

use crate::clients::Presented;
use crate::error::TokenResult;
use crate::issue::Minted;
use crate::service::TokenService;

impl TokenService {
    /// Runs one token request. The grant type is read first (a cheap,
    /// secret-free rule), then the client is authenticated and must be
    /// allowed the grant, then the grant's parameters are read and it runs.
    pub(crate) async fn exchange(
        &self,
        client: Option<&Presented>,
        params: &Params,
        dpop: Option<&gatehouse_proto::pb::token::v1::DpopProof>,
    ) -> TokenResult<Minted> {
        let grant = GrantType::of_request(params)?;
        if grant == GrantType::JwtBearer {
            let minted = self.jwt_bearer(client, params, dpop).await?;
            count_issued(grant, &minted);
            return Ok(minted);
        }
        let client = self.authenticate_client(client).await?;
        if !client.allows(grant) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                format!("the application is not allowed the {} grant", grant.as_str()),
            )
            .into());
        }
        let request = TokenRequest::parse(grant, params)?;
        let binding = self.token_request_binding(&client, dpop).await?;
        let minted = self.grant(&client, request, binding).await?;
        count_issued(grant, &minted);
        Ok(minted)
    }
}

/// Counted once stored: a failed grant issued nothing.
fn count_issued(grant: GrantType, minted: &Minted) {
    let issued = &metrics().tokens_issued;
    issued.get_or_create(&IssuedLabels { grant_type: grant.as_str(), token_type: "access_token" }).inc();
    if minted.refresh_token.is_some() {
        issued.get_or_create(&IssuedLabels { grant_type: grant.as_str(), token_type: "refresh_token" }).inc();
    }
}
