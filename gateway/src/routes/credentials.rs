//! Finding credentials in an HTTP request: the `Authorization` header, the
//! form body and the query string are handed to `gatehouse-oauth`, whose
//! rules say whether they were presented correctly; whether they are valid
//! is the services' decision. Nothing here builds an OAuth error.

use gatehouse_oauth::client_auth::{CLIENT_AUTH_PARAMETERS, bearer_token};
use gatehouse_oauth::{ClientAuthMethod, ClientAuthentication, Params};
use gatehouse_proto::convert::{client_credentials_to_pb, params_to_pb};
use gatehouse_proto::pb::common::v1::Parameter;
use gatehouse_proto::pb::token::v1::ClientCredentials;
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE};

use crate::error::GatewayError;

fn header(headers: &HeaderMap, name: http::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The form parameters of a token, revocation or introspection request.
pub(crate) fn endpoint_form(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Result<Params, GatewayError> {
    Ok(Params::endpoint_form(header(headers, CONTENT_TYPE), query, body)?)
}

/// A form an OAuth client posted to the token, revocation, introspection
/// or device authorization endpoint: its parameters, its credentials in
/// wire form, and whether Basic was used.
pub(crate) struct ClientForm {
    pub(crate) params: Params,
    pub(crate) client: ClientCredentials,
    pub(crate) used_basic: bool,
}

pub(crate) fn client_form(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
    client_address: String,
) -> Result<ClientForm, GatewayError> {
    let params = endpoint_form(headers, query, body)?;
    let (client, used_basic) = client(headers, &params, client_address)?;
    Ok(ClientForm { params, client, used_basic })
}

/// The client's credentials in wire form, and whether Basic was used (its
/// `invalid_client` then carries a `WWW-Authenticate: Basic` challenge).
pub(crate) fn client(
    headers: &HeaderMap,
    params: &Params,
    client_address: String,
) -> Result<(ClientCredentials, bool), GatewayError> {
    let auth = ClientAuthentication::from_request(header(headers, AUTHORIZATION), params)?;
    let used_basic = auth.method == ClientAuthMethod::ClientSecretBasic;
    Ok((client_credentials_to_pb(auth, client_address), used_basic))
}

/// The request's parameters to forward, without the client authentication
/// ones (they travel in `ClientCredentials`).
pub(crate) fn forwarded(params: &Params) -> Vec<Parameter> {
    params_to_pb(params.without(&CLIENT_AUTH_PARAMETERS))
}

/// The bearer token of a POST to a protected resource: the header, the
/// query, or `access_token` in a form body (RFC 6750 §2.2). Query and body
/// are read as one parameter list, so `bearer_token`'s one-way-only rule
/// covers all three.
pub(crate) fn bearer_with_form(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Option<String>, GatewayError> {
    let form = header(headers, CONTENT_TYPE)
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let mut pairs = Params::from_form(query.unwrap_or_default().as_bytes()).into_pairs();
    if form {
        pairs.extend(Params::from_form(body).into_pairs());
    }
    let params = Params::new(pairs);
    Ok(bearer_token(header(headers, AUTHORIZATION), &params)?.map(gatehouse_oauth::AccessToken::into_exposed))
}

/// The bearer token of a protected-resource request, if one was sent.
pub(crate) fn bearer(headers: &HeaderMap, query: Option<&str>) -> Result<Option<String>, GatewayError> {
    let query = Params::from_form(query.unwrap_or_default().as_bytes());
    Ok(bearer_token(header(headers, AUTHORIZATION), &query)?.map(gatehouse_oauth::AccessToken::into_exposed))
}
