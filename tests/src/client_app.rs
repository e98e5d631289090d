//! A registered confidential application with a signed-in owner: the
//! fixture of the token tests (codes through the real consent flow, token
//! requests through the real gateway, introspection over gRPC and HTTP).

use gatehouse_oauth::GrantType;
use gatehouse_proto::pb::token::v1::IntrospectRequest;
use serde_json::Value;

use crate::{AppSpec, Browser, TEST_PASSWORD, TestEnv, register_application};

/// The redirect URI every [`ClientApp`] registers.
pub const CALLBACK: &str = "https://app.example/callback";

/// An application of the user `owner`, whose browser is signed in.
#[derive(Debug)]
pub struct ClientApp {
    pub env: TestEnv,
    pub browser: Browser,
    pub client_id: String,
    pub secret: String,
    pub owner_id: String,
}

impl ClientApp {
    /// Registers an application allowed `grants` and `scopes`, owned by a new user `owner`.
    pub async fn with(env: TestEnv, grants: &[GrantType], scopes: &[&str]) -> Self {
        let owner = env.create_user("owner").await;
        let spec = AppSpec { name: "Token App", grants, scopes, ..AppSpec::default() };
        let (client_id, secret) = register_application(&mut env.registry().await, &owner.id, spec).await;
        let mut browser = env.browser();
        browser.login("owner", TEST_PASSWORD).await;
        Self { browser, client_id, secret, owner_id: owner.id, env }
    }

    /// Every grant, scopes `user`, `user:email` and `project`.
    pub async fn new(env: TestEnv) -> Self {
        Self::with(
            env,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials],
            &["user", "user:email", "project"],
        )
        .await
    }

    /// A code for `scope`, the owner approving.
    pub async fn code(&mut self, scope: &str) -> String {
        let client_id = self.client_id.clone();
        self.browser
            .authorization_code(&[
                ("client_id", &client_id),
                ("response_type", "code"),
                ("scope", scope),
                ("redirect_uri", CALLBACK),
            ])
            .await
    }

    /// An authorization request for `scope` to [`CALLBACK`] with `extra`
    /// parameters, the owner approving; the redirect to the client.
    pub async fn authorize(&mut self, scope: &str, extra: &[(&str, &str)]) -> String {
        let client_id = self.client_id.clone();
        let mut params = vec![
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("scope", scope),
            ("redirect_uri", CALLBACK),
        ];
        params.extend_from_slice(extra);
        self.browser.authorize(&params).await
    }

    /// `POST /oauth/token` with client_secret_basic; (status, body).
    pub async fn token(&mut self, form: &[(&str, &str)]) -> (u16, Value) {
        let (id, secret) = (self.client_id.clone(), self.secret.clone());
        let page = self.browser.post_client("/oauth/token", Some((&id, &secret)), form).await;
        assert_eq!(page.header("cache-control"), Some("no-store"));
        (page.status, page.json())
    }

    pub async fn exchange_code(&mut self, code: &str) -> (u16, Value) {
        self.token(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CALLBACK)]).await
    }

    /// gRPC `Introspect`, as an internal service asks.
    pub async fn introspect(&self, token: &str) -> bool {
        let request = IntrospectRequest { token: token.to_owned(), ..Default::default() };
        self.env.token().await.introspect(request).await.expect("introspect").into_inner().active
    }

    /// `POST /oauth/introspect` as this client.
    pub async fn http_introspect(&mut self, token: &str) -> Value {
        let (id, secret) = (self.client_id.clone(), self.secret.clone());
        self.browser.post_client("/oauth/introspect", Some((&id, &secret)), &[("token", token)]).await.json()
    }
}
