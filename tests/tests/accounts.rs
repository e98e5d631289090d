//! Accounts a person can secure: two-step sign-in with an authenticator app
//! (RFC 6238 codes computed here, by this file's own HMAC, not Gatehouse's),
//! recovery codes, and the strength of a sign-in carried to the relying
//! party (`amr`, `acr`, `acr_values`) and to resource servers (introspection).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use base64::Engine;
use gatehouse_oauth::GrantType;
use gatehouse_tests::{Browser, CALLBACK, ClientApp, MailSink, TEST_PASSWORD, TestEnv, mailed_token};
use serde_json::Value;

const MFA: &str = "urn:gatehouse:acr:mfa";
const PWD: &str = "urn:gatehouse:acr:pwd";

/// The six-digit TOTP of `secret` at `unix`.
fn totp(secret: &str, unix: i64) -> String {
    gatehouse_tests::totp_code(secret, unix)
}

fn now(env: &TestEnv) -> i64 {
    gatehouse_oauth::Clock::now(env.clock.as_ref()).timestamp()
}

/// The text of the element `<code id="ID">…</code>` on a page.
fn code_text(body: &str, id: &str) -> String {
    let start = body.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("no #{id} in {body}"));
    let rest = &body[start + id.len() + 6..];
    rest[..rest.find('<').unwrap()].to_owned()
}

