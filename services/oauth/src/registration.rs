//! Dynamic client registration documents (RFC 7591 §2, §3.1) and the
//! client configuration endpoint's replacement rule (RFC 7592 §2.2): how a
//! request's JSON is read. Whether the metadata is *acceptable* (redirect
//! URI rules, methods, keys, scopes) is the registry's decision; these rules
//! say only whether it was presented correctly. A member of the wrong JSON
//! type is `invalid_client_metadata`; unknown members are ignored; absent and
//! `null` members read as "not sent".

use serde_json::{Map, Value};

use crate::error::{OAuthError, OAuthErrorCode};

/// RFC 7591 §2 metadata with no effect on the flows, kept to be shown and echoed.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ClientExtras {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_uri: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tos_uri: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy_uri: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub software_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub software_version: String,
}

/// A client's registration metadata (RFC 7591 §2) as sent, before the
/// registry's validation. Empty strings and lists are "not sent".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub client_name: String,
    pub logo_uri: String,
    pub scope: String,
    /// A JWK Set as compact JSON text.
    pub jwks: String,
    pub jwks_uri: String,
    pub application_type: String,
    pub post_logout_redirect_uris: Vec<String>,
    /// OpenID Connect Registration §2.
    pub id_token_signed_response_alg: String,
    /// RFC 9126 §6.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2.
    pub dpop_bound_access_tokens: bool,
    pub extras: ClientExtras,
}

fn metadata_error(description: String) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidClientMetadata, description)
}

/// The JSON object of a registration or replacement request (RFC 7591 §3.1:
/// `application/json`).
pub fn registration_document(content_type: Option<&str>, body: &[u8]) -> Result<Map<String, Value>, OAuthError> {
    let json = content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(metadata_error("send the client metadata as application/json (RFC 7591 section 3.1)".to_owned()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(metadata_error("the client metadata must be a JSON object".to_owned())),
        Err(_) => Err(metadata_error("the client metadata is not valid JSON".to_owned())),
    }
}

fn string(map: &Map<String, Value>, name: &str) -> Result<String, OAuthError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(value)) => Ok(value.clone()),
        Some(_) => Err(metadata_error(format!("{name} must be a string"))),
    }
}

fn boolean(map: &Map<String, Value>, name: &str) -> Result<bool, OAuthError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(metadata_error(format!("{name} must be true or false"))),
    }
}

/// Most strings one list member may hold (a bound, not a rule: the registry's are tighter).
const MAX_LIST: usize = 100;

fn strings(map: &Map<String, Value>, name: &str) -> Result<Vec<String>, OAuthError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_LIST => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| metadata_error(format!("{name} must hold strings")))
            })
            .collect(),
        Some(_) => Err(metadata_error(format!("{name} must be an array of at most {MAX_LIST} strings"))),
    }
}

impl ClientMetadata {
    /// Reads the members of a registration document.
    pub fn from_document(map: &Map<String, Value>) -> Result<Self, OAuthError> {
        let jwks = match map.get("jwks") {
            None | Some(Value::Null) => String::new(),
            Some(value @ Value::Object(_)) => value.to_string(),
            Some(_) => return Err(metadata_error("jwks must be a JWK Set object".to_owned())),
        };
        Ok(Self {
            redirect_uris: strings(map, "redirect_uris")?,
            token_endpoint_auth_method: string(map, "token_endpoint_auth_method")?,
            grant_types: strings(map, "grant_types")?,
            response_types: strings(map, "response_types")?,
            client_name: string(map, "client_name")?,
            logo_uri: string(map, "logo_uri")?,
            scope: string(map, "scope")?,
            jwks,
            jwks_uri: string(map, "jwks_uri")?,
            application_type: string(map, "application_type")?,
            post_logout_redirect_uris: strings(map, "post_logout_redirect_uris")?,
            id_token_signed_response_alg: string(map, "id_token_signed_response_alg")?,
            require_pushed_authorization_requests: boolean(map, "require_pushed_authorization_requests")?,
            dpop_bound_access_tokens: boolean(map, "dpop_bound_access_tokens")?,
            extras: ClientExtras {
                client_uri: string(map, "client_uri")?,
                contacts: strings(map, "contacts")?,
                tos_uri: string(map, "tos_uri")?,
                policy_uri: string(map, "policy_uri")?,
                software_id: string(map, "software_id")?,
                software_version: string(map, "software_version")?,
            },
        })
    }
}

/// Members a client must not send in a replacement (RFC 7592 §2.2): the server's.
const SERVER_MEMBERS: [&str; 4] =
    ["registration_access_token", "registration_client_uri", "client_id_issued_at", "client_secret_expires_at"];

/// RFC 7592 §2: the registration access token, sent as a Bearer token; a
/// request without one is `invalid_token` before anything else is read.
pub fn registration_access_token(presented: Option<String>) -> Result<String, OAuthError> {
    presented.filter(|token| !token.is_empty()).ok_or_else(|| {
        OAuthError::new(
            OAuthErrorCode::InvalidToken,
            "send the registration access token as a Bearer token (RFC 7592 section 2)",
        )
    })
}

/// RFC 7592 §2.2: a replacement carries the client's own `client_id` and none
/// of the members only the server sets.
pub fn check_replacement(client_id: &str, map: &Map<String, Value>) -> Result<(), OAuthError> {
    if map.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(metadata_error("the update must carry this client's client_id (RFC 7592 section 2.2)".to_owned()));
    }
    match SERVER_MEMBERS.iter().find(|m| map.contains_key(**m)) {
        Some(member) => {
            Err(metadata_error(format!("{member} is the server's to set, not the client's (RFC 7592 section 2.2)")))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn members_of_the_wrong_type_are_invalid_metadata_and_unknown_ones_ignored() {
        let read = ClientMetadata::from_document(&map(json!({
            "redirect_uris": ["https://a.example/cb"], "client_uri": null, "future": {"x": 1}
        })))
        .expect("a valid document");
        assert_eq!(read.redirect_uris, ["https://a.example/cb"]);
        assert!(read.extras.client_uri.is_empty());
        for bad in [
            json!({"redirect_uris": "https://a.example/cb"}),
            json!({"redirect_uris": [1]}),
            json!({"client_name": 7}),
            json!({"jwks": "keys"}),
        ] {
            let error = ClientMetadata::from_document(&map(bad.clone())).expect_err("refused");
            assert_eq!(error.code, OAuthErrorCode::InvalidClientMetadata, "{bad}");
        }
        assert!(registration_document(Some("text/plain"), b"{}").is_err());
        assert!(registration_document(Some("application/json; charset=utf-8"), b"[1]").is_err());
        assert!(registration_document(Some("application/json"), b"{}").is_ok());
    }

    #[test]
    fn a_replacement_names_its_client_and_no_server_member() {
        assert!(check_replacement("c1", &map(json!({"client_id": "c1"}))).is_ok());
        assert!(check_replacement("c1", &map(json!({"client_id": "c2"}))).is_err());
        assert!(check_replacement("c1", &map(json!({}))).is_err());
        assert!(check_replacement("c1", &map(json!({"client_id": "c1", "client_id_issued_at": 1}))).is_err());
    }
}
