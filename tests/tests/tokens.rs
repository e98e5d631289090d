//! The token service through the real gateway and over gRPC: the seed's
//! URLs, the standard endpoints, rotation, replay, revocation, introspection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use gatehouse_oauth::GrantType;
use gatehouse_oauth::pkce::s256_challenge;
use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_proto::pb::token::v1::{BatchIntrospectRequest, IntrospectRequest};
use gatehouse_proto::status::decode_oauth;
use gatehouse_tests::{
    Backend, CALLBACK, CacheBackend, ClientApp, OwnRedis, TEST_PASSWORD, TestEnv, on_every_database,
};
use serde_json::Value;

type App = ClientApp;

async fn app_with(env: TestEnv, grants: &[GrantType], scopes: &[&str]) -> App {
    ClientApp::with(env, grants, scopes).await
}

async fn app(env: TestEnv) -> App {
    ClientApp::new(env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_end_to_end_with_its_own_urls() {
    let mut app = app(TestEnv::builder().start().await).await;
    let client_id = app.client_id.clone();
    let location = app
        .browser
        .authorize_at(
            "/oauth_authorize.html",
            &[("client_id", &client_id), ("redirect_uri", CALLBACK), ("response_type", "code"), ("scope", "user")],
        )
        .await;
    let code = gatehouse_tests::query_pairs(&location).into_iter().find(|(k, _)| k == "code").unwrap().1;
    let url = format!(
        "/api/oauth/access_token?client_id={}&client_secret={}&grant_type=authorization_code&code={code}",
        app.client_id, app.secret
    );
    let page = app.browser.get(&url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let body = page.json();
    assert_eq!(body["expires_in"], "7200", "the seed writes expires_in as a string");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "user");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("gat_") && body["refresh_token"].as_str().unwrap().starts_with("grt_"));

    let me = app.browser.get(&format!("/api/current_user?access_token={access}")).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!((me["code"].as_i64(), me["data"]["username"].as_str()), (Some(0), Some("owner")));
    assert!(me["data"].get("email").is_none(), "email needs user:email");
    let mut plain = app.env.browser();
    for header in [format!("Bearer {access}"), format!("token {access}")] {
        let request = reqwest::Client::new()
            .get(format!("{}/api/current_user", app.env.gateway_url()))
            .header("authorization", header);
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // Errors of the seed's token URL come in its envelope.
    let replay = plain.get(&url).await;
    assert_eq!(replay.status, 400);
    let body = replay.json();
    assert_eq!(body["code"], 1);
    assert!(body["msg"].as_str().unwrap().starts_with("invalid_grant"));
    let post = plain
        .post_form(
            "/api/oauth/access_token",
            &[("client_id", "nope"), ("client_secret", "x"), ("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!((post.status, post.json()["code"].as_i64()), (401, Some(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_user_needs_a_live_token_with_the_user_scope() {
    let mut app = app(TestEnv::builder().start().await).await;
    let mut anonymous = app.env.browser();
    let none = anonymous.get("/api/current_user").await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), Some(r#"Bearer realm="gatehouse""#));
    assert_eq!(none.json()["code"], 1);
    let bad = anonymous.get("/api/current_user?access_token=gat_nonsense").await;
    assert_eq!(bad.status, 401);
    assert!(bad.header("www-authenticate").unwrap().contains(r#"error="invalid_token""#));

    let code = app.code("project").await;
    let (_, body) = app.exchange_code(&code).await;
    let project_only = body["access_token"].as_str().unwrap().to_owned();
    let forbidden = anonymous.get(&format!("/api/current_user?access_token={project_only}")).await;
    assert_eq!(forbidden.status, 403);
    assert!(forbidden.header("www-authenticate").unwrap().contains(r#"error="insufficient_scope""#));

    let code = app.code("user user:email").await;
    let (_, body) = app.exchange_code(&code).await;
    let with_email = body["access_token"].as_str().unwrap().to_owned();
    let me = anonymous.get(&format!("/api/current_user?access_token={with_email}")).await.json();
    assert_eq!(me["data"]["email"], "owner@example.com");

    let (status, cc) = app.token(&[("grant_type", "client_credentials"), ("scope", "user")]).await;
    assert_eq!(status, 200);
    let app_token = cc["access_token"].as_str().unwrap();
    assert_eq!(
        anonymous.get(&format!("/api/current_user?access_token={app_token}")).await.status,
        401,
        "no user behind it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_narrows_and_detects_reuse() {
    let mut app = app(TestEnv::builder().start().await).await;
    let code = app.code("user project").await;
    let (status, first) = app.exchange_code(&code).await;
    assert_eq!(status, 200);
    assert!(first["expires_in"].is_number(), "standard endpoint: numeric expires_in");
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();

    let (status, wider) =
        app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("scope", "user user:email")]).await;
    assert_eq!((status, wider["error"].as_str()), (400, Some("invalid_scope")));
    let (status, second) =
        app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("scope", "user")]).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["scope"], "user");
    let rotated = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, refresh);
    let access = second["access_token"].as_str().unwrap().to_owned();
    assert!(app.introspect(&access).await);

    // The old refresh token comes back: the whole grant is revoked.
    let (status, reuse) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!((status, reuse["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!app.introspect(&access).await, "access tokens of the grant are revoked");
    assert!(!app.introspect(first["access_token"].as_str().unwrap()).await);
    let (status, dead) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &rotated)]).await;
    assert_eq!((status, dead["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_of_one_client_are_refused_to_another() {
    let mut app = app(TestEnv::builder().start().await).await;
    let owner = app.env.registry().await;
    drop(owner);
    let (other_id, other_secret) = {
        let user = app.env.create_user("second").await;
        app.env.register_app(&user, &[CALLBACK], ClientType::Confidential, &["user"]).await
    };
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let page = app
        .browser
        .post_client(
            "/oauth/token",
            Some((&other_id, &other_secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!((page.status, page.json()["error"].as_str()), (400, Some("invalid_grant")));
    // The victim's refresh token still works.
    let (status, _) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_errors() {
    let mut app = app_with(TestEnv::builder().start().await, &[GrantType::AuthorizationCode], &["user"]).await;
    let (id, secret) = (app.client_id.clone(), app.secret.clone());
    let cases: Vec<(&str, Option<(&str, &str)>, Vec<(&str, &str)>, u16, &str)> = vec![
        (
            "password grant",
            Some((&id, &secret)),
            vec![("grant_type", "password"), ("username", "u"), ("password", "p")],
            400,
            "unsupported_grant_type",
        ),
        ("unknown grant", Some((&id, &secret)), vec![("grant_type", "urn:nope")], 400, "unsupported_grant_type"),
        ("no grant_type", Some((&id, &secret)), vec![], 400, "invalid_request"),
        ("not allowed", Some((&id, &secret)), vec![("grant_type", "client_credentials")], 400, "unauthorized_client"),
        (
            "refresh not allowed",
            Some((&id, &secret)),
            vec![("grant_type", "refresh_token"), ("refresh_token", "x")],
            400,
            "unauthorized_client",
        ),
        (
            "wrong secret basic",
            Some((&id, "nope")),
            vec![("grant_type", "authorization_code"), ("code", "x")],
            401,
            "invalid_client",
        ),
        (
            "wrong secret post",
            None,
            vec![("grant_type", "authorization_code"), ("code", "x"), ("client_id", &id), ("client_secret", "nope")],
            401,
            "invalid_client",
        ),
        ("no client", None, vec![("grant_type", "authorization_code"), ("code", "x")], 401, "invalid_client"),
        (
            "two methods",
            Some((&id, &secret)),
            vec![("grant_type", "authorization_code"), ("client_secret", &secret)],
            400,
            "invalid_request",
        ),
        (
            "twice",
            Some((&id, &secret)),
            vec![("grant_type", "authorization_code"), ("grant_type", "authorization_code")],
            400,
            "invalid_request",
        ),
        ("no code", Some((&id, &secret)), vec![("grant_type", "authorization_code")], 400, "invalid_request"),
        (
            "unknown code",
            Some((&id, &secret)),
            vec![("grant_type", "authorization_code"), ("code", "gac_bogus")],
            400,
            "invalid_grant",
        ),
    ];
    for (case, basic, form, status, error) in cases {
        let page = app.browser.post_client("/oauth/token", basic, &form).await;
        assert_eq!((page.status, page.json()["error"].as_str()), (status, Some(error)), "{case}: {}", page.body);
        assert!(page.json()["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{case}");
        let challenge = page.header("www-authenticate");
        assert_eq!(challenge.is_some(), error == "invalid_client" && basic.is_some(), "{case}: {challenge:?}");
    }
    let json_body = reqwest::Client::new()
        .post(format!("{}/oauth/token", app.env.gateway_url()))
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_gives_an_app_token_without_refresh() {
    let mut app = app(TestEnv::builder().start().await).await;
    let (status, body) = app.token(&[("grant_type", "client_credentials"), ("scope", "project")]).await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "project");
    let introspection = app.http_introspect(body["access_token"].as_str().unwrap()).await;
    assert_eq!(introspection["active"], true);
    assert!(introspection.get("sub").is_none());
    let (status, wide) = app.token(&[("grant_type", "client_credentials"), ("scope", "social")]).await;
    assert_eq!((status, wide["error"].as_str()), (400, Some("invalid_scope")));
    // A public client cannot be given the grant, and has no secret to use it.
    let user = app.env.create_user("pub").await;
    let (public_id, _) = app.env.register_app(&user, &[CALLBACK], ClientType::Public, &["user"]).await;
    let page = app
        .browser
        .post_client("/oauth/token", None, &[("grant_type", "client_credentials"), ("client_id", &public_id)])
        .await;
    assert_eq!(page.json()["error"], "unauthorized_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_client_code_flow_with_pkce_over_the_standard_endpoint() {
    let env = TestEnv::builder().start().await;
    let user = env.create_user("native").await;
    let (client_id, _) = env.register_app(&user, &["http://127.0.0.1/cb"], ClientType::Public, &["user"]).await;
    let mut browser = env.browser();
    browser.login("native", TEST_PASSWORD).await;
    let verifier = "native-app-verifier-".repeat(3);
    let challenge = s256_challenge(&verifier);
    let code = browser
        .authorization_code(&[
            ("client_id", &client_id),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("code", &code),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("code_verifier", &verifier),
    ];
    let page = browser.post_client("/oauth/token", None, &form).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.json()["refresh_token"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_is_immediate_on_grpc_and_http_introspection() {
    let mut app = app(TestEnv::builder().redis().start().await).await;
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(app.introspect(&access).await, "cached as active");
    assert_eq!(app.http_introspect(&access).await["active"], true);
    let http = app.http_introspect(&access).await;
    assert_eq!((http["sub"].as_str().is_some(), http["username"].as_str()), (true, Some("owner")));
    assert_eq!(http["iss"], app.env.gateway_url());

    // Another client neither sees nor revokes it.
    let other = app.env.create_user("other").await;
    let (other_id, other_secret) = app.env.register_app(&other, &[CALLBACK], ClientType::Confidential, &["user"]).await;
    let theirs = app
        .browser
        .post_client("/oauth/introspect", Some((&other_id, &other_secret)), &[("token", &access)])
        .await
        .json();
    assert_eq!(theirs, serde_json::json!({ "active": false }));
    let ignored =
        app.browser.post_client("/oauth/revoke", Some((&other_id, &other_secret)), &[("token", &access)]).await;
    assert_eq!(ignored.status, 200);
    assert!(app.introspect(&access).await);
    let unauthenticated = app.browser.post_client("/oauth/introspect", None, &[("token", &access)]).await;
    assert_eq!((unauthenticated.status, unauthenticated.json()["error"].as_str()), (401, Some("invalid_client")));

    let (id, secret) = (app.client_id.clone(), app.secret.clone());
    let revoked = app
        .browser
        .post_client("/oauth/revoke", Some((&id, &secret)), &[("token", &access), ("token_type_hint", "access_token")])
        .await;
    assert_eq!(revoked.status, 200);
    assert!(!app.introspect(&access).await, "gRPC sees the revocation at once");
    assert_eq!(app.http_introspect(&access).await["active"], false, "HTTP too");
    // Revoking the refresh token revokes the grant's other access tokens.
    let (_, rotated) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    app.browser.post_client("/oauth/revoke", Some((&id, &secret)), &[("token", &refresh2)]).await;
    assert!(!app.introspect(&access2).await);
    assert!(!app.introspect(&refresh2).await);
    let unknown = app.browser.post_client("/oauth/revoke", Some((&id, &secret)), &[("token", "whatever")]).await;
    assert_eq!(unknown.status, 200, "RFC 7009 §2.2: an invalid token is not an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_introspection_checks_required_scopes_and_batches() {
    let mut app = app(TestEnv::builder().start().await).await;
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    // What an internal service asks (BatchIntrospect is the validators' alone).
    let mut client = app.env.token_as(app.env.as_role(gatehouse_runtime::access::Role::Validator)).await;
    let ask = |token: &str, scopes: &[&str]| IntrospectRequest {
        token: token.to_owned(),
        required_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    };
    let ok = client.introspect(ask(&access, &["user"])).await.unwrap().into_inner();
    assert!(ok.active);
    assert_eq!(
        (ok.username.as_str(), ok.token_type.as_str(), ok.scopes.clone()),
        ("owner", "access_token", vec!["user".to_owned()])
    );
    assert!(ok.expires_at > ok.issued_at);
    let denied = client.introspect(ask(&access, &["project"])).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert_eq!(decode_oauth(&denied).unwrap().code.as_str(), "insufficient_scope");
    let missing = client.introspect(ask("gat_malformed", &["user"])).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unauthenticated);
    assert_eq!(decode_oauth(&missing).unwrap().code.as_str(), "invalid_token");
    let batch = client
        .batch_introspect(BatchIntrospectRequest {
            requests: vec![ask(&access, &[]), ask("nope", &[]), ask(&access, &["project"])],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.results.iter().map(|r| r.active).collect::<Vec<_>>(), vec![true, false, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_stays_right_from_sql_when_redis_stops() {
    let mut redis = OwnRedis::start().await;
    let mut app = app(TestEnv::builder().cache_url(redis.url()).start().await).await;
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (_, other) = app.token(&[("grant_type", "client_credentials")]).await;
    let to_revoke = other["access_token"].as_str().unwrap().to_owned();
    assert!(app.introspect(&access).await);
    redis.stop();
    assert!(app.introspect(&access).await, "active, read from SQL");
    assert!(!app.introspect("gat_not_a_real_token").await);
    let (id, secret) = (app.client_id.clone(), app.secret.clone());
    // Revocation needs its cache tombstone; with Redis down it fails loudly, never silently.
    let revoke = app.browser.post_client("/oauth/revoke", Some((&id, &secret)), &[("token", &to_revoke)]).await;
    assert_eq!((revoke.status, revoke.json()["error"].as_str()), (503, Some("temporarily_unavailable")));
    assert!(!app.introspect(&to_revoke).await, "SQL already says revoked");
}

on_every_database!(replayed_code_revokes_its_tokens, concurrent_replays_issue_once_and_revoke);

async fn replayed_code_revokes_its_tokens(backend: Backend) {
    let mut app = app(TestEnv::builder().backend(backend).start().await).await;
    let code = app.code("user").await;
    let (status, first) = app.exchange_code(&code).await;
    assert_eq!(status, 200);
    let access = first["access_token"].as_str().unwrap().to_owned();
    assert!(app.introspect(&access).await);
    let (status, replay) = app.exchange_code(&code).await;
    assert_eq!((status, replay["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!app.introspect(&access).await, "tokens issued from a replayed code are revoked");
    let (status, _) = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())])
        .await;
    assert_eq!(status, 400);
}

async fn concurrent_replays_issue_once_and_revoke(backend: Backend) {
    let mut app = app(TestEnv::builder().backend(backend).cache(CacheBackend::Redis).start().await).await;
    let url = format!("{}/oauth/token", app.env.gateway_url());
    // Several codes, each sent 16 times at once: a replay may overtake the
    // winning exchange before its tokens are stored, and must still revoke them.
    for _ in 0..8 {
        let code = app.code("user").await;
        let attempts: Vec<_> = (0..16)
            .map(|_| {
                let request = reqwest::Client::new().post(&url).basic_auth(&app.client_id, Some(&app.secret)).form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", CALLBACK),
                ]);
                tokio::spawn(async move {
                    let response = request.send().await.unwrap();
                    (response.status().as_u16(), response.json::<Value>().await.unwrap())
                })
            })
            .collect();
        let mut issued = Vec::new();
        for attempt in attempts {
            let (status, body) = attempt.await.unwrap();
            if status == 200 {
                issued.push((
                    body["access_token"].as_str().unwrap().to_owned(),
                    body["refresh_token"].as_str().unwrap().to_owned(),
                ));
            } else {
                assert_eq!(body["error"], "invalid_grant");
            }
        }
        assert_eq!(issued.len(), 1, "exactly one exchange succeeds");
        let (access, refresh) = &issued[0];
        assert!(!app.introspect(access).await, "the replays revoked the access token the winner got");
        assert!(!app.introspect(refresh).await, "and its refresh token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_authorized_application_revokes_its_tokens() {
    let mut app = app(TestEnv::builder().start().await).await;
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let page = app.browser.get("/account/authorizations").await;
    let csrf = page.input("csrf_token").unwrap();
    let revoked = app
        .browser
        .post_form(&format!("/account/authorizations/{}/revoke", app.client_id), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(revoked.status, 303);
    assert!(!app.introspect(&access).await);
    let (status, _) = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())])
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_reads_with_a_bearer_token_but_never_writes() {
    let grants = [GrantType::AuthorizationCode];
    let mut app = app_with(TestEnv::builder().start().await, &grants, &["user", "applications:read"]).await;
    let client = reqwest::Client::new();
    // `user` reads the profile, not the account's applications.
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let profile_only = tokens["access_token"].as_str().unwrap();
    let list = client
        .get(format!("{}/api/applications", app.env.gateway_url()))
        .bearer_auth(profile_only)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 403);
    let code = app.code("applications:read").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let access = tokens["access_token"].as_str().unwrap();
    let list =
        client.get(format!("{}/api/applications", app.env.gateway_url())).bearer_auth(access).send().await.unwrap();
    assert_eq!(list.status(), 200);
    let body: Value = list.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let write = client
        .post(format!("{}/api/applications", app.env.gateway_url()))
        .bearer_auth(access)
        .header("content-type", "application/json")
        .body(r#"{"name":"x","redirect_uris":["https://x.example/cb"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);
    assert!(write.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_server_metadata_names_every_endpoint() {
    let env = TestEnv::builder().start().await;
    let meta = env.browser().get("/.well-known/oauth-authorization-server").await.json();
    let issuer = env.gateway_url();
    assert_eq!(meta["issuer"], issuer);
    for (key, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
    ] {
        assert_eq!(meta[key], format!("{issuer}{path}"));
    }
    assert_eq!(meta["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert!(meta["grant_types_supported"].as_array().unwrap().iter().all(|g| g != "password"));
    assert_eq!(meta["scopes_supported"].as_array().unwrap().len(), 22);
}

/// Successful client authentications are reused for
/// `GATEHOUSE_CLIENT_AUTH_CACHE_SECS` (5 s by default), so a deleted secret
/// keeps working that long in the token service; with 0 it is refused at
/// once. A wrong secret is never answered from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_authentication_cache_is_bounded_and_can_be_turned_off() {
    use gatehouse_proto::pb::registry::v1::{
        DeleteClientSecretRequest, GetApplicationRequest, RotateClientSecretRequest,
    };
    for cache_secs in [0, 5] {
        let env = TestEnv::builder()
            .token_config(|c| c.client_auth_cache = std::time::Duration::from_secs(cache_secs))
            .start()
            .await;
        let mut app = app(env).await;
        let (status, _) = app.token(&[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 200);
        let mut registry = app.env.registry().await;
        let client_id = app.client_id.clone();
        let application = registry
            .get_application(GetApplicationRequest {
                client_id: client_id.clone(),
                acting_owner_id: String::new(),
                client_address: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .application
            .unwrap();
        let old_secret_id = application.secrets[0].id.clone();
        let rotated = registry
            .rotate_client_secret(RotateClientSecretRequest {
                client_id: client_id.clone(),
                acting_owner_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        registry
            .delete_client_secret(DeleteClientSecretRequest {
                client_id: client_id.clone(),
                secret_id: old_secret_id,
                acting_owner_id: String::new(),
            })
            .await
            .unwrap();

        let (old, _) = app.token(&[("grant_type", "client_credentials")]).await;
        let expected = if cache_secs == 0 { 401 } else { 200 };
        assert_eq!(old, expected, "the deleted secret with a {cache_secs} s cache");
        let wrong = app
            .browser
            .post_client("/oauth/token", Some((&client_id, "gcs_wrong")), &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(wrong.status, 401, "a wrong secret is never answered from the cache");
        app.secret = rotated.client_secret;
        let (new, _) = app.token(&[("grant_type", "client_credentials")]).await;
        assert_eq!(new, 200);
    }
}
