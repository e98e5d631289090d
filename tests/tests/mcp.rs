//! MCP agents against Gatehouse, with nothing registered by hand: the official
//! TypeScript SDK (`@modelcontextprotocol/sdk` from npm, `tests/mcp/agent.mjs`)
//! connects to the example MCP server (`gatehouse-mcp-example`, behind
//! `gatehouse-client`'s layer), follows the 401 to Gatehouse, registers by a
//! client ID metadata document (served here over loopback HTTPS) or by
//! dynamic registration, authorizes in headless Chromium with PKCE and
//! `resource`, calls a tool, refreshes, and sees a revoked token refused.
//! What the agent reports is then checked against Gatehouse itself. The
//! official Python SDK (`mcp` from PyPI, `tests/python/mcp_agent.py`) runs
//! both paths too, its own `offline_access` handling included. And the MCP
//! project's conformance suite runs its authorization-server scenarios.
//! `tests/tools.sh` installs the SDKs, the suite, playwright-core and Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use gatehouse_client::ProtectedResource;
use gatehouse_mcp_example::McpServer;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_registry::{MetadataDocumentPolicy, RegistrationPolicy};
use gatehouse_tests::https_server::HttpsServer;
use gatehouse_tests::{TEST_PASSWORD, TestEnv};
use serde_json::{Value, json};

/// Gatehouse with dynamic registration open and metadata documents fetched
/// from `documents` (loopback, its own CA: admitted by the operator's settings).
async fn gatehouse(documents: &HttpsServer, access_ttl: Duration) -> TestEnv {
    let ca = documents.ca.clone();
    TestEnv::builder()
        .token_config(move |config| config.access_ttl = access_ttl)
        .registry_config(move |config| {
            config.registration.policy = RegistrationPolicy::Open;
            config.metadata_documents.policy = MetadataDocumentPolicy::Open;
            config.fetch.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
            config.fetch.extra_roots = vec![ca];
        })
        .start()
        .await
}

/// The example MCP server on loopback, registered in Gatehouse as a resource server.
async fn mcp_server(env: &TestEnv, owner_id: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    env.registry_as(env.as_role(gatehouse_runtime::access::Role::Operator))
        .await
        .create_resource_server(pb::CreateResourceServerRequest {
            owner_id: owner_id.to_owned(),
            name: "MCP example".to_owned(),
            identifier: url.clone(),
            scopes: vec!["user".to_owned()],
            any_client: true,
            ..Default::default()
        })
        .await
        .expect("the MCP server is a resource server");
    let server = McpServer {
        resource: ProtectedResource {
            resource: url.clone(),
            authorization_server: env.gateway_url(),
            scopes: vec!["user".to_owned()],
        },
        required_scopes: vec!["user".to_owned()],
    };
    let gatehouse = env.validator_channel();
    let app = server.router(gatehouse, None);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The Python SDK's agent (`tests/python/mcp_agent.py`).
fn run_python_agent(args: &[String]) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    let output = Command::new("python3")
        .arg(dir.join("mcp_agent.py"))
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Python MCP agent failed (run tests/tools.sh for the mcp package)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("the agent's report")
}

/// What the Python agent must show: a tool call as the person through a
/// token for this server, the SDK's own offline_access giving a refresh token,
/// and a refresh without a second authorization.
fn check_python(seen: &Value, env: &TestEnv, mcp_url: &str, username: &str) {
    assert_eq!(seen["iss"], json!(env.gateway_url()));
    assert_eq!(seen["tools"], json!(["whoami"]));
    assert_eq!(seen["whoami"]["username"], json!(username));
    assert_eq!(seen["whoami"]["audience"], json!([mcp_url]));
    let url = seen["authorization_url"].as_str().unwrap();
    let params: Vec<(String, String)> = url::Url::parse(url).unwrap().query_pairs().into_owned().collect();
    assert!(params.contains(&("resource".to_owned(), mcp_url.to_owned())), "{url}");
    assert!(seen["scope"].as_str().unwrap().split(' ').any(|s| s == "offline_access"), "{seen}");
    assert_eq!(seen["had_refresh_token"], json!(true));
    assert_eq!(seen["refreshed"], json!(true), "{seen}");
    assert_eq!(seen["refresh_rotated"], json!(true));
    assert_eq!(seen["authorizations"], json!(1), "the refresh needed no second authorization");
    assert_eq!(seen["whoami_after_refresh"]["audience"], json!([mcp_url]));
}

