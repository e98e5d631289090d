//! `gatehouse audit list|verify`: every service's trail, read over gRPC.

use anyhow::bail;
use gatehouse_runtime::clients::AuditFilter;

use crate::cli::{AuditCommand, OutputFormat};
use crate::failure::usage;
use crate::rpc::{rpc_error, services};

pub(crate) async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::List { since, actor, action, target, limit, client: options } => {
            let since_ms = match since {
                Some(text) => chrono::DateTime::parse_from_rfc3339(&text)
                    .map_err(|_| usage(format!("--since {text:?} is not an RFC 3339 time")))?
                    .timestamp_millis(),
                None => 0,
            };
            let filter = AuditFilter {
                since_ms,
                actor_id: actor.unwrap_or_default(),
                action: action.unwrap_or_default(),
                target: target.unwrap_or_default(),
                subject_user_id: String::new(),
                limit,
            };
            let events = services(&options)?.audit_events(&filter).await.map_err(rpc_error)?;
            crate::output::audit_events(options.output, &events);
        }
        AuditCommand::Verify { client: options } => {
            let answers = services(&options)?.verify_audit_chains().await.map_err(rpc_error)?;
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
