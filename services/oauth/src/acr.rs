//! How strongly a user signed in: the authentication methods (`amr`, RFC
//! 8176) a session was opened with, the authentication context class
//! (`acr`) they amount to, and what a request asks for with `acr_values`
//! (OpenID Connect Core §3.1.2.1) or a resource server with a step-up
//! challenge (RFC 9470).
//!
//! Two classes, published in `acr_values_supported`: [`PWD`] (a password
//! alone) and [`MFA`] (a password and a second factor). A request naming
//! only [`MFA`] among the values Gatehouse knows asks for the second step;
//! unknown values are ignored, as Core allows.

use crate::{OAuthError, OAuthErrorCode};

/// A password alone.
pub const PWD: &str = "urn:gatehouse:acr:pwd";
/// Two factors: a password and a second factor (TOTP, a recovery code, a
/// passkey), or a passkey alone, which is the device and the PIN or
/// biometric that unlocked it (user verification).
pub const MFA: &str = "urn:gatehouse:acr:mfa";
/// The classes, weakest first: `acr_values_supported`.
pub const SUPPORTED: [&str; 2] = [PWD, MFA];

/// `amr` of a password sign-in.
pub const AMR_PASSWORD: &[&str] = &["pwd"];
/// `amr` of a password and a one-time code (TOTP or a recovery code).
pub const AMR_PASSWORD_AND_OTP: &[&str] = &["pwd", "otp", "mfa"];
/// `amr` of a password and a passkey as the second step (a key held in hardware).
pub const AMR_PASSWORD_AND_PASSKEY: &[&str] = &["pwd", "hwk", "mfa"];
/// `amr` of a passkey alone: the key, and the user verified by the authenticator.
pub const AMR_PASSKEY: &[&str] = &["hwk", "user", "mfa"];

/// The longest `acr_values` taken, in bytes.
const MAX_ACR_VALUES_LEN: usize = 1024;

/// `methods` as owned strings (an `amr` claim).
pub fn amr(methods: &[&str]) -> Vec<String> {
    methods.iter().map(|m| (*m).to_owned()).collect()
}

/// How a grant's user signed in (`amr`) and the class that is (`acr`):
/// nothing without an interactive sign-in (`auth_time` unset: application
/// and personal tokens); a password for a sign-in from before methods were kept.
pub fn of_sign_in(auth_time: Option<i64>, amr_kept: &[String]) -> (Vec<String>, Option<&'static str>) {
    if auth_time.is_none() {
        return (Vec::new(), None);
    }
    let methods = if amr_kept.is_empty() { amr(AMR_PASSWORD) } else { amr_kept.to_vec() };
    let acr = acr_of(&methods);
    (methods, acr)
}

/// The class a set of methods amounts to; None when no user signed in.
pub fn acr_of(amr: &[String]) -> Option<&'static str> {
    if amr.is_empty() {
        None
    } else if amr.iter().any(|m| m == "mfa") {
        Some(MFA)
    } else {
        Some(PWD)
    }
}

/// The rank of a class Gatehouse knows (higher is stronger).
pub fn rank(acr: &str) -> Option<usize> {
    SUPPORTED.iter().position(|known| *known == acr)
}

/// `acr_values` as sent: space-separated, in order of preference.
pub fn parse_acr_values(value: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    if value.len() > MAX_ACR_VALUES_LEN {
        return Err(OAuthError::invalid_request(format!("acr_values is longer than {MAX_ACR_VALUES_LEN} bytes")));
    }
    Ok(value.split(' ').filter(|v| !v.is_empty()).map(str::to_owned).collect())
}

/// Whether `acr_values` asks for a second factor: it names a class
/// Gatehouse knows and none weaker than [`MFA`].
pub fn needs_mfa(acr_values: &[String]) -> bool {
    let known: Vec<usize> = acr_values.iter().filter_map(|v| rank(v)).collect();
    !known.is_empty() && known.iter().all(|rank| *rank >= 1)
}

/// The error when a user cannot reach the class asked for (OpenID Connect
/// "Unmet Authentication Requirements"; RFC 9470 §5).
pub fn unmet() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::UnmetAuthenticationRequirements,
        "the request asks for a second factor, and this account has none set up",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> Vec<String> {
        parse_acr_values(Some(text)).unwrap()
    }

    #[test]
    fn the_class_follows_the_methods() {
        assert_eq!(acr_of(&[]), None);
        assert_eq!(acr_of(&["pwd".to_owned()]), Some(PWD));
        let strong = amr(AMR_PASSWORD_AND_OTP);
        assert_eq!(acr_of(&strong), Some(MFA));
        assert!(rank(MFA) > rank(PWD));
        assert_eq!(rank("urn:other"), None);
        assert_eq!(of_sign_in(None, &strong), (Vec::new(), None), "no interactive sign-in");
        assert_eq!(of_sign_in(Some(1), &[]), (amr(AMR_PASSWORD), Some(PWD)), "kept before methods were");
        assert_eq!(of_sign_in(Some(1), &strong), (strong.clone(), Some(MFA)));
    }

    #[test]
    fn only_known_classes_all_at_mfa_ask_for_the_second_step() {
        assert!(needs_mfa(&list(MFA)));
        assert!(needs_mfa(&list(&format!("urn:other {MFA}"))));
        assert!(!needs_mfa(&list(&format!("{MFA} {PWD}"))), "a password would do too");
        assert!(!needs_mfa(&list("urn:other 1 2")), "unknown values are ignored");
        assert!(!needs_mfa(&[]));
        assert!(parse_acr_values(Some(&"a ".repeat(600))).is_err());
        assert_eq!(list("  a  b "), vec!["a", "b"]);
    }
}