/// The recovery codes a page shows (`<ul id="recovery-codes">`).
fn recovery_codes(body: &str) -> Vec<String> {
    let start = body.find("id=\"recovery-codes\"").unwrap_or_else(|| panic!("no recovery codes in {body}"));
    let list = &body[start..body[start..].find("</ul>").unwrap() + start];
    list.split("<code>").skip(1).map(|item| item[..item.find('<').unwrap()].to_owned()).collect()
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Turns two-step sign-in on through the pages for the signed-in browser:
/// (the key, the recovery codes).
async fn enrol(env: &TestEnv, browser: &mut Browser) -> (String, Vec<String>) {
    let page = browser.get("/account/security").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf_token").unwrap();
    let begun =
        browser.post_form("/account/security/totp", &[("csrf_token", &csrf), ("password", TEST_PASSWORD)]).await;
    assert_eq!(begun.status, 200, "{}", begun.body);
    assert!(begun.body.contains("<svg"), "a QR code: {}", begun.body);
    let secret = code_text(&begun.body, "totp-secret");
    let code = totp(&secret, now(env));
    let confirmed =
        browser.post_form("/account/security/totp/confirm", &[("csrf_token", &csrf), ("code", &code)]).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let codes = recovery_codes(&confirmed.body);
    (secret, codes)
}

/// Signs in with the password, then answers the second step with `code`:
/// the second step's answer.
async fn sign_in_with_code(browser: &mut Browser, username: &str, code: &str) -> gatehouse_tests::Page {
    let form = browser.get("/login").await;
    let csrf = form.input("csrf_token").unwrap();
    let first = browser
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", TEST_PASSWORD),
                ("next", "/account/authorizations"),
            ],
        )
        .await;
    assert_eq!(first.status, 200, "the second step's form: {}", first.body);
    assert!(first.body.contains("action=\"/login/verify\""), "{}", first.body);
    let csrf = first.input("csrf_token").unwrap();
    let next = first.input("next").unwrap();
    browser.post_form("/login/verify", &[("csrf_token", &csrf), ("code", code), ("next", &next)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_sign_in_from_enrolment_to_an_id_token_that_says_so() {
    let env = TestEnv::builder().start().await;
    let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken];
    let mut app = ClientApp::with(env, &grants, &["openid", "user"]).await;
    let strong = [("acr_values", MFA), ("nonce", "n-1")];

    // Without a second factor, a request that insists on one is told so.
    let location = app.authorize("openid user", &strong).await;
    assert!(location.starts_with(CALLBACK), "{location}");
    assert!(location.contains("error=unmet_authentication_requirements"), "{location}");
    // One that also takes a password gets a password sign-in, and is told which.
    let code =
        gatehouse_tests::query_pairs(&app.authorize("openid user", &[("acr_values", &format!("{MFA} {PWD}"))]).await)
            .into_iter()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1;
    let (status, tokens) = app.exchange_code(&code).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], PWD, "{claims}");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]), "{claims}");

    // Enrolment: the password again; a wrong first code changes nothing.
    let page = app.browser.get("/account/security").await;
    let csrf = page.input("csrf_token").unwrap();
    let wrong = app.browser.post_form("/account/security/totp", &[("csrf_token", &csrf), ("password", "not it")]).await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body.contains("password"), "{}", wrong.body);
    let begun =
        app.browser.post_form("/account/security/totp", &[("csrf_token", &csrf), ("password", TEST_PASSWORD)]).await;
    let secret = code_text(&begun.body, "totp-secret");
    let bad = format!("{:06}", (totp(&secret, now(&app.env)).parse::<u32>().unwrap() + 1) % 1_000_000);
    let refused =
        app.browser.post_form("/account/security/totp/confirm", &[("csrf_token", &csrf), ("code", &bad)]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let state =
        app.env.clients_as(gatehouse_runtime::access::Role::Gateway).registry.second_factors(&app.owner_id).await;
    assert!(!state.unwrap().totp, "not on before a right code");
    let code = totp(&secret, now(&app.env));
    let confirmed =
        app.browser.post_form("/account/security/totp/confirm", &[("csrf_token", &csrf), ("code", &code)]).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let codes = recovery_codes(&confirmed.body);
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert!(!app.browser.get("/account/security").await.body.contains(&codes[0]), "shown once");

    // The session from before has no second factor: the strong request signs in again.
    let client_id = app.client_id.clone();
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("scope", "openid user"),
            ("redirect_uri", CALLBACK),
            ("acr_values", MFA),
        ])
        .finish();
    let again = app.browser.get(&format!("/oauth/authorize?{query}")).await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(again.location().starts_with("/login?"), "{}", again.location());

    // A new browser: the password alone opens nothing.
    app.env.advance(Duration::from_secs(30));
    let mut phone = app.env.browser();
    let wrong = sign_in_with_code(&mut phone, "owner", &bad).await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(phone.get("/account/authorizations").await.status, 303, "no session after a wrong code");
    let right = totp(&secret, now(&app.env));
    let signed_in = sign_in_with_code(&mut phone, "owner", &right).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(phone.get("/account/authorizations").await.status, 200);
    // The same code again (another device that watched it typed): refused.
    let mut watcher = app.env.browser();
    assert_eq!(sign_in_with_code(&mut watcher, "owner", &right).await.status, 401, "a code is taken once");
    // A recovery code, typed loosely, once.
    let typed = codes[1].to_uppercase().replace('-', " ");
    assert_eq!(sign_in_with_code(&mut watcher, "owner", &typed).await.status, 303);
    let mut another = app.env.browser();
    assert_eq!(sign_in_with_code(&mut another, "owner", &codes[1]).await.status, 401, "used up");

    // The strong request from the two-step session: an ID token that says so.
    let code = phone
        .authorization_code(&[
            ("client_id", &client_id),
            ("response_type", "code"),
            ("scope", "openid user"),
            ("redirect_uri", CALLBACK),
            ("acr_values", MFA),
            ("nonce", "n-2"),
        ])
        .await;
    let (status, tokens) = app.exchange_code(&code).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], MFA, "{claims}");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{claims}");
    let introspected = app.http_introspect(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(introspected["acr"], MFA, "{introspected}");
    assert_eq!(introspected["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{introspected}");
    assert!(introspected["auth_time"].as_i64().unwrap() > 0, "{introspected}");
    // A refresh keeps how the user signed in (RFC 9470 §6.1).
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(jwt_claims(refreshed["id_token"].as_str().unwrap())["acr"], MFA);
    let metadata = app.browser.get("/.well-known/openid-configuration").await.json();
    assert_eq!(metadata["acr_values_supported"], serde_json::json!([PWD, MFA]), "{metadata}");

    // Off again (the password again): the next sign-in has one step.
    let csrf = phone.get("/account/security").await.input("csrf_token").unwrap();
    let off =
        phone.post_form("/account/security/totp/disable", &[("csrf_token", &csrf), ("password", TEST_PASSWORD)]).await;
    assert_eq!(off.status, 200, "{}", off.body);
    app.env.browser().login("owner", TEST_PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_are_limited_per_account_across_sign_ins_and_a_second_step_expires() {
    let env = TestEnv::builder().start().await;
    env.create_user("guessed").await;
    let mut browser = env.browser();
    browser.login("guessed", TEST_PASSWORD).await;
    let (secret, _) = enrol(&env, &mut browser).await;
    env.advance(Duration::from_secs(30));
    let right = totp(&secret, now(&env));
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 7) % 1_000_000);
    // Ten wrong codes, over two sign-ins (each a fresh second step).
    for attempt in 0..10 {
        let mut guesser = env.browser();
        let page = sign_in_with_code(&mut guesser, "guessed", &wrong).await;
        assert_eq!(page.status, 401, "attempt {attempt}: {}", page.body);
    }
    // The limit holds for the account, whatever the sign-in: even the right code waits.
    let mut owner = env.browser();
    let held = sign_in_with_code(&mut owner, "guessed", &right).await;
    assert_eq!(held.status, 429, "{}", held.body);
    assert!(held.header("retry-after").is_some());

    // A second step waits five minutes at most.
    let mut slow = env.browser();
    let form = slow.get("/login").await;
    let csrf = form.input("csrf_token").unwrap();
    let first =
        slow.post_form("/login", &[("csrf_token", &csrf), ("username", "guessed"), ("password", TEST_PASSWORD)]).await;
    assert_eq!(first.status, 200);
    env.advance(Duration::from_secs(301));
    let csrf = first.input("csrf_token").unwrap();
    let late = slow.post_form("/login/verify", &[("csrf_token", &csrf), ("code", &right)]).await;
    assert_eq!(late.status, 401, "{}", late.body);
    assert!(late.body.contains("action=\"/login\""), "back to the password: {}", late.body);
}

/// RFC 9470 step-up: a resource server behind `gatehouse-client` that wants
/// a second factor refuses a password-only token with the RFC's challenge;
/// the client follows `acr_values` back to the authorization endpoint, the
/// user adds the second step, and the new token is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_server_asks_for_a_second_factor_and_the_stepped_up_token_gets_through() {
    use axum::routing::get;
    use axum::{Extension, Router};
    use gatehouse_client::{Caller, RequireScopes};

    let env = TestEnv::builder().start().await;
    let grants = [GrantType::AuthorizationCode];
    let mut app = ClientApp::with(env, &grants, &["openid", "user"]).await;
    let channel = app.env.validator_channel();
    let api =
        Router::new()
            .route(
                "/transfer",
                get(|Extension(caller): Extension<Caller>| async move {
                    format!("{} {}", caller.acr, caller.amr.join(","))
                })
                .layer(RequireScopes::new(channel.clone(), ["user"]).require_acr(MFA)),
            )
            .route(
                "/recent",
                get(|| async { "fresh" })
                    .layer(RequireScopes::new(channel, ["user"]).max_auth_age(Duration::from_secs(600))),
            );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api).await });
    let http = reqwest::Client::new();

    // A password sign-in's token: the challenge names the class to ask for.
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let weak = tokens["access_token"].as_str().unwrap().to_owned();
    let refused = http.get(format!("{base}/transfer")).bearer_auth(&weak).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with(r#"Bearer error="insufficient_user_authentication""#), "{challenge}");
    assert!(challenge.contains(&format!(r#"acr_values="{MFA}""#)), "{challenge}");
    // A recent sign-in is all the other route asks.
    assert_eq!(http.get(format!("{base}/recent")).bearer_auth(&weak).send().await.unwrap().status(), 200);

    // The user sets up an app, and the client asks again with the challenge's acr_values.
    let (secret, _) = enrol(&app.env, &mut app.browser).await;
    app.env.advance(Duration::from_secs(30));
    let acr_values = challenge.split("acr_values=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let client_id = app.client_id.clone();
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("scope", "user"),
            ("redirect_uri", CALLBACK),
            ("acr_values", acr_values.as_str()),
        ])
        .finish();
    let authorize = format!("/oauth/authorize?{query}");
    let to_login = app.browser.get(&authorize).await;
    assert_eq!(to_login.status, 303);
    let login_path = to_login.location().to_owned();
    let form = app.browser.get(&login_path).await;
    let csrf = form.input("csrf_token").unwrap();
    let next = form.input("next").unwrap();
    let first = app
        .browser
        .post_form(
            "/login",
            &[("csrf_token", &csrf), ("username", "owner"), ("password", TEST_PASSWORD), ("next", &next)],
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let csrf = first.input("csrf_token").unwrap();
    let code = totp(&secret, now(&app.env));
    let second =
        app.browser.post_form("/login/verify", &[("csrf_token", &csrf), ("code", &code), ("next", &next)]).await;
    assert_eq!(second.status, 303, "{}", second.body);
    let resumed = second.location().to_owned();
    assert!(resumed.starts_with("/oauth/authorize?"), "back to the request: {resumed}");
    let page = app.browser.get(&resumed).await;
    assert_eq!(page.status, 303, "consent given before: straight to the client ({})", page.body);
    let location = page.location().to_owned();
    let code = gatehouse_tests::query_pairs(&location).into_iter().find(|(k, _)| k == "code").unwrap().1;
    let (status, tokens) = app.exchange_code(&code).await;
    assert_eq!(status, 200, "{tokens}");
    let strong = tokens["access_token"].as_str().unwrap();
    let accepted = http.get(format!("{base}/transfer")).bearer_auth(strong).send().await.unwrap();
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.text().await.unwrap(), format!("{MFA} pwd,otp,mfa"));
}

/// A relying party that is not ours (the `openidconnect` crate) asks with
/// `acr_values` for a second factor; the user signs in with their app, and
/// the ID token it verifies says how (`acr`, `amr`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openid_relying_party_asking_for_a_second_factor_gets_an_id_token_that_says_so() {
    use gatehouse_proto::pb::common::v1::ClientType;
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
    use openidconnect::{
        AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
        PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    };

    let env = TestEnv::builder().start().await;
    let user = env.create_user("strongrp").await;
    let (client_id, secret) =
        env.register_app(&user, &[CALLBACK], ClientType::Confidential, &["openid", "profile"]).await;
    // Two-step sign-in on, through the registry as the gateway would.
    let registry = env.clients_as(gatehouse_runtime::access::Role::Gateway).registry;
    let begun = registry.begin_totp(&user.id, TEST_PASSWORD, "127.0.0.1").await.unwrap();
    registry.confirm_totp(&user.id, &totp(&begun.secret, now(&env)), "127.0.0.1").await.unwrap();
    env.advance(Duration::from_secs(30));

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let provider = CoreProviderMetadata::discover_async(IssuerUrl::new(env.gateway_url()).unwrap(), &http)
        .await
        .expect("discovery");
    let supported: Vec<String> =
        provider.acr_values_supported().unwrap().iter().map(|acr| acr.as_str().to_owned()).collect();
    assert_eq!(supported, [PWD, MFA]);
    let client =
        CoreClient::from_provider_metadata(provider, ClientId::new(client_id), Some(ClientSecret::new(secret)))
            .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".to_owned()))
        .add_auth_context_value(AuthenticationContextClass::new(MFA.to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let mut browser = env.browser();
    let signed_in = sign_in_with_code(&mut browser, "strongrp", &totp(&begun.secret, now(&env))).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let callback = browser.authorize_at(url.path(), &params).await;
    let code = gatehouse_tests::query_pairs(&callback).into_iter().find(|(k, _)| k == "code").unwrap().1;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token").clone();
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("the ID token verifies").clone();
    assert_eq!(claims.auth_context_ref().map(|acr| acr.as_str()), Some(MFA));
    let amr: Vec<String> = claims.auth_method_refs().unwrap().iter().map(|method| method.as_str().to_owned()).collect();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert!(claims.auth_time().is_some());
}

/// *Account → Sessions*: a person sees where they are signed in (when,
/// from where, which browser), ends one from another browser, then every
/// other one; the ended browsers are signed out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_ended_from_another_browser() {
    let env = TestEnv::builder().start().await;
    env.create_user("roamer").await;
    let mut laptop = env.browser();
    laptop.login("roamer", TEST_PASSWORD).await;
    let mut phone = env.browser();
    phone.accept_language = Some("zh-CN".to_owned());
    phone.login("roamer", TEST_PASSWORD).await;
    let mut tablet = env.browser();
    tablet.login("roamer", TEST_PASSWORD).await;
    let mut stranger = env.browser();
    env.create_user("stranger").await;
    stranger.login("stranger", TEST_PASSWORD).await;

    let listed = laptop.json(reqwest::Method::GET, "/api/user/sessions", None, None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let sessions = listed.json()["data"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3, "the account's three, not the stranger's: {sessions:?}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for session in &sessions {
        assert_eq!(session["address"], "127.0.0.1", "{session}");
        assert_eq!(session["amr"], serde_json::json!(["pwd"]));
        assert!(session["created_at"].as_i64().unwrap() > 0 && session["expires_at"].as_i64().unwrap() > 0);
    }
    // A token is never enough to list them.
    let bearer = laptop.get_bearer("/api/user/sessions", "gat_whatever").await;
    assert_ne!(bearer.status, 200);

    // The page; end the phone's session from the laptop.
    let page = laptop.get("/account/sessions").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf_token").unwrap();
    let current = sessions.iter().find(|s| s["current"] == true).unwrap()["id"].as_str().unwrap().to_owned();
    assert!(!page.body.contains(&format!("/account/sessions/{current}/sign-out")), "no button for this browser");
    let others: Vec<String> =
        sessions.iter().filter(|s| s["current"] == false).map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    // End one of the other two from the laptop: exactly that browser is signed out.
    let ended = laptop.post_form(&format!("/account/sessions/{}/sign-out", others[0]), &[("csrf_token", &csrf)]).await;
    assert_eq!(ended.status, 303, "{}", ended.body);
    let out = [phone.get("/account/authorizations").await.status, tablet.get("/account/authorizations").await.status];
    assert_eq!(out.iter().filter(|s| **s == 303).count(), 1, "exactly one browser signed out: {out:?}");
    // Another account's session id, or one already ended: not found, nothing ended.
    let strangers = stranger.json(reqwest::Method::GET, "/api/user/sessions", None, None).await.json();
    let theirs = strangers["data"][0]["id"].as_str().unwrap().to_owned();
    let refused = laptop.post_form(&format!("/account/sessions/{theirs}/sign-out"), &[("csrf_token", &csrf)]).await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert_eq!(stranger.get("/account/authorizations").await.status, 200, "the stranger is still signed in");
    // Everywhere else.
    let all = laptop.post_form("/account/sessions/sign-out-others", &[("csrf_token", &csrf)]).await;
    assert_eq!(all.status, 303, "{}", all.body);
    assert_eq!(phone.get("/account/authorizations").await.status, 303);
    assert_eq!(tablet.get("/account/authorizations").await.status, 303);
    assert_eq!(laptop.get("/account/authorizations").await.status, 200, "this browser stays");
    let left = laptop.json(reqwest::Method::GET, "/api/user/sessions", None, None).await.json();
    assert_eq!(left["data"].as_array().unwrap().len(), 1);
    // Signing out removes the row too.
    laptop.logout().await;
    let mut again = env.browser();
    again.login("roamer", TEST_PASSWORD).await;
    let now_listed = again.json(reqwest::Method::GET, "/api/user/sessions", None, None).await.json();
    assert_eq!(now_listed["data"].as_array().unwrap().len(), 1, "{now_listed}");
    // Without the CSRF token nothing is ended.
    let forged = again.post_form("/account/sessions/sign-out-others", &[]).await;
    assert_ne!(forged.status, 303);
}

/// Asks for a reset link for `login` on the forgot-password page.
async fn ask_reset(browser: &mut Browser, login: &str) -> gatehouse_tests::Page {
    let form = browser.get("/password/forgot").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.input("csrf_token").unwrap();
    browser.post_form("/password/forgot", &[("csrf_token", &csrf), ("login", login)]).await
}

/// Recovering an account by mail: the address confirmed by a link first,
/// then a reset link received by a real SMTP server, followed once, the
/// account's sessions and tokens ended; unknown and unconfirmed addresses
/// get the same answer and no mail; mail per account is bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_by_a_mailed_link_that_works_once() {
    let sink = MailSink::start();
    let url = sink.url();
    let env = TestEnv::builder()
        .registry_config(|c| {
            c.mail =
                Some(gatehouse_registry::MailConfig { url, from: "Gatehouse <no-reply@gatehouse.test>".to_owned() })
        })
        .gateway_config(|c| c.mail_enabled = true)
        .start()
        .await;
    let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken];
    let mut app = ClientApp::with(env, &grants, &["openid", "user", "email"]).await;
    let code = app.code("openid user email").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(tokens["id_token"].as_str().unwrap())["email_verified"], false);

    // Before the address is confirmed it resets nothing, and says the same as for anyone.
    let mut stranger = app.env.browser();
    let unconfirmed = ask_reset(&mut stranger, "owner@example.com").await;
    let unknown = ask_reset(&mut stranger, "nobody@example.com").await;
    assert_eq!((unconfirmed.status, unknown.status), (200, 200));
    assert!(unconfirmed.body.contains("id=\"reset-sent\"") && unknown.body.contains("id=\"reset-sent\""));
    assert_eq!(unconfirmed.body.replace("owner@example.com", ""), unknown.body.replace("nobody@example.com", ""));

    // Confirm the address: a link, a page with one button, once.
    let page = app.browser.get("/account/security").await;
    assert!(page.body.contains("id=\"email-state\""), "{}", page.body);
    let csrf = page.input("csrf_token").unwrap();
    let sent = app.browser.post_form("/account/email/send-verification", &[("csrf_token", &csrf)]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let mail = sink.nth(1).await;
    assert!(mail.contains("To: owner@example.com"), "{mail}");
    assert!(mail.contains("From: Gatehouse <no-reply@gatehouse.test>"), "{mail}");
    let token = mailed_token(&mail, "/account/email/verify");
    let mut mailbox = app.env.browser();
    let confirm = mailbox.get(&format!("/account/email/verify?token={token}")).await;
    assert_eq!(confirm.status, 200);
    let csrf = confirm.input("csrf_token").unwrap();
    let done = mailbox.post_form("/account/email/verify", &[("csrf_token", &csrf), ("token", &token)]).await;
    assert!(done.body.contains("id=\"email-verified\""), "{}", done.body);
    let again = mailbox.post_form("/account/email/verify", &[("csrf_token", &csrf), ("token", &token)]).await;
    assert_eq!(again.status, 400, "once: {}", again.body);

    // Now a reset by address (in any letter case) mails a link.
    let asked = ask_reset(&mut stranger, "Owner@Example.com").await;
    assert_eq!(asked.status, 200);
    let mail = sink.nth(2).await;
    let token = mailed_token(&mail, "/password/reset");
    let link = mailbox.get(&format!("/password/reset?token={token}")).await;
    assert_eq!(link.status, 200, "{}", link.body);
    let csrf = link.input("csrf_token").unwrap();
    let short = mailbox
        .post_form("/password/reset", &[("csrf_token", &csrf), ("token", &token), ("new_password", "short")])
        .await;
    assert_eq!(short.status, 400, "the rules hold, the link is not used up: {}", short.body);
    let new_password = "a brand new passphrase";
    let reset = mailbox
        .post_form("/password/reset", &[("csrf_token", &csrf), ("token", &token), ("new_password", new_password)])
        .await;
    assert!(reset.body.contains("id=\"reset-done\""), "{}", reset.body);
    let replay = mailbox
        .post_form(
            "/password/reset",
            &[("csrf_token", &csrf), ("token", &token), ("new_password", "another passphrase")],
        )
        .await;
    assert_eq!(replay.status, 400, "the link works once: {}", replay.body);

    // The old password, the old session and the old refresh token are over.
    assert_eq!(app.browser.get("/account/authorizations").await.status, 303, "signed out everywhere");
    let (status, body) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 400, "{body}");
    app.env.browser().login_expecting_failure("owner", TEST_PASSWORD).await;
    let mut fresh = app.env.browser();
    fresh.login("owner", new_password).await;
    // The confirmed address is now released as such.
    let code = fresh
        .authorization_code(&[
            ("client_id", &app.client_id.clone()),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("redirect_uri", CALLBACK),
        ])
        .await;
    let (status, tokens) = app.exchange_code(&code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(jwt_claims(tokens["id_token"].as_str().unwrap())["email_verified"], true);

    // An expired link: 30 minutes.
    let _ = ask_reset(&mut stranger, "owner").await;
    let mail = sink.nth(3).await;
    let late = mailed_token(&mail, "/password/reset");
    app.env.advance(Duration::from_secs(31 * 60));
    let form = mailbox.get(&format!("/password/reset?token={late}")).await;
    let csrf = form.input("csrf_token").unwrap();
    let expired = mailbox
        .post_form(
            "/password/reset",
            &[("csrf_token", &csrf), ("token", &late), ("new_password", "too late passphrase")],
        )
        .await;
    assert_eq!(expired.status, 400, "{}", expired.body);

    // Mail per account is bounded: three an hour (the confirmation and two resets so far
    // in this window: one more goes out, then none), while the answer never changes.
    for _ in 0..5 {
        let page = ask_reset(&mut stranger, "owner").await;
        assert!(page.body.contains("id=\"reset-sent\""));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.messages().len() <= 4, "at most one more mail: {}", sink.messages().len());
}

/// Changing the password ends the account's other sessions unless the
/// person unticks it; this browser stays signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_signs_out_the_other_sessions_unless_asked_not_to() {
    let env = TestEnv::builder().start().await;
    env.create_user("changer").await;
    let mut here = env.browser();
    here.login("changer", TEST_PASSWORD).await;
    let mut elsewhere = env.browser();
    elsewhere.login("changer", TEST_PASSWORD).await;

    let form = here.get("/account/password").await;
    assert!(form.body.contains("name=\"end_other_sessions\" value=\"on\" checked"), "{}", form.body);
    let csrf = form.input("csrf_token").unwrap();
    let kept = here
        .post_form(
            "/account/password",
            &[("csrf_token", &csrf), ("current_password", TEST_PASSWORD), ("new_password", "second passphrase")],
        )
        .await;
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert_eq!(elsewhere.get("/account/authorizations").await.status, 200, "unticked: the other session stays");

    let changed = here
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", "second passphrase"),
                ("new_password", "third passphrase"),
                ("end_other_sessions", "on"),
            ],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(elsewhere.get("/account/authorizations").await.status, 303, "signed out");
    assert_eq!(here.get("/account/authorizations").await.status, 200, "this browser stays");
}

