//! Property tests of the gateway's parsers of untrusted input: form and
//! query bodies, the Basic header, client credentials, bearer tokens,
//! cookies, cross-site headers and the OAuth error body. No input panics,
//! and what is accepted keeps its invariants. Bounded by case counts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use base64::Engine;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use gatehouse_oauth::Params;

use crate::routes::credentials::{bearer, client};
use crate::routes::form::FormData;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() }
}

fn header(name: &'static str, value: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(value) {
        headers.insert(name, value);
    }
    headers
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn forms_parse_any_bytes_and_round_trip_their_pairs(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        pairs in proptest::collection::vec((any::<String>(), any::<String>()), 0..8),
    ) {
        let _ = FormData::parse(&bytes);
        let encoded: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        prop_assert_eq!(FormData::parse(encoded.as_bytes()).0, pairs);
    }

    #[test]
    fn basic_credentials_of_any_shape_are_parsed_or_refused(raw in proptest::collection::vec(any::<u8>(), 0..200), text in any::<String>()) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&raw);
        for value in [format!("Basic {encoded}"), format!("Basic {text}"), text.clone()] {
            let headers = header("authorization", value.as_bytes());
            match client(&headers, &Params::default(), String::new()) {
                Ok((credentials, _)) => prop_assert!(credentials.client_id.len() <= value.len() * 3),
                Err(error) => prop_assert!(error.oauth.is_some(), "a refusal is an OAuth error"),
            }
        }
    }

    #[test]
    fn duplicate_parameters_are_refused_whatever_they_are(name in "[a-z_]{1,12}", a in any::<String>(), b in any::<String>()) {
        let params = Params::new(vec![(name.clone(), a), (name, b)]);
        prop_assert!(params.refuse_repeated().is_err());
    }

    #[test]
    fn bearer_tokens_come_one_way_only(header_value in any::<String>(), query in any::<String>()) {
        let headers = header("authorization", header_value.as_bytes());
        if let Ok(Some(token)) = bearer(&headers, Some(&query)) {
            prop_assert!(!token.is_empty());
        }
    }

    #[test]
    fn cookies_of_any_shape_are_read_or_ignored(value in proptest::collection::vec(any::<u8>(), 0..300)) {
        let headers = header("cookie", &value);
        if let Some(session) = crate::session::cookie(&headers, "gatehouse_session") {
            prop_assert!(!session.contains(';'));
        }
    }

    #[test]
    fn oauth_error_bodies_are_plain_json_whatever_the_message(message in any::<String>()) {
        let mut error = crate::error::GatewayError::bad_request(message.clone());
        error.oauth = Some(gatehouse_oauth::OAuthError::invalid_request(message));
        let response = crate::render::oauth_json::error(&error, false);
        prop_assert_eq!(response.status(), http::StatusCode::BAD_REQUEST);
    }
}
