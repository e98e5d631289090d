//! An internal service that trusts Gatehouse for authentication.
//!
//! ```sh
//! cargo run --release                                     # Gatehouse, embedded
//! cargo run -p gatehouse-client --example internal_service  # this service on :9090
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:9090/whoami
//! ```

use axum::routing::get;
use axum::{Extension, Json, Router};
use gatehouse_client::{Caller, RequireScopes, connect_lazy};
use serde_json::{Value, json};

async fn whoami(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(
        json!({ "user_id": caller.user_id, "username": caller.username, "client_id": caller.client_id, "scopes": caller.scopes }),
    )
}

async fn projects(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(json!({ "owner": caller.username, "projects": [] }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::var("GATEHOUSE_TOKEN_URL").unwrap_or_else(|_| "http://127.0.0.1:50053".to_owned());
    let gatehouse = connect_lazy(&address)?;
    // Each route states the scopes it needs.
    let app = Router::new()
        .route("/whoami", get(whoami).layer(RequireScopes::new(gatehouse.clone(), ["user"])))
        .route("/projects", get(projects).layer(RequireScopes::new(gatehouse, ["user", "project"])));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
    println!("internal service on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
