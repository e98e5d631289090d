//! Token state under races, on PostgreSQL and Redis (the production shape;
//! the rotation test runs on SQLite and the in-process cache too). Every test
//! keeps a ledger of the tokens the client received and checks each one
//! afterwards on every path: gRPC introspection, HTTP introspection,
//! `/api/current_user` (access tokens) and the token endpoint (refresh
//! tokens). None of them may say "active" for a token that was revoked,
//! rotated away, or belongs to a deleted application or user.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gatehouse_proto::pb::authorization::v1::RevokeGrantRequest;
use gatehouse_proto::pb::registry::v1::{DeleteApplicationRequest, DeleteUserRequest};
use gatehouse_proto::pb::token::v1::{
    RevokeAllForGrantRequest, RevokeAllForSubjectRequest, revoke_all_for_subject_request,
};
use gatehouse_tests::{Backend, CacheBackend, ClientApp, TestEnv};
use serde_json::Value;

/// How many times each race runs: enough that the old code failed it (2-5
/// of 20 refresh/revoke races left tokens active).
const RACES: usize = 20;

async fn production_shape() -> ClientApp {
    ClientApp::new(TestEnv::builder().postgres().redis().start().await).await
}

/// Asserts that no path says `token` is active.
async fn assert_dead(app: &mut ClientApp, token: &str, what: &str) {
    assert!(!app.introspect(token).await, "{what}: gRPC introspection says active");
    let http = app.http_introspect(token).await;
    assert_eq!(http["active"], false, "{what}: HTTP introspection says active: {http}");
    if token.starts_with("gat_") {
        let me = app.env.browser().get(&format!("/api/current_user?access_token={token}")).await;
        assert_eq!(me.status, 401, "{what}: /api/current_user accepted it");
    } else {
        let (status, body) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", token)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{what}: refresh accepted it");
    }
}

fn pair(body: &Value) -> (String, String) {
    (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
}

async fn fresh_grant(app: &mut ClientApp) -> (String, String) {
    let code = app.code("user").await;
    let (status, body) = app.exchange_code(&code).await;
    assert_eq!(status, 200, "{body}");
    pair(&body)
}

/// A rotation ends the refresh token it used and the access token issued
/// with it, in SQL and in the cache, before it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_ends_the_old_refresh_token_and_the_previous_access_token() {
    for (backend, cache) in [(Backend::Postgres, CacheBackend::Redis), (Backend::Sqlite, CacheBackend::Memory)] {
        let mut app = ClientApp::new(TestEnv::builder().backend(backend).cache(cache).start().await).await;
        let (access, refresh) = fresh_grant(&mut app).await;
        // Both are cached as active first (the path that used to keep them alive).
        assert!(app.introspect(&access).await && app.introspect(&refresh).await);
        let (status, body) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
        assert_eq!(status, 200, "{body}");
        let (new_access, new_refresh) = pair(&body);
        assert!(!app.introspect(&refresh).await, "{backend:?}: the rotated refresh token reads inactive");
        assert!(!app.introspect(&access).await, "{backend:?}: the previous access token is ended");
        let http = app.http_introspect(&access).await;
        assert_eq!(http["active"], false);
        assert!(app.introspect(&new_access).await && app.introspect(&new_refresh).await);
        let me = app.env.browser().get(&format!("/api/current_user?access_token={new_access}")).await;
        assert_eq!(me.status, 200);
        // The old refresh token presented again is a reuse: the whole grant ends.
        assert_dead(&mut app, &refresh, "reused refresh token").await;
        assert_dead(&mut app, &new_access, "access token of a reused grant").await;
        assert_dead(&mut app, &new_refresh, "refresh token of a reused grant").await;
    }
}

