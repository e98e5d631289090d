//! Typed clients of the three services, over the shared balanced channels
//! ([`gatehouse_upstream::Upstream`]). Every caller inside Gatehouse (the
//! services calling each other, the gateway, the command line) asks through
//! these: each method takes plain arguments and answers the shared record,
//! so no caller builds a request message or unwraps a response by hand, and
//! an answer missing what the service always sends is one error, here.
//!
//! Failures stay [`tonic::Status`]: each caller maps it to its own surface
//! (the gateway's `GatewayError`, the CLI's exit message), and the services'
//! OAuth errors travel inside it (`gatehouse_proto::status`).

pub mod authorization;
pub mod console;
pub mod registry;
pub mod token;

use gatehouse_proto::pb::common::v1::{AuditEvent, ListAuditEventsRequest, VerifyAuditChainResponse};

pub use authorization::AuthorizationClient;
pub use console::ConsoleAdministrators;
pub use registry::RegistryClient;
pub use token::TokenClient;

/// An answer that lacks what the service always sends: the service's bug,
/// not the caller's.
fn malformed(service: &str, reason: impl std::fmt::Display) -> tonic::Status {
    tonic::Status::internal(format!("the {service}'s answer is malformed: {reason}"))
}

/// Which audit events to list (every service keeps its own trail).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Unix milliseconds; 0 from the start.
    pub since_ms: i64,
    pub actor_id: String,
    pub action: String,
    pub target: String,
    /// Events about this user (as actor or subject).
    pub subject_user_id: String,
    /// At most this many; 0 for the service's default.
    pub limit: u32,
}

impl From<&AuditFilter> for ListAuditEventsRequest {
    fn from(filter: &AuditFilter) -> Self {
        let AuditFilter { since_ms, actor_id, action, target, subject_user_id, limit } = filter.clone();
        Self { since_ms, actor_id, action, target, subject_user_id, limit, after_seq: None }
    }
}

/// What a chain verification found, per service.
pub type ChainReport = VerifyAuditChainResponse;

/// The three typed clients, each over its own channel.
#[derive(Debug, Clone)]
pub struct Clients {
    pub registry: RegistryClient,
    pub authorization: AuthorizationClient,
    pub token: TokenClient,
}

impl Clients {
    pub fn new(upstreams: gatehouse_upstream::Upstreams) -> Self {
        Self {
            registry: RegistryClient::new(upstreams.registry),
            authorization: AuthorizationClient::new(upstreams.authorization),
            token: TokenClient::new(upstreams.token),
        }
    }

    /// Every service's audit events matching `filter` (each service
    /// answers at most `limit`), newest first.
    pub async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, tonic::Status> {
        let mut events = self.registry.audit_events(filter).await?;
        events.extend(self.authorization.audit_events(filter).await?);
        events.extend(self.token.audit_events(filter).await?);
        events.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(b.seq.cmp(&a.seq)));
        Ok(events)
    }

    /// Every service's audit chain, verified.
    pub async fn verify_audit_chains(&self) -> Result<Vec<ChainReport>, tonic::Status> {
        Ok(vec![
            self.registry.verify_audit_chain().await?,
            self.authorization.verify_audit_chain().await?,
            self.token.verify_audit_chain().await?,
        ])
    }
}

/// The audit RPCs every service answers alike, as client methods.
macro_rules! audit_methods {
    () => {
        /// This service's audit events matching `filter`.
        pub async fn audit_events(
            &self,
            filter: &super::AuditFilter,
        ) -> Result<Vec<gatehouse_proto::pb::common::v1::AuditEvent>, tonic::Status> {
            Ok(self
                .rpc()
                .list_audit_events(gatehouse_proto::pb::common::v1::ListAuditEventsRequest::from(filter))
                .await?
                .into_inner()
                .events)
        }

        /// This service's audit chain, verified end to end.
        pub async fn verify_audit_chain(&self) -> Result<super::ChainReport, tonic::Status> {
            Ok(self
                .rpc()
                .verify_audit_chain(gatehouse_proto::pb::common::v1::VerifyAuditChainRequest {})
                .await?
                .into_inner())
        }
    };
}
pub(crate) use audit_methods;
