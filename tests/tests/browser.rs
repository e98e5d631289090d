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

    let mut authz = env.authorization_as(env.as_role(gatehouse_runtime::access::Role::Token)).await;
    let seed = &result["seed"];
    authz
        .redeem_code(RedeemCodeRequest {
            code: seed["code"].as_str().unwrap().to_owned(),
            client_id: seed["client_id"].as_str().unwrap().to_owned(),
            redirect_uri: "https://app.example/callback".to_owned(),
            code_verifier: String::new(),
            dpop_jkt: String::new(),
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
            dpop_jkt: String::new(),
        })
        .await
        .expect("the code from the PKCE flow redeems with its verifier");
}

/// `gh auth login`'s shape: a CLI (a public client) asks for a device code,
/// prints the verification URI and polls at the interval it was told, while
/// the person approves in Chromium; the CLI ends with a working token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_signs_in_with_the_device_flow_while_the_person_approves_in_chromium() {
    use gatehouse_oauth::GrantType;
    use gatehouse_tests::{AppSpec, TEST_PASSWORD, register_application};

    let env = TestEnv::builder()
        .authorization_config(|c| c.device.interval = std::time::Duration::from_secs(1))
        .start()
        .await;
    let owner = env.create_user("cli-user").await;
    let spec = AppSpec {
        name: "Gatehouse CLI",
        client_type: gatehouse_proto::pb::common::v1::ClientType::Public,
        grants: &[GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: &["user"],
        ..AppSpec::default()
    };
    let (client_id, _) = register_application(&mut env.registry().await, &owner.id, spec).await;
    let http = reqwest::Client::new();
    let gateway = env.gateway_url();
    let started: serde_json::Value = http
        .post(format!("{gateway}/oauth/device_authorization"))
        .form(&[("client_id", client_id.as_str()), ("scope", "user")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    println!("! First copy your one-time code: {}", started["user_code"].as_str().unwrap());
    println!("Open {} in your browser", started["verification_uri"].as_str().unwrap());

    // The CLI polls as RFC 8628 §3.5 says: at the interval, 5 s more after slow_down.
    let poller = {
        let (http, gateway, client_id) = (http.clone(), gateway.clone(), client_id.clone());
        let mut interval = started["interval"].as_u64().unwrap();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..60 {
                tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
                let form = [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", device_code.as_str()),
                    ("client_id", client_id.as_str()),
                ];
                let response = http.post(format!("{gateway}/oauth/token")).form(&form).send().await.unwrap();
                let body: serde_json::Value = response.json().await.unwrap();
                match body["error"].as_str() {
                    Some("authorization_pending") => answers.push("authorization_pending".to_owned()),
                    Some("slow_down") => interval += 5,
                    Some(other) => panic!("the poll failed: {other}: {body}"),
                    None => return (body, answers),
                }
            }
            panic!("never approved");
        })
    };

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let shots = std::env::var("GATEHOUSE_SCREENSHOT_DIR").unwrap_or_else(|_| {
        std::env::temp_dir().join(format!("gatehouse-shots-{}", uuid::Uuid::new_v4().simple())).display().to_string()
    });
    let verification = started["verification_uri_complete"].as_str().unwrap().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("device.mjs"))
            .args([verification.as_str(), shots.as_str(), "cli-user", TEST_PASSWORD])
            .current_dir(dir)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "browser failed\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let pages: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert!(pages["confirm"].as_str().unwrap().contains("Gatehouse CLI"), "{pages}");
    assert_eq!(pages["done"], "Device connected");

    let (tokens, answers) = poller.await.unwrap();
    println!("the CLI heard {answers:?}, then got a token");
    let current_user = async |authorization: String| -> serde_json::Value {
        let response = http.get(format!("{gateway}/api/current_user")).header("Authorization", authorization);
        response.send().await.unwrap().json().await.unwrap()
    };
    let me = current_user(format!("token {}", tokens["access_token"].as_str().unwrap())).await;
    assert_eq!(me["data"]["username"], "cli-user", "{me}");
    assert!(tokens["refresh_token"].as_str().is_some(), "the CLI may refresh: {tokens}");

    // The personal access token the person made in the browser works like one.
    let me = current_user(format!("Bearer {}", pages["pat"].as_str().unwrap())).await;
    assert_eq!(me["data"]["username"], "cli-user", "{me}");
}

/// Runs `tests/browser/SCRIPT GATEWAY SHOTS USERNAME PASSWORD` with node
/// (screenshots to `GATEHOUSE_SCREENSHOT_DIR` or a temporary folder) and
/// answers the JSON line it prints last; its output when it fails.
async fn run_script(script: &str, gateway: &str, username: &str) -> serde_json::Value {
    run_script_with(script, gateway, username, &[]).await
}

