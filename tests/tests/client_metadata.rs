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
use gatehouse_fetch::FetchProxy;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_registry::MetadataDocumentPolicy;
use gatehouse_registry::RegistryConfig;
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

/// `router` served with `/good.json` beside it: a valid document naming its
/// own URL, which is known once the server is bound.
async fn with_good_document(router: axum::Router) -> HttpsServer {
    let base = Arc::new(tokio::sync::OnceCell::<String>::new());
    let own = base.clone();
    let router = router.route(
        "/good.json",
        get(move || {
            let url = format!("{}/good.json", own.get().cloned().unwrap_or_default());
            async move { axum::Json(document(&url)) }
        }),
    );
    let server = HttpsServer::start(router).await;
    base.set(format!("https://{}", server.addr)).unwrap();
    server
}

async fn env_for(server: &HttpsServer, allow_loopback: bool, trust: bool, policy: MetadataDocumentPolicy) -> TestEnv {
    trusting(server, move |config| {
        config.metadata_documents.policy = policy;
        // Documents say max-age=0 where a test needs a refetch every time.
        config.metadata_documents.min_cache = Duration::ZERO;
        config.fetch.timeout = Duration::from_millis(800);
        if !allow_loopback {
            config.fetch.allow_networks.clear();
        }
        if !trust {
            config.fetch.extra_roots.clear();
        }
    })
    .await
}

/// Gatehouse fetching from `server` (loopback admitted, its CA trusted), the
/// rest of the registry's settings as `change` makes them.
async fn trusting(server: &HttpsServer, change: impl FnOnce(&mut RegistryConfig)) -> TestEnv {
    let ca = server.ca.clone();
    TestEnv::builder()
        .registry_config(move |config| {
            config.fetch.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
            config.fetch.extra_roots = vec![ca];
            change(config);
        })
        .start()
        .await
}

