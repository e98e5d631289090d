//! What the authorization service can be configured with.

use std::time::Duration;

/// Failed-login throttling. Counting per (username, client address) and per
/// client address, never per username alone, means an attacker elsewhere
/// cannot lock a user out by failing on purpose.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// Failures one address may make against one username per window.
    pub per_user_and_address: u64,
    /// Failures one address may make in total per window.
    pub per_address: u64,
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self { per_user_and_address: 5, per_address: 50, window: Duration::from_secs(15 * 60) }
    }
}

/// The device authorization grant (RFC 8628).
#[derive(Debug, Clone, Copy)]
pub struct DeviceConfig {
    /// Lifetime of a device code and its user code (`expires_in`).
    pub code_ttl: Duration,
    /// The polling interval a device is told to keep (`interval`).
    pub interval: Duration,
    /// Mistyped or unknown user codes one user may enter per window.
    pub entries_per_user: u64,
    /// ... and one address.
    pub entries_per_address: u64,
    pub entry_window: Duration,
    /// Failed client authentications per (client, address) and per address
    /// per window at the device authorization endpoint, as at the token endpoint.
    pub client_failures_per_pair: u64,
    pub client_failures_per_address: u64,
    pub client_failure_window: Duration,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            code_ttl: Duration::from_secs(15 * 60),
            interval: Duration::from_secs(5),
            entries_per_user: 10,
            entries_per_address: 50,
            entry_window: Duration::from_secs(15 * 60),
            client_failures_per_pair: 20,
            client_failures_per_address: 100,
            client_failure_window: Duration::from_secs(5 * 60),
        }
    }
}

/// Pushed authorization requests (RFC 9126).
#[derive(Debug, Clone)]
pub struct PushedConfig {
    /// How long a `request_uri` stays usable: it has to outlast a sign-in
    /// (RFC 9126 §2.2 suggests between 5 and 600 seconds).
    pub ttl: Duration,
    /// Pushes for one public client from one address within `public_window`
    /// (a public client's pushes are not authenticated).
    pub public_per_address: u64,
    pub public_window: Duration,
}

impl Default for PushedConfig {
    fn default() -> Self {
        Self { ttl: Duration::from_secs(5 * 60), public_per_address: 30, public_window: Duration::from_secs(60) }
    }
}

/// Authorization service configuration.
#[derive(Debug, Clone)]
pub struct AuthorizationConfig {
    /// The issuer identifier sent as `iss` (RFC 9207): the gateway's public URL.
    pub issuer: String,
    /// Lifetime of an authorization code (RFC 6749 §4.1.2 recommends at most 10 minutes).
    pub code_ttl: Duration,
    /// How long a used code is remembered, so that a replay revokes what it issued.
    pub code_replay_ttl: Duration,
    /// Lifetime of a login session.
    pub session_ttl: Duration,
    /// How long a consent page stays valid.
    pub consent_ttl: Duration,
    pub throttle: ThrottleConfig,
    pub device: DeviceConfig,
    pub pushed: PushedConfig,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".to_owned(),
            code_ttl: Duration::from_secs(5 * 60),
            code_replay_ttl: Duration::from_secs(24 * 60 * 60),
            session_ttl: Duration::from_secs(12 * 60 * 60),
            consent_ttl: Duration::from_secs(10 * 60),
            throttle: ThrottleConfig::default(),
            device: DeviceConfig::default(),
            pushed: PushedConfig::default(),
        }
    }
}
