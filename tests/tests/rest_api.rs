//! The REST API through the real gateway: its envelope, its authentication
//! (session cookie plus CSRF header), and the OpenAPI document that
//! describes it, checked against the router and against real responses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_tests::{Browser, TEST_PASSWORD, TestEnv};
use reqwest::Method;
use serde_json::{Value, json};

fn openapi() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../gateway/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (METHOD, /path/{param}) of every `/api` route, and the JSON OAuth API of
/// dynamic registration (`/oauth/register`), in the gateway's route table.
fn routed() -> Vec<(String, String)> {
    let source = include_str!("../../gateway/src/routes.rs");
    let mut out = Vec::new();
    // One row of the route table: `Route { path: "...", surface: ..., methods: || get(..).post(..) },`
    for chunk in source.split("Route {").skip(1) {
        let chunk = chunk.split("},").next().unwrap();
        if !chunk.trim_start().starts_with("path: \"") {
            continue;
        }
        let Some(path) = chunk.split('"').nth(1) else { continue };
        if !path.starts_with("/api/") && !path.starts_with("/oauth/register") {
            continue;
        }
        for method in ["get", "post", "patch", "put", "delete"] {
            if chunk.contains(&format!("{method}(")) {
                out.push((method.to_owned(), path.to_owned()));
            }
        }
    }
    out.sort();
    out
}

fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            out.push((method.clone(), path.clone()));
        }
    }
    out.sort();
    out
}

/// The required properties of a schema (following `$ref` and `allOf`).
fn required(doc: &Value, schema: &Value) -> Vec<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return required(doc, &doc["components"]["schemas"][name]);
    }
    let mut out: Vec<String> = schema["required"]
        .as_array()
        .map(|r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(required(doc, part));
    }
    out
}

fn assert_matches_schema(doc: &Value, schema_name: &str, value: &Value) {
    for key in required(doc, &json!({ "$ref": format!("#/components/schemas/{schema_name}") })) {
        assert!(value.get(&key).is_some(), "{schema_name} response lacks {key}: {value}");
    }
}

#[test]
fn openapi_document_lists_exactly_the_routed_api() {
    let doc = openapi();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    assert_eq!(documented(&doc), routed(), "openapi.json and gateway/src/routes.rs disagree");
}

