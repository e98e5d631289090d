//! sea-orm entities of the registry's tables; private to the SQL store.
#![allow(unreachable_pub)]

pub(crate) mod account_token;
pub(crate) mod application;
pub(crate) mod client_secret;
pub(crate) mod credential;
pub(crate) mod initial_access_token;
pub(crate) mod invitation;
pub(crate) mod passkey;
pub(crate) mod recovery_code;
pub(crate) mod resource_server;
pub(crate) mod totp;
pub(crate) mod user;
