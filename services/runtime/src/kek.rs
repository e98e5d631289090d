//! The key-encryption key: secrets Gatehouse must read back (signing keys'
//! private halves, two-step sign-in secrets, push credentials) are stored
//! only sealed under it (AES-256-GCM, a random 96-bit nonce per seal, a
//! label naming the row as associated data so that a sealed value cannot be
//! moved to another row). It comes from configuration and never from the
//! database, so a copy of the database alone opens nothing.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Bytes of a key-encryption key.
pub const KEK_LEN: usize = 32;

/// A key-encryption key. Cloning shares nothing secret beyond the process;
/// `Debug` never prints it.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    bytes: [u8; KEK_LEN],
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(redacted)")
    }
}

/// Why a configured key-encryption key is refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "a key-encryption key is {KEK_LEN} random bytes in standard base64 (44 characters, e.g. `openssl rand -base64 32`)"
)]
pub struct MalformedKek;

/// A sealed value that does not open: another key-encryption key sealed
/// it, or the row was altered.
#[derive(Debug, thiserror::Error)]
#[error("sealed value {label} does not open with the configured key-encryption key (was it sealed with another one?)")]
pub struct SealBroken {
    pub label: String,
}

impl KeyEncryptionKey {
    /// Reads the base64 text of a configuration value or file.
    pub fn from_base64(text: &str) -> Result<Self, MalformedKek> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| MalformedKek)?;
        let bytes: [u8; KEK_LEN] = bytes.try_into().map_err(|_| MalformedKek)?;
        Ok(Self { bytes })
    }

    /// A new random key, as base64 (for the embedded default's file).
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; KEK_LEN];
        // The system CSPRNG does not fail on a running system; a zero key
        // would be caught by nothing, so fail loudly instead.
        #[allow(clippy::expect_used)]
        SystemRandom::new().fill(&mut bytes).expect("the system random number generator failed");
        STANDARD.encode(bytes)
    }

    fn key(&self) -> LessSafeKey {
        // AES-256 takes exactly these 32 bytes: cannot fail.
        #[allow(clippy::expect_used)]
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.bytes).expect("a 32-byte AES-256 key"))
    }

    /// `nonce || ciphertext || tag`, base64, bound to `label` (the row it
    /// is stored in).
    pub fn seal(&self, label: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        #[allow(clippy::expect_used)]
        SystemRandom::new().fill(&mut nonce).expect("the system random number generator failed");
        let mut in_out = plaintext.to_vec();
        #[allow(clippy::expect_used)] // only fails for inputs beyond AES-GCM's 64 GiB limit
        self.key()
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(label.as_bytes()), &mut in_out)
            .expect("sealing a value");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        STANDARD.encode(sealed)
    }

    /// A keyed hash (HMAC-SHA-256, hex) of `message` under a key derived
    /// from this one for `purpose`: for short secrets (recovery codes) whose
    /// plain hash a copy of the database alone could reverse by trying them all.
    pub fn mac(&self, purpose: &str, message: &[u8]) -> String {
        use aws_lc_rs::hmac;
        let root = hmac::Key::new(hmac::HMAC_SHA256, &self.bytes);
        let derived = hmac::sign(&root, format!("gatehouse mac key: {purpose}").as_bytes());
        let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        hmac::sign(&key, message).as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// What [`Self::seal`] sealed under the same `label`.
    pub fn open(&self, label: &str, sealed: &str) -> Result<Vec<u8>, SealBroken> {
        let broken = || SealBroken { label: label.to_owned() };
        let bytes = STANDARD.decode(sealed).map_err(|_| broken())?;
        if bytes.len() < NONCE_LEN {
            return Err(broken());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| broken())?;
        let mut in_out = ciphertext.to_vec();
        let plain = self.key().open_in_place(nonce, Aad::from(label.as_bytes()), &mut in_out).map_err(|_| broken())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_kek_and_kid() {
        let kek = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).unwrap();
        let sealed = kek.seal("kid-1", b"private");
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private");
        assert!(kek.open("kid-2", &sealed).is_err(), "bound to its row");
        let other = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).unwrap();
        assert!(other.open("kid-1", &sealed).is_err(), "bound to its key-encryption key");
        assert!(kek.open("kid-1", "").is_err());
        assert!(!sealed.contains("private"));
    }

    #[test]
    fn macs_depend_on_the_key_the_purpose_and_the_message() {
        let kek = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).unwrap();
        let other = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).unwrap();
        let mac = kek.mac("codes", b"abc");
        assert_eq!(mac.len(), 64);
        assert_eq!(mac, kek.mac("codes", b"abc"));
        assert_ne!(mac, kek.mac("codes", b"abd"));
        assert_ne!(mac, kek.mac("other", b"abc"));
        assert_ne!(mac, other.mac("codes", b"abc"));
    }

    #[test]
    fn malformed_keks_are_refused_and_none_prints() {
        assert!(KeyEncryptionKey::from_base64("short").is_err());
        assert!(KeyEncryptionKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([0u8; 16])).is_err());
        let text = KeyEncryptionKey::generate_base64();
        let kek = KeyEncryptionKey::from_base64(&format!(" {text}\n")).unwrap();
        assert_eq!(format!("{kek:?}"), "KeyEncryptionKey(redacted)");
    }
}
