//! `gatehouse audit list|verify`: every service's trail, read over gRPC.

use anyhow::{Context, bail};
use gatehouse_proto::pb::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use gatehouse_proto::pb::common::v1 as common;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;

use crate::cli::{AuditCommand, ClientOptions, OutputFormat};
use crate::rpc::channel;
use crate::rpc::rpc_error;

pub(crate) async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::List { since, actor, action, target, limit, client: options } => {
            let since_ms = match since {
                Some(text) => chrono::DateTime::parse_from_rfc3339(&text)
                    .with_context(|| format!("--since {text:?} is not an RFC 3339 time"))?
                    .timestamp_millis(),
                None => 0,
            };
            let request = common::ListAuditEventsRequest {
                since_ms,
                actor_id: actor.unwrap_or_default(),
                action: action.unwrap_or_default(),
                target: target.unwrap_or_default(),
                subject_user_id: String::new(),
                limit,
            };
            let mut events = list(&options, request).await?;
            events.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(b.seq.cmp(&a.seq)));
            crate::output::audit_events(options.output, &events);
        }
        AuditCommand::Verify { client: options } => {
            let answers = verify(&options).await?;
            let broken: Vec<_> = answers.iter().filter(|a| a.first_bad_seq != 0).collect();
            match options.output {
                OutputFormat::Json => {
                    let value: Vec<_> = answers
                        .iter()
                        .map(|a| serde_json::json!({"service": a.service, "events": a.events, "first_bad_seq": (a.first_bad_seq != 0).then_some(a.first_bad_seq), "reason": a.reason}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
                }
                OutputFormat::Table => {
                    for a in &answers {
                        if a.first_bad_seq == 0 {
                            println!("{:<14} {} events, chain intact", a.service, a.events);
                        } else {
                            println!("{:<14} BROKEN at event {}: {}", a.service, a.first_bad_seq, a.reason);
                        }
                    }
                }
            }
            if let Some(first) = broken.first() {
                bail!("the {} audit chain is broken at event {}: {}", first.service, first.first_bad_seq, first.reason);
            }
        }
    }
    Ok(())
}

/// The three services, each of which keeps its own trail.
type Trails = (
    RegistryServiceClient<gatehouse_upstream::Upstream>,
    AuthorizationServiceClient<gatehouse_upstream::Upstream>,
    TokenServiceClient<gatehouse_upstream::Upstream>,
);

fn trails(options: &ClientOptions) -> anyhow::Result<Trails> {
    Ok((
        RegistryServiceClient::new(channel(options, &options.registry_url, "GATEHOUSE_REGISTRY_URL")?),
        AuthorizationServiceClient::new(channel(options, &options.authorization_url, "GATEHOUSE_AUTHORIZATION_URL")?),
        TokenServiceClient::new(channel(options, &options.token_url, "GATEHOUSE_TOKEN_URL")?),
    ))
}

async fn list(
    options: &ClientOptions,
    request: common::ListAuditEventsRequest,
) -> anyhow::Result<Vec<common::AuditEvent>> {
    let (mut registry, mut authorization, mut token) = trails(options)?;
    let mut events = registry.list_audit_events(request.clone()).await.map_err(rpc_error)?.into_inner().events;
    events.extend(authorization.list_audit_events(request.clone()).await.map_err(rpc_error)?.into_inner().events);
    events.extend(token.list_audit_events(request).await.map_err(rpc_error)?.into_inner().events);
    Ok(events)
}

async fn verify(options: &ClientOptions) -> anyhow::Result<Vec<common::VerifyAuditChainResponse>> {
    let (mut registry, mut authorization, mut token) = trails(options)?;
    let request = common::VerifyAuditChainRequest {};
    Ok(vec![
        registry.verify_audit_chain(request).await.map_err(rpc_error)?.into_inner(),
        authorization.verify_audit_chain(request).await.map_err(rpc_error)?.into_inner(),
        token.verify_audit_chain(request).await.map_err(rpc_error)?.into_inner(),
    ])
}
