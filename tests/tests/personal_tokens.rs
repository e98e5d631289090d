//! Personal access tokens: made in the browser, used the two ways the open
//! API accepts tokens and over gRPC, and dead at once when regenerated,
//! revoked, expired, revoked by value or when their user is deleted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use gatehouse_proto::pb::registry::v1::DeleteUserRequest;
use gatehouse_proto::pb::token::v1::{CreatePersonalTokenRequest, IntrospectRequest};
use gatehouse_tests::{Backend, Browser, TEST_PASSWORD, TestEnv, on_every_database};
use serde_json::Value;

const OPERATOR_TOKEN: &str = "operator-token-for-tests-0123456789abcdef";

async fn env(backend: Backend) -> TestEnv {
    TestEnv::builder()
        .backend(backend)
        .gateway_config(|c| c.operator_token_hash = Some(gatehouse_oauth::SecretHash::of(OPERATOR_TOKEN)))
        .start()
        .await
}

/// The account page's form: a token named `name` with `scopes`, for 30 days.
async fn create_in_browser(browser: &mut Browser, name: &str, scopes: &[&str]) -> String {
    let page = browser.get("/account/tokens").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf_token").expect("csrf");
    let mut form = vec![("csrf_token", csrf.as_str()), ("name", name), ("expires_in_days", "30")];
    form.extend(scopes.iter().map(|s| ("scope", *s)));
    let created = browser.post_form("/account/tokens", &form).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let start = created.body.find("id=\"new-token\">").expect("the token is shown once") + "id=\"new-token\">".len();
    created.body[start..].split('<').next().unwrap().to_owned()
}