/// [`run_script`] with more arguments after the password.
async fn run_script_with(script: &str, gateway: &str, username: &str, more: &[&str]) -> serde_json::Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let shots = std::env::var("GATEHOUSE_SCREENSHOT_DIR").unwrap_or_else(|_| {
        std::env::temp_dir().join(format!("gatehouse-shots-{}", uuid::Uuid::new_v4().simple())).display().to_string()
    });
    let mut args = vec![gateway.to_owned(), shots, username.to_owned(), gatehouse_tests::TEST_PASSWORD.to_owned()];
    args.extend(more.iter().map(|a| (*a).to_owned()));
    let script_path = dir.join(script);
    let output =
        tokio::task::spawn_blocking(move || Command::new("node").arg(script_path).args(args).current_dir(dir).output())
            .await
            .unwrap()
            .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

/// Two-step sign-in in Chromium: set up with the QR page and the app's
/// first code (computed by the script's own HMAC), then sign-ins with the
/// app's code and with a recovery code, which works once
/// (`tests/browser/two_step.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_turns_on_two_step_sign_in_and_signs_in_with_the_app_and_a_recovery_code_in_chromium() {
    let env = TestEnv::builder().start().await;
    env.create_user("two-step").await;
    let result = run_script("two_step.mjs", &env.gateway_url(), "two-step").await;
    assert_eq!(result["recovery"], 10);
    // The audit trail saw it all.
    let operator = env.as_role(gatehouse_runtime::access::Role::Operator);
    let request = gatehouse_proto::pb::common::v1::ListAuditEventsRequest { limit: 100, ..Default::default() };
    let events = env.registry_as(operator).await.list_audit_events(request).await.unwrap().into_inner().events;
    let actions: Vec<String> = events.into_iter().map(|e| e.action).collect();
    for action in ["totp.enrolment_started", "totp.enabled", "second_factor.verified", "second_factor.failed"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

/// Passkeys in Chromium with the DevTools protocol's virtual authenticator:
/// added on the security page, then a sign-in with the passkey alone (the
/// same answer posted twice is refused), the passkey as the second step of
/// a password sign-in, an authenticator that does not verify the user, and
/// the passkey removed (`tests/browser/passkeys.mjs`). The issuer is
/// `http://localhost:PORT`: browsers allow WebAuthn only under a domain name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_adds_a_passkey_and_signs_in_with_it_alone_and_as_a_second_step_in_chromium() {
    let env = TestEnv::builder().localhost().start().await;
    let user = env.create_user("passkey").await;
    let gateway = env.gateway_url();
    assert!(gateway.starts_with("http://localhost:"), "{gateway}");
    let result = run_script("passkeys.mjs", &gateway, "passkey").await;
    assert_eq!(result["credentials"], 1);

    // The audit trails: the passkey's life, and how each session was opened.
    let operator = env.as_role(gatehouse_runtime::access::Role::Operator);
    let request = gatehouse_proto::pb::common::v1::ListAuditEventsRequest { limit: 200, ..Default::default() };
    let events =
        env.registry_as(operator.clone()).await.list_audit_events(request.clone()).await.unwrap().into_inner().events;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for action in ["passkey.added", "passkey.verified", "passkey.failed", "passkey.removed"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let sign_ins = env.authorization_as(operator).await.list_audit_events(request).await.unwrap().into_inner().events;
    let amrs: Vec<serde_json::Value> = sign_ins
        .iter()
        .filter(|e| e.action == "signin.succeeded" && e.subject_user_id == user.id)
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.details).ok())
        .map(|details| details["amr"].clone())
        .collect();
    assert!(amrs.contains(&serde_json::json!(["hwk", "user", "mfa"])), "a passkey alone: {amrs:?}");
    assert!(amrs.contains(&serde_json::json!(["pwd", "hwk", "mfa"])), "a password and a passkey: {amrs:?}");
}

