//! `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4): the
//! device polls with its device code; the authorization service, which
//! owns device authorizations, answers pending, slow down, denied, expired,
//! or (once) the user who approved and the scopes.

use gatehouse_oauth::DeviceCode;

use super::family_id;
use crate::clients::Client;
use crate::error::TokenResult;
use crate::issue::{Family, Minted};
use crate::service::TokenService;
use crate::store::Fence;

impl TokenService {
    pub(crate) async fn device_code(
        &self,
        client: &Client,
        device_code: DeviceCode,
        binding: crate::dpop::Binding,
    ) -> TokenResult<Minted> {
        // Read before the redemption: a revocation of the grant that records
        // itself after this point is found once the tokens are stored.
        let watermark = self.inner.store.revocation_watermark().await?;
        let granted = self.inner.clients.redeem_device(device_code, client.client_id.as_str()).await?;
        let family = Family {
            id: family_id(),
            code_id: Some(granted.code_id),
            client_id: client.client_id.as_str().to_owned(),
            user_id: granted.user_id,
            username: granted.username,
            auth_time: Some(granted.auth_time),
            amr: granted.amr.clone(),
            // The device authorization request takes no `resource` (yet).
            resources: Vec::new(),
            audience: Vec::new(),
            binding,
            parent: None,
            actors: Vec::new(),
            not_after: None,
        };
        let refresh = client.gets_refresh_token(&granted.scopes).then_some(granted.scopes.as_slice());
        let mut minted = self.mint(&family, &granted.scopes, refresh)?;
        minted.id_token = self
            .id_token(client.id_token_alg, &family, &granted.scopes, None, &minted.access_token, None)
            .await?
            .map(gatehouse_oauth::IdToken::new);
        // The device code is spent: a failure to store is a 503 and the
        // device starts over (RFC 8628 has no retry of a consumed code).
        let fence = Fence { watermark, client_id: family.client_id.clone(), user_id: family.user_id.clone() };
        self.store_minted(minted, &family, &fence).await
    }
}
