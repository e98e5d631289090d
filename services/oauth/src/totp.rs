//! Time-based one-time passwords (RFC 6238) for two-step sign-in, on the
//! `totp-rs` crate: HMAC-SHA-1, six digits, 30-second steps — the only
//! parameters every authenticator app honours — one step of skew either
//! way (RFC 6238 §5.2), and a code accepted only for a step later than the
//! last one accepted, so that an observed code cannot be replayed inside
//! its window (§5.2: "the verifier MUST NOT accept the second attempt").
//!
//! The secret is 160 random bits (RFC 4226 R6 recommends 160); it never
//! prints, and leaves this type only to be sealed at rest or shown once
//! while enrolling.

use rand::RngCore;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Bytes of a new secret (RFC 4226 R6: 160 bits recommended).
pub const SECRET_LEN: usize = 20;
/// The shortest secret accepted when loading (RFC 4226 R6: at least 128 bits).
pub const MIN_SECRET_LEN: usize = 16;
/// Seconds per step.
pub const STEP_SECS: u64 = 30;
const DIGITS: u8 = 6;

/// A user's TOTP secret.
#[derive(Clone)]
pub struct TotpSecret {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(redacted)")
    }
}

/// A stored secret shorter than 128 bits.
#[derive(Debug, thiserror::Error)]
#[error("a TOTP secret has at least {MIN_SECRET_LEN} bytes")]
pub struct ShortSecret;

impl TotpSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self { bytes }
    }

    /// A secret read back from storage.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ShortSecret> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(ShortSecret);
        }
        Ok(Self { bytes })
    }

    /// The raw bytes, to be sealed at rest.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Base32 without padding: what a person types into an app that
    /// cannot scan the QR code.
    pub fn to_base32(&self) -> String {
        Secret::from(self.bytes.as_slice()).to_base32()
    }

    fn totp(&self) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(1)
            .with_step_duration(STEP_SECS)
            .with_secret(self.bytes.as_slice())
            .build_noncompliant()
    }

    /// The Key URI (`otpauth://totp/Issuer:account?secret=…&issuer=Issuer`)
    /// an authenticator app reads from the QR code. A colon may not appear
    /// in either label, so one becomes a space.
    pub fn provisioning_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = label(issuer);
        let account = label(account);
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_step_duration(STEP_SECS)
            .with_secret(self.bytes.as_slice())
            .with_issuer(Some(issuer.as_str()))
            .with_account_name(account.as_str())
            .build_noncompliant();
        // Both labels are colon-free and the account is non-empty: cannot fail.
        totp.to_url().unwrap_or_default()
    }

    /// The step `code` matches at `unix_secs`, if it is later than
    /// `last_step` (the last step accepted for this secret; None before the
    /// first). Spaces inside the code are ignored ("123 456").
    pub fn verify(&self, code: &str, unix_secs: u64, last_step: Option<u64>) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != usize::from(DIGITS) {
            return None;
        }
        let totp = self.totp();
        let origin = unix_secs / STEP_SECS;
        // Later steps first: with a replay floor, a code valid for two
        // steps (it happens) is taken for the one that is still allowed.
        (origin.saturating_sub(1)..=origin + 1)
            .rev()
            .filter(|step| last_step.is_none_or(|last| *step > last))
            .find(|step| totp.check(&code, step * STEP_SECS).is_some_and(|matched| matched == *step))
    }

    /// The code for `unix_secs` (tests and the enrolment page's examples).
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.totp().generate(unix_secs).to_string()
    }
}

fn label(text: &str) -> String {
    let text = text.replace(':', " ");
    let text = text.trim();
    if text.is_empty() { "Gatehouse".to_owned() } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 (the last six of its eight digits).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(secret.code_at(time), code, "at {time}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let step = now / STEP_SECS;
        assert_eq!(secret.verify(&secret.code_at(now), now, None), Some(step));
        assert_eq!(secret.verify(&secret.code_at(now - 30), now, None), Some(step - 1));
        assert_eq!(secret.verify(&secret.code_at(now + 30), now, None), Some(step + 1));
        assert_eq!(secret.verify(&secret.code_at(now - 60), now, None), None);
        assert_eq!(secret.verify(&secret.code_at(now + 60), now, None), None);
        let spaced = secret.code_at(now);
        assert_eq!(secret.verify(&format!("{} {}", &spaced[..3], &spaced[3..]), now, None), Some(step));
    }

    #[test]
    fn a_code_is_accepted_once_and_never_for_an_earlier_step() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let code = secret.code_at(now);
        let step = secret.verify(&code, now, None).unwrap();
        assert_eq!(secret.verify(&code, now, Some(step)), None, "replayed");
        assert_eq!(secret.verify(&secret.code_at(now - 30), now, Some(step)), None, "older than the last");
        assert_eq!(secret.verify(&secret.code_at(now + 30), now + 30, Some(step)), Some(step + 1));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let code = secret.code_at(now);
        for bad in ["", "12345", "1234567", "abcdef", "+12345", &format!("{code}0"), "١٢٣٤٥٦"] {
            assert_eq!(secret.verify(bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn the_provisioning_uri_is_the_key_uri_format() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        let uri = secret.provisioning_uri("auth.example:8443", "ada");
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "{uri}");
        assert!(uri.contains("issuer=auth.example%208443") || uri.contains("issuer=auth.example+8443"), "{uri}");
        assert!(uri.contains("ada"), "{uri}");
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn secrets_are_long_enough_and_never_print() {
        assert!(TotpSecret::from_bytes(vec![0; 15]).is_err());
        let secret = TotpSecret::generate();
        assert_eq!(secret.expose_bytes().len(), SECRET_LEN);
        assert_eq!(format!("{secret:?}"), "TotpSecret(redacted)");
        assert_ne!(TotpSecret::generate().expose_bytes(), secret.expose_bytes());
    }
}
