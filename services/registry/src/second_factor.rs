//! Two-step sign-in: TOTP (RFC 6238) enrolment, confirmation and checks,
//! and recovery codes.
//!
//! - The secret is sealed with the key-encryption key; it leaves the
//!   registry once, in the enrolment answer, and is in force only after the
//!   first code from the person's app confirms it.
//! - Turning it on, off, or making new recovery codes asks for the
//!   password again (checked and throttled as a sign-in is).
//! - Every check reserves a slot of the account's second-factor limit
//!   before any work, across replicas; a success gives it back. A TOTP step
//!   and a recovery code are each accepted once: the acceptance is one
//!   conditional write, so two replicas cannot both take the same code.
//! - Recovery codes: ten, 50 random bits each, shown once, stored as keyed
//!   hashes (HMAC under a key derived from the key-encryption key), used once.

use gatehouse_oauth::totp::TotpSecret;
use gatehouse_runtime::kek::KeyEncryptionKey;
use gatehouse_runtime::throttle::{self, Limiter, Reservation, Slot};
use rand::Rng;

use crate::error::{RegistryError, RegistryResult};
use crate::model::User;
use crate::service::Registry;

/// Recovery codes made at once.
pub const RECOVERY_CODES: usize = 10;
/// Crockford's base32 alphabet: no I, L, O or U to misread.
const RECOVERY_ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters per recovery code (10 × 5 bits = 50 bits), shown as two groups of five.
const RECOVERY_CHARS: usize = 10;
/// Failed second-factor checks per account: ten per quarter hour and thirty
/// a day (RFC 4226 §7.3: across sessions; NIST SP 800-63B: at most 100).
const FAILURES_PER_QUARTER: u64 = 10;
const FAILURES_PER_DAY: u64 = 30;

/// A TOTP enrolment waiting for its first code: shown once.
#[derive(Clone)]
pub struct TotpEnrolment {
    /// Base32, for typing into an app that cannot scan.
    pub secret_base32: String,
    /// The Key URI the QR code carries.
    pub provisioning_uri: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(redacted)")
    }
}

/// What an account has for its second step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecondFactors {
    /// TOTP confirmed and in force.
    pub totp: bool,
    /// An enrolment started and not yet confirmed.
    pub totp_pending: bool,
    pub recovery_codes_left: u64,
}

/// Which second factor a check accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorMethod {
    Totp,
    RecoveryCode,
}

impl SecondFactorMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

fn seal_label(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// A recovery code as typed: letters lower-cased, separators and spaces
/// dropped, the look-alikes Crockford's base32 folds (i, l → 1; o → 0).
fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            other => other,
        })
        .collect()
}

fn looks_like_recovery_code(normalised: &str) -> bool {
    normalised.len() == RECOVERY_CHARS && normalised.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))
}

fn new_recovery_code() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..RECOVERY_CHARS)
        .map(|_| char::from(RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())]))
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

impl Registry {
    fn kek(&self) -> RegistryResult<&KeyEncryptionKey> {
        self.inner.config.key_encryption_key.as_ref().ok_or_else(|| {
            RegistryError::FailedPrecondition(
                "two-step sign-in needs the key-encryption key (GATEHOUSE_KEY_ENCRYPTION_KEY) on the registry"
                    .to_owned(),
            )
        })
    }

    fn recovery_hash(&self, user_id: &str, normalised: &str) -> RegistryResult<String> {
        Ok(self.kek()?.mac("recovery-code", format!("{user_id}\n{normalised}").as_bytes()))
    }

    fn new_recovery_codes(&self, user_id: &str) -> RegistryResult<(Vec<String>, Vec<String>)> {
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes = codes
            .iter()
            .map(|code| self.recovery_hash(user_id, &normalise_recovery(code)))
            .collect::<Result<_, _>>()?;
        Ok((codes, hashes))
    }

    /// The account, after its password is checked again (a sensitive change).
    async fn reauthenticated(&self, user_id: &str, password: String, caller: &str) -> RegistryResult<User> {
        let user = self.get_user_by_id(user_id).await?;
        if self.verify_password(&user.username, password, caller).await?.is_none() {
            return Err(RegistryError::invalid("password", "is not the account's password"));
        }
        Ok(user)
    }

