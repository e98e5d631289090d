//! The tower layer internal services use (`gatehouse-client`), in front of a
//! real route, against the real token service over gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use axum::routing::{get, post};
use axum::{Extension, Router};
use gatehouse_client::{Caller, RequireScopes};
use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_tests::{TEST_PASSWORD, TestEnv, query_pairs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_lets_through_only_tokens_with_the_route_scopes() {
    let env = TestEnv::builder().start().await;
    let user = env.create_user("dev").await;
    let (client_id, secret) =
        env.register_app(&user, &["https://app.example/cb"], ClientType::Confidential, &["user", "project"]).await;
    let channel = env.validator_channel();
    let app = Router::new()
        .route(
            "/whoami",
            get(|Extension(caller): Extension<Caller>| async move { caller.username })
                .merge(post(|| async { "posted" }))
                .layer(RequireScopes::new(channel.clone(), ["user"])),
        )
        .route("/projects", get(|| async { "projects" }).layer(RequireScopes::new(channel, ["user", "project"])));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut browser = env.browser();
    browser.login("dev", TEST_PASSWORD).await;
    let location = browser.authorize(&[("client_id", &client_id), ("response_type", "code"), ("scope", "user")]).await;
    let code = query_pairs(&location).into_iter().find(|(k, _)| k == "code").unwrap().1;
    let tokens = browser
        .post_client(
            "/oauth/token",
            Some((&client_id, &secret)),
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await
        .json();
    let access = tokens["access_token"].as_str().unwrap();

    let http = reqwest::Client::new();
    let whoami = http.get(format!("{base}/whoami")).bearer_auth(access).send().await.unwrap();
    assert_eq!(whoami.status(), 200);
    assert_eq!(whoami.text().await.unwrap(), "dev", "the caller's identity reached the handler");
    // `Authorization: token …`, as Gatehouse's own API takes it, reads the same; Basic is no token.
    let token_scheme =
        http.get(format!("{base}/whoami")).header("Authorization", format!("token {access}")).send().await.unwrap();
    assert_eq!(token_scheme.status(), 200);
    let basic = http.get(format!("{base}/whoami")).basic_auth("dev", Some(access)).send().await.unwrap();
    assert_eq!(basic.status(), 401);
    let none = http.get(format!("{base}/whoami")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    assert!(!none.headers().contains_key("connection"), "nothing unread: the connection stays open");
    // A refused request whose body the route never read: the server will
    // not reuse the connection, and says so (MCP clients post first, then
    // retry on the same connection after the OAuth flow).
    let posted = http.post(format!("{base}/whoami")).body(r#"{"jsonrpc":"2.0"}"#).send().await.unwrap();
    assert_eq!(posted.status(), 401);
    assert_eq!(posted.headers()["connection"], "close");
    let forged = http.get(format!("{base}/whoami")).bearer_auth("gat_forged").send().await.unwrap();
    assert_eq!(forged.status(), 401);
    let narrow = http.get(format!("{base}/projects")).bearer_auth(access).send().await.unwrap();
    assert_eq!(narrow.status(), 403);
    assert!(narrow.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refresh_as_access = http.get(format!("{base}/whoami")).bearer_auth(refresh).send().await.unwrap();
    assert_eq!(refresh_as_access.status(), 401, "a refresh token is not an access token");
}
