//! The checks of an authorization code's redemption (RFC 6749 §4.1.3,
//! RFC 7636 §4.6), without I/O: the authorization service reads the code's
//! record and takes it; whether the request may have it is decided here, as
//! oxide-auth's `code_grant` does.

use crate::error::OAuthError;
use crate::pkce::CodeChallenge;
use crate::secret::CodeVerifier;

/// What was recorded when the code was issued.
#[derive(Debug, Clone, Copy)]
pub struct IssuedCode<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// Whether the authorization request named the redirect URI; if so the
    /// token request must repeat it.
    pub redirect_uri_given: bool,
    pub code_challenge: Option<&'a CodeChallenge>,
    /// RFC 9449 §10 `dpop_jkt`: the DPoP key the code is bound to.
    pub dpop_jkt: Option<&'a str>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// What the token request presents with the code.
#[derive(Debug, Clone, Copy)]
pub struct Redemption<'a> {
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a CodeVerifier>,
    /// The thumbprint of the token request's DPoP proof key, if it had one.
    pub dpop_jkt: Option<&'a str>,
}

/// The error of a code that is unknown, spent or expired: one description
/// for all three, so that a caller learns nothing about which.
pub fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant("authorization code is invalid or expired")
}

/// Whether `presented` may redeem `issued` at `now` (unix seconds).
pub fn check(issued: &IssuedCode<'_>, presented: &Redemption<'_>, now: i64) -> Result<(), OAuthError> {
    if now >= issued.expires_at {
        return Err(invalid_code());
    }
    if issued.client_id != presented.client_id {
        return Err(OAuthError::invalid_grant("authorization code was issued to another client"));
    }
    let redirect_ok = match presented.redirect_uri {
        Some(uri) => uri == issued.redirect_uri,
        None => !issued.redirect_uri_given,
    };
    if !redirect_ok {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    if let Some(bound) = issued.dpop_jkt
        && presented.dpop_jkt != Some(bound)
    {
        return Err(OAuthError::invalid_grant(
            "authorization code is bound to a DPoP key (dpop_jkt): send a DPoP proof made with it",
        ));
    }
    match (issued.code_challenge, presented.code_verifier) {
        (Some(challenge), Some(verifier)) => challenge.verify(verifier.expose()),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required (PKCE)")),
        // A verifier for a request without a challenge is a PKCE downgrade attempt (RFC 9700 §2.1.1).
        (None, Some(_)) => {
            Err(OAuthError::invalid_grant("code_verifier given but the authorization request had no code_challenge"))
        }
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::{Digest, Sha256};

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn challenge() -> CodeChallenge {
        CodeChallenge::parse(&URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER)), Some("S256")).unwrap()
    }

    fn issued(challenge: Option<&CodeChallenge>, given: bool) -> IssuedCode<'_> {
        IssuedCode {
            client_id: "app",
            redirect_uri: "https://app.example/cb",
            redirect_uri_given: given,
            code_challenge: challenge,
            dpop_jkt: None,
            expires_at: 100,
        }
    }

    fn error(issued: &IssuedCode<'_>, presented: &Redemption<'_>, now: i64) -> String {
        check(issued, presented, now).unwrap_err().description.into_owned()
    }

    #[test]
    fn a_matching_redemption_passes() {
        let challenge = challenge();
        let verifier = CodeVerifier::new(VERIFIER);
        let presented = Redemption {
            client_id: "app",
            redirect_uri: Some("https://app.example/cb"),
            code_verifier: Some(&verifier),
            dpop_jkt: None,
        };
        assert_eq!(check(&issued(Some(&challenge), true), &presented, 99), Ok(()));
    }

    #[test]
    fn each_rule_refuses_with_invalid_grant() {
        let challenge = challenge();
        let verifier = CodeVerifier::new(VERIFIER);
        let wrong = CodeVerifier::new("x".repeat(43));
        let ok = Redemption { client_id: "app", redirect_uri: None, code_verifier: Some(&verifier), dpop_jkt: None };
        let with_pkce = issued(Some(&challenge), false);
        assert_eq!(error(&with_pkce, &ok, 100), "authorization code is invalid or expired");
        assert!(error(&with_pkce, &Redemption { client_id: "other", ..ok }, 0).contains("another client"));
        let elsewhere = Redemption { redirect_uri: Some("https://evil.example/cb"), ..ok };
        assert!(error(&with_pkce, &elsewhere, 0).contains("redirect_uri"));
        assert!(error(&issued(None, true), &Redemption { code_verifier: None, ..ok }, 0).contains("redirect_uri"));
        assert!(error(&with_pkce, &Redemption { code_verifier: None, ..ok }, 0).contains("required"));
        assert!(error(&with_pkce, &Redemption { code_verifier: Some(&wrong), ..ok }, 0).contains("does not match"));
        assert!(error(&issued(None, false), &ok, 0).contains("no code_challenge"));
        for now in [0, 50] {
            assert!(check(&with_pkce, &ok, now).is_ok());
        }
        // A code bound to a DPoP key (RFC 9449 §10): only a proof of that key redeems it.
        let bound = IssuedCode { dpop_jkt: Some("key-a"), ..with_pkce };
        assert!(error(&bound, &ok, 0).contains("dpop_jkt"));
        assert!(error(&bound, &Redemption { dpop_jkt: Some("key-b"), ..ok }, 0).contains("dpop_jkt"));
        assert!(check(&bound, &Redemption { dpop_jkt: Some("key-a"), ..ok }, 0).is_ok());
        // An unbound code takes any proof, or none.
        assert!(check(&with_pkce, &Redemption { dpop_jkt: Some("key-b"), ..ok }, 0).is_ok());
    }
}
