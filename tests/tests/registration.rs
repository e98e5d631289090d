//! Clients that register themselves (RFC 7591, RFC 7592), authenticate with a
//! key (`private_key_jwt`, RFC 7523), and CORS on the OAuth endpoints — over
//! real HTTP against the gateway, checked against the registry and the token
//! service afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_registry::{REGISTRATION_OWNER_ID, RegistrationPolicy};
use gatehouse_tests::https_server::HttpsServer;
use gatehouse_tests::{Backend, TEST_PASSWORD, TestEnv, on_every_database};
use serde_json::{Value, json};

/// Registration open, on `backend`; PostgreSQL runs with Redis (the
/// production shape: jti marks and limits in the shared cache).
async fn open_env_on(
    backend: Backend,
    change: impl FnOnce(&mut gatehouse_registry::RegistryConfig) + Send + 'static,
) -> TestEnv {
    let builder = TestEnv::builder().backend(backend);
    let builder = if backend == Backend::Postgres { builder.redis() } else { builder };
    builder
        .registry_config(move |config| {
            config.registration.policy = RegistrationPolicy::Open;
            change(config);
        })
        .start()
        .await
}

async fn open_env(change: impl FnOnce(&mut gatehouse_registry::RegistryConfig) + Send + 'static) -> TestEnv {
    open_env_on(Backend::Sqlite, change).await
}