/// Sensitive changes need a recent sign-in: after fifteen minutes a new
/// personal token, a new client secret, deleting an application or the
/// account send the page to sign in again (the username filled in, back to
/// the form) and are refused over REST; signing in again lets them through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_changes_ask_for_a_recent_sign_in() {
    let env = TestEnv::builder().start().await;
    let user = env.create_user("sudoer").await;
    let (client_id, _) = env
        .register_app(&user, &[CALLBACK], gatehouse_proto::pb::common::v1::ClientType::Confidential, &["user"])
        .await;
    let mut browser = env.browser();
    browser.login("sudoer", TEST_PASSWORD).await;
    let token_form = |csrf: &str| {
        vec![
            ("csrf_token", csrf.to_owned()),
            ("name", "ci".to_owned()),
            ("scope", "user".to_owned()),
            ("expires_in_days", "30".to_owned()),
        ]
    };
    let csrf = browser.get("/account/tokens").await.input("csrf_token").unwrap();
    let fresh: Vec<(&str, String)> = token_form(&csrf);
    let fresh: Vec<(&str, &str)> = fresh.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(browser.post_form("/account/tokens", &fresh).await.status, 201, "a fresh sign-in creates a token");

    env.advance(Duration::from_secs(16 * 60));
    let sensitive = [
        ("/account/tokens", "/account/tokens"),
        (&*format!("/account/applications/{client_id}/secrets"), &*format!("/account/applications/{client_id}")),
        (&*format!("/account/applications/{client_id}/delete"), &*format!("/account/applications/{client_id}")),
        ("/account/delete", "/account/delete"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    for (action, page) in &sensitive {
        let mut form = fresh.clone();
        form.push(("confirm_username", "sudoer"));
        let answer = browser.post_form(action, &form).await;
        assert_eq!(answer.status, 303, "{action}: {}", answer.body);
        let location = answer.location().to_owned();
        assert!(location.starts_with("/login?reauthenticate=1&login_hint=sudoer&next="), "{action}: {location}");
        let next = gatehouse_tests::query_pairs(&format!("http://x{location}"))
            .into_iter()
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v)
            .unwrap();
        assert_eq!(&next, page, "{action} comes back to its page");
    }
    // The sign-in page says why, with the username filled in.
    let login = browser.get("/login?reauthenticate=1&login_hint=sudoer&next=%2Faccount%2Ftokens").await;
    assert!(login.body.contains("confirm it") && login.body.contains("value=\"sudoer\""), "{}", login.body);
    // Over REST: 403 until a new sign-in; a plain change (revoking a token) still works.
    let rest_csrf = browser.json(reqwest::Method::GET, "/api/session", None, None).await.json()["data"]["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = serde_json::json!({ "name": "late", "scopes": ["user"], "expires_in_days": 30 });
    let refused = browser.json(reqwest::Method::POST, "/api/tokens", Some(&rest_csrf), Some(body.clone())).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.json()["msg"].as_str().unwrap().contains("sign in again"), "{}", refused.body);
    let secret = format!("/api/applications/{client_id}/secrets");
    assert_eq!(browser.json(reqwest::Method::POST, &secret, Some(&rest_csrf), None).await.status, 403);
    // Nothing was made or deleted meanwhile.
    assert!(browser.get(&format!("/account/applications/{client_id}")).await.status == 200, "the application stays");
    assert_eq!(browser.get("/account/authorizations").await.status, 200, "the account stays, signed in");

    // Signing in again (the form the redirect led to): the same changes go through.
    let csrf = login.input("csrf_token").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", "sudoer"),
        ("password", TEST_PASSWORD),
        ("next", "/account/tokens"),
    ];
    let signed_in = browser.post_form("/login", &form).await;
    assert_eq!((signed_in.status, signed_in.location()), (303, "/account/tokens"), "{}", signed_in.body);
    let csrf = browser.get("/account/tokens").await.input("csrf_token").unwrap();
    let again = token_form(&csrf);
    let again: Vec<(&str, &str)> = again.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(browser.post_form("/account/tokens", &again).await.status, 201);
    let rest_csrf = browser.json(reqwest::Method::GET, "/api/session", None, None).await.json()["data"]["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = browser.json(reqwest::Method::POST, &secret, Some(&rest_csrf), None).await;
    assert!(made.status == 200 || made.status == 201, "{}", made.body);
}

