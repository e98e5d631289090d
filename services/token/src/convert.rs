//! The token service's wire messages to and from its domain types; the
//! shared OAuth ones are in `gatehouse_proto::convert`.

use gatehouse_proto::convert::client_credentials_from_pb;
pub(crate) use gatehouse_proto::convert::params_from_pb;
use gatehouse_proto::pb::token::v1 as pb;

use crate::cache::ActiveToken;
use crate::clients::Presented;
use crate::issue::Minted;

/// The presented credentials of a request, if it carries any.
pub(crate) fn presented(client: Option<pb::ClientCredentials>) -> Option<Presented> {
    client.map(|pb| {
        let (auth, address) = client_credentials_from_pb(pb);
        Presented { auth, address }
    })
}

impl From<Minted> for pb::ExchangeResponse {
    fn from(minted: Minted) -> Self {
        Self {
            access_token: minted.access_token.into_exposed(),
            // RFC 8693 §2.2.1: `N_A` for what is not an access token (a Txn-Token).
            token_type: match (minted.issued_token_type, minted.dpop) {
                (Some(gatehouse_oauth::grant::TXN_TOKEN_TYPE), _) => "N_A",
                (_, true) => "DPoP",
                _ => "bearer",
            }
            .to_owned(),
            expires_in: minted.expires_in,
            refresh_token: minted.refresh_token.map(gatehouse_oauth::RefreshToken::into_exposed).unwrap_or_default(),
            scope: minted.scopes.join(" "),
            id_token: minted.id_token.map(gatehouse_oauth::IdToken::into_exposed).unwrap_or_default(),
            issued_token_type: minted.issued_token_type.unwrap_or_default().to_owned(),
            dpop_nonce: String::new(),
        }
    }
}

pub(crate) fn introspection(active: Option<ActiveToken>) -> pb::IntrospectResponse {
    match active {
        None => pb::IntrospectResponse::default(),
        Some(active) => {
            let (amr, acr) = active.authentication();
            pb::IntrospectResponse {
                active: true,
                auth_time: active.auth_time.unwrap_or(0),
                acr: acr.unwrap_or_default().to_owned(),
                amr,
                token_type: active.kind().as_str().to_owned(),
                scopes: active.scopes,
                client_id: active.client_id,
                user_id: active.user_id,
                username: active.username,
                expires_at: active.expires_at,
                issued_at: active.issued_at,
                audience: active.audience,
                jkt: active.jkt,
                actors: active.actors,
            }
        }
    }
}

pub(crate) fn personal_info(record: crate::store::PersonalRecord) -> pb::PersonalTokenInfo {
    pb::PersonalTokenInfo {
        id: record.id,
        name: record.name,
        scopes: record.scopes,
        created_at: record.created_at,
        expires_at: record.expires_at,
        last_used_at: record.last_used_at.unwrap_or(0),
        last_used_address: record.last_used_address.unwrap_or_default(),
    }
}

pub(crate) fn personal_secret(created: crate::personal::NewPersonalToken) -> pb::PersonalTokenSecret {
    pb::PersonalTokenSecret { info: Some(personal_info(created.info)), token: created.token.into_exposed() }
}

impl From<crate::identity::StandardClaims> for pb::UserInfoResponse {
    fn from(claims: crate::identity::StandardClaims) -> Self {
        Self {
            sub: claims.sub,
            name: claims.name,
            preferred_username: claims.preferred_username,
            picture: claims.picture,
            updated_at: claims.updated_at,
            email: claims.email,
            email_verified: claims.email_verified,
        }
    }
}

pub(crate) fn signing_keys(keys: Vec<crate::keys::StoredKey>) -> pb::ListSigningKeysResponse {
    let keys = keys
        .into_iter()
        .map(|key| pb::SigningKey {
            state: key.state().as_str().to_owned(),
            alg: key.alg.as_str().to_owned(),
            kid: key.kid,
            created_at: key.created_at,
            activated_at: key.activated_at.unwrap_or(0),
            deactivated_at: key.deactivated_at.unwrap_or(0),
            retired_at: key.retired_at.unwrap_or(0),
        })
        .collect();
    pb::ListSigningKeysResponse { keys }
}

/// The algorithms named, or every one when none is.
pub(crate) fn signing_algs(names: &[String]) -> Result<Vec<crate::keys::SigningAlg>, crate::error::TokenError> {
    use crate::keys::SigningAlg;
    if names.is_empty() {
        return Ok(SigningAlg::ALL.to_vec());
    }
    names
        .iter()
        .map(|name| {
            SigningAlg::parse(name).ok_or_else(|| crate::error::TokenError::Invalid {
                field: "algs",
                rule: format!("{name:?} is not a signing algorithm (RS256, ES256)"),
            })
        })
        .collect()
}

pub(crate) fn revocation_events(batch: crate::watch::Batch) -> pb::RevocationEvents {
    pb::RevocationEvents {
        revoked: batch
            .revoked
            .into_iter()
            .map(|r| pb::RevokedToken { token_hash: r.hash, expires_at: r.expires_at })
            .collect(),
        cursor: batch.cursor,
        head: batch.head,
        reset: batch.reset,
    }
}
