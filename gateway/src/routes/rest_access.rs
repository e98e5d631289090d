//! Who may call each REST operation, in one table: the router's `/api`
//! operations and the JSON OAuth API of dynamic registration. A bearer
//! token reaches an operation only through the scope its row names (and
//! only to read: changes need a browser session and its CSRF token); the
//! `user` scope reads the profile and nothing else. An operation missing
//! from the table answers 403 to everyone. docs/oauth.md's table and the
//! `security` entries of `openapi.json` are checked against this one.

use http::Method;

/// How an operation is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestAccess {
    /// No caller identity (the catalogue; or the operation authenticates
    /// its own way: client credentials, a registration access token).
    Open,
    /// A signed-in browser session (and its CSRF token on changes).
    Session,
    /// A session whose sign-in is recent (the last 15 minutes), for a
    /// sensitive change; an older one is refused with 403 until the person
    /// signs in again.
    RecentSession,
    /// A session, or an access token with this scope (reads only).
    SessionOrScope(&'static str),
    /// An access token with this scope.
    Scope(&'static str),
}

/// (method, route as the router writes it, access).
pub const REST_ACCESS: &[(&str, &str, RestAccess)] = {
    use RestAccess::{Open, RecentSession, Scope, Session, SessionOrScope};
    &[
        ("GET", "/api/current_user", Scope("user")),
        ("GET", "/api/oauth/access_token", Open),
        ("POST", "/api/oauth/access_token", Open),
        ("GET", "/api/scopes", Open),
        ("GET", "/api/session", Session),
        ("GET", "/api/applications", SessionOrScope("applications:read")),
        ("POST", "/api/applications", Session),
        ("GET", "/api/applications/{client_id}", SessionOrScope("applications:read")),
        ("PATCH", "/api/applications/{client_id}", Session),
        ("DELETE", "/api/applications/{client_id}", RecentSession),
        ("POST", "/api/applications/{client_id}/secrets", RecentSession),
        ("DELETE", "/api/applications/{client_id}/secrets/{secret_id}", Session),
        ("GET", "/api/resource-servers", SessionOrScope("applications:read")),
        ("POST", "/api/resource-servers", Session),
        ("GET", "/api/resource-servers/{id}", SessionOrScope("applications:read")),
        ("PATCH", "/api/resource-servers/{id}", Session),
        ("DELETE", "/api/resource-servers/{id}", Session),
        ("GET", "/api/authorizations", SessionOrScope("authorizations:read")),
        ("DELETE", "/api/authorizations/{client_id}", Session),
        ("GET", "/api/tokens", SessionOrScope("tokens:read")),
        ("POST", "/api/tokens", RecentSession),
        ("DELETE", "/api/tokens/{id}", Session),
        ("POST", "/api/tokens/{id}/regenerate", RecentSession),
        ("GET", "/api/user/security-log", SessionOrScope("security_log:read")),
        // Where the account is signed in: the account's own business, never an application's.
        ("GET", "/api/user/sessions", Session),
        ("POST", "/oauth/register", Open),
        ("GET", "/oauth/register/{client_id}", Open),
        ("PUT", "/oauth/register/{client_id}", Open),
        ("DELETE", "/oauth/register/{client_id}", Open),
    ]
};

/// The access rule of `method` on the route `path`; `None`: nobody's.
pub(crate) fn rule(method: &Method, path: &str) -> Option<RestAccess> {
    REST_ACCESS.iter().find(|(m, p, _)| *m == method.as_str() && *p == path).map(|(_, _, access)| *access)
}

/// The table as docs/oauth.md shows it.
pub fn markdown() -> String {
    let mut out = String::from("| operation | session | access token |\n| --- | --- | --- |\n");
    for (method, path, access) in REST_ACCESS {
        let (session, token) = match access {
            RestAccess::Open => ("not needed", "not needed".to_owned()),
            RestAccess::Session => ("yes", "refused".to_owned()),
            RestAccess::RecentSession => ("yes, signed in within 15 minutes", "refused".to_owned()),
            RestAccess::SessionOrScope(scope) => ("yes", format!("`{scope}` (reads)")),
            RestAccess::Scope(scope) => ("no", format!("`{scope}`")),
        };
        out.push_str(&format!("| `{method} {path}` | {session} | {token} |\n"));
    }
    out
}
