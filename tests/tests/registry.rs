//! The registry's gRPC API, through a real server, on SQLite and PostgreSQL:
//! success and every class of bad input for each RPC.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use gatehouse_proto::pb::common::v1::{ClientType, User};
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_proto::status::{decode_field, decode_oauth};
use gatehouse_tests::{Backend, TestEnv, on_every_database};
use tonic::Code;

type Client = RegistryServiceClient<gatehouse_tests::Grpc>;

/// The registry as `role` calls it (client authentication is the token
/// service's edge, password checks the authorization service's).
async fn as_role(env: &TestEnv, role: gatehouse_runtime::access::Role) -> Client {
    env.registry_as(env.as_role(role)).await
}

async fn env(backend: Backend) -> (TestEnv, Client) {
    let env = TestEnv::builder().backend(backend).start().await;
    let client = env.registry().await;
    (env, client)
}

fn new_user(username: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        username: username.to_owned(),
        email: format!("{}@example.com", username.to_lowercase()),
        display_name: String::new(),
        avatar_url: String::new(),
        password: "correct horse battery".to_owned(),
        client_address: String::new(),
        invitation: String::new(),
    }
}

async fn create_user(client: &mut Client, username: &str) -> User {
    client.create_user(new_user(username)).await.expect("create user").into_inner().user.expect("user")
}

fn new_app(owner_id: &str) -> pb::RegisterApplicationRequest {
    pb::RegisterApplicationRequest {
        owner_id: owner_id.to_owned(),
        name: "Build Bot".to_owned(),
        description: "Runs builds".to_owned(),
        homepage_url: "https://bot.example".to_owned(),
        logo_url: String::new(),
        redirect_uris: vec!["https://bot.example/callback".to_owned()],
        client_type: ClientType::Confidential as i32,
        grant_types: vec![],
        scopes: vec!["user".to_owned(), "project".to_owned()],
        post_logout_redirect_uris: vec![],
        ..Default::default()
    }
}

async fn register(client: &mut Client, request: pb::RegisterApplicationRequest) -> (pb::Application, String) {
    let response = client.register_application(request).await.expect("register").into_inner();
    (response.application.expect("application"), response.client_secret)
}

/// Asserts the status code and that the message and the field violation name `field`.
fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with(&format!("{field}: ")), "{}", status.message());
    assert_eq!(decode_field(status).map(|f| f.0), Some(field.to_owned()));
}

