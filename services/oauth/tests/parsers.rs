//! Property tests of the OAuth parsers that read untrusted input: scopes,
//! redirect URIs, PKCE values, tokens and their checksums, authorization
//! requests, error descriptions. Whatever the input, no panic, and what is
//! accepted keeps the invariants the rest of the server relies on. Bounded
//! by case counts (a few thousand each), so CI time is fixed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use gatehouse_oauth::authorize::{AuthorizeError, ClientPolicy, Params, validate};
use gatehouse_oauth::error::{MAX_DESCRIPTION_LEN, safe_description};
use gatehouse_oauth::pkce::{CodeChallenge, s256_challenge};
use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{ClientId, ClientType, RedirectUri, ScopeCatalogue, ScopeSet};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() }
}

/// Text a hostile client might send: any Unicode, often near the syntax.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z:/%#?@.\\[\\]\"\\\\ ,=&+_-]{0,64}",
        "(https?|javascript|data)://[a-zA-Z0-9.:@\\[\\]-]{0,30}(/[a-z%?#]{0,20})?",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scope_sets_parse_or_refuse_and_round_trip(value in hostile()) {
        if let Ok(set) = ScopeSet::parse(&value) {
            let again = ScopeSet::parse(&set.to_string()).expect("its own rendering parses");
            prop_assert_eq!(again, set);
        }
    }

    #[test]
    fn accepted_redirect_uris_are_https_or_loopback_http_without_fragments(value in hostile()) {
        if let Ok(uri) = RedirectUri::parse(&value) {
            let text = uri.as_str();
            prop_assert!(!text.contains('#'), "a fragment: {}", text);
            prop_assert!(text.starts_with("https://") || text.starts_with("http://"), "{}", text);
            prop_assert!(!text.contains('@'), "credentials: {}", text);
            prop_assert!(uri.matches(text), "a registered URI matches itself");
        }
    }

    #[test]
    fn pkce_challenges_parse_or_refuse_and_only_their_verifier_passes(
        challenge in hostile(),
        verifier in "[A-Za-z0-9._~-]{43,128}",
        other in "[A-Za-z0-9._~-]{43,128}",
    ) {
        let _ = CodeChallenge::parse(&challenge, Some("S256"));
        let _ = CodeChallenge::parse(&challenge, None);
        let real = CodeChallenge::parse(&s256_challenge(&verifier), Some("S256")).expect("a real challenge");
        prop_assert!(real.verify(&verifier).is_ok());
        if other != verifier {
            prop_assert!(real.verify(&other).is_err());
        }
    }

    #[test]
    fn tokens_are_recognised_only_with_their_checksum(value in hostile(), position in 0_usize..64, byte in b'a'..=b'z') {
        let _ = TokenKind::of(&value);
        for kind in TokenKind::ALL {
            let token = kind.generate();
            prop_assert_eq!(TokenKind::of(&token), Some(kind));
            // One character changed anywhere in the body: CRC32 refuses it without a lookup.
            let mut bytes = token.clone().into_bytes();
            let index = 4 + position % (bytes.len() - 4);
            if bytes[index] != byte {
                bytes[index] = byte;
                let changed = String::from_utf8(bytes).unwrap();
                prop_assert_eq!(TokenKind::of(&changed), None, "{} accepted", changed);
            }
        }
    }

    #[test]
    fn error_descriptions_are_always_plain_and_short(value in any::<String>()) {
        let safe = safe_description(&value);
        prop_assert!(safe.len() <= MAX_DESCRIPTION_LEN);
        prop_assert!(safe.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'));
    }

    #[test]
    fn any_authorization_request_is_a_page_error_or_a_redirect_to_the_registered_uri(
        pairs in proptest::collection::vec((prop_oneof![
            Just("client_id".to_owned()), Just("redirect_uri".to_owned()), Just("response_type".to_owned()),
            Just("scope".to_owned()), Just("state".to_owned()), Just("code_challenge".to_owned()),
            Just("code_challenge_method".to_owned()), "[a-z_]{1,12}",
        ], hostile()), 0..10),
    ) {
        let client = ClientPolicy {
            client_id: ClientId::parse("gh_client").unwrap(),
            client_type: ClientType::Public,
            redirect_uris: vec![RedirectUri::parse("https://app.example/cb").unwrap()],
            allows_authorization_code: true,
            scopes: ScopeSet::parse("user project").unwrap(),
        };
        match validate(&Params::new(pairs), &client, &ScopeCatalogue::default()) {
            Ok(request) => prop_assert_eq!(request.redirect_uri, "https://app.example/cb"),
            Err(AuthorizeError::Redirect { redirect_uri, .. }) => prop_assert_eq!(redirect_uri, "https://app.example/cb"),
            Err(AuthorizeError::Untrusted(_)) => {}
        }
    }
}
