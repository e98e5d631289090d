//! Hostile and strict-client input through the real gateway: every bad
//! request gets its specific answer (never a 500), limits hold at the edge
//! (raw sockets), error descriptions echo nothing, guessing is throttled, and
//! the RFC points a strict client checks are kept.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use std::time::Duration;

use gatehouse_gateway::EdgeLimits;
use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_tests::{CALLBACK, ClientApp, TEST_PASSWORD, TestEnv};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn small_limits() -> EdgeLimits {
    EdgeLimits { header_read_timeout: Duration::from_secs(1), ..EdgeLimits::default() }
}

async fn app() -> ClientApp {
    ClientApp::new(
        TestEnv::builder()
            .gateway_config(|c| {
                c.limits = small_limits();
                c.trusted_proxies = "127.0.0.0/8".parse().unwrap();
            })
            .start()
            .await,
    )
    .await
}

/// Sends `request` as raw bytes and returns the status line's code (0 when
/// the server closed the connection without answering).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

fn assert_plain_description(body: &Value) {
    let description = body["error_description"].as_str().or(body["msg"].as_str()).unwrap_or_default();
    assert!(description.len() <= 200, "a long description: {} characters", description.len());
    assert!(!description.contains('"') && !description.contains('\\'), "RFC 6749 §5.2 characters: {description}");
    assert!(!description.contains("AAAA"), "the input is echoed: {description}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_odd_parameters_are_specific_errors_on_both_token_urls() {
    let mut app = app().await;
    let long = "A".repeat(8192);
    for form in [
        vec![("grant_type", long.as_str())],
        vec![("grant_type", "client_credentials"), ("scope", long.as_str())],
        vec![("grant_type", "client_credentials"), ("scope", "user \"AAAA\\")],
        vec![("grant_type", "refresh_token"), ("refresh_token", long.as_str())],
        vec![("grant_type", "authorization_code"), ("code", long.as_str()), ("redirect_uri", CALLBACK)],
    ] {
        let (status, body) = app.token(&form).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].is_string());
        assert_plain_description(&body);
        // The seed's URL, with the same parameters (in its form body): the envelope, never 500.
        let mut fields: Vec<(&str, &str)> = form.clone();
        fields.extend([("client_id", app.client_id.as_str()), ("client_secret", app.secret.as_str())]);
        let seed = app.env.browser().post_form("/api/oauth/access_token", &fields).await;
        assert!(seed.status < 500, "the seed's URL answered {}", seed.status);
        assert_eq!(seed.json()["code"], 1);
        assert_plain_description(&seed.json());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_refuses_long_uris_large_heads_and_bodies_and_slow_clients() {
    let app = app().await;
    let addr = app.env.gateway_addr;
    let long_query = "x".repeat(16 * 1024);
    let (status, _) =
        raw(addr, format!("GET /oauth/authorize?q={long_query} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes()).await;
    assert_eq!(status, 414);
    let big_header = "h".repeat(64 * 1024);
    let (status, _) =
        raw(addr, format!("GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: {big_header}\r\n\r\n").as_bytes()).await;
    assert_eq!(status, 431);
    let many_headers: String = (0..400).map(|i| format!("X-H{i}: {}\r\n", "v".repeat(40))).collect();
    let (status, _) = raw(addr, format!("GET /healthz HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n").as_bytes()).await;
    assert_eq!(status, 431, "the header section counts, not one header");
    // A body over the limit is refused from its Content-Length, before it is read.
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024
    );
    let (status, answer) = raw(addr, head.as_bytes()).await;
    assert_eq!(status, 413);
    assert!(answer.contains("invalid_request"), "OAuth JSON on the token endpoint: {answer}");
    // A slow client: half a request head, then nothing. The connection is closed after the header timeout.
    let started = std::time::Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "a slow client is cut off");
    assert!(started.elapsed() < Duration::from_secs(5));
    // And the gateway still answers.
    let (status, _) = raw(addr, b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 200);
}

/// A refusal given before any handler runs is in the format of the route it
/// was for: OAuth JSON on every JSON endpoint (RFC 7591 registration,
/// UserInfo, the JWKS, the metadata), the envelope on the REST API, a page
/// on the pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_refusals_answer_in_the_format_of_their_route() {
    let app = app().await;
    let addr = app.env.gateway_addr;
    let long_query = "x".repeat(16 * 1024);
    for (method, path, format) in [
        ("POST", "/oauth/register", "oauth"),
        ("GET", "/oauth/register/some-client", "oauth"),
        ("GET", "/oauth/userinfo", "oauth"),
        ("GET", "/oauth/jwks", "oauth"),
        ("GET", "/.well-known/openid-configuration", "oauth"),
        ("POST", "/oauth/device_authorization", "oauth"),
        ("GET", "/api/applications/some-client", "envelope"),
        ("GET", "/api/current_user", "envelope"),
        ("GET", "/login", "page"),
        ("GET", "/account/applications/some-client/edit", "page"),
    ] {
        let request = format!("{method} {path}?q={long_query} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        let (status, answer) = raw(addr, request.as_bytes()).await;
        assert_eq!(status, 414, "{path}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        match format {
            "oauth" => {
                let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{path}: {answer}"));
                assert_eq!(json["error"], "invalid_request", "{path}: {answer}");
            }
            "envelope" => {
                let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{path}: {answer}"));
                assert!(json["code"].is_number() && json["msg"].is_string(), "{path}: {answer}");
            }
            _ => assert!(answer.to_lowercase().contains("text/html"), "{path}: {answer}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_client_authentication_is_throttled_per_client_and_address() {
    let app = app().await;
    let http = reqwest::Client::new();
    let url = format!("{}/oauth/token", app.env.gateway_url());
    let attempt = |secret: &'static str, from: &'static str| {
        let (http, url, id) = (http.clone(), url.clone(), app.client_id.clone());
        async move {
            let response = http
                .post(url)
                .basic_auth(&id, Some(secret))
                .header("x-forwarded-for", from)
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.headers().get("retry-after").cloned())
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..100 {
        statuses.push(attempt("wrong-secret", "203.0.113.7").await);
    }
    let refused = statuses.iter().filter(|(s, _)| *s == 401).count();
    let throttled: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(refused, 20, "20 failures are answered, then the throttle");
    assert_eq!(throttled.len(), 80);
    assert!(throttled.iter().all(|(_, retry)| retry.is_some()), "429 carries Retry-After");
    // The right secret from the attacker's address is throttled too; from elsewhere it works.
    let secret: &'static str = Box::leak(app.secret.clone().into_boxed_str());
    assert_eq!(attempt(secret, "203.0.113.7").await.0, 429);
    assert_eq!(attempt(secret, "198.51.100.20").await.0, 200, "a legitimate client elsewhere is never locked out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_the_right_secret_is_never_throttled() {
    // More requests in flight than the failure throttle's limit (20 per
    // client and address), all with the right secret: when no success is
    // kept (the first burst, and again once the kept one expired) they
    // must not each take a slot before the check and refuse each other.
    let app = app().await;
    let http = reqwest::Client::new();
    let url = format!("{}/oauth/token", app.env.gateway_url());
    for round in 0..2 {
        let requests = (0..60).map(|_| {
            let request = http
                .post(url.clone())
                .basic_auth(&app.client_id, Some(&app.secret))
                .header("x-forwarded-for", "203.0.113.9")
                .form(&[("grant_type", "client_credentials")]);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        });
        let mut statuses = Vec::new();
        for request in requests.collect::<Vec<_>>() {
            statuses.push(request.await.unwrap());
        }
        assert!(statuses.iter().all(|s| *s == 200), "round {round}: {statuses:?}");
        // Past the kept authentication's lifetime (5 s by default).
        app.env.advance(Duration::from_secs(6));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_tokens_at_the_introspection_endpoint_is_throttled() {
    let mut app = app().await;
    let mut throttled = 0;
    for i in 0..150 {
        let guess = format!("gat_{i:0>58}");
        let page = app
            .browser
            .post_client("/oauth/introspect", Some((&app.client_id.clone(), &app.secret.clone())), &[("token", &guess)])
            .await;
        match page.status {
            200 => assert_eq!(page.json()["active"], false),
            429 => throttled += 1,
            other => panic!("introspection answered {other}"),
        }
    }
    assert_eq!(throttled, 50, "100 unknown tokens, then 429");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rfc_points_a_strict_client_checks() {
    let mut app = app().await;
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let base = app.env.gateway_url();

    // RFC 6749 §2.3.1: no credentials in the URI of the standard endpoint.
    let query = format!("{base}/oauth/token?client_id={}&client_secret={}", app.client_id, app.secret);
    let response = client.post(query).form(&[("grant_type", "client_credentials")]).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");

    // RFC 6750 §2: one transport for the bearer token.
    let both =
        client.get(format!("{base}/api/current_user?access_token={access}")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(both.status(), 400);

    // RFC 7662 §2.2: token_type is the §7.1 type.
    let introspection = app.http_introspect(&access).await;
    assert_eq!(
        (introspection["token_type"].as_str(), introspection["token_use"].as_str()),
        (Some("Bearer"), Some("access_token"))
    );
    let introspection = app.http_introspect(&refresh).await;
    assert_eq!(introspection["token_use"], "refresh_token");

    // RFC 7009 §2.2: 200 with an empty body.
    let revoked = client
        .post(format!("{base}/oauth/revoke"))
        .basic_auth(&app.client_id, Some(&app.secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert!(revoked.text().await.unwrap().is_empty());

    // OpenID Connect Core §3.1.2.1: the authorization endpoint takes POST, and a 405 lists both methods.
    let params = [
        ("client_id", app.client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
        ("scope", "user"),
        ("state", "s1"),
    ];
    let posted = app.browser.post_form("/oauth/authorize", &params).await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    assert!(posted.location().starts_with(CALLBACK) && posted.location().contains("code="));
    let put = client.put(format!("{base}/oauth/authorize")).send().await.unwrap();
    assert_eq!(put.status(), 405);
    let allow = put.headers()["allow"].to_str().unwrap().to_ascii_uppercase();
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow}");

    // RFC 7662 §4: a public client (no secret) cannot introspect, as the metadata says.
    let owner = app.env.create_user("second").await;
    let (public_id, _) = app.env.register_app(&owner, &[CALLBACK], ClientType::Public, &["user"]).await;
    let page =
        app.browser.post_client("/oauth/introspect", None, &[("token", &refresh), ("client_id", &public_id)]).await;
    assert_eq!((page.status, page.json()["error"].as_str()), (401, Some("invalid_client")));
    let meta = app.browser.get("/.well-known/oauth-authorization-server").await.json();
    let methods = meta["introspection_endpoint_auth_methods_supported"].as_array().unwrap();
    assert!(!methods.iter().any(|m| m == "none"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_form_posts_are_refused_behind_the_csrf_token() {
    let env = TestEnv::builder().start().await;
    env.create_user("victim").await;
    let mut browser = env.browser();
    let form = browser.get("/login").await;
    let csrf = form.input("csrf_token").unwrap();
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("username", "victim"),
        ("password", TEST_PASSWORD),
        ("next", "/account/applications"),
    ];
    for headers in [[("origin", "https://evil.example")], [("sec-fetch-site", "cross-site")]] {
        let page = browser.post_form_with("/login", &fields, &headers).await;
        assert_eq!(page.status, 403, "a cross-site login post with a valid CSRF token: {headers:?}");
    }
    let own = env.gateway_url();
    let page =
        browser.post_form_with("/login", &fields, &[("origin", own.as_str()), ("sec-fetch-site", "same-origin")]).await;
    assert_eq!(page.status, 303, "the same post from the gateway's own page signs in");
    // The consent decision and the account pages too.
    let page = browser
        .post_form_with("/oauth/authorize/decision", &[("csrf_token", "x")], &[("origin", "https://evil.example")])
        .await;
    assert_eq!(page.status, 403);
    let page =
        browser.post_form_with("/account/delete", &[("csrf_token", "x")], &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(page.status, 403);
}
