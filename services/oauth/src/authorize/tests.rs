use super::*;
use crate::pkce::s256_challenge;

fn client(client_type: ClientType, uris: &[&str]) -> ClientPolicy {
    ClientPolicy {
        client_id: ClientId::parse("app1").unwrap(),
        client_type,
        redirect_uris: uris.iter().map(|u| RedirectUri::parse(u).unwrap()).collect(),
        allows_authorization_code: true,
        scopes: ScopeSet::parse("user project user:email").unwrap(),
    }
}

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

fn base() -> Vec<(&'static str, &'static str)> {
    vec![("client_id", "app1"), ("redirect_uri", "https://app.example/cb"), ("response_type", "code"), ("state", "s1")]
}

fn redirect_error(result: Result<AuthorizationRequest, AuthorizeError>) -> (String, Option<String>, OAuthErrorCode) {
    match result {
        Err(AuthorizeError::Redirect { redirect_uri, state, error, .. }) => (redirect_uri, state, error.code),
        other => panic!("expected a redirect error, got {other:?}"),
    }
}

#[test]
fn valid_request_for_confidential_client_without_pkce() {
    let catalogue = ScopeCatalogue::default();
    let c = client(ClientType::Confidential, &["https://app.example/cb"]);
    let mut p = base();
    p.push(("scope", "user,project"));
    let request = validate(&params(&p), &c, &catalogue).unwrap();
    assert_eq!(request.scopes.to_string(), "project user");
    assert_eq!(request.state.as_deref(), Some("s1"));
    assert!(request.redirect_uri_given);
    assert!(request.code_challenge.is_none());
}

#[test]
fn authorize_rejects_unregistered_redirect_uri_without_redirecting() {
    let catalogue = ScopeCatalogue::default();
    let c = client(ClientType::Confidential, &["https://app.example/cb"]);
    for uri in ["https://evil.example/cb", "https://app.example/cb/x", "https://app.example/cb?x"] {
        let p = params(&[("client_id", "app1"), ("redirect_uri", uri), ("response_type", "code")]);
        assert!(matches!(validate(&p, &c, &catalogue), Err(AuthorizeError::Untrusted(_))), "{uri}");
    }
    let dup = params(&[("redirect_uri", "https://app.example/cb"), ("redirect_uri", "https://app.example/cb")]);
    assert!(matches!(validate(&dup, &c, &catalogue), Err(AuthorizeError::Untrusted(_))));
}

#[test]
fn omitted_redirect_uri_needs_exactly_one_registered() {
    let catalogue = ScopeCatalogue::default();
    let p = params(&[("client_id", "app1"), ("response_type", "code")]);
    let one = client(ClientType::Confidential, &["https://app.example/cb"]);
    let request = validate(&p, &one, &catalogue).unwrap();
    assert_eq!(request.redirect_uri, "https://app.example/cb");
    assert!(!request.redirect_uri_given);
    let two = client(ClientType::Confidential, &["https://app.example/cb", "https://app.example/b"]);
    assert!(matches!(validate(&p, &two, &catalogue), Err(AuthorizeError::Untrusted(_))));
}

#[test]
fn client_id_missing_duplicated_or_malformed_is_an_error_page() {
    assert!(requested_client_id(&params(&[])).is_err());
    assert!(requested_client_id(&params(&[("client_id", "a"), ("client_id", "a")])).is_err());
    assert!(requested_client_id(&params(&[("client_id", "a b")])).is_err());
    assert_eq!(requested_client_id(&params(&[("client_id", "app1")])).unwrap().as_str(), "app1");
}

#[test]
fn errors_after_trust_redirect_with_state() {
    let catalogue = ScopeCatalogue::default();
    let c = client(ClientType::Confidential, &["https://app.example/cb"]);
    let a43 = "a".repeat(43);
    let cases: Vec<(Vec<(&str, &str)>, OAuthErrorCode)> = vec![
        (vec![("response_type", "token")], OAuthErrorCode::UnsupportedResponseType),
        (vec![("scope", "admin")], OAuthErrorCode::InvalidScope),
        (vec![("scope", "social")], OAuthErrorCode::InvalidScope),
        (vec![("scope", "Bad!")], OAuthErrorCode::InvalidScope),
        (vec![("code_challenge_method", "S256")], OAuthErrorCode::InvalidRequest),
        (vec![("code_challenge", "abc"), ("code_challenge_method", "S256")], OAuthErrorCode::InvalidRequest),
        (vec![("code_challenge", a43.as_str()), ("code_challenge_method", "plain")], OAuthErrorCode::InvalidRequest),
        (vec![("scope", "user"), ("scope", "user")], OAuthErrorCode::InvalidRequest),
        (vec![("response_type", "code")], OAuthErrorCode::InvalidRequest),
    ];
    for (extra, expected) in cases {
        let mut p = base();
        p.extend(extra.iter().copied());
        if extra.iter().any(|(k, v)| *k == "response_type" && *v != "code") {
            p.retain(|(k, v)| *k != "response_type" || *v != "code");
        }
        let (uri, state, code) = redirect_error(validate(&params(&p), &c, &catalogue));
        assert_eq!(uri, "https://app.example/cb");
        assert_eq!(state.as_deref(), Some("s1"));
        assert_eq!(code, expected, "{extra:?}");
    }
}

