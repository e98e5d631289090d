//! Of many parallel redemptions of one code, exactly one succeeds, on Redis
//! and on the in-process cache alike; the others see a replay.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use gatehouse_proto::pb::authorization::v1::RedeemCodeRequest;
use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_proto::status::{decode_oauth, decode_reason, reason};
use gatehouse_tests::{CacheBackend, TEST_PASSWORD, TestEnv, on_every_cache};

on_every_cache!(parallel_redemptions_of_one_code_have_exactly_one_winner);

async fn parallel_redemptions_of_one_code_have_exactly_one_winner(cache: CacheBackend) {
    let env = TestEnv::builder().cache(cache).start().await;
    let owner = env.create_user("racer").await;
    let (client_id, _) =
        env.register_app(&owner, &["https://app.example/cb"], ClientType::Confidential, &["user"]).await;
    let mut browser = env.browser();
    browser.login("racer", TEST_PASSWORD).await;
    let code = browser.authorization_code(&[("client_id", &client_id), ("response_type", "code")]).await;

    // Redeeming is the token service's edge: the test calls as it.
    let client = env.authorization_as(env.as_role(gatehouse_runtime::access::Role::Token)).await;
    let attempts: Vec<_> = (0..32)
        .map(|_| {
            let mut client = client.clone();
            let request = RedeemCodeRequest {
                code: code.clone(),
                client_id: client_id.clone(),
                redirect_uri: String::new(),
                code_verifier: String::new(),
                dpop_jkt: String::new(),
            };
            tokio::spawn(async move { client.redeem_code(request).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut replays = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(response) => winners.push(response.into_inner()),
            Err(status) => {
                assert_eq!(decode_oauth(&status).unwrap().code.as_str(), "invalid_grant");
                assert!(decode_reason(&status).unwrap().1.contains_key(reason::REPLAYED_CODE_ID));
                replays += 1;
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one redemption succeeds");
    assert_eq!(replays, 31);
}
