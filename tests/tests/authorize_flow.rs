//! The authorization flow through the real gateway and services: the seed's
//! URL and the standard one, login, consent, codes, and every error class
//! (which ones show the error page, which ones redirect, with which error).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use gatehouse_oauth::pkce::s256_challenge;
use gatehouse_proto::pb::authorization::v1::RedeemCodeRequest;
use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_proto::status::{decode_oauth, decode_reason, reason};
use gatehouse_tests::{Browser, TEST_PASSWORD, TestEnv, query_pairs};

const CALLBACK: &str = "https://app.example/callback";
const VERIFIER: &str = "a-very-long-and-random-pkce-verifier-0123456789";

fn authorize_path(base: &str, params: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    format!("{base}?{query}")
}

fn param(url: &str, name: &str) -> Option<String> {
    query_pairs(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Runs login + consent for `path` and returns the final redirect to the client.
async fn authorize_with_consent(browser: &mut Browser, path: &str, username: &str) -> String {
    let first = browser.get(path).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert!(first.location().starts_with("/login?next="), "{}", first.location());
    let login_form = browser.get(first.location()).await;
    assert_eq!(login_form.status, 200);
    let next = login_form.input("next").unwrap();
    assert_eq!(next, path, "login returns to the authorization request");
    let csrf = login_form.input("csrf_token").unwrap();
    let signed_in = browser
        .post_form(
            "/login",
            &[("csrf_token", &csrf), ("username", username), ("password", TEST_PASSWORD), ("next", &next)],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location(), path);
    let consent = browser.get(path).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let request_id = consent.input("request_id").unwrap();
    let csrf = consent.input("csrf_token").unwrap();
    let decided = browser
        .post_form(
            "/oauth/authorize/decision",
            &[("csrf_token", &csrf), ("request_id", &request_id), ("decision", "approve")],
        )
        .await;
    assert_eq!(decided.status, 303, "{}", decided.body);
    decided.location().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_url_flow_logs_in_consents_and_redirects_with_code_and_state() {
    let env = TestEnv::builder().start().await;
    let alice = env.create_user("alice").await;
    let (client_id, _secret) =
        env.register_app(&alice, &[CALLBACK], ClientType::Confidential, &["user", "project"]).await;
    let mut browser = env.browser();
    let path = authorize_path(
        "/oauth_authorize.html",
        &[
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "user"),
            ("state", "s"),
        ],
    );
    // The consent page names the application and describes the scope.
    let first = browser.get(&path).await;
    let login = browser.get(first.location()).await;
    let csrf = login.input("csrf_token").unwrap();
    browser
        .post_form(
            "/login",
            &[("csrf_token", &csrf), ("username", "alice"), ("password", TEST_PASSWORD), ("next", &path)],
        )
        .await;
    let consent = browser.get(&path).await;
    assert!(consent.body.contains("Test App"));
    assert!(consent.body.contains("Read your public profile"));
    assert!(!consent.body.contains("Read your projects"), "only the requested scope is shown");
    let request_id = consent.input("request_id").unwrap();
    let csrf = consent.input("csrf_token").unwrap();
    let done = browser
        .post_form(
            "/oauth/authorize/decision",
            &[("csrf_token", &csrf), ("request_id", &request_id), ("decision", "approve")],
        )
        .await;
    let location = done.location();
    assert!(location.starts_with(CALLBACK), "{location}");
    assert_eq!(param(location, "state").as_deref(), Some("s"));
    assert_eq!(param(location, "iss"), Some(env.gateway_url()));
    let code = param(location, "code").unwrap();
    assert!(code.starts_with("gac_") && code.len() >= 40);

    // The code redeems once, for this client and redirect URI.
    let mut authz = env.authorization_as(env.as_role(gatehouse_runtime::access::Role::Token)).await;
    let redeem = RedeemCodeRequest {
        code: code.clone(),
        client_id: client_id.clone(),
        redirect_uri: CALLBACK.to_owned(),
        code_verifier: String::new(),
        dpop_jkt: String::new(),
    };
    let redeemed = authz.redeem_code(redeem.clone()).await.unwrap().into_inner();
    assert_eq!(redeemed.user_id, alice.id);
    assert_eq!(redeemed.scopes, vec!["user"]);
    let replay = authz.redeem_code(redeem).await.unwrap_err();
    assert_eq!(decode_oauth(&replay).unwrap().code.as_str(), "invalid_grant");
    let (_, metadata) = decode_reason(&replay).unwrap();
    assert_eq!(metadata.get(reason::REPLAYED_CODE_ID), Some(&redeemed.code_id), "a replay names the first redemption");

    // A request within what was granted skips the consent page.
    let again = browser.get(&path).await;
    assert_eq!(again.status, 303);
    assert!(again.location().starts_with(CALLBACK) && param(again.location(), "code").is_some());
    // Asking for more shows only what is new.
    let more = authorize_path(
        "/oauth/authorize",
        &[("client_id", &client_id), ("redirect_uri", CALLBACK), ("response_type", "code"), ("scope", "user,project")],
    );
    let consent = browser.get(&more).await;
    assert_eq!(consent.status, 200);
    assert!(consent.body.contains("Read your projects"));
    assert!(consent.body.contains("Already authorized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_url_with_pkce_for_a_public_client() {
    let env = TestEnv::builder().start().await;
    let bob = env.create_user("bob").await;
    let (client_id, secret) = env.register_app(&bob, &["http://127.0.0.1/cb"], ClientType::Public, &["user"]).await;
    assert!(secret.is_empty());
    let mut browser = env.browser();
    let challenge = s256_challenge(VERIFIER);
    let path = authorize_path(
        "/oauth/authorize",
        &[
            ("client_id", &client_id),
            ("redirect_uri", "http://127.0.0.1:43110/cb"),
            ("response_type", "code"),
            ("scope", "user"),
            ("state", "xyz"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let location = authorize_with_consent(&mut browser, &path, "bob").await;
    assert!(location.starts_with("http://127.0.0.1:43110/cb?"), "loopback port may differ: {location}");
    let code = param(&location, "code").unwrap();
    let mut authz = env.authorization_as(env.as_role(gatehouse_runtime::access::Role::Token)).await;
    let redeem = |verifier: &str| RedeemCodeRequest {
        code: code.clone(),
        client_id: client_id.clone(),
        redirect_uri: "http://127.0.0.1:43110/cb".to_owned(),
        code_verifier: verifier.to_owned(),
        dpop_jkt: String::new(),
    };
    authz.redeem_code(redeem(VERIFIER)).await.expect("the right verifier redeems");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeem_checks_client_redirect_uri_and_verifier_and_burns_the_code() {
    let env = TestEnv::builder().start().await;
    let carol = env.create_user("carol").await;
    let (client_id, _) = env.register_app(&carol, &[CALLBACK], ClientType::Confidential, &["user"]).await;
    let (other_client, _) = env.register_app(&carol, &[CALLBACK], ClientType::Confidential, &["user"]).await;
    let mut browser = env.browser();
    let challenge = s256_challenge(VERIFIER);
    let with_pkce = authorize_path(
        "/oauth/authorize",
        &[
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let location = authorize_with_consent(&mut browser, &with_pkce, "carol").await;
    let mut authz = env.authorization_as(env.as_role(gatehouse_runtime::access::Role::Token)).await;
    let code = param(&location, "code").unwrap();
    let request = |code: &str, client: &str, uri: &str, verifier: &str| RedeemCodeRequest {
        code: code.to_owned(),
        client_id: client.to_owned(),
        redirect_uri: uri.to_owned(),
        code_verifier: verifier.to_owned(),
        dpop_jkt: String::new(),
    };
    for (case, bad) in [
        ("another client", request(&code, &other_client, CALLBACK, VERIFIER)),
        ("no verifier", request(&code, &client_id, CALLBACK, "")),
        ("wrong verifier", request(&code, &client_id, CALLBACK, &VERIFIER.replace('a', "b"))),
        ("other redirect uri", request(&code, &client_id, "https://app.example/other", VERIFIER)),
        ("omitted redirect uri", request(&code, &client_id, "", VERIFIER)),
        ("malformed code", request("gac_nope", &client_id, CALLBACK, VERIFIER)),
    ] {
        // Each attempt needs a fresh code: a failed attempt burns the code.
        let fresh = browser.get(&with_pkce).await;
        let fresh_code = param(fresh.location(), "code").unwrap();
        let mut bad = bad;
        if bad.code != "gac_nope" {
            bad.code = fresh_code.clone();
        }
        let status = authz.redeem_code(bad).await.expect_err(case);
        assert_eq!(decode_oauth(&status).unwrap().code.as_str(), "invalid_grant", "{case}");
        if case != "malformed code" {
            let retry = authz.redeem_code(request(&fresh_code, &client_id, CALLBACK, VERIFIER)).await.expect_err(case);
            assert_eq!(decode_oauth(&retry).unwrap().code.as_str(), "invalid_grant", "{case}: the code was burned");
        }
    }
    // A verifier for a code issued without a challenge is a downgrade attempt.
    let without_pkce = authorize_path(
        "/oauth/authorize",
        &[("client_id", &client_id), ("redirect_uri", CALLBACK), ("response_type", "code")],
    );
    let plain = browser.get(&without_pkce).await;
    let plain_code = param(plain.location(), "code").unwrap();
    let status = authz.redeem_code(request(&plain_code, &client_id, CALLBACK, VERIFIER)).await.unwrap_err();
    assert_eq!(decode_oauth(&status).unwrap().code.as_str(), "invalid_grant");
    // The first code, still unused, works with everything right.
    authz.redeem_code(request(&code, &client_id, CALLBACK, VERIFIER)).await.expect("valid redemption");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_client_or_redirect_uri_shows_an_error_page_and_never_redirects() {
    let env = TestEnv::builder().start().await;
    let dave = env.create_user("dave").await;
    let (client_id, _) =
        env.register_app(&dave, &[CALLBACK, "https://app.example/second"], ClientType::Confidential, &["user"]).await;
    let mut browser = env.browser();
    browser.login("dave", TEST_PASSWORD).await;
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("missing client_id", vec![("redirect_uri", CALLBACK), ("response_type", "code")]),
        ("unknown client_id", vec![("client_id", "nope"), ("redirect_uri", CALLBACK), ("response_type", "code")]),
        (
            "duplicated client_id",
            vec![
                ("client_id", &client_id),
                ("client_id", &client_id),
                ("redirect_uri", CALLBACK),
                ("response_type", "code"),
            ],
        ),
        (
            "unregistered redirect_uri",
            vec![("client_id", &client_id), ("redirect_uri", "https://evil.example/cb"), ("response_type", "code")],
        ),
        (
            "prefix of a registered uri",
            vec![
                ("client_id", &client_id),
                ("redirect_uri", "https://app.example/callback/x"),
                ("response_type", "code"),
            ],
        ),
        (
            "duplicated redirect_uri",
            vec![
                ("client_id", &client_id),
                ("redirect_uri", CALLBACK),
                ("redirect_uri", CALLBACK),
                ("response_type", "code"),
            ],
        ),
        ("omitted with two registered", vec![("client_id", &client_id), ("response_type", "code")]),
    ];
    for base in ["/oauth/authorize", "/oauth_authorize.html"] {
        for (case, params) in &cases {
            let page = browser.get(&authorize_path(base, params)).await;
            assert_eq!(page.status, 400, "{case}: {}", page.body);
            assert!(page.header("location").is_none(), "{case} must not redirect");
            assert!(page.header("content-type").unwrap().starts_with("text/html"));
            assert!(page.body.contains("invalid_request"), "{case}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_after_the_redirect_uri_is_trusted_redirect_with_error_state_and_iss() {
    let env = TestEnv::builder().start().await;
    let erin = env.create_user("erin").await;
    let (confidential, _) = env.register_app(&erin, &[CALLBACK], ClientType::Confidential, &["user"]).await;
    let (public, _) = env.register_app(&erin, &[CALLBACK], ClientType::Public, &["user"]).await;
    let mut browser = env.browser();
    let challenge = s256_challenge(VERIFIER);
    let cases: Vec<(&str, &str, Vec<(&str, &str)>, &str)> = vec![
        ("response_type token", &confidential, vec![("response_type", "token")], "unsupported_response_type"),
        ("response_type missing", &confidential, vec![], "invalid_request"),
        ("unknown scope", &confidential, vec![("response_type", "code"), ("scope", "admin")], "invalid_scope"),
        (
            "scope not allowed",
            &confidential,
            vec![("response_type", "code"), ("scope", "user,project")],
            "invalid_scope",
        ),
        ("public without pkce", &public, vec![("response_type", "code")], "invalid_request"),
        (
            "plain method",
            &public,
            vec![("response_type", "code"), ("code_challenge", &challenge), ("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            "malformed challenge",
            &public,
            vec![("response_type", "code"), ("code_challenge", "short"), ("code_challenge_method", "S256")],
            "invalid_request",
        ),
        (
            "duplicated scope",
            &confidential,
            vec![("response_type", "code"), ("scope", "user"), ("scope", "user")],
            "invalid_request",
        ),
        (
            "duplicated response_type",
            &confidential,
            vec![("response_type", "code"), ("response_type", "code")],
            "invalid_request",
        ),
    ];
    for (case, client_id, extra, expected) in cases {
        let mut params = vec![("client_id", client_id), ("redirect_uri", CALLBACK), ("state", "st8")];
        params.extend(extra);
        let page = browser.get(&authorize_path("/oauth/authorize", &params)).await;
        assert_eq!(page.status, 303, "{case}: {}", page.body);
        let location = page.location();
        assert!(location.starts_with(CALLBACK), "{case}: {location}");
        assert_eq!(param(location, "error").as_deref(), Some(expected), "{case}");
        assert!(param(location, "error_description").is_some_and(|d| !d.is_empty()), "{case}");
        assert_eq!(param(location, "state").as_deref(), Some("st8"), "{case}");
        assert_eq!(param(location, "iss"), Some(env.gateway_url()), "{case}");
        assert!(param(location, "code").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_redirects_with_access_denied() {
    let env = TestEnv::builder().start().await;
    let frank = env.create_user("frank").await;
    let (client_id, _) = env.register_app(&frank, &[CALLBACK], ClientType::Confidential, &["user"]).await;
    let mut browser = env.browser();
    browser.login("frank", TEST_PASSWORD).await;
    let path =
        authorize_path("/oauth/authorize", &[("client_id", &client_id), ("response_type", "code"), ("state", "q")]);
    let consent = browser.get(&path).await;
    let request_id = consent.input("request_id").unwrap();
    let csrf = consent.input("csrf_token").unwrap();
    let denied = browser
        .post_form(
            "/oauth/authorize/decision",
            &[("csrf_token", &csrf), ("request_id", &request_id), ("decision", "deny")],
        )
        .await;
    assert_eq!(denied.status, 303);
    assert_eq!(param(denied.location(), "error").as_deref(), Some("access_denied"));
    assert_eq!(param(denied.location(), "state").as_deref(), Some("q"));
    // The pending request is answered once.
    let again = browser
        .post_form(
            "/oauth/authorize/decision",
            &[("csrf_token", &csrf), ("request_id", &request_id), ("decision", "approve")],
        )
        .await;
    assert_eq!(again.status, 404);
    assert!(again.header("location").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_needs_the_session_csrf_token_and_the_same_user() {
    let env = TestEnv::builder().start().await;
    let grace = env.create_user("grace").await;
    env.create_user("heidi").await;
    let (client_id, _) = env.register_app(&grace, &[CALLBACK], ClientType::Confidential, &["user"]).await;
    let path = authorize_path("/oauth/authorize", &[("client_id", &client_id), ("response_type", "code")]);
    let mut victim = env.browser();
    victim.login("grace", TEST_PASSWORD).await;
    let consent = victim.get(&path).await;
    let request_id = consent.input("request_id").unwrap();
    let forged =
        victim.post_form("/oauth/authorize/decision", &[("request_id", &request_id), ("decision", "approve")]).await;
    assert_eq!(forged.status, 403, "no CSRF token");
    let wrong = victim
        .post_form(
            "/oauth/authorize/decision",
            &[("csrf_token", "guess"), ("request_id", &request_id), ("decision", "approve")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    // Another user cannot answer grace's consent page with their own session.
    let mut other = env.browser();
    other.login("heidi", TEST_PASSWORD).await;
    let their_page = other.get(&path).await;
    let their_csrf = their_page.input("csrf_token").unwrap();
    let stolen = other
        .post_form(
            "/oauth/authorize/decision",
            &[("csrf_token", &their_csrf), ("request_id", &request_id), ("decision", "approve")],
        )
        .await;
    assert_eq!(stolen.status, 404);
    assert!(stolen.header("location").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_send_strict_headers_and_session_cookie_attributes() {
    let env = TestEnv::builder().start().await;
    env.create_user("ivan").await;
    let mut browser = env.browser();
    let login = browser.get("/login").await;
    for page in [&login, &browser.get("/oauth/authorize").await] {
        assert!(page.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(page.header("cache-control"), Some("no-store"));
    }
    // The front door leads to the applications page, through sign-in when needed.
    let front = browser.get("/").await;
    assert_eq!((front.status, front.header("location")), (303, Some("/account/applications")));
    let signed_in = browser.login("ivan", TEST_PASSWORD).await;
    let cookie = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("gatehouse_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain http on loopback gets no Secure flag");
    // Logging out ends the session server-side.
    let token = browser.cookie("gatehouse_session").unwrap().to_owned();
    let logout = browser.get("/logout").await;
    let csrf = logout.input("csrf_token").unwrap();
    let out = browser.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(out.status, 303);
    let mut replayed = env.browser();
    let mut authz = env.authorization().await;
    let status = authz
        .get_session(gatehouse_proto::pb::authorization::v1::GetSessionRequest { session_token: token })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(replayed.get("/account/applications").await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_look_the_same_and_are_throttled_per_address_without_locking_out_the_user() {
    let env = TestEnv::builder().start().await;
    env.create_user("judy").await;
    let mut authz = env.authorization().await;
    let login = |username: &str, password: &str, address: &str| gatehouse_proto::pb::authorization::v1::LoginRequest {
        username: username.to_owned(),
        password: password.to_owned(),
        client_address: address.to_owned(),
        user_agent: String::new(),
    };
    let unknown = authz.login(login("nobody", "whatever1", "10.0.0.9")).await.unwrap_err();
    let wrong = authz.login(login("judy", "whatever1", "10.0.0.9")).await.unwrap_err();
    assert_eq!((unknown.code(), unknown.message()), (wrong.code(), wrong.message()));
    for _ in 0..5 {
        let status = authz.login(login("judy", "wrong-password", "10.0.0.1")).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    let throttled = authz.login(login("judy", TEST_PASSWORD, "10.0.0.1")).await.unwrap_err();
    assert_eq!(throttled.code(), tonic::Code::ResourceExhausted, "5 failures from one address for one user");
    assert!(gatehouse_proto::status::decode_retry_after(&throttled).is_some());
    // The user, from their own address, is not locked out by the attacker.
    authz.login(login("judy", TEST_PASSWORD, "10.0.0.2")).await.expect("the user signs in from elsewhere");

    // Through the gateway: 401 with the same message, then 429 with Retry-After.
    let mut browser = env.browser();
    let form = browser.get("/login").await;
    let csrf = form.input("csrf_token").unwrap();
    let mut last = None;
    for _ in 0..6 {
        last = Some(
            browser
                .post_form(
                    "/login",
                    &[("csrf_token", &csrf), ("username", "judy"), ("password", "bad-password"), ("next", "/")],
                )
                .await,
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status, 429);
    assert!(last.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_accept_language_and_escape_what_users_typed() {
    let env = TestEnv::builder().start().await;
    let mallory = env.create_user("mallory").await;
    let spec = gatehouse_tests::AppSpec { name: "<script>alert(1)</script>", ..Default::default() };
    let (client_id, _) = gatehouse_tests::register_application(&mut env.registry().await, &mallory.id, spec).await;
    let mut browser = env.browser();
    browser.accept_language = Some("zh-CN,zh;q=0.9,en;q=0.5".to_owned());
    let login = browser.get("/login").await;
    assert!(login.body.contains("登录"), "Chinese login page");
    browser.login("mallory", TEST_PASSWORD).await;
    let consent =
        browser.get(&authorize_path("/oauth/authorize", &[("client_id", &client_id), ("response_type", "code")])).await;
    assert_eq!(consent.status, 200);
    assert!(consent.body.contains("授权"));
    assert!(consent.body.contains("读取你的公开资料"));
    assert!(!consent.body.contains("<script>alert(1)</script>"));
    assert!(consent.body.contains("&#60;script&#62;"), "the name is shown, escaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_grant_brings_back_consent_and_voids_unredeemed_codes() {
    let env = TestEnv::builder().start().await;
    let niaj = env.create_user("niaj").await;
    let (client_id, _) = env.register_app(&niaj, &[CALLBACK], ClientType::Confidential, &["user"]).await;
    let mut browser = env.browser();
    let path = authorize_path("/oauth/authorize", &[("client_id", &client_id), ("response_type", "code")]);
    let location = authorize_with_consent(&mut browser, &path, "niaj").await;
    let code = param(&location, "code").unwrap();
    let list = browser.get("/account/authorizations").await;
    assert!(list.body.contains("Test App"));
    let csrf = list.input("csrf_token").unwrap();
    let revoked =
        browser.post_form(&format!("/account/authorizations/{client_id}/revoke"), &[("csrf_token", &csrf)]).await;
    assert_eq!(revoked.status, 303);
    assert!(!browser.get("/account/authorizations").await.body.contains("Test App"));
    let mut authz = env.authorization_as(env.as_role(gatehouse_runtime::access::Role::Token)).await;
    let status = authz
        .redeem_code(RedeemCodeRequest {
            code,
            client_id: client_id.clone(),
            redirect_uri: String::new(),
            code_verifier: String::new(),
            dpop_jkt: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(decode_oauth(&status).unwrap().code.as_str(), "invalid_grant");
    assert_eq!(browser.get(&path).await.status, 200, "consent is asked again");
}

/// Pushed authorization requests (RFC 9126): the client posts its request,
/// authenticated, and the browser carries only `client_id` and the
/// `request_uri`; the request survives the sign-in page, each `request_uri`
/// works once, and a client that registered so can use nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_requests_stand_for_the_whole_request_once_and_survive_the_sign_in() {
    use gatehouse_runtime::access::Role;
    use gatehouse_tests::AppSpec;

    let env = TestEnv::builder().start().await;
    let erin = env.create_user("erin").await;
    let spec = AppSpec { redirect_uris: &[CALLBACK], scopes: &["user"], ..AppSpec::default() };
    let mut new = spec.of(&erin.id);
    new.require_pushed_authorization_requests = true;
    let registry = env.clients_as(Role::Gateway).registry;
    let (app, secret) = registry.register_application(new).await.unwrap();
    let client_id = app.client_id;
    assert!(app.require_pushed_authorization_requests);
    let (other_id, other_secret) = env.register_app(&erin, &[CALLBACK], ClientType::Confidential, &["user"]).await;
    let mut browser = env.browser();

    let metadata = browser.get("/.well-known/oauth-authorization-server").await.json();
    let endpoint = format!("{}/oauth/par", env.gateway_url());
    assert_eq!(metadata["pushed_authorization_request_endpoint"], endpoint.as_str());
    assert_eq!(metadata["require_pushed_authorization_requests"], false);

    let challenge = s256_challenge(VERIFIER);
    let request: Vec<(&str, &str)> = vec![
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("scope", "user"),
        ("state", "pushed-state"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let pushed = browser.post_client("/oauth/par", Some((&client_id, &secret)), &request).await;
    assert_eq!(pushed.status, 201, "{}", pushed.body);
    assert_eq!(pushed.header("cache-control"), Some("no-store"));
    let answer = pushed.json();
    let request_uri = answer["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{request_uri}");
    assert_eq!(answer["expires_in"], 300);

    // The browser's other parameters are not read: the pushed ones are.
    let path = authorize_path(
        "/oauth/authorize",
        &[
            ("client_id", &client_id),
            ("request_uri", &request_uri),
            ("redirect_uri", "https://evil.example/cb"),
            ("scope", "admin"),
        ],
    );
    let first = browser.get(&path).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let login_page = browser.get(first.location()).await;
    let next = login_page.input("next").unwrap();
    assert!(!next.contains(&request_uri), "the sign-in resumes with a new request_uri: {next}");
    assert!(!next.contains("code_challenge") && !next.contains("state"), "nothing pushed travels: {next}");
    let csrf = login_page.input("csrf_token").unwrap();
    let signed_in = browser
        .post_form(
            "/login",
            &[("csrf_token", &csrf), ("username", "erin"), ("password", TEST_PASSWORD), ("next", &next)],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    let consent = browser.get(signed_in.location()).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let decided = browser
        .post_form(
            "/oauth/authorize/decision",
            &[
                ("csrf_token", &consent.input("csrf_token").unwrap()),
                ("request_id", &consent.input("request_id").unwrap()),
                ("decision", "approve"),
            ],
        )
        .await;
    let location = decided.location().to_owned();
    assert!(location.starts_with(CALLBACK), "{location}");
    assert_eq!(param(&location, "state").as_deref(), Some("pushed-state"));
    let code = param(&location, "code").unwrap();
    let exchanged = browser
        .post_client(
            "/oauth/token",
            Some((&client_id, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.body);

    // Each request_uri once: the first and the one the sign-in resumed with.
    let resumed =
        query_pairs(&format!("https://x{next}")).into_iter().find(|(k, _)| k == "request_uri").map(|(_, v)| v).unwrap();
    for used in [&request_uri, &resumed] {
        let again =
            browser.get(&authorize_path("/oauth/authorize", &[("client_id", &client_id), ("request_uri", used)])).await;
        assert_eq!(again.status, 400, "{}", again.body);
        assert!(again.header("location").is_none());
        assert!(again.body.contains("already used"), "{}", again.body);
    }

    // Signed in and consented now: a fresh push goes straight to the client.
    let pushed = browser.post_client("/oauth/par", Some((&client_id, &secret)), &request).await.json();
    let direct = browser
        .get(&authorize_path(
            "/oauth/authorize",
            &[("client_id", &client_id), ("request_uri", pushed["request_uri"].as_str().unwrap())],
        ))
        .await;
    assert_eq!(direct.status, 303);
    assert_eq!(param(direct.location(), "state").as_deref(), Some("pushed-state"));

    // This client registered "pushed requests only".
    let plain = browser
        .get(&authorize_path(
            "/oauth/authorize",
            &[
                ("client_id", &client_id),
                ("redirect_uri", CALLBACK),
                ("response_type", "code"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    assert_eq!(plain.status, 400, "{}", plain.body);
    assert!(plain.header("location").is_none());
    assert!(plain.body.contains("pushed authorization request endpoint"), "{}", plain.body);

    // Another client's request_uri, or one this server never issued.
    let foreign = browser.post_client("/oauth/par", Some((&client_id, &secret)), &request).await.json();
    for (case, id, uri) in [
        ("another client's", other_id.as_str(), foreign["request_uri"].as_str().unwrap()),
        ("unknown", client_id.as_str(), "urn:ietf:params:oauth:request_uri:nope"),
    ] {
        let page = browser.get(&authorize_path("/oauth/authorize", &[("client_id", id), ("request_uri", uri)])).await;
        assert_eq!(page.status, 400, "{case}: {}", page.body);
        assert!(page.header("location").is_none(), "{case}");
    }

    // Every refusal of a push is the client's JSON error, never a redirect.
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut params: Vec<(&str, &str)> = vec![("response_type", "code"), ("redirect_uri", CALLBACK)];
        params.extend_from_slice(extra);
        params
    };
    for (case, credentials, params, status, error) in [
        ("wrong secret", (other_id.as_str(), "nope"), with(&[]), 401, "invalid_client"),
        (
            "a request_uri pushed",
            (other_id.as_str(), other_secret.as_str()),
            with(&[("request_uri", "urn:x")]),
            400,
            "invalid_request",
        ),
        (
            "a request object",
            (other_id.as_str(), other_secret.as_str()),
            with(&[("request", "e30.e30.")]),
            400,
            "request_not_supported",
        ),
        (
            "unregistered redirect_uri",
            (other_id.as_str(), other_secret.as_str()),
            vec![("response_type", "code"), ("redirect_uri", "https://evil.example/cb")],
            400,
            "invalid_request",
        ),
        ("unknown scope", (other_id.as_str(), other_secret.as_str()), with(&[("scope", "nope")]), 400, "invalid_scope"),
        (
            "token response type",
            (other_id.as_str(), other_secret.as_str()),
            vec![("response_type", "token"), ("redirect_uri", CALLBACK)],
            400,
            "unsupported_response_type",
        ),
        (
            "unknown resource",
            (other_id.as_str(), other_secret.as_str()),
            with(&[("resource", "https://api.nowhere.example")]),
            400,
            "invalid_target",
        ),
    ] {
        let page = browser.post_client("/oauth/par", Some(credentials), &params).await;
        assert_eq!(page.status, status, "{case}: {}", page.body);
        assert!(page.header("location").is_none(), "{case}");
        assert_eq!(page.json()["error"], error, "{case}: {}", page.body);
    }
}

/// Anyone can push for a public client (it has no secret): its pushes are
/// counted per address, and the one over the limit is a 429 with Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_for_a_public_client_are_throttled_per_address() {
    let env = TestEnv::builder().start().await;
    let fay = env.create_user("fay").await;
    let (client_id, _) = env.register_app(&fay, &[CALLBACK], ClientType::Public, &["user"]).await;
    let mut browser = env.browser();
    let challenge = s256_challenge(VERIFIER);
    let params = [
        ("client_id", client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // PKCE is required of a public client here too.
    let without = browser.post_client("/oauth/par", None, &params[..3]).await;
    assert_eq!(without.status, 400, "{}", without.body);
    assert!(without.body.contains("code_challenge"), "{}", without.body);
    let mut statuses = Vec::new();
    for _ in 0..31 {
        let page = browser.post_client("/oauth/par", None, &params).await;
        statuses.push(page.status);
        if page.status == 429 {
            assert!(page.header("retry-after").is_some(), "{}", page.body);
            assert!(page.json()["error"].is_string(), "{}", page.body);
        }
    }
    // The refused push (above) counted too: 29 more are created, then refused.
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 29, "{statuses:?}");
    assert_eq!(statuses[29..], [429, 429], "{statuses:?}");
}
