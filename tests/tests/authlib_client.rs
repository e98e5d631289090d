//! An OAuth client that is not ours (Python Authlib, from PyPI) runs the
//! standard flow against the real gateway: code with PKCE, current_user,
//! refresh, introspect, revoke. `tests/tools.sh` installs Authlib.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_tests::{TEST_PASSWORD, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_runs_the_standard_flow() {
    let env = TestEnv::builder().start().await;
    let user = env.create_user("pyuser").await;
    let (client_id, secret) =
        env.register_app(&user, &["https://app.example/callback"], ClientType::Confidential, &["user"]).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/authlib_client.py");
    let gateway = env.gateway_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args([gateway.as_str(), &client_id, &secret, "pyuser", TEST_PASSWORD])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "authlib flow failed (run tests/tools.sh)\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("authlib ok"), "{stdout}");
}

/// Authlib as an OpenID Connect relying party (`tests/python/authlib_oidc.py`):
/// discovery, code + PKCE + nonce, the ID token verified against the JWKS,
/// UserInfo three ways, a refresh with a new ID token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_runs_openid_connect() {
    let env = TestEnv::builder().start().await;
    let user = env.create_user("pyoidc").await;
    let (client_id, secret) = env
        .register_app(
            &user,
            &["https://app.example/callback"],
            ClientType::Confidential,
            &["openid", "profile", "email"],
        )
        .await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/authlib_oidc.py");
    let gateway = env.gateway_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args([gateway.as_str(), &client_id, &secret, "pyoidc", TEST_PASSWORD])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "authlib OIDC flow failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("authlib oidc ok"), "{stdout}");
}
