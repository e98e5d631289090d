//! The channels of one deployment's parts, one value every caller is built
//! from: each part picks the services it calls.

use crate::Upstream;

/// A channel to each gRPC service of a deployment (balanced over every
/// replica; nothing is dialled until a call).
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub registry: Upstream,
    pub authorization: Upstream,
    pub token: Upstream,
}
