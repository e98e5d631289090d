//! PKCE (RFC 7636), S256 only: `plain` offers no protection once the
//! authorization request leaks, so it is refused (RFC 9700 §2.1.1).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::OAuthError;

/// The one `code_challenge_method` accepted (the metadata's list).
pub const METHOD: &str = "S256";

/// A `code_challenge` with method S256: BASE64URL(SHA256(verifier)), 43 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Validates the `code_challenge` and `code_challenge_method` parameters
    /// of an authorization request (RFC 7636 §4.3).
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, OAuthError> {
        match method {
            Some("S256") => {}
            Some("plain") | None => {
                return Err(OAuthError::invalid_request("code_challenge_method must be S256 (plain is not supported)"));
            }
            Some(_) => return Err(OAuthError::invalid_request("code_challenge_method must be S256")),
        }
        let well_formed =
            challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(OAuthError::invalid_request(
                "code_challenge must be 43 base64url characters (BASE64URL(SHA256(code_verifier)))",
            ));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// Wraps a challenge read back from storage.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks a `code_verifier` (RFC 7636 §4.6), comparing in constant time.
    pub fn verify(&self, verifier: &str) -> Result<(), OAuthError> {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if !well_formed {
            return Err(OAuthError::invalid_grant("code_verifier must be 43 to 128 unreserved characters"));
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if bool::from(computed.as_bytes().ct_eq(self.0.as_bytes())) {
            Ok(())
        } else {
            Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"))
        }
    }
}

/// The S256 challenge of a verifier, for clients and tests.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OAuthErrorCode;

    /// The example of RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_example_verifies() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(challenge.verify(VERIFIER).is_ok());
    }

    #[test]
    fn token_request_rejects_wrong_or_malformed_verifier() {
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx";
        assert_eq!(challenge.verify(wrong).unwrap_err().code, OAuthErrorCode::InvalidGrant);
        assert_eq!(challenge.verify("short").unwrap_err().code, OAuthErrorCode::InvalidGrant);
        assert_eq!(challenge.verify(&"a".repeat(129)).unwrap_err().code, OAuthErrorCode::InvalidGrant);
    }

    #[test]
    fn authorize_rejects_plain_missing_or_unknown_method_and_malformed_challenge() {
        for method in [None, Some("plain"), Some("S512"), Some("s256")] {
            assert_eq!(CodeChallenge::parse(CHALLENGE, method).unwrap_err().code, OAuthErrorCode::InvalidRequest);
        }
        for challenge in ["", "abc", &format!("{CHALLENGE}x"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"] {
            assert!(CodeChallenge::parse(challenge, Some("S256")).is_err(), "{challenge}");
        }
    }
}
