//! The public surface as an attacker tries it after the first hardening
//! round: scopes that mean what they say on every REST operation, tokens
//! only where they belong, and the other classes of abuse, each with its
//! attack and its refusal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use gatehouse_gateway::{REST_ACCESS, RestAccess};
use gatehouse_tests::{Browser, ClientApp, TEST_PASSWORD, TestEnv};
use reqwest::Method;
use serde_json::{Value, json};

/// The catalogue's scope names, as `GET /api/scopes` lists them.
async fn catalogue(env: &TestEnv) -> Vec<String> {
    let answer =
        reqwest::get(format!("{}/api/scopes", env.gateway_url())).await.unwrap().json::<Value>().await.unwrap();
    answer["data"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect()
}

async fn signed_in(env: &TestEnv, username: &str) -> (Browser, String) {
    env.create_user(username).await;
    let mut browser = env.browser();
    browser.login(username, TEST_PASSWORD).await;
    let session = browser.get("/api/session").await.json();
    (browser, session["data"]["csrf_token"].as_str().unwrap().to_owned())
}

/// A personal access token of the signed-in user with `scopes`.
async fn personal_token(browser: &mut Browser, csrf: &str, scopes: &[String]) -> String {
    let body = json!({ "name": format!("t{}", scopes.len()), "scopes": scopes, "expires_in_days": 1 });
    let page = browser.json(Method::POST, "/api/tokens", Some(csrf), Some(body)).await;
    assert_eq!(page.status, 201, "{}", page.body);
    page.json()["data"]["token"].as_str().unwrap().to_owned()
}

/// (status, envelope) of `method path` with `Authorization: Bearer token`.
async fn with_token(env: &TestEnv, method: &str, path: &str, token: &str) -> (u16, Value, Option<String>) {
    let concrete = path.replace("{client_id}", "some-client").replace("{secret_id}", "s").replace("{id}", "x");
    let response = reqwest::Client::new()
        .request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{concrete}", env.gateway_url()))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap_or_default(), challenge)
}

/// Every REST operation of the table, with a token holding every scope but
/// the one its row names: refused. With exactly that scope: reads pass the
/// gate (whatever the handler then says), changes never do. Session-only
/// operations refuse a token holding every scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_rest_operation_answers_a_token_lacking_its_scope() {
    let env = TestEnv::builder().start().await;
    let (mut browser, csrf) = signed_in(&env, "mallory").await;
    let every = catalogue(&env).await;
    let mut tokens = std::collections::HashMap::new();
    let all = personal_token(&mut browser, &csrf, &every).await;
    for (method, path, access) in REST_ACCESS {
        if !path.starts_with("/api/") {
            continue;
        }
        match access {
            RestAccess::Open => {}
            RestAccess::Session | RestAccess::RecentSession => {
                let (status, body, _) = with_token(&env, method, path, &all).await;
                assert!([401, 403].contains(&status) && body["code"] == 1, "{method} {path}: {status} {body}");
            }
            RestAccess::SessionOrScope(scope) | RestAccess::Scope(scope) => {
                if !tokens.contains_key(scope) {
                    let others: Vec<String> = every.iter().filter(|s| s != scope).cloned().collect();
                    let lacking = personal_token(&mut browser, &csrf, &others).await;
                    let holding = personal_token(&mut browser, &csrf, &[(*scope).to_owned()]).await;
                    tokens.insert(*scope, (lacking, holding));
                }
                let (lacking, holding) = &tokens[scope];
                let (status, body, challenge) = with_token(&env, method, path, lacking).await;
                assert_eq!(status, 403, "{method} {path} without {scope}: {body}");
                let challenge = challenge.unwrap_or_default();
                assert!(challenge.contains("insufficient_scope") && challenge.contains(scope), "{challenge}");
                let (status, body, _) = with_token(&env, method, path, holding).await;
                if *method == "GET" {
                    assert!(![401, 403].contains(&status), "{method} {path} with {scope}: {status} {body}");
                } else {
                    assert_eq!(status, 403, "{method} {path}: a token never changes anything: {body}");
                }
            }
        }
    }
}