/// Revoking a grant while its refresh token is being used: whichever wins,
/// nothing the client holds stays active (the refresh's new tokens included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_grant_while_it_refreshes_leaves_nothing_active() {
    let mut app = production_shape().await;
    for round in 0..RACES {
        let (access, refresh) = fresh_grant(&mut app).await;
        assert!(app.introspect(&access).await);
        let (id, secret, base) = (app.client_id.clone(), app.secret.clone(), app.env.gateway_url());
        let refreshing = tokio::spawn(async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/oauth/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap(), refresh)
        });
        let mut token = app.env.token_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
        let request = RevokeAllForGrantRequest { user_id: app.owner_id.clone(), client_id: app.client_id.clone() };
        token.revoke_all_for_grant(request).await.expect("revocation answers");
        let (status, body, refresh) = refreshing.await.unwrap();
        let mut ledger = vec![access, refresh];
        if status == 200 {
            let (a, r) = pair(&body);
            ledger.extend([a, r]);
        }
        for token in &ledger {
            assert_dead(&mut app, token, &format!("round {round}")).await;
        }
    }
}

/// Revoking a grant (its consent, then its tokens, as the account page
/// does) while one of its codes is being exchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_grant_while_a_code_is_exchanged_leaves_nothing_active() {
    let mut app = production_shape().await;
    for round in 0..RACES {
        let code = app.code("user").await;
        let (id, secret, base) = (app.client_id.clone(), app.secret.clone(), app.env.gateway_url());
        let exchanging = tokio::spawn(async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/oauth/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", gatehouse_tests::CALLBACK),
                ])
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        });
        // What the account page does: the consent, then the tokens.
        let consent = RevokeGrantRequest { user_id: app.owner_id.clone(), client_id: app.client_id.clone() };
        app.env
            .authorization_as(app.env.as_role(gatehouse_runtime::access::Role::Registry))
            .await
            .revoke_grant(consent)
            .await
            .expect("consent revoked");
        let mut token = app.env.token_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
        let request = RevokeAllForGrantRequest { user_id: app.owner_id.clone(), client_id: app.client_id.clone() };
        token.revoke_all_for_grant(request).await.expect("revocation answers");
        let (status, body) = exchanging.await.unwrap();
        if status == 200 {
            let (access, refresh) = pair(&body);
            assert_dead(&mut app, &access, &format!("round {round}: access")).await;
            assert_dead(&mut app, &refresh, &format!("round {round}: refresh")).await;
        } else {
            assert_eq!(body["error"], "invalid_grant", "round {round}: {body}");
        }
    }
}

/// Introspection racing a rotation never makes the old tokens active again:
/// every introspection that starts after the rotation answered says inactive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_racing_a_rotation_never_revives_the_old_tokens() {
    let mut app = production_shape().await;
    for round in 0..RACES {
        let (access, refresh) = fresh_grant(&mut app).await;
        let rotated = Arc::new(AtomicBool::new(false));
        let mut readers = tokio::task::JoinSet::new();
        for token in [access.clone(), refresh.clone()] {
            let (mut client, rotated) = (app.env.token().await, rotated.clone());
            readers.spawn(async move {
                for _ in 0..40 {
                    let after = rotated.load(Ordering::SeqCst);
                    let request = gatehouse_proto::pb::token::v1::IntrospectRequest {
                        token: token.clone(),
                        ..Default::default()
                    };
                    let active = client.introspect(request).await.unwrap().into_inner().active;
                    assert!(!(after && active), "an introspection after the rotation said active");
                }
            });
        }
        let (status, body) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
        rotated.store(true, Ordering::SeqCst);
        assert_eq!(status, 200, "{body}");
        while let Some(reader) = readers.join_next().await {
            reader.unwrap();
        }
        assert!(!app.introspect(&access).await, "round {round}");
        assert!(!app.introspect(&refresh).await, "round {round}");
    }
}

