//! Reading credentials off an HTTP request: client authentication
//! (RFC 6749 §2.3.1) and bearer tokens (RFC 6750 §2). Parsing only: whether
//! they are valid is the services' decision.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_proto::pb::token::v1::{ClientAuthMethod, ClientCredentials};
use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::form::FormData;
use crate::error::GatewayError;

/// Parameters of a token-endpoint request, each present at most once.
#[derive(Debug, Default)]
pub(crate) struct OAuthParams(FormData);

impl OAuthParams {
    /// Refuses a parameter given twice (RFC 6749 §3.2: "MUST NOT be included more than once").
    pub(crate) fn new(form: FormData) -> Result<Self, GatewayError> {
        let mut seen = std::collections::BTreeSet::new();
        for (name, _) in &form.0 {
            if !seen.insert(name.as_str()) {
                return Err(invalid_request(format!("{name} is given more than once")));
            }
        }
        Ok(Self(form))
    }

    pub(crate) fn text(&self, name: &str) -> String {
        self.0.text(name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }
}

pub(crate) fn invalid_request(message: impl Into<String>) -> GatewayError {
    let message = message.into();
    let mut error = GatewayError::bad_request(message.clone());
    error.oauth = Some(gatehouse_oauth::OAuthError::invalid_request(message));
    error
}

fn invalid_client(message: &'static str) -> GatewayError {
    let mut error = GatewayError::unauthenticated(message);
    error.oauth = Some(gatehouse_oauth::OAuthError::invalid_client(message));
    error
}

fn percent_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("x={value}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// `Authorization: Basic` credentials, form-urlencoded inside (RFC 6749 §2.3.1).
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, GatewayError> {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
        return Ok(None);
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid_client("malformed Basic credentials"))?;
    let text = String::from_utf8(decoded).map_err(|_| invalid_client("malformed Basic credentials"))?;
    let (id, secret) = text.split_once(':').ok_or_else(|| invalid_client("malformed Basic credentials"))?;
    Ok(Some((percent_decode(id), percent_decode(secret))))
}

/// The client's credentials and whether Basic was used. One method only
/// (RFC 6749 §2.3: "MUST NOT use more than one authentication method").
pub(crate) fn client(
    headers: &HeaderMap,
    params: &OAuthParams,
    client_address: String,
) -> Result<(ClientCredentials, bool), GatewayError> {
    let form_id = params.get("client_id").filter(|v| !v.is_empty());
    let form_secret = params.get("client_secret").filter(|v| !v.is_empty());
    match basic(headers)? {
        Some(_) if form_secret.is_some() => {
            Err(invalid_request("use one client authentication method, not Basic and client_secret both"))
        }
        Some((id, _)) if form_id.is_some_and(|f| f != id) => {
            Err(invalid_request("client_id differs from the Basic credentials"))
        }
        Some((client_id, client_secret)) => Ok((
            ClientCredentials {
                client_id,
                client_secret,
                method: ClientAuthMethod::ClientSecretBasic as i32,
                client_address,
            },
            true,
        )),
        None => {
            let method =
                if form_secret.is_some() { ClientAuthMethod::ClientSecretPost } else { ClientAuthMethod::None };
            let credentials = ClientCredentials {
                client_id: form_id.unwrap_or_default().to_owned(),
                client_secret: form_secret.unwrap_or_default().to_owned(),
                method: method as i32,
                client_address,
            };
            Ok((credentials, false))
        }
    }
}

/// The bearer token of a protected-resource request: `Authorization: Bearer`
/// (RFC 6750 §2.1), `Authorization: token` (the seed platform's and
/// GitHub's form), or the `access_token` query parameter (the seed's URL).
///
/// A token sent more than one way (the header and the query, or the query
/// parameter twice) is `invalid_request` (RFC 6750 §2: "MUST NOT use more
/// than one method").
pub(crate) fn bearer(headers: &HeaderMap, query: Option<&str>) -> Result<Option<String>, GatewayError> {
    let from_header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")).then(|| token.trim().to_owned())
    });
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let mut from_query = query.0.iter().filter(|(name, _)| name == "access_token").map(|(_, v)| v.clone());
    let first = from_query.next();
    if from_query.next().is_some() || (first.is_some() && from_header.is_some()) {
        return Err(invalid_request("send the access token one way only"));
    }
    Ok(from_header.or(first).filter(|t| !t.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_for(headers: &HeaderMap, params: &OAuthParams) -> Result<(ClientCredentials, bool), GatewayError> {
        client(headers, params, String::new())
    }

    fn params(pairs: &[(&str, &str)]) -> OAuthParams {
        OAuthParams::new(FormData(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())).unwrap()
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = STANDARD.encode("my%20client:s%3Acret");
        let (creds, basic) = client_for(&with_auth(&format!("Basic {encoded}")), &params(&[])).unwrap();
        assert!(basic);
        assert_eq!((creds.client_id.as_str(), creds.client_secret.as_str()), ("my client", "s:cret"));
    }

    #[test]
    fn two_methods_or_duplicates_are_invalid_requests() {
        let encoded = STANDARD.encode("a:b");
        let both = client_for(&with_auth(&format!("Basic {encoded}")), &params(&[("client_secret", "b")]));
        assert_eq!(both.unwrap_err().oauth.unwrap().code.as_str(), "invalid_request");
        let dup = OAuthParams::new(FormData(vec![("code".into(), "a".into()), ("code".into(), "b".into())]));
        assert_eq!(dup.unwrap_err().oauth.unwrap().code.as_str(), "invalid_request");
        assert_eq!(
            client_for(&with_auth("Basic %%%"), &params(&[])).unwrap_err().oauth.unwrap().code.as_str(),
            "invalid_client"
        );
    }

    #[test]
    fn public_and_post_clients() {
        let (creds, basic) = client_for(&HeaderMap::new(), &params(&[("client_id", "pub")])).unwrap();
        assert!(!basic);
        assert_eq!(creds.method, ClientAuthMethod::None as i32);
        let (creds, _) = client_for(&HeaderMap::new(), &params(&[("client_id", "c"), ("client_secret", "s")])).unwrap();
        assert_eq!(creds.method, ClientAuthMethod::ClientSecretPost as i32);
    }

    #[test]
    fn bearer_tokens_come_from_either_header_form_or_the_query() {
        let token = |headers: &HeaderMap, query| bearer(headers, query).unwrap();
        assert_eq!(token(&with_auth("Bearer abc"), None).as_deref(), Some("abc"));
        assert_eq!(token(&with_auth("token abc"), None).as_deref(), Some("abc"));
        assert_eq!(token(&HeaderMap::new(), Some("access_token=q1&x=2")).as_deref(), Some("q1"));
        assert_eq!(token(&HeaderMap::new(), Some("x=2")), None);
        assert_eq!(token(&with_auth("Basic abc"), None), None);
        assert!(bearer(&with_auth("Bearer abc"), Some("access_token=abc")).is_err(), "two ways");
        assert!(bearer(&HeaderMap::new(), Some("access_token=a&access_token=b")).is_err(), "twice");
    }
}
