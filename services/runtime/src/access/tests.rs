use super::*;
use prost::Message as _;

/// Every `/package.Service/Method` of Gatehouse's own services, read from
/// the compiled descriptor set (what the servers actually serve).
fn served_methods() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(gatehouse_proto::pb::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = Vec::new();
    for file in set.file {
        let package = file.package().to_owned();
        if !package.starts_with("gatehouse.") {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                methods.push(format!("/{package}.{}/{}", service.name(), method.name()));
            }
        }
    }
    methods
}

#[test]
fn every_method_of_every_service_has_a_row() {
    let served = served_methods();
    assert!(served.len() > 60, "the descriptor set lists {} methods", served.len());
    for method in &served {
        assert!(matches!(policy::rule(method), Rule::Roles(roles) if !roles.is_empty()), "{method} has no policy row");
    }
    // And no row names a method nobody serves (a typo would leave the real one unguarded... and unserved).
    for (path, _) in policy::rows() {
        assert!(served.contains(&path), "the policy names {path}, which no service has");
    }
}

#[test]
fn every_role_against_every_method_matches_the_table_and_nothing_else() {
    // The one place the edges are spelt out a second time, by hand: a change
    // of the table must be a change of this list too.
    let expected_for = |role: Role| -> Vec<&'static str> {
        match role {
            Role::Validator => vec!["Exchange", "Introspect", "BatchIntrospect", "GetJwks", "WatchRevocations"],
            // GetSession and GetUser: each part checks the console's calls.
            Role::Registry => vec![
                "RevokeGrant",
                "RevokeSubjectGrants",
                "RevokeAllForSubject",
                "SignOutSessions",
                "GetSession",
                "GetUser",
            ],
            Role::Authorization => vec![
                "GetSession",
                "GetUser",
                "VerifyPassword",
                "VerifySecondFactor",
                "VerifyPasskey",
                "GetSecondFactors",
                "GetApplication",
                "AuthenticateClient",
                "ListScopes",
                "ResolveResources",
                "AuthenticateCredential",
            ],
            Role::Token => vec![
                "GetSession",
                "GetUser",
                "AuthenticateClient",
                "VerifyAssertionGrant",
                "ListScopes",
                "ResolveResources",
                "AuthenticateCredential",
                "RedeemCode",
                "RestoreCode",
                "RedeemDeviceCode",
                // A leaked registration access token reported to RevokeTokenByValue.
                "RevokeRegistrationToken",
                // The Shared Signals transmitter tails every service's audit trail.
                "ListAuditEvents",
            ],
            // The admin console's pages, and nothing that signs in, mints or verifies.
            Role::Console => vec![
                "GetUser",
                "DeleteUser",
                "SetUserRole",
                "SetUserDisabled",
                "ListUsers",
                "ListApplications",
                "GetApplication",
                "DeleteApplication",
                "ListResourceServers",
                "CreateInitialAccessToken",
                "ListInitialAccessTokens",
                "DeleteInitialAccessToken",
                "ListSessions",
                "SignOutSessions",
                "ListSigningKeys",
                "RotateSigningKeys",
                "RetireSigningKey",
                "ListAuditEvents",
                "VerifyAuditChain",
            ],
            Role::Operator | Role::Gateway => Vec::new(), // checked below by their sets
        }
    };
    for method in served_methods() {
        let name = method.rsplit('/').next().unwrap();
        for role in Role::ALL.into_iter().chain([Role::Console]) {
            let allowed = matches!(policy::rule(&method), Rule::Roles(roles) if roles.contains(&role));
            match role {
                Role::Validator | Role::Registry | Role::Authorization | Role::Token | Role::Console => {
                    assert_eq!(allowed, expected_for(role).contains(&name), "{role} on {method}");
                }
                Role::Operator => {
                    let operator_only_never = [
                        "VerifyPassword",
                        "VerifySecondFactor",
                        "VerifyPasskey",
                        "AuthenticateClient",
                        "Exchange",
                        "Login",
                        "CompleteLogin",
                        "LoginWithPasskey",
                        "RedeemCode",
                        "WatchRevocations",
                    ];
                    if operator_only_never.contains(&name) {
                        assert!(!allowed, "operator on {method}");
                    }
                }
                Role::Gateway => {
                    let never = [
                        "VerifyPassword",
                        "VerifySecondFactor",
                        "VerifyPasskey",
                        "RotateSigningKeys",
                        "RetireSigningKey",
                        "CreateCredential",
                        "CreateInitialAccessToken",
                        "CreateInvitation",
                        "SetUserRole",
                        // The console's alone: a gateway credential without an administrator's session.
                        "SetUserDisabled",
                        "ListUsers",
                        "SetClientSecret",
                        "ListSigningKeys",
                        "ListInitialAccessTokens",
                        "VerifyAuditChain",
                        "RedeemCode",
                        "AuthenticateCredential",
                    ];
                    if never.contains(&name) {
                        assert!(!allowed, "gateway on {method}");
                    }
                }
            }
        }
    }
}