/// Deleting an application under load: once the deletion returns, no token
/// it ever got works, on any path, and it gets no new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_application_under_load_ends_every_token_it_holds() {
    let mut app = production_shape().await;
    let mut ledger = Vec::new();
    for _ in 0..3 {
        let (access, refresh) = fresh_grant(&mut app).await;
        ledger.extend([access, refresh]);
    }
    let running = Arc::new(AtomicBool::new(true));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (id, secret, base, running) =
            (app.client_id.clone(), app.secret.clone(), app.env.gateway_url(), running.clone());
        load.spawn(async move {
            let http = reqwest::Client::new();
            let mut received = Vec::new();
            while running.load(Ordering::SeqCst) {
                let response = http
                    .post(format!("{base}/oauth/token"))
                    .basic_auth(&id, Some(&secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                assert_ne!(status, 500, "{body}");
                if let Some(token) = body["access_token"].as_str() {
                    received.push(token.to_owned());
                }
            }
            received
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut registry = app.env.registry().await;
    registry
        .delete_application(DeleteApplicationRequest {
            client_id: app.client_id.clone(),
            acting_owner_id: String::new(),
        })
        .await
        .expect("delete the application");
    // Requests in flight finish; the ones that started after the deletion fail.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    running.store(false, Ordering::SeqCst);
    while let Some(received) = load.join_next().await {
        ledger.extend(received.unwrap());
    }
    assert!(ledger.len() > 6, "the load got tokens before the deletion");
    let mut token = app.env.token().await;
    for issued in &ledger {
        let request = gatehouse_proto::pb::token::v1::IntrospectRequest { token: issued.clone(), ..Default::default() };
        assert!(!token.introspect(request).await.unwrap().into_inner().active, "a deleted application's token works");
        if issued.starts_with("gat_") {
            let me = app.env.browser().get(&format!("/api/current_user?access_token={issued}")).await;
            assert_eq!(me.status, 401);
        }
    }
    // invalid_client, or 429 once the load's failures from this address reached the throttle.
    let (status, body) = app.token(&[("grant_type", "client_credentials")]).await;
    assert!((status == 401 && body["error"] == "invalid_client") || status == 429, "{status} {body}");
}

/// Deleting a user ends their tokens (with every application), their
/// sessions and their own applications, before the call returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_ends_their_tokens_sessions_and_applications() {
    let mut app = production_shape().await;
    let (access, refresh) = fresh_grant(&mut app).await;
    let (status, cc) = app.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200);
    let app_token = cc["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.browser.get("/account/applications").await.status, 200, "signed in");

    let mut registry = app.env.registry().await;
    registry.delete_user(DeleteUserRequest { user_id: app.owner_id.clone() }).await.expect("delete the user");

    for token in [&access, &refresh, &app_token] {
        assert!(!app.introspect(token).await, "a deleted user's token works");
    }
    let page = app.browser.get("/account/applications").await;
    assert_eq!(page.status, 303, "the session ended: back to the login page");
    let (status, _) = app.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 401, "their application is gone");
    let user = registry
        .get_user(gatehouse_proto::pb::registry::v1::GetUserRequest {
            lookup: Some(gatehouse_proto::pb::registry::v1::get_user_request::Lookup::Id(app.owner_id.clone())),
            visible_to_scopes: None,
        })
        .await;
    assert_eq!(user.unwrap_err().code(), tonic::Code::NotFound);
    // Deleting again is an answer, not a failure of the service.
    let again = registry.delete_user(DeleteUserRequest { user_id: app.owner_id.clone() }).await;
    assert_eq!(again.unwrap_err().code(), tonic::Code::NotFound);
}

/// The bulk revocation RPC checks its subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_subject_needs_one() {
    let env = TestEnv::builder().start().await;
    let mut token = env.token_as(env.as_role(gatehouse_runtime::access::Role::Registry)).await;
    for subject in [None, Some(revoke_all_for_subject_request::Subject::ClientId(String::new()))] {
        let status = token.revoke_all_for_subject(RevokeAllForSubjectRequest { subject }).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
}

/// With a retry window, a refresh token presented again moments after its
/// rotation, its successor unused, is a retry (the client never got the
/// answer): new tokens, the unused ones revoked. A successor that was used
/// makes it a reuse again. Off by default (RFC 9700's strict detection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_window_tells_a_lost_answer_from_a_reuse() {
    let env = TestEnv::builder()
        .postgres()
        .token_config(|c| c.refresh_retry_window = std::time::Duration::from_secs(30))
        .start()
        .await;
    let mut app = ClientApp::new(env).await;
    let (_, refresh) = fresh_grant(&mut app).await;
    let (status, first) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200);
    let (lost_access, lost_refresh) = pair(&first);
    let (status, retried) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "a retry within the window: {retried}");
    let (access, next_refresh) = pair(&retried);
    assert!(!app.introspect(&lost_access).await && !app.introspect(&lost_refresh).await, "the lost answer ends");
    assert!(app.introspect(&access).await);
    // The retried answer's refresh token is used: the original is now a reuse.
    let (status, _) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &next_refresh)]).await;
    assert_eq!(status, 200);
    let (status, reuse) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!((status, reuse["error"].as_str()), (400, Some("invalid_grant")));
}

