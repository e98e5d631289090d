//! OpenID Connect as a relying party meets it: one test per module of the
//! OpenID Foundation's Basic OP and Config OP certification plans
//! (`oidcc-basic-certification-test-plan`, `oidcc-config-certification-test-plan`),
//! named after the module, checking the behaviour that module checks. ID
//! tokens are verified against the published JWKS with `jsonwebtoken`, as
//! a relying party does, never by asking the server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use gatehouse_oauth::GrantType;
use gatehouse_oauth::pkce::s256_challenge;
use gatehouse_proto::pb::token::v1::{RetireSigningKeyRequest, RotateSigningKeysRequest};
use gatehouse_tests::{AppSpec, CALLBACK, ClientApp, TEST_PASSWORD, TestEnv, query_pairs, register_application};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

const SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "user"];

async fn rp() -> ClientApp {
    let env = TestEnv::builder().start().await;
    ClientApp::with(env, &[GrantType::AuthorizationCode, GrantType::RefreshToken], SCOPES).await
}

fn param(url: &str, name: &str) -> Option<String> {
    query_pairs(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// An authorization request of `app` with `extra` parameters and `state=st`; the redirect to the client.
async fn authorize(app: &mut ClientApp, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![("state", "st")];
    params.extend_from_slice(extra);
    app.authorize(scope, &params).await
}

async fn code(app: &mut ClientApp, scope: &str, extra: &[(&str, &str)]) -> String {
    let location = authorize(app, scope, extra).await;
    assert_eq!(param(&location, "state").as_deref(), Some("st"), "{location}");
    param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

async fn jwks(app: &mut ClientApp) -> JwkSet {
    let page = app.browser.get("/oauth/jwks").await;
    assert_eq!(page.status, 200);
    serde_json::from_str(&page.body).unwrap()
}

/// Verifies an ID token as a relying party: signature by the key its `kid`
/// names in the JWKS, RS256, `iss`, `aud`, `exp`.
async fn verify(app: &mut ClientApp, id_token: &str) -> Value {
    verify_as(app, id_token, Algorithm::RS256).await
}

/// [`verify`] for a client that registered `alg` for its ID tokens.
async fn verify_as(app: &mut ClientApp, id_token: &str, alg: Algorithm) -> Value {
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, alg, "the ID token is signed as the client registered");
    let kid = header.kid.expect("an ID token header names its key");
    let set = jwks(app).await;
    let jwk = set.find(&kid).unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[app.env.gateway_url()]);
    validation.set_audience(std::slice::from_ref(&app.client_id));
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(id_token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims
}

async fn exchange(app: &mut ClientApp, code: &str) -> Value {
    let (status, body) = app.exchange_code(code).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The code flow with `openid`: the token response and the verified ID token's claims.
async fn login_flow(app: &mut ClientApp, scope: &str, extra: &[(&str, &str)]) -> (Value, Value) {
    let code = code(app, scope, extra).await;
    let tokens = exchange(app, &code).await;
    let id_token = tokens["id_token"].as_str().unwrap_or_else(|| panic!("no id_token: {tokens}")).to_owned();
    let claims = verify(app, &id_token).await;
    (tokens, claims)
}

/// The login page again (prompt=login, max_age): signs in through it; the redirect to the client.
async fn sign_in_again(app: &mut ClientApp, location: &str) -> String {
    assert!(location.starts_with("/login?next="), "the login page again, not {location}");
    let form = app.browser.get(location).await;
    assert_eq!(form.status, 200, "the form is shown even with a session: {}", form.body);
    let csrf = form.input("csrf_token").unwrap();
    let next = form.input("next").unwrap();
    let signed_in = app
        .browser
        .post_form(
            "/login",
            &[("csrf_token", &csrf), ("username", "owner"), ("password", TEST_PASSWORD), ("next", &next)],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let back = app.browser.get(signed_in.location()).await;
    assert_eq!(back.status, 303, "{}", back.body);
    back.location().to_owned()
}

fn code_of(location: &str) -> String {
    param(location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_server() {
    let mut app = rp().await;
    let (tokens, claims) = login_flow(&mut app, "openid", &[("nonce", "n-0S6_WzA2Mj")]).await;
    assert!(tokens["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(claims["sub"], app.owner_id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["azp"], app.client_id.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    // at_hash (Core §3.1.3.6), computed here from the access token received.
    let at_hash = {
        let hex = gatehouse_oauth::SecretHash::of(tokens["access_token"].as_str().unwrap()).as_str().to_owned();
        let digest: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
        base64_url(&digest)
    };
    assert_eq!(claims["at_hash"], at_hash.as_str());
    assert!(claims.get("name").is_none(), "no profile claim without the profile scope");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Config OP: `oidcc-discovery-endpoint-verification`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_endpoint_verification() {
    let mut app = rp().await;
    let issuer = app.env.gateway_url();
    let page = app.browser.get("/.well-known/openid-configuration").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("application/json"));
    let meta = page.json();
    assert_eq!(meta["issuer"], issuer.as_str(), "the issuer is the discovery URL's prefix, byte for byte");
    for field in ["authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"] {
        assert!(meta[field].as_str().unwrap().starts_with(&issuer), "{field}");
    }
    assert!(meta["response_types_supported"].as_array().unwrap().contains(&"code".into()));
    assert!(meta["subject_types_supported"].as_array().unwrap().contains(&"public".into()));
    assert!(meta["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&"RS256".into()));
    assert!(!meta["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&"none".into()));
    assert!(meta["scopes_supported"].as_array().unwrap().contains(&"openid".into()));
    assert!(meta["claims_supported"].as_array().unwrap().contains(&"sub".into()));
    assert_eq!(meta["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    // Discovery §3: request_uri_parameter_supported defaults to true, so it is said.
    assert_eq!(meta["request_uri_parameter_supported"], false);
    assert_eq!(meta["request_parameter_supported"], false);
    // RFC 8414's document agrees field for field.
    let oauth = app.browser.get("/.well-known/oauth-authorization-server").await.json();
    assert_eq!(oauth, meta);
    // The JWKS: valid, every key with a kid, no private or symmetric member.
    let page = app.browser.get("/oauth/jwks").await;
    assert!(page.header("cache-control").unwrap().contains("max-age="));
    let set: Value = page.json();
    let keys = set["keys"].as_array().unwrap();
    assert!(keys.len() >= 2, "the active key and the next one are published: {set}");
    for key in keys {
        assert!(key["kid"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(key.get(private).is_none(), "private member {private} in {key}");
        }
        assert!(matches!(key["kty"].as_str(), Some("RSA" | "EC")));
    }
    assert!(serde_json::from_value::<JwkSet>(set).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_idtoken_signature() {
    let mut app = rp().await;
    let (tokens, _) = login_flow(&mut app, "openid", &[]).await;
    let header = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert!(header.kid.is_some());
}

/// A client that registered `id_token_signed_response_alg: ES256` gets
/// ES256 ID tokens from the code exchange and every refresh, verifiable with
/// the published EC key; discovery lists both algorithms; an algorithm the
/// server does not sign with is refused at registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_es256_client_gets_es256_id_tokens() {
    use gatehouse_proto::pb::registry::v1::UpdateApplicationRequest;
    let mut app = rp().await;
    let meta = app.browser.get("/.well-known/openid-configuration").await.json();
    assert_eq!(meta["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256"]));
    let mut registry = app.env.registry().await;
    let client_id = app.client_id.clone();
    let change = |alg: &str| UpdateApplicationRequest {
        client_id: client_id.clone(),
        id_token_signed_response_alg: Some(alg.to_owned()),
        ..Default::default()
    };
    for refused in ["HS256", "none", "es256", "RS512"] {
        let status = registry.update_application(change(refused)).await.expect_err(refused);
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{refused}");
        assert!(status.message().contains("id_token_signed_response_alg"), "{}", status.message());
    }
    let updated = registry.update_application(change("ES256")).await.unwrap().into_inner().application.unwrap();
    assert_eq!(updated.id_token_signed_response_alg, "ES256");
    // Past the token service's kept client authentication (5 s).
    app.env.advance(Duration::from_secs(6));

    let code = code(&mut app, "openid offline_access", &[]).await;
    let tokens = exchange(&mut app, &code).await;
    let claims = verify_as(&mut app, tokens["id_token"].as_str().unwrap(), Algorithm::ES256).await;
    assert_eq!(claims["aud"], app.client_id.as_str());
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "{refreshed}");
    verify_as(&mut app, refreshed["id_token"].as_str().unwrap(), Algorithm::ES256).await;
    let back = registry.update_application(change("")).await.unwrap().into_inner().application.unwrap();
    assert_eq!(back.id_token_signed_response_alg, "RS256", "empty is the default");
}

/// `oidcc-idtoken-unsigned` is skipped by the suite when `none` is not
/// advertised: it is not, and an unsigned token is never issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_idtoken_unsigned() {
    let mut app = rp().await;
    let meta = app.browser.get("/.well-known/openid-configuration").await.json();
    assert!(!meta["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&"none".into()));
    let (tokens, _) = login_flow(&mut app, "openid", &[]).await;
    assert_eq!(jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap().alg, Algorithm::RS256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_response_type_missing() {
    let mut app = rp().await;
    let client_id = app.client_id.clone();
    let location = app
        .browser
        .authorize(&[("client_id", &client_id), ("scope", "openid"), ("redirect_uri", CALLBACK), ("state", "st")])
        .await;
    assert!(location.starts_with(CALLBACK));
    assert_eq!(param(&location, "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(&location, "state").as_deref(), Some("st"));
}

async fn userinfo(app: &mut ClientApp, how: &str, token: &str) -> (u16, Value, Option<String>) {
    let url = format!("{}/oauth/userinfo", app.env.gateway_url());
    let client = reqwest::Client::new();
    let request = match how {
        "get" => client.get(&url).bearer_auth(token),
        "post-header" => client.post(&url).bearer_auth(token),
        _ => client.post(&url).form(&[("access_token", token)]),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap_or(Value::Null), challenge)
}

async fn userinfo_module(how: &str) {
    let mut app = rp().await;
    let (tokens, claims) = login_flow(&mut app, "openid profile", &[]).await;
    let (status, body, _) = userinfo(&mut app, how, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], claims["sub"], "the same sub as the ID token's");
    assert_eq!(body["preferred_username"], "owner");
    // RFC 6750 errors: an unknown token is 401 invalid_token with a challenge.
    let (status, body, challenge) = userinfo(&mut app, how, "gat_not-a-token").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_userinfo_get() {
    userinfo_module("get").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_userinfo_post_header() {
    userinfo_module("post-header").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_userinfo_post_body() {
    userinfo_module("post-body").await;
}

/// UserInfo without `openid` is 403 insufficient_scope; a refresh token is not an access token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_needs_an_openid_access_token() {
    let mut app = rp().await;
    let code = code(&mut app, "user", &[]).await;
    let tokens = exchange(&mut app, &code).await;
    assert!(tokens.get("id_token").is_none(), "no ID token without openid");
    let (status, body, challenge) = userinfo(&mut app, "get", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")));
    assert!(challenge.unwrap().contains("insufficient_scope"));
    let (status, _, _) = userinfo(&mut app, "get", tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
    // A token sent two ways (header and body) is invalid_request (RFC 6750 §2).
    let token = tokens["access_token"].as_str().unwrap();
    let both = reqwest::Client::new()
        .post(format!("{}/oauth/userinfo", app.env.gateway_url()))
        .bearer_auth(token)
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(both.status().as_u16(), 400);
    assert_eq!(both.json::<Value>().await.unwrap()["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow() {
    let mut app = rp().await;
    let (_, claims) = login_flow(&mut app, "openid", &[]).await;
    assert!(claims.get("nonce").is_none());
}

async fn scope_module(scope: &str, expect: &[&str]) {
    let mut app = rp().await;
    let (tokens, claims) = login_flow(&mut app, scope, &[]).await;
    let (status, body, _) = userinfo(&mut app, "get", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["sub"], claims["sub"]);
    for claim in expect {
        assert!(body.get(*claim).is_some(), "{claim} missing from {body}");
    }
    if let Some(updated_at) = body.get("updated_at") {
        assert!(updated_at.is_i64(), "updated_at is a number of seconds");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_scope_profile() {
    scope_module("openid profile", &["name", "preferred_username", "updated_at"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_scope_email() {
    scope_module("openid email", &["email", "email_verified"]).await;
}

/// `oidcc-scope-address`, `-phone` are skipped by the suite: `scopes_supported` omits them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_scope_all() {
    let mut app = rp().await;
    let meta = app.browser.get("/.well-known/openid-configuration").await.json();
    let scopes = meta["scopes_supported"].as_array().unwrap();
    assert!(!scopes.contains(&"address".into()) && !scopes.contains(&"phone".into()));
    scope_module("openid profile email", &["name", "email"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_other_scope_order_succeeds() {
    let mut app = rp().await;
    let (tokens, _) = login_flow(&mut app, "email openid", &[]).await;
    let scope = tokens["scope"].as_str().unwrap();
    assert!(scope.contains("openid") && scope.contains("email"));
}

/// `oidcc-display-page`, `-popup`, `oidcc-login-hint`, `-ui-locales`,
/// `-claims-locales`, `oidcc-ensure-request-with-acr-values-succeeds`,
/// `oidcc-ensure-request-with-unknown-parameter-succeeds`, `oidcc-claims-essential`:
/// each parameter accepted without error, the flow completing.
async fn accepted(extra: &[(&str, &str)]) {
    let mut app = rp().await;
    let (_, claims) = login_flow(&mut app, "openid", extra).await;
    assert_eq!(claims["sub"], app.owner_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_display_page() {
    accepted(&[("display", "page")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_display_popup() {
    accepted(&[("display", "popup")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_login_hint() {
    accepted(&[("login_hint", "owner")]).await;
    // Without a session, the hint prefills the login form.
    let env = TestEnv::builder().start().await;
    let app = ClientApp::with(env, &[GrantType::AuthorizationCode], SCOPES).await;
    let mut fresh = app.env.browser();
    let query =
        format!("client_id={}&response_type=code&scope=openid&redirect_uri={CALLBACK}&login_hint=owner", app.client_id);
    let first = fresh.get(&format!("/oauth/authorize?{query}")).await;
    assert_eq!(first.status, 303);
    let form = fresh.get(first.location()).await;
    assert_eq!(form.input("username").as_deref(), Some("owner"), "{}", form.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ui_locales() {
    accepted(&[("ui_locales", "zh-CN en")]).await;
    // The pages follow it: the login form in Chinese for a browser that asks for English.
    let env = TestEnv::builder().start().await;
    let app = ClientApp::with(env, &[GrantType::AuthorizationCode], SCOPES).await;
    let mut fresh = app.env.browser();
    let query = format!(
        "client_id={}&response_type=code&scope=openid&redirect_uri={CALLBACK}&ui_locales=zh-CN%20en",
        app.client_id
    );
    let first = fresh.get(&format!("/oauth/authorize?{query}")).await;
    let form = fresh.get(first.location()).await;
    assert!(form.body.contains("lang=\"zh-CN\""), "{}", form.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_claims_locales() {
    accepted(&[("claims_locales", "en")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_with_acr_values_succeeds() {
    accepted(&[("acr_values", "1 2")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_with_unknown_parameter_succeeds() {
    accepted(&[("extra", "foobar")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_claims_essential() {
    // An essential `name` for UserInfo with scope=openid alone: the claims
    // request asks for `profile`, which the consent page shows and which
    // then releases `name` (Core §5.5).
    let mut app = rp().await;
    let claims = r#"{"userinfo":{"name":{"essential":true}},"id_token":{"email":{"essential":true}}}"#;
    let (tokens, id_claims) = login_flow(&mut app, "openid", &[("claims", claims)]).await;
    assert_eq!(tokens["scope"], "email openid profile", "{tokens}");
    assert!(id_claims["email"].as_str().is_some(), "the ID token's essential email: {id_claims}");
    let (status, body, _) = userinfo(&mut app, "get", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "owner", "the essential claim is returned: {body}");
    for bad in ["not json", r#"{"userinfo":["name"]}"#] {
        let location = authorize(&mut app, "openid", &[("claims", bad)]).await;
        assert_eq!(param(&location, "error").as_deref(), Some("invalid_request"), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_prompt_login() {
    let mut app = rp().await;
    let (_, first) = login_flow(&mut app, "openid", &[]).await;
    app.env.advance(Duration::from_secs(1));
    let location = authorize(&mut app, "openid", &[("prompt", "login")]).await;
    let location = sign_in_again(&mut app, &location).await;
    let tokens = exchange(&mut app, &code_of(&location)).await;
    let second = verify(&mut app, tokens["id_token"].as_str().unwrap()).await;
    assert!(second["auth_time"].as_i64() > first["auth_time"].as_i64(), "auth_time changes: {first} {second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_prompt_none_not_logged_in() {
    let env = TestEnv::builder().start().await;
    let app = ClientApp::with(env, &[GrantType::AuthorizationCode], SCOPES).await;
    let mut fresh = app.env.browser();
    let state = "s".repeat(128);
    let page = fresh
        .get(&format!(
            "/oauth/authorize?client_id={}&response_type=code&scope=openid&redirect_uri={CALLBACK}&prompt=none&state={state}",
            app.client_id
        ))
        .await;
    assert_eq!(page.status, 303);
    let location = page.location();
    assert!(location.starts_with(CALLBACK), "{location}");
    assert_eq!(param(location, "error").as_deref(), Some("login_required"));
    assert_eq!(param(location, "state").as_deref(), Some(state.as_str()), "a 128-character state comes back intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_prompt_none_logged_in() {
    let mut app = rp().await;
    let (_, first) = login_flow(&mut app, "openid", &[]).await;
    let (_, second) = login_flow(&mut app, "openid", &[("prompt", "none")]).await;
    assert_eq!(first["sub"], second["sub"]);
    assert_eq!(first["auth_time"], second["auth_time"], "no new login");
    // Without consent for a scope, prompt=none answers consent_required.
    let location = authorize(&mut app, "openid email", &[("prompt", "none")]).await;
    assert_eq!(param(&location, "error").as_deref(), Some("consent_required"), "{location}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_max_age_1() {
    let mut app = rp().await;
    let (_, first) = login_flow(&mut app, "openid", &[]).await;
    app.env.advance(Duration::from_secs(2));
    let location = authorize(&mut app, "openid", &[("max_age", "1")]).await;
    let location = sign_in_again(&mut app, &location).await;
    let tokens = exchange(&mut app, &code_of(&location)).await;
    let second = verify(&mut app, tokens["id_token"].as_str().unwrap()).await;
    let auth_time = second["auth_time"].as_i64().expect("auth_time is present with max_age");
    assert!(auth_time > first["auth_time"].as_i64().unwrap());
    assert!(second["iat"].as_i64().unwrap() - auth_time <= 2, "recent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_max_age_10000() {
    let mut app = rp().await;
    let (_, first) = login_flow(&mut app, "openid", &[("max_age", "15000")]).await;
    let (_, second) = login_flow(&mut app, "openid", &[("max_age", "10000")]).await;
    assert!(first["auth_time"].is_i64() && second["auth_time"].is_i64());
    assert_eq!(first["auth_time"], second["auth_time"], "no new login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_id_token_hint() {
    let mut app = rp().await;
    let (tokens, first) = login_flow(&mut app, "openid", &[]).await;
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    let (_, second) = login_flow(&mut app, "openid", &[("prompt", "none"), ("id_token_hint", &hint)]).await;
    assert_eq!(first["sub"], second["sub"]);
    // A hint naming another user: prompt=none cannot answer silently.
    let other = {
        let mut parts = hint.split('.');
        let (h, _, s) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
        format!("{h}.{}.{s}", base64_url(br#"{"sub":"someone-else"}"#))
    };
    let location = authorize(&mut app, "openid", &[("prompt", "none"), ("id_token_hint", &other)]).await;
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_codereuse() {
    let mut app = rp().await;
    let code = code(&mut app, "openid", &[]).await;
    exchange(&mut app, &code).await;
    let (status, body) = app.exchange_code(&code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

/// The suite waits 30 s: so does this deployment's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_codereuse_30seconds() {
    let mut app = rp().await;
    let code = code(&mut app, "openid", &[]).await;
    let tokens = exchange(&mut app, &code).await;
    app.env.advance(Duration::from_secs(30));
    let (status, _) = app.exchange_code(&code).await;
    assert_eq!(status, 400);
    let (status, _, _) = userinfo(&mut app, "get", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "the first access token is revoked at the resource (RFC 6749 §4.1.2)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_registered_redirect_uri() {
    let mut app = rp().await;
    let query = format!(
        "client_id={}&response_type=code&scope=openid&redirect_uri=https://attacker.example/cb&state=st",
        app.client_id
    );
    let page = app.browser.get(&format!("/oauth/authorize?{query}")).await;
    assert_eq!(page.status, 400, "an error page, never a redirect");
    assert!(page.header("location").is_none());
    assert!(page.body.contains("redirect_uri"), "the page says what is wrong: {}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_post_request_succeeds() {
    let mut app = rp().await;
    login_flow(&mut app, "openid", &[]).await;
    let client_id = app.client_id.clone();
    let page = app
        .browser
        .post_form(
            "/oauth/authorize",
            &[
                ("client_id", &client_id),
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", CALLBACK),
                ("state", "st"),
                ("nonce", "post"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let tokens = exchange(&mut app, &code_of(page.location())).await;
    let claims = verify(&mut app, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["nonce"], "post");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_server_client_secret_post() {
    let mut app = rp().await;
    let code = code(&mut app, "openid", &[]).await;
    let (id, secret) = (app.client_id.clone(), app.secret.clone());
    let page = app
        .browser
        .post_client(
            "/oauth/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    verify(&mut app, page.json()["id_token"].as_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported() {
    let mut app = rp().await;
    let request = format!("{}.{}.", base64_url(br#"{"alg":"none"}"#), base64_url(br#"{"nonce":"x"}"#));
    let location = authorize(&mut app, "openid", &[("request", &request)]).await;
    assert_eq!(param(&location, "error").as_deref(), Some("request_not_supported"));
    assert_eq!(param(&location, "state").as_deref(), Some("st"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported() {
    let mut app = rp().await;
    let location = authorize(&mut app, "openid", &[("request_uri", "https://app.example/request.jwt")]).await;
    assert_eq!(param(&location, "error").as_deref(), Some("request_uri_not_supported"));
}

/// `oidcc-ensure-request-object-with-redirect-uri` is skipped by the suite
/// on `request_not_supported`: the request object is refused, never
/// half-read, whatever redirect_uri it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_object_with_redirect_uri() {
    let mut app = rp().await;
    let request = format!(
        "{}.{}.",
        base64_url(br#"{"alg":"none"}"#),
        base64_url(br#"{"redirect_uri":"https://attacker.example/cb"}"#)
    );
    let location = authorize(&mut app, "openid", &[("request", &request)]).await;
    assert!(location.starts_with(CALLBACK));
    assert_eq!(param(&location, "error").as_deref(), Some("request_not_supported"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_refresh_token() {
    let mut app = rp().await;
    let (tokens, first) =
        login_flow(&mut app, "openid offline_access", &[("prompt", "consent"), ("nonce", "n1")]).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh_token.chars().all(|c| ('\x20'..='\x7e').contains(&c)), "RFC 6749 A.17 characters");
    let (status, refreshed) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)]).await;
    assert_eq!(status, 200, "{refreshed}");
    let second = verify(&mut app, refreshed["id_token"].as_str().unwrap()).await;
    for claim in ["iss", "sub", "aud", "auth_time"] {
        assert_eq!(first[claim], second[claim], "{claim} stays the same on refresh (Core §12.2)");
    }
    assert!(second.get("nonce").is_none(), "no nonce on a refreshed ID token");
    // Another client's refresh token is refused.
    let spec = AppSpec {
        name: "Client 2",
        grants: &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: SCOPES,
        ..AppSpec::default()
    };
    let (id2, secret2) = register_application(&mut app.env.registry().await, &app.owner_id, spec).await;
    let new_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    let page = app
        .browser
        .post_client(
            "/oauth/token",
            Some((&id2, &secret2)),
            &[("grant_type", "refresh_token"), ("refresh_token", &new_refresh)],
        )
        .await;
    assert_eq!(page.status, 400);
    assert_eq!(page.json()["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_with_valid_pkce_succeeds() {
    let mut app = rp().await;
    let verifier = "a-very-long-and-random-pkce-verifier-0123456789";
    let challenge = s256_challenge(verifier);
    let code = code(&mut app, "openid", &[("code_challenge", &challenge), ("code_challenge_method", "S256")]).await;
    let (status, body) = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    verify(&mut app, body["id_token"].as_str().unwrap()).await;
}

/// Rotation never breaks a verifier: a token signed before a rotation
/// verifies after it (its key stays published while retiring), the next key
/// was published before it signed, and a retired key is gone from the JWKS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_keeps_earlier_tokens_verifiable_until_retired() {
    let mut app = rp().await;
    let before = jwks(&mut app).await;
    let (tokens, _) = login_flow(&mut app, "openid", &[]).await;
    let old_token = tokens["id_token"].as_str().unwrap().to_owned();
    let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid.unwrap();
    let mut token_rpc = app.env.token_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
    // Too soon: the next key has not been published for a JWKS cache time.
    let early =
        token_rpc.rotate_signing_keys(RotateSigningKeysRequest { algs: vec![], force: false }).await.unwrap_err();
    assert_eq!(early.code(), tonic::Code::FailedPrecondition);
    token_rpc
        .rotate_signing_keys(RotateSigningKeysRequest { algs: vec!["RS256".to_owned()], force: true })
        .await
        .unwrap();
    let after = jwks(&mut app).await;
    let (tokens, _) = login_flow(&mut app, "openid", &[]).await;
    let new_kid = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap().kid.unwrap();
    assert_ne!(new_kid, old_kid, "the next key signs now");
    assert!(before.find(&new_kid).is_some(), "it was published before it signed");
    assert!(after.find(&old_kid).is_some(), "the old key stays published");
    verify(&mut app, &old_token).await;
    // Retiring early is refused; forced, the key leaves the JWKS.
    let early =
        token_rpc.retire_signing_key(RetireSigningKeyRequest { kid: old_kid.clone(), force: false }).await.unwrap_err();
    assert_eq!(early.code(), tonic::Code::FailedPrecondition);
    token_rpc.retire_signing_key(RetireSigningKeyRequest { kid: old_kid.clone(), force: true }).await.unwrap();
    assert!(jwks(&mut app).await.find(&old_kid).is_none());
    let active = token_rpc.retire_signing_key(RetireSigningKeyRequest { kid: new_kid, force: true }).await.unwrap_err();
    assert_eq!(active.code(), tonic::Code::FailedPrecondition, "the active key never retires");
}

/// RP-initiated logout: with the hint of the session's user, the session
/// ends at once and the browser goes to the registered URI with `state`;
/// an unregistered URI is an error page; without a hint the user confirms
/// (a cross-site GET alone cannot sign anyone out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_initiated_logout() {
    let mut app = rp().await;
    let meta = app.browser.get("/.well-known/openid-configuration").await.json();
    assert_eq!(meta["end_session_endpoint"], format!("{}/oauth/logout", app.env.gateway_url()));
    let (tokens, _) = login_flow(&mut app, "openid", &[]).await;
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    let logout = |extra: &str| format!("/oauth/logout?id_token_hint={hint}&state=bye{extra}");

    let page = app.browser.get(&logout("&post_logout_redirect_uri=https://attacker.example/")).await;
    assert_eq!(page.status, 400, "never redirected to an unregistered URI");
    assert!(page.header("location").is_none());
    assert!(app.browser.get("/account/applications").await.status == 200, "still signed in");

    let page = app.browser.get(&logout(&format!("&post_logout_redirect_uri={CALLBACK}"))).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), format!("{CALLBACK}?state=bye"));
    let after = app.browser.get("/account/applications").await;
    assert_eq!(after.status, 303, "signed out: the account pages ask to sign in");

    // Without a hint, a signed-in user is asked; confirming signs out.
    app.browser.login("owner", TEST_PASSWORD).await;
    let client_id = app.client_id.clone();
    let ask =
        app.browser.get(&format!("/oauth/logout?client_id={client_id}&post_logout_redirect_uri={CALLBACK}")).await;
    assert_eq!(ask.status, 200, "a confirmation page: {}", ask.body);
    assert_eq!(app.browser.get("/account/applications").await.status, 200, "asking signs nobody out");
    let csrf = ask.input("csrf_token").unwrap();
    let forged = app.browser.post_form("/oauth/logout/confirm", &[("client_id", &client_id)]).await;
    assert_ne!(forged.status, 303, "the confirmation needs the session's CSRF token");
    let done = app
        .browser
        .post_form(
            "/oauth/logout/confirm",
            &[("csrf_token", &csrf), ("client_id", &client_id), ("post_logout_redirect_uri", CALLBACK)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), CALLBACK);
    assert_eq!(app.browser.get("/account/applications").await.status, 303);

    // A hint that is not one of ours is refused.
    let forged_hint =
        format!("{}.{}.c2ln", base64_url(br#"{"alg":"RS256","kid":"nope"}"#), base64_url(br#"{"sub":"x"}"#));
    let page = app.browser.get(&format!("/oauth/logout?id_token_hint={forged_hint}")).await;
    assert_eq!(page.status, 400);
}

/// `response_mode=form_post`: the code comes back as a form the browser
/// posts to the redirect URI (never in a URL), on the consent decision and on
/// a remembered consent alike, errors included; the page's only script is
/// allowed by its hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_mode_form_post() {
    let mut app = rp().await;
    login_flow(&mut app, "openid", &[]).await;
    let client_id = app.client_id.clone();
    let query = format!(
        "client_id={client_id}&response_type=code&scope=openid&redirect_uri={CALLBACK}&state=st&nonce=fp&response_mode=form_post"
    );
    let page = app.browser.get(&format!("/oauth/authorize?{query}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.header("location").is_none());
    assert!(page.body.contains(&format!(r#"action="{CALLBACK}""#)), "{}", page.body);
    assert_eq!(page.input("state").as_deref(), Some("st"));
    assert_eq!(page.input("iss").as_deref(), Some(app.env.gateway_url().as_str()));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'sha256-") && !csp.contains("unsafe-inline"), "{csp}");
    let code = page.input("code").unwrap();
    let tokens = exchange(&mut app, &code).await;
    assert_eq!(verify(&mut app, tokens["id_token"].as_str().unwrap()).await["nonce"], "fp");
    // An error goes back the same way.
    let unconsented = query.replace("scope=openid", "scope=openid%20email");
    let page = app.browser.get(&format!("/oauth/authorize?{unconsented}&prompt=none")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.input("error").as_deref(), Some("consent_required"), "{}", page.body);
    let meta = app.browser.get("/.well-known/openid-configuration").await.json();
    assert_eq!(meta["response_modes_supported"], serde_json::json!(["query", "form_post"]));
}

/// The ID token's claims come with the code (the account as the session knew
/// it): a user deleted between the code and its exchange gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_of_a_user_deleted_since_issues_nothing() {
    let mut app = rp().await;
    let reader = app.env.create_user("reader").await;
    let mut browser = app.env.browser();
    browser.login("reader", TEST_PASSWORD).await;
    let client_id = app.client_id.clone();
    let location = browser
        .authorize(&[
            ("client_id", &client_id),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("redirect_uri", CALLBACK),
        ])
        .await;
    let code = code_of(&location);
    let request = gatehouse_proto::pb::registry::v1::DeleteUserRequest { user_id: reader.id.clone() };
    app.env.registry().await.delete_user(request).await.unwrap();
    let (status, body) = app.exchange_code(&code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}