#[test]
fn health_is_open_reflection_needs_a_caller_and_unknown_methods_nobody() {
    assert_eq!(policy::rule("/grpc.health.v1.Health/Check"), Rule::Open);
    assert_eq!(policy::rule("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"), Rule::AnyCaller);
    assert_eq!(policy::rule("/gatehouse.token.v1.TokenService/MintAnything"), Rule::Unknown);
    assert_eq!(policy::rule("/gatehouse.token.v1.TokenService/"), Rule::Unknown);
    assert_eq!(policy::rule("/other.Service/Exchange"), Rule::Unknown);
}

#[test]
fn peer_maps_parse_and_refuse_what_they_cannot_mean() {
    let map = PeerMap::parse(
        "spiffe://example.org/ns/gatehouse/sa/gateway=gateway, dns:Billing.internal=validator:abc, spiffe://e/x=operator",
    )
    .unwrap();
    assert!(!map.is_empty());
    for bad in [
        "nope",
        "spiffe://a=king",
        "plainname=gateway",
        "spiffe://a=validator",
        "spiffe://a=validator:",
        "dns:=token",
        "spiffe://a=token,spiffe://a=gateway",
        // The console is what the guard makes of a gateway call with an administrator's session.
        "spiffe://a=console",
    ] {
        assert!(PeerMap::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn certificates_are_identified_by_their_sans_only() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["gatehouse-token".to_owned()]).unwrap();
    params.subject_alt_names.push(rcgen::SanType::URI(
        rcgen::string::Ia5String::try_from("spiffe://example.org/ns/gatehouse/sa/token").unwrap(),
    ));
    params.distinguished_name.push(rcgen::DnType::CommonName, "spiffe://example.org/ns/gatehouse/sa/gateway");
    let der = params.self_signed(&key).unwrap().der().to_vec();
    assert_eq!(
        peer::identities(&der),
        vec!["spiffe://example.org/ns/gatehouse/sa/token".to_owned(), "dns:gatehouse-token".to_owned()]
    );
    let by_uri = PeerMap::parse("spiffe://example.org/ns/gatehouse/sa/token=token").unwrap();
    assert_eq!(by_uri.identify(&der).map(|(_, role, _)| role), Some(Role::Token));
    let by_dns = PeerMap::parse("dns:gatehouse-token=registry").unwrap();
    assert_eq!(by_dns.identify(&der).map(|(_, role, _)| role), Some(Role::Registry));
    // The common name counts for nothing.
    let by_cn = PeerMap::parse("spiffe://example.org/ns/gatehouse/sa/gateway=gateway").unwrap();
    assert_eq!(by_cn.identify(&der), None);
}

#[test]
fn in_process_credentials_name_their_role_and_nothing_else() {
    let credentials = InProcessCredentials::for_parts();
    let gateway = credentials.of(Role::Gateway).unwrap();
    assert_eq!(credentials.verify(gateway.expose()), Some(Role::Gateway));
    assert_eq!(credentials.verify(InternalCredential::generate().expose()), None);
    assert!(credentials.of(Role::Operator).is_none());
    assert!(!format!("{gateway:?}").contains(gateway.expose()));
}

#[test]
fn bearer_values_are_read_strictly() {
    let with = |value: &str| {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, http::HeaderValue::from_str(value).unwrap());
        bearer(&headers).map(str::to_owned)
    };
    assert_eq!(with("Bearer abc"), Some("abc".to_owned()));
    assert_eq!(with("bearer abc"), Some("abc".to_owned()));
    assert_eq!(with("Basic abc"), None);
    assert_eq!(with("Bearer "), None);
    assert_eq!(bearer(&http::HeaderMap::new()), None);
}
