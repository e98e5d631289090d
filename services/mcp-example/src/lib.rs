//! A small MCP server behind Gatehouse: the Streamable HTTP transport's
//! JSON-RPC endpoint (MCP 2025-06-18 and later, `POST /mcp`, one JSON answer
//! per request, no server-sent stream), answering `initialize`, `ping`,
//! `tools/list` and `tools/call` for one tool, `whoami`, that reports the
//! caller Gatehouse vouched for.
//!
//! Everything about authorization is `gatehouse-client`'s and nothing here:
//! [`ProtectedResource`] serves the RFC 9728 document naming Gatehouse,
//! [`RequireScopes`] answers 401 with `resource_metadata` and `scope` (how an
//! MCP client discovers where to authorize), 403 `insufficient_scope`, and
//! accepts only tokens whose audience is this server. A hand-written
//! endpoint rather than the `rmcp` crate: the four methods are the whole
//! protocol surface a tool server needs here, and rmcp's server stack
//! (its own HTTP service, sessions, schema derivation) would double the
//! example's dependencies for no behaviour the tests exercise.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use gatehouse_client::{Caller, ProtectedResource, RequireScopes, TokenCache, Upstream};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

/// Protocol revisions this server speaks; the newest is offered when the
/// client asks for one it does not know (MCP lifecycle, version negotiation).
const PROTOCOL_VERSIONS: [&str; 4] = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];

/// What the server needs to know about itself.
#[derive(Debug, Clone)]
pub struct McpServer {
    /// Its protected resource metadata: the resource identifier (its URL,
    /// registered in Gatehouse as a resource server), Gatehouse's issuer, its scopes.
    pub resource: ProtectedResource,
    /// Scopes a token needs for any call.
    pub required_scopes: Vec<String>,
}

impl McpServer {
    /// The server's routes: `/mcp` behind the layer, the metadata document
    /// in the open, and CORS for browser-based agents around both.
    pub fn router(&self, gatehouse: Upstream, cache: Option<TokenCache>) -> Router {
        let mut layer = RequireScopes::new(gatehouse, self.required_scopes.clone()).advertise(&self.resource);
        if let Some(cache) = cache {
            layer = layer.cached(cache);
        }
        let mcp = Router::new().route("/mcp", post(rpc).get(no_stream).delete(no_stream)).layer(layer);
        mcp.merge(self.resource.router()).layer(axum::middleware::from_fn(cors))
    }
}

/// No server-initiated stream (GET) and no sessions to end (DELETE): 405,
/// which the transport reads as "not offered".
async fn no_stream() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response()
}

/// Preflights are answered before the layer (they carry no token), and
/// every answer lets a browser read the challenge and the session header.
async fn cors(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let mut response = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version"),
    );
    if preflight {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID",
            ),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    }
    response
}

fn error(id: Value, code: i64, message: &str) -> Value {
    let mut answer = json!({ "jsonrpc": "2.0", "error": { "code": code, "message": message } });
    answer["id"] = id;
    answer
}

fn result(id: Value, result: Value) -> Value {
    let mut answer = json!({ "jsonrpc": "2.0" });
    answer["id"] = id;
    answer["result"] = result;
    answer
}

async fn rpc(Extension(caller): Extension<Caller>, body: axum::body::Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return Json(error(Value::Null, -32700, "parse error")).into_response();
    };
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        // A response or a malformed message: nothing to answer.
        return (StatusCode::BAD_REQUEST, Json(error(Value::Null, -32600, "invalid request"))).into_response();
    };
    let Some(id) = message.get("id").cloned() else {
        // A notification (`notifications/initialized`, ...): accepted, no body.
        return StatusCode::ACCEPTED.into_response();
    };
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let answer = match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
            let version = PROTOCOL_VERSIONS.iter().find(|v| **v == asked).unwrap_or(&PROTOCOL_VERSIONS[0]);
            result(
                id,
                json!({
                    "protocolVersion": version,
                    "capabilities": { "tools": { "listChanged": false } },
                    "serverInfo": { "name": "gatehouse-mcp-example", "version": env!("CARGO_PKG_VERSION") },
                }),
            )
        }
        "ping" => result(id, json!({})),
        "tools/list" => result(
            id,
            json!({ "tools": [{
                "name": "whoami",
                "description": "Who the access token belongs to, as Gatehouse says",
                "inputSchema": { "type": "object", "properties": {} },
            }] }),
        ),
        "tools/call" => match params.get("name").and_then(Value::as_str) {
            Some("whoami") => {
                let who = json!({
                    "user_id": caller.user_id, "username": caller.username,
                    "client_id": caller.client_id, "scopes": caller.scopes, "audience": caller.audience,
                });
                result(id, json!({ "content": [{ "type": "text", "text": who.to_string() }], "isError": false }))
            }
            _ => error(id, -32602, "unknown tool"),
        },
        _ => error(id, -32601, "method not found"),
    };
    Json(answer).into_response()
}
