//! An internal service that trusts Gatehouse for authentication, validating
//! known tokens from memory (`TokenCache`, fed by the revocation stream).
//!
//! ```sh
//! cargo run --release                                     # Gatehouse, embedded
//! cargo run -p gatehouse-client --example internal_service  # this service on :9090
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:9090/whoami
//! curl http://127.0.0.1:9090/stats                        # hit ratio, stream lag, time in fallback
//! ```

use axum::routing::get;
use axum::{Extension, Json, Router};
use gatehouse_client::{Caller, RequireScopes, TokenCache, TokenCacheOptions, connect_from_env};
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
    // The token service answers identified callers only: a validator credential
    // (GATEHOUSE_CREDENTIAL) or a client_credentials token (GATEHOUSE_CLIENT_ID, …).
    let gatehouse = connect_from_env(&address).await.map_err(|e| e.to_string())?;
    // One cache for every route: a revoked token is refused within 2 s whatever fails,
    // within milliseconds when nothing does.
    let cache = TokenCache::start(gatehouse.clone(), TokenCacheOptions::default());
    let stats = cache.clone();
    // Each route states the scopes it needs.
    let app = Router::new()
        .route("/whoami", get(whoami).layer(RequireScopes::new(gatehouse.clone(), ["user"]).cached(cache.clone())))
        .route("/projects", get(projects).layer(RequireScopes::new(gatehouse, ["user", "project"]).cached(cache)))
        .route(
            "/stats",
            get(move || {
                let s = stats.stats();
                let asked = s.hits + s.misses;
                async move {
                    Json(json!({
                        "hit_ratio": if asked == 0 { 0.0 } else { s.hits as f64 / asked as f64 },
                        "hits": s.hits, "misses": s.misses, "fallbacks": s.fallbacks,
                        "stream_lag": s.head - s.cursor, "cursor": s.cursor,
                        "fallback_ms": s.fallback_ms, "revocations": s.revocations, "resets": s.resets,
                        "entries": s.entries,
                    }))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
    println!("internal service on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
