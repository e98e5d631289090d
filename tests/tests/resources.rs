//! Resource servers and resource indicators (RFC 8707), JWT access tokens
//! (RFC 9068) and resource-server introspection (RFC 7662 §2.1), end to end
//! through the gateway: the audience a token gets, every `invalid_target`,
//! the refusals of tokens for another audience (Gatehouse's own API, the
//! tower layer), and that a JWT access token is still revocable. JWTs are
//! verified against the published JWKS with `jsonwebtoken`, as a resource
//! server does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use axum::routing::get;
use axum::{Extension, Router};
use gatehouse_client::{Caller, RequireScopes};
use gatehouse_oauth::GrantType;
use gatehouse_proto::pb::registry::v1 as registry_pb;
use gatehouse_proto::pb::token::v1::IntrospectRequest;
use gatehouse_tests::{AppSpec, CALLBACK, ClientApp, TestEnv, query_pairs, register_application};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

const API: &str = "https://api.example.com";
const OTHER: &str = "urn:example:other-api";
const SCOPES: &[&str] = &["openid", "offline_access", "user", "project"];

async fn app() -> ClientApp {
    let env = TestEnv::builder().start().await;
    let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials];
    ClientApp::with(env, &grants, SCOPES).await
}

/// Registers a resource server of the app's owner over gRPC.
async fn resource_server(app: &ClientApp, identifier: &str, format: &str, scopes: &[&str], clients: &[&str]) -> String {
    let request = registry_pb::CreateResourceServerRequest {
        owner_id: app.owner_id.clone(),
        name: format!("API {identifier}"),
        identifier: identifier.to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        token_format: format.to_owned(),
        allowed_client_ids: clients.iter().map(|s| (*s).to_owned()).collect(),
        any_client: false,
        introspection_client_id: String::new(),
        // These tests are about audiences; application tokens are admitted
        // here, and refused by default (see abuse.rs).
        application_tokens: true,
    };
    let operator = app.env.registry_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
    let created = operator.clone().create_resource_server(request).await.expect("create").into_inner();
    created.resource_server.unwrap().id
}

