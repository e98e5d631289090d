//! What the registry can be configured with.

use gatehouse_oauth::ScopeCatalogue;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    /// OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// Registry configuration.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub password: PasswordParams,
    pub scopes: ScopeCatalogue,
    /// Active client secrets one application may hold at once.
    pub max_client_secrets: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self { password: PasswordParams::default(), scopes: ScopeCatalogue::default(), max_client_secrets: 5 }
    }
}
