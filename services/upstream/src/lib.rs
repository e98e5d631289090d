//! Calls to Gatehouse services over gRPC, shared by the services themselves
//! (gateway -> services, token -> authorization, ...) and by internal
//! services through `gatehouse-client`: a channel that balances over every
//! replica and health-checks them ([`upstream`]), client TLS ([`tls`]), and
//! the request id ([`request_id`]) and deadline ([`deadline`]) that travel
//! with every call.

pub mod credential;
pub mod deadline;
mod parts;
pub mod request_id;
pub mod tls;
pub mod upstream;

pub use credential::{CallCredential, StaticCredential};
pub use parts::Upstreams;
pub use upstream::{Upstream, UpstreamError, UpstreamOptions};