/// The sample of the class: a third-party application granted `user` reads
/// the profile and nothing of the account's management.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_token_for_the_profile_reads_the_profile_only() {
    let mut app = ClientApp::new(TestEnv::builder().start().await).await;
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, body, _) = with_token(&app.env, "GET", "/api/current_user", &token).await;
    assert_eq!(status, 200, "{body}");
    for path in
        ["/api/applications", "/api/authorizations", "/api/tokens", "/api/resource-servers", "/api/user/security-log"]
    {
        let (status, body, _) = with_token(&app.env, "GET", path, &token).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.to_string().find("owner").is_none() && body["data"].is_null(), "{path} leaked: {body}");
    }
}

/// docs/oauth.md and `openapi.json` say exactly what the table says.
#[test]
fn the_docs_and_the_openapi_document_carry_the_rest_access_table() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/oauth.md")).unwrap();
    assert!(docs.contains(&gatehouse_gateway::rest_access_markdown()), "docs/oauth.md's REST access table differs");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../gateway/openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (method, path, access) in REST_ACCESS {
        let operation = &doc["paths"][path][method.to_lowercase()];
        let expected = match access {
            RestAccess::Open => json!([]),
            RestAccess::Session if *method == "GET" => json!([{ "session": [] }]),
            RestAccess::Session | RestAccess::RecentSession => json!([{ "session": [], "csrf": [] }]),
            RestAccess::SessionOrScope(scope) => json!([{ "session": [] }, { "bearer": [scope] }]),
            RestAccess::Scope(scope) => json!([{ "bearer": [scope] }]),
        };
        assert_eq!(operation["security"], expected, "openapi.json: {method} {path}");
    }
}

