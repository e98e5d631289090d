//! The JSON shape of Gatehouse's resources, shared by the REST API and the
//! CLI's `--output json`, so that both speak the same documents.

use gatehouse_proto::pb::authorization::v1::Grant;
use gatehouse_proto::pb::common::v1::{ClientType, User};
use gatehouse_proto::pb::registry::v1::{Application, ClientSecretInfo};
use serde_json::{Value, json};

fn optional_time(unix: i64) -> Value {
    if unix == 0 { Value::Null } else { json!(unix) }
}

pub fn client_type(value: i32) -> &'static str {
    if value == ClientType::Public as i32 { "public" } else { "confidential" }
}

pub fn user(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "display_name": user.display_name,
        "avatar_url": user.avatar_url,
        "created_at": user.created_at,
    })
}

pub fn secret(secret: &ClientSecretInfo) -> Value {
    json!({
        "id": secret.id,
        "prefix": secret.prefix,
        "created_at": secret.created_at,
        "last_used_at": optional_time(secret.last_used_at),
    })
}

pub fn application(app: &Application) -> Value {
    json!({
        "client_id": app.client_id,
        "owner_id": app.owner_id,
        "name": app.name,
        "description": app.description,
        "homepage_url": app.homepage_url,
        "logo_url": app.logo_url,
        "redirect_uris": app.redirect_uris,
        "post_logout_redirect_uris": app.post_logout_redirect_uris,
        "client_type": client_type(app.client_type),
        // The RFC `grant_type` values, as the registry stores them.
        "grant_types": app.grant_types,
        "scopes": app.scopes,
        "id_token_signed_response_alg": app.id_token_signed_response_alg,
        "require_pushed_authorization_requests": app.require_pushed_authorization_requests,
        "dpop_bound_access_tokens": app.dpop_bound_access_tokens,
        "secrets": app.secrets.iter().map(secret).collect::<Vec<_>>(),
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    })
}

pub fn grant(grant: &Grant) -> Value {
    let app = grant.application.clone().unwrap_or_default();
    json!({
        "client_id": app.client_id,
        "name": app.name,
        "description": app.description,
        "homepage_url": app.homepage_url,
        "scopes": grant.scopes,
        "created_at": grant.created_at,
        "last_used_at": optional_time(grant.last_used_at),
    })
}

/// A personal access token's description (never the token).
pub fn personal_token(info: &gatehouse_proto::pb::token::v1::PersonalTokenInfo) -> Value {
    json!({
        "id": info.id,
        "name": info.name,
        "scopes": info.scopes,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "last_used_at": optional_time(info.last_used_at),
        "last_used_address": if info.last_used_address.is_empty() { Value::Null } else { json!(info.last_used_address) },
    })
}

/// A resource server (RFC 8707).
pub fn resource_server(server: &gatehouse_proto::pb::registry::v1::ResourceServer) -> Value {
    json!({
        "id": server.id,
        "owner_id": server.owner_id,
        "name": server.name,
        "identifier": server.identifier,
        "scopes": server.scopes,
        "token_format": server.token_format,
        "allowed_client_ids": server.allowed_client_ids,
        "any_client": server.any_client,
        "application_tokens": server.application_tokens,
        "introspection_client_id": if server.introspection_client_id.is_empty() { Value::Null } else { json!(server.introspection_client_id) },
        "created_at": server.created_at,
        "updated_at": server.updated_at,
    })
}

/// An audit event (the Security log, `gatehouse audit list --output json`).
pub fn audit_event(event: &gatehouse_proto::pb::common::v1::AuditEvent) -> Value {
    json!({
        "seq": event.seq,
        "at": chrono::DateTime::from_timestamp_millis(event.at_ms).map(|t| t.to_rfc3339()),
        "service": event.service,
        "action": event.action,
        "outcome": event.outcome,
        "actor": {"kind": event.actor_kind, "id": event.actor_id, "via": event.actor_via},
        "target": event.target,
        "subject_user_id": event.subject_user_id,
        "source": event.source,
        "request_id": event.request_id,
        "details": serde_json::from_str::<Value>(&event.details).unwrap_or(Value::Null),
        "hash": event.hash,
    })
}