/// The sign-up form at `url` (with its CSRF pair) sent for `username` at `email`.
async fn sign_up_at(browser: &mut Browser, url: &str, username: &str, email: &str) -> gatehouse_tests::Page {
    let form = browser.get(url).await;
    assert_eq!(form.status, 200, "{url}: {}", form.body);
    let csrf = form.input("csrf_token").unwrap();
    let mut fields = vec![("csrf_token", csrf.clone()), ("username", username.to_owned()), ("email", email.to_owned())];
    fields.push(("password", TEST_PASSWORD.to_owned()));
    if let Some(invitation) = form.input("invitation") {
        fields.push(("invitation", invitation));
    }
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post_form("/signup", &fields).await
}

/// Sign-up by invitation: an operator's link signs up once, for its address
/// only; without one the page and the registry refuse. By email domain: only
/// an address at a listed domain. Every account made is in the audit trail
/// with how it was made, and every refusal too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_by_invitation_or_email_domain_holds_on_every_path() {
    use gatehouse_runtime::access::Role;
    use gatehouse_runtime::signup::SignupPolicy;
    let invitation = SignupPolicy::Invitation;
    let env = TestEnv::builder()
        .gateway_config(|c| c.signup = invitation.clone())
        .registry_config(|c| c.signup = invitation.clone())
        .start()
        .await;
    let operator = env.clients_as(Role::Operator).registry;
    let mut browser = env.browser();
    let page = browser.get("/signup").await;
    assert_eq!(page.status, 403, "no invitation, no form: {}", page.body);
    assert!(page.body.contains("invitation"), "{}", page.body);
    assert!(!browser.get("/login").await.body.contains("href=\"/signup"), "the sign-in page offers no sign-up");

    let open = operator.create_invitation("", 7).await.unwrap();
    assert!(open.token.starts_with("giv_") && open.link.ends_with(&format!("/signup?invitation={}", open.token)));
    let path = open.link.strip_prefix(&env.gateway_url()).unwrap().to_owned();
    let made = sign_up_at(&mut browser, &path, "invited", "invited@example.org").await;
    assert_eq!(made.status, 303, "{}", made.body);
    // Used once.
    let again = sign_up_at(&mut env.browser(), &path, "second", "second@example.org").await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("invitation"), "{}", again.body);
    // For one address only; a forged or missing one refused by the registry itself.
    let bound = operator.create_invitation("ada@example.com", 1).await.unwrap();
    let bound_path = bound.link.strip_prefix(&env.gateway_url()).unwrap().to_owned();
    let other = sign_up_at(&mut env.browser(), &bound_path, "notada", "eve@example.com").await;
    assert_eq!(other.status, 400, "{}", other.body);
    let gateway = env.clients_as(Role::Gateway).registry;
    for token in ["", "giv_forged", &open.token] {
        let new = gatehouse_runtime::clients::registry::NewUser {
            invitation: token.to_owned(),
            ..gatehouse_tests::test_user("direct")
        };
        let refused = gateway.create_user(new).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{token}: {refused:?}");
    }
    let ada = sign_up_at(&mut env.browser(), &bound_path, "ada", "Ada@Example.com").await;
    assert_eq!(ada.status, 303, "{}", ada.body);
    // Expired: the test clock moves past a one-day invitation.
    let late = operator.create_invitation("", 1).await.unwrap();
    env.advance(Duration::from_secs(86_401));
    let late_path = late.link.strip_prefix(&env.gateway_url()).unwrap().to_owned();
    assert_eq!(sign_up_at(&mut env.browser(), &late_path, "late", "late@example.org").await.status, 400);
    // Operators make invitations; nobody else.
    let refused = gateway.create_invitation("", 7).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    // The trail: each account with how it was made, each refusal, each invitation.
    let request = gatehouse_proto::pb::common::v1::ListAuditEventsRequest { limit: 200, ..Default::default() };
    let events = env
        .registry_as(env.as_role(Role::Operator))
        .await
        .list_audit_events(request)
        .await
        .unwrap()
        .into_inner()
        .events;
    let created: Vec<&str> = events.iter().filter(|e| e.action == "user.created").map(|e| e.details.as_str()).collect();
    assert_eq!(created.iter().filter(|d| d.contains("\"invitation\"")).count(), 2, "{created:?}");
    assert!(events.iter().filter(|e| e.action == "signup.refused").count() >= 5, "every refusal recorded");
    assert_eq!(events.iter().filter(|e| e.action == "invitation.created").count(), 3);

    // By email domain.
    let domains = SignupPolicy::parse("email-domain", "example.com").unwrap();
    let env = TestEnv::builder()
        .gateway_config(|c| c.signup = domains.clone())
        .registry_config(|c| c.signup = domains.clone())
        .start()
        .await;
    let mut browser = env.browser();
    let form = browser.get("/signup").await;
    assert!(form.body.contains("example.com"), "the form says which domains: {}", form.body);
    let outsider = sign_up_at(&mut browser, "/signup", "outsider", "eve@example.org").await;
    assert_eq!(outsider.status, 400, "{}", outsider.body);
    assert!(outsider.body.contains("example.com"), "{}", outsider.body);
    let insider = sign_up_at(&mut browser, "/signup", "insider", "grace@example.com").await;
    assert_eq!(insider.status, 303, "{}", insider.body);
    // An operator's account is not a sign-up.
    env.clients_as(Role::Operator).registry.create_user(gatehouse_tests::test_user("contractor")).await.unwrap();
}

