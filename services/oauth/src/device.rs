//! The device authorization grant's codes (RFC 8628 §3.2, §6.1): a device
//! code the device keeps secret, and a short user code a person types.

use rand::Rng;

use crate::secret::{RANDOM_CHARS_256_BITS, has_valid_checksum, random_token};

/// Prefix of device codes (a secret scanner finds them; a typo is refused
/// without a lookup).
pub const DEVICE_CODE_PREFIX: &str = "gdc_";

/// The alphabet of user codes: 20 consonants, no vowels (no words are
/// spelled) and none of the letters easily confused (RFC 8628 §6.1).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters of a user code: 20^8, about 34.5 bits, with entry throttled.
pub const USER_CODE_LEN: usize = 8;

/// A fresh device code (256 bits, checksummed).
pub fn generate_device_code() -> String {
    random_token(DEVICE_CODE_PREFIX, RANDOM_CHARS_256_BITS)
}

/// Whether `value` has the shape of a device code of ours.
pub fn is_device_code(value: &str) -> bool {
    has_valid_checksum(value, DEVICE_CODE_PREFIX, RANDOM_CHARS_256_BITS)
}

/// A user code as stored and compared: 8 characters of the alphabet, upper case.
/// Shown to the person on purpose, never printed to a log: whoever reads it
/// while it lives can approve the device as themselves.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserCode(String);

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCode(redacted)")
    }
}

impl UserCode {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        Self(
            (0..USER_CODE_LEN)
                .map(|_| char::from(USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())]))
                .collect(),
        )
    }

    /// Reads what a person typed: case-insensitive, dashes and spaces
    /// ignored; `None` unless it is 8 characters of the alphabet.
    pub fn parse(typed: &str) -> Option<Self> {
        let code: String = typed.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
        let ok = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        ok.then_some(Self(code))
    }

    /// The stored form, `BCDFGHJK`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How a person reads it, `BCDF-GHJK`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typed_loosely_and_shown_with_a_dash() {
        let code = UserCode::generate();
        assert_eq!(code.as_str().len(), 8);
        assert!(code.as_str().bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        let shown = code.display();
        assert_eq!(shown.len(), 9);
        assert_eq!(UserCode::parse(&shown), Some(code.clone()));
        assert_eq!(UserCode::parse(&shown.to_lowercase()), Some(code.clone()));
        assert_eq!(UserCode::parse(code.as_str()), Some(code));
        for bad in ["", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "ßCDF-GHJK"] {
            assert_eq!(UserCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn device_codes_are_recognised_by_their_checksum() {
        let code = generate_device_code();
        assert!(is_device_code(&code));
        assert!(!is_device_code(&code[..code.len() - 1]));
        assert!(!is_device_code("gdc_nope"));
    }
}