/// `/api/current_user` with `header` (`token` or `Bearer`).
async fn current_user(env: &TestEnv, scheme: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/current_user", env.gateway_url()))
        .header("Authorization", format!("{scheme} {token}"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

/// The session's CSRF token, for REST writes.
async fn session_csrf(browser: &mut Browser) -> String {
    browser.json(reqwest::Method::GET, "/api/session", None, None).await.json()["data"]["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn active(env: &TestEnv, token: &str) -> Option<gatehouse_proto::pb::token::v1::IntrospectResponse> {
    let request = IntrospectRequest { token: token.to_owned(), ..Default::default() };
    let answer = env.token().await.introspect(request).await.unwrap().into_inner();
    answer.active.then_some(answer)
}

async fn a_personal_token_lives_and_dies_with_its_user(backend: Backend) {
    let env = env(backend).await;
    let user = env.create_user("scripter").await;
    let mut browser = env.browser();
    browser.login("scripter", TEST_PASSWORD).await;
    let token = create_in_browser(&mut browser, "ci pipeline", &["user", "user:email"]).await;
    assert!(token.starts_with("gpt_"), "{token}");

    // Both header forms, and gRPC introspection (what kind, whose).
    for scheme in ["token", "Bearer"] {
        let (status, body) = current_user(&env, scheme, &token).await;
        assert_eq!((status, body["data"]["username"].as_str()), (200, Some("scripter")), "{scheme}: {body}");
        assert_eq!(body["data"]["email"], "scripter@example.com", "user:email was granted");
    }
    let seen = active(&env, &token).await.expect("active over gRPC");
    assert_eq!((seen.token_type.as_str(), seen.user_id.as_str()), ("personal_access_token", user.id.as_str()));
    assert_eq!(seen.scopes, vec!["user", "user:email"]);

    // The list: name, scopes, last use (time and address), never the token.
    let list = browser.json(reqwest::Method::GET, "/api/tokens", None, None).await;
    let listed = &list.json()["data"][0];
    assert_eq!(listed["name"], "ci pipeline");
    assert!(listed["last_used_at"].as_i64().is_some(), "{listed}");
    assert_eq!(listed["last_used_address"], "127.0.0.1");
    assert!(!list.body.contains(&token));
    let page = browser.get("/account/tokens").await;
    assert!(page.body.contains("ci pipeline") && !page.body.contains(&token));

    // A token only reads: the REST API refuses its writes.
    let write = reqwest::Client::new()
        .post(format!("{}/api/applications", env.gateway_url()))
        .header("Authorization", format!("token {token}"))
        .json(&serde_json::json!({ "name": "x", "redirect_uris": ["https://a.example/cb"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);

    // Regenerate: the old token stops at once, the new one works.
    let id = listed["id"].as_str().unwrap().to_owned();
    let csrf = session_csrf(&mut browser).await;
    let path = format!("/api/tokens/{id}/regenerate");
    let regenerated = browser
        .json(reqwest::Method::POST, &path, Some(&csrf), Some(serde_json::json!({ "expires_in_days": 7 })))
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.body);
    let fresh = regenerated.json()["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(current_user(&env, "token", &token).await.0, 401, "the old token is dead");
    assert!(active(&env, &token).await.is_none());
    assert_eq!(current_user(&env, "token", &fresh).await.0, 200);

    // Deleting the user ends it.
    env.registry().await.delete_user(DeleteUserRequest { user_id: user.id.clone() }).await.unwrap();
    assert_eq!(current_user(&env, "token", &fresh).await.0, 401);
    assert!(active(&env, &fresh).await.is_none());
}

on_every_database!(a_personal_token_lives_and_dies_with_its_user);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_expired_and_narrow_tokens_are_refused() {
    let env = env(Backend::Sqlite).await;
    let user = env.create_user("narrow").await;
    let mut browser = env.browser();
    browser.login("narrow", TEST_PASSWORD).await;

    // Limited to its scopes.
    let project_only = create_in_browser(&mut browser, "projects", &["project"]).await;
    let (status, body) = current_user(&env, "token", &project_only).await;
    assert_eq!(status, 403, "{body}");

    // Revoked from the page: dead at once.
    let token = create_in_browser(&mut browser, "laptop", &["user"]).await;
    assert_eq!(current_user(&env, "token", &token).await.0, 200);
    let list = browser.json(reqwest::Method::GET, "/api/tokens", None, None).await.json();
    let id = list["data"].as_array().unwrap().iter().find(|t| t["name"] == "laptop").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf = browser.get("/account/tokens").await.input("csrf_token").unwrap();
    let revoke = browser.post_form(&format!("/account/tokens/{id}/revoke"), &[("csrf_token", &csrf)]).await;
    assert_eq!(revoke.status, 303, "{}", revoke.body);
    assert_eq!(current_user(&env, "token", &token).await.0, 401);

    // Expiry: required, bounded, and enforced.
    let mut tokens = env.token().await;
    let request = |expires_in| CreatePersonalTokenRequest {
        user_id: user.id.clone(),
        username: "narrow".to_owned(),
        name: "short".to_owned(),
        scopes: vec!["user".to_owned()],
        expires_in,
    };
    for bad in [0, -5, 367 * 24 * 3600] {
        let status = tokens.create_personal_token(request(bad)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad}: {status:?}");
    }
    // A minute, not a second: expiry is kept in whole seconds, so a one-second
    // token can end a moment after it is made.
    let short = tokens.create_personal_token(request(60)).await.unwrap().into_inner().token;
    assert!(active(&env, &short).await.is_some());
    env.advance(Duration::from_secs(61));
    assert!(active(&env, &short).await.is_none(), "expired");
    assert_eq!(current_user(&env, "token", &short).await.0, 401);

    // Bad names and scopes are refused with the field named.
    let csrf = session_csrf(&mut browser).await;
    for (body, field) in [
        (serde_json::json!({ "name": "", "scopes": ["user"], "expires_in_days": 7 }), "name"),
        (serde_json::json!({ "name": "x", "scopes": ["admin"], "expires_in_days": 7 }), "scopes"),
        (serde_json::json!({ "name": "x", "scopes": [], "expires_in_days": 7 }), "scopes"),
        (serde_json::json!({ "name": "x", "scopes": ["user"] }), "expires_in"),
    ] {
        let page = browser.json(reqwest::Method::POST, "/api/tokens", Some(&csrf), Some(body.clone())).await;
        assert_eq!(page.status, 400, "{body}: {}", page.body);
        assert!(page.json()["msg"].as_str().unwrap().contains(field), "{body}: {}", page.body);
    }
    let made = browser
        .json(
            reqwest::Method::POST,
            "/api/tokens",
            Some(&csrf),
            Some(serde_json::json!({ "name": "api", "scopes": ["user"], "expires_in_days": 7 })),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let api_token = made.json()["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(current_user(&env, "Bearer", &api_token).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_token_is_revoked_by_its_value_alone() {
    let env = env(Backend::Sqlite).await;
    env.create_user("leaker").await;
    let mut browser = env.browser();
    browser.login("leaker", TEST_PASSWORD).await;
    let token = create_in_browser(&mut browser, "pasted in a gist", &["user"]).await;
    let http = reqwest::Client::new();
    let url = format!("{}/admin/tokens/revoke", env.gateway_url());

    let anonymous = http.post(&url).json(&serde_json::json!({ "token": token })).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong =
        http.post(&url).bearer_auth("x".repeat(40)).json(&serde_json::json!({ "token": token })).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(current_user(&env, "token", &token).await.0, 200, "still alive");

    let answer =
        http.post(&url).bearer_auth(OPERATOR_TOKEN).json(&serde_json::json!({ "token": token })).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        (body["data"]["found"].as_bool(), body["data"]["token_type"].as_str()),
        (Some(true), Some("personal_access_token"))
    );
    assert_eq!(current_user(&env, "token", &token).await.0, 401, "dead at once");
    let list = browser.json(reqwest::Method::GET, "/api/tokens", None, None).await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "gone from the owner's list");

    // Unknown values are said so; a server without an operator token has no such endpoint.
    let unknown = http.post(&url).bearer_auth(OPERATOR_TOKEN).form(&[("token", "gpt_nope")]).send().await.unwrap();
    assert_eq!(unknown.json::<Value>().await.unwrap()["data"]["found"], false);
    let plain = TestEnv::builder().start().await;
    let off = http
        .post(format!("{}/admin/tokens/revoke", plain.gateway_url()))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 404);
}
