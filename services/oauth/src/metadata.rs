//! The server's metadata: RFC 8414's document and OpenID Connect
//! Discovery §3's are one, built here from what the server runs on (the
//! grant types, the client authentication methods, PKCE's method, the
//! claims it releases), so that what is advertised is what is implemented
//! and the two documents agree field for field, `issuer` byte for byte
//! (RFC 8414 §3.3).

use serde_json::{Value, json};

use crate::client_auth::ASSERTION_SIGNING_ALGORITHMS;
use crate::{ClientAuthMethod, GrantType};

/// The protocol's claims of an ID token.
const PROTOCOL_CLAIMS: [&str; 11] =
    ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "amr", "acr"];

/// The algorithm of JWT access tokens, and of ID tokens unless the client
/// registered another: RS256, which every relying party and resource
/// server verifies (Core §15.1, RFC 9068 §4).
pub const ID_TOKEN_SIGNING_ALG: &str = "RS256";

/// The `prompt` values the authorization endpoint honours.
pub const PROMPT_VALUES: [&str; 4] = ["none", "login", "consent", "select_account"];

/// Every claim an ID token or UserInfo can carry: the protocol's, and the
/// account's that a scope releases (see [`crate::oidc::RELEASED_CLAIMS`]).
pub fn claims_supported() -> Vec<&'static str> {
    PROTOCOL_CLAIMS.into_iter().chain(crate::oidc::RELEASED_CLAIMS.iter().map(|(claim, _)| *claim)).collect()
}

/// What the deployment decides about the document.
#[derive(Debug, Clone)]
pub struct ServerMetadata<'a> {
    /// The issuer identifier, without a trailing slash.
    pub issuer: &'a str,
    /// Dynamic client registration (RFC 7591) is taken: `registration_endpoint`.
    pub dynamic_registration: bool,
    /// Client ID metadata documents are fetched.
    pub client_id_metadata_documents: bool,
    /// The scope catalogue's names; `None` leaves the optional field out.
    pub scopes: Option<Vec<String>>,
    /// The languages of the pages (BCP 47 tags).
    pub ui_locales: Vec<&'a str>,
}

impl ServerMetadata<'_> {
    /// The document, as served at both well-known URLs.
    pub fn document(&self) -> Value {
        let issuer = self.issuer;
        let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
        let methods: Vec<&str> = ClientAuthMethod::ALL.iter().map(|m| m.as_str()).collect();
        // Introspection needs an authenticated caller (RFC 7662 §2.1): not `none`.
        let secret_methods: Vec<&str> =
            ClientAuthMethod::ALL.iter().filter(|m| **m != ClientAuthMethod::None).map(|m| m.as_str()).collect();
        let mut body = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "jwks_uri": format!("{issuer}/oauth/jwks"),
            "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
            "end_session_endpoint": format!("{issuer}/oauth/logout"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "device_authorization_endpoint": format!("{issuer}/oauth/device_authorization"),
            // RFC 9126 §5: pushing is open to every client, required of those that registered so.
            "pushed_authorization_request_endpoint": format!("{issuer}/oauth/par"),
            "require_pushed_authorization_requests": false,
            // RFC 9449 §5.1: proofs are accepted at the token endpoint for every grant.
            "dpop_signing_alg_values_supported": crate::dpop::ALGORITHMS,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": grants,
            // draft-ietf-oauth-identity-assertion-authz-grant: ID-JAGs taken
            // with the jwt-bearer grant (which issuers are trusted is not published).
            "authorization_grant_profiles_supported": ["urn:ietf:params:oauth:grant-profile:id-jag"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": crate::SigningAlg::ALL.map(crate::SigningAlg::as_str),
            "code_challenge_methods_supported": [crate::pkce::METHOD],
            "token_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_methods_supported": secret_methods,
            "authorization_response_iss_parameter_supported": true,
            "claims_supported": claims_supported(),
            "prompt_values_supported": PROMPT_VALUES,
            // RFC 9470 §7: also says that `max_age` is honoured.
            "acr_values_supported": crate::acr::SUPPORTED,
            "ui_locales_supported": self.ui_locales,
            // Discovery §3: request_uri_parameter_supported defaults to true, so
            // its absence would claim support; all three are said explicitly.
            // (`request_uri` by reference is not fetched; a pushed request's is taken.)
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            // A claims request asks for the scopes that release its claims.
            "claims_parameter_supported": true,
            // private_key_jwt (RFC 7523): the algorithms a client assertion may use.
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_SIGNING_ALGORITHMS,
            "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_SIGNING_ALGORITHMS,
            "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_SIGNING_ALGORITHMS,
            "client_id_metadata_document_supported": self.client_id_metadata_documents,
        });
        if let Some(map) = body.as_object_mut() {
            if self.dynamic_registration {
                map.insert("registration_endpoint".to_owned(), json!(format!("{issuer}/oauth/register")));
            }
            if let Some(scopes) = &self.scopes {
                map.insert("scopes_supported".to_owned(), json!(scopes));
            }
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(dynamic_registration: bool, scopes: Option<Vec<String>>) -> Value {
        ServerMetadata {
            issuer: "https://auth.example.com",
            dynamic_registration,
            client_id_metadata_documents: true,
            scopes,
            ui_locales: vec!["en", "zh-CN"],
        }
        .document()
    }

    #[test]
    fn the_document_says_what_the_enums_say() {
        let doc = document(false, None);
        let strings = |field: &str| -> Vec<String> {
            doc[field].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(strings("grant_types_supported").len(), GrantType::ALL.len());
        for grant in GrantType::ALL {
            assert!(strings("grant_types_supported").contains(&grant.as_str().to_owned()));
        }
        for method in ClientAuthMethod::ALL {
            assert!(strings("token_endpoint_auth_methods_supported").contains(&method.as_str().to_owned()));
        }
        assert!(!strings("introspection_endpoint_auth_methods_supported").contains(&"none".to_owned()));
        assert_eq!(strings("code_challenge_methods_supported"), ["S256"]);
        assert!(strings("claims_supported").contains(&"email_verified".to_owned()));
        assert!(doc.get("registration_endpoint").is_none() && doc.get("scopes_supported").is_none());
        let doc = document(true, Some(vec!["user".to_owned()]));
        assert_eq!(doc["registration_endpoint"], "https://auth.example.com/oauth/register");
        assert_eq!(doc["scopes_supported"], json!(["user"]));
    }

    #[test]
    fn every_released_claim_has_the_scope_that_releases_it() {
        for claim in claims_supported() {
            let protocol = PROTOCOL_CLAIMS.contains(&claim);
            let scoped = crate::oidc::scope_of_claim(claim).is_some();
            assert!(protocol ^ scoped, "{claim}: a protocol claim or a released one");
        }
        for (claim, scope) in crate::oidc::RELEASED_CLAIMS {
            assert_eq!(crate::oidc::scope_of_claim(claim), Some(scope), "{claim}");
        }
    }
}