fn run_agent(args: &[String]) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp");
    let output =
        Command::new("node").arg(dir.join("agent.mjs")).args(args).current_dir(&dir).output().expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the MCP agent failed (run tests/tools.sh for the SDK and Chromium)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("the agent's report")
}

/// What every run must show: the tool call as the person, through a token for
/// this server only; a refresh; the revoked token refused with a challenge.
fn check_common(seen: &Value, env: &TestEnv, mcp_url: &str, username: &str) {
    assert_eq!(seen["iss"], json!(env.gateway_url()), "RFC 9207 iss on the callback, byte for byte");
    assert_eq!(seen["tools"], json!(["whoami"]));
    assert_eq!(seen["whoami"]["username"], json!(username));
    assert_eq!(seen["whoami"]["audience"], json!([mcp_url]), "the token is for this MCP server (RFC 8707)");
    let url = seen["authorization_urls"][0].as_str().unwrap();
    let params: Vec<(String, String)> = url::Url::parse(url).unwrap().query_pairs().into_owned().collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(param("resource").as_deref(), Some(mcp_url), "the SDK sent resource");
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(seen["refreshed"], json!(true), "the SDK refreshed its token");
    assert_eq!(seen["refresh_rotated"], json!(true), "the refresh token rotated");
    assert_eq!(seen["whoami_after_refresh"]["audience"], json!([mcp_url]), "the refreshed token keeps the audience");
    assert_eq!(seen["revoke_status"], json!(200));
    assert_eq!(seen["revoked_status"], json!(401), "a revoked token is refused");
    assert!(seen["revoked_challenge"].as_str().unwrap().contains("resource_metadata="));
}

/// One person's setup: Gatehouse, the agent's metadata document (a portless
/// loopback redirect: any port matches) on loopback HTTPS, the MCP server.
struct Setup {
    env: TestEnv,
    mcp_url: String,
    cimd_url: String,
    _documents: HttpsServer,
}

async fn setup(username: &str, access_ttl: Duration) -> Setup {
    let shared = std::sync::Arc::new(tokio::sync::OnceCell::<String>::new());
    let served = shared.clone();
    let documents = HttpsServer::start(axum::Router::new().route(
        "/agent/client.json",
        get(move || {
            let url = served.get().cloned().unwrap_or_default();
            async move {
                Json(json!({
                    "client_id": url,
                    "client_name": "CIMD test agent",
                    "redirect_uris": ["http://127.0.0.1/callback"],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "none",
                }))
            }
        }),
    ))
    .await;
    let cimd_url = documents.url("/agent/client.json");
    shared.set(cimd_url.clone()).unwrap();
    let env = gatehouse(&documents, access_ttl).await;
    let user = env.create_user(username).await;
    let mcp_url = mcp_server(&env, &user.id).await;
    Setup { env, mcp_url, cimd_url, _documents: documents }
}

