//! Logging and tracing set-up: log lines human-readable by default, JSON
//! when asked; with an OTLP endpoint, the `http` and `rpc` spans are also
//! exported as OpenTelemetry traces, joined across processes by the W3C
//! `traceparent` header that travels with the request id.

use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Where traces go: an OTLP/gRPC collector, such as `http://otel-collector:4317`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Otlp {
    pub endpoint: String,
    /// The `service.name` of the spans, such as `gatehouse-token`.
    pub service_name: String,
}

/// Whether spans are exported: trace context is only computed and carried then.
static TRACING: AtomicBool = AtomicBool::new(false);

/// Keeps the exporter; [`Telemetry::shutdown`] sends what is still buffered.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "flushing traces failed");
        }
    }
}

/// An OTLP endpoint that the exporter cannot use.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter: {0}")]
pub struct TelemetryError(String);

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
/// Calling it twice (as tests do) keeps the first subscriber.
pub fn init(format: LogFormat, otlp: Option<&Otlp>) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: a file or a log collector gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let provider = match otlp {
        Some(otlp) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(otlp.endpoint.clone())
                .build()
                .map_err(|e| TelemetryError(e.to_string()))?;
            let resource = opentelemetry_sdk::Resource::builder().with_service_name(otlp.service_name.clone()).build();
            Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
        }
        None => None,
    };
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer().with_tracer(p.tracer("gatehouse")).with_filter(
            // Only Gatehouse's own spans: not every h2 frame of the exporter itself.
            tracing_subscriber::filter::filter_fn(|meta| meta.target().starts_with("gatehouse")),
        )
    });
    let installed = tracing_subscriber::registry().with(filter).with(fmt).with(traces).try_init().is_ok();
    TRACING.store(installed && provider.is_some(), Ordering::Relaxed);
    Ok(Telemetry { provider })
}

/// Logs that `part` listens on `url` (`what`: the protocol, such as
/// "(gRPC)"): the line a supervisor or test waits for, in the log's format.
pub fn listening(part: &str, url: &str, what: &str) {
    tracing::info!(part, url, "{part} listening on {url}{what}");
}

/// The part and address of a [`listening`] line of either log format.
pub fn parse_listening(line: &str) -> Option<(String, String)> {
    if line.starts_with('{') {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        let field = |name: &str| event.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
        return field("message")?.contains(" listening on ").then_some((field("part")?, field("url")?));
    }
    let (before, after) = line.split_once(" listening on ")?;
    let part = before.rsplit(' ').next()?;
    let url = after.split(' ').next()?;
    Some((part.to_owned(), url.to_owned()))
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct Traceparent(Option<HeaderValue>);

impl Injector for Traceparent {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.0 = HeaderValue::from_str(&value).ok();
        }
    }
}

/// When traces are exported: makes `span` a child of the caller's span
/// (the `traceparent` of `headers`, if any), and returns the `traceparent`
/// that the calls made while serving it carry on.
pub fn join_trace(span: &tracing::Span, headers: &HeaderMap) -> Option<HeaderValue> {
    if !TRACING.load(Ordering::Relaxed) {
        return None;
    }
    let propagator = TraceContextPropagator::new();
    if headers.contains_key("traceparent") {
        let _ = span.set_parent(propagator.extract(&Headers(headers)));
    }
    let mut traceparent = Traceparent(None);
    propagator.inject_context(&span.context(), &mut traceparent);
    traceparent.0
}