/// Every page of the admin console.
const CONSOLE_PAGES: [&str; 7] = [
    "/admin",
    "/admin/users",
    "/admin/applications",
    "/admin/resource-servers",
    "/admin/registration-tokens",
    "/admin/keys",
    "/admin/audit?action=user.disabled",
];

/// An operator finds an account and disables it: its browser session, its
/// access and refresh tokens end at once (on every path), and its password
/// signs in no more; the gateway may do neither. Enabled again, it signs in
/// anew, while what ended stays ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_loses_its_sessions_and_tokens_and_cannot_sign_in() {
    use gatehouse_runtime::access::Role;
    let mut app = ClientApp::new(TestEnv::builder().start().await).await;
    let operator = app.env.clients_as(Role::Operator).registry;
    let gateway = app.env.clients_as(Role::Gateway).registry;
    let code = app.code("user").await;
    let (status, tokens) = app.exchange_code(&code).await;
    assert_eq!(status, 200, "{tokens}");
    let (access, refresh) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    assert!(app.introspect(access).await);

    let (found, next) = operator.list_users("OWN", 0, "").await.unwrap();
    assert_eq!((found.len(), next.as_str()), (1, ""), "{found:?}");
    assert!(!found[0].disabled);
    let refused = gateway.set_user_disabled(&app.owner_id, true).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "the gateway acts only for an administrator");
    let refused = gateway.list_users("", 0, "").await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "the gateway alone is no administrator");

    let disabled = operator.set_user_disabled(&app.owner_id, true).await.unwrap();
    assert!(disabled.disabled);
    assert!(!app.introspect(access).await, "the access token ended with the account");
    assert!(!app.http_introspect(access).await["active"].as_bool().unwrap());
    let (status, body) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 400, "the refresh token ended too: {body}");
    let page = app.browser.get("/account/applications").await;
    assert_eq!(page.status, 303, "the browser's session ended: {}", page.body);
    app.browser.login_expecting_failure("owner", TEST_PASSWORD).await;
    let (found, _) = operator.list_users("owner", 0, "").await.unwrap();
    assert!(found[0].disabled, "the listing says so");

    let enabled = operator.set_user_disabled(&app.owner_id, false).await.unwrap();
    assert!(!enabled.disabled);
    app.browser.login("owner", TEST_PASSWORD).await;
    assert!(!app.introspect(access).await, "what ended stays ended");
    // Audit: who disabled and enabled whom.
    let request = gatehouse_proto::pb::common::v1::ListAuditEventsRequest { limit: 50, ..Default::default() };
    let mut trail = app.env.registry_as(app.env.as_role(Role::Operator)).await;
    let events = trail.list_audit_events(request).await.unwrap().into_inner();
    let actions: Vec<&str> = events.events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"user.disabled") && actions.contains(&"user.enabled"), "{actions:?}");
}

