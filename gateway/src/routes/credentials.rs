//! Finding credentials in an HTTP request: the `Authorization` header, the
//! form body and the query string are handed to `gatehouse-oauth`, whose
//! rules say whether they were presented correctly; whether they are valid
//! is the services' decision. Nothing here builds an OAuth error.

use gatehouse_oauth::client_auth::{self, CLIENT_AUTH_PARAMETERS, bearer_token, single_authorization};
use gatehouse_oauth::{ClientAuthMethod, ClientAuthentication, Params};
use gatehouse_proto::convert::{client_credentials_to_pb, params_to_pb};
use gatehouse_proto::pb::common::v1::Parameter;
use gatehouse_proto::pb::token::v1::{ClientCredentials, DpopProof};
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE};

use crate::error::GatewayError;

fn header(headers: &HeaderMap, name: http::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request's one `Authorization` header (`gatehouse-oauth`'s rule: two are refused).
fn authorization(headers: &HeaderMap) -> Result<Option<&str>, GatewayError> {
    let values: Vec<&[u8]> = headers.get_all(AUTHORIZATION).iter().map(http::HeaderValue::as_bytes).collect();
    Ok(single_authorization(&values)?)
}

fn refuse_token_in_query(query: Option<&str>) -> Result<(), GatewayError> {
    Ok(client_auth::refuse_token_in_query(&Params::from_form(query.unwrap_or_default().as_bytes()))?)
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
    let auth = ClientAuthentication::from_request(authorization(headers)?, params)?;
    let used_basic = auth.method == ClientAuthMethod::ClientSecretBasic;
    Ok((client_credentials_to_pb(auth, client_address), used_basic))
}

/// The request's parameters to forward, without the client authentication
/// ones (they travel in `ClientCredentials`).
pub(crate) fn forwarded(params: &Params) -> Vec<Parameter> {
    params_to_pb(params.without(&CLIENT_AUTH_PARAMETERS))
}

/// The bearer token of a POST to a protected resource: the header, or
/// `access_token` in a form body (RFC 6750 §2.2), one way only; never the query.
pub(crate) fn bearer_with_form(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Option<String>, GatewayError> {
    refuse_token_in_query(query)?;
    let form = header(headers, CONTENT_TYPE)
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let params = if form { Params::from_form(body) } else { Params::default() };
    Ok(bearer_token(authorization(headers)?, &params)?.map(gatehouse_oauth::AccessToken::into_exposed))
}

/// The bearer token of a protected-resource request, from the
/// `Authorization` header only; one in the query is refused.
pub(crate) fn bearer(headers: &HeaderMap, query: Option<&str>) -> Result<Option<String>, GatewayError> {
    refuse_token_in_query(query)?;
    Ok(bearer_token(authorization(headers)?, &Params::default())?.map(gatehouse_oauth::AccessToken::into_exposed))
}

/// The request's one `DPoP` header (`gatehouse-oauth`'s rule: two are refused).
fn dpop_header(headers: &HeaderMap) -> Result<Option<&str>, GatewayError> {
    Ok(gatehouse_oauth::dpop::single_proof(headers.get_all("dpop").iter().map(http::HeaderValue::as_bytes))?)
}

/// The DPoP proof a request carries for `method` at `path`, whose public
/// URL is the issuer's (never one built from `Host`).
fn proof(state: &crate::AppState, value: &str, method: &http::Method, path: &str) -> DpopProof {
    DpopProof {
        proof: value.trim().to_owned(),
        method: method.as_str().to_owned(),
        url: format!("{}{path}", state.config.issuer),
    }
}

/// A token request's DPoP proof (RFC 9449 §5), if it sent one.
pub(crate) fn token_request_proof(
    state: &crate::AppState,
    headers: &HeaderMap,
    method: &http::Method,
    path: &str,
) -> Result<Option<DpopProof>, GatewayError> {
    Ok(dpop_header(headers)?.map(|value| proof(state, value, method, path)))
}

/// At a protected resource: the proof of a token sent in the `DPoP` scheme
/// (RFC 9449 §7.1), which must come with one; `None` for a bearer token.
pub(crate) fn resource_proof(
    state: &crate::AppState,
    headers: &HeaderMap,
    method: &http::Method,
    path: &str,
) -> Result<Option<DpopProof>, GatewayError> {
    if !gatehouse_oauth::dpop::is_dpop_scheme(authorization(headers)?) {
        return Ok(None);
    }
    let value = dpop_header(headers)?.ok_or_else(|| {
        GatewayError::from(gatehouse_oauth::OAuthError::new(
            gatehouse_oauth::OAuthErrorCode::InvalidDpopProof,
            "the DPoP scheme needs a DPoP proof header",
        ))
    })?;
    Ok(Some(proof(state, value, method, path)))
}

/// The seed's `GET /api/current_user?access_token=…`: its published
/// contract puts the token in the query, so there (and only there) it is
/// read from the query as well as the header, one way only.
pub(crate) fn bearer_of_seed_call(headers: &HeaderMap, query: Option<&str>) -> Result<Option<String>, GatewayError> {
    let query = Params::from_form(query.unwrap_or_default().as_bytes());
    Ok(bearer_token(authorization(headers)?, &query)?.map(gatehouse_oauth::AccessToken::into_exposed))
}