/// Recovery and review in Chromium, with mail received by a real SMTP
/// server (aiosmtpd): sessions listed and one ended from another browser,
/// the address confirmed by its mailed link, a reset link followed once
/// that signs every browser out (`tests/browser/recovery.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_ends_a_session_confirms_the_address_and_resets_the_password_by_mail_in_chromium() {
    let sink = gatehouse_tests::MailSink::start();
    let url = sink.url();
    let env = TestEnv::builder()
        .registry_config(|c| {
            c.mail =
                Some(gatehouse_registry::MailConfig { url, from: "Gatehouse <no-reply@gatehouse.test>".to_owned() })
        })
        .gateway_config(|c| c.mail_enabled = true)
        .start()
        .await;
    env.create_user("recovery").await;
    let mail_dir = sink.dir().display().to_string();
    let result = run_script_with("recovery.mjs", &env.gateway_url(), "recovery", &[mail_dir.as_str()]).await;
    assert_eq!(result["sessions"], 2);
    assert_eq!(result["mails"], 2, "one confirmation, one reset: {result}");
}

/// Every page on a phone (390 px wide), in English and in Chinese: no
/// sideways scroll, every header link on the screen, every field within the
/// width (`tests/browser/phone.mjs`), signed out, signed in (the admin
/// console's sections too) and mid-flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_in_both_languages_in_chromium() {
    let env = TestEnv::builder().start().await;
    let owner = env.create_user("phone").await;
    // An administrator, so that the console's pages are checked too.
    let operator = env.clients_as(gatehouse_runtime::access::Role::Operator);
    operator.registry.set_user_role(&owner.id, "administrator", true).await.unwrap();
    let spec = gatehouse_tests::AppSpec { name: "Phone check", ..gatehouse_tests::AppSpec::default() };
    let (client_id, _) = gatehouse_tests::register_application(&mut env.registry().await, &owner.id, spec).await;
    let more = [client_id.as_str(), gatehouse_tests::CALLBACK];
    let result = run_script_with("phone.mjs", &env.gateway_url(), "phone", &more).await;
    assert_eq!(result["pages"], 50, "{result}");
}

/// The admin console in Chromium (`tests/browser/console.mjs`): a
/// non-administrator is refused every section; the administrator visits
/// each, finds an account and disables it, which ends that person's browser
/// session and their tokens; a form without its CSRF token is refused; and
/// sixteen minutes later a change asks for the password again before it is
/// made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_disables_an_account_in_the_console_in_chromium() {
    use gatehouse_runtime::access::Role;
    let env = TestEnv::builder().start().await;
    let admin = env.create_user("console-admin").await;
    let operator = env.clients_as(Role::Operator);
    operator.registry.set_user_role(&admin.id, "administrator", true).await.unwrap();
    let target = env.create_user("mallory").await;
    env.create_user("eve").await;
    // A token of theirs: a personal access token.
    let new = gatehouse_runtime::clients::token::NewPersonalToken {
        user_id: target.id.clone(),
        username: "mallory".to_owned(),
        name: "laptop".to_owned(),
        scopes: vec!["user".to_owned()],
        expires_in: 30 * 86_400,
    };
    let access = env.clients_as(Role::Gateway).token.create_personal_token(new).await.unwrap().token;
    assert!(env.clients_as(Role::Operator).token.introspect_as_operator(&access).await.unwrap().active);
    let state = std::env::temp_dir().join(format!("gatehouse-console-{}.json", uuid::Uuid::new_v4().simple()));
    let state_file = state.display().to_string();
    let more = |phase: &'static str| [phase, state_file.as_str(), "mallory", "eve"];

    let first = run_script_with("console.mjs", &env.gateway_url(), "console-admin", &more("first")).await;
    assert_eq!((first["refused"].as_u64(), first["disabled"].as_str()), (Some(7), Some(target.id.as_str())));
    assert!(operator.registry.user(&target.id).await.unwrap().unwrap().disabled);
    let active = operator.token.introspect_as_operator(&access).await.unwrap();
    assert!(!active.active, "the account's tokens ended with it");

    env.advance(std::time::Duration::from_secs(16 * 60));
    let stale = run_script_with("console.mjs", &env.gateway_url(), "console-admin", &more("stale")).await;
    assert_eq!(stale["enabled"], true);
    assert!(!operator.registry.user(&target.id).await.unwrap().unwrap().disabled);
    let _ = std::fs::remove_file(state);
    // The audit trail names the administrator for both.
    let request = gatehouse_proto::pb::common::v1::ListAuditEventsRequest {
        target: format!("user:{}", target.id),
        ..Default::default()
    };
    let events = env.registry_as(env.as_role(Role::Operator)).await.list_audit_events(request).await.unwrap();
    let by_console: Vec<&str> = events
        .get_ref()
        .events
        .iter()
        .filter(|e| e.actor_id == admin.id && e.actor_via == "console")
        .map(|e| e.action.as_str())
        .collect();
    assert!(by_console.contains(&"user.disabled") && by_console.contains(&"user.enabled"), "{by_console:?}");
}
