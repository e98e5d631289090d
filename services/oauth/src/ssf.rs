//! Where the Shared Signals transmitter's endpoints are (OpenID SSF 1.0 §7)
//! and the configuration document that names them: one place for the
//! gateway that routes them and the token service that hands out the poll
//! endpoint of a stream.

use serde_json::{Value, json};

/// Delivery by push (RFC 8935) and by poll (RFC 8936), as SSF names them.
pub const PUSH: &str = "urn:ietf:rfc:8935";
pub const POLL: &str = "urn:ietf:rfc:8936";

/// The endpoints, below the issuer.
pub const CONFIGURATION: &str = "/.well-known/ssf-configuration";
pub const STREAMS: &str = "/ssf/streams";
pub const STATUS: &str = "/ssf/status";
pub const ADD_SUBJECT: &str = "/ssf/subjects/add";
pub const REMOVE_SUBJECT: &str = "/ssf/subjects/remove";
pub const VERIFY: &str = "/ssf/verify";
/// A stream's poll endpoint is this followed by its id.
pub const POLL_PREFIX: &str = "/ssf/poll/";

/// The poll endpoint of the stream `stream_id`.
pub fn poll_endpoint(issuer: &str, stream_id: &str) -> String {
    format!("{}{POLL_PREFIX}{stream_id}", issuer.trim_end_matches('/'))
}

/// The transmitter configuration (SSF §7.1) of `issuer`, with what the CAEP
/// interoperability profile makes mandatory.
pub fn configuration(issuer: &str) -> Value {
    let issuer = issuer.trim_end_matches('/');
    json!({
        "spec_version": "1_0",
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/oauth/jwks"),
        "delivery_methods_supported": [PUSH, POLL],
        "configuration_endpoint": format!("{issuer}{STREAMS}"),
        "status_endpoint": format!("{issuer}{STATUS}"),
        "add_subject_endpoint": format!("{issuer}{ADD_SUBJECT}"),
        "remove_subject_endpoint": format!("{issuer}{REMOVE_SUBJECT}"),
        "verification_endpoint": format!("{issuer}{VERIFY}"),
        "critical_subject_members": [],
        "authorization_schemes": [{ "spec_urn": "urn:ietf:rfc:6749" }],
        "default_subjects": "ALL",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_below_the_issuer_and_the_poll_endpoint_matches_its_route() {
        let document = configuration("https://id.example/");
        assert_eq!(document["issuer"], "https://id.example");
        assert_eq!(document["configuration_endpoint"], "https://id.example/ssf/streams");
        assert_eq!(poll_endpoint("https://id.example/", "s1"), "https://id.example/ssf/poll/s1");
    }
}
