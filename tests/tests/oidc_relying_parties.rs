//! OpenID Connect relying parties that are not ours run their whole flow
//! against the real gateway with nothing configured by hand but loopback
//! http: `openid-client` (npm, panva's; `tests/rp/`) and the `openidconnect` crate. Authlib's is in
//! `authlib_client.rs`. `tests/tools.sh` installs them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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

/// The `openidconnect` crate (Rust, not ours): discovery with the logout
/// extension, code + PKCE + nonce, the ID token verified against the JWKS
/// (signature, iss, aud, exp, nonce) and its `at_hash`, UserInfo, refresh
/// with a new ID token, and the end-session URL it builds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openidconnect_crate_runs_discovery_code_pkce_userinfo_refresh_and_logout() {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreUserInfoClaims};
    use openidconnect::{
        AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LogoutRequest, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
        TokenResponse,
    };

    const CALLBACK: &str = "https://app.example/callback";
    let env = TestEnv::builder().start().await;
    let user = env.create_user("rustrp").await;
    let (client_id, secret) =
        env.register_app(&user, &[CALLBACK], ClientType::Confidential, &["openid", "profile", "email"]).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let provider = ProviderMetadataWithLogout::discover_async(IssuerUrl::new(env.gateway_url()).unwrap(), &http)
        .await
        .expect("discovery");
    let end_session = provider.additional_metadata().end_session_endpoint.clone().expect("end_session_endpoint");
    let client =
        CoreClient::from_provider_metadata(provider, ClientId::new(client_id), Some(ClientSecret::new(secret)))
            .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".to_owned()))
        .add_scope(Scope::new("email".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let mut browser = env.browser();
    browser.login("rustrp", TEST_PASSWORD).await;
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let callback = browser.authorize_at(url.path(), &params).await;
    let pairs = gatehouse_tests::query_pairs(&callback);
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(&get("state"), state.secret());
    let tokens = client
        .exchange_code(AuthorizationCode::new(get("code")))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token").clone();
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("the ID token verifies").clone();
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("rustrp"));
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("UserInfo");
    assert_eq!(info.subject(), claims.subject());
    assert!(info.email().is_some());

    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let again = refreshed
        .id_token()
        .expect("a new ID token on refresh")
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .expect("the refreshed ID token verifies");
    assert_eq!(again.subject(), claims.subject());
    assert_eq!(again.auth_time(), claims.auth_time());

    let logout = LogoutRequest::from(end_session)
        .set_id_token_hint(refreshed.id_token().unwrap())
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(CALLBACK.to_owned()).unwrap())
        .set_state(CsrfToken::new("bye".to_owned()))
        .http_get_url();
    let path = format!("{}?{}", logout.path(), logout.query().unwrap());
    let page = browser.get(&path).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), format!("{CALLBACK}?state=bye"));
    assert_eq!(browser.get("/account/applications").await.status, 303, "the session is over");
}

/// Enterprise-managed authorization (an ID-JAG) with clients that are not
/// ours: `jose` signs the identity provider's assertion with a key the
/// operator trusts, `openid-client` trades it with the jwt-bearer grant,
/// bearer and DPoP-bound under server nonces (`tests/rp/id_jag.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_trades_an_identity_assertion_signed_with_jose() {
    const IDP: &str = "https://idp.test";
    let pair = rcgen::KeyPair::generate().unwrap();
    let point = pair.public_key_raw();
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "kid": "idp1", "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    let federation = serde_json::json!({"issuers": [
        {"issuer": IDP, "jwks": {"keys": [jwk]}, "identity_assertions": {"user_claim": "aud_sub"}}]});
    // With DPoP server nonces on: openid-client retries a use_dpop_nonce
    // refusal with the nonce, and the ID-JAG must survive that first try.
    let env = TestEnv::builder()
        .registry_config(move |config| config.federation = serde_json::from_value(federation).unwrap())
        .token_config(|config| config.dpop_nonce_every = Some(std::time::Duration::from_secs(60)))
        .start()
        .await;
    let user = env.create_user("enterprise").await;
    let spec = gatehouse_tests::AppSpec {
        grants: &[gatehouse_oauth::GrantType::JwtBearer, gatehouse_oauth::GrantType::TokenExchange],
        scopes: &["user", "project"],
        ..Default::default()
    };
    let registry = env.clients_as(gatehouse_runtime::access::Role::Gateway).registry;
    let (app, secret) = registry.register_application(spec.of(&user.id)).await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rp");
    let args = [
        env.gateway_url(),
        app.client_id,
        secret,
        IDP.to_owned(),
        pair.serialize_pem(),
        user.id,
        "enterprise".to_owned(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(dir.join("id_jag.mjs")).args(args).current_dir(dir).output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "id_jag.mjs failed (run tests/tools.sh)\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("id-jag ok"), "{stdout}");
}
