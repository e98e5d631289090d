//! The internal plane as an attacker inside the cluster meets it: every
//! method of every service, read from the compiled descriptor set, asked by
//! nobody and by every role; stored credentials that expire or are revoked;
//! and the audit trail that records what was done and refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gatehouse_proto::pb::common::v1 as common;
use gatehouse_proto::pb::registry::v1 as registry_pb;
use gatehouse_proto::pb::token::v1 as token_pb;
use gatehouse_runtime::access::Role;
use gatehouse_runtime::access::policy::{self, Rule};
use gatehouse_tests::plane::{self, Answer};
use gatehouse_tests::{Backend, Presenting, TestEnv, on_every_database};
use tonic::Code;

/// Calls `path` as `caller`.
async fn call(channel: tonic::transport::Channel, caller: Presenting, path: &str, streaming: bool) -> Answer {
    plane::call(gatehouse_tests::presenting(channel, caller), path, streaming).await
}

fn address(env: &TestEnv, path: &str) -> SocketAddr {
    if path.starts_with("/gatehouse.registry.") {
        env.registry_addr
    } else if path.starts_with("/gatehouse.authorization.") {
        env.authorization_addr
    } else {
        env.token_addr
    }
}

/// Every method × (nobody, every role): nobody is UNAUTHENTICATED, a role
/// the table does not name PERMISSION_DENIED, a role it names reaches the
/// handler (whatever the handler says of an empty request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_only_the_roles_the_policy_names() {
    let env = TestEnv::builder().start().await;
    let methods = plane::methods();
    assert!(methods.len() > 60);
    let mut checked = 0;
    for (path, streaming) in &methods {
        let channel = env.channel(address(&env, path)).await;
        let Rule::Roles(allowed) = policy::rule(path) else { panic!("{path} has no policy row") };
        let anonymous = call(channel.clone(), Presenting::nothing(), path, *streaming).await;
        assert_eq!(anonymous, Answer::Unidentified, "nobody calling {path}");
        let forged = call(channel.clone(), Presenting::bearer("gic_forged"), path, *streaming).await;
        assert_eq!(forged, Answer::Unidentified, "a made-up credential calling {path}");
        for role in Role::ALL {
            let answer = call(channel.clone(), env.as_role(role), path, *streaming).await;
            let expected = if allowed.contains(&role) { Answer::Handled } else { Answer::Denied };
            assert_eq!(answer, expected, "{role} calling {path}");
            checked += 1;
        }
    }
    assert_eq!(checked, methods.len() * Role::ALL.len());
    // The console: the gateway with a live administrator's session, and exactly the console's rows.
    let admin = env.create_user("root").await;
    env.clients_as(Role::Operator).registry.set_user_role(&admin.id, "administrator", true).await.unwrap();
    let session = env.session_of("root").await;
    for (path, streaming) in &methods {
        let channel = env.channel(address(&env, path)).await;
        let Rule::Roles(allowed) = policy::rule(path) else { panic!("{path} has no policy row") };
        let answer = call(channel, env.as_role(Role::Gateway).with_console(&session), path, *streaming).await;
        let expected = if allowed.contains(&Role::Console) { Answer::Handled } else { Answer::Denied };
        assert_eq!(answer, expected, "the console calling {path}");
    }
    // A method no service has: nobody, whoever asks.
    let channel = env.channel(env.token_addr).await;
    let answer =
        call(channel, env.as_role(Role::Operator), "/gatehouse.token.v1.TokenService/MintAnyToken", false).await;
    assert_eq!(answer, Answer::Unimplemented);
}

