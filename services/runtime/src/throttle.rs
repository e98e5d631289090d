//! Throttles that reserve before they work. Every attempt takes a slot of
//! each of its counters in one atomic step *before* the work it limits (an
//! argon2 check, a secret comparison, a code lookup), so that a parallel
//! burst gets at most the limit through, however it is timed. A failure
//! keeps its slots (it is what the window counts); a success gives them back
//! where that is the rule (a right password is not a guess). The counters
//! live in the shared cache, so the limits hold across replicas.

use std::time::Duration;

use crate::kv::{Kv, KvResult};

/// The throttles, each named in `gatehouse_throttle_refusals_total{limiter}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limiter {
    /// Client authentication at the token and device endpoints.
    ClientAuthentication,
    /// Lookups of tokens that do not exist, per client.
    UnknownTokens,
    /// Password checks, per account and per caller.
    Password,
    /// Sign-ins at the authorization service, per account and address.
    SignIn,
    /// Wrong second-factor codes, per account.
    SecondFactor,
    /// Passkey sign-in ceremonies started, per address.
    PasskeySignIn,
    /// Sign-ups, per address.
    Signup,
    /// Reset and confirmation mails, per asker and per account.
    AccountMail,
    /// Dynamic client registrations, per address.
    ClientRegistration,
    /// Device codes entered, per account and address.
    DeviceCodes,
    /// Pushed authorization requests of public clients, per address.
    PushedRequests,
}

impl Limiter {
    pub const ALL: [Self; 11] = [
        Self::ClientAuthentication,
        Self::UnknownTokens,
        Self::Password,
        Self::SignIn,
        Self::SecondFactor,
        Self::PasskeySignIn,
        Self::Signup,
        Self::AccountMail,
        Self::ClientRegistration,
        Self::DeviceCodes,
        Self::PushedRequests,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientAuthentication => "client_authentication",
            Self::UnknownTokens => "unknown_tokens",
            Self::Password => "password",
            Self::SignIn => "sign_in",
            Self::SecondFactor => "second_factor",
            Self::PasskeySignIn => "passkey_sign_in",
            Self::Signup => "signup",
            Self::AccountMail => "account_mail",
            Self::ClientRegistration => "client_registration",
            Self::DeviceCodes => "device_codes",
            Self::PushedRequests => "pushed_requests",
        }
    }
}

/// One counter an attempt counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub key: String,
    pub limit: u64,
    /// Starts with the first slot taken, and is not extended after.
    pub window: Duration,
}

impl Slot {
    pub fn new(key: impl Into<String>, limit: u64, window: Duration) -> Self {
        Self { key: key.into(), limit, window }
    }
}

/// Slots taken by one attempt. Dropping it keeps them (the attempt counted);
/// [`Reservation::release`] gives them back.
#[derive(Debug, Default)]
#[must_use = "a reservation is kept (counted) or released (given back)"]
pub struct Reservation {
    keys: Vec<String>,
}

impl Reservation {
    /// The attempt failed: its slots stay taken until the window ends.
    pub fn keep(self) {}

    /// The attempt succeeded: its slots are free again.
    pub async fn release(self, kv: &dyn Kv) -> KvResult<()> {
        let mut result = Ok(());
        for key in &self.keys {
            if let Err(error) = kv.release(key).await {
                result = Err(error);
            }
        }
        result
    }
}

/// Takes one slot of every counter, or none: `Ok(Err(retry_after))` when one
/// of them is full (the slots already taken are given back, so a refused
/// attempt costs nobody a slot). The wait is at least a second. A refusal
/// counts in `gatehouse_throttle_refusals_total{limiter}`.
pub async fn reserve(kv: &dyn Kv, limiter: Limiter, slots: &[Slot]) -> KvResult<Result<Reservation, Duration>> {
    let mut taken = Reservation::default();
    for slot in slots {
        let outcome = match kv.reserve(&slot.key, slot.limit, slot.window).await {
            Ok(outcome) => outcome,
            Err(error) => {
                let _ = taken.release(kv).await;
                return Err(error);
            }
        };
        match outcome {
            Ok(_) => taken.keys.push(slot.key.clone()),
            Err(retry_after) => {
                let _ = taken.release(kv).await;
                crate::metrics::metrics().throttled(limiter);
                return Ok(Err(retry_after.max(Duration::from_secs(1))));
            }
        }
    }
    Ok(Ok(taken))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    #[tokio::test]
    async fn a_full_counter_refuses_and_gives_back_the_others() {
        let kv = MemoryKv::new("t:");
        let window = Duration::from_secs(60);
        let slots = [Slot::new("a", 5, window), Slot::new("b", 1, window)];
        reserve(&kv, Limiter::Password, &slots).await.unwrap().unwrap().keep();
        let refused = reserve(&kv, Limiter::Password, &slots).await.unwrap();
        assert!(refused.is_err());
        // "a" holds one slot (the kept attempt), not two.
        assert_eq!(kv.get("a").await.unwrap(), Some(b"1".to_vec()));
    }

    #[tokio::test]
    async fn a_success_gives_its_slots_back() {
        let kv = MemoryKv::new("t:");
        let slots = [Slot::new("a", 1, Duration::from_secs(60))];
        reserve(&kv, Limiter::Password, &slots).await.unwrap().unwrap().release(&kv).await.unwrap();
        assert!(reserve(&kv, Limiter::Password, &slots).await.unwrap().is_ok());
        assert!(reserve(&kv, Limiter::Password, &slots).await.unwrap().is_err());
    }
}
