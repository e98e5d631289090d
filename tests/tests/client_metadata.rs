//! Client ID metadata documents: every rule of the fetcher is tried by a
//! real HTTPS server on loopback that breaks it (a redirect, a large body, a
//! slow answer, an error status, a wrong `client_id`, an untrusted
//! certificate), and the address rules by a host that is private (loopback
//! without the operator's allow-list, by IP and by name). Also: errors are
//! never cached, the last good copy serves when a refetch fails, the policy
//! switches, and a document that cannot be used is an error page at the
//! authorization endpoint (never a redirect) and `invalid_client` at the
//! token endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_registry::MetadataDocumentPolicy;
use gatehouse_tests::TestEnv;
use gatehouse_tests::https_server::HttpsServer;
use serde_json::json;

/// What `/flaky.json` answers: 0 the document, 1 HTTP 500, 2 a 403.
type Mode = Arc<AtomicU8>;

fn document(url: &str) -> serde_json::Value {
    json!({
        "client_id": url,
        "client_name": "Document client",
        "redirect_uris": ["https://app.example/callback"],
        "token_endpoint_auth_method": "none",
    })
}

/// A server that tries each rule at its own path. Documents name their own
/// URL, which is known once the server is bound, so they read it from `base`.
async fn hostile_server(mode: Mode) -> (HttpsServer, Arc<tokio::sync::OnceCell<String>>) {
    let base = Arc::new(tokio::sync::OnceCell::<String>::new());
    let at = |base: &Arc<tokio::sync::OnceCell<String>>, path: &'static str| {
        let base = base.clone();
        move || {
            let url = format!("{}{path}", base.get().cloned().unwrap_or_default());
            async move { url }
        }
    };
    let good = at(&base, "/good.json");
    let short = at(&base, "/short-lived.json");
    let flaky = at(&base, "/flaky.json");
    let router = axum::Router::new()
        .route("/good.json", get(move || async move { axum::Json(document(&good().await)) }))
        .route(
            "/redirect.json",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/good.json")]).into_response() }),
        )
        .route(
            "/large.json",
            get(|| async {
                let mut doc = document("x");
                doc["padding"] = json!("a".repeat(6 * 1024));
                axum::Json(doc)
            }),
        )
        .route(
            "/slow.json",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "{}"
            }),
        )
        .route("/missing.json", get(|| async { StatusCode::NOT_FOUND }))
        .route("/other-id.json", get(|| async { axum::Json(document("https://elsewhere.example/client.json")) }))
        .route(
            "/short-lived.json",
            get(move || async move {
                let mut response: Response = axum::Json(document(&short().await)).into_response();
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
                response
            }),
        )
        .route(
            "/flaky.json",
            get(move || {
                let mode = mode.clone();
                async move {
                    let mut response: Response = match mode.load(Ordering::SeqCst) {
                        0 => axum::Json(document(&flaky().await)).into_response(),
                        1 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                        _ => StatusCode::FORBIDDEN.into_response(),
                    };
                    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
                    response
                }
            }),
        );
    let server = HttpsServer::start(router).await;
    base.set(format!("https://{}", server.addr)).unwrap();
    (server, base)
}

async fn env_for(server: &HttpsServer, allow_loopback: bool, trust: bool, policy: MetadataDocumentPolicy) -> TestEnv {
    let ca = server.ca.clone();
    TestEnv::builder()
        .registry_config(move |config| {
            config.metadata_documents.policy = policy;
            // Documents say max-age=0 where a test needs a refetch every time.
            config.metadata_documents.min_cache = Duration::ZERO;
            config.fetch.timeout = Duration::from_millis(800);
            if allow_loopback {
                config.fetch.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
            }
            if trust {
                config.fetch.extra_roots = vec![ca];
            }
        })
        .start()
        .await
}

