//! sea-orm entities of the service's tables; private to the SQL store.
#![allow(unreachable_pub)]

pub(crate) mod grant;
pub(crate) mod session;
