//! What the CLI prints: aligned text for people, one JSON document for scripts.

use gatehouse_gateway::render::json::{
    application as application_json, client_type, personal_token as personal_token_json,
    resource_server as resource_server_json, secret as secret_json, user as user_json,
};
use gatehouse_proto::convert::Account;
use gatehouse_proto::pb::common::v1 as common;
use gatehouse_proto::pb::registry::v1 as pb;
use serde_json::{Value, json};

use crate::cli::OutputFormat;

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn print_rows(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("{key:<width$}  {value}");
    }
}

/// A user as the CLI shows it: the REST API's view and the account's state.
fn user_value(user: &Account) -> Value {
    let mut value = user_json(&common::User::from(user.clone()));
    if let Some(map) = value.as_object_mut() {
        map.insert("administrator".to_owned(), json!(user.administrator));
        map.insert("disabled".to_owned(), json!(user.disabled));
        map.insert("email_verified".to_owned(), json!(user.email_verified));
    }
    value
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

pub(crate) fn user(format: OutputFormat, user: &Account) {
    match format {
        OutputFormat::Json => print_json(&user_value(user)),
        OutputFormat::Table => print_rows(&[
            ("id", user.id.clone()),
            ("username", user.username.clone()),
            ("email", user.email.clone()),
            ("display name", user.display_name.clone()),
            ("created at", when(user.created_at)),
            ("administrator", yes_no(user.administrator).to_owned()),
            ("disabled", yes_no(user.disabled).to_owned()),
        ]),
    }
}

pub(crate) fn users(format: OutputFormat, users: &[Account]) {
    match format {
        OutputFormat::Json => print_json(&Value::Array(users.iter().map(user_value).collect())),
        OutputFormat::Table => {
            println!("{:<24} {:<32} {:<20} {:<6} DISABLED", "USERNAME", "EMAIL", "CREATED AT", "ADMIN");
            for user in users {
                let created = when(user.created_at);
                let (admin, disabled) = (yes_no(user.administrator), yes_no(user.disabled));
                println!("{:<24} {:<32} {created:<20} {admin:<6} {disabled}", user.username, user.email);
            }
        }
    }
}

/// Prints an invitation: its link (with the token, shown once) and when it expires.
pub(crate) fn invitation(
    format: OutputFormat,
    invitation: &gatehouse_proto::pb::registry::v1::CreateInvitationResponse,
) {
    match format {
        OutputFormat::Json => print_json(&json!({
            "link": invitation.link,
            "token": invitation.token,
            "expires_at": invitation.expires_at,
        })),
        OutputFormat::Table => {
            print_rows(&[("link", invitation.link.clone()), ("expires at", when(invitation.expires_at))])
        }
    }
}

/// Prints an application; `new_secret` is the clear-text secret when one was just made.
pub(crate) fn application(format: OutputFormat, app: &pb::Application, new_secret: Option<&str>) {
    let new_secret = new_secret.filter(|s| !s.is_empty());
    match format {
        OutputFormat::Json => {
            let mut value = application_json(app);
            if let (Some(secret), Some(map)) = (new_secret, value.as_object_mut()) {
                map.insert("client_secret".to_owned(), json!(secret));
            }
            print_json(&value);
        }
        OutputFormat::Table => {
            let mut rows = vec![
                ("client id", app.client_id.clone()),
                ("name", app.name.clone()),
                ("type", client_type(app.client_type).to_owned()),
                ("redirect uris", app.redirect_uris.join(" ")),
                ("post-logout uris", app.post_logout_redirect_uris.join(" ")),
                ("grant types", app.grant_types.join(" ")),
                ("scopes", app.scopes.join(" ")),
            ];
            for secret in &app.secrets {
                rows.push((
                    "secret",
                    format!("{} {}... created {}", secret.id, secret.prefix, when(secret.created_at)),
                ));
            }
            if let Some(secret) = new_secret {
                rows.push(("client secret", format!("{secret}   (shown once: store it now)")));
            }
            print_rows(&rows);
        }
    }
}

pub(crate) fn applications(format: OutputFormat, apps: &[pb::Application]) {
    match format {
        OutputFormat::Json => print_json(&Value::Array(apps.iter().map(application_json).collect())),
        OutputFormat::Table => {
            println!("{:<22} {:<13} NAME", "CLIENT ID", "TYPE");
            for app in apps {
                println!("{:<22} {:<13} {}", app.client_id, client_type(app.client_type), app.name);
            }
        }
    }
}

pub(crate) fn new_secret(format: OutputFormat, client_id: &str, info: &pb::ClientSecretInfo, secret: &str) {
    match format {
        OutputFormat::Json => {
            print_json(&json!({ "client_id": client_id, "client_secret": secret, "secret": secret_json(info) }));
        }
        OutputFormat::Table => print_rows(&[
            ("client id", client_id.to_owned()),
            ("secret id", info.id.clone()),
            ("client secret", format!("{secret}   (shown once: store it now)")),
        ]),
    }
}

pub(crate) fn personal_tokens(format: OutputFormat, tokens: &[gatehouse_proto::pb::token::v1::PersonalTokenInfo]) {
    match format {
        OutputFormat::Json => print_json(&Value::Array(tokens.iter().map(personal_token_json).collect())),
        OutputFormat::Table => {
            println!("{:<38} {:<24} {:<20} NAME", "ID", "SCOPES", "EXPIRES AT");
            for token in tokens {
                let expires = when(token.expires_at);
                println!("{:<38} {:<24} {:<20} {}", token.id, token.scopes.join(" "), expires, token.name);
            }
        }
    }
}

pub(crate) fn signing_keys(format: OutputFormat, keys: &[gatehouse_proto::pb::token::v1::SigningKey]) {
    match format {
        OutputFormat::Json => print_json(&Value::Array(
            keys.iter()
                .map(|k| {
                    json!({
                        "kid": k.kid, "alg": k.alg, "state": k.state, "created_at": k.created_at,
                        "activated_at": k.activated_at, "deactivated_at": k.deactivated_at, "retired_at": k.retired_at,
                    })
                })
                .collect(),
        )),
        OutputFormat::Table => {
            println!("{:<44} {:<6} {:<9} {:<20} SINCE", "KID", "ALG", "STATE", "CREATED");
            for key in keys {
                let since = match key.state.as_str() {
                    "active" => key.activated_at,
                    "retiring" => key.deactivated_at,
                    "retired" => key.retired_at,
                    _ => key.created_at,
                };
                let (created, since) = (when(key.created_at), when(since));
                println!("{:<44} {:<6} {:<9} {created:<20} {since}", key.kid, key.alg, key.state);
            }
        }
    }
}

pub(crate) fn done(format: OutputFormat, message: &str) {
    match format {
        OutputFormat::Json => print_json(&json!({ "ok": true, "message": message })),
        OutputFormat::Table => println!("{message}"),
    }
}

/// Resource servers: one in detail (`one`), or a list.
pub(crate) fn resource_servers(format: OutputFormat, servers: &[pb::ResourceServer], one: bool) {
    match format {
        OutputFormat::Json if one => {
            if let Some(server) = servers.first() {
                print_json(&resource_server_json(server));
            }
        }
        OutputFormat::Json => print_json(&Value::Array(servers.iter().map(resource_server_json).collect())),
        OutputFormat::Table if one => {
            for server in servers {
                let clients =
                    if server.any_client { "any application".to_owned() } else { server.allowed_client_ids.join(" ") };
                print_rows(&[
                    ("id", server.id.clone()),
                    ("name", server.name.clone()),
                    ("identifier", server.identifier.clone()),
                    ("token format", server.token_format.clone()),
                    ("scopes", server.scopes.join(" ")),
                    ("applications", clients),
                    ("introspects as", server.introspection_client_id.clone()),
                ]);
            }
        }
        OutputFormat::Table => {
            println!("{:<36} {:<7} IDENTIFIER", "ID", "FORMAT");
            for server in servers {
                println!("{:<36} {:<7} {}", server.id, server.token_format, server.identifier);
            }
        }
    }
}

/// Initial access tokens; `token` is the clear text of one just created (shown once).
pub(crate) fn initial_access_tokens(format: OutputFormat, tokens: &[pb::InitialAccessToken], token: Option<&str>) {
    let expires = |t: &pb::InitialAccessToken| when(t.expires_at);
    match format {
        OutputFormat::Json => {
            let list: Vec<Value> = tokens
                .iter()
                .map(|t| {
                    let mut value = json!({ "id": t.id, "description": t.description, "created_at": t.created_at });
                    if t.expires_at != 0 {
                        value["expires_at"] = json!(t.expires_at);
                    }
                    if let Some(token) = token {
                        value["token"] = json!(token);
                    }
                    value
                })
                .collect();
            match (token, list.first()) {
                (Some(_), Some(one)) => print_json(one),
                _ => print_json(&Value::Array(list)),
            }
        }
        OutputFormat::Table => {
            if let Some(token) = token {
                for t in tokens {
                    print_rows(&[
                        ("id", t.id.clone()),
                        ("description", t.description.clone()),
                        ("expires at", expires(t)),
                        ("token", token.to_owned()),
                    ]);
                }
                println!(
                    "\nThe token is shown this once: give it to whoever registers clients (Authorization: Bearer)."
                );
            } else {
                println!("{:<36} {:<12} DESCRIPTION", "ID", "EXPIRES AT");
                for t in tokens {
                    println!("{:<36} {:<12} {}", t.id, expires(t), t.description);
                }
            }
        }
    }
}

/// When a Unix time is, in UTC (RFC 3339); "never" for 0.
fn when(unix: i64) -> String {
    if unix == 0 {
        return "never".to_owned();
    }
    chrono::DateTime::from_timestamp(unix, 0)
        .map_or_else(|| unix.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn credential_json(info: &pb::InternalCredential) -> Value {
    json!({
        "id": info.id,
        "name": info.name,
        "role": info.role,
        "created_by": info.created_by,
        "created_at": info.created_at,
        "expires_at": (info.expires_at != 0).then_some(info.expires_at),
        "revoked_at": (info.revoked_at != 0).then_some(info.revoked_at),
    })
}

/// A credential just issued, with its clear text (shown this once).
pub(crate) fn credential_created(format: OutputFormat, info: &pb::InternalCredential, credential: &str) {
    match format {
        OutputFormat::Json => {
            let mut value = credential_json(info);
            if let Some(map) = value.as_object_mut() {
                map.insert("credential".to_owned(), json!(credential));
            }
            print_json(&value);
        }
        OutputFormat::Table => {
            print_rows(&[
                ("id", info.id.clone()),
                ("name", info.name.clone()),
                ("role", info.role.clone()),
                ("expires", when(info.expires_at)),
                ("credential", credential.to_owned()),
            ]);
            eprintln!("the credential is shown this once; only its hash is kept");
        }
    }
}

pub(crate) fn credentials(format: OutputFormat, list: &[pb::InternalCredential]) {
    match format {
        OutputFormat::Json => print_json(&Value::Array(list.iter().map(credential_json).collect())),
        OutputFormat::Table => {
            for info in list {
                let state = if info.revoked_at != 0 {
                    format!("revoked {}", when(info.revoked_at))
                } else {
                    "active".to_owned()
                };
                println!(
                    "{}  {:<13}  {:<24}  expires {:<25}  {}",
                    info.id,
                    info.role,
                    info.name,
                    when(info.expires_at),
                    state
                );
            }
        }
    }
}

pub(crate) fn audit_events(format: OutputFormat, events: &[common::AuditEvent]) {
    match format {
        OutputFormat::Json => {
            print_json(&Value::Array(events.iter().map(gatehouse_gateway::render::json::audit_event).collect()))
        }
        OutputFormat::Table => {
            for event in events {
                let at = chrono::DateTime::from_timestamp_millis(event.at_ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default();
                println!(
                    "{at}  {:<13} {:<26} {:<8} {}:{} ({})  {}",
                    event.service,
                    event.action,
                    event.outcome,
                    event.actor_kind,
                    event.actor_id,
                    event.actor_via,
                    event.target
                );
            }
        }
    }
}

/// An introspection answer: RFC 7662's fields (times as RFC 3339 in tables).
pub(crate) fn introspection(format: OutputFormat, answer: &gatehouse_proto::pb::token::v1::IntrospectResponse) {
    match format {
        OutputFormat::Json => {
            let mut value = json!({ "active": answer.active });
            if answer.active {
                value = json!({
                    "active": true,
                    "token_type": answer.token_type,
                    "scope": answer.scopes.join(" "),
                    "client_id": answer.client_id,
                    "sub": answer.user_id,
                    "username": answer.username,
                    "exp": answer.expires_at,
                    "iat": answer.issued_at,
                    "aud": answer.audience,
                    "acr": answer.acr,
                    "amr": answer.amr,
                });
            }
            print_json(&value);
        }
        OutputFormat::Table if !answer.active => print_rows(&[("active", "no".to_owned())]),
        OutputFormat::Table => print_rows(&[
            ("active", "yes".to_owned()),
            ("token type", answer.token_type.clone()),
            ("scopes", answer.scopes.join(" ")),
            ("client id", answer.client_id.clone()),
            ("user id", answer.user_id.clone()),
            ("username", answer.username.clone()),
            ("issued at", when(answer.issued_at)),
            ("expires at", when(answer.expires_at)),
            ("audience", answer.audience.join(" ")),
            ("acr", answer.acr.clone()),
            ("amr", answer.amr.join(" ")),
        ]),
    }
}

/// A user's sessions (times as RFC 3339 in tables).
pub(crate) fn sessions(format: OutputFormat, sessions: &[gatehouse_proto::pb::authorization::v1::SessionInfo]) {
    match format {
        OutputFormat::Json => print_json(&Value::Array(
            sessions
                .iter()
                .map(|s| {
                    json!({
                        "id": s.id, "created_at": s.created_at, "last_seen_at": s.last_seen_at,
                        "address": s.address, "user_agent": s.user_agent,
                    })
                })
                .collect(),
        )),
        OutputFormat::Table => {
            println!("{:<38} {:<20} {:<20} {:<16} BROWSER", "ID", "SIGNED IN", "LAST SEEN", "ADDRESS");
            for s in sessions {
                let (created, seen) = (when(s.created_at), when(s.last_seen_at));
                println!("{:<38} {created:<20} {seen:<20} {:<16} {}", s.id, s.address, s.user_agent);
            }
        }
    }
}
