//! `client_credentials` (RFC 6749 §4.4): confidential clients only, no user,
//! no refresh token; and the application tokens other grants issue the same way.

use gatehouse_oauth::grant::narrow;
use gatehouse_oauth::{ClientType, OAuthError, OAuthErrorCode, ResourceId, ScopeSet};

use super::family_id;
use crate::clients::Client;
use crate::error::TokenResult;
use crate::issue::{Family, Minted};
use crate::service::TokenService;
use crate::store::Fence;

impl TokenService {
    pub(crate) async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&ScopeSet>,
        resources: Vec<ResourceId>,
        binding: crate::dpop::Binding,
    ) -> TokenResult<Minted> {
        if client.client_type != ClientType::Confidential {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "client_credentials needs a confidential client",
            )
            .into());
        }
        self.application_token(client, scope, resources, binding).await
    }

    /// A token of the application itself (no user): `client_credentials`,
    /// and a workload's jwt-bearer grant.
    pub(crate) async fn application_token(
        &self,
        client: &Client,
        scope: Option<&ScopeSet>,
        resources: Vec<ResourceId>,
        binding: crate::dpop::Binding,
    ) -> TokenResult<Minted> {
        let scopes = narrow(scope, &client.scopes)?.to_strings();
        // No grant to narrow from: what the registry admits for the client.
        let audience = self.inner.clients.resources(client.client_id.as_str(), &resources, true).await?;
        let family = Family {
            id: family_id(),
            code_id: None,
            client_id: client.client_id.as_str().to_owned(),
            user_id: String::new(),
            username: String::new(),
            auth_time: None,
            amr: Vec::new(),
            resources: resources.into_iter().map(ResourceId::into_string).collect(),
            audience,
            binding,
            parent: None,
            actors: Vec::new(),
            not_after: None,
        };
        let minted = self.mint(&family, &scopes, None)?;
        // No user, so no grant: only the application's deletion can race it,
        // and that one counts whenever it was (no watermark to read first).
        let fence = Fence { watermark: i64::MAX, client_id: family.client_id.clone(), user_id: String::new() };
        self.store_minted(minted, &family, &fence).await
    }
}