async fn authenticate(env: &TestEnv, client_id: &str, secret: &str) -> Result<pb::Application, tonic::Status> {
    as_role(env, gatehouse_runtime::access::Role::Token)
        .await
        .authenticate_client(pb::AuthenticateClientRequest {
            client_id: client_id.to_owned(),
            client_secret: secret.to_owned(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().application.expect("application"))
}

on_every_database!(
    create_user_stores_and_defaults_display_name,
    create_user_rejects_each_bad_field,
    create_user_rejects_duplicate_username_in_any_case,
    get_user_by_id_and_case_insensitive_username,
    get_user_unknown_and_missing_lookup,
    verify_password_same_answer_for_wrong_password_and_unknown_user,
    register_confidential_application_returns_secret_once,
    register_public_application_has_no_secret,
    register_rejects_each_bad_field_and_writes_nothing,
    list_applications_by_owner,
    get_unknown_application_is_not_found,
    update_application_changes_only_set_fields,
    update_application_invalid_or_foreign_changes_nothing,
    delete_application_removes_it_and_its_secrets,
    rotate_secret_keeps_old_secret_working_up_to_five,
    delete_client_secret_rules,
    authenticate_client_failures_are_all_invalid_client,
    list_scopes_is_the_catalogue,
    resource_servers_are_stored_resolved_and_deleted,
    post_logout_redirect_uris_are_stored_and_validated,
);

async fn resource_servers_are_stored_resolved_and_deleted(backend: Backend) {
    let (env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "rita").await;
    let (allowed, secret) = register(&mut client, new_app(&owner.id)).await;
    let (other, _) = register(&mut client, new_app(&owner.id)).await;
    let request = pb::CreateResourceServerRequest {
        owner_id: owner.id.clone(),
        name: "Builds API".to_owned(),
        identifier: "https://builds.example/api".to_owned(),
        scopes: vec!["project".to_owned()],
        token_format: "jwt".to_owned(),
        allowed_client_ids: vec![allowed.client_id.clone()],
        any_client: false,
        introspection_client_id: other.client_id.clone(),
        application_tokens: false,
    };
    let by_gateway = client.create_resource_server(request.clone()).await.unwrap_err();
    assert_eq!(by_gateway.code(), Code::PermissionDenied, "operators register resource servers by default");
    let mut client = env.registry_as(env.as_role(gatehouse_runtime::access::Role::Operator)).await;
    let created = client.create_resource_server(request.clone()).await.unwrap().into_inner().resource_server.unwrap();
    assert_eq!(created.scopes, vec!["project"]);
    assert_eq!(created.introspection_client_id, other.client_id);
    let twice = client.create_resource_server(request).await.unwrap_err();
    assert_eq!(twice.code(), Code::AlreadyExists);

    let resolve = |client_id: &str, identifiers: &[&str]| pb::ResolveResourcesRequest {
        client_id: client_id.to_owned(),
        identifiers: identifiers.iter().map(|s| (*s).to_owned()).collect(),
        application_token: false,
    };
    let found = as_role(&env, gatehouse_runtime::access::Role::Token)
        .await
        .resolve_resources(resolve(&allowed.client_id, &["https://builds.example/api"]))
        .await
        .unwrap();
    assert_eq!(found.into_inner().resource_servers[0].token_format, "jwt");
    for (client_id, identifier) in
        [(&other.client_id, "https://builds.example/api"), (&allowed.client_id, "https://unknown.example")]
    {
        let refused = as_role(&env, gatehouse_runtime::access::Role::Token)
            .await
            .resolve_resources(resolve(client_id, &[identifier]))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(decode_oauth(&refused).map(|e| e.code.as_str()), Some("invalid_target"));
    }
    // The introspection client learns what it introspects for when it authenticates.
    let (_, other_secret) = {
        let rotated = client
            .rotate_client_secret(pb::RotateClientSecretRequest {
                client_id: other.client_id.clone(),
                acting_owner_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        (rotated.secret, rotated.client_secret)
    };
    let auth = as_role(&env, gatehouse_runtime::access::Role::Token)
        .await
        .authenticate_client(pb::AuthenticateClientRequest {
            client_id: other.client_id.clone(),
            client_secret: other_secret,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(auth.introspects_for, vec!["https://builds.example/api"]);
    let plain = as_role(&env, gatehouse_runtime::access::Role::Token)
        .await
        .authenticate_client(pb::AuthenticateClientRequest {
            client_id: allowed.client_id.clone(),
            client_secret: secret,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(plain.introspects_for.is_empty());

    let update = pb::UpdateResourceServerRequest {
        id: created.id.clone(),
        any_client: Some(true),
        introspection_client_id: Some(String::new()),
        ..Default::default()
    };
    let updated = client.update_resource_server(update).await.unwrap().into_inner().resource_server.unwrap();
    assert!(updated.any_client && updated.introspection_client_id.is_empty());
    assert!(
        as_role(&env, gatehouse_runtime::access::Role::Token)
            .await
            .resolve_resources(resolve(&other.client_id, &["https://builds.example/api"]))
            .await
            .is_ok()
    );
    let foreign = pb::GetResourceServerRequest { id: created.id.clone(), acting_owner_id: "someone".to_owned() };
    assert_eq!(client.get_resource_server(foreign).await.unwrap_err().code(), Code::NotFound);
    client
        .delete_resource_server(pb::DeleteResourceServerRequest { id: created.id.clone(), ..Default::default() })
        .await
        .unwrap();
    let gone = as_role(&env, gatehouse_runtime::access::Role::Token)
        .await
        .resolve_resources(resolve(&allowed.client_id, &["https://builds.example/api"]))
        .await;
    assert_eq!(gone.unwrap_err().code(), Code::InvalidArgument, "a deleted resource is no target");
}

async fn post_logout_redirect_uris_are_stored_and_validated(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "lou").await;
    let mut request = new_app(&owner.id);
    request.post_logout_redirect_uris = vec!["https://bot.example/bye".to_owned()];
    let (app, _) = register(&mut client, request).await;
    assert_eq!(app.post_logout_redirect_uris, vec!["https://bot.example/bye"]);
    let mut bad = new_app(&owner.id);
    bad.post_logout_redirect_uris = vec!["javascript:alert(1)".to_owned()];
    assert_invalid(&client.register_application(bad).await.unwrap_err(), "post_logout_redirect_uris");
    let cleared = client
        .update_application(pb::UpdateApplicationRequest {
            client_id: app.client_id.clone(),
            post_logout_redirect_uris: Some(pb::StringList { values: vec![] }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert!(cleared.post_logout_redirect_uris.is_empty());
}

async fn create_user_stores_and_defaults_display_name(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let user = create_user(&mut client, "Alice").await;
    assert_eq!(user.username, "Alice");
    assert_eq!(user.display_name, "Alice");
    assert_eq!(user.email, "alice@example.com");
    assert!(!user.id.is_empty());
    assert!(user.created_at > 0);
}

async fn create_user_rejects_each_bad_field(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let cases: [(&str, fn(&mut pb::CreateUserRequest)); 5] = [
        ("username", |r| r.username = "-bad".to_owned()),
        ("email", |r| r.email = "not-an-email".to_owned()),
        ("password", |r| r.password = "short".to_owned()),
        ("display_name", |r| r.display_name = "x".repeat(101)),
        ("avatar_url", |r| r.avatar_url = "javascript:alert(1)".to_owned()),
    ];
    for (field, break_it) in cases {
        let mut request = new_user("bob");
        break_it(&mut request);
        let status = client.create_user(request).await.expect_err(field);
        assert_invalid(&status, field);
    }
    // Nothing was half written: the name is still free.
    create_user(&mut client, "bob").await;
}

async fn create_user_rejects_duplicate_username_in_any_case(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    create_user(&mut client, "Carol").await;
    let status = client.create_user(new_user("cAROL")).await.expect_err("duplicate");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("taken"));
}

async fn get_user_by_id_and_case_insensitive_username(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let user = create_user(&mut client, "Dave").await;
    let by_id = client
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::Id(user.id.clone())),
            visible_to_scopes: None,
        })
        .await
        .unwrap()
        .into_inner()
        .user;
    assert_eq!(by_id.as_ref(), Some(&user));
    let by_name = client
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::Username("DAVE".to_owned())),
            visible_to_scopes: None,
        })
        .await
        .unwrap()
        .into_inner()
        .user;
    assert_eq!(by_name, Some(user));
}

async fn get_user_unknown_and_missing_lookup(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let status = client
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::Username("nobody".to_owned())),
            visible_to_scopes: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client.get_user(pb::GetUserRequest { lookup: None, visible_to_scopes: None }).await.unwrap_err();
    assert_invalid(&status, "lookup");
}

async fn verify_password_same_answer_for_wrong_password_and_unknown_user(backend: Backend) {
    let (env, mut client) = env(backend).await;
    let user = create_user(&mut client, "Erin").await;
    let verify = |username: &str, password: &str| pb::VerifyPasswordRequest {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    let ok = as_role(&env, gatehouse_runtime::access::Role::Authorization)
        .await
        .verify_password(verify("erin", "correct horse battery"))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.verified);
    assert_eq!(ok.user.map(|u| u.id), Some(user.id));
    let wrong = as_role(&env, gatehouse_runtime::access::Role::Authorization)
        .await
        .verify_password(verify("erin", "wrong password"))
        .await
        .unwrap()
        .into_inner();
    let unknown = as_role(&env, gatehouse_runtime::access::Role::Authorization)
        .await
        .verify_password(verify("nobody", "correct horse battery"))
        .await
        .unwrap()
        .into_inner();
    let malformed = as_role(&env, gatehouse_runtime::access::Role::Authorization)
        .await
        .verify_password(verify("no body!", "x"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(wrong, pb::VerifyPasswordResponse { verified: false, user: None, second_factor: false });
    assert_eq!(unknown, wrong);
    assert_eq!(malformed, wrong);
}

async fn register_confidential_application_returns_secret_once(backend: Backend) {
    let (env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "frank").await;
    let (app, secret) = register(&mut client, new_app(&owner.id)).await;
    assert!(secret.starts_with(gatehouse_registry::CLIENT_SECRET_PREFIX));
    assert!(secret.len() >= 40);
    assert_eq!(app.client_type, ClientType::Confidential as i32);
    assert_eq!(app.grant_types, vec!["authorization_code", "refresh_token"]);
    assert_eq!(app.scopes, vec!["project", "user"]);
    assert_eq!(app.secrets.len(), 1);
    assert!(secret.starts_with(&app.secrets[0].prefix));
    let fetched = client
        .get_application(pb::GetApplicationRequest { client_id: app.client_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(fetched, app);
    // The stored form is a hash: the secret appears nowhere in the database.
    let dump = format!("{fetched:?}");
    assert!(!dump.contains(&secret[8..]));
    assert_eq!(authenticate(&env, &app.client_id, &secret).await.unwrap().client_id, app.client_id);
}

async fn register_public_application_has_no_secret(backend: Backend) {
    let (env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "grace").await;
    let mut request = new_app(&owner.id);
    request.client_type = ClientType::Public as i32;
    request.redirect_uris = vec!["http://127.0.0.1/callback".to_owned()];
    let (app, secret) = register(&mut client, request).await;
    assert!(secret.is_empty());
    assert!(app.secrets.is_empty());
    assert_eq!(authenticate(&env, &app.client_id, "").await.unwrap().client_id, app.client_id);
}

async fn register_rejects_each_bad_field_and_writes_nothing(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "heidi").await;
    let cases: Vec<(&str, Box<dyn Fn(&mut pb::RegisterApplicationRequest)>)> = vec![
        ("owner_id", Box::new(|r| r.owner_id = "no-such-user".to_owned())),
        ("name", Box::new(|r| r.name = "  ".to_owned())),
        ("name", Box::new(|r| r.name = "n".repeat(101))),
        ("description", Box::new(|r| r.description = "d".repeat(1001))),
        ("homepage_url", Box::new(|r| r.homepage_url = "ftp://x.example".to_owned())),
        ("redirect_uris", Box::new(|r| r.redirect_uris = vec![])),
        ("redirect_uris", Box::new(|r| r.redirect_uris = vec!["http://app.example/cb".to_owned()])),
        ("redirect_uris", Box::new(|r| r.redirect_uris = vec!["https://app.example/cb#frag".to_owned()])),
        ("redirect_uris", Box::new(|r| r.redirect_uris = vec!["https://*.example/cb".to_owned()])),
        ("redirect_uris", Box::new(|r| r.redirect_uris = vec!["javascript:alert(1)".to_owned()])),
        ("redirect_uris", Box::new(|r| r.redirect_uris = vec!["data:text/html,x".to_owned()])),
        ("redirect_uris", Box::new(|r| r.redirect_uris = vec!["/relative".to_owned()])),
        ("scopes", Box::new(|r| r.scopes = vec!["admin".to_owned()])),
        ("client_type", Box::new(|r| r.client_type = 42)),
        ("grant_types", Box::new(|r| r.grant_types = vec!["password".to_owned()])),
        (
            "grant_types",
            Box::new(|r| {
                r.client_type = ClientType::Public as i32;
                r.grant_types = vec!["client_credentials".to_owned()];
            }),
        ),
    ];
    for (field, break_it) in cases {
        let mut request = new_app(&owner.id);
        break_it(&mut request);
        let status = client.register_application(request).await.expect_err(field);
        assert_invalid(&status, field);
    }
    let listed = client.list_applications(pb::ListApplicationsRequest { owner_id: String::new() }).await.unwrap();
    assert!(listed.into_inner().applications.is_empty(), "a failed registration wrote something");
}

async fn list_applications_by_owner(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let ivan = create_user(&mut client, "ivan").await;
    let judy = create_user(&mut client, "judy").await;
    let (a, _) = register(&mut client, new_app(&ivan.id)).await;
    let (b, _) = register(&mut client, new_app(&ivan.id)).await;
    let (c, _) = register(&mut client, new_app(&judy.id)).await;
    let list = |owner_id: &str| pb::ListApplicationsRequest { owner_id: owner_id.to_owned() };
    let ivans = client.list_applications(list(&ivan.id)).await.unwrap().into_inner().applications;
    let mut ids: Vec<_> = ivans.iter().map(|a| a.client_id.clone()).collect();
    ids.sort();
    let mut expected = vec![a.client_id.clone(), b.client_id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    let all = client.list_applications(list("")).await.unwrap().into_inner().applications;
    assert_eq!(all.len(), 3);
    assert!(all.iter().any(|app| app.client_id == c.client_id));
    assert!(all.iter().all(|app| app.secrets.len() == 1));
}

async fn get_unknown_application_is_not_found(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let status = client
        .get_application(pb::GetApplicationRequest { client_id: "nope".to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

async fn update_application_changes_only_set_fields(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "mallory").await;
    let (app, _) = register(&mut client, new_app(&owner.id)).await;
    let updated = client
        .update_application(pb::UpdateApplicationRequest {
            client_id: app.client_id.clone(),
            acting_owner_id: owner.id.clone(),
            name: Some("Renamed".to_owned()),
            redirect_uris: Some(pb::StringList {
                values: vec!["https://bot.example/a".to_owned(), "https://bot.example/b".to_owned()],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.redirect_uris.len(), 2);
    assert_eq!(updated.description, app.description);
    assert_eq!(updated.scopes, app.scopes);
    assert_eq!(updated.secrets, app.secrets);
}

async fn update_application_invalid_or_foreign_changes_nothing(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "niaj").await;
    let other = create_user(&mut client, "olivia").await;
    let (app, _) = register(&mut client, new_app(&owner.id)).await;
    let status = client
        .update_application(pb::UpdateApplicationRequest {
            client_id: app.client_id.clone(),
            name: Some("Valid name".to_owned()),
            redirect_uris: Some(pb::StringList { values: vec!["http://evil.example/cb".to_owned()] }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "redirect_uris");
    let status = client
        .update_application(pb::UpdateApplicationRequest {
            client_id: app.client_id.clone(),
            acting_owner_id: other.id.clone(),
            name: Some("Hijacked".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .update_application(pb::UpdateApplicationRequest { client_id: "nope".to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let fetched = client
        .get_application(pb::GetApplicationRequest { client_id: app.client_id.clone(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(fetched.into_inner().application.unwrap(), app);
}

async fn delete_application_removes_it_and_its_secrets(backend: Backend) {
    let (env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "peggy").await;
    let other = create_user(&mut client, "rupert").await;
    let (app, secret) = register(&mut client, new_app(&owner.id)).await;
    let delete = |acting: &str| pb::DeleteApplicationRequest {
        client_id: app.client_id.clone(),
        acting_owner_id: acting.to_owned(),
    };
    assert_eq!(client.delete_application(delete(&other.id)).await.unwrap_err().code(), Code::NotFound);
    client.delete_application(delete(&owner.id)).await.unwrap();
    assert_eq!(client.delete_application(delete("")).await.unwrap_err().code(), Code::NotFound);
    let status = client
        .get_application(pb::GetApplicationRequest { client_id: app.client_id.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = authenticate(&env, &app.client_id, &secret).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn rotate_secret_keeps_old_secret_working_up_to_five(backend: Backend) {
    let (env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "sybil").await;
    let (app, first) = register(&mut client, new_app(&owner.id)).await;
    let rotate = || pb::RotateClientSecretRequest { client_id: app.client_id.clone(), acting_owner_id: String::new() };
    let mut secrets = vec![first];
    for _ in 0..4 {
        let response = client.rotate_client_secret(rotate()).await.unwrap().into_inner();
        assert!(response.secret.is_some());
        secrets.push(response.client_secret);
    }
    for secret in &secrets {
        authenticate(&env, &app.client_id, secret).await.expect("every active secret works");
    }
    let status = client.rotate_client_secret(rotate()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("5 client secrets"));
    let stored = client
        .get_application(pb::GetApplicationRequest { client_id: app.client_id.clone(), ..Default::default() })
        .await
        .unwrap();
    let stored = stored.into_inner().application.unwrap();
    assert_eq!(stored.secrets.len(), 5);
    assert!(stored.secrets.iter().all(|s| s.last_used_at > 0), "authentication records last use");

    let mut public = new_app(&owner.id);
    public.client_type = ClientType::Public as i32;
    let (public, _) = register(&mut client, public).await;
    let status = client
        .rotate_client_secret(pb::RotateClientSecretRequest {
            client_id: public.client_id,
            acting_owner_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}

async fn delete_client_secret_rules(backend: Backend) {
    let (env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "trent").await;
    let (app, first) = register(&mut client, new_app(&owner.id)).await;
    let rotated = client
        .rotate_client_secret(pb::RotateClientSecretRequest {
            client_id: app.client_id.clone(),
            acting_owner_id: owner.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let delete = |secret_id: &str| pb::DeleteClientSecretRequest {
        client_id: app.client_id.clone(),
        secret_id: secret_id.to_owned(),
        acting_owner_id: String::new(),
    };
    assert_eq!(client.delete_client_secret(delete("nope")).await.unwrap_err().code(), Code::NotFound);
    client.delete_client_secret(delete(&app.secrets[0].id)).await.unwrap();
    assert_eq!(authenticate(&env, &app.client_id, &first).await.unwrap_err().code(), Code::Unauthenticated);
    authenticate(&env, &app.client_id, &rotated.client_secret).await.expect("new secret still works");
    let last = rotated.secret.unwrap().id;
    let status = client.delete_client_secret(delete(&last)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}

async fn authenticate_client_failures_are_all_invalid_client(backend: Backend) {
    let (env, mut client) = env(backend).await;
    let owner = create_user(&mut client, "victor").await;
    let (app, secret) = register(&mut client, new_app(&owner.id)).await;
    let mut public = new_app(&owner.id);
    public.client_type = ClientType::Public as i32;
    let (public, _) = register(&mut client, public).await;
    for (client_id, presented) in [
        (app.client_id.as_str(), "gcs_wrong"),
        (app.client_id.as_str(), ""),
        (app.client_id.as_str(), &secret[..secret.len() - 1]),
        ("unknown-client", secret.as_str()),
        (public.client_id.as_str(), "some-secret"),
    ] {
        let status = authenticate(&env, client_id, presented).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        let oauth = decode_oauth(&status).expect("carries an OAuth error");
        assert_eq!(oauth.code.as_str(), "invalid_client");
    }
}

async fn list_scopes_is_the_catalogue(backend: Backend) {
    let (_env, mut client) = env(backend).await;
    let scopes = client.list_scopes(pb::ListScopesRequest {}).await.unwrap().into_inner().scopes;
    let names: Vec<_> = scopes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "openid",
            "profile",
            "email",
            "offline_access",
            "user",
            "user:email",
            "notification",
            "social",
            "social:tweet",
            "social:message",
            "project",
            "project:members",
            "project:task",
            "project:file",
            "project:depot",
            "project:key",
            "applications:read",
            "authorizations:read",
            "tokens:read",
            "security_log:read",
            "ssf.manage",
            "ssf.read"
        ]
    );
    assert!(scopes.iter().all(|s| !s.description.is_empty() && !s.description_zh.is_empty()));
}