    async fn reserve_second_factor(&self, user_id: &str) -> RegistryResult<Reservation> {
        let account = gatehouse_oauth::SecretHash::of(user_id);
        let slots = [
            Slot::new(
                format!("registry:2fafail:q:{}", account.as_str()),
                FAILURES_PER_QUARTER,
                std::time::Duration::from_secs(15 * 60),
            ),
            Slot::new(
                format!("registry:2fafail:d:{}", account.as_str()),
                FAILURES_PER_DAY,
                std::time::Duration::from_secs(24 * 3600),
            ),
        ];
        let kv = self.inner.kv.as_ref();
        match throttle::reserve(kv, Limiter::SecondFactor, &slots)
            .await
            .map_err(|e| RegistryError::Cache(e.to_string()))?
        {
            Ok(reservation) => Ok(reservation),
            Err(retry_after) => {
                tracing::warn!(user_id, "second-factor checks throttled");
                Err(RegistryError::Throttled { what: "too many failed two-step codes", retry_after })
            }
        }
    }

    async fn settle(&self, reservation: Reservation, accepted: bool) -> RegistryResult<()> {
        if accepted {
            reservation.release(self.inner.kv.as_ref()).await.map_err(|e| RegistryError::Cache(e.to_string()))
        } else {
            reservation.keep();
            Ok(())
        }
    }

    fn open_secret(&self, user_id: &str, sealed: &str) -> RegistryResult<TotpSecret> {
        let bytes = self.kek()?.open(&seal_label(user_id), sealed).map_err(|error| {
            tracing::error!(%error, user_id, "a TOTP secret does not open");
            RegistryError::FailedPrecondition(
                "the two-step secret does not open with the configured key-encryption key".to_owned(),
            )
        })?;
        TotpSecret::from_bytes(bytes)
            .map_err(|_| RegistryError::FailedPrecondition("the stored two-step secret is malformed".to_owned()))
    }

    fn unix_now(&self) -> u64 {
        u64::try_from(self.now()).unwrap_or(0)
    }

    /// What the account has for its second step.
    pub async fn second_factors(&self, user_id: &str) -> RegistryResult<SecondFactors> {
        let row = self.stores().second_factors.totp(user_id).await?;
        let totp = row.as_ref().is_some_and(|row| row.confirmed_at.is_some());
        let recovery_codes_left =
            if totp { self.stores().second_factors.recovery_codes_left(user_id).await? } else { 0 };
        Ok(SecondFactors { totp, totp_pending: row.is_some() && !totp, recovery_codes_left })
    }