/// The registry's answer for `client_id`: the application, or the error's message.
async fn lookup(env: &TestEnv, client_id: &str) -> Result<pb::Application, String> {
    env.registry()
        .await
        .get_application(pb::GetApplicationRequest {
            client_id: client_id.to_owned(),
            acting_owner_id: String::new(),
            client_address: String::new(),
        })
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
        ("/slow.json", "promptly, with a certificate"),
        ("/missing.json", "must answer HTTP 200"),
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
            client_address: String::new(),
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
    assert!(lookup(&env, &url).await.unwrap_err().contains("must answer HTTP 200"));
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
    assert!(by_ip.contains("public Internet addresses only") && !by_ip.contains("127.0.0.1"), "{by_ip}");
    let by_name = lookup(&closed, &format!("https://localhost:{}/good.json", server.addr.port())).await.unwrap_err();
    assert!(by_name.contains("public Internet addresses only") && !by_name.contains("127.0.0.1"), "{by_name}");
    drop(closed);

    // A certificate no trusted root vouches for.
    let untrusted = env_for(&server, true, false, MetadataDocumentPolicy::Open).await;
    let message = lookup(&untrusted, &server.url("/good.json")).await.unwrap_err();
    assert!(message.contains("promptly, with a certificate"), "{message}");
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
    // A slow host too (3 s, past the 0.8 s fetch deadline): its own error, within the RPC deadline.
    for path in ["/redirect.json", "/other-id.json", "/slow.json"] {
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
    let server = with_good_document(axum::Router::new().route(
        "/slow.json",
        get(move || {
            signal.notify_one();
            async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "{}"
            }
        }),
    ))
    .await;
    let env = trusting(&server, |config| {
        config.fetch.timeout = Duration::from_secs(2);
        config.fetch.max_concurrent = 1;
    })
    .await;
    let slow = server.url("/slow.json");
    let mut registry = env.registry().await;
    let holding = tokio::spawn(async move {
        registry
            .get_application(pb::GetApplicationRequest {
                client_id: slow,
                acting_owner_id: String::new(),
                client_address: String::new(),
            })
            .await
    });
    arrived.notified().await;
    let overflow = env
        .registry()
        .await
        .get_application(pb::GetApplicationRequest {
            client_id: server.url("/good.json"),
            acting_owner_id: String::new(),
            client_address: String::new(),
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

/// Many sign-ins of one client at once, its document not yet cached (or gone
/// stale): one request reaches its host and every asker gets the result; a
/// failure is shared by those who asked while it ran and is not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_of_one_document_share_one_fetch() {
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let base = Arc::new(tokio::sync::OnceCell::<String>::new());
    let (counted, fails, own) = (requests.clone(), failing.clone(), base.clone());
    let server = HttpsServer::start(axum::Router::new().route(
        "/popular.json",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let fail = fails.load(Ordering::SeqCst);
            let url = format!("{}/popular.json", own.get().cloned().unwrap_or_default());
            async move {
                // Long enough for every concurrent lookup to join this fetch.
                tokio::time::sleep(Duration::from_secs(2)).await;
                if fail {
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                } else {
                    axum::Json(document(&url)).into_response()
                }
            }
        }),
    ))
    .await;
    base.set(format!("https://{}", server.addr)).unwrap();
    let env = trusting(&server, |_| {}).await;
    let url = server.url("/popular.json");
    let many = async |env: &TestEnv| {
        let mut lookups = Vec::new();
        for _ in 0..16 {
            let (mut registry, client_id) = (env.registry().await, url.clone());
            lookups.push(tokio::spawn(async move {
                registry
                    .get_application(pb::GetApplicationRequest {
                        client_id,
                        acting_owner_id: String::new(),
                        client_address: String::new(),
                    })
                    .await
            }));
        }
        let mut answers = Vec::new();
        for lookup in lookups {
            answers.push(lookup.await.unwrap());
        }
        answers
    };

    let answers = many(&env).await;
    assert!(
        answers.iter().all(|a| a.as_ref().is_err_and(|s| s.message().contains("must answer HTTP 200"))),
        "{answers:?}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1, "sixteen lookups, one fetch");
    failing.store(false, Ordering::SeqCst);
    let answers = many(&env).await;
    assert!(answers.iter().all(Result::is_ok), "the failure was not kept: {answers:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 2, "and again one fetch");
}

/// A CONNECT proxy on loopback that records what it was asked to reach and
/// wants `Proxy-Authorization: Basic` of `gatehouse:pa ss@1` (else 407).
async fn egress_proxy() -> (String, Arc<tokio::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let asked = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let record = asked.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else { continue };
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let Ok(byte) = client.read_u8().await else { return };
                    head.push(byte);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                record.lock().await.push(target.clone());
                let expected = format!("Basic {}", base64_of("gatehouse:pa ss@1"));
                if !head.lines().any(|line| line == format!("Proxy-Authorization: {expected}")) {
                    let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
                    return;
                }
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (address, asked)
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Behind an egress proxy the fetcher tunnels to the address it checked
/// (the proxy never gets a name to resolve), TLS still verifies the name,
/// the address rules still apply first, and a proxy that refuses is a clear
/// error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_go_through_the_egress_proxy_to_the_vetted_address() {
    let base = Arc::new(tokio::sync::OnceCell::<String>::new());
    let own = base.clone();
    let server = HttpsServer::start(axum::Router::new().route(
        "/client.json",
        get(move || {
            let url = format!("{}/client.json", own.get().cloned().unwrap_or_default());
            async move { axum::Json(document(&url)) }
        }),
    ))
    .await;
    let port = server.addr.port();
    base.set(format!("https://localhost:{port}")).unwrap();
    let by_name = format!("https://localhost:{port}/client.json");
    let (proxy, asked) = egress_proxy().await;
    let with_proxy = async |credentials: &str, allow_loopback: bool| {
        let proxy = FetchProxy::parse(&format!("http://{credentials}@{proxy}")).unwrap();
        trusting(&server, move |config| {
            config.fetch.allow_networks = if allow_loopback {
                vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
            } else {
                Vec::new()
            };
            config.fetch.proxy = Some(proxy);
        })
        .await
    };

    let env = with_proxy("gatehouse:pa%20ss%401", true).await;
    let app = lookup(&env, &by_name).await.expect("fetched through the tunnel");
    assert_eq!(app.name, "Document client");
    let targets = asked.lock().await.clone();
    assert_eq!(targets.len(), 1, "{targets:?}");
    let target: std::net::SocketAddr = targets[0].parse().expect("the tunnel names an address, not localhost");
    assert!(target.ip().is_loopback() && target.port() == port, "{target}");
    // A host the proxy cannot reach (502) is that host's failure: invalid_client, as without a proxy.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = lookup(&env, &format!("https://127.0.0.1:{closed}/client.json")).await.unwrap_err();
    assert!(unreachable.contains("promptly, with a certificate"), "{unreachable}");
    drop(env);

    let wrong = with_proxy("gatehouse:wrong", true).await;
    let refused = wrong
        .registry()
        .await
        .get_application(pb::GetApplicationRequest {
            client_id: format!("https://127.0.0.1:{port}/client.json"),
            acting_owner_id: String::new(),
            client_address: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "the deployment's outage, not the client's fault");
    assert!(refused.message().contains("egress proxy refused the tunnel (HTTP 407)"), "{refused:?}");
    drop(wrong);

    // The address rules come first: a private host is refused before the proxy hears of it.
    asked.lock().await.clear();
    let closed = with_proxy("gatehouse:pa%20ss%401", false).await;
    let special = lookup(&closed, &by_name).await.unwrap_err();
    assert!(special.contains("public Internet addresses only"), "{special}");
    assert!(asked.lock().await.is_empty(), "the proxy was never asked");
}

/// One stranger sending slow document URLs holds at most its share of the
/// fetcher (per address), and one slow host at most its share (per host):
/// everyone else's documents are still fetched. Counted at the server:
/// how many of the stranger's fetches reached it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stranger_or_one_slow_host_holds_only_its_share_of_the_fetcher() {
    use std::sync::atomic::AtomicUsize;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = with_good_document(axum::Router::new().route(
        "/slow/{n}",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "{}"
            }
        }),
    ))
    .await;
    let env = trusting(&server, |config| {
        config.fetch.timeout = Duration::from_secs(3);
        config.fetch.max_concurrent = 8;
        config.fetch.max_per_requester = 2;
        config.fetch.max_per_host = 4;
        config.fetch.allow_networks.push("::1/128".parse().unwrap());
    })
    .await;
    let port = server.addr.port();
    let registry = env.registry().await;
    let ask = |client_id: String, address: &'static str| {
        let mut registry = registry.clone();
        async move {
            let request = pb::GetApplicationRequest {
                client_id,
                acting_owner_id: String::new(),
                client_address: address.to_owned(),
            };
            registry.get_application(request).await
        }
    };
    // Two strangers, twelve slow documents each, all on one host ("localhost").
    let mut stranger = Vec::new();
    for (address, from) in [("198.51.100.66", 0), ("198.51.100.67", 100)] {
        for n in from..from + 12 {
            stranger.push(tokio::spawn(ask(format!("https://localhost:{port}/slow/{n}.json"), address)));
        }
    }
    gatehouse_tests::until(Duration::from_secs(5), "the strangers' fetches reach the host", || {
        let arrived = hits.load(Ordering::SeqCst) >= 4;
        async move { arrived }
    })
    .await;
    // Someone else's document, from another host, is fetched meanwhile.
    let answer = ask(server.url("/good.json"), "203.0.113.5").await.expect("a fair share is left for others");
    assert_eq!(answer.into_inner().application.unwrap().name, "Document client");
    let mut refused = 0;
    for task in stranger {
        let status = task.await.unwrap().expect_err("slow documents never arrive");
        if status.code() == tonic::Code::Unavailable {
            refused += 1;
        }
    }
    assert_eq!(hits.load(Ordering::SeqCst), 4, "two per stranger, four for the host: the rest never left");
    assert!(refused >= 20, "the stranger's overflow is refused at once: {refused}");
}
