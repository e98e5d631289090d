//! OAuth 2.0 Protected Resource Metadata (RFC 9728) for a service behind
//! the layer: the document that tells a client (an MCP agent, say) which
//! authorization server issues its tokens, and where to find it.

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// What a resource server says of itself (RFC 9728 §2).
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    /// The resource identifier, as registered in Gatehouse (the tokens' `aud`).
    pub resource: String,
    /// Gatehouse's issuer.
    pub authorization_server: String,
    /// The scopes the resource uses; shown to clients that need to ask for them.
    pub scopes: Vec<String>,
}

/// The well-known name (RFC 9728 §3).
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

impl ProtectedResource {
    /// The path the document is served at: the well-known name, then the
    /// resource's own path when it has one (RFC 9728 §3.1: `https://api.example/mcp`
    /// → `/.well-known/oauth-protected-resource/mcp`).
    pub fn metadata_path(&self) -> String {
        let path =
            url::Url::parse(&self.resource).map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default();
        format!("{WELL_KNOWN}{path}")
    }

    /// The document's URL, for the `resource_metadata` of a challenge (§5.1).
    pub fn metadata_url(&self) -> String {
        match url::Url::parse(&self.resource) {
            Ok(url) => format!("{}{}", url.origin().ascii_serialization(), self.metadata_path()),
            Err(_) => self.metadata_path(),
        }
    }

    /// The metadata document (§2): no `null` member, only what is known.
    pub fn document(&self) -> Value {
        let mut document = json!({
            "resource": self.resource,
            "authorization_servers": [self.authorization_server],
            "bearer_methods_supported": ["header"],
        });
        // `offline_access` is the authorization server's business, never a
        // resource's scope (MCP: SHOULD NOT be listed here).
        let scopes: Vec<&String> = self.scopes.iter().filter(|s| *s != "offline_access").collect();
        if !scopes.is_empty()
            && let Some(map) = document.as_object_mut()
        {
            map.insert("scopes_supported".to_owned(), json!(scopes));
        }
        document
    }

    /// A router serving the document at [`ProtectedResource::metadata_path`]
    /// (and at the bare well-known name, which clients try next), for
    /// `Router::merge`. No authentication: the document is public, and so
    /// readable from any origin (CORS `*`, no credentials, preflights with the
    /// `MCP-Protocol-Version` header answered): agents that run in a browser
    /// fetch it before they have anything else.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let document = self.document();
        let serve = move || {
            let document = document.clone();
            async move { ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], Json(document)) }
        };
        let route = get(serve).options(preflight);
        let mut router = Router::new().route(&self.metadata_path(), route.clone());
        if self.metadata_path() != WELL_KNOWN {
            router = router.route(WELL_KNOWN, route);
        }
        router
    }
}

/// The answer to a CORS preflight of the metadata document.
async fn preflight() -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "MCP-Protocol-Version, Accept"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_form_follows_rfc_9728() {
        let mcp = ProtectedResource {
            resource: "https://api.example.com/mcp".to_owned(),
            authorization_server: "https://gatehouse.example".to_owned(),
            scopes: vec![],
        };
        assert_eq!(mcp.metadata_path(), "/.well-known/oauth-protected-resource/mcp");
        assert_eq!(mcp.metadata_url(), "https://api.example.com/.well-known/oauth-protected-resource/mcp");
        assert!(mcp.document().get("scopes_supported").is_none(), "no null, no empty member");
        let root = ProtectedResource { resource: "https://api.example.com".to_owned(), ..mcp };
        assert_eq!(root.metadata_path(), "/.well-known/oauth-protected-resource");
    }
}