    /// Starts TOTP enrolment (the password again first): a new secret,
    /// replacing an unconfirmed one. Refused while one is in force.
    pub async fn begin_totp(&self, user_id: &str, password: String, caller: &str) -> RegistryResult<TotpEnrolment> {
        let kek = self.kek()?.clone();
        let user = self.reauthenticated(user_id, password, caller).await?;
        let secret = TotpSecret::generate();
        let sealed = kek.seal(&seal_label(&user.id), secret.expose_bytes());
        if !self.stores().second_factors.put_pending_totp(&user.id, &sealed, self.now()).await? {
            return Err(RegistryError::FailedPrecondition(
                "two-step sign-in is already on: turn it off before enrolling another app".to_owned(),
            ));
        }
        let issuer = url::Url::parse(&self.inner.config.issuer)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "Gatehouse".to_owned());
        Ok(TotpEnrolment {
            secret_base32: secret.to_base32(),
            provisioning_uri: secret.provisioning_uri(&issuer, &user.username),
        })
    }

    /// Confirms the pending enrolment with the app's first code: two-step
    /// sign-in is on from now, and these recovery codes (shown once) replace any others.
    pub async fn confirm_totp(&self, user_id: &str, code: &str) -> RegistryResult<Vec<String>> {
        let reservation = self.reserve_second_factor(user_id).await?;
        let pending = match self.stores().second_factors.totp(user_id).await? {
            Some(row) if row.confirmed_at.is_none() => row,
            Some(_) => {
                self.settle(reservation, true).await?;
                return Err(RegistryError::FailedPrecondition("two-step sign-in is already on".to_owned()));
            }
            None => {
                self.settle(reservation, true).await?;
                return Err(RegistryError::FailedPrecondition(
                    "no enrolment is waiting for a code: start again".to_owned(),
                ));
            }
        };
        let secret = self.open_secret(user_id, &pending.sealed_secret)?;
        let Some(step) = secret.verify(code, self.unix_now(), None) else {
            self.settle(reservation, false).await?;
            return Err(RegistryError::invalid(
                "code",
                "is not the app's current code (check that the device's clock is right)",
            ));
        };
        let (codes, hashes) = self.new_recovery_codes(user_id)?;
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if !self.stores().second_factors.confirm_totp(user_id, step, self.now(), &hashes).await? {
            self.settle(reservation, true).await?;
            return Err(RegistryError::FailedPrecondition(
                "no enrolment is waiting for a code: start again".to_owned(),
            ));
        }
        self.settle(reservation, true).await?;
        Ok(codes)
    }

    /// Turns two-step sign-in off (the password again first): the secret
    /// and the recovery codes are deleted.
    pub async fn disable_totp(&self, user_id: &str, password: String, caller: &str) -> RegistryResult<()> {
        self.reauthenticated(user_id, password, caller).await?;
        if !self.stores().second_factors.delete_second_factors(user_id).await? {
            return Err(RegistryError::FailedPrecondition("two-step sign-in is not on".to_owned()));
        }
        Ok(())
    }

    /// New recovery codes (the password again first); the old ones stop working.
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: &str,
        password: String,
        caller: &str,
    ) -> RegistryResult<Vec<String>> {
        self.reauthenticated(user_id, password, caller).await?;
        if !self.second_factors(user_id).await?.totp {
            return Err(RegistryError::FailedPrecondition(
                "recovery codes come with two-step sign-in, which is not on".to_owned(),
            ));
        }
        let (codes, hashes) = self.new_recovery_codes(user_id)?;
        self.stores().second_factors.replace_recovery_codes(user_id, &hashes, self.now()).await?;
        Ok(codes)
    }

    /// Checks a second-step code: the app's current code (each time step
    /// once) or an unused recovery code (then used up). None when it is
    /// neither; `FailedPrecondition` when the account has no second factor.
    pub async fn verify_second_factor(&self, user_id: &str, code: &str) -> RegistryResult<Option<SecondFactorMethod>> {
        if code.len() > 64 {
            return Err(RegistryError::invalid("code", "is a six-digit code or a recovery code"));
        }
        let reservation = self.reserve_second_factor(user_id).await?;
        let row = match self.stores().second_factors.totp(user_id).await {
            Ok(Some(row)) if row.confirmed_at.is_some() => row,
            Ok(_) => {
                self.settle(reservation, true).await?;
                return Err(RegistryError::FailedPrecondition("the account has no second factor".to_owned()));
            }
            Err(error) => {
                self.settle(reservation, true).await?;
                return Err(error);
            }
        };
        let normalised = normalise_recovery(code);
        let accepted = if looks_like_recovery_code(&normalised) {
            let hash = self.recovery_hash(user_id, &normalised)?;
            self.stores()
                .second_factors
                .use_recovery_code(user_id, &hash, self.now())
                .await?
                .then_some(SecondFactorMethod::RecoveryCode)
        } else {
            let secret = self.open_secret(user_id, &row.sealed_secret)?;
            let last = row.last_step.and_then(|step| u64::try_from(step).ok());
            match secret.verify(code, self.unix_now(), last) {
                // The step becomes the last accepted only if no other check took it first.
                Some(step) => self
                    .stores()
                    .second_factors
                    .advance_totp_step(user_id, i64::try_from(step).unwrap_or(i64::MAX))
                    .await?
                    .then_some(SecondFactorMethod::Totp),
                None => None,
            }
        };
        self.settle(reservation, accepted.is_some()).await?;
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_fifty_bits_in_two_groups_and_read_forgivingly() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        let normalised = normalise_recovery(&code);
        assert!(looks_like_recovery_code(&normalised));
        assert_eq!(normalise_recovery(&code.to_uppercase().replace('-', " ")), normalised);
        assert_eq!(normalise_recovery("AbcDe-fgh1O"), "abcdefgh10");
        assert_eq!(normalise_recovery("abcde-fghIl"), "abcdefgh11");
        assert!(!looks_like_recovery_code("123456"), "a TOTP code is not a recovery code");
        assert!(!looks_like_recovery_code("abcdefghu1"), "u is not in the alphabet");
        assert_ne!(new_recovery_code(), new_recovery_code());
    }
}
