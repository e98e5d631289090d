//! An OAuth client that is not ours (Python Authlib, from PyPI) runs the
//! standard flow against the real gateway: code with PKCE, current_user,
//! refresh, introspect, revoke. `tests/tools.sh` installs Authlib.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_tests::{TEST_PASSWORD, TestEnv};

/// Runs `tests/python/SCRIPT` against a new deployment with a confidential
/// application of `scopes`; asserts it succeeds and prints `ok_line`.
async fn run(script: &str, username: &str, scopes: &[&str], ok_line: &str) {
    let env = TestEnv::builder().start().await;
    let user = env.create_user(username).await;
    let (client_id, secret) =
        env.register_app(&user, &["https://app.example/callback"], ClientType::Confidential, scopes).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python").join(script);
    let (gateway, username) = (env.gateway_url(), username.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args([gateway.as_str(), &client_id, &secret, &username, TEST_PASSWORD])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Authlib flow failed (run tests/tools.sh)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains(ok_line), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_runs_the_standard_flow() {
    run("authlib_client.py", "pyuser", &["user"], "authlib ok").await;
}

/// Authlib as an OpenID Connect relying party (`tests/python/authlib_oidc.py`):
/// discovery, code + PKCE + nonce, the ID token verified against the JWKS,
/// UserInfo three ways, a refresh with a new ID token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_runs_openid_connect() {
    run("authlib_oidc.py", "pyoidc", &["openid", "profile", "email"], "authlib oidc ok").await;
}