/// Access tokens never come from the URL (OAuth 2.1 §5.2), and two
/// `Authorization` headers are refused rather than one silently chosen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refused_in_the_url_and_in_a_second_authorization_header() {
    let env = TestEnv::builder().start().await;
    let grants = [gatehouse_oauth::GrantType::AuthorizationCode, gatehouse_oauth::GrantType::ClientCredentials];
    let mut app = ClientApp::with(env, &grants, &["openid", "user"]).await;
    let code = app.code("openid user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let base = app.env.gateway_url();
    let http = reqwest::Client::new();

    let in_query = http.get(format!("{base}/oauth/userinfo?access_token={token}")).send().await.unwrap();
    assert_eq!(in_query.status(), 400);
    assert_eq!(in_query.json::<Value>().await.unwrap()["error"], "invalid_request");
    let post_query = http
        .post(format!("{base}/oauth/userinfo?access_token={token}"))
        .form(&[("unrelated", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(post_query.status(), 400);
    let in_form = http.post(format!("{base}/oauth/userinfo")).form(&[("access_token", &token)]).send().await.unwrap();
    assert_eq!(in_form.status(), 200, "RFC 6750 §2.2's form body stays");
    let in_header = http.get(format!("{base}/oauth/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(in_header.status(), 200);

    let twice = |path: &str| {
        http.get(format!("{base}{path}"))
            .header("authorization", format!("Bearer {token}"))
            .header("authorization", "Bearer gat_someone-elses")
    };
    for path in ["/oauth/userinfo", "/api/current_user", "/api/applications"] {
        let response = twice(path).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
    }
    let token_endpoint = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&app.client_id, Some(&app.secret))
        .header("authorization", "Basic b3RoZXI6c2VjcmV0")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token_endpoint.status(), 400);
    assert_eq!(token_endpoint.json::<Value>().await.unwrap()["error"], "invalid_request");
}

/// (status, redirect, page) of an authorization request of the signed-in browser.
async fn authorize_once(browser: &mut Browser, params: &[(&str, &str)]) -> (u16, String, String) {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let page = browser.get(&format!("/oauth/authorize?{query}")).await;
    (page.status, page.header("location").unwrap_or_default().to_owned(), page.body)
}

/// RFC 8252 §8.6 and the MCP rules: a client whose redirect cannot identify
/// it (a public client on loopback, a self-registered client) is asked
/// about every time, on a port of anyone's choosing; `prompt=none` gets
/// `consent_required`. A confidential client the user approved is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_is_asked_every_time_of_clients_whose_redirect_proves_nothing() {
    let env = TestEnv::builder()
        .registry_config(|c| c.registration.policy = gatehouse_registry::RegistrationPolicy::Open)
        .start()
        .await;
    let owner = env.create_user("owner").await;
    let spec = gatehouse_tests::AppSpec {
        name: "Native CLI",
        redirect_uris: &["http://127.0.0.1/callback"],
        client_type: gatehouse_proto::pb::common::v1::ClientType::Public,
        scopes: &["user"],
        ..Default::default()
    };
    let (public_id, _) = gatehouse_tests::register_application(&mut env.registry().await, &owner.id, spec).await;
    let registered: Value = reqwest::Client::new()
        .post(format!("{}/oauth/register", env.gateway_url()))
        .json(&json!({ "redirect_uris": ["https://agent.example/cb"], "client_name": "Agent", "scope": "user" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dynamic_id = registered["client_id"].as_str().unwrap().to_owned();
    let confidential = gatehouse_tests::AppSpec { name: "Web app", scopes: &["user"], ..Default::default() };
    let (web_id, _) = gatehouse_tests::register_application(&mut env.registry().await, &owner.id, confidential).await;

    let mut browser = env.browser();
    browser.login("owner", TEST_PASSWORD).await;
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    for (client_id, redirect, later_redirect, asked_again) in [
        (public_id.as_str(), "http://127.0.0.1:5555/callback", "http://127.0.0.1:6666/callback", true),
        (dynamic_id.as_str(), "https://agent.example/cb", "https://agent.example/cb", true),
        (web_id.as_str(), gatehouse_tests::CALLBACK, gatehouse_tests::CALLBACK, false),
    ] {
        let params = |redirect: &'static str| {
            vec![
                ("client_id", client_id),
                ("response_type", "code"),
                ("scope", "user"),
                ("redirect_uri", redirect),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ]
        };
        let redirect: &'static str = Box::leak(redirect.to_owned().into_boxed_str());
        let later: &'static str = Box::leak(later_redirect.to_owned().into_boxed_str());
        let first = browser.authorize(&params(redirect)).await;
        assert!(first.contains("code="), "{first}");
        let (status, location, page) = authorize_once(&mut browser, &params(later)).await;
        if asked_again {
            assert_eq!(status, 200, "{client_id}: the consent page again, not a silent code: {location}");
            assert!(page.contains("Read your public profile"), "the page says what the approval gives: {page}");
        } else {
            assert_eq!(status, 303, "{client_id}");
            assert!(location.contains("code="), "{location}");
        }
        let mut silent = params(later);
        silent.push(("prompt", "none"));
        let (status, location, _) = authorize_once(&mut browser, &silent).await;
        assert_eq!(status, 303);
        if asked_again {
            assert!(location.contains("error=consent_required") && !location.contains("code="), "{location}");
        } else {
            assert!(location.contains("code="), "{location}");
        }
    }
}

/// Bidirectional overrides, isolates and invisible characters are refused
/// in every name, text and URI a person reads, whichever door it comes
/// through; the pages isolate what others wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_that_could_lie_on_a_page_is_refused_at_every_door() {
    let env = TestEnv::builder()
        .registry_config(|c| {
            c.registration.policy = gatehouse_registry::RegistrationPolicy::Open;
            c.resource_servers = gatehouse_registry::ResourceServerPolicy::Users;
        })
        .start()
        .await;
    let (mut browser, csrf) = signed_in(&env, "victor").await;
    let deceptive = ["Good App\u{202E}gpj.exe", "Good\u{2066}App", "Good\u{200B}App", "Good\u{0007}App"];
    for text in deceptive {
        let app = json!({ "name": text, "redirect_uris": ["https://ok.example/cb"] });
        let page = browser.json(Method::POST, "/api/applications", Some(&csrf), Some(app)).await;
        assert_eq!(page.status, 400, "{text:?}: {}", page.body);
        assert!(!page.body.contains(text), "the text is never echoed");
        let uri = format!("https://ok.example/{text}");
        let app = json!({ "name": "Fine", "redirect_uris": [uri] });
        let page = browser.json(Method::POST, "/api/applications", Some(&csrf), Some(app)).await;
        assert_eq!(page.status, 400, "redirect URI {text:?}: {}", page.body);
        let app = json!({ "name": "Fine", "description": text, "redirect_uris": ["https://ok.example/cb"] });
        let page = browser.json(Method::POST, "/api/applications", Some(&csrf), Some(app)).await;
        assert_eq!(page.status, 400, "description {text:?}: {}", page.body);
        let server = json!({ "name": text, "identifier": "https://api.ok.example/" });
        let page = browser.json(Method::POST, "/api/resource-servers", Some(&csrf), Some(server)).await;
        assert_eq!(page.status, 400, "resource server {text:?}: {}", page.body);
        let token = json!({ "name": text, "scopes": ["user"], "expires_in_days": 1 });
        let page = browser.json(Method::POST, "/api/tokens", Some(&csrf), Some(token)).await;
        assert_eq!(page.status, 400, "personal token {text:?}: {}", page.body);
        let registered = reqwest::Client::new()
            .post(format!("{}/oauth/register", env.gateway_url()))
            .json(&json!({ "redirect_uris": ["https://agent.example/cb"], "client_name": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 400, "dynamic registration {text:?}");
        assert_eq!(registered.json::<Value>().await.unwrap()["error"], "invalid_client_metadata");
    }
    // Right-to-left names themselves are welcome, and shown isolated.
    let app = json!({ "name": "تطبيق جيد", "redirect_uris": [gatehouse_tests::CALLBACK], "scopes": ["user"] });
    let page = browser.json(Method::POST, "/api/applications", Some(&csrf), Some(app)).await;
    assert_eq!(page.status, 201, "{}", page.body);
    let client_id = page.json()["data"]["client_id"].as_str().unwrap().to_owned();
    let query =
        format!("client_id={client_id}&response_type=code&scope=user&redirect_uri={}", gatehouse_tests::CALLBACK);
    let consent = browser.get(&format!("/oauth/authorize?{query}")).await;
    assert_eq!(consent.status, 200);
    assert!(consent.body.contains("<bdi>تطبيق جيد</bdi>"), "{}", consent.body);
}

/// A REST refusal names the rule and where, never the sender's text: not an
/// unknown member's name, not a wrong value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_errors_never_repeat_what_was_sent() {
    let env = TestEnv::builder().start().await;
    let (mut browser, csrf) = signed_in(&env, "wendy").await;
    let marker = "ZZ-sent-by-the-caller-ZZ";
    for (path, body) in [
        ("/api/applications", json!({ marker: 1 })),
        ("/api/applications", json!({ "name": [marker] })),
        ("/api/applications", json!({ "name": "x", "redirect_uris": marker })),
        ("/api/resource-servers", json!({ marker: true })),
        ("/api/tokens", json!({ "name": { marker: 1 } })),
    ] {
        let page = browser.json(Method::POST, path, Some(&csrf), Some(body)).await;
        assert_eq!((page.status, page.json()["code"].as_i64()), (400, Some(1)), "{path}: {}", page.body);
        assert!(!page.body.contains("ZZ-sent"), "{path} repeats the input: {}", page.body);
        assert!(page.body.contains("line 1, column"), "{path} says where: {}", page.body);
    }
}

/// An anonymous registrant gets only the grants a user authorizes; with an
/// operator's initial access token it may get `client_credentials`, whose
/// tokens reach only resource servers that admit application tokens, and
/// which `gatehouse-client`'s layer refuses unless told otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_registration_never_reaches_machine_tokens() {
    use axum::routing::get;
    use gatehouse_client::RequireScopes;
    let env = TestEnv::builder()
        .registry_config(|c| c.registration.policy = gatehouse_registry::RegistrationPolicy::Open)
        .start()
        .await;
    let owner = env.create_user("owner").await;
    let api = "https://api.owner.example/";
    let open_api = "https://machines.owner.example/";
    for (identifier, application_tokens) in [(api, false), (open_api, true)] {
        let request = gatehouse_proto::pb::registry::v1::CreateResourceServerRequest {
            owner_id: owner.id.clone(),
            name: "API".to_owned(),
            identifier: identifier.to_owned(),
            any_client: true,
            application_tokens,
            ..Default::default()
        };
        env.registry_as(env.as_role(gatehouse_runtime::access::Role::Operator))
            .await
            .create_resource_server(request)
            .await
            .unwrap();
    }
    let http = reqwest::Client::new();
    let register = |token: Option<String>, body: Value| {
        let mut request = http.post(format!("{}/oauth/register", env.gateway_url())).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let machine = json!({ "grant_types": ["client_credentials"], "client_name": "Bot", "scope": "user" });
    let (status, body) = register(None, machine.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")), "{body}");
    // Nor by an update of an anonymous registration.
    let (status, human) = register(None, json!({ "redirect_uris": ["https://agent.example/cb"] })).await;
    assert_eq!(status, 201, "{human}");
    let update = http
        .put(human["registration_client_uri"].as_str().unwrap())
        .bearer_auth(human["registration_access_token"].as_str().unwrap())
        .json(&json!({
            "client_id": human["client_id"], "redirect_uris": ["https://agent.example/cb"],
            "grant_types": ["authorization_code", "client_credentials"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), 400);

    let iat = env.initial_access_token().await;
    let (status, bot) = register(Some(iat), machine).await;
    assert_eq!(status, 201, "{bot}");
    let (id, secret) = (bot["client_id"].as_str().unwrap(), bot["client_secret"].as_str().unwrap());
    let token = |resource: &'static str| {
        http.post(format!("{}/oauth/token", env.gateway_url()))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("resource", resource)])
            .send()
    };
    let refused = token(api).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_target");
    let admitted: Value = token(open_api).await.unwrap().json().await.unwrap();
    let access = admitted["access_token"].as_str().expect("a resource that admits application tokens").to_owned();

    // The layer refuses a token with no user unless told otherwise.
    let channel = env.validator_channel();
    let app = axum::Router::new()
        .route("/for-users", get(|| async { "ok" }).layer(RequireScopes::new(channel.clone(), ["user"])))
        .route(
            "/for-machines",
            get(|| async { "ok" }).layer(RequireScopes::new(channel, ["user"]).allow_without_user()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let for_users = http.get(format!("{base}/for-users")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(for_users.status(), 401);
    let challenge = for_users.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("insufficient_user_authentication"), "{challenge}");
    let for_machines = http.get(format!("{base}/for-machines")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(for_machines.status(), 200);
    // Two Authorization headers reach no route of the layer either.
    let twice = http
        .get(format!("{base}/for-machines"))
        .header("authorization", format!("Bearer {access}"))
        .header("authorization", "Bearer gat_another")
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
}

/// Identifiers become the audience of tokens Gatehouse signs: by default
/// only an operator claims one; nobody claims Gatehouse's own endpoints or
/// a client's id; a URL that is an identifier is no client; and a JWT
/// access token says what it is (`typ`, `azp`), so that no relying party
/// takes it for an ID token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_nobody_may_claim_and_access_tokens_that_are_no_id_tokens() {
    let closed = TestEnv::builder().start().await;
    let (mut browser, csrf) = signed_in(&closed, "yara").await;
    let server = json!({ "name": "API", "identifier": "https://api.yara.example/" });
    let page = browser.json(Method::POST, "/api/resource-servers", Some(&csrf), Some(server)).await;
    assert_eq!(page.status, 403, "operators register resource servers by default: {}", page.body);
    drop(closed);

    let env = TestEnv::builder()
        .registry_config(|c| c.resource_servers = gatehouse_registry::ResourceServerPolicy::Users)
        .start()
        .await;
    let (mut browser, csrf) = signed_in(&env, "yara").await;
    let app = json!({ "name": "Victim", "redirect_uris": [gatehouse_tests::CALLBACK], "scopes": ["user", "openid"] });
    let victim = browser.json(Method::POST, "/api/applications", Some(&csrf), Some(app)).await.json();
    let victim_id = victim["data"]["client_id"].as_str().unwrap().to_owned();
    let issuer = env.gateway_url();
    // The same origin spelled otherwise is the same origin.
    let shouted = issuer.replace("http://", "HTTP://");
    for identifier in [
        issuer.clone(),
        format!("{issuer}/"),
        format!("{issuer}/oauth/token"),
        format!("{shouted}/api/current_user"),
        victim_id.clone(),
    ] {
        let server = json!({ "name": "Mine", "identifier": identifier });
        let page = browser.json(Method::POST, "/api/resource-servers", Some(&csrf), Some(server)).await;
        assert_eq!(page.status, 400, "{identifier}: {}", page.body);
    }
    // A URL registered as an identifier is never a metadata-document client.
    let url = "https://agents.example/client.json";
    let server = json!({ "name": "Agents API", "identifier": url, "token_format": "jwt", "any_client": true });
    let page = browser.json(Method::POST, "/api/resource-servers", Some(&csrf), Some(server)).await;
    assert_eq!(page.status, 201, "{}", page.body);
    let lookup = env
        .registry()
        .await
        .get_application(gatehouse_proto::pb::registry::v1::GetApplicationRequest {
            client_id: url.to_owned(),
            acting_owner_id: String::new(),
            client_address: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(lookup.code(), tonic::Code::Unauthenticated, "{lookup:?}");
    assert!(lookup.message().contains("resource server's identifier"), "{lookup:?}");

    // A JWT access token for that identifier: typ at+jwt, azp the client it was issued to.
    let server = json!({ "name": "Open API", "identifier": "https://open.yara.example/", "token_format": "jwt", "any_client": true });
    let page = browser.json(Method::POST, "/api/resource-servers", Some(&csrf), Some(server)).await;
    assert_eq!(page.status, 201, "{}", page.body);
    let mut client = ClientApp::with(env, &[gatehouse_oauth::GrantType::AuthorizationCode], &["user"]).await;
    let code = client.authorize("user", &[("resource", "https://open.yara.example/")]).await;
    let code = gatehouse_tests::query_pairs(&code).into_iter().find(|(k, _)| k == "code").unwrap().1;
    let (_, tokens) = client
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", gatehouse_tests::CALLBACK),
            ("resource", "https://open.yara.example/"),
        ])
        .await;
    let jwt = tokens["access_token"].as_str().unwrap();
    let part = |i: usize| -> Value {
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, jwt.split('.').nth(i).unwrap());
        serde_json::from_slice(&bytes.unwrap()).unwrap()
    };
    assert_eq!(part(0)["typ"], "at+jwt");
    assert_eq!(part(1)["azp"], json!(client.client_id));
    assert_eq!(part(1)["aud"], json!(["https://open.yara.example/"]));
}

/// Registration access tokens (RFC 7592) look like nothing else (`gra_`),
/// are replaced on every use, expire, and are revoked by value like any
/// token Gatehouse issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_access_tokens_are_their_own_kind_rotate_expire_and_revoke_by_value() {
    let open = |ttl: Option<std::time::Duration>| {
        TestEnv::builder()
            .registry_config(move |c| {
                c.registration.policy = gatehouse_registry::RegistrationPolicy::Open;
                c.registration.access_token_ttl = ttl;
            })
            .start()
    };
    let http = reqwest::Client::new();
    let register = async |env: &TestEnv| -> Value {
        http.post(format!("{}/oauth/register", env.gateway_url()))
            .json(&json!({ "redirect_uris": ["https://agent.example/cb"] }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let read = async |client: &Value, token: &str| -> u16 {
        let uri = client["registration_client_uri"].as_str().unwrap();
        http.get(uri).bearer_auth(token).send().await.unwrap().status().as_u16()
    };

    let env = open(Some(std::time::Duration::from_secs(3600))).await;
    let client = register(&env).await;
    let token = client["registration_access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("gra_"), "{token}");
    // Revoked by its value (a reported leak), through the one by-value door.
    let revoked = env
        .token_as(env.as_role(gatehouse_runtime::access::Role::Operator))
        .await
        .revoke_token_by_value(gatehouse_proto::pb::token::v1::RevokeTokenByValueRequest { token: token.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.found, "{revoked:?}");
    assert_eq!(revoked.token_type, "registration_access_token");
    assert_eq!(revoked.client_id, client["client_id"].as_str().unwrap());
    assert_eq!(read(&client, &token).await, 401, "revoked");
    drop(env);

    // Expired: a lifetime of nothing.
    let env = open(Some(std::time::Duration::ZERO)).await;
    let client = register(&env).await;
    let token = client["registration_access_token"].as_str().unwrap().to_owned();
    assert_eq!(read(&client, &token).await, 401, "expired");
}

/// The sign-in and sign-up forms' token is a signature over the form
/// cookie's nonce, not the nonce itself: whoever plants a cookie (a sibling
/// subdomain, where prefixes do not apply) cannot write the matching field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_form_cookie_has_no_matching_token() {
    let env = TestEnv::builder().start().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{}/login", env.gateway_url())).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("gatehouse_form="))
        .unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let nonce = pair.split_once('=').unwrap().1.to_owned();
    let body = page.text().await.unwrap();
    let token = body.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert_ne!(token, nonce, "the field is not the cookie's value");
    let signup = |cookie: String, field: String, name: &'static str| {
        let form = [
            ("username", name.to_owned()),
            ("email", format!("{name}@example.com")),
            ("password", TEST_PASSWORD.to_owned()),
            ("csrf_token", field),
        ];
        http.post(format!("{}/signup", env.gateway_url())).header("cookie", cookie).form(&form).send()
    };
    let planted = "p".repeat(43);
    assert_eq!(signup(format!("gatehouse_form={planted}"), planted.clone(), "eve1").await.unwrap().status(), 403);
    assert_eq!(signup(pair.clone(), nonce.clone(), "eve2").await.unwrap().status(), 403, "a bare double submit");
    assert_eq!(signup(pair, token, "zoe").await.unwrap().status(), 303);
}
