//! A person in headless Chromium (Debian's package, driven by playwright-core
//! from `tests/browser/`) goes through sign-up, application registration and
//! both authorization URLs; the codes the browser receives are then redeemed
//! here over gRPC, so the test fails unless the whole flow really worked.
//! `tests/tools.sh` installs Chromium and the npm package.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use gatehouse_proto::pb::authorization::v1::RedeemCodeRequest;
use gatehouse_tests::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_up_registers_an_app_and_authorizes_it_in_chromium() {
    let env = TestEnv::builder().start().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    // README screenshots come from this run: set GATEHOUSE_SCREENSHOT_DIR to keep them.
    let shots = std::env::var("GATEHOUSE_SCREENSHOT_DIR").unwrap_or_else(|_| {
        std::env::temp_dir().join(format!("gatehouse-shots-{}", uuid::Uuid::new_v4().simple())).display().to_string()
    });
    let gateway = env.gateway_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(dir.join("flow.mjs")).arg(gateway).arg(shots).current_dir(dir).output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser flow failed (run tests/tools.sh for Chromium and playwright-core)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(result["seed"]["iss"].as_str(), Some(env.gateway_url().as_str()));

    let mut authz = env.authorization().await;
    let seed = &result["seed"];
    authz
        .redeem_code(RedeemCodeRequest {
            code: seed["code"].as_str().unwrap().to_owned(),
            client_id: seed["client_id"].as_str().unwrap().to_owned(),
            redirect_uri: "https://app.example/callback".to_owned(),
            code_verifier: String::new(),
        })
        .await
        .expect("the code from the seed flow redeems");
    let pkce = &result["pkce"];
    authz
        .redeem_code(RedeemCodeRequest {
            code: pkce["code"].as_str().unwrap().to_owned(),
            client_id: pkce["client_id"].as_str().unwrap().to_owned(),
            redirect_uri: "http://127.0.0.1:5555/callback".to_owned(),
            code_verifier: pkce["verifier"].as_str().unwrap().to_owned(),
        })
        .await
        .expect("the code from the PKCE flow redeems with its verifier");
}