#[test]
fn public_clients_must_use_s256_pkce() {
    let catalogue = ScopeCatalogue::default();
    let c = client(ClientType::Public, &["http://127.0.0.1/cb"]);
    let p = params(&[("client_id", "app1"), ("redirect_uri", "http://127.0.0.1:5000/cb"), ("response_type", "code")]);
    let (_, _, code) = redirect_error(validate(&p, &c, &catalogue));
    assert_eq!(code, OAuthErrorCode::InvalidRequest);
    let challenge = s256_challenge(&"v".repeat(50));
    let p = params(&[
        ("client_id", "app1"),
        ("redirect_uri", "http://127.0.0.1:5000/cb"),
        ("response_type", "code"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let request = validate(&p, &c, &catalogue).unwrap();
    assert_eq!(request.redirect_uri, "http://127.0.0.1:5000/cb");
    assert!(request.code_challenge.is_some());
}

#[test]
fn empty_scope_means_basic_profile_and_disallowed_grant_is_unauthorized_client() {
    let catalogue = ScopeCatalogue::default();
    let mut c = client(ClientType::Confidential, &["https://app.example/cb"]);
    assert_eq!(validate(&params(&base()), &c, &catalogue).unwrap().scopes.to_string(), "user");
    c.allows_authorization_code = false;
    let (_, _, code) = redirect_error(validate(&params(&base()), &c, &catalogue));
    assert_eq!(code, OAuthErrorCode::UnauthorizedClient);
}

#[test]
fn duplicated_or_oversized_state_is_refused_without_echo() {
    let catalogue = ScopeCatalogue::default();
    let c = client(ClientType::Confidential, &["https://app.example/cb"]);
    let mut p = base();
    p.push(("state", "s2"));
    let (_, state, code) = redirect_error(validate(&params(&p), &c, &catalogue));
    assert_eq!((state, code), (None, OAuthErrorCode::InvalidRequest));
    let long = "x".repeat(MAX_STATE_LEN + 1);
    let p = params(&[("client_id", "app1"), ("response_type", "code"), ("state", &long)]);
    let (_, state, _) = redirect_error(validate(&p, &c, &catalogue));
    assert_eq!(state, None);
}

#[test]
fn redirects_keep_existing_query_and_encode_values() {
    let response = code_response(
        "https://app.example/cb?x=1",
        "c0de",
        Some("a b&c"),
        "https://issuer.example",
        ResponseMode::Query,
    );
    assert_eq!(
        response.location(),
        "https://app.example/cb?x=1&code=c0de&state=a+b%26c&iss=https%3A%2F%2Fissuer.example"
    );
    let error = OAuthError::new(OAuthErrorCode::AccessDenied, "the user denied the request");
    let url = error_response("https://app.example/cb", None, &error, "http://i", ResponseMode::Query).location();
    assert!(url.starts_with("https://app.example/cb?error=access_denied&error_description=the+user+denied"));
    assert!(url.ends_with("&iss=http%3A%2F%2Fi"));
}

#[test]
fn response_mode_form_post_applies_to_errors_too() {
    let catalogue = ScopeCatalogue::default();
    let c = client(ClientType::Confidential, &["https://app.example/cb"]);
    let mut p = base();
    p.push(("response_mode", "form_post"));
    assert_eq!(validate(&params(&p), &c, &catalogue).unwrap().response_mode, ResponseMode::FormPost);
    p.push(("scope", "admin"));
    match validate(&params(&p), &c, &catalogue) {
        Err(AuthorizeError::Redirect { mode, error, .. }) => {
            assert_eq!((mode, error.code), (ResponseMode::FormPost, OAuthErrorCode::InvalidScope));
        }
        other => panic!("{other:?}"),
    }
    let mut p = base();
    p.push(("response_mode", "fragment"));
    match validate(&params(&p), &c, &catalogue) {
        Err(AuthorizeError::Redirect { mode, error, .. }) => {
            assert_eq!((mode, error.code), (ResponseMode::Query, OAuthErrorCode::InvalidRequest));
        }
        other => panic!("{other:?}"),
    }
}
