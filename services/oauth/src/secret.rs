//! High-entropy secrets (client secrets, codes, tokens) and their stored form.
//!
//! A secret is generated from a CSPRNG, shown once, and stored only as its
//! SHA-256 hash. A slow hash is unnecessary here: the secrets carry at least
//! 128 bits of entropy, so the hash cannot be brute-forced, and a fast hash
//! keeps client authentication and introspection cheap.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Number of base62 characters that carry 256 bits (62^43 > 2^256).
pub const RANDOM_CHARS_256_BITS: usize = 43;
/// Number of base62 characters of the checksum (62^6 > 2^32).
const CHECKSUM_CHARS: usize = 6;

/// Generates `prefix` + `chars` random base62 characters + a 6-character CRC32
/// checksum, in the shape of GitHub's tokens: a secret scanner finds the prefix,
/// and a typo or a truncated paste is refused by [`has_valid_checksum`]
/// without a storage lookup.
pub fn random_token(prefix: &str, chars: usize) -> String {
    let mut rng = rand::rng();
    let mut token = String::with_capacity(prefix.len() + chars + CHECKSUM_CHARS);
    token.push_str(prefix);
    for _ in 0..chars {
        token.push(char::from(BASE62[rng.random_range(0..BASE62.len())]));
    }
    // The checksum covers the prefix too, so a token relabelled as another kind fails.
    let checksum = crc32(token.as_bytes());
    token.push_str(&base62_fixed(checksum, CHECKSUM_CHARS));
    token
}

/// True when `token` has `prefix`, exactly `chars` base62 characters and a
/// matching checksum.
pub fn has_valid_checksum(token: &str, prefix: &str, chars: usize) -> bool {
    let Some(body) = token.strip_prefix(prefix) else {
        return false;
    };
    if body.len() != chars + CHECKSUM_CHARS || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let checked = &token[..prefix.len() + chars];
    base62_fixed(crc32(checked.as_bytes()), CHECKSUM_CHARS) == body[chars..]
}

fn base62_fixed(mut value: u32, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out.into_iter().map(char::from).collect()
}

/// CRC-32 (IEEE), bitwise: tokens are short, so a table is not worth its size.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// The stored form of a secret: the lowercase hex SHA-256 of its bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash(String);

impl SecretHash {
    /// Hashes a secret as presented.
    pub fn of(secret: &str) -> Self {
        let digest = Sha256::digest(secret.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0x0f)]));
        }
        Self(hex)
    }

    /// Wraps a hash read back from storage.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares a presented secret with this hash in constant time, so that
    /// response timing reveals nothing about how much of the hash matched.
    pub fn verify(&self, presented: &str) -> bool {
        Self::of(presented).0.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// Declares a secret newtype: the clear text of one kind of secret, as
/// presented or just generated. `Debug` prints the kind only, equality is
/// constant time, and the clear text is reached only through `expose`, so
/// that a log line, a panic message or a `{:?}` in a test cannot leak one
/// and two secrets of different kinds cannot be swapped in a call.
macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The clear text, for the one place that must send or hash it.
            pub fn expose(&self) -> &str {
                &self.0
            }

            pub fn into_exposed(self) -> String {
                self.0
            }

            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Its stored form.
            pub fn hash(&self) -> SecretHash {
                SecretHash::of(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(redacted)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}
    };
}

secret_type!(
    /// A client secret (RFC 6749 §2.3.1).
    ClientSecret
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2).
    AuthorizationCode
);
secret_type!(
    /// A PKCE code verifier (RFC 7636 §4.1).
    CodeVerifier
);
secret_type!(
    /// An access token (RFC 6749 §1.4).
    AccessToken
);
secret_type!(
    /// A refresh token (RFC 6749 §1.5).
    RefreshToken
);
secret_type!(
    /// A device code (RFC 8628 §3.2): the device's side of a device authorization.
    DeviceCode
);
secret_type!(
    /// A JWT presented as an authorization grant (RFC 7523 §2.1): a bearer
    /// of what it asserts until it expires.
    Assertion
);
secret_type!(
    /// A browser session's token (the session cookie's value).
    SessionToken
);
secret_type!(
    /// A user's password as typed.
    Password
);
secret_type!(
    /// A signed OpenID Connect ID token: it carries who the user is to the
    /// client, and is a bearer of that identity until it expires.
    IdToken
);

secret_type!(
    /// A credential a caller of the internal gRPC plane presents as a
    /// bearer (`gic_…`): an operator's, or a part's where it has no
    /// workload certificate. Stored only as its hash.
    InternalCredential
);

/// The prefix of [`InternalCredential`]s.
pub const INTERNAL_CREDENTIAL_PREFIX: &str = "gic_";

impl InternalCredential {
    /// A fresh credential: 256 bits and a checksum, like every token.
    pub fn generate() -> Self {
        Self(random_token(INTERNAL_CREDENTIAL_PREFIX, RANDOM_CHARS_256_BITS))
    }

    /// Whether `value` has the shape of one (prefix, length, checksum):
    /// anything else is refused without a lookup.
    pub fn is_well_formed(value: &str) -> bool {
        has_valid_checksum(value, INTERNAL_CREDENTIAL_PREFIX, RANDOM_CHARS_256_BITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_token_has_prefix_length_and_valid_checksum() {
        let token = random_token("gat_", RANDOM_CHARS_256_BITS);
        assert!(token.starts_with("gat_"));
        assert_eq!(token.len(), 4 + RANDOM_CHARS_256_BITS + CHECKSUM_CHARS);
        assert!(has_valid_checksum(&token, "gat_", RANDOM_CHARS_256_BITS));
    }

    #[test]
    fn checksum_rejects_a_single_changed_character_and_wrong_prefix() {
        let token = random_token("gat_", RANDOM_CHARS_256_BITS);
        let mut bytes = token.clone().into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let altered = String::from_utf8(bytes).unwrap();
        assert!(!has_valid_checksum(&altered, "gat_", RANDOM_CHARS_256_BITS));
        assert!(!has_valid_checksum(&token, "grt_", RANDOM_CHARS_256_BITS));
        assert!(!has_valid_checksum(&token[..token.len() - 1], "gat_", RANDOM_CHARS_256_BITS));
    }

    #[test]
    fn tokens_do_not_repeat() {
        let a = random_token("x_", RANDOM_CHARS_256_BITS);
        let b = random_token("x_", RANDOM_CHARS_256_BITS);
        assert_ne!(a, b);
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn secret_hash_verifies_only_the_same_secret() {
        let hash = SecretHash::of("s3cret");
        assert!(hash.verify("s3cret"));
        assert!(!hash.verify("s3cres"));
        assert!(!hash.verify(""));
        assert_eq!(hash.as_str().len(), 64);
        assert_eq!(format!("{hash:?}"), "SecretHash(..)");
    }

    #[test]
    fn secret_types_never_print_and_compare_by_value() {
        let secret = ClientSecret::new("gcs_topsecret");
        assert_eq!(format!("{secret:?}"), "ClientSecret(redacted)");
        assert_eq!(format!("{:?}", Some(Password::new("hunter2"))), "Some(Password(redacted))");
        assert_eq!(format!("{:?}", IdToken::new("eyJhbGciOi.x.y")), "IdToken(redacted)");
        let code = crate::device::UserCode::generate();
        assert_eq!(format!("{code:?}"), "UserCode(redacted)");
        assert_eq!(secret, ClientSecret::new("gcs_topsecret"));
        assert_ne!(secret, ClientSecret::new("gcs_topsecreT"));
        assert!(secret.hash().verify("gcs_topsecret"));
    }
}