/// The document's grant types are the server's one enumeration, so that a
/// new grant cannot be left out of it.
#[test]
fn openapi_grant_types_are_the_servers() {
    let doc = openapi();
    let documented = &doc["components"]["schemas"]["Application"]["properties"]["grant_types"]["items"]["enum"];
    let supported: Vec<&str> = gatehouse_oauth::GrantType::ALL.iter().map(|g| g.as_str()).collect();
    assert_eq!(documented, &json!(supported), "gateway/openapi.json's grant_types");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_in_the_envelope() {
    let env = TestEnv::builder().start().await;
    let mut anonymous = env.browser();
    for (method, path) in documented(&openapi()) {
        let concrete = path.replace("{client_id}", "some-client").replace("{secret_id}", "some-secret");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let page = anonymous.json(method.clone(), &concrete, None, Some(json!({}))).await;
        let body = page.json();
        if path == "/api/scopes" {
            assert_eq!((page.status, body["code"].as_i64()), (200, Some(0)));
        } else if path.starts_with("/oauth/register") {
            // RFC 7591/7592 answer OAuth error JSON, not the envelope: off by
            // default (403), and no registration access token (401).
            let expected = if path == "/oauth/register" { (403, "access_denied") } else { (401, "invalid_token") };
            assert_eq!(
                (page.status, body["error"].as_str().unwrap_or_default()),
                expected,
                "{method} {path}: {}",
                page.body
            );
        } else if path == "/api/oauth/access_token" {
            assert_eq!((page.status, body["code"].as_i64()), (400, Some(1)), "{method} {path}: {}", page.body);
        } else {
            assert_eq!(page.status, 401, "{method} {path}: {}", page.body);
            assert_eq!(body["code"], 1);
            assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
    let unknown = anonymous.get("/api/nope").await;
    assert_eq!((unknown.status, unknown.json()["code"].as_i64()), (404, Some(1)));
}

async fn signed_in(env: &TestEnv, username: &str) -> (Browser, String) {
    env.create_user(username).await;
    let mut browser = env.browser();
    browser.login(username, TEST_PASSWORD).await;
    let session = browser.get("/api/session").await.json();
    assert_matches_schema(&openapi(), "Session", &session["data"]);
    let csrf = session["data"]["csrf_token"].as_str().unwrap().to_owned();
    (browser, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_management_over_rest() {
    let env = TestEnv::builder().start().await;
    let doc = openapi();
    let (mut me, csrf) = signed_in(&env, "olivia").await;
    let body = json!({ "name": "REST app", "redirect_uris": ["https://rest.example/cb"], "scopes": ["user"] });

    let forged = me.json(Method::POST, "/api/applications", None, Some(body.clone())).await;
    assert_eq!((forged.status, forged.json()["code"].as_i64()), (403, Some(1)), "writes need the CSRF header");
    let bad = me
        .json(
            Method::POST,
            "/api/applications",
            Some(&csrf),
            Some(json!({ "name": "x", "redirect_uris": ["http://evil.example/cb"] })),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["msg"].as_str().unwrap().starts_with("redirect_uris:"));
    let unknown_field = me.json(Method::POST, "/api/applications", Some(&csrf), Some(json!({ "nmae": "typo" }))).await;
    assert_eq!(unknown_field.status, 400);

    let created = me.json(Method::POST, "/api/applications", Some(&csrf), Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let app = created.json()["data"].clone();
    assert_matches_schema(&doc, "NewApplication", &app);
    assert!(app["client_secret"].as_str().unwrap().starts_with("gcs_"));
    let client_id = app["client_id"].as_str().unwrap().to_owned();

    let listed = me.get("/api/applications").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(listed["data"][0].get("client_secret").is_none(), "a secret is shown only once");
    assert_matches_schema(&doc, "Application", &listed["data"][0]);

    let patched = me
        .json(Method::PATCH, &format!("/api/applications/{client_id}"), Some(&csrf), Some(json!({ "name": "Renamed" })))
        .await;
    assert_eq!(patched.json()["data"]["name"], "Renamed");
    let retype = me
        .json(
            Method::PATCH,
            &format!("/api/applications/{client_id}"),
            Some(&csrf),
            Some(json!({ "client_type": "public" })),
        )
        .await;
    assert_eq!(retype.status, 400);

    let secret = me.json(Method::POST, &format!("/api/applications/{client_id}/secrets"), Some(&csrf), None).await;
    assert_eq!(secret.status, 201);
    assert_matches_schema(&doc, "NewSecret", &secret.json()["data"]);
    let first_id = app["secrets"][0]["id"].as_str().unwrap();
    let deleted =
        me.json(Method::DELETE, &format!("/api/applications/{client_id}/secrets/{first_id}"), Some(&csrf), None).await;
    assert_eq!(deleted.status, 200);
    let last_id = secret.json()["data"]["id"].as_str().unwrap().to_owned();
    let last =
        me.json(Method::DELETE, &format!("/api/applications/{client_id}/secrets/{last_id}"), Some(&csrf), None).await;
    assert_eq!(last.status, 409, "the last secret of a confidential client stays");

    // Another user sees nothing of it.
    let (mut other, other_csrf) = signed_in(&env, "peggy").await;
    assert_eq!(other.get(&format!("/api/applications/{client_id}")).await.status, 404);
    let hijack = other.json(Method::DELETE, &format!("/api/applications/{client_id}"), Some(&other_csrf), None).await;
    assert_eq!(hijack.status, 404);

    let gone = me.json(Method::DELETE, &format!("/api/applications/{client_id}"), Some(&csrf), None).await;
    assert_eq!((gone.status, gone.json()["code"].as_i64()), (200, Some(0)));
    assert_eq!(me.get(&format!("/api/applications/{client_id}")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizations_over_rest() {
    let env = TestEnv::builder().start().await;
    let (mut me, csrf) = signed_in(&env, "rupert").await;
    let owner = env.create_user("owner").await;
    let (client_id, _) =
        env.register_app(&owner, &["https://app.example/cb"], ClientType::Confidential, &["user"]).await;
    let consent = me.get(&format!("/oauth/authorize?client_id={client_id}&response_type=code")).await;
    let request_id = consent.input("request_id").unwrap();
    me.post_form(
        "/oauth/authorize/decision",
        &[("csrf_token", &csrf), ("request_id", &request_id), ("decision", "approve")],
    )
    .await;
    let list = me.get("/api/authorizations").await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_matches_schema(&openapi(), "Authorization", &list["data"][0]);
    let revoked = me.json(Method::DELETE, &format!("/api/authorizations/{client_id}"), Some(&csrf), None).await;
    assert_eq!(revoked.status, 200);
    let again = me.json(Method::DELETE, &format!("/api/authorizations/{client_id}"), Some(&csrf), None).await;
    assert_eq!(again.status, 404);
    assert!(me.get("/api/authorizations").await.json()["data"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_pages_register_show_a_secret_once_and_manage_secrets() {
    let env = TestEnv::builder().start().await;
    env.create_user("sybil").await;
    let mut browser = env.browser();
    browser.login("sybil", TEST_PASSWORD).await;
    let form = browser.get("/account/applications/new").await;
    let csrf = form.input("csrf_token").unwrap();
    let invalid = browser
        .post_form(
            "/account/applications",
            &[("csrf_token", &csrf), ("name", "Page app"), ("redirect_uris", "http://evil.example/cb")],
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert!(invalid.body.contains("redirect_uris"));
    assert!(invalid.body.contains("Page app"), "the form keeps what was typed");
    let created = browser
        .post_form(
            "/account/applications",
            &[
                ("csrf_token", &csrf),
                ("name", "Page app"),
                ("description", "d"),
                ("homepage_url", ""),
                ("redirect_uris", "https://page.example/cb\nhttp://127.0.0.1/cb"),
            ],
        )
        .await;
    assert_eq!(created.status, 200);
    assert!(created.body.contains("id=\"new-secret\""));
    let client_id = created.body.split("id=\"client-id\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let view = browser.get(&format!("/account/applications/{client_id}")).await;
    assert!(!view.body.contains("id=\"new-secret\""), "the secret is not shown again");
    assert!(view.body.contains("https://page.example/cb") && view.body.contains("http://127.0.0.1/cb"));
    let rotated =
        browser.post_form(&format!("/account/applications/{client_id}/secrets"), &[("csrf_token", &csrf)]).await;
    assert!(rotated.body.contains("id=\"new-secret\""));
    let no_csrf = browser.post_form(&format!("/account/applications/{client_id}/delete"), &[]).await;
    assert_eq!(no_csrf.status, 403);
    let edit = browser
        .post_form(
            &format!("/account/applications/{client_id}"),
            &[("csrf_token", &csrf), ("name", "Edited"), ("redirect_uris", "https://page.example/cb")],
        )
        .await;
    assert_eq!((edit.status, edit.location()), (303, format!("/account/applications/{client_id}").as_str()));
    assert!(browser.get("/account/applications").await.body.contains("Edited"));
    let deleted =
        browser.post_form(&format!("/account/applications/{client_id}/delete"), &[("csrf_token", &csrf)]).await;
    assert_eq!((deleted.status, deleted.location()), (303, "/account/applications"));
    assert_eq!(browser.get(&format!("/account/applications/{client_id}")).await.status, 404);
    // Pages without a session send the user to log in and back.
    let mut anonymous = env.browser();
    let redirect = anonymous.get("/account/applications/new").await;
    assert_eq!(redirect.location(), "/login?next=%2Faccount%2Fapplications%2Fnew");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_creates_an_account_and_signs_in_and_can_be_turned_off() {
    let env = TestEnv::builder().start().await;
    let mut browser = env.browser();
    let form = browser.get("/signup?next=/account/authorizations").await;
    let csrf = form.input("csrf_token").unwrap();
    let bad = browser
        .post_form(
            "/signup",
            &[
                ("csrf_token", &csrf),
                ("username", "x!"),
                ("email", "t@example.com"),
                ("password", "long enough"),
                ("next", "/account/authorizations"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("username"));
    let ok = browser
        .post_form(
            "/signup",
            &[
                ("csrf_token", &csrf),
                ("username", "trent"),
                ("email", "t@example.com"),
                ("password", "long enough"),
                ("next", "/account/authorizations"),
            ],
        )
        .await;
    assert_eq!((ok.status, ok.location()), (303, "/account/authorizations"));
    assert_eq!(browser.get("/account/authorizations").await.status, 200);
    let taken = env.browser().post_form("/signup", &[("username", "TRENT")]).await;
    assert_eq!(taken.status, 403, "no form token: refused before anything else");

    let off = gatehouse_runtime::signup::SignupPolicy::Off;
    let closed = TestEnv::builder()
        .gateway_config(|c| c.signup = off.clone())
        .registry_config(|c| c.signup = off.clone())
        .start()
        .await;
    let mut browser = closed.browser();
    assert_eq!(browser.get("/signup").await.status, 404);
    assert_eq!(browser.post_form("/signup", &[("username", "x")]).await.status, 404);
    assert!(!browser.get("/login").await.body.contains("/signup"), "the login page does not offer sign-up");
    // The registry holds to it too: a sign-up straight from the gateway's identity is refused.
    let gateway = closed.clients_as(gatehouse_runtime::access::Role::Gateway).registry;
    let refused = gateway.create_user(gatehouse_tests::test_user("sneaky")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    // An operator still creates accounts.
    let operator = closed.clients_as(gatehouse_runtime::access::Role::Operator).registry;
    operator.create_user(gatehouse_tests::test_user("hired")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_servers_over_rest() {
    let env = TestEnv::builder()
        .registry_config(|c| c.resource_servers = gatehouse_registry::ResourceServerPolicy::Users)
        .start()
        .await;
    let doc = openapi();
    let (mut me, csrf) = signed_in(&env, "rosa").await;
    let body = json!({ "name": "Projects API", "identifier": "https://projects.example/api", "scopes": ["project"], "token_format": "jwt" });

    let forged = me.json(Method::POST, "/api/resource-servers", None, Some(body.clone())).await;
    assert_eq!(forged.status, 403, "writes need the CSRF header");
    for (bad, field) in [
        (json!({ "name": "x", "identifier": "projects.example" }), "identifier:"),
        (json!({ "name": "x", "identifier": "https://a.example/#f" }), "identifier:"),
        (json!({ "name": "x", "identifier": "https://a.example", "token_format": "paseto" }), "token_format:"),
        (json!({ "name": "x", "identifier": "https://a.example", "scopes": ["admin"] }), "scopes:"),
        (
            json!({ "name": "x", "identifier": "https://a.example", "allowed_client_ids": ["nope"] }),
            "allowed_client_ids:",
        ),
        (
            json!({ "name": "x", "identifier": "https://a.example", "introspection_client_id": "nope" }),
            "introspection_client_id:",
        ),
        (json!({ "name": "", "identifier": "https://a.example" }), "name:"),
    ] {
        let refused = me.json(Method::POST, "/api/resource-servers", Some(&csrf), Some(bad.clone())).await;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
        assert!(refused.json()["msg"].as_str().unwrap().starts_with(field), "{bad}: {}", refused.body);
    }
    let created = me.json(Method::POST, "/api/resource-servers", Some(&csrf), Some(body.clone())).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let server = created.json()["data"].clone();
    assert_matches_schema(&doc, "ResourceServer", &server);
    assert_eq!(server["token_format"], "jwt");
    let id = server["id"].as_str().unwrap().to_owned();
    let twice = me.json(Method::POST, "/api/resource-servers", Some(&csrf), Some(body)).await;
    assert_eq!(twice.status, 409, "one identifier names one audience");

    let listed = me.get("/api/resource-servers").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let path = format!("/api/resource-servers/{id}");
    let patched =
        me.json(Method::PATCH, &path, Some(&csrf), Some(json!({ "token_format": "opaque", "any_client": true }))).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        (patched.json()["data"]["token_format"].as_str(), patched.json()["data"]["any_client"].as_bool()),
        (Some("opaque"), Some(true))
    );
    let rename = me.json(Method::PATCH, &path, Some(&csrf), Some(json!({ "identifier": "https://b.example" }))).await;
    assert_eq!(rename.status, 400, "the identifier is the audience of issued tokens: {}", rename.body);

    let (mut other, other_csrf) = signed_in(&env, "sam").await;
    assert_eq!(other.get(&path).await.status, 404);
    assert_eq!(other.json(Method::DELETE, &path, Some(&other_csrf), None).await.status, 404);
    assert_eq!(me.json(Method::DELETE, &path, Some(&csrf), None).await.status, 200);
    assert_eq!(me.get(&path).await.status, 404);

    // The account page lists and registers them too.
    let page = me.get("/account/resource-servers").await;
    assert_eq!(page.status, 200);
    let csrf_field = page.input("csrf_token").unwrap();
    let made = me
        .post_form(
            "/account/resource-servers",
            &[
                ("csrf_token", &csrf_field),
                ("name", "Page API"),
                ("identifier", "urn:example:page"),
                ("token_format", "opaque"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    assert!(me.get("/account/resource-servers").await.body.contains("urn:example:page"));
    let refused = me
        .post_form("/account/resource-servers", &[("csrf_token", &csrf_field), ("name", "Bad"), ("identifier", "nope")])
        .await;
    assert_eq!(refused.status, 400, "shown again with the reason");
    assert!(refused.body.contains("identifier"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_register_post_logout_redirect_uris() {
    let env = TestEnv::builder().start().await;
    let (mut me, csrf) = signed_in(&env, "pat").await;
    let body = json!({
        "name": "Logout app",
        "redirect_uris": ["https://rp.example/cb"],
        "post_logout_redirect_uris": ["https://rp.example/bye"],
    });
    let created = me.json(Method::POST, "/api/applications", Some(&csrf), Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["data"]["post_logout_redirect_uris"], json!(["https://rp.example/bye"]));
    let client_id = created.json()["data"]["client_id"].as_str().unwrap().to_owned();
    let bad = me
        .json(
            Method::PATCH,
            &format!("/api/applications/{client_id}"),
            Some(&csrf),
            Some(json!({ "post_logout_redirect_uris": ["http://evil.example/"] })),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["msg"].as_str().unwrap().starts_with("post_logout_redirect_uris:"), "{}", bad.body);

    // RP-initiated logout returns only to a registered post-logout URI; the
    // redirect URIs no longer count once the application registered some.
    let callback =
        me.get(&format!("/oauth/logout?client_id={client_id}&post_logout_redirect_uri=https://rp.example/cb")).await;
    assert_eq!(callback.status, 400, "{}", callback.body);
    let ask =
        me.get(&format!("/oauth/logout?client_id={client_id}&post_logout_redirect_uri=https://rp.example/bye")).await;
    assert_eq!(ask.status, 200, "the confirmation page: {}", ask.body);
}
