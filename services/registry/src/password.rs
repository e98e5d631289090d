//! Password hashing with argon2id, at the same cost for unknown users.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::config::PasswordParams;
use crate::error::{RegistryError, RegistryResult};

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub(crate) struct PasswordHasherArgon2 {
    params: Params,
    /// A hash of a random password, verified against when the user does not
    /// exist, so that an unknown username costs as much as a wrong password.
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasherArgon2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasherArgon2").field("params", &self.params).finish_non_exhaustive()
    }
}

impl PasswordHasherArgon2 {
    pub(crate) fn new(params: PasswordParams) -> RegistryResult<Self> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| RegistryError::PasswordHashing(e.to_string()))?;
        let mut hasher = Self { params, dummy_hash: String::new() };
        hasher.dummy_hash = hasher.hash_blocking(&gatehouse_oauth::random_token("", 32))?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_blocking(&self, password: &str) -> RegistryResult<String> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| RegistryError::PasswordHashing(e.to_string()))
    }

    /// Hashes off the async runtime: argon2 is deliberately slow.
    pub(crate) async fn hash(&self, password: String) -> RegistryResult<String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash_blocking(&password))
            .await
            .map_err(|e| RegistryError::PasswordHashing(e.to_string()))?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when
    /// there is no user; returns false in that case whatever the password.
    pub(crate) async fn verify(&self, stored: Option<String>, password: String) -> RegistryResult<bool> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let user_exists = stored.is_some();
            let hash_text = stored.unwrap_or_else(|| this.dummy_hash.clone());
            let hash = PasswordHash::new(&hash_text).map_err(|e| RegistryError::PasswordHashing(e.to_string()))?;
            // argon2's verify compares digests in constant time.
            let matches = this.argon2().verify_password(password.as_bytes(), &hash).is_ok();
            Ok(user_exists && matches)
        })
        .await
        .map_err(|e| RegistryError::PasswordHashing(e.to_string()))?
    }
}