/// *Account → Delete account* in the browser: the username must be typed
/// again; then the account, its applications and every token go at once,
/// the session ends and the credentials no longer sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deletes_their_account_in_the_browser() {
    let mut app = production_shape().await;
    let (access, _) = fresh_grant(&mut app).await;
    let form = app.browser.get("/account/delete").await;
    assert_eq!(form.status, 200);
    let csrf = form.input("csrf_token").unwrap();
    let wrong = app.browser.post_form("/account/delete", &[("csrf_token", &csrf), ("confirm_username", "other")]).await;
    assert_eq!(wrong.status, 400, "a wrong confirmation deletes nothing");
    assert!(app.introspect(&access).await);
    let no_csrf = app.browser.post_form("/account/delete", &[("confirm_username", "owner")]).await;
    assert_ne!(no_csrf.status, 303, "no deletion without the CSRF token");
    assert!(app.introspect(&access).await);
    let done = app.browser.post_form("/account/delete", &[("csrf_token", &csrf), ("confirm_username", "owner")]).await;
    assert_eq!((done.status, done.location()), (303, "/login"));
    // Its application went with it, so HTTP introspection as that client is
    // 401 now; the internal path and the protected API say inactive.
    assert!(!app.introspect(&access).await);
    let me = app.env.browser().get(&format!("/api/current_user?access_token={access}")).await;
    assert_eq!(me.status, 401);
    let mut again = app.env.browser();
    let form = again.get("/login").await;
    let csrf = form.input("csrf_token").unwrap();
    let login = again
        .post_form(
            "/login",
            &[("csrf_token", &csrf), ("username", "owner"), ("password", gatehouse_tests::TEST_PASSWORD)],
        )
        .await;
    assert_ne!(login.status, 303, "a deleted account cannot sign in");
}

/// A code whose tokens could not be stored (the token table unreachable)
/// is given back: the client's retry after the 503 is a redemption, not a
/// replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_whose_tokens_could_not_be_stored_is_redeemable_again() {
    use sea_orm::ConnectionTrait;
    let mut app = production_shape().await;
    let code = app.code("user").await;
    app.env.db.execute_unprepared("ALTER TABLE token_tokens RENAME TO token_tokens_away").await.unwrap();
    let (status, body) = app.exchange_code(&code).await;
    app.env.db.execute_unprepared("ALTER TABLE token_tokens_away RENAME TO token_tokens").await.unwrap();
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    let (status, body) = app.exchange_code(&code).await;
    assert_eq!(status, 200, "the retry redeems the code: {body}");
    let (access, _) = pair(&body);
    assert!(app.introspect(&access).await);
    // Still single use.
    let (status, replay) = app.exchange_code(&code).await;
    assert_eq!((status, replay["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!app.introspect(&access).await, "a replay after that revokes as always");
}
