//! Which audit events are security signals, and what each one says
//! (CAEP 1.0 §3, RISC 1.0 §2).

use gatehouse_runtime::audit::StoredEvent;
use serde_json::{Value, json};

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

pub(crate) const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub(crate) const CREDENTIAL_CHANGE: &str = "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub(crate) const ACCOUNT_PURGED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-purged";
pub(crate) const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
pub(crate) const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// Every event a stream can carry: what Gatehouse emits, and the two the
/// framework itself defines (delivered whatever the receiver asked).
pub(crate) const SUPPORTED_EVENTS: [&str; 5] =
    [SESSION_REVOKED, CREDENTIAL_CHANGE, ACCOUNT_PURGED, VERIFICATION, STREAM_UPDATED];

/// The framework's own events, on every stream.
pub(crate) const FRAMEWORK_EVENTS: [&str; 2] = [VERIFICATION, STREAM_UPDATED];

/// One signal about one user, to the streams of every application that
/// user has (or only of `client_id`'s, when the change was about that
/// application alone).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Signal {
    pub(crate) event_type: &'static str,
    pub(crate) user_id: String,
    pub(crate) client_id: Option<String>,
    pub(crate) payload: Value,
    /// The request that caused it: SETs of one change share their `txn` (SSF §4.1.8).
    pub(crate) txn: String,
}

/// The signals an audit event is, if any. Only changes that happened
/// (`success`) count.
pub(crate) fn signals(event: &StoredEvent) -> Vec<Signal> {
    if event.outcome != "success" || event.subject_user_id.is_empty() {
        return Vec::new();
    }
    let at = event.at / 1000;
    let by = initiating_entity(&event.actor_kind);
    let signal = |event_type: &'static str, client_id: Option<&str>, payload: Value| Signal {
        event_type,
        user_id: event.subject_user_id.clone(),
        client_id: client_id.map(str::to_owned),
        payload,
        txn: event.request_id.clone(),
    };
    let revoked =
        |reason: &str| json!({ "event_timestamp": at, "initiating_entity": by, "reason_admin": { "en": reason } });
    match (event.service.as_str(), event.action.as_str()) {
        // Signing out of Gatehouse ends the session every application's
        // sign-in rests on.
        ("authorization", "signout") => {
            vec![signal(SESSION_REVOKED, None, revoked("The user signed out of the identity provider"))]
        }
        // The user (or an operator for them) withdrew one application's
        // access: that application's tokens are revoked.
        ("registry", "consent.revoked") => match event.target.strip_prefix("application:") {
            Some(client) => vec![signal(
                SESSION_REVOKED,
                Some(client),
                revoked("The user's authorization of this application was revoked"),
            )],
            None => Vec::new(),
        },
        // An operator revoked one grant's tokens.
        ("token", "tokens.revoked") => match event.target.strip_prefix("grant:").and_then(|g| g.split_once(':')) {
            Some((_, client)) => {
                vec![signal(
                    SESSION_REVOKED,
                    Some(client),
                    revoked("The user's tokens for this application were revoked"),
                )]
            }
            None => vec![signal(SESSION_REVOKED, None, revoked("Every token of the user was revoked"))],
        },
        ("registry", "user.password_changed") => vec![signal(
            CREDENTIAL_CHANGE,
            None,
            json!({
                "credential_type": "password",
                "change_type": "update",
                "event_timestamp": at,
                "initiating_entity": by,
                "reason_admin": { "en": "The user's password was changed" },
            }),
        )],
        // A password reset by mail: the password changed, and every session
        // and token of the account ended.
        ("registry", "user.password_reset") => vec![
            signal(
                CREDENTIAL_CHANGE,
                None,
                json!({
                    "credential_type": "password",
                    "change_type": "update",
                    "event_timestamp": at,
                    "initiating_entity": by,
                    "reason_admin": { "en": "The user's password was reset by a mailed link" },
                }),
            ),
            signal(SESSION_REVOKED, None, revoked("Every session and token of the user ended with a password reset")),
        ],
        // Two-step sign-in turned on or off.
        ("registry", action @ ("totp.enabled" | "totp.disabled")) => vec![signal(
            CREDENTIAL_CHANGE,
            None,
            json!({
                "credential_type": "app",
                "change_type": if action == "totp.enabled" { "create" } else { "delete" },
                "event_timestamp": at,
                "initiating_entity": by,
                "reason_admin": { "en": "The user's authenticator app was changed" },
            }),
        )],
        // RISC §2.2: the account is gone for good.
        ("registry", "user.deleted") => vec![signal(ACCOUNT_PURGED, None, json!({}))],
        _ => Vec::new(),
    }
}

