//! sea-orm entities of the service's tables; private to the SQL store.
#![allow(unreachable_pub)]

pub(crate) mod personal;
pub(crate) mod revocation;
pub(crate) mod revocation_head;
pub(crate) mod revocation_log;
pub(crate) mod signing_key;
pub(crate) mod signing_version;
pub(crate) mod token;