async fn post_json(
    env: &TestEnv,
    path: &str,
    bearer: Option<&str>,
    body: &Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().post(format!("{}{path}", env.gateway_url())).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

/// Registers `body`: anonymously, or with an operator's initial access
/// token when it asks for client_credentials (anonymous registrations get
/// only the grants a user authorizes).
async fn register(env: &TestEnv, body: &Value) -> (u16, Value) {
    let machine = body["grant_types"].as_array().is_some_and(|g| g.iter().any(|g| g == "client_credentials"));
    let token = if machine { Some(env.initial_access_token().await) } else { None };
    let (status, body, _) = post_json(env, "/oauth/register", token.as_deref(), body).await;
    (status, body)
}

async fn token(env: &TestEnv, form: &[(&str, &str)]) -> (u16, Value) {
    let response =
        reqwest::Client::new().post(format!("{}/oauth/token", env.gateway_url())).form(form).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// No `null` anywhere in an answer (deployed clients' validators fail on them).
fn assert_no_nulls(value: &Value) {
    match value {
        Value::Null => panic!("a null member"),
        Value::Array(items) => items.iter().for_each(assert_no_nulls),
        Value::Object(map) => map.values().for_each(assert_no_nulls),
        _ => {}
    }
}

async fn dynamic_clients(env: &TestEnv) -> usize {
    let request = pb::ListApplicationsRequest { owner_id: REGISTRATION_OWNER_ID.to_owned() };
    env.registry().await.list_applications(request).await.unwrap().into_inner().applications.len()
}

#[tokio::test]
async fn dynamic_registration_is_off_by_default() {
    let env = TestEnv::builder().start().await;
    let (status, body) = register(&env, &json!({"redirect_uris": ["https://app.example/cb"]})).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "access_denied");
    let metadata: Value = reqwest::get(format!("{}/.well-known/oauth-authorization-server", env.gateway_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(metadata.get("registration_endpoint").is_none(), "not advertised when off");
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    assert!(metadata["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("private_key_jwt")));
    assert!(metadata["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap().contains(&json!("ES256")));
    assert_eq!(dynamic_clients(&env).await, 0);
}

on_every_database!(
    a_native_client_registers_signs_a_user_in_manages_and_deletes_itself,
    dynamically_registered_clients_that_stay_unused_expire,
    private_key_jwt_clients_authenticate_with_single_use_assertions_for_this_issuer,
);

async fn a_native_client_registers_signs_a_user_in_manages_and_deletes_itself(backend: Backend) {
    let env = open_env_on(backend, |_| {}).await;
    let metadata: Value = reqwest::get(format!("{}/.well-known/openid-configuration", env.gateway_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["registration_endpoint"], json!(format!("{}/oauth/register", env.gateway_url())));

    let (status, client) = register(
        &env,
        &json!({
            "client_name": "Native agent",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:saml2-bearer"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "client_uri": null,
            "software_id": "agent-x",
            "some_future_member": {"ignored": true},
        }),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    assert_no_nulls(&client);
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let mut rat = client["registration_access_token"].as_str().unwrap().to_owned();
    assert!(rat.starts_with("gra_"), "its own prefix, never a refresh token's");
    assert!(client.get("client_secret").is_none(), "none: no secret");
    assert_eq!(client["token_endpoint_auth_method"], "none", "echoed");
    assert_eq!(client["grant_types"], json!(["authorization_code", "refresh_token"]), "saml2-bearer ignored");
    assert_eq!(client["application_type"], "native");
    assert_eq!(client["software_id"], "agent-x");
    assert!(client["scope"].as_str().unwrap().split(' ').any(|s| s == "offline_access"));
    let uri = format!("/oauth/register/{client_id}");
    assert_eq!(client["registration_client_uri"], json!(format!("{}{uri}", env.gateway_url())));

    // A person signs in through it, on any loopback port (RFC 8252 §7.3).
    env.create_user("dcr-user").await;
    let mut browser = env.browser();
    browser.login("dcr-user", TEST_PASSWORD).await;
    let verifier = "v".repeat(50);
    let challenge = URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let mut exchange = async |scope: &str| {
        let redirect = "http://127.0.0.1:5999/callback";
        let code = browser
            .authorization_code(&[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", redirect),
                ("scope", scope),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        token(
            &env,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &client_id),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
            ],
        )
        .await
    };
    let (status, without) = exchange("user").await;
    assert_eq!(status, 200, "{without}");
    assert!(without.get("refresh_token").is_none(), "no offline_access: no refresh token for a self-registered client");
    let (status, with) = exchange("user offline_access").await;
    assert_eq!(status, 200, "{with}");
    let refresh = with["refresh_token"].as_str().expect("offline_access: a refresh token").to_owned();

    // RFC 7592: read with the token; a wrong token reads as an unknown client.
    let http = reqwest::Client::new();
    let read = http.get(format!("{}{uri}", env.gateway_url())).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["client_name"], "Native agent");
    // RFC 7592 §3: the answer carries the token that replaces the one used.
    let next = read["registration_access_token"].as_str().expect("a new registration access token").to_owned();
    assert!(next.starts_with("gra_") && next != rat);
    let replaced = http.get(format!("{}{uri}", env.gateway_url())).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(replaced.status(), 401, "the used token stopped working");
    rat = next;
    for wrong in ["gra_wrong", ""] {
        let response = http.get(format!("{}{uri}", env.gateway_url())).bearer_auth(wrong).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    }
    // Replace: the whole record, carrying the client_id; server members refused.
    let update = |token: &str, body: Value| {
        http.put(format!("{}{uri}", env.gateway_url())).bearer_auth(token).json(&body).send()
    };
    let mut replacement = json!({
        "client_id": client_id, "client_name": "Renamed agent", "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none",
    });
    let updated = update(&rat, replacement.clone()).await.unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["client_name"], "Renamed agent");
    rat = updated["registration_access_token"].as_str().expect("replaced on update too").to_owned();
    replacement["token_endpoint_auth_method"] = json!("client_secret_basic");
    // A refused update changes nothing, its token included.
    let refused = update(&rat, replacement.clone()).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_client_metadata");
    replacement["token_endpoint_auth_method"] = json!("none");
    replacement["registration_access_token"] = json!(rat);
    assert_eq!(update(&rat, replacement.clone()).await.unwrap().status(), 400);
    replacement.as_object_mut().unwrap().remove("registration_access_token");
    replacement.as_object_mut().unwrap().remove("client_id");
    assert_eq!(update(&rat, replacement).await.unwrap().status(), 400, "client_id is required");

    // Delete: 204; then the client is gone everywhere: 401 invalid_client, tokens dead.
    let deleted = http.delete(format!("{}{uri}", env.gateway_url())).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, body) =
        token(&env, &[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("client_id", &client_id)]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let again = http.get(format!("{}{uri}", env.gateway_url())).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(again.status(), 401);
    let mut tokens = env.token().await;
    let introspected = tokens
        .introspect(gatehouse_proto::pb::token::v1::IntrospectRequest {
            token: with["access_token"].as_str().unwrap().to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!introspected.active, "a deleted client's tokens are revoked");
}

#[tokio::test]
async fn bad_metadata_is_refused_with_its_rfc_7591_error_and_writes_nothing() {
    let env = open_env(|_| {}).await;
    let base = json!({"redirect_uris": ["https://app.example/cb"]});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    for (body, error) in [
        (with("redirect_uris", json!(["http://evil.example/cb"])), "invalid_redirect_uri"),
        (with("redirect_uris", json!(["https://app.example/cb#x"])), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        (with("redirect_uris", json!("https://app.example/cb")), "invalid_client_metadata"),
        (with("client_name", json!(7)), "invalid_client_metadata"),
        (json!([1, 2]), "invalid_client_metadata"),
        (with("token_endpoint_auth_method", json!("client_secret_jwt")), "invalid_client_metadata"),
        (with("token_endpoint_auth_method", json!("private_key_jwt")), "invalid_client_metadata"),
        (with("jwks_uri", json!("http://keys.example/jwks")), "invalid_client_metadata"),
        (with("response_types", json!(["token"])), "invalid_client_metadata"),
        (with("grant_types", json!(["implicit"])), "invalid_client_metadata"),
        (with("scope", json!("user no-such-scope")), "invalid_client_metadata"),
        (with("application_type", json!("desktop")), "invalid_client_metadata"),
        (with("client_name", json!("x".repeat(101))), "invalid_client_metadata"),
        (with("id_token_signed_response_alg", json!("HS256")), "invalid_client_metadata"),
        (with("id_token_signed_response_alg", json!("none")), "invalid_client_metadata"),
        (with("id_token_signed_response_alg", json!(256)), "invalid_client_metadata"),
    ] {
        let (status, answer) = register(&env, &body).await;
        assert_eq!((status, answer["error"].as_str()), (400, Some(error)), "{body}: {answer}");
        assert!(answer["error_description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let mut both = with("token_endpoint_auth_method", json!("private_key_jwt"));
    both["jwks"] = json!({"keys": []});
    both["jwks_uri"] = json!("https://keys.example/jwks");
    assert_eq!(register(&env, &both).await.1["error"], "invalid_client_metadata");
    let public_m2m = json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"});
    assert_eq!(register(&env, &public_m2m).await.1["error"], "invalid_client_metadata");
    let not_json = reqwest::Client::new()
        .post(format!("{}/oauth/register", env.gateway_url()))
        .header("content-type", "text/plain")
        .body("redirect_uris=https://app.example/cb")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(dynamic_clients(&env).await, 0, "no refused registration wrote anything");
    // The algorithms the server signs ID tokens with are accepted and echoed (RS256 when not sent).
    assert_eq!(register(&env, &base).await.1["id_token_signed_response_alg"], "RS256");
    let es256 = with("id_token_signed_response_alg", json!("ES256"));
    let (status, answer) = register(&env, &es256).await;
    assert_eq!((status, answer["id_token_signed_response_alg"].as_str()), (201, Some("ES256")), "{answer}");
}

#[tokio::test]
async fn initial_access_tokens_and_the_per_address_limit() {
    let env = TestEnv::builder()
        .registry_config(|config| config.registration.policy = RegistrationPolicy::InitialAccessToken)
        .start()
        .await;
    let body =
        json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic"});
    let (status, answer, headers) = post_json(&env, "/oauth/register", None, &body).await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("invalid_token")));
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(post_json(&env, "/oauth/register", Some("gia_wrong"), &body).await.0, 401);
    let created = env.initial_access_token().await;
    assert!(created.starts_with("gia_"));
    let (status, client, _) = post_json(&env, "/oauth/register", Some(&created), &body).await;
    assert_eq!(status, 201, "{client}");
    assert!(client["client_secret"].as_str().unwrap().starts_with("gcs_"));
    assert_eq!(client["client_secret_expires_at"], 0);
    // The secret works (client_secret_basic).
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/introspect", env.gateway_url()))
        .basic_auth(client["client_id"].as_str().unwrap(), client["client_secret"].as_str())
        .form(&[("token", "nothing")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let limited = open_env(|config| config.registration.hourly_limit_per_address = 2).await;
    for _ in 0..2 {
        assert_eq!(register(&limited, &body).await.0, 201);
    }
    let (status, answer, headers) = post_json(&limited, "/oauth/register", None, &body).await;
    assert_eq!(status, 429, "{answer}");
    assert!(headers.get("retry-after").is_some());
    assert_eq!(dynamic_clients(&limited).await, 2);
}

async fn dynamically_registered_clients_that_stay_unused_expire(backend: Backend) {
    let env = open_env_on(backend, |config| config.registration.unused_expiry = Duration::from_secs(1)).await;
    let (_, unused) = register(&env, &json!({"redirect_uris": ["https://app.example/cb"]})).await;
    let owner = env.create_user("owner").await;
    env.register_app(
        &owner,
        &["https://owned.example/cb"],
        gatehouse_proto::pb::common::v1::ClientType::Confidential,
        &[],
    )
    .await;
    env.advance(Duration::from_secs(2));
    assert_eq!(env.registry_service.expire_unused_clients(100).await.unwrap(), 1);
    assert_eq!(dynamic_clients(&env).await, 0);
    let (status, _) = token(
        &env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", unused["client_id"].as_str().unwrap()),
            ("client_secret", unused["client_secret"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 401, "an expired client is gone");
    let apps = env
        .registry()
        .await
        .list_applications(pb::ListApplicationsRequest { owner_id: owner.id.clone() })
        .await
        .unwrap();
    assert_eq!(apps.into_inner().applications.len(), 1, "a user's application never expires");
}

/// An ES256 key: its JWK (public) and a signer of assertions.
struct ClientKey {
    jwk: Value,
    encoding: jsonwebtoken::EncodingKey,
}

fn client_key(kid: &str) -> ClientKey {
    let pair = rcgen::KeyPair::generate().unwrap();
    let point = pair.public_key_raw();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    ClientKey { jwk, encoding: jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der()) }
}

fn now() -> i64 {
    use gatehouse_oauth::Clock;
    gatehouse_oauth::SystemClock.now().timestamp()
}

fn assertion(key: &ClientKey, kid: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

async fn with_assertion(env: &TestEnv, jwt: &str) -> (u16, Value) {
    token(
        env,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", jwt),
        ],
    )
    .await
}

async fn private_key_jwt_clients_authenticate_with_single_use_assertions_for_this_issuer(backend: Backend) {
    let env = open_env_on(backend, |_| {}).await;
    let key = client_key("k1");
    let (status, client) = register(
        &env,
        &json!({
            "client_name": "Key client", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.jwk]},
        }),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    assert!(client.get("client_secret").is_none(), "a key client gets no secret");
    assert_eq!(client["jwks"]["keys"][0]["kid"], "k1");
    let id = client["client_id"].as_str().unwrap().to_owned();
    let issuer = env.gateway_url();
    let claims = |aud: Value, exp: i64| json!({"iss": id, "sub": id, "aud": aud, "exp": exp, "iat": now(), "jti": uuid::Uuid::new_v4().to_string()});

    let good = assertion(&key, "k1", &claims(json!(issuer), now() + 120));
    let (status, body) = with_assertion(&env, &good).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some());
    let (status, body) = with_assertion(&env, &good).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "a replayed jti: {body}");

    let token_endpoint = format!("{issuer}/oauth/token");
    let other = client_key("k1");
    for (jwt, why) in [
        (assertion(&key, "k1", &claims(json!(token_endpoint), now() + 120)), "the token endpoint as audience"),
        (assertion(&key, "k1", &claims(json!([issuer, "https://other.example"]), now() + 120)), "a second audience"),
        (assertion(&key, "k1", &claims(json!(issuer), now() - 120)), "expired"),
        (assertion(&key, "k1", &claims(json!(issuer), now() + 3600)), "an hour ahead"),
        (assertion(&other, "k1", &claims(json!(issuer), now() + 120)), "another key"),
        (assertion(&key, "k2", &claims(json!(issuer), now() + 120)), "an unknown kid"),
        (
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims(json!(issuer), now() + 120),
                &jsonwebtoken::EncodingKey::from_secret(b"guessable-but-long-enough-for-hs256-keys").unwrap(),
            )
            .unwrap(),
            "an HMAC",
        ),
        (assertion(&key, "k1", &json!({"iss": id, "sub": id, "aud": issuer, "exp": now() + 120})), "no jti"),
    ] {
        let (status, body) = with_assertion(&env, &jwt).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{why}: {body}");
    }
    let (status, _) =
        token(&env, &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", "x")]).await;
    assert_eq!(status, 401, "a key client cannot use a secret");

    // Keys at a jwks_uri (fetched through the SSRF-safe fetcher).
    let remote = client_key("r1");
    let jwks = json!({"keys": [remote.jwk]});
    let server =
        HttpsServer::start(axum::Router::new().route("/jwks.json", get(move || async move { axum::Json(jwks) }))).await;
    let ca = server.ca.clone();
    let env = open_env_on(backend, move |config| {
        config.fetch.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
        config.fetch.extra_roots = vec![ca];
    })
    .await;
    let (status, client) = register(
        &env,
        &json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": server.url("/jwks.json")}),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    let id = client["client_id"].as_str().unwrap();
    let claims = json!({"iss": id, "sub": id, "aud": env.gateway_url(), "exp": now() + 60, "jti": "one"});
    let (status, body) = with_assertion(&env, &assertion(&remote, "r1", &claims)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_oauth_endpoints_answer_cors_and_pages_do_not() {
    let env = open_env(|_| {}).await;
    let http = reqwest::Client::new();
    for path in
        ["/oauth/token", "/oauth/register", "/oauth/register/abc", "/oauth/revoke", "/.well-known/openid-configuration"]
    {
        let preflight = http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", env.gateway_url()))
            .header("origin", "https://agent.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "mcp-protocol-version, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{path}");
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
        assert!(headers["access-control-allow-headers"].to_str().unwrap().contains("MCP-Protocol-Version"));
        assert!(headers.get("access-control-allow-credentials").is_none(), "never with credentials");
    }
    let metadata = http
        .get(format!("{}/.well-known/oauth-authorization-server", env.gateway_url()))
        .header("origin", "https://agent.example")
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.headers()["access-control-allow-origin"], "*");
    // A cross-origin registration from a browser is allowed (no cookie is involved).
    let registered = http
        .post(format!("{}/oauth/register", env.gateway_url()))
        .header("origin", "https://agent.example")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"redirect_uris": ["https://agent.example/cb"], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    assert!(registered.headers()["access-control-expose-headers"].to_str().unwrap().contains("WWW-Authenticate"));
    for path in ["/login", "/account/applications", "/oauth/authorize", "/api/applications"] {
        let page = http
            .get(format!("{}{path}", env.gateway_url()))
            .header("origin", "https://agent.example")
            .send()
            .await
            .unwrap();
        assert!(page.headers().get("access-control-allow-origin").is_none(), "{path} has no CORS");
    }
}

/// The shared cache (Redis) gone: what needs it fails as an outage, never
/// as an acceptance or a 500. Open registration cannot count the caller
/// against its hourly limit, and a private_key_jwt assertion cannot be
/// marked used, so both answer 503 `temporarily_unavailable` with
/// `Retry-After`, and nothing is registered. With Redis back, both work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_shared_cache_registration_and_assertions_are_503_not_accepted() {
    let mut redis = gatehouse_tests::OwnRedis::start().await;
    let port = redis.port;
    let env = TestEnv::builder()
        .backend(Backend::Postgres)
        .cache_url(redis.url())
        .registry_config(|config| config.registration.policy = RegistrationPolicy::Open)
        .start()
        .await;
    let key = client_key("k1");
    let metadata = json!({
        "client_name": "Key client", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.jwk]},
    });
    let (status, client) = register(&env, &metadata).await;
    assert_eq!(status, 201, "{client}");
    let id = client["client_id"].as_str().unwrap().to_owned();
    let claims = || json!({"iss": id, "sub": id, "aud": env.gateway_url(), "exp": now() + 120, "jti": uuid::Uuid::new_v4().to_string()});
    let before = dynamic_clients(&env).await;

    redis.stop();
    // An anonymous registration counts against the address's limit, in the cache.
    let anonymous = json!({ "redirect_uris": ["https://app.example/cb"] });
    let (status, body, headers) = post_json(&env, "/oauth/register", None, &anonymous).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(dynamic_clients(&env).await, before, "nothing registered");
    let jwt = assertion(&key, "k1", &claims());
    let (status, body) = with_assertion(&env, &jwt).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "not accepted unmarked: {body}"
    );

    let _redis = gatehouse_tests::OwnRedis::start_on(port).await;
    let mut answers = Vec::new();
    // The cache connection comes back by itself (bounded wait, not a sleep).
    for _ in 0..100 {
        let (status, body) = with_assertion(&env, &assertion(&key, "k1", &claims())).await;
        if status == 200 {
            answers.clear();
            break;
        }
        answers.push((status, body));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answers.is_empty(), "never recovered: {:?}", answers.last());
    let (status, body) = register(&env, &metadata).await;
    assert_eq!(status, 201, "{body}");
}

/// What claude.ai registers (REFERENCES §3.5): a web client with
/// `client_secret_post`, an https callback and both grants. The secret it
/// gets works in the form, as registered; the code exchange, the
/// `offline_access` refresh token and its rotation all go through, and a
/// wrong secret is 401 `invalid_client`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_client_registering_client_secret_post_signs_a_user_in_and_refreshes() {
    let env = open_env(|_| {}).await;
    let callback = "https://claude.example/api/mcp/auth_callback";
    let (status, client) = register(
        &env,
        &json!({
            "client_name": "Web agent", "redirect_uris": [callback],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    assert_no_nulls(&client);
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_post", "echoed");
    assert_eq!(client["application_type"], "web");
    assert_eq!(client["client_secret_expires_at"], 0);
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().expect("a secret for a secret method").to_owned();

    env.create_user("web-agent-user").await;
    let mut browser = env.browser();
    browser.login("web-agent-user", TEST_PASSWORD).await;
    let verifier = "w".repeat(50);
    let challenge = URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let code = browser
        .authorization_code(&[
            ("response_type", "code"),
            ("client_id", &id),
            ("redirect_uri", callback),
            ("scope", "user offline_access"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let redeem = |code: String, secret: String| {
        let (env, id, verifier) = (&env, id.clone(), verifier.clone());
        async move {
            token(
                env,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", callback),
                    ("code_verifier", &verifier),
                    ("client_id", &id),
                    ("client_secret", &secret),
                ],
            )
            .await
        }
    };
    let (status, wrong) = redeem(code.clone(), "gcs_not_the_secret".to_owned()).await;
    assert_eq!((status, wrong["error"].as_str()), (401, Some("invalid_client")), "{wrong}");
    let (status, tokens) = redeem(code, secret.clone()).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().expect("offline_access: a refresh token").to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (status, refreshed) = token(&env, &form).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_ne!(refreshed["refresh_token"].as_str(), Some(refresh.as_str()), "rotated");
    let (status, replayed) = token(&env, &form).await;
    assert_eq!((status, replayed["error"].as_str()), (400, Some("invalid_grant")), "{replayed}");
}

/// Workload identity federation: a local "cluster" issuer (its key made
/// here, its JWKS served over loopback HTTPS) mints a service-account token;
/// with a rule in the federation file, the workload gets a token for its
/// Gatehouse client with no secret anywhere. The file is read again when it
/// changes. Untrusted issuers, other audiences, expired tokens, unmapped
/// subjects and other keys are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_token_of_a_trusted_issuer_authenticates_its_mapped_client_without_a_secret() {
    const CLUSTER: &str = "https://cluster.test";
    const ACCOUNT: &str = "system:serviceaccount:ci:deployer";
    let cluster = client_key("c1");
    let jwks = json!({"keys": [cluster.jwk]});
    let server =
        HttpsServer::start(axum::Router::new().route("/openid/v1/jwks", get(move || async move { axum::Json(jwks) })))
            .await;
    let file = std::env::temp_dir().join(format!("gatehouse-federation-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, r#"{"issuers": []}"#).unwrap();
    let (ca, path) = (server.ca.clone(), file.clone());
    let env = TestEnv::builder()
        .registry_config(move |config| {
            config.fetch.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
            config.fetch.extra_roots = vec![ca];
            config.federation_file = Some(path);
        })
        .start()
        .await;
    let owner = env.create_user("platform").await;
    let spec = gatehouse_tests::AppSpec {
        grants: &[gatehouse_oauth::GrantType::ClientCredentials],
        scopes: &["user"],
        ..gatehouse_tests::AppSpec::default()
    };
    let registry = env.clients_as(gatehouse_runtime::access::Role::Gateway).registry;
    let (app, _secret) = registry.register_application(spec.of(&owner.id)).await.unwrap();
    let audience = env.gateway_url();
    let federation = json!({"issuers": [{
        "issuer": CLUSTER, "jwks_uri": server.url("/openid/v1/jwks"), "audiences": [audience],
        "rules": [{"claims": {"sub": ACCOUNT}, "client_id": app.client_id}]}]});
    std::fs::write(&file, federation.to_string()).unwrap();

    let claims = |change: &dyn Fn(&mut Value)| {
        let mut claims = json!({"iss": CLUSTER, "sub": ACCOUNT, "aud": [audience], "exp": now() + 600, "iat": now(),
            "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "deployer"}}});
        change(&mut claims);
        claims
    };
    let token = assertion(&cluster, "c1", &claims(&|_| {}));
    // The registry reads the file again within a second (asked directly: the
    // token endpoint would count the failures before it against this address).
    let authenticate = env.registry_as(env.as_role(gatehouse_runtime::access::Role::Token)).await;
    gatehouse_tests::until(Duration::from_secs(10), "the federation file is read again", || {
        let request = pb::AuthenticateClientRequest {
            client_id: ACCOUNT.to_owned(),
            client_secret: String::new(),
            client_assertion: token.clone(),
            client_address: String::new(),
        };
        let mut authenticate = authenticate.clone();
        async move { authenticate.authenticate_client(request).await.is_ok() }
    })
    .await;
    let (status, issued) = with_assertion(&env, &token).await;
    assert_eq!(status, 200, "{issued}");
    // The token is the mapped client's, and a platform token is reused for its lifetime.
    let access = issued["access_token"].as_str().unwrap().to_owned();
    let request = gatehouse_proto::pb::token::v1::IntrospectRequest { token: access, ..Default::default() };
    let introspected = env.token().await.introspect(request).await.unwrap().into_inner();
    assert!(introspected.active);
    assert_eq!(introspected.client_id, app.client_id);
    assert!(issued["access_token"].as_str().unwrap().starts_with("gat_"), "{issued}");
    let (again, body) = with_assertion(&env, &token).await;
    assert_eq!(again, 200, "{body}");
    let (named, body) = token_request_with(&env, &token, &app.client_id).await;
    assert_eq!(named, 200, "the mapped client_id may be sent: {body}");

    let stranger = client_key("c1");
    for (why, jwt) in [
        ("untrusted issuer", assertion(&cluster, "c1", &claims(&|c| c["iss"] = json!("https://other.test")))),
        ("another audience", assertion(&cluster, "c1", &claims(&|c| c["aud"] = json!(["https://elsewhere.test"])))),
        ("expired", assertion(&cluster, "c1", &claims(&|c| c["exp"] = json!(now() - 120)))),
        ("no exp", assertion(&cluster, "c1", &claims(&|c| drop(c.as_object_mut().unwrap().remove("exp"))))),
        ("from the future", assertion(&cluster, "c1", &claims(&|c| c["iat"] = json!(now() + 3600)))),
        ("unmapped subject", assertion(&cluster, "c1", &claims(&|c| c["sub"] = json!("system:serviceaccount:x:y")))),
        ("another key", assertion(&stranger, "c1", &claims(&|_| {}))),
    ] {
        let (status, body) = with_assertion(&env, &jwt).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{why}: {body}");
    }
    let (status, body) = token_request_with(&env, &token, "some-other-client").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "a client_id it does not map to: {body}"
    );
    std::fs::remove_file(&file).ok();
}

async fn token_request_with(env: &TestEnv, jwt: &str, client_id: &str) -> (u16, Value) {
    token(
        env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", jwt),
        ],
    )
    .await
}

/// An ID-JAG (enterprise-managed authorization): its header typed as one.
fn id_jag(key: &ClientKey, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("idp1".to_owned());
    header.typ = Some("oauth-id-jag+jwt".to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// The JWT bearer grant (RFC 7523 §2.1) in both its forms. An enterprise
/// identity provider's ID-JAG for an authenticated client gets a token for
/// the user it names (`aud_sub`: the user's id here), within its scope, with
/// no refresh token, once; every check refuses with `invalid_grant` (or
/// `invalid_client` without client authentication). A workload's platform
/// token is a grant on its own: its mapped client gets its token with no
/// credential beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_assertions_of_a_trusted_provider_and_workload_tokens_are_grants() {
    const IDP: &str = "https://idp.test";
    const CLUSTER: &str = "https://cluster.test";
    const ACCOUNT: &str = "system:serviceaccount:agents:runner";
    let (idp, cluster) = (client_key("idp1"), client_key("c1"));
    let file = std::env::temp_dir().join(format!("gatehouse-federation-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, r#"{"issuers": []}"#).unwrap();
    let path = file.clone();
    // Client authentications not kept: a change of the application counts at once.
    let env = TestEnv::builder()
        .registry_config(move |config| config.federation_file = Some(path))
        .token_config(|config| config.client_auth_cache = Duration::ZERO)
        .start()
        .await;
    let issuer = env.gateway_url();
    let alice = env.create_user("alice").await;
    let registry = env.clients_as(gatehouse_runtime::access::Role::Gateway).registry;
    let spec = |grants| gatehouse_tests::AppSpec { grants, scopes: &["user", "project"], ..Default::default() };
    let (agent, agent_secret) =
        registry.register_application(spec(&[gatehouse_oauth::GrantType::JwtBearer]).of(&alice.id)).await.unwrap();
    let (runner, _) =
        registry.register_application(spec(&[gatehouse_oauth::GrantType::JwtBearer]).of(&alice.id)).await.unwrap();
    let (plain, plain_secret) = registry
        .register_application(spec(&[gatehouse_oauth::GrantType::ClientCredentials]).of(&alice.id))
        .await
        .unwrap();
    let federation = json!({"issuers": [
        {"issuer": IDP, "jwks": {"keys": [idp.jwk]}, "identity_assertions": {}},
        {"issuer": CLUSTER, "jwks": {"keys": [cluster.jwk]}, "audiences": [issuer],
         "rules": [{"claims": {"sub": ACCOUNT}, "client_id": runner.client_id}]},
    ]});
    std::fs::write(&file, federation.to_string()).unwrap();

    let metadata: Value =
        reqwest::get(format!("{issuer}/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
    assert!(metadata["grant_types_supported"].as_array().unwrap().contains(&json!(JWT_BEARER)));
    assert_eq!(
        metadata["authorization_grant_profiles_supported"],
        json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );

    let claims = |change: &dyn Fn(&mut Value)| {
        let mut claims = json!({"iss": IDP, "sub": "00u-alice", "aud": issuer, "client_id": agent.client_id,
            "jti": uuid::Uuid::new_v4().to_string(), "exp": now() + 300, "iat": now(), "aud_sub": alice.id,
            "scope": "user", "auth_time": now() - 60});
        change(&mut claims);
        claims
    };
    let grant = |assertion: String, extra: &[(&'static str, &'static str)], secret: Option<String>| {
        let (env, client_id) = (&env, agent.client_id.clone());
        let extra = extra.to_vec();
        async move {
            let mut form = vec![("grant_type", JWT_BEARER.to_owned()), ("assertion", assertion)];
            form.extend(extra.into_iter().map(|(k, v)| (k, v.to_owned())));
            if let Some(secret) = secret {
                form.push(("client_id", client_id));
                form.push(("client_secret", secret));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(env, &form).await
        }
    };
    let secret = Some(agent_secret.clone());
    let good = id_jag(&idp, &claims(&|_| {}));
    // The file is read again within a second.
    let mut answer = (0, Value::Null);
    for _ in 0..50 {
        answer = grant(good.clone(), &[], secret.clone()).await;
        if answer.0 != 400
            || answer.1["error_description"] != json!("the assertion's iss is not an issuer this server trusts")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, issued) = answer;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["scope"], "user");
    assert!(issued.get("refresh_token").is_none(), "no refresh token for an ID-JAG: {issued}");
    let access = issued["access_token"].as_str().unwrap().to_owned();
    let me: Value = reqwest::Client::new()
        .get(format!("{issuer}/api/current_user"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["username"], "alice", "the token is alice's: {me}");
    let (status, body) = grant(good.clone(), &[], secret.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "an ID-JAG is single use: {body}");

    let stranger = client_key("idp1");
    let refused: Vec<(&str, String)> = vec![
        ("another audience", id_jag(&idp, &claims(&|c| c["aud"] = json!("https://other-as.test")))),
        ("two audiences", id_jag(&idp, &claims(&|c| c["aud"] = json!([issuer, "https://other-as.test"])))),
        ("another client", id_jag(&idp, &claims(&|c| c["client_id"] = json!(plain.client_id)))),
        ("expired", id_jag(&idp, &claims(&|c| c["exp"] = json!(now() - 120)))),
        ("no jti", id_jag(&idp, &claims(&|c| drop(c.as_object_mut().unwrap().remove("jti"))))),
        ("no iat", id_jag(&idp, &claims(&|c| drop(c.as_object_mut().unwrap().remove("iat"))))),
        ("a year ahead", id_jag(&idp, &claims(&|c| c["exp"] = json!(now() + 365 * 86_400)))),
        ("unknown user", id_jag(&idp, &claims(&|c| c["aud_sub"] = json!("no-such-user")))),
        ("no user claim", id_jag(&idp, &claims(&|c| drop(c.as_object_mut().unwrap().remove("aud_sub"))))),
        ("another key", id_jag(&stranger, &claims(&|_| {}))),
        ("untrusted issuer", id_jag(&idp, &claims(&|c| c["iss"] = json!("https://evil.test")))),
        ("not typed as an ID-JAG", assertion(&idp, "idp1", &claims(&|_| {}))),
        ("a workload issuer's token typed as one", id_jag(&cluster, &claims(&|c| c["iss"] = json!(CLUSTER)))),
        (
            "bound to a key, no proof",
            id_jag(&idp, &claims(&|c| c["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}))),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    for (why, jwt) in refused {
        let (status, body) = grant(jwt, &[], secret.clone()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{why}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.len() <= 200 && !description.contains("client_assertion"), "{why}: {body}");
    }
    let (status, body) = grant(id_jag(&idp, &claims(&|_| {})), &[("scope", "user project")], secret.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "wider than asserted: {body}");
    let (status, body) = grant(id_jag(&idp, &claims(&|_| {})), &[], None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "no client authentication: {body}");
    let (status, body) = grant(id_jag(&idp, &claims(&|_| {})), &[], Some("gcs_wrong".to_owned())).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "a wrong secret: {body}");
    // A client not allowed the grant is refused before its assertion is read.
    let not_allowed = id_jag(&idp, &claims(&|c| c["client_id"] = json!(plain.client_id)));
    let form = [
        ("grant_type", JWT_BEARER),
        ("assertion", not_allowed.as_str()),
        ("client_id", plain.client_id.as_str()),
        ("client_secret", plain_secret.as_str()),
    ];
    let (status, body) = token(&env, &form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
    // Its ID-JAG was not spent: once the application is allowed the grant, the same one works.
    let changes = gatehouse_runtime::clients::registry::ApplicationChanges {
        grant_types: Some(vec![JWT_BEARER.to_owned()]),
        ..Default::default()
    };
    registry.update_application("", &plain.client_id, changes).await.unwrap();
    let (status, body) = token(&env, &form).await;
    assert_eq!(status, 200, "the assertion was still unused: {body}");

    // A public client (an agent on a user's machine) names itself with client_id alone.
    let public = gatehouse_tests::AppSpec {
        client_type: gatehouse_proto::pb::common::v1::ClientType::Public,
        redirect_uris: &["http://127.0.0.1/callback"],
        ..spec(&[gatehouse_oauth::GrantType::JwtBearer])
    };
    let (public, _) = registry.register_application(public.of(&alice.id)).await.unwrap();
    let public_jag = id_jag(&idp, &claims(&|c| c["client_id"] = json!(public.client_id)));
    let form =
        [("grant_type", JWT_BEARER), ("assertion", public_jag.as_str()), ("client_id", public.client_id.as_str())];
    let (status, body) = token(&env, &form).await;
    assert_eq!(status, 200, "a public client's ID-JAG: {body}");
    let stolen = id_jag(&idp, &claims(&|c| c["client_id"] = json!(public.client_id)));
    let form = [("grant_type", JWT_BEARER), ("assertion", stolen.as_str()), ("client_id", agent.client_id.as_str())];
    let (status, body) = token(&env, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "a confidential id without its secret: {body}"
    );

    // The grant form of workload identity federation: no credential but the token.
    let workload = |change: &dyn Fn(&mut Value)| {
        let mut claims = json!({"iss": CLUSTER, "sub": ACCOUNT, "aud": issuer, "exp": now() + 600, "iat": now()});
        change(&mut claims);
        assertion(&cluster, "c1", &claims)
    };
    let (status, issued) = token(&env, &[("grant_type", JWT_BEARER), ("assertion", &workload(&|_| {}))]).await;
    assert_eq!(status, 200, "{issued}");
    let request = gatehouse_proto::pb::token::v1::IntrospectRequest {
        token: issued["access_token"].as_str().unwrap().to_owned(),
        ..Default::default()
    };
    let introspected = env.token().await.introspect(request).await.unwrap().into_inner();
    assert_eq!((introspected.active, introspected.client_id.as_str()), (true, runner.client_id.as_str()));
    assert!(introspected.user_id.is_empty(), "an application token");
    for (why, jwt) in [
        ("expired", workload(&|c| c["exp"] = json!(now() - 120))),
        ("another audience", workload(&|c| c["aud"] = json!("https://elsewhere.test"))),
        ("unmapped subject", workload(&|c| c["sub"] = json!("system:serviceaccount:x:y"))),
    ] {
        let (status, body) = token(&env, &[("grant_type", JWT_BEARER), ("assertion", &jwt)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{why}: {body}");
    }
    let form = [("grant_type", JWT_BEARER), ("assertion", &workload(&|_| {})), ("client_id", &plain.client_id)];
    let (status, body) = token(&env, &form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "another client named: {body}");
    let (status, body) = token(&env, &[("grant_type", JWT_BEARER)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "no assertion: {body}");
    std::fs::remove_file(&file).ok();
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Token exchange (RFC 8693) of another issuer's token: the operator's
/// `subject_tokens` policy names who may exchange that issuer's tokens,
/// for which audience, mapping which claim to which account, within which
/// scopes; a token's `may_act` admits the client it names. The exchanged
/// token is the named user's, names the requester and the token's own
/// actors in `act`, and never outlives the subject. Every refusal of the
/// subject is `invalid_request` (RFC 8693 §2.2.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_issuers_token_is_exchanged_by_the_operators_policy_or_its_may_act() {
    const IDP: &str = "https://login.acme.test";
    const API: &str = "https://api.acme.test";
    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    let idp = client_key("idp1");
    let file = std::env::temp_dir().join(format!("gatehouse-federation-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, r#"{"issuers": []}"#).unwrap();
    let path = file.clone();
    let env = TestEnv::builder().registry_config(move |config| config.federation_file = Some(path)).start().await;
    let alice = env.create_user("alice").await;
    let registry = env.clients_as(gatehouse_runtime::access::Role::Gateway).registry;
    let spec = gatehouse_tests::AppSpec {
        grants: &[gatehouse_oauth::GrantType::TokenExchange],
        scopes: &["user", "project"],
        ..Default::default()
    };
    let (agent, agent_secret) = registry.register_application(spec.of(&alice.id)).await.unwrap();
    let (other, other_secret) = registry.register_application(spec.of(&alice.id)).await.unwrap();
    let federation = json!({"issuers": [{"issuer": IDP, "jwks": {"keys": [idp.jwk]},
        "subject_tokens": {"audiences": [API], "clients": [agent.client_id], "user_claim": "preferred_username",
            "user_field": "username", "scopes": ["user"]}}]});
    std::fs::write(&file, federation.to_string()).unwrap();
    let expires = now() + 300;
    let claims = |change: &dyn Fn(&mut Value)| {
        let mut claims = json!({"iss": IDP, "sub": "00u-alice", "aud": API, "preferred_username": "alice",
            "scope": "user project", "exp": expires, "iat": now(), "act": {"sub": "upstream-agent"}});
        change(&mut claims);
        assertion(&idp, "idp1", &claims)
    };
    let exchange = |client: &(String, String), subject: String, extra: &[(&'static str, &'static str)]| {
        let (env, extra) = (&env, extra.to_vec());
        let (id, secret) = client.clone();
        async move {
            let mut form = vec![
                ("grant_type", EXCHANGE.to_owned()),
                ("subject_token", subject),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt".to_owned()),
                ("client_id", id),
                ("client_secret", secret),
            ];
            form.extend(extra.into_iter().map(|(k, v)| (k, v.to_owned())));
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(env, &form).await
        }
    };
    let agent_creds = (agent.client_id.clone(), agent_secret);
    let other_creds = (other.client_id.clone(), other_secret);
    // The registry reads the file again within a second.
    let mut answer = (0, Value::Null);
    for _ in 0..50 {
        answer = exchange(&agent_creds, claims(&|_| {}), &[]).await;
        if answer.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, issued) = answer;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["scope"], "user", "the policy's scopes within the token's: {issued}");
    assert_eq!(issued["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token", "{issued}");
    assert!(issued["expires_in"].as_i64().unwrap() <= 300, "never outlives the subject: {issued}");
    let request = gatehouse_proto::pb::token::v1::IntrospectRequest {
        token: issued["access_token"].as_str().unwrap().to_owned(),
        ..Default::default()
    };
    let seen = env.token().await.introspect(request).await.unwrap().into_inner();
    assert!(seen.active);
    assert_eq!((seen.user_id.as_str(), seen.client_id.as_str()), (alice.id.as_str(), agent.client_id.as_str()));
    assert_eq!(seen.actors, vec![agent.client_id.clone(), "upstream-agent".to_owned()]);

    // Another client: only when the token's may_act names it.
    let (status, body) = exchange(&other_creds, claims(&|_| {}), &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let named = claims(&|c| c["may_act"] = json!({"sub": other.client_id}));
    let (status, body) = exchange(&other_creds, named, &[]).await;
    assert_eq!(status, 200, "may_act names it: {body}");

    let stranger = client_key("idp1");
    for (why, jwt) in [
        ("another audience", claims(&|c| c["aud"] = json!("https://elsewhere.test"))),
        ("expired", claims(&|c| c["exp"] = json!(now() - 120))),
        ("no account", claims(&|c| c["preferred_username"] = json!("nobody"))),
        ("bound to a key", claims(&|c| c["cnf"] = json!({"jkt": "abc"}))),
        ("untrusted issuer", claims(&|c| c["iss"] = json!("https://evil.test"))),
        (
            "another key",
            assertion(
                &stranger,
                "idp1",
                &json!({"iss": IDP, "sub": "x", "aud": API,
            "preferred_username": "alice", "exp": now() + 60}),
            ),
        ),
    ] {
        let (status, body) = exchange(&agent_creds, jwt, &[]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{why}: {body}");
    }
    let (status, body) = exchange(&agent_creds, claims(&|_| {}), &[("scope", "project")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "beyond the policy: {body}");
    std::fs::remove_file(&file).ok();
}
