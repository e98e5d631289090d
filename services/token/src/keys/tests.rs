use super::*;

fn kek() -> KeyEncryptionKey {
    KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).unwrap()
}

const POLICY: KeyPolicy =
    KeyPolicy { rotate_every: None, publish_lead: Duration::from_secs(600), retire_after: Duration::from_secs(3600) };

fn apply(keys: &mut AlgKeys, change: KeyChange) {
    assert_eq!(change.expected_version, keys.version);
    keys.version += 1;
    keys.keys.extend(change.insert);
    for key in &mut keys.keys {
        if change.deactivate.as_deref() == Some(&key.kid) {
            key.deactivated_at = Some(change.now);
        }
        if change.activate.as_deref() == Some(&key.kid) {
            key.activated_at = Some(change.now);
        }
        if change.retire.contains(&key.kid) {
            key.retired_at = Some(change.now);
            key.sealed_private_key.clear();
        }
    }
}

fn states(keys: &AlgKeys) -> Vec<KeyState> {
    keys.keys.iter().map(StoredKey::state).collect()
}

#[test]
fn a_key_is_published_before_it_signs_and_outlives_what_it_signed() {
    for alg in SigningAlg::ALL {
        let kek = kek();
        let mut keys = AlgKeys::default();
        let change = ensure_change(alg, &keys, &kek, 1000).unwrap().unwrap();
        apply(&mut keys, change);
        assert_eq!(states(&keys), [KeyState::Active, KeyState::Next]);
        assert!(ensure_change(alg, &keys, &kek, 1000).unwrap().is_none(), "nothing to add");

        // The next key has been published for less than the lead: refused, unless forced.
        let early = rotate_change(alg, &keys, &kek, &POLICY, 1100, false).unwrap_err();
        assert!(matches!(early, TokenError::FailedPrecondition(_)), "{early:?}");
        assert!(rotate_change(alg, &keys, &kek, &POLICY, 1100, true).is_ok());

        let first = keys.keys[0].kid.clone();
        let change = rotate_change(alg, &keys, &kek, &POLICY, 1600, false).unwrap();
        apply(&mut keys, change);
        assert_eq!(states(&keys), [KeyState::Retiring, KeyState::Active, KeyState::Next]);

        // Retiring too soon would break tokens it signed.
        assert!(retire_change(&keys, &first, &POLICY, 1600 + 3599, false).is_err());
        let active = keys.keys[1].kid.clone();
        assert!(retire_change(&keys, &active, &POLICY, 99_999, true).is_err(), "the active key never retires");
        let change = retire_change(&keys, &first, &POLICY, 1600 + 3600, false).unwrap();
        apply(&mut keys, change);
        assert_eq!(keys.keys[0].state(), KeyState::Retired);
        assert!(keys.keys[0].sealed_private_key.is_empty(), "a retired key's private half is erased");
    }
}

#[test]
fn kids_are_thumbprints_and_jwks_members_are_public_only() {
    let kek = kek();
    for alg in SigningAlg::ALL {
        let key = generate(alg, &kek, 0).unwrap();
        let jwk: Jwk = serde_json::from_str(&key.public_jwk).unwrap();
        let mut bare = jwk.clone();
        bare.common = CommonParameters::default();
        assert_eq!(bare.thumbprint(ThumbprintHash::SHA256).unwrap(), key.kid);
        let value: serde_json::Value = serde_json::from_str(&key.public_jwk).unwrap();
        let names: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(!names.contains(&private), "{alg:?} JWK has private member {private}: {names:?}");
        }
        assert_eq!(value["alg"], alg.as_str());
        assert_eq!(value["use"], "sig");
        assert!(!format!("{key:?}").contains(&key.sealed_private_key));
    }
}

#[test]
fn signatures_verify_with_the_published_key() {
    let kek = kek();
    for (alg, algorithm) in
        [(SigningAlg::Rs256, jsonwebtoken::Algorithm::RS256), (SigningAlg::Es256, jsonwebtoken::Algorithm::ES256)]
    {
        let key = generate(alg, &kek, 0).unwrap();
        let signer = Signer::open(&key, &kek).unwrap();
        let jws = signer.sign("JWT", &serde_json::json!({ "sub": "u1", "exp": 4_000_000_000_i64 })).unwrap();
        let jwk: Jwk = serde_json::from_str(&key.public_jwk).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&jws, &decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "u1");
        assert_eq!(data.header.kid.as_deref(), Some(key.kid.as_str()));
        // Any change of the signed text fails.
        let mut tampered = jws.clone();
        tampered.insert(jws.find('.').unwrap() + 2, 'A');
        assert!(jsonwebtoken::decode::<serde_json::Value>(&tampered, &decoding, &validation).is_err());
    }
}

#[test]
fn the_metadata_advertises_the_algorithm_tokens_are_signed_with() {
    assert_eq!(super::ID_TOKEN_ALG.as_str(), gatehouse_oauth::metadata::ID_TOKEN_SIGNING_ALG);
}