/// The admin console: an administrator finds a user and disables them (the
/// user's browser is signed out and cannot sign in again), then enables
/// them; someone without the role is refused every console route, GET and
/// POST; a change needs the form's CSRF token and a recent sign-in; an
/// administrator cannot disable themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_console_disables_users_for_administrators_only() {
    use gatehouse_runtime::access::Role;
    let env = TestEnv::builder().start().await;
    let admin = env.create_user("root").await;
    env.clients_as(Role::Operator).registry.set_user_role(&admin.id, "administrator", true).await.unwrap();
    let target = env.create_user("mallory").await;
    env.create_user("eve").await;
    let mut victim = env.browser();
    victim.login("mallory", TEST_PASSWORD).await;
    let mut console = env.browser();
    console.login("root", TEST_PASSWORD).await;

    let home = console.get("/admin").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains(r#"<a href="/admin">Admin</a>"#), "the header links administrators to the console");
    assert!(home.body.contains("signin.succeeded") && home.body.contains("intact"), "the overview: {}", home.body);
    let found = console.get("/admin/users?q=MALL").await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(found.body.contains("mallory") && !found.body.contains(">eve<"), "the search: {}", found.body);
    let csrf = found.input("csrf_token").expect("the console's forms carry the CSRF token");
    let disable = format!("/admin/users/{}/disable", target.id);

    // Someone without the role: every route refused, nothing changed.
    let mut stranger = env.browser();
    stranger.login("eve", TEST_PASSWORD).await;
    assert!(!stranger.get("/account/password").await.body.contains(r#"href="/admin""#), "and nobody else");
    for path in CONSOLE_PAGES.iter().map(|p| p.to_string()).chain([format!("/admin/users/{}", target.id)]) {
        assert_eq!(stranger.get(&path).await.status, 403, "{path}");
    }
    let stranger_csrf = stranger.get("/account/password").await.input("csrf_token").unwrap();
    let refused = stranger.post_form(&disable, &[("csrf_token", &stranger_csrf)]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // Without the CSRF token, or not signed in at all: refused too.
    assert_eq!(console.post_form(&disable, &[("q", "mall")]).await.status, 403);
    assert_eq!(env.browser().post_form(&disable, &[("csrf_token", &csrf)]).await.status, 303, "to sign in");
    assert_eq!(victim.get("/account/applications").await.status, 200, "nothing was disabled");

    // The administrator disables the user: their browser is signed out and cannot sign in.
    let done = console.post_form(&disable, &[("csrf_token", &csrf), ("back", "list"), ("q", "mall")]).await;
    assert_eq!((done.status, done.location()), (303, "/admin/users?q=mall"), "{}", done.body);
    assert_eq!(victim.get("/account/applications").await.status, 303, "the session ended");
    victim.login_expecting_failure("mallory", TEST_PASSWORD).await;
    let listed = console.get("/admin/users?q=mall").await;
    assert!(listed.body.contains(&format!("/admin/users/{}/enable", target.id)), "shown disabled: {}", listed.body);
    // Not themselves.
    let own = console.post_form(&format!("/admin/users/{}/disable", admin.id), &[("csrf_token", &csrf)]).await;
    assert_ne!(own.status, 303, "{}", own.body);

    // A change needs a recent sign-in.
    env.advance(Duration::from_secs(16 * 60));
    let enable = format!("/admin/users/{}/enable", target.id);
    let stale = console.post_form(&enable, &[("csrf_token", &csrf)]).await;
    assert_eq!(stale.status, 303);
    assert!(
        stale.location().starts_with("/login?reauthenticate=1&login_hint=root&next=%2Fadmin%2Fusers"),
        "{}",
        stale.location()
    );
    victim.login_expecting_failure("mallory", TEST_PASSWORD).await;
    // Signing in again (as the page it sends to does) makes the change possible.
    let mut console = env.browser();
    console.login("root", TEST_PASSWORD).await;
    let csrf = console.get("/admin/users").await.input("csrf_token").unwrap();
    assert_eq!(console.post_form(&enable, &[("csrf_token", &csrf)]).await.status, 303);
    victim.login("mallory", TEST_PASSWORD).await;
}

/// Every section of the console, as an administrator uses it: each page
/// renders; an account's page shows its sessions and ends them; the role is
/// granted and removed; an account is deleted only with its username typed
/// again; any owner's application is deleted; a registration token is shown
/// once and deleted; the keys rotate and a retiring key retires; the audit
/// trail filters to what the console did, in the administrator's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_section_works_for_an_administrator() {
    use gatehouse_proto::pb::common::v1::ClientType;
    use gatehouse_runtime::access::Role;
    let env = TestEnv::builder().start().await;
    let admin = env.create_user("root").await;
    let operator = env.clients_as(Role::Operator);
    operator.registry.set_user_role(&admin.id, "administrator", true).await.unwrap();
    let owner = env.create_user("owner").await;
    let (client_id, _) = env.register_app(&owner, &[CALLBACK], ClientType::Confidential, &["user"]).await;
    let mut owners_browser = env.browser();
    owners_browser.login("owner", TEST_PASSWORD).await;
    let mut console = env.browser();
    console.login("root", TEST_PASSWORD).await;
    for path in CONSOLE_PAGES {
        let page = console.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains(r#"aria-current="page""#), "{path} marks its section");
    }
    let csrf = console.get("/admin/users").await.input("csrf_token").unwrap();

    // One account: details, its sessions, its applications.
    let user_page = console.get(&format!("/admin/users/{}", owner.id)).await;
    assert_eq!(user_page.status, 200, "{}", user_page.body);
    assert!(user_page.body.contains(&client_id) && user_page.body.contains("127.0.0.1"), "{}", user_page.body);
    // Errors speak to the owner of the page: nothing changed, and the way back.
    let missing = console.get("/admin/users/no-such-user").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("Nothing was changed") && missing.body.contains(r#"href="/admin">Back to the console"#)
    );
    assert!(!missing.body.contains("contact its developer"), "{}", missing.body);
    let not_theirs = owners_browser.get("/account/applications/no-such-app").await;
    assert_eq!(not_theirs.status, 404);
    assert!(not_theirs.body.contains(r#"href="/account/applications">Back to your account"#), "{}", not_theirs.body);
    let flow = owners_browser.get("/oauth/authorize?client_id=no-such-app&response_type=code").await;
    assert!(flow.body.contains("contact its developer"), "a flow's error speaks to the visitor: {}", flow.body);
    let signed_out = console.post_form(&format!("/admin/users/{}/sign-out", owner.id), &[("csrf_token", &csrf)]).await;
    assert_eq!(signed_out.status, 303, "{}", signed_out.body);
    assert_eq!(owners_browser.get("/account/applications").await.status, 303, "the session ended");

    // The administrator role, granted and removed; never one's own.
    let form = [("csrf_token", csrf.as_str())];
    let grant = format!("/admin/users/{}/grant-administrator", owner.id);
    assert_eq!(console.post_form(&grant, &form).await.status, 303);
    assert!(operator.registry.user(&owner.id).await.unwrap().unwrap().administrator);
    let revoke = format!("/admin/users/{}/revoke-administrator", owner.id);
    assert_eq!(console.post_form(&revoke, &[("csrf_token", &csrf)]).await.status, 303);
    assert!(!operator.registry.user(&owner.id).await.unwrap().unwrap().administrator);
    let own = format!("/admin/users/{}/revoke-administrator", admin.id);
    assert_eq!(console.post_form(&own, &form).await.status, 409, "not one's own role");

    // Any owner's application.
    let apps = console.get("/admin/applications").await;
    assert!(apps.body.contains(&client_id) && apps.body.contains(">owner<"), "{}", apps.body);
    let delete_app = format!("/admin/applications/{client_id}/delete");
    assert_eq!(console.post_form(&delete_app, &[("csrf_token", &csrf)]).await.status, 303);
    assert!(operator.registry.application(&client_id).await.unwrap().is_none(), "deleted");

    // Registration tokens: shown once, kept only as a record, deleted.
    let made = console
        .post_form("/admin/registration-tokens", &[("csrf_token", &csrf), ("description", "ci"), ("days", "7")])
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let token = made.body.split(r#"<code class="secret">"#).nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert!(token.len() > 20, "{token}");
    let listed = console.get("/admin/registration-tokens").await;
    assert!(listed.body.contains(">ci<") && !listed.body.contains(&token), "never shown again");
    let tokens = operator.registry.list_initial_access_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1);
    let bad_days = console
        .post_form("/admin/registration-tokens", &[("csrf_token", &csrf), ("description", "x"), ("days", "-1")])
        .await;
    assert_eq!(bad_days.status, 400, "{}", bad_days.body);
    let delete_token = format!("/admin/registration-tokens/{}/delete", tokens[0].id);
    assert_eq!(console.post_form(&delete_token, &[("csrf_token", &csrf)]).await.status, 303);
    assert!(operator.registry.list_initial_access_tokens().await.unwrap().is_empty());

    // Signing keys: rotate, then retire the retiring one.
    let active = |keys: &[gatehouse_proto::pb::token::v1::SigningKey]| {
        keys.iter().filter(|k| k.state == "active").map(|k| k.kid.clone()).collect::<Vec<_>>()
    };
    let before = active(&operator.token.signing_keys().await.unwrap());
    let early = console.post_form("/admin/keys/rotate", &form).await;
    assert_eq!(early.status, 409, "the next key is younger than verifiers' caches");
    assert!(early.body.contains("force the rotation"), "and the page says why: {}", early.body);
    let forced = [("csrf_token", csrf.as_str()), ("force", "on")];
    assert_eq!(console.post_form("/admin/keys/rotate", &forced).await.status, 303);
    let keys = operator.token.signing_keys().await.unwrap();
    assert_ne!(active(&keys), before, "a new key signs");
    let retiring = keys.iter().find(|k| k.state == "retiring").expect("the replaced key retires");
    let page = console.get("/admin/keys").await;
    assert!(page.body.contains(&format!("/admin/keys/{}/retire", retiring.kid)), "{}", page.body);
    let retire = format!("/admin/keys/{}/retire", retiring.kid);
    assert_eq!(console.post_form(&retire, &form).await.status, 409, "refused while its tokens may live");
    assert_eq!(console.post_form(&retire, &forced).await.status, 303);
    let retired = operator.token.signing_keys().await.unwrap();
    assert!(retired.iter().any(|k| k.kid == retiring.kid && k.state == "retired"), "{retired:?}");

    // The account deleted only with its username typed again.
    let delete_user = format!("/admin/users/{}/delete", owner.id);
    let wrong = console.post_form(&delete_user, &[("csrf_token", &csrf), ("confirm", "someone")]).await;
    assert_eq!(wrong.status, 400);
    assert!(operator.registry.user(&owner.id).await.unwrap().is_some());
    let deleted = console.post_form(&delete_user, &[("csrf_token", &csrf), ("confirm", "owner")]).await;
    assert_eq!((deleted.status, deleted.location()), (303, "/admin/users"));
    assert!(operator.registry.user(&owner.id).await.unwrap().is_none());

    // The audit trail, filtered: what the console did, in the administrator's name.
    let trail = console.get("/admin/audit?action=role.granted&hours=1").await;
    assert_eq!(trail.status, 200);
    assert!(trail.body.contains(&format!("user {} (console)", admin.id)), "{}", trail.body);
    assert!(!trail.body.contains("user.deleted"), "filtered to the action");
    let by_subject = console.get(&format!("/admin/audit?subject={}", owner.id)).await;
    assert!(
        by_subject.body.contains("user.deleted") || by_subject.body.contains("role.revoked"),
        "{}",
        by_subject.body
    );
    assert_eq!(console.get("/admin/audit?hours=0").await.status, 400, "a bad filter is named");
}
