//! OpenID Connect relying parties that are not ours run their whole flow
//! against the real gateway with nothing configured by hand but loopback
//! http: `openid-client` (npm, panva's; `tests/rp/`). Authlib's is in
//! `authlib_client.rs`. `tests/tools.sh` installs them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_tests::{TEST_PASSWORD, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_runs_discovery_code_pkce_userinfo_refresh_and_logout() {
    let env = TestEnv::builder().start().await;
    let user = env.create_user("noderp").await;
    let (client_id, secret) = env
        .register_app(
            &user,
            &["https://app.example/callback"],
            ClientType::Confidential,
            &["openid", "profile", "email"],
        )
        .await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rp");
    let gateway = env.gateway_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("openid_client.mjs"))
            .args([gateway.as_str(), &client_id, &secret, "noderp", TEST_PASSWORD])
            .current_dir(dir)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "openid-client failed (run tests/tools.sh)\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("openid-client ok"), "{stdout}");
}