/// The registry's answer for `client_id`: the application, or the error's message.
async fn lookup(env: &TestEnv, client_id: &str) -> Result<pb::Application, String> {
    env.registry()
        .await
        .get_application(pb::GetApplicationRequest { client_id: client_id.to_owned(), acting_owner_id: String::new() })
        .await
        .map(|r| r.into_inner().application.unwrap())
        .map_err(|status| {
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "a document that cannot be used is invalid_client");
            status.message().to_owned()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fetch_rule_is_enforced_against_a_server_that_breaks_it() {
    let mode = Mode::default();
    let (server, _) = hostile_server(mode.clone()).await;
    let env = env_for(&server, true, true, MetadataDocumentPolicy::Open).await;

    let good = lookup(&env, &server.url("/good.json")).await.expect("a valid document is a client");
    assert_eq!(good.registration, "metadata_document");
    assert_eq!(good.name, "Document client");
    assert_eq!(good.token_endpoint_auth_method, "none");
    assert!(good.secrets.is_empty());

    for (path, reason) in [
        ("/redirect.json", "redirects are not followed"),
        ("/large.json", "larger than 5120 bytes"),
        ("/slow.json", "no answer within"),
        ("/missing.json", "HTTP 404"),
        ("/other-id.json", "not the URL it was fetched from"),
    ] {
        let message = lookup(&env, &server.url(path)).await.expect_err(path);
        assert!(message.contains(reason), "{path}: {message:?} should say {reason:?}");
    }
    // http:// is not a document URL at all (an ordinary unknown client id).
    let plain = env
        .registry()
        .await
        .get_application(pb::GetApplicationRequest {
            client_id: format!("http://{}/good.json", server.addr),
            acting_owner_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(plain.code(), tonic::Code::NotFound);
    let query = lookup(&env, &format!("{}?a=b", server.url("/good.json"))).await.unwrap_err();
    assert!(query.contains("has a query"), "{query}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_never_cached_and_the_last_good_copy_serves_through_a_failure() {
    let mode = Mode::default();
    let (server, _) = hostile_server(mode.clone()).await;
    let env = env_for(&server, true, true, MetadataDocumentPolicy::Open).await;
    let url = server.url("/flaky.json");

    // A failure first: not cached, so the next lookup fetches again and succeeds.
    mode.store(1, Ordering::SeqCst);
    assert!(lookup(&env, &url).await.unwrap_err().contains("HTTP 500"));
    mode.store(0, Ordering::SeqCst);
    lookup(&env, &url).await.expect("fetched again after the failure");
    // Stale at once (max-age=0): each lookup refetches; a 403 or a 500 then
    // falls back on the last good copy instead of locking the client out.
    for failing in [2, 1] {
        mode.store(failing, Ordering::SeqCst);
        let app = lookup(&env, &url).await.expect("the last good copy");
        assert_eq!(app.name, "Document client");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_untrusted_certificates_and_the_policy_are_refused() {
    let (server, _) = hostile_server(Mode::default()).await;
    // Loopback is special-use: without the operator's allow-list it is never fetched, by IP or by name.
    let closed = env_for(&server, false, true, MetadataDocumentPolicy::Open).await;
    let by_ip = lookup(&closed, &server.url("/good.json")).await.unwrap_err();
    assert!(by_ip.contains("special-use address (127.0.0.1)"), "{by_ip}");
    let by_name = lookup(&closed, &format!("https://localhost:{}/good.json", server.addr.port())).await.unwrap_err();
    assert!(by_name.contains("special-use address"), "{by_name}");
    drop(closed);

    // A certificate no trusted root vouches for.
    let untrusted = env_for(&server, true, false, MetadataDocumentPolicy::Open).await;
    let message = lookup(&untrusted, &server.url("/good.json")).await.unwrap_err();
    assert!(message.contains("TLS failed"), "{message}");
    drop(untrusted);

    let off = env_for(&server, true, true, MetadataDocumentPolicy::Off).await;
    assert!(lookup(&off, &server.url("/good.json")).await.unwrap_err().contains("not accepted here"));
    drop(off);
    let listed = env_for(&server, true, true, MetadataDocumentPolicy::AllowHosts(vec!["vscode.dev".to_owned()])).await;
    assert!(lookup(&listed, &server.url("/good.json")).await.unwrap_err().contains("allow-list"));
    drop(listed);
    let admitted = env_for(&server, true, true, MetadataDocumentPolicy::AllowHosts(vec!["127.0.0.1".to_owned()])).await;
    lookup(&admitted, &server.url("/good.json")).await.expect("an allow-listed host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_document_is_an_error_page_and_invalid_client_never_a_redirect() {
    let (server, _) = hostile_server(Mode::default()).await;
    let env = env_for(&server, true, true, MetadataDocumentPolicy::Open).await;
    let mut browser = env.browser();
    for path in ["/redirect.json", "/other-id.json"] {
        let client_id = server.url(path);
        let page = browser
            .get(&format!(
                "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
                url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect::<String>(),
                url::form_urlencoded::byte_serialize(b"https://app.example/callback").collect::<String>(),
            ))
            .await;
        assert_eq!(page.status, 400, "{path}: an error page");
        assert!(page.header("location").is_none(), "{path}: never a redirect");
        assert!(page.body.contains("client metadata document"), "{path}: the page says why");
    }
    // A valid document's client with a redirect URI it does not list: the error page too.
    let page = browser
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            url::form_urlencoded::byte_serialize(server.url("/good.json").as_bytes()).collect::<String>(),
            url::form_urlencoded::byte_serialize(b"https://evil.example/callback").collect::<String>(),
        ))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.header("location").is_none());

    // The token endpoint: 401 invalid_client for a document that cannot be used.
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", env.gateway_url()))
        .form(&[("grant_type", "authorization_code"), ("code", "x"), ("client_id", &server.url("/missing.json"))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_are_bounded_and_the_overflow_is_unavailable_not_the_clients_fault() {
    // A slow document that says when its request arrived: the one fetch permit is then taken.
    let arrived = Arc::new(tokio::sync::Notify::new());
    let signal = arrived.clone();
    let base = Arc::new(tokio::sync::OnceCell::<String>::new());
    let own = base.clone();
    let server = HttpsServer::start(
        axum::Router::new()
            .route(
                "/slow.json",
                get(move || {
                    signal.notify_one();
                    async {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        "{}"
                    }
                }),
            )
            .route(
                "/good.json",
                get(move || {
                    let url = format!("{}/good.json", own.get().cloned().unwrap_or_default());
                    async move { axum::Json(document(&url)) }
                }),
            ),
    )
    .await;
    base.set(format!("https://{}", server.addr)).unwrap();
    let ca = server.ca.clone();
    let env = TestEnv::builder()
        .registry_config(move |config| {
            config.fetch.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
            config.fetch.extra_roots = vec![ca];
            config.fetch.timeout = Duration::from_secs(2);
            config.fetch.max_concurrent = 1;
        })
        .start()
        .await;
    let slow = server.url("/slow.json");
    let mut registry = env.registry().await;
    let holding = tokio::spawn(async move {
        registry.get_application(pb::GetApplicationRequest { client_id: slow, acting_owner_id: String::new() }).await
    });
    arrived.notified().await;
    let overflow = env
        .registry()
        .await
        .get_application(pb::GetApplicationRequest {
            client_id: server.url("/good.json"),
            acting_owner_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(overflow.code(), tonic::Code::Unavailable, "{overflow:?}");
    assert!(holding.await.unwrap().is_err(), "the slow one times out");
    lookup(&env, &server.url("/good.json")).await.expect("a permit is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_document_fails_stays_listed_and_revocable_in_the_persons_authorizations() {
    let mode = Mode::default();
    let (server, _) = hostile_server(mode.clone()).await;
    let ca = server.ca.clone();
    let env = TestEnv::builder()
        .registry_config(move |config| {
            config.fetch.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
            config.fetch.extra_roots = vec![ca];
            // No last good copy: the failure shows at once.
            config.metadata_documents.min_cache = Duration::ZERO;
            config.metadata_documents.stale_for = Duration::ZERO;
        })
        .start()
        .await;
    env.create_user("doc-person").await;
    let mut browser = env.browser();
    browser.login("doc-person", gatehouse_tests::TEST_PASSWORD).await;
    let client_id = server.url("/flaky.json");
    browser
        .authorization_code(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "https://app.example/callback"),
            ("scope", "user"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ])
        .await;
    mode.store(1, Ordering::SeqCst);
    let list = browser.get("/api/authorizations").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let listed = list.json();
    assert_eq!(listed["data"][0]["client_id"], json!(client_id), "{listed}");
    let csrf = browser.get("/api/session").await.json()["data"]["csrf_token"].as_str().unwrap().to_owned();
    let path = format!(
        "/api/authorizations/{}",
        url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect::<String>()
    );
    let revoked = browser.json(reqwest::Method::DELETE, &path, Some(&csrf), None).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(browser.get("/api/authorizations").await.json()["data"].as_array().unwrap().is_empty());
}