const HOURS: Duration = Duration::from_secs(7200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_registers_by_client_id_metadata_document_and_calls_a_tool() {
    let Setup { env, mcp_url, cimd_url, _documents } = setup("cimd-person", HOURS).await;
    let args = vec![
        mcp_url.clone(),
        "cimd".into(),
        "cimd-person".into(),
        TEST_PASSWORD.into(),
        cimd_url.clone(),
        "offline".into(),
    ];
    let seen = tokio::task::spawn_blocking(move || run_agent(&args)).await.unwrap();
    assert_eq!(seen["client_id"], json!(cimd_url), "the client id is the document's URL");
    let consent = seen["consent"].as_str().unwrap();
    assert!(consent.contains("CIMD test agent"), "consent names the client: {consent}");
    assert!(consent.contains("served by 127.0.0.1"), "consent names the document's host: {consent}");
    assert!(consent.contains("an application on this device"), "consent names the redirect host: {consent}");
    assert!(consent.contains("approve only if you started this sign-in"), "and warns: {consent}");
    check_common(&seen, &env, &mcp_url, "cimd-person");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_registers_dynamically_and_calls_a_tool() {
    let Setup { env, mcp_url, _documents, .. } = setup("dcr-person", HOURS).await;
    let args =
        vec![mcp_url.clone(), "dcr".into(), "dcr-person".into(), TEST_PASSWORD.into(), String::new(), "offline".into()];
    let seen = tokio::task::spawn_blocking(move || run_agent(&args)).await.unwrap();
    let client_id = seen["client_id"].as_str().unwrap().to_owned();
    assert!(!client_id.starts_with("https://"), "a registered id, not a URL");
    assert_eq!(seen["registered"]["token_endpoint_auth_method"], json!("none"), "the method is echoed back");
    assert!(seen["registered"].get("client_secret").is_none(), "a public client gets no secret");
    let app = env
        .registry()
        .await
        .get_application(pb::GetApplicationRequest {
            client_id: client_id.clone(),
            acting_owner_id: String::new(),
            client_address: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(app.registration, "dynamic");
    assert_eq!(app.token_endpoint_auth_method, "none");
    let consent = seen["consent"].as_str().unwrap();
    assert!(consent.contains("registered itself"), "consent says the name is unverified: {consent}");
    check_common(&seen, &env, &mcp_url, "dcr-person");
}

/// Short-lived access tokens, so that the Python SDK's own expiry check
/// makes it refresh (it refreshes before a request, not after a 401).
const SECONDS: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_registers_by_client_id_metadata_document_and_refreshes() {
    let Setup { env, mcp_url, cimd_url, _documents } = setup("py-cimd-person", SECONDS).await;
    let args = vec![mcp_url.clone(), "cimd".into(), "py-cimd-person".into(), TEST_PASSWORD.into(), cimd_url.clone()];
    let seen = tokio::task::spawn_blocking(move || run_python_agent(&args)).await.unwrap();
    assert_eq!(seen["client_id"], json!(cimd_url), "the Python SDK used the document");
    check_python(&seen, &env, &mcp_url, "py-cimd-person");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_registers_dynamically_and_refreshes() {
    let Setup { env, mcp_url, _documents, .. } = setup("py-dcr-person", SECONDS).await;
    let args = vec![mcp_url.clone(), "dcr".into(), "py-dcr-person".into(), TEST_PASSWORD.into()];
    let seen = tokio::task::spawn_blocking(move || run_python_agent(&args)).await.unwrap();
    assert!(!seen["client_id"].as_str().unwrap().starts_with("https://"), "registered dynamically");
    check_python(&seen, &env, &mcp_url, "py-dcr-person");
}

/// The MCP project's conformance suite (`@modelcontextprotocol/conformance`,
/// `tests/mcp-conformance/run.mjs`, under the Node 22 it needs) runs its
/// authorization-server scenarios against Gatehouse: the metadata endpoint
/// derived from the issuer, then an authorization-code grant with PKCE and
/// `resource` whose browser step Chromium plays. The client id it is given
/// is a metadata document's URL, so nothing is registered by hand here either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_conformance_suite_passes_its_authorization_server_scenarios() {
    let Setup { env, mcp_url, cimd_url, _documents } = setup("conformance-person", HOURS).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = std::env::temp_dir().join(format!("gatehouse-mcp-conformance-{}", uuid::Uuid::new_v4().simple()));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp-conformance");
    let args = [
        env.gateway_url(),
        cimd_url.clone(),
        mcp_url.clone(),
        port.to_string(),
        "conformance-person".to_owned(),
        TEST_PASSWORD.to_owned(),
        out.display().to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(dir.join("run.mjs")).args(args).current_dir(&dir).output().expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the driver failed (run tests/tools.sh)\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("the driver's report");
    let log = seen["log"].as_str().unwrap_or_default();
    assert!(seen.get("browser_error").is_none(), "the browser step failed: {}\n{log}", seen["browser_error"]);
    let checks = seen["checks"].as_array().unwrap();
    let ids: Vec<&str> = checks.iter().filter_map(|c| c["id"].as_str()).collect();
    // The checks of its two scenarios (the metadata endpoint; the code grant).
    for check in ["authorization-server-metadata", "authorization-server-metadata-cimd", "authorization-code-grant"] {
        assert!(ids.contains(&check), "the suite checked {check}: {ids:?}\n{log}");
    }
    for check in checks {
        assert_eq!(check["status"], json!("SUCCESS"), "{check}\n{log}");
    }
    assert_eq!(seen["exit"], json!(0), "{log}");
    assert!(seen["consent"].as_str().unwrap().contains("CIMD test agent"), "{seen}");
    let url = seen["authorization_urls"][0].as_str().unwrap();
    let params: Vec<(String, String)> = url::Url::parse(url).unwrap().query_pairs().into_owned().collect();
    assert!(params.contains(&("client_id".to_owned(), cimd_url)), "{url}");
    assert!(params.contains(&("resource".to_owned(), mcp_url)), "{url}");
    let _ = std::fs::remove_dir_all(&out);
}