fn param(url: &str, name: &str) -> Option<String> {
    query_pairs(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

async fn code(app: &mut ClientApp, scope: &str, extra: &[(&str, &str)]) -> String {
    let location = app.authorize(scope, extra).await;
    param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

async fn exchange(app: &mut ClientApp, code: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CALLBACK)];
    form.extend_from_slice(extra);
    app.token(&form).await
}

/// A JWT access token verified as a resource server does (RFC 9068 §4):
/// `typ`, signature by a key of the JWKS, issuer, audience, expiry.
async fn verify_jwt(app: &mut ClientApp, token: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 §2.1");
    assert_eq!(header.alg, Algorithm::RS256, "RFC 9068 §4: RS256");
    let set: JwkSet = serde_json::from_str(&app.browser.get("/oauth/jwks").await.body).unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("the token's key is published");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[app.env.gateway_url()]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims
}

async fn grpc_introspect(app: &ClientApp, token: &str, audience: &str) -> bool {
    let request = IntrospectRequest { token: token.to_owned(), audience: audience.to_owned(), ..Default::default() };
    app.env.token().await.introspect(request).await.unwrap().into_inner().active
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_on_the_authorization_and_token_requests_becomes_the_audience_of_a_jwt() {
    let mut app = app().await;
    let client_id = app.client_id.clone();
    resource_server(&app, API, "jwt", &["user"], &[&client_id]).await;
    resource_server(&app, OTHER, "opaque", &["project"], &[&client_id]).await;

    // The consent page says where the tokens will work.
    let query = format!("client_id={client_id}&response_type=code&scope=user&redirect_uri={CALLBACK}&resource={API}");
    let consent = app.browser.get(&format!("/oauth/authorize?{query}")).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains(API), "the consent page names the resource");

    let code = code(&mut app, "openid user project offline_access", &[("resource", API), ("resource", OTHER)]).await;
    let (status, tokens) = exchange(&mut app, &code, &[("resource", API)]).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = verify_jwt(&mut app, &access, API).await;
    assert_eq!(claims["aud"], serde_json::json!([API]), "narrowed to the resource asked for");
    assert_eq!(claims["sub"], app.owner_id.as_str());
    assert_eq!(claims["client_id"], client_id.as_str());
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    // The API accepts `user` only: the token carries that and the provider's own scopes.
    assert_eq!(claims["scope"], "offline_access openid user");
    assert_eq!(tokens["scope"], "offline_access openid user", "the response says what was issued (RFC 6749 §3.3)");

    // Introspection (HTTP as the client, gRPC for the resource) reports the audience.
    let seen = app.http_introspect(&access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["aud"], serde_json::json!([API]));
    assert!(grpc_introspect(&app, &access, API).await);
    assert!(!grpc_introspect(&app, &access, OTHER).await, "a token for another resource is inactive there");

    // Gatehouse's own API is not its audience; UserInfo only needs `openid`.
    let api = app.browser.get_bearer("/api/current_user", &access).await;
    assert_eq!(api.status, 401, "{}", api.body);
    let userinfo = app.browser.get_bearer("/oauth/userinfo", &access).await;
    assert_eq!(userinfo.status, 200, "{}", userinfo.body);

    // A refresh may narrow to either resource of the grant, never to another.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, other) =
        app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("resource", OTHER)]).await;
    assert_eq!(status, 200, "{other}");
    let opaque = other["access_token"].as_str().unwrap().to_owned();
    assert!(opaque.starts_with("gat_"), "the other resource takes opaque tokens");
    assert_eq!(other["scope"], "offline_access openid project");
    assert!(grpc_introspect(&app, &opaque, OTHER).await);
    let refresh = other["refresh_token"].as_str().unwrap().to_owned();
    let (status, wider) = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("resource", "https://elsewhere.example"),
        ])
        .await;
    assert_eq!((status, wider["error"].as_str()), (400, Some("invalid_target")), "{wider}");
    // No resource on the refresh: every resource of the grant; a JWT since one of them asks for it.
    let (status, both) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "the refused refresh changed nothing: {both}");
    let claims = verify_jwt(&mut app, both["access_token"].as_str().unwrap(), OTHER).await;
    assert_eq!(claims["aud"], serde_json::json!([API, OTHER]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unknown_malformed_or_disallowed_resource_is_invalid_target() {
    let mut app = app().await;
    let client_id = app.client_id.clone();
    resource_server(&app, API, "opaque", &[], &[&client_id]).await;
    // Registered, but this application is not on its list.
    resource_server(&app, OTHER, "opaque", &[], &[]).await;

    for bad in ["https://unknown.example", OTHER, "not a uri", "https://api.example.com/#frag"] {
        let location = app.authorize("user", &[("resource", bad), ("state", "s")]).await;
        assert!(location.starts_with(CALLBACK), "an error the client receives: {location}");
        assert_eq!(param(&location, "error").as_deref(), Some("invalid_target"), "{bad}: {location}");
        assert_eq!(param(&location, "state").as_deref(), Some("s"));
    }
    // The token request names a resource the authorization request did not.
    let code_without = code(&mut app, "user", &[]).await;
    let (status, body) = exchange(&mut app, &code_without, &[("resource", API)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    // That refusal gave the code back: asked again correctly, it redeems.
    let (status, body) = exchange(&mut app, &code_without, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("gat_"));

    let (status, body) =
        app.token(&[("grant_type", "client_credentials"), ("scope", "user"), ("resource", OTHER)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    let many: Vec<(&str, String)> = (0..11).map(|i| ("resource", format!("https://r{i}.example"))).collect();
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(many.iter().map(|(k, v)| (*k, v.as_str())));
    let (status, body) = app.token(&form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    // `resource` repeats; every other parameter still may not.
    let (status, body) = app
        .token(&[("grant_type", "client_credentials"), ("scope", "user"), ("scope", "user"), ("resource", API)])
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_jwt_access_token_is_inactive_everywhere_it_is_introspected() {
    let mut app = app().await;
    let client_id = app.client_id.clone();
    resource_server(&app, API, "jwt", &[], &[&client_id]).await;
    let (status, tokens) = app.token(&[("grant_type", "client_credentials"), ("resource", API)]).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = verify_jwt(&mut app, &access, API).await;
    assert_eq!(claims["sub"], client_id.as_str(), "an application's own token: sub is the client (RFC 9068 §2.2)");
    assert!(grpc_introspect(&app, &access, API).await);

    let (id, secret) = (app.client_id.clone(), app.secret.clone());
    let revoked = app.browser.post_client("/oauth/revoke", Some((&id, &secret)), &[("token", &access)]).await;
    assert_eq!(revoked.status, 200);
    assert!(!grpc_introspect(&app, &access, API).await, "revoked: inactive over gRPC");
    assert_eq!(app.http_introspect(&access).await["active"], false, "and over HTTP");
    // A tampered JWT is not a token Gatehouse issued.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    parts[1].push('A');
    assert!(!grpc_introspect(&app, &parts.join("."), API).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_server_introspects_the_tokens_for_it_and_no_others() {
    let mut app = app().await;
    let client_id = app.client_id.clone();
    // The resource server's own confidential application, which it introspects with.
    let (rs_id, rs_secret) = register_application(
        &mut app.env.registry().await,
        &app.owner_id,
        AppSpec { name: "API backend", grants: &[GrantType::ClientCredentials], ..AppSpec::default() },
    )
    .await;
    let request = registry_pb::CreateResourceServerRequest {
        owner_id: app.owner_id.clone(),
        name: "API".to_owned(),
        identifier: API.to_owned(),
        any_client: true,
        introspection_client_id: rs_id.clone(),
        application_tokens: true,
        ..Default::default()
    };
    let mut operator = app.env.registry_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
    operator.create_resource_server(request).await.unwrap();
    resource_server(&app, OTHER, "opaque", &[], &[&client_id]).await;

    let (_, for_api) = app.token(&[("grant_type", "client_credentials"), ("resource", API)]).await;
    let (_, for_other) = app.token(&[("grant_type", "client_credentials"), ("resource", OTHER)]).await;
    let (_, for_nobody) = app.token(&[("grant_type", "client_credentials")]).await;
    let introspect = |token: &Value| {
        let token = token["access_token"].as_str().unwrap().to_owned();
        let (rs_id, rs_secret) = (rs_id.clone(), rs_secret.clone());
        let mut browser = app.env.browser();
        async move {
            browser.post_client("/oauth/introspect", Some((&rs_id, &rs_secret)), &[("token", &token)]).await.json()
        }
    };
    let seen = introspect(&for_api).await;
    assert_eq!(seen["active"], true, "a token for its resource: {seen}");
    assert_eq!(seen["client_id"], client_id.as_str());
    assert_eq!(introspect(&for_other).await["active"], false, "a token for another resource");
    assert_eq!(introspect(&for_nobody).await["active"], false, "another client's token with no audience");
    // The client still sees its own tokens, whatever their audience.
    assert_eq!(app.http_introspect(for_other["access_token"].as_str().unwrap()).await["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_refuses_other_audiences_and_verifies_jwts_locally_against_the_jwks() {
    let mut app = app().await;
    let client_id = app.client_id.clone();
    resource_server(&app, API, "jwt", &[], &[&client_id]).await;
    resource_server(&app, OTHER, "jwt", &[], &[&client_id]).await;
    let channel = app.env.validator_channel();
    let who = |Extension(caller): Extension<Caller>| async move {
        format!("{} {}", caller.client_id, caller.audience.join(","))
    };
    let router = Router::new()
        .route(
            "/introspected",
            get(who).layer(RequireScopes::new(channel.clone(), ["user"]).for_resource(API).allow_without_user()),
        )
        .route(
            "/local",
            get(who).layer(
                RequireScopes::new(channel, ["user"]).for_resource(API).verify_jwts_locally().allow_without_user(),
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let http = reqwest::Client::new();
    let call = |path: &'static str, token: String| {
        let (http, base) = (http.clone(), base.clone());
        async move { http.get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };

    let token = |scope: &'static str, resource: Option<&'static str>| {
        let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
        form.extend(resource.map(|r| ("resource", r)));
        form
    };
    let (_, for_api) = app.token(&token("user", Some(API))).await;
    let (_, for_other) = app.token(&token("user", Some(OTHER))).await;
    let (_, for_nobody) = app.token(&token("user", None)).await;
    let (_, narrow) = app.token(&token("project", Some(API))).await;
    let t = |v: &Value| v["access_token"].as_str().unwrap().to_owned();
    for path in ["/introspected", "/local"] {
        assert_eq!(call(path, t(&for_api)).await, 200, "{path}: a token for this resource");
        assert_eq!(call(path, t(&for_other)).await, 401, "{path}: a token for another resource");
        assert_eq!(call(path, t(&for_nobody)).await, 401, "{path}: a token for no resource");
        assert_eq!(call(path, t(&narrow)).await, 403, "{path}: a missing scope");
    }
    let body = http.get(format!("{base}/local")).bearer_auth(t(&for_api)).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, format!("{client_id} {API}"), "the locally verified caller");
    // A tampered signature fails locally too.
    let forged = format!("{}A", t(&for_api));
    assert_eq!(call("/local", forged).await, 401);

    // The stated price of local verification: a revoked JWT is refused by
    // introspection at once, and accepted locally until it expires.
    let (id, secret) = (app.client_id.clone(), app.secret.clone());
    app.browser.post_client("/oauth/revoke", Some((&id, &secret)), &[("token", &t(&for_api))]).await;
    assert_eq!(call("/introspected", t(&for_api)).await, 401, "revoked: refused where introspected");
    assert_eq!(call("/local", t(&for_api)).await, 200, "accepted where verified locally (documented)");
}

/// RFC 9728: a resource server behind the layer serves its protected
/// resource metadata (naming Gatehouse), and every refusal's challenge points
/// there, with the scope a client needs: what an MCP client reads first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_advertises_its_protected_resource_metadata() {
    let mut app = app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{base}/mcp");
    let client_id = app.client_id.clone();
    resource_server(&app, &resource, "jwt", &["user"], &[&client_id]).await;
    let metadata = gatehouse_client::ProtectedResource {
        resource: resource.clone(),
        authorization_server: app.env.gateway_url(),
        scopes: vec!["user".to_owned()],
    };
    let channel = app.env.validator_channel();
    let router = Router::new()
        .route(
            "/mcp",
            get(|| async { "tools" })
                .layer(RequireScopes::new(channel, ["user"]).advertise(&metadata).allow_without_user()),
        )
        .merge(metadata.router());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let http = reqwest::Client::new();

    for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
        let answer = http.get(format!("{base}{path}")).header("Origin", "https://agent.example").send().await.unwrap();
        assert_eq!(answer.headers()["access-control-allow-origin"], "*", "browser agents may read it");
        let document: Value = answer.json().await.unwrap();
        assert_eq!(document["resource"], resource.as_str(), "{path}");
        let preflight = http
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("Origin", "https://agent.example")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "mcp-protocol-version")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{path}");
        let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
        assert!(allowed.contains("mcp-protocol-version"), "{allowed}");
        assert_eq!(document["authorization_servers"], serde_json::json!([app.env.gateway_url()]));
        assert_eq!(document["scopes_supported"], serde_json::json!(["user"]));
    }
    // No token: 401 naming the metadata and the scope.
    let bare = http.get(format!("{base}/mcp")).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let challenge = bare.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains(&format!(r#"resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#)),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="user""#), "{challenge}");
    // A token for this resource works; one for no resource is refused, still pointing at the metadata.
    let (_, issued) =
        app.token(&[("grant_type", "client_credentials"), ("scope", "user"), ("resource", &resource)]).await;
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(http.get(format!("{base}/mcp")).bearer_auth(&token).send().await.unwrap().status(), 200);
    let (_, plain) = app.token(&[("grant_type", "client_credentials"), ("scope", "user")]).await;
    let refused =
        http.get(format!("{base}/mcp")).bearer_auth(plain["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().contains("resource_metadata="));
}

/// Token exchange (RFC 8693) with delegation: the API a user's token was
/// for exchanges it, as its introspection client, for a narrower token to a
/// second API; the exchanged token names the API as the actor (`act`,
/// nested at the next hop); widening, another audience and a client that was
/// not passed the token are refused; revoking the user's authorization of
/// the first application ends every exchanged token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_exchanges_a_users_token_for_a_narrower_one_naming_itself_as_actor() {
    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
    let mut app = app().await;
    let client_id = app.client_id.clone();
    let backend = |name: &'static str| AppSpec {
        name,
        grants: &[GrantType::ClientCredentials, GrantType::TokenExchange],
        ..AppSpec::default()
    };
    let (api_id, api_secret) = register_application(&mut app.env.registry().await, &app.owner_id, backend("API")).await;
    let (stranger_id, stranger_secret) =
        register_application(&mut app.env.registry().await, &app.owner_id, backend("Stranger")).await;
    let mut operator = app.env.registry_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
    let server = |identifier: &str, introspection: &str, allowed: &[&str]| registry_pb::CreateResourceServerRequest {
        owner_id: app.owner_id.clone(),
        name: format!("API {identifier}"),
        identifier: identifier.to_owned(),
        allowed_client_ids: allowed.iter().map(|s| (*s).to_owned()).collect(),
        introspection_client_id: introspection.to_owned(),
        ..Default::default()
    };
    operator.create_resource_server(server(API, &api_id, &[&client_id])).await.unwrap();
    operator.create_resource_server(server(OTHER, "", &[&api_id])).await.unwrap();
    operator.create_resource_server(server("urn:example:third", "", &[&client_id])).await.unwrap();

    let code = code(&mut app, "user project", &[("resource", API)]).await;
    let (_, tokens) = exchange(&mut app, &code, &[]).await;
    let user_token = tokens["access_token"].as_str().unwrap().to_owned();
    let mut browser = app.env.browser();
    let mut as_client = async |id: &str, secret: &str, extra: &[(&str, &str)]| {
        let mut form =
            vec![("grant_type", EXCHANGE), ("subject_token", user_token.as_str()), ("subject_token_type", ACCESS)];
        form.extend_from_slice(extra);
        let page = browser.post_client("/oauth/token", Some((id, secret)), &form).await;
        (page.status, page.json())
    };
    // Half the subject's life later: the exchanged token ends with it, not an hour after the exchange.
    let subject_expires_in = tokens["expires_in"].as_i64().unwrap();
    app.env.clock.advance(std::time::Duration::from_secs(u64::try_from(subject_expires_in / 2).unwrap()));
    let (status, exchanged) = as_client(&api_id, &api_secret, &[("resource", OTHER), ("scope", "user")]).await;
    assert_eq!(status, 200, "{exchanged}");
    assert_eq!(exchanged["issued_token_type"], ACCESS);
    assert_eq!(exchanged["scope"], "user");
    let left = exchanged["expires_in"].as_i64().unwrap();
    assert!(left <= subject_expires_in - subject_expires_in / 2, "outlives its subject: {left} s");
    let delegated = exchanged["access_token"].as_str().unwrap().to_owned();

    // Refusals: wider scope, a resource the API may not ask for, a client the token was not passed to.
    let (status, body) = as_client(&api_id, &api_secret, &[("resource", OTHER), ("scope", "user admin")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    let (status, body) = as_client(&api_id, &api_secret, &[("resource", "urn:example:third")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    let (status, body) = as_client(&stranger_id, &stranger_secret, &[("resource", OTHER)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let (status, body) =
        as_client(&api_id, &api_secret, &[("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")])
            .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    // The user's application itself was never allowed the grant.
    let (status, body) =
        app.token(&[("grant_type", EXCHANGE), ("subject_token", &user_token), ("subject_token_type", ACCESS)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");

    // Introspection names the actor; the next hop nests it.
    let request = IntrospectRequest { token: delegated.clone(), ..Default::default() };
    let seen = app.env.token().await.introspect(request).await.unwrap().into_inner();
    assert!(seen.active);
    assert_eq!((seen.client_id.as_str(), seen.actors.clone()), (api_id.as_str(), vec![api_id.clone()]));
    assert_eq!(seen.audience, vec![OTHER.to_owned()]);
    assert_eq!(seen.user_id, app.owner_id);
    let form = [("grant_type", EXCHANGE), ("subject_token", delegated.as_str()), ("subject_token_type", ACCESS)];
    let second = browser.post_client("/oauth/token", Some((&api_id, &api_secret)), &form).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let hop = second.json()["access_token"].as_str().unwrap().to_owned();
    let nested =
        browser.post_client("/oauth/introspect", Some((&api_id, &api_secret)), &[("token", &hop)]).await.json();
    assert_eq!(nested["act"]["sub"], api_id.as_str(), "{nested}");
    assert_eq!(nested["act"]["act"]["sub"], api_id.as_str(), "{nested}");

    // The user revokes the first application: everything exchanged from its grant ends.
    let revoke = gatehouse_proto::pb::token::v1::RevokeAllForGrantRequest {
        user_id: app.owner_id.clone(),
        client_id: client_id.clone(),
    };
    let mut token_operator = app.env.token_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
    token_operator.revoke_all_for_grant(revoke).await.unwrap();
    for (which, token) in [("the user's", &user_token), ("exchanged", &delegated), ("second hop", &hop)] {
        let request = IntrospectRequest { token: token.clone(), ..Default::default() };
        let seen = app.env.token().await.introspect(request).await.unwrap().into_inner();
        assert!(!seen.active, "{which} token still active after the grant was revoked");
    }
}

/// Transaction tokens (draft-ietf-oauth-transaction-tokens) down a chain:
/// the edge API exchanges the user's token for a Txn-Token of this trust
/// domain; three internal gRPC services behind `gatehouse-client` each see
/// the same transaction, the user and the narrowed scope, the token sent as
/// metadata by the edge and on by the `PropagateTxnToken` layer. A replacement keeps `txn`
/// and `sub`, narrows, and names the next workload; widening, another trust
/// domain, a refresh token and a changed `tctx` are refused; introspection
/// never takes a Txn-Token for an access token; revoking the user's grant
/// ends it at every hop, through the revocation stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txn_token_carries_the_user_down_a_three_hop_chain_and_ends_with_the_grant() {
    use gatehouse_client::{TokenCache, TokenCacheOptions, TxnContext, TxnTokens};
    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
    const TXN: &str = "urn:ietf:params:oauth:token-type:txn_token";
    const DOMAIN: &str = "127.0.0.1";
    let mut app = app().await;
    let client_id = app.client_id.clone();
    let edge = AppSpec {
        name: "Edge",
        grants: &[GrantType::ClientCredentials, GrantType::TokenExchange],
        ..AppSpec::default()
    };
    let (edge_id, edge_secret) = register_application(&mut app.env.registry().await, &app.owner_id, edge).await;
    let mut operator = app.env.registry_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
    let server = registry_pb::CreateResourceServerRequest {
        owner_id: app.owner_id.clone(),
        name: "Edge API".to_owned(),
        identifier: API.to_owned(),
        allowed_client_ids: vec![client_id.clone()],
        introspection_client_id: edge_id.clone(),
        ..Default::default()
    };
    operator.create_resource_server(server).await.unwrap();
    let code = code(&mut app, "user project", &[("resource", API)]).await;
    let (_, tokens) = exchange(&mut app, &code, &[]).await;
    let user_token = tokens["access_token"].as_str().unwrap().to_owned();
    let mut browser = app.env.browser();
    let mut txn_request = async |subject: &str, subject_type: &str, extra: &[(&str, &str)]| {
        let mut form = vec![
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", subject_type),
            ("requested_token_type", TXN),
        ];
        form.extend_from_slice(extra);
        let page = browser.post_client("/oauth/token", Some((&edge_id, &edge_secret)), &form).await;
        (page.status, page.json())
    };
    let context = r#"{"req_ip":"203.0.113.7"}"#;
    let details = r#"{"action":"read-profile"}"#;
    let (status, issued) = txn_request(
        &user_token,
        ACCESS,
        &[("audience", DOMAIN), ("scope", "user"), ("request_context", context), ("request_details", details)],
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!((issued["token_type"].as_str(), issued["issued_token_type"].as_str()), (Some("N_A"), Some(TXN)));
    assert!(issued.get("refresh_token").is_none(), "{issued}");
    let txn_token = issued["access_token"].as_str().unwrap().to_owned();
    let header = jsonwebtoken::decode_header(&txn_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("txntoken+jwt"));
    // Never an access token.
    let request = IntrospectRequest { token: txn_token.clone(), ..Default::default() };
    let seen = app.env.token().await.introspect(request).await.unwrap().into_inner();
    assert!(!seen.active, "introspection takes no Txn-Token");
    let me = reqwest::Client::new()
        .get(format!("{}/api/current_user", app.env.gateway_url()))
        .bearer_auth(&txn_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401, "a Txn-Token is no access token at the API either");

    // Refusals.
    for (why, extra, error) in [
        ("wider scope", vec![("audience", DOMAIN), ("scope", "user admin")], "invalid_scope"),
        ("another trust domain", vec![("audience", "elsewhere.example"), ("scope", "user")], "invalid_target"),
        ("no scope", vec![("audience", DOMAIN)], "invalid_request"),
        (
            "details not an object",
            vec![("audience", DOMAIN), ("scope", "user"), ("request_details", "[1]")],
            "invalid_request",
        ),
    ] {
        let (status, body) = txn_request(&user_token, ACCESS, &extra).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{why}: {body}");
    }
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = txn_request(
        refresh,
        "urn:ietf:params:oauth:token-type:refresh_token",
        &[("audience", DOMAIN), ("scope", "user")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "a refresh token: {body}");

    // Replacement: same transaction and user, narrower, the next workload named.
    let (status, replaced) = txn_request(&txn_token, TXN, &[("audience", DOMAIN), ("scope", "user")]).await;
    assert_eq!(status, 200, "{replaced}");
    let (status, body) = txn_request(&txn_token, TXN, &[("audience", DOMAIN), ("scope", "user project")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "a replacement never widens: {body}");
    let (status, body) =
        txn_request(&txn_token, TXN, &[("audience", DOMAIN), ("scope", "user"), ("request_details", details)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "tctx is immutable: {body}");

    // Over gRPC: an internal service (validator role) asks TokenService.Exchange for a
    // Txn-Token with its application's credentials; any other grant is refused there.
    let grpc_request = |requested: &str| {
        let parameters = [
            ("grant_type", EXCHANGE),
            ("subject_token", user_token.as_str()),
            ("subject_token_type", ACCESS),
            ("requested_token_type", requested),
            ("audience", DOMAIN),
            ("scope", "user"),
        ]
        .into_iter()
        .map(|(name, value)| gatehouse_proto::pb::common::v1::Parameter {
            name: name.to_owned(),
            value: value.to_owned(),
        })
        .collect();
        let client = gatehouse_proto::pb::token::v1::ClientCredentials {
            client_id: edge_id.clone(),
            client_secret: edge_secret.clone(),
            method: gatehouse_proto::pb::token::v1::ClientAuthMethod::ClientSecretBasic.into(),
            client_address: String::new(),
        };
        gatehouse_proto::pb::token::v1::ExchangeRequest { client: Some(client), parameters, dpop: None }
    };
    let mut internal = app.env.token_as(app.env.as_role(gatehouse_runtime::access::Role::Validator)).await;
    let minted = internal.exchange(grpc_request(TXN)).await.expect("a Txn-Token over gRPC").into_inner();
    assert_eq!(minted.issued_token_type, TXN);
    let refused = internal.exchange(grpc_request(ACCESS)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "only Txn-Tokens for an internal caller");

    // The chain: three gRPC services, each behind the layer; hop 1 and hop 2
    // call on through PropagateTxnToken, the edge sends the token as metadata.
    let cache = TokenCache::start(app.env.validator_channel(), TokenCacheOptions::default());
    let verifier = TxnTokens::new(app.env.validator_channel(), DOMAIN).with_revocations(cache.clone());
    let (seen, mut heard) = tokio::sync::mpsc::unbounded_channel::<(&'static str, TxnContext)>();
    let hop3 = Hop::serve("hop3", &verifier, seen.clone(), None).await;
    let hop2 = Hop::serve("hop2", &verifier, seen.clone(), Some(&hop3)).await;
    let hop1 = Hop::serve("hop1", &verifier, seen, Some(&hop2)).await;
    let channel = tonic::transport::Endpoint::from_shared(hop1).unwrap().connect_lazy();
    let call = |token: Option<String>| {
        let mut edge = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        async move {
            let mut request = tonic::Request::new(tonic_health::pb::HealthCheckRequest::default());
            if let Some(token) = token {
                request.metadata_mut().insert(gatehouse_client::TXN_TOKEN_HEADER, token.parse().unwrap());
            }
            edge.check(request).await.map(|_| ()).map_err(|status| status.code())
        }
    };
    // Local verification waits for the revocation stream (nothing would tell of a revocation before).
    gatehouse_tests::until(std::time::Duration::from_secs(10), "the revocation stream is connected", || {
        let cache = cache.clone();
        async move { cache.trusted() }
    })
    .await;
    assert_eq!(call(Some(txn_token.clone())).await, Ok(()));
    let mut seen = Vec::new();
    while let Ok(hop) = heard.try_recv() {
        seen.push(hop);
    }
    assert_eq!(seen.iter().map(|(hop, _)| *hop).collect::<Vec<_>>(), ["hop1", "hop2", "hop3"]);
    for (hop, context) in &seen {
        assert_eq!(context.txn, seen[0].1.txn, "{hop}: one transaction");
        assert_eq!(context.sub, app.owner_id, "{hop}: the user");
        assert_eq!(context.scopes, ["user"], "{hop}: the narrowed scope");
        assert_eq!(context.requesting_workloads, std::slice::from_ref(&edge_id));
        assert_eq!(context.transaction_context, Some(serde_json::json!({"action": "read-profile"})));
        assert_eq!(context.request_context, Some(serde_json::json!({"req_ip": "203.0.113.7"})));
    }
    let replaced_token = replaced["access_token"].as_str().unwrap().to_owned();
    let replaced_context = verifier.verify(&replaced_token).await.unwrap();
    assert_eq!(
        (replaced_context.txn.as_str(), replaced_context.sub.as_str()),
        (seen[0].1.txn.as_str(), app.owner_id.as_str())
    );
    assert_eq!(replaced_context.requesting_workloads, [edge_id.clone(), edge_id.clone()]);
    let refused = Err(tonic::Code::Unauthenticated);
    assert_eq!(call(None).await, refused, "no Txn-Token");
    assert_eq!(call(Some(user_token.clone())).await, refused, "an access token is no Txn-Token");
    assert_eq!(call(Some(format!("{txn_token}x"))).await, refused, "a forged one");

    // The user's grant revoked: the Txn-Tokens made from it end at every hop.
    let revoke = gatehouse_proto::pb::token::v1::RevokeAllForGrantRequest {
        user_id: app.owner_id.clone(),
        client_id: client_id.clone(),
    };
    let mut token_operator = app.env.token_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
    token_operator.revoke_all_for_grant(revoke).await.unwrap();
    gatehouse_tests::until(std::time::Duration::from_secs(10), "the stream ends the Txn-Token", || {
        let verifier = verifier.clone();
        let (a, b) = (txn_token.clone(), replaced_token.clone());
        async move { verifier.verify(&a).await.is_err() && verifier.verify(&b).await.is_err() }
    })
    .await;
    assert_eq!(call(Some(txn_token)).await, refused, "refused at the first hop");
}

/// One internal service of a Txn-Token chain: a gRPC service (the
/// standard health API standing for any RPC) behind `gatehouse-client`'s
/// Txn-Token layer, which reports the transaction it serves and calls the
/// next hop, if any, through `PropagateTxnToken`.
struct Hop {
    name: &'static str,
    seen: tokio::sync::mpsc::UnboundedSender<(&'static str, gatehouse_client::TxnContext)>,
    next: Option<
        tonic_health::pb::health_client::HealthClient<
            gatehouse_client::PropagateTxnTokenService<tonic::transport::Channel>,
        >,
    >,
}

impl Hop {
    /// Serves the hop on a free loopback port; its URL.
    async fn serve(
        name: &'static str,
        verifier: &gatehouse_client::TxnTokens,
        seen: tokio::sync::mpsc::UnboundedSender<(&'static str, gatehouse_client::TxnContext)>,
        next: Option<&str>,
    ) -> String {
        let next = next.map(|url| {
            let channel = tonic::transport::Endpoint::from_shared(url.to_owned()).unwrap().connect_lazy();
            let propagating = tower::ServiceBuilder::new().layer(gatehouse_client::PropagateTxnToken).service(channel);
            tonic_health::pb::health_client::HealthClient::new(propagating)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = tonic_health::pb::health_server::HealthServer::new(Self { name, seen, next });
        let server = tonic::transport::Server::builder().layer(verifier.layer()).add_service(service);
        tokio::spawn(server.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)));
        url
    }
}

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for Hop {
    async fn check(
        &self,
        request: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<tonic_health::pb::HealthCheckResponse>, tonic::Status> {
        let context = request.extensions().get::<gatehouse_client::TxnContext>().cloned();
        let context = context.ok_or_else(|| tonic::Status::internal("the layer gave no TxnContext"))?;
        if gatehouse_client::current_txn().as_ref() != Some(&context) {
            return Err(tonic::Status::internal("current_txn() is not the request's"));
        }
        self.seen.send((self.name, context)).ok();
        if let Some(next) = &self.next {
            next.clone().check(tonic_health::pb::HealthCheckRequest::default()).await?;
        }
        Ok(tonic::Response::new(tonic_health::pb::HealthCheckResponse { status: 1 }))
    }

    type WatchStream = tokio_stream::Empty<Result<tonic_health::pb::HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("not part of the chain"))
    }
}

/// An expired Txn-Token is refused by `gatehouse-client`, however valid its
/// signature (its lifetime here: one second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_txn_token_is_refused() {
    let env = TestEnv::builder()
        .token_config(|config| config.txn_token_ttl = std::time::Duration::from_secs(1))
        .start()
        .await;
    let grants = [GrantType::ClientCredentials, GrantType::TokenExchange];
    let app = ClientApp::with(env, &grants, SCOPES).await;
    let mut browser = app.env.browser();
    let page = browser
        .post_client(
            "/oauth/token",
            Some((&app.client_id, &app.secret)),
            &[("grant_type", "client_credentials"), ("scope", "user")],
        )
        .await;
    let own = page.json()["access_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:txn_token"),
        ("subject_token", own.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("audience", "127.0.0.1"),
        ("scope", "user"),
    ];
    let page = browser.post_client("/oauth/token", Some((&app.client_id, &app.secret)), &form).await;
    let issued = page.json();
    assert_eq!(issued["expires_in"], 1, "{issued}");
    // For a call that started inside: the application itself is the subject.
    let txn = issued["access_token"].as_str().unwrap().to_owned();
    let verifier = gatehouse_client::TxnTokens::new(app.env.validator_channel(), "127.0.0.1");
    let expires_at = gatehouse_oauth::Clock::now(&gatehouse_oauth::SystemClock).timestamp() + 1;
    gatehouse_tests::until(std::time::Duration::from_secs(10), "its expiry passes", || async move {
        gatehouse_oauth::Clock::now(&gatehouse_oauth::SystemClock).timestamp() > expires_at
    })
    .await;
    assert_eq!(verifier.verify(&txn).await.unwrap_err(), gatehouse_client::TxnError::Invalid);
}
