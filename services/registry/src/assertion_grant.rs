//! An assertion presented as an authorization grant (RFC 7523 §2.1,
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`): either a
//! workload's platform token, which a federation rule maps to a client
//! (the grant form of workload identity federation: the token is then the
//! client's only credential), or an Identity Assertion JWT Authorization
//! Grant (ID-JAG, `typ: oauth-id-jag+jwt`) of a trusted enterprise
//! identity provider, which names a user for an authenticated client.

use gatehouse_oauth::OAuthError;

use crate::assertion::{Claims, as_grant_error};
use crate::error::{RegistryError, RegistryResult};
use crate::federation::{UserField, unverified_claim};
use crate::model::{Application, User};
use crate::service::Registry;

/// The JOSE `typ` of an ID-JAG.
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";

/// What an assertion grant turned out to be.
#[derive(Debug)]
pub enum AssertionGrant {
    /// A workload token: the client it authenticates.
    Workload(Box<Application>),
    /// A verified ID-JAG: the user and what it allows.
    Identity(Box<IdentityGrant>),
}

/// A verified ID-JAG.
#[derive(Debug)]
pub struct IdentityGrant {
    pub issuer: String,
    pub subject: String,
    pub user: User,
    /// Its `scope`, split; `None` when it carried none.
    pub scopes: Option<Vec<String>>,
    pub resources: Vec<String>,
    pub auth_time: Option<i64>,
    pub expires_at: i64,
    /// `cnf.jkt`: the DPoP key the token request must prove.
    pub jkt: Option<String>,
}

fn refused(reason: impl Into<std::borrow::Cow<'static, str>>) -> RegistryError {
    RegistryError::OAuth(OAuthError::invalid_grant(reason))
}

/// Whether a JOSE header's `typ` says ID-JAG (media types compare without
/// case, with or without the `application/` prefix: RFC 7515 §4.1.9).
fn is_id_jag(assertion: &str) -> bool {
    let typ = jsonwebtoken::decode_header(assertion).ok().and_then(|header| header.typ);
    typ.is_some_and(|typ| {
        let typ = typ.to_ascii_lowercase();
        typ == ID_JAG_TYP || typ.strip_prefix("application/") == Some(ID_JAG_TYP)
    })
}

impl Registry {
    /// Verifies an assertion grant. `client_id`: the client the token
    /// request authenticated, empty when it carried no authentication.
    pub async fn verify_assertion_grant(
        &self,
        assertion: &str,
        client_id: &str,
        requester: &str,
    ) -> RegistryResult<AssertionGrant> {
        let federation = self.inner.federation.current();
        let trusted = unverified_claim(assertion, "iss")
            .and_then(|iss| federation.issuer(&iss).cloned())
            .ok_or_else(|| refused("the assertion's iss is not an issuer this server trusts"))?;
        let now = self.now();
        if !is_id_jag(assertion) {
            let mapped = self
                .inner
                .assertions
                .verify_federated(&trusted, assertion, now, requester)
                .await
                .map_err(as_grant_error)?;
            if !client_id.is_empty() && client_id != mapped {
                return Err(refused("the assertion maps to another client than the one that authenticated"));
            }
            let Some((app, _)) = self.stores().applications.application_with_hashes(&mapped).await? else {
                return Err(refused("the client a federation rule names does not exist"));
            };
            return Ok(AssertionGrant::Workload(Box::new(app)));
        }
        let Some(rules) = &trusted.identity_assertions else {
            return Err(refused("the assertion's issuer is not trusted for identity assertions (ID-JAG)"));
        };
        if client_id.is_empty() {
            return Err(RegistryError::OAuth(OAuthError::invalid_client(
                "an identity assertion grant needs client authentication",
            )));
        }
        if !rules.admits(client_id) {
            return Err(refused("this client may not present this identity provider's assertions"));
        }
        let claims =
            self.inner.assertions.verify_identity_assertion(&trusted, assertion, client_id, now, requester).await?;
        let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str).filter(|v| !v.is_empty());
        let subject = text("sub").ok_or_else(|| refused("the identity assertion has no sub"))?.to_owned();
        let named = text(&rules.user_claim).ok_or_else(|| {
            refused(format!("the identity assertion has no {} claim naming the user", rules.user_claim))
        })?;
        let user = match rules.user_field {
            UserField::Id => self.get_user_by_id(named).await,
            UserField::Username => self.get_user_by_username(named).await,
        };
        let user = match user {
            Err(RegistryError::NotFound(_)) => {
                return Err(refused("the identity assertion's user has no account on this server"));
            }
            other => other?,
        };
        Ok(AssertionGrant::Identity(Box::new(IdentityGrant {
            issuer: trusted.issuer.clone(),
            subject,
            user,
            scopes: text("scope").map(|s| s.split_ascii_whitespace().map(str::to_owned).collect()),
            resources: resources(&claims)?,
            auth_time: claims.get("auth_time").and_then(serde_json::Value::as_i64),
            expires_at: claims.get("exp").and_then(serde_json::Value::as_i64).unwrap_or(now),
            jkt: claims
                .get("cnf")
                .and_then(|cnf| cnf.get("jkt"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        })))
    }
}

/// The ID-JAG's `resource` claim: one string or an array of strings.
fn resources(claims: &Claims) -> RegistryResult<Vec<String>> {
    match claims.get("resource") {
        None => Ok(Vec::new()),
        Some(serde_json::Value::String(one)) => Ok(vec![one.clone()]),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| refused("the identity assertion's resource must be strings")),
        Some(_) => Err(refused("the identity assertion's resource must be a string or an array of strings")),
    }
}