/// CAEP §2's `initiating_entity` for an audit actor.
fn initiating_entity(actor_kind: &str) -> &'static str {
    match actor_kind {
        "user" => "user",
        "operator" => "admin",
        _ => "system",
    }
}

/// Whether `event_type` is one of CAEP's or RISC's (the families a receiver may ask for).
pub(crate) fn is_signal_type(event_type: &str) -> bool {
    event_type.starts_with(CAEP) || event_type.starts_with(RISC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(service: &str, action: &str, target: &str) -> StoredEvent {
        StoredEvent {
            seq: 1,
            at: 1_700_000_000_123,
            service: service.to_owned(),
            action: action.to_owned(),
            outcome: "success".to_owned(),
            actor_kind: "user".to_owned(),
            actor_id: "u1".to_owned(),
            actor_via: "session".to_owned(),
            target: target.to_owned(),
            subject_user_id: "u1".to_owned(),
            source: String::new(),
            request_id: "req-1".to_owned(),
            details: String::new(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn each_change_is_its_signal_and_nothing_else_is_one() {
        let out = signals(&event("authorization", "signout", "user:u1"));
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].event_type, out[0].client_id.as_deref(), out[0].txn.as_str()),
            (SESSION_REVOKED, None, "req-1")
        );
        assert_eq!(out[0].payload["initiating_entity"], "user");
        assert_eq!(out[0].payload["event_timestamp"], 1_700_000_000);
        assert!(out[0].payload["reason_admin"]["en"].as_str().is_some_and(|r| !r.is_empty()));

        let out = signals(&event("registry", "consent.revoked", "application:app1"));
        assert_eq!((out[0].event_type, out[0].client_id.as_deref()), (SESSION_REVOKED, Some("app1")));
        let out = signals(&event("token", "tokens.revoked", "grant:u1:app2"));
        assert_eq!((out[0].event_type, out[0].client_id.as_deref()), (SESSION_REVOKED, Some("app2")));
        let out = signals(&event("registry", "user.deleted", "user:u1"));
        assert_eq!((out[0].event_type, &out[0].payload), (ACCOUNT_PURGED, &json!({})));
        let out = signals(&event("registry", "user.password_changed", "user:u1"));
        assert_eq!(out[0].payload["credential_type"], "password");
        assert_eq!(out[0].payload["change_type"], "update");
        let out = signals(&event("registry", "user.password_reset", "user:u1"));
        let kinds: Vec<_> = out.iter().map(|s| s.event_type).collect();
        assert_eq!(kinds, [CREDENTIAL_CHANGE, SESSION_REVOKED]);
        let out = signals(&event("registry", "totp.enabled", "user:u1"));
        assert_eq!(
            (out[0].payload["credential_type"].as_str(), out[0].payload["change_type"].as_str()),
            (Some("app"), Some("create"))
        );
        let out = signals(&event("registry", "totp.disabled", "user:u1"));
        assert_eq!(out[0].payload["change_type"], "delete");

        for (service, action) in
            [("registry", "user.created"), ("authorization", "signin.succeeded"), ("token", "key.rotated")]
        {
            assert!(signals(&event(service, action, "x")).is_empty(), "{action}");
        }
        let mut failed = event("authorization", "signout", "user:u1");
        failed.outcome = "failure".to_owned();
        assert!(signals(&failed).is_empty());
        // The same verb in another service's trail is not the same change.
        assert!(signals(&event("token", "user.deleted", "user:u1")).is_empty());
    }
}
