//! Counters that hold across replicas (they live in the shared cache):
//! failed logins, failed client authentications and mistyped user codes.
//! Every attempt reserves its slot before the work (see
//! `gatehouse_runtime::throttle`); a success gives it back, a failure keeps
//! it. Each window starts at its first slot; past a limit the answer is
//! RESOURCE_EXHAUSTED with the time left. Nothing is counted per username
//! or client alone, so nobody elsewhere can lock a user or a client out.

use std::time::Duration;

use gatehouse_oauth::{ClientAuthentication, RegisteredClient, SecretHash};

use gatehouse_runtime::throttle::{self, Limiter, Reservation, Slot};

use crate::error::{AuthzError, AuthzResult};
use crate::record::key;
use crate::service::Authorization;

impl Authorization {
    /// Takes a slot of each of `keys` before the work they limit; refused
    /// (nothing taken) when one of them is full.
    pub(crate) async fn reserve(
        &self,
        limiter: Limiter,
        keys: &[(String, u64)],
        window: Duration,
    ) -> AuthzResult<Reservation> {
        let slots: Vec<Slot> = keys.iter().map(|(key, limit)| Slot::new(key.clone(), *limit, window)).collect();
        match throttle::reserve(self.inner.kv.as_ref(), limiter, &slots).await? {
            Ok(reservation) => Ok(reservation),
            Err(retry_after) => Err(AuthzError::Throttled { retry_after }),
        }
    }

    /// Client authentication behind the same throttle as the token
    /// endpoint's: per (client, address) and per address.
    pub(crate) async fn authenticate_client(
        &self,
        auth: &ClientAuthentication,
        address: &str,
    ) -> AuthzResult<RegisteredClient> {
        let limits = self.config().device;
        let client = SecretHash::of(&auth.client_id);
        let keys = [
            (key::client_fail_pair(client.as_str(), address), limits.client_failures_per_pair),
            (key::client_fail_address(address), limits.client_failures_per_address),
        ];
        let keys: &[(String, u64)] = if address.is_empty() { &[] } else { &keys };
        let reservation = self.reserve(Limiter::ClientAuthentication, keys, limits.client_failure_window).await?;
        match self.inner.registry.authenticate_client(auth, address).await {
            Ok(client) => {
                reservation.release(self.inner.kv.as_ref()).await?;
                Ok(client)
            }
            Err(status) => match gatehouse_proto::status::decode_oauth(&status) {
                Some(oauth) => {
                    reservation.keep();
                    Err(AuthzError::OAuth(oauth))
                }
                None => {
                    // The registry did not answer: nothing was guessed.
                    reservation.release(self.inner.kv.as_ref()).await?;
                    Err(AuthzError::registry(status))
                }
            },
        }
    }
}
