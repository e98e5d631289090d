//! Process plumbing shared by every Gatehouse part, so that each service's
//! `serve()` only wires its own use cases.

pub mod access;
pub mod audit;
pub mod clients;
pub mod clock;
pub mod database;
pub mod grpc;
pub mod kek;
pub mod kv;
pub mod metrics;
pub mod observe;
pub mod part;
pub mod shed;
pub mod shutdown;
pub mod signup;
pub mod telemetry;
pub mod throttle;
pub mod tls;

pub use shutdown::Shutdown;
