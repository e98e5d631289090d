//! `gatehouse-bench`: throughput and latency of Gatehouse's hot paths at a
//! fixed concurrency, in the embedded shape (one process, SQLite, in-process
//! cache) and the production shape (four processes, PostgreSQL, Redis), as
//! ratios to the oidc-provider peer measured in the same run.
//! See `tests/bench/README.md`; `tests/bench/run.sh` runs everything.

mod load;
mod peer;
mod revocation;
mod setup;
mod signals;

use std::time::Duration;

use anyhow::Context;

use crate::load::Stats;
use crate::setup::{Gatehouse, OPENID_SCOPE, PLAIN_SCOPE, Shape, process_cpu_seconds};

/// One row of the peer's figures.
struct PeerRow {
    scenario: String,
    rps: f64,
    p50: String,
    p99: String,
    /// The peer's and the load generator's CPU, for rows this program drove.
    cpu: String,
}

/// Figures of the peer (`summary.md` of its bench.sh), by scenario.
fn peer_figures(path: Option<&str>) -> Vec<PeerRow> {
    let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let rps = cells.get(2)?.parse::<f64>().ok()?;
            Some(PeerRow {
                scenario: (*cells.get(1)?).to_owned(),
                rps,
                p50: (*cells.get(3)?).to_owned(),
                p99: (*cells.get(4)?).to_owned(),
                cpu: format!("{} | {}", cells.get(6)?, cells.get(8)?),
            })
        })
        .collect()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let duration = Duration::from_secs(env_or("DUR", "10").parse().context("DUR")?);
    let connections: usize = env_or("CONNS", "32").parse().context("CONNS")?;
    let binary = env_or("GATEHOUSE_BIN", "target/release/gatehouse");
    let peer = peer_figures(std::env::var("PEER_SUMMARY").ok().as_deref());
    // ONLY=grpc_introspect,client_credentials runs a subset (code_exchange
    // still needs the authorize run, which harvests its codes).
    let only = std::env::var("ONLY").ok();
    let selected = |scenario: &str| only.as_deref().is_none_or(|o| o.split(',').any(|s| s.trim() == scenario));
    let mut peer = peer;
    // The peer rotating its refresh tokens (run.sh's second peer, ROTATE=1),
    // measured by this generator: what Gatehouse's refresh rows compare to.
    if let Ok(base) = std::env::var("PEER_ROTATING_URL") {
        let pid = std::env::var("PEER_ROTATING_PID").unwrap_or_default();
        for (scenario, scope) in
            [("refresh_token_rotating", peer::PLAIN), ("refresh_token_rotating_openid", peer::OPENID)]
        {
            if !selected(scenario.replace("_rotating", "").as_str()) {
                continue;
            }
            let (cpu0, own0) = (process_cpu_seconds(&pid), process_cpu_seconds("self"));
            let t0 = std::time::Instant::now();
            let stats = peer::rotating_refresh(&base, scope, connections, duration).await?;
            let wall = t0.elapsed().as_secs_f64();
            let cpu = format!(
                "{:.0} % | {:.0} %",
                100.0 * (process_cpu_seconds(&pid) - cpu0) / wall,
                100.0 * (process_cpu_seconds("self") - own0) / wall
            );
            if stats.errors > 0 {
                eprintln!("warning: {} errors in the peer's {scenario}", stats.errors);
            }
            peer.push(PeerRow {
                scenario: scenario.to_owned(),
                rps: stats.rps(),
                p50: format!("{:.2} ms", stats.percentile(0.50)),
                p99: format!("{:.2} ms", stats.percentile(0.99)),
                cpu,
            });
        }
    }
    // Gatehouse rotates: its refresh rows compare to the rotating peer when it ran.
    let compared = |peer_name: &'static str| -> String {
        let rotating = format!("{}_rotating{}", "refresh_token", peer_name.strip_prefix("refresh_token").unwrap_or(""));
        if peer_name.starts_with("refresh_token") && peer.iter().any(|row| row.scenario == rotating) {
            rotating
        } else {
            peer_name.to_owned()
        }
    };
    let mut shapes = vec![Shape::Embedded];
    if let (Ok(database), Ok(redis)) = (std::env::var("TEST_DATABASE_URL"), std::env::var("TEST_REDIS_URL")) {
        shapes.push(Shape::Production { name: "production".to_owned(), database, redis });
        // CACHE_SHAPES=1 (tests/bench/run.sh): the same production shape on
        // a Sentinel group and on a Cluster, each with a database of its own.
        for shape in std::env::var("BENCH_CACHE_SHAPES").unwrap_or_default().split(';').filter(|s| !s.is_empty()) {
            let mut fields = shape.splitn(3, '|');
            let (Some(name), Some(database), Some(redis)) = (fields.next(), fields.next(), fields.next()) else {
                anyhow::bail!("BENCH_CACHE_SHAPES: {shape:?} is not NAME|DATABASE_URL|CACHE_URL");
            };
            shapes.push(Shape::Production {
                name: name.to_owned(),
                database: database.to_owned(),
                redis: redis.to_owned(),
            });
        }
    } else {
        eprintln!(
            "TEST_DATABASE_URL / TEST_REDIS_URL not set: only the embedded shape runs (tests/bench/run.sh sets them)"
        );
    }

    println!(
        "| shape | scenario | req/s | p50 | p99 | errors | Gatehouse CPU | load generator CPU | gRPC / SQL / Redis per request | ratio to peer |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let receiver_tls = signals::ReceiverTls::generate()?;
    for shape in shapes {
        let name = shape.name();
        let mut gatehouse = Gatehouse::start(&binary, shape, &receiver_tls.ca_pem).await?;
        if name == "embedded" {
            // Idle resident memory, before any load.
            println!("| embedded | idle RSS | {:.1} MiB | | | | | | | |", gatehouse.rss_mib());
        }
        let fixture = gatehouse.fixture().await?;
        // CPU use of Gatehouse's processes and of this load generator per run
        // (warm-up included): near 100 % of its pinned core means that side is the limit.
        let mut runs: Vec<(&str, &str, Stats, f64, f64, String)> = Vec::new();
        macro_rules! run {
            ($scenario:literal, $peer:literal, $call:expr) => {{
                if selected($scenario)
                    || ($scenario == "authorize_redirect" && selected("code_exchange"))
                    || ($scenario == "authorize_redirect_openid" && selected("code_exchange_openid"))
                    || ($scenario == "authorize_redirect_openid_es256" && selected("code_exchange_openid_es256"))
                {
                    let counted = gatehouse.counters().await;
                    let (cpu0, own0) = (gatehouse.cpu_seconds(), process_cpu_seconds("self"));
                    let t0 = std::time::Instant::now();
                    let stats = $call.await?;
                    let wall = t0.elapsed().as_secs_f64();
                    let server = (gatehouse.cpu_seconds() - cpu0) / wall;
                    let own = (process_cpu_seconds("self") - own0) / wall;
                    let trips = gatehouse.counters().await.per_request(&counted, stats.sent);
                    if selected($scenario) {
                        runs.push(($scenario, $peer, stats, server, own, trips));
                    }
                }
            }};
        }
        run!(
            "grpc_health_floor",
            "node_http_floor",
            load::grpc_health_floor(&gatehouse, &fixture, connections, duration)
        );
        run!("grpc_introspect", "introspect", load::grpc_introspect(&gatehouse, &fixture, connections, duration));
        run!(
            "http_health_floor",
            "node_http_floor",
            load::http_health_floor(&gatehouse, &fixture, connections, duration)
        );
        run!("http_introspect", "introspect", load::http_introspect(&gatehouse, &fixture, connections, duration));
        run!("client_credentials", "cc_basic", load::client_credentials(&gatehouse, &fixture, connections, duration));
        // DPoP (RFC 9449): compared with the row above, Gatehouse's own baseline.
        run!(
            "client_credentials_dpop",
            "n/a",
            load::client_credentials_dpop(&gatehouse, &fixture, connections, duration)
        );
        run!(
            "authorize_redirect",
            "authorize_redirect",
            load::authorize_redirect(&gatehouse, &fixture, connections, duration, PLAIN_SCOPE)
        );
        run!("code_exchange", "code_exchange", load::code_exchange(&gatehouse, &fixture, connections, duration));
        run!("refresh_token", "refresh_token", load::refresh(&gatehouse, &fixture, connections, duration, PLAIN_SCOPE));
        // OpenID Connect: the same flow with `openid`, an RS256 ID token in every token response
        // (the peer's EXTRA=1 rows, whose scope also asks for openid).
        run!(
            "authorize_redirect_openid",
            "authorize_redirect_openid",
            load::authorize_redirect(&gatehouse, &fixture, connections, duration, OPENID_SCOPE)
        );
        run!(
            "code_exchange_openid",
            "code_exchange_openid",
            load::code_exchange(&gatehouse, &fixture, connections, duration)
        );
        run!(
            "refresh_token_openid",
            "refresh_token_openid",
            load::refresh(&gatehouse, &fixture, connections, duration, OPENID_SCOPE)
        );
        // The same with an application that registered ES256 ID tokens
        // (`id_token_signed_response_alg`); the peer's rows sign RS256.
        let es256 = fixture.es256();
        run!(
            "authorize_redirect_openid_es256",
            "authorize_redirect_openid",
            load::authorize_redirect(&gatehouse, &es256, connections, duration, OPENID_SCOPE)
        );
        run!(
            "code_exchange_openid_es256",
            "code_exchange_openid",
            load::code_exchange(&gatehouse, &es256, connections, duration)
        );
        run!(
            "refresh_token_openid_es256",
            "refresh_token_openid",
            load::refresh(&gatehouse, &es256, connections, duration, OPENID_SCOPE)
        );
        run!("jwks", "n/a", load::jwks(&gatehouse, &fixture, connections, duration));
        // Transaction tokens: minted over HTTP (the peer has none).
        run!("txn_token_mint", "n/a", load::txn_mint(&gatehouse, &fixture, connections, duration));
        for (scenario, peer_name, stats, cpu, own, trips) in runs {
            let peer_name = compared(peer_name);
            let ratio = peer
                .iter()
                .find(|row| row.scenario == peer_name)
                .map_or_else(|| "n/a".to_owned(), |row| format!("{:.1}x", stats.rps() / row.rps));
            println!(
                "| {name} | {scenario} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.0} % | {:.0} % | {trips} | {ratio} |",
                stats.rps(),
                stats.percentile(0.50),
                stats.percentile(0.99),
                stats.errors,
                cpu * 100.0,
                own * 100.0
            );
        }
        // The validation cache (gatehouse-client's TokenCache): in this process.
        if selected("layer_cached") {
            let peer_introspect = peer.iter().find(|row| row.scenario == "introspect").map(|row| row.rps);
            let (per_core, cpu) = revocation::cached_validations(&gatehouse, &fixture, duration).await?;
            let ratio = peer_introspect.map_or_else(|| "n/a".to_owned(), |rps| format!("{:.0}x", per_core / rps));
            println!(
                "| {name} | layer_cached (validations/s per core, in process) | {per_core:.0} | | | 0 | | {:.0} % | | {ratio} |",
                cpu * 100.0
            );
        }
        if selected("txn_token_verify") {
            let (per_core, cpu) = revocation::txn_verifications(&gatehouse, &fixture, duration).await?;
            println!(
                "| {name} | txn_token_verify (local verifications/s per core, in process) | {per_core:.0} | | | 0 | | {:.0} % | | n/a |",
                cpu * 100.0
            );
        }
        if selected("revocation_propagation") {
            let (p50, p99) = revocation::propagation(&gatehouse, &fixture, 200).await?;
            println!(
                "| {name} | revocation_propagation (Revoke returned → refused by all 4 layers) | | {p50:.2} ms | {p99:.2} ms | 0 | | | | n/a |"
            );
        }
        if selected("ssf_propagation") {
            let (p50, p90, p99, rounds) =
                signals::propagation(&gatehouse, &fixture, &receiver_tls, connections.min(8), duration).await?;
            println!(
                "| {name} | ssf_propagation (RevokeAllForGrant returned → push receiver holds the SET; {rounds} rounds under client_credentials load; p90 {p90:.0} ms) | | {p50:.2} ms | {p99:.2} ms | 0 | | | | n/a |"
            );
        }
        if selected("cache_memory") && name == "embedded" {
            let (bytes, held) = revocation::memory(&gatehouse, 1_000_000).await?;
            println!(
                "| {name} | cache_memory ({held} cached validations) | {:.0} MiB | {bytes:.0} B/entry | | | | | | n/a |",
                bytes * held as f64 / 1048576.0
            );
        }
        drop(gatehouse);
    }
    for PeerRow { scenario, rps, p50, p99, cpu } in &peer {
        println!("| peer (oidc-provider) | {scenario} | {rps:.0} | {p50} | {p99} | | {cpu} | | 1.0x |");
    }
    Ok(())
}