/// The attacks the plane was first tried with, each refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attacks_from_inside_the_cluster_are_refused() {
    let env = TestEnv::builder().start().await;
    let alice = env.create_user("alice").await;
    // A validator (allowed to check tokens) mints a personal token for another user.
    let mut as_validator = env.token_as(env.as_role(Role::Validator)).await;
    let minted = as_validator
        .create_personal_token(token_pb::CreatePersonalTokenRequest {
            user_id: alice.id.clone(),
            username: "alice".to_owned(),
            name: "stolen".to_owned(),
            scopes: vec!["user".to_owned()],
            expires_in: 3600,
        })
        .await
        .unwrap_err();
    assert_eq!(minted.code(), Code::PermissionDenied);
    // … rotates the signing keys, lists the users' applications, guesses passwords.
    let rotate = as_validator
        .rotate_signing_keys(token_pb::RotateSigningKeysRequest { algs: vec![], force: true })
        .await
        .unwrap_err();
    assert_eq!(rotate.code(), Code::PermissionDenied);
    let mut registry_as_validator = env.registry_as(env.as_role(Role::Validator)).await;
    let guess = registry_as_validator
        .verify_password(registry_pb::VerifyPasswordRequest { username: "alice".to_owned(), password: "x".to_owned() })
        .await
        .unwrap_err();
    assert_eq!(guess.code(), Code::PermissionDenied);
    // The gateway, which may do much, still may not check passwords or mint credentials.
    let mut registry_as_gateway = env.registry().await;
    let guess = registry_as_gateway
        .verify_password(registry_pb::VerifyPasswordRequest { username: "alice".to_owned(), password: "x".to_owned() })
        .await
        .unwrap_err();
    assert_eq!(guess.code(), Code::PermissionDenied);
    let credential = registry_as_gateway
        .create_credential(registry_pb::CreateCredentialRequest {
            name: "mine".to_owned(),
            role: "operator".to_owned(),
            ttl_seconds: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(credential.code(), Code::PermissionDenied);
    // A user's own access token is no credential on the internal plane.
    let owner = env.create_user("bob").await;
    let mut gateway_tokens = env.token().await;
    let pat = gateway_tokens
        .create_personal_token(token_pb::CreatePersonalTokenRequest {
            user_id: owner.id.clone(),
            username: "bob".to_owned(),
            name: "ci".to_owned(),
            scopes: vec!["user".to_owned()],
            expires_in: 3600,
        })
        .await
        .unwrap()
        .into_inner()
        .token;
    let mut as_user_token = env.token_as(Presenting::bearer(&pat)).await;
    let watch = as_user_token.watch_revocations(token_pb::WatchRevocationsRequest { after: None }).await.unwrap_err();
    assert_eq!(watch.code(), Code::Unauthenticated, "a user's token at WatchRevocations");
}

/// The registry checks failed passwords itself, whoever asks: past the
/// per-account limit the answer is RESOURCE_EXHAUSTED, even for the right one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_throttles_password_guesses_whoever_asks() {
    let env = TestEnv::builder().start().await;
    env.create_user("carol").await;
    let mut registry = env.registry_as(env.as_role(Role::Authorization)).await;
    let check = |password: &str| registry_pb::VerifyPasswordRequest {
        username: "carol".to_owned(),
        password: password.to_owned(),
    };
    let mut refused_at = None;
    for attempt in 1..=30 {
        match registry.verify_password(check("wrong")).await {
            Ok(answer) => assert!(!answer.into_inner().verified),
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                refused_at = Some(attempt);
                break;
            }
        }
    }
    assert_eq!(refused_at, Some(21), "20 failures per account, then refused");
    let right = registry.verify_password(check(gatehouse_tests::TEST_PASSWORD)).await.unwrap_err();
    assert_eq!(right.code(), Code::ResourceExhausted, "no oracle while throttled");
}

