//! The example MCP server on its own (see the README, "Protecting an MCP
//! server with Gatehouse"):
//!
//! ```sh
//! cargo run --release                           # Gatehouse, embedded, on :8080
//! gatehouse resource create --owner alice --name "MCP example" \
//!     --identifier http://127.0.0.1:9091/mcp --any-client
//! cargo run -p gatehouse-mcp-example            # this server on :9091
//! npx @modelcontextprotocol/inspector           # connect to http://127.0.0.1:9091/mcp
//! ```

use gatehouse_client::{ProtectedResource, TokenCache, TokenCacheOptions, connect_from_env};
use gatehouse_mcp_example::McpServer;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Identified as a validator: GATEHOUSE_CREDENTIAL, or a client_credentials token (see connect_from_env).
    let gatehouse =
        connect_from_env(&setting("GATEHOUSE_TOKEN_URL", "http://127.0.0.1:50053")).await.map_err(|e| e.to_string())?;
    let listen = setting("MCP_LISTEN", "127.0.0.1:9091");
    let server = McpServer {
        resource: ProtectedResource {
            resource: setting("MCP_RESOURCE", &format!("http://{listen}/mcp")),
            authorization_server: setting("GATEHOUSE_ISSUER", "http://127.0.0.1:8080"),
            scopes: vec!["user".to_owned()],
        },
        required_scopes: vec!["user".to_owned()],
    };
    // Known tokens are validated from memory; revocations arrive on the stream.
    let cache = TokenCache::start(gatehouse.clone(), TokenCacheOptions::default());
    let app = server.router(gatehouse, Some(cache));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("MCP server on http://{}/mcp", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
