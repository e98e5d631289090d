//! The device authorization grant (RFC 8628) end to end: a CLI-like client
//! asks for a code and polls the token endpoint while a signed-in person
//! enters the code at /login/device and decides; each error of §3.5.

use std::time::Duration;

use gatehouse_oauth::GrantType;
use gatehouse_tests::{AppSpec, Browser, ClientApp, TEST_PASSWORD, TestEnv, register_application};
use serde_json::Value;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const GRANTS: [GrantType; 3] = [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode];

/// An environment whose devices poll every 2 s (the protocol's own pace;
/// the default is 5 s). Not 1 s: the interval is kept in whole seconds, so
/// two polls a few milliseconds apart across a second boundary would be 1 s
/// apart and not "too fast".
async fn env() -> TestEnv {
    TestEnv::builder()
        .authorization_config(|c| {
            c.device.interval = Duration::from_secs(2);
            c.device.entries_per_user = 3;
        })
        .start()
        .await
}

async fn start(app: &mut ClientApp, scope: &str) -> Value {
    let (id, secret) = (app.client_id.clone(), app.secret.clone());
    let page = app.browser.post_client("/oauth/device_authorization", Some((&id, &secret)), &[("scope", scope)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    page.json()
}

async fn poll(app: &mut ClientApp, device_code: &str) -> (u16, Value) {
    app.token(&[("grant_type", DEVICE_GRANT), ("device_code", device_code)]).await
}

/// The person at the browser: enters `user_code` and answers `decision`.
async fn decide(browser: &mut Browser, user_code: &str, decision: &str) -> String {
    let entry = browser.get(&format!("/login/device?user_code={user_code}")).await;
    assert_eq!(entry.status, 200, "{}", entry.body);
    assert_eq!(entry.input("user_code").as_deref(), Some(user_code), "the code is filled in");
    let csrf = entry.input("csrf_token").expect("csrf");
    let confirm = browser.post_form("/login/device", &[("csrf_token", &csrf), ("user_code", user_code)]).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let done = browser
        .post_form("/login/device/decision", &[("csrf_token", &csrf), ("user_code", user_code), ("decision", decision)])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    confirm.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_signs_in_while_the_user_approves_in_the_browser() {
    let mut app = ClientApp::with(env().await, &GRANTS, &["user", "user:email"]).await;
    let metadata = app.browser.get("/.well-known/oauth-authorization-server").await.json();
    assert_eq!(
        metadata["device_authorization_endpoint"],
        format!("{}/oauth/device_authorization", app.env.gateway_url())
    );
    assert!(metadata["grant_types_supported"].as_array().unwrap().iter().any(|g| g == DEVICE_GRANT));

    let started = start(&mut app, "user").await;
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    assert!(device_code.starts_with("gdc_"));
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
    assert!(user_code.chars().all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)), "{user_code}");
    assert_eq!(started["verification_uri"], format!("{}/login/device", app.env.gateway_url()));
    assert_eq!(
        started["verification_uri_complete"],
        format!("{}/login/device?user_code={user_code}", app.env.gateway_url())
    );
    assert_eq!((started["expires_in"].as_i64(), started["interval"].as_i64()), (Some(900), Some(2)));

    // The device polls: pending.
    let (status, body) = poll(&mut app, &device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");

    // The person signs in (the entry page sends them to the login first and back) and approves,
    // typing the code in lower case without the dash.
    let mut person = app.env.browser();
    let to_login = person.get(&format!("/login/device?user_code={user_code}")).await;
    assert_eq!(to_login.status, 303);
    assert!(to_login.location().starts_with("/login?next="), "{}", to_login.location());
    person.login("owner", TEST_PASSWORD).await;
    let typed = user_code.replace('-', "").to_lowercase();
    let confirm = decide(&mut person, &typed, "approve").await;
    assert!(confirm.contains("Token App") && confirm.contains("owner"), "names the application and its owner");
    assert!(confirm.contains(&user_code), "shows the code to compare with the device's");

    app.env.advance(Duration::from_secs(2)); // the interval
    let (status, tokens) = poll(&mut app, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "user");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert!(tokens["refresh_token"].as_str().is_some_and(|t| t.starts_with("grt_")));
    assert!(app.introspect(&access).await);
    let me = app.browser.get(&format!("/api/current_user?access_token={access}")).await;
    assert_eq!((me.status, me.json()["data"]["username"].as_str()), (200, Some("owner")), "{}", me.body);

    // Exactly once.
    let (status, body) = poll(&mut app, &device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // The code cannot be typed again.
    let entry = person.get("/login/device").await;
    let csrf = entry.input("csrf_token").unwrap();
    let again = person.post_form("/login/device", &[("csrf_token", &csrf), ("user_code", &user_code)]).await;
    assert_eq!(again.status, 404, "{}", again.body);

    // The approval is an authorization like any other: revoking it ends the device's tokens.
    let grants = person.get("/account/authorizations").await;
    assert!(grants.body.contains("Token App"));
    let revoke =
        person.post_form(&format!("/account/authorizations/{}/revoke", app.client_id), &[("csrf_token", &csrf)]).await;
    assert_eq!(revoke.status, 303, "{}", revoke.body);
    assert!(!app.introspect(&access).await, "revoked with the authorization");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_expired_foreign_and_disallowed_device_codes_are_refused() {
    let mut app = ClientApp::with(env().await, &GRANTS, &["user"]).await;
    let mut person = app.env.browser();
    person.login("owner", TEST_PASSWORD).await;

    // Polling faster than the interval: slow_down, and the interval grows by 5 s.
    let started = start(&mut app, "").await;
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(poll(&mut app, device_code).await.1["error"], "authorization_pending");
    let (status, body) = poll(&mut app, device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("7 s"), "the new interval is said: {body}");

    // Denied.
    let started = start(&mut app, "").await;
    decide(&mut person, started["user_code"].as_str().unwrap(), "deny").await;
    let (status, body) = poll(&mut app, started["device_code"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "{body}");

    // Unknown or malformed device codes, and a missing one.
    let (_, body) = poll(&mut app, "gdc_nope").await;
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = app.token(&[("grant_type", DEVICE_GRANT)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    // Never in the URL.
    let page = app.browser.post_client("/oauth/token?device_code=gdc_x", Some(("a", "b")), &[]).await;
    assert_eq!(page.json()["error"], "invalid_request");

    // Another client's device code.
    let started = start(&mut app, "user").await;
    let owner = app.env.create_user("other").await;
    let spec = AppSpec { grants: &GRANTS, scopes: &["user"], ..AppSpec::default() };
    let (other_id, other_secret) = register_application(&mut app.env.registry().await, &owner.id, spec).await;
    let form = [("grant_type", DEVICE_GRANT), ("device_code", started["device_code"].as_str().unwrap())];
    let page = app.browser.post_client("/oauth/token", Some((&other_id, &other_secret)), &form).await;
    assert_eq!(page.json()["error"], "invalid_grant", "{}", page.body);

    // A scope the application may not ask for.
    let (id, secret) = (app.client_id.clone(), app.secret.clone());
    let page =
        app.browser.post_client("/oauth/device_authorization", Some((&id, &secret)), &[("scope", "project")]).await;
    assert_eq!((page.status, page.json()["error"].as_str()), (400, Some("invalid_scope")), "{}", page.body);
    // Bad client credentials.
    let page = app.browser.post_client("/oauth/device_authorization", Some((&id, "wrong")), &[]).await;
    assert_eq!((page.status, page.json()["error"].as_str()), (401, Some("invalid_client")), "{}", page.body);
    assert!(page.header("www-authenticate").is_some_and(|v| v.starts_with("Basic")));

    // An application that was not allowed the grant.
    let spec = AppSpec { scopes: &["user"], ..AppSpec::default() };
    let (plain_id, plain_secret) = register_application(&mut app.env.registry().await, &owner.id, spec).await;
    let page = app.browser.post_client("/oauth/device_authorization", Some((&plain_id, &plain_secret)), &[]).await;
    assert_eq!((page.status, page.json()["error"].as_str()), (400, Some("unauthorized_client")), "{}", page.body);
    let page = app
        .browser
        .post_client(
            "/oauth/token",
            Some((&plain_id, &plain_secret)),
            &[("grant_type", DEVICE_GRANT), ("device_code", "gdc_x")],
        )
        .await;
    assert_eq!(page.json()["error"], "unauthorized_client", "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_device_code_says_so() {
    let env = TestEnv::builder().authorization_config(|c| c.device.code_ttl = Duration::from_secs(1)).start().await;
    let mut app = ClientApp::with(env, &GRANTS, &["user"]).await;
    let started = start(&mut app, "user").await;
    assert_eq!(started["expires_in"], 1);
    app.env.advance(Duration::from_secs(2));
    let (status, body) = poll(&mut app, started["device_code"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("expired_token")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_clients_use_their_client_id_and_typing_codes_is_throttled() {
    let env = env().await;
    let owner = env.create_user("cli-owner").await;
    let spec = AppSpec {
        client_type: gatehouse_proto::pb::common::v1::ClientType::Public,
        grants: &[GrantType::DeviceCode],
        scopes: &["user"],
        ..AppSpec::default()
    };
    let (client_id, secret) = register_application(&mut env.registry().await, &owner.id, spec).await;
    assert!(secret.is_empty());
    let mut cli = env.browser();
    let page = cli.post_client("/oauth/device_authorization", None, &[("client_id", &client_id)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // Form-encoded when the client asks for that.
    let form = cli
        .post_form_with(
            "/oauth/device_authorization",
            &[("client_id", &client_id)],
            &[("accept", "application/x-www-form-urlencoded")],
        )
        .await;
    assert!(form.header("content-type").is_some_and(|v| v.starts_with("application/x-www-form-urlencoded")));
    assert!(form.body.contains("device_code=gdc_") && form.body.contains("interval=2"), "{}", form.body);

    // Wrong codes: the form again with why, then 429 after the limit (3 here).
    let mut person = env.browser();
    person.login("cli-owner", TEST_PASSWORD).await;
    let csrf = person.get("/login/device").await.input("csrf_token").unwrap();
    for attempt in 0..3 {
        let page = person.post_form("/login/device", &[("csrf_token", &csrf), ("user_code", "BCDF-GHJK")]).await;
        assert_eq!(page.status, 404, "attempt {attempt}: {}", page.body);
        assert!(page.body.contains("not valid or has expired"));
    }
    let page = person.post_form("/login/device", &[("csrf_token", &csrf), ("user_code", "BCDF-GHJK")]).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.header("retry-after").is_some());
    // The form needs the session's CSRF token.
    let page = person.post_form("/login/device", &[("csrf_token", "forged"), ("user_code", "BCDF-GHJK")]).await;
    assert_eq!(page.status, 403, "{}", page.body);
}