/// Stored credentials: an operator issues one; it works; once revoked or
/// expired it is refused (within the verification cache's bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_credentials_are_refused() {
    let env = TestEnv::builder().start().await;
    let mut operator = env.registry_as(env.as_role(Role::Operator)).await;
    let issue = |ttl_seconds: i64| registry_pb::CreateCredentialRequest {
        name: "ops".to_owned(),
        role: "operator".to_owned(),
        ttl_seconds,
    };
    let created = operator.create_credential(issue(0)).await.unwrap().into_inner();
    let credential = created.credential.clone();
    assert!(credential.starts_with("gic_"));
    let listed = operator.list_credentials(registry_pb::ListCredentialsRequest {}).await.unwrap().into_inner();
    assert!(!format!("{listed:?}").contains(&credential), "never listed in clear");
    // It works on every service (the token service asks the registry).
    let mut keys = env.token_as(Presenting::bearer(&credential)).await;
    keys.list_signing_keys(token_pb::ListSigningKeysRequest {}).await.unwrap();
    let id = created.info.unwrap().id;
    operator.revoke_credential(registry_pb::RevokeCredentialRequest { id: id.clone() }).await.unwrap();
    let again = operator.revoke_credential(registry_pb::RevokeCredentialRequest { id }).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    refused_within_bound(&mut keys).await;

    // Expired: issued for one second.
    let short = operator.create_credential(issue(1)).await.unwrap().into_inner().credential;
    let mut keys = env.token_as(Presenting::bearer(&short)).await;
    refused_within_bound(&mut keys).await;
    // A role that does not exist is no credential.
    let bad = operator
        .create_credential(registry_pb::CreateCredentialRequest {
            name: "x".to_owned(),
            role: "root".to_owned(),
            ttl_seconds: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

async fn refused_within_bound(keys: &mut token_pb::token_service_client::TokenServiceClient<gatehouse_tests::Grpc>) {
    let bound = gatehouse_runtime::access::VERIFIED_FOR + Duration::from_secs(2);
    let since = Instant::now();
    loop {
        match keys.list_signing_keys(token_pb::ListSigningKeysRequest {}).await {
            Err(status) if status.code() == Code::Unauthenticated => return,
            Ok(_) => assert!(since.elapsed() < bound, "still accepted after {bound:?}"),
            Err(status) => panic!("unexpected {status:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events(env: &TestEnv, filter: common::ListAuditEventsRequest) -> Vec<common::AuditEvent> {
    let operator = env.as_role(Role::Operator);
    let mut all =
        env.registry_as(operator.clone()).await.list_audit_events(filter.clone()).await.unwrap().into_inner().events;
    all.extend(
        env.authorization_as(operator.clone())
            .await
            .list_audit_events(filter.clone())
            .await
            .unwrap()
            .into_inner()
            .events,
    );
    all.extend(env.token_as(operator).await.list_audit_events(filter).await.unwrap().into_inner().events);
    all
}

fn by_action<'a>(events: &'a [common::AuditEvent], action: &str) -> Vec<&'a common::AuditEvent> {
    events.iter().filter(|e| e.action == action).collect()
}

/// Each action through each surface leaves exactly one event with the right
/// actor; a refused call leaves a refusal and no change event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_name_who_did_what_once() {
    let env = TestEnv::builder().start().await;
    // Pages: sign up, a failed and a good sign-in, an application, its secret, a consent.
    let mut browser = env.browser();
    browser.signup("dora", gatehouse_tests::TEST_PASSWORD).await;
    let mut stranger = env.browser();
    stranger.login_expecting_failure("dora", "not her password").await;
    browser.logout().await;
    browser.login("dora", gatehouse_tests::TEST_PASSWORD).await;
    let user = env
        .registry()
        .await
        .get_user(registry_pb::GetUserRequest {
            lookup: Some(registry_pb::get_user_request::Lookup::Username("dora".to_owned())),
            visible_to_scopes: None,
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    // REST: an application and a second secret, as the signed-in person.
    let session = browser.get("/api/session").await.json();
    let csrf = session["data"]["csrf_token"].as_str().unwrap().to_owned();
    let body =
        serde_json::json!({ "name": "REST app", "redirect_uris": [gatehouse_tests::CALLBACK], "scopes": ["user"] });
    let created = browser.json(reqwest::Method::POST, "/api/applications", Some(&csrf), Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let client_id = created.json()["data"]["client_id"].as_str().unwrap().to_owned();
    let secret =
        browser.json(reqwest::Method::POST, &format!("/api/applications/{client_id}/secrets"), Some(&csrf), None).await;
    assert!(secret.status < 300, "{}", secret.body);
    browser.authorization_code(&[("client_id", &client_id), ("response_type", "code")]).await;
    // An operator (CLI or gRPC): keys rotated, a credential issued.
    let operator = env.as_role(Role::Operator);
    env.token_as(operator.clone())
        .await
        .rotate_signing_keys(token_pb::RotateSigningKeysRequest { algs: vec![], force: true })
        .await
        .unwrap();
    env.registry_as(operator.clone())
        .await
        .create_credential(registry_pb::CreateCredentialRequest {
            name: "ci".to_owned(),
            role: "operator".to_owned(),
            ttl_seconds: 60,
        })
        .await
        .unwrap();
    // Refused: a validator tries to delete the account. Nothing is deleted, the refusal is recorded.
    let refused = env
        .registry_as(env.as_role(Role::Validator))
        .await
        .delete_user(registry_pb::DeleteUserRequest { user_id: user.id.clone() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let all = wait_for(&env, "rpc.refused").await;
    let created = by_action(&all, "user.created");
    assert_eq!(created.len(), 1, "{all:#?}");
    assert_eq!((created[0].actor_kind.as_str(), created[0].actor_id.as_str()), ("user", user.id.as_str()));
    let failed = by_action(&all, "signin.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].target, "username:dora");
    assert!(!failed[0].details.contains("not her password"), "never a secret");
    assert_eq!(by_action(&all, "signin.succeeded").len(), 2, "sign-up signs in, then the second sign-in");
    assert_eq!(by_action(&all, "signout").len(), 1);
    let app = by_action(&all, "application.created");
    assert_eq!(app.len(), 1);
    assert_eq!(app[0].target, format!("application:{client_id}"));
    let actor = (app[0].actor_kind.as_str(), app[0].actor_id.as_str(), app[0].actor_via.as_str());
    assert_eq!(actor, ("user", user.id.as_str(), "session"));
    let secret = by_action(&all, "secret.created");
    assert_eq!(secret.len(), 1);
    assert_eq!((secret[0].actor_kind.as_str(), secret[0].subject_user_id.as_str()), ("user", user.id.as_str()));
    let consent = by_action(&all, "consent.granted");
    assert_eq!(consent.len(), 1);
    assert_eq!((consent[0].actor_kind.as_str(), consent[0].subject_user_id.as_str()), ("user", user.id.as_str()));
    let rotated = by_action(&all, "key.rotated");
    assert_eq!(rotated.len(), 1);
    assert_eq!((rotated[0].actor_kind.as_str(), rotated[0].actor_via.as_str()), ("operator", "credential"));
    assert_eq!(by_action(&all, "credential.created").len(), 1);
    assert!(by_action(&all, "user.deleted").is_empty(), "a refused call changes nothing");
    let refusal = by_action(&all, "rpc.refused");
    assert_eq!(refusal.len(), 1);
    assert_eq!(refusal[0].target, "rpc:/gatehouse.registry.v1.RegistryService/DeleteUser");
    assert_eq!(refusal[0].actor_kind, "validator");
    for event in &all {
        assert!(!event.details.contains("gic_") && !event.details.contains("gat_"), "no secret in {event:?}");
    }

    // The person's own Security log, through the REST API: only their events.
    let log = browser.get("/api/user/security-log").await;
    assert_eq!(log.status, 200, "{}", log.body);
    let body: serde_json::Value = serde_json::from_str(&log.body).unwrap();
    let actions: Vec<&str> = body["data"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"consent.granted") && actions.contains(&"signin.succeeded"), "{actions:?}");
    assert!(!actions.contains(&"key.rotated"), "operators' events are not the person's");
    let page = browser.get("/account/security-log").await;
    assert!(page.body.contains("consent.granted"));
    // The gateway may only ask for one account's events.
    let everything =
        env.registry().await.list_audit_events(common::ListAuditEventsRequest::default()).await.unwrap_err();
    assert_eq!(everything.code(), Code::PermissionDenied);
}

/// Waits (bounded) until `action` is in the trail (refusals are written off
/// the refusal's path); every event then.
async fn wait_for(env: &TestEnv, action: &str) -> Vec<common::AuditEvent> {
    let since = Instant::now();
    loop {
        let all = events(env, common::ListAuditEventsRequest { limit: 1000, ..Default::default() }).await;
        if all.iter().any(|e| e.action == action) || since.elapsed() > Duration::from_secs(10) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_every_database!(an_edited_or_deleted_event_breaks_the_chain_there);

async fn an_edited_or_deleted_event_breaks_the_chain_there(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let env = TestEnv::builder().backend(backend).start().await;
    for name in ["u1", "u2", "u3", "u4"] {
        env.create_user(name).await;
    }
    let mut operator = env.registry_as(env.as_role(Role::Operator)).await;
    let verify = async |operator: &mut registry_pb::registry_service_client::RegistryServiceClient<
        gatehouse_tests::Grpc,
    >| { operator.verify_audit_chain(common::VerifyAuditChainRequest {}).await.unwrap().into_inner() };
    let intact = verify(&mut operator).await;
    assert_eq!((intact.events, intact.first_bad_seq), (4, 0), "{intact:?}");
    env.db
        .execute_unprepared("UPDATE registry_audit_events SET target = 'user:someone-else' WHERE seq = 2")
        .await
        .unwrap();
    let edited = verify(&mut operator).await;
    assert_eq!(edited.first_bad_seq, 2, "{edited:?}");
    assert!(edited.reason.contains("edited"));
    env.db.execute_unprepared("DELETE FROM registry_audit_events WHERE seq = 2").await.unwrap();
    let deleted = verify(&mut operator).await;
    assert_eq!(deleted.first_bad_seq, 3, "the event after the gap: {deleted:?}");
}

/// Many replicas' appends at once never fork the chain (PostgreSQL, where
/// writers are truly concurrent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_burst_keeps_the_chain_valid_on_postgres() {
    use gatehouse_runtime::audit::{Actor, AuditEvent, Outcome};
    let env = TestEnv::builder().postgres().start().await;
    let trail = env.registry_service.audit().clone();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..64 {
        let trail = trail.clone();
        tasks.spawn(async move {
            let event = AuditEvent::new(
                "test.burst",
                Outcome::Success,
                Actor::user(&format!("u{n}"), "test"),
                format!("n:{n}"),
            );
            trail.append(event).await.unwrap().seq
        });
    }
    let mut seqs = Vec::new();
    while let Some(seq) = tasks.join_next().await {
        seqs.push(seq.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=64).collect::<Vec<i64>>(), "one number each, no gaps");
    let verification = trail.verify().await.unwrap();
    assert_eq!((verification.events, verification.first_bad), (64, None));
}

/// docs/internal-services.md prints the policy table exactly as the code has it.
#[test]
fn the_docs_carry_the_policy_table() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/internal-services.md")).unwrap();
    assert!(
        docs.contains(&policy::markdown()),
        "docs/internal-services.md's policy table differs: run `gatehouse policy`"
    );
}

/// The console's calls are the gateway's with an administrator's session,
/// checked afresh by every service: no session, someone else's, a
/// non-administrator's, an ended one or one whose person lost the role is
/// refused; no caller but the gateway may present one; what the console
/// does is the administrator's in the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_calls_need_a_live_administrators_session() {
    let env = TestEnv::builder().start().await;
    let admin = env.create_user("root").await;
    let operator = env.clients_as(Role::Operator);
    operator.registry.set_user_role(&admin.id, "administrator", true).await.unwrap();
    let erin = env.create_user("erin").await;
    let (root_session, erin_session) = (env.session_of("root").await, env.session_of("erin").await);
    let list = || registry_pb::ListUsersRequest { query: String::new(), page_size: 10, page_token: String::new() };
    let keys = || token_pb::ListSigningKeysRequest {};

    let console = |session: &str| env.as_role(Role::Gateway).with_console(session);
    let refused = |status: tonic::Status, why: &str| {
        assert_eq!(status.code(), Code::PermissionDenied, "{why}: {status:?}");
        status.message().to_owned()
    };
    // The gateway alone; a person who is not an administrator; a made-up session.
    refused(env.registry().await.list_users(list()).await.unwrap_err(), "the gateway alone");
    let message = refused(env.registry_as(console(&erin_session)).await.list_users(list()).await.unwrap_err(), "erin");
    assert!(message.contains("only for a signed-in administrator"), "{message}");
    refused(env.token_as(console("ses_made_up")).await.list_signing_keys(keys()).await.unwrap_err(), "made up");
    // Another caller presenting the administrator's session: refused, whoever it is.
    for role in [Role::Validator, Role::Operator, Role::Token] {
        let as_other = env.as_role(role).with_console(&root_session);
        refused(env.registry_as(as_other).await.list_users(list()).await.unwrap_err(), role.as_str());
    }
    // The administrator's session: every service serves the console's rows, and only those.
    let users = env.registry_as(console(&root_session)).await.list_users(list()).await.unwrap().into_inner();
    assert!(users.users.iter().any(|u| u.id == erin.id), "{users:?}");
    env.token_as(console(&root_session)).await.list_signing_keys(keys()).await.unwrap();
    let mint = token_pb::CreatePersonalTokenRequest { user_id: erin.id.clone(), ..Default::default() };
    refused(env.token_as(console(&root_session)).await.create_personal_token(mint).await.unwrap_err(), "minting");
    // What the console does is the administrator's.
    let disable = registry_pb::SetUserDisabledRequest { user_id: erin.id.clone(), disabled: true };
    env.registry_as(console(&root_session)).await.set_user_disabled(disable).await.unwrap();
    let done =
        events(&env, common::ListAuditEventsRequest { action: "user.disabled".into(), ..Default::default() }).await;
    assert_eq!(
        (done[0].actor_kind.as_str(), done[0].actor_id.as_str(), done[0].actor_via.as_str()),
        ("user", admin.id.as_str(), "console")
    );
    // Not against themselves.
    let own = registry_pb::SetUserDisabledRequest { user_id: admin.id.clone(), disabled: true };
    let status = env.registry_as(console(&root_session)).await.set_user_disabled(own).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    // The role removed by an operator: the same session is refused at the next call.
    operator.registry.set_user_role(&admin.id, "administrator", false).await.unwrap();
    refused(env.registry_as(console(&root_session)).await.list_users(list()).await.unwrap_err(), "no longer");
    operator.registry.set_user_role(&admin.id, "administrator", true).await.unwrap();
    env.registry_as(console(&root_session)).await.list_users(list()).await.unwrap();
    // Signed out: refused.
    env.clients_as(Role::Gateway).authorization.logout(&root_session).await.unwrap();
    refused(env.registry_as(console(&root_session)).await.list_users(list()).await.unwrap_err(), "signed out");
}

/// Neither the gateway nor any part grants or removes the administrator role; the change is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_operators_and_the_console_grant_the_administrator_role() {
    let env = TestEnv::builder().start().await;
    let erin = env.create_user("erin").await;
    assert!(!erin.administrator, "nobody is born an administrator");
    let grant = |granted: bool| registry_pb::SetUserRoleRequest {
        user_id: erin.id.clone(),
        role: "administrator".to_owned(),
        granted,
    };
    let by_gateway = env.registry().await.set_user_role(grant(true)).await.unwrap_err();
    assert_eq!(by_gateway.code(), Code::PermissionDenied);
    let mut operator = env.registry_as(env.as_role(Role::Operator)).await;
    let granted = operator.set_user_role(grant(true)).await.unwrap().into_inner().user.unwrap();
    assert!(granted.administrator);
    let unknown_role = registry_pb::SetUserRoleRequest { role: "root".to_owned(), ..grant(true) };
    assert_eq!(operator.set_user_role(unknown_role).await.unwrap_err().code(), Code::InvalidArgument);
    let removed = operator.set_user_role(grant(false)).await.unwrap().into_inner().user.unwrap();
    assert!(!removed.administrator);
    let all =
        events(&env, common::ListAuditEventsRequest { target: format!("user:{}", erin.id), ..Default::default() })
            .await;
    assert_eq!(by_action(&all, "role.granted").len(), 1);
    assert_eq!(by_action(&all, "role.revoked").len(), 1);
    assert_eq!(by_action(&all, "role.granted")[0].actor_kind, "operator");
}

/// A flood of refused calls is not a flood of writes: at most
/// REFUSALS_PER_SECOND a second reach the trail, the next one says how many
/// were left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_calls_is_written_at_a_bounded_rate() {
    let env = TestEnv::builder().start().await;
    let mut anonymous = env.registry_as(Presenting::nothing()).await;
    let started = Instant::now();
    for _ in 0..300 {
        let request = registry_pb::GetUserRequest {
            lookup: Some(registry_pb::get_user_request::Lookup::Username("x".to_owned())),
            visible_to_scopes: None,
        };
        assert_eq!(anonymous.get_user(request).await.unwrap_err().code(), Code::Unauthenticated);
    }
    let seconds = started.elapsed().as_secs() + 7;
    let limit = u64::from(gatehouse_runtime::audit::REFUSALS_PER_SECOND) * seconds;
    // Once the next second starts, the first refusal written reports what was left out.
    let since = Instant::now();
    let written = loop {
        let request = registry_pb::GetUserRequest { lookup: None, visible_to_scopes: None };
        anonymous.get_user(request).await.unwrap_err();
        let filter =
            common::ListAuditEventsRequest { action: "rpc.refused".to_owned(), limit: 1000, ..Default::default() };
        let all = events(&env, filter).await;
        if all.iter().any(|e| e.details.contains("refusals_left_out_before"))
            || since.elapsed() > Duration::from_secs(5)
        {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!written.is_empty() && (written.len() as u64) <= limit, "{} refusals written", written.len());
    assert!(written.iter().any(|e| e.details.contains("refusals_left_out_before")), "the next refusal counts the rest");
}
