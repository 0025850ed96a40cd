//! Logs and traces: one `tracing` subscriber per process, optional OTLP export, and the W3C
//! trace-context helpers that carry one trace across services through the bus.
//!
//! - Filter: `RUST_LOG` when set, else [`TelemetryConfig::filter`].
//! - Format: human-readable ([`LogFormat::Pretty`]) or JSON lines ([`LogFormat::Json`]), to
//!   stdout.
//! - Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (e.g. `http://otel-collector:4318`),
//!   spans are exported over OTLP HTTP/protobuf in batches, with the resource attribute
//!   `service.name`. The other standard `OTEL_EXPORTER_OTLP_*` variables (headers, timeout)
//!   apply. Only plain `http://` endpoints are supported (a collector or agent next to the
//!   service); no TLS client is compiled in.
//!
//! ```no_run
//! # fn main() {
//! let config = ferry_platform::config::TelemetryConfig::default();
//! let _guard = ferry_platform::telemetry::init("mapper", &config);
//! tracing::info!("started");
//! // dropping the guard at the end of main flushes pending spans
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, TelemetryConfig};

/// Variable that switches OTLP trace export on (standard OpenTelemetry name).
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// W3C `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// W3C `tracestate` header name.
pub const TRACESTATE: &str = "tracestate";

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Keeps the tracer provider alive; dropping it flushes pending spans and shuts the exporter
/// down. Keep it in `main` for the life of the process.
#[must_use = "dropping the guard shuts tracing export down"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether spans are exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            // The subscriber may already be gone; stderr is all that is left.
            eprintln!("cannot flush OpenTelemetry spans: {e}");
        }
    }
}

type Base = Layered<EnvFilter, Registry>;
type BoxedLayer = Box<dyn Layer<Base> + Send + Sync>;

/// Installs the global `tracing` subscriber for `service_name`.
///
/// Only the first call in a process does anything; later calls (tests call it freely) return
/// an inert guard. If another global subscriber is already installed, this one is not, and
/// the returned guard is inert too. Never panics: a broken OTLP setup is reported on stderr
/// and logging goes on without export.
pub fn init(service_name: &str, config: &TelemetryConfig) -> TelemetryGuard {
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return TelemetryGuard::default();
    }

    let filter = build_filter(config);
    let mut layers: Vec<BoxedLayer> = Vec::new();
    layers.push(match config.format {
        // Logs go to stderr: stdout stays free for what a command prints.
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(true)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    });

    let provider = match std::env::var(OTLP_ENDPOINT_ENV) {
        Ok(endpoint) if !endpoint.trim().is_empty() => match otlp_provider(service_name) {
            Ok(provider) => Some(provider),
            Err(e) => {
                eprintln!("OpenTelemetry export disabled: cannot build the OTLP exporter: {e}");
                None
            }
        },
        _ => None,
    };
    // Spans always carry OpenTelemetry trace ids, exported or not: messages propagate them
    // (W3C `traceparent`) and the activity log records them, so every record is traceable
    // across services even where no collector runs.
    let tracing_provider = provider.clone().unwrap_or_else(|| {
        SdkTracerProvider::builder()
            .with_resource(resource(service_name))
            .build()
    });
    let tracer = tracing_provider.tracer(service_name.to_owned());
    // Busy/idle time would take the clock at every poll of every instrumented future (a
    // visible share of the order pipeline's CPU); the exported spans keep their start, end,
    // location and thread.
    layers.push(
        tracing_opentelemetry::layer()
            .with_tracked_inactivity(false)
            .with_tracer(tracer)
            .boxed(),
    );
    opentelemetry::global::set_tracer_provider(tracing_provider);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
        .is_ok();
    if !installed {
        // Someone else's subscriber is in place; don't export spans nobody records.
        if let Some(provider) = provider {
            let _ = provider.shutdown();
        }
        return TelemetryGuard::default();
    }
    if provider.is_some() {
        tracing::info!(service = service_name, "exporting traces over OTLP");
    }
    TelemetryGuard { provider }
}

/// `RUST_LOG` if set and valid, else the configured filter, else `info`.
fn build_filter(config: &TelemetryConfig) -> EnvFilter {
    if let Ok(directives) = std::env::var(EnvFilter::DEFAULT_ENV)
        && !directives.trim().is_empty()
    {
        match EnvFilter::builder().parse(&directives) {
            Ok(filter) => return filter,
            Err(e) => eprintln!("ignoring invalid RUST_LOG ({e}); using the configured filter"),
        }
    }
    EnvFilter::builder()
        .parse(&config.filter)
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

fn otlp_provider(
    service_name: &str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(service_name))
        .build())
}

fn resource(service_name: &str) -> Resource {
    Resource::builder()
        .with_service_name(service_name.to_owned())
        .build()
}

/// Serializes the current span's trace context as W3C `(traceparent, tracestate)`.
///
/// Returns `(None, None)` when the current span carries no valid OpenTelemetry context
/// (no OTel layer installed, or outside any span). `tracestate` is `None` when empty.
pub fn inject_current() -> (Option<String>, Option<String>) {
    inject(&tracing::Span::current())
}

/// Like [`inject_current`], for a given span.
pub fn inject(span: &tracing::Span) -> (Option<String>, Option<String>) {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return (None, None);
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    let traceparent = carrier.remove(TRACEPARENT).filter(|v| !v.is_empty());
    let tracestate = carrier.remove(TRACESTATE).filter(|v| !v.is_empty());
    (traceparent, tracestate)
}

/// A new trace for one unit of work (one observed record): a root span named `name`, linked
/// to the current span (e.g. the sync run that found the record) so that both stay findable.
pub fn new_trace(span: tracing::Span) -> tracing::Span {
    let current = tracing::Span::current().context();
    let parent = current.span().span_context().clone();
    if parent.is_valid() {
        span.add_link(parent);
    }
    span
}

/// Makes `span` a child of the remote context given as W3C headers, so that work triggered by
/// a message continues the sender's trace. No-op when `traceparent` is missing or invalid, or
/// when no OTel layer records the span.
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let mut carrier: HashMap<String, String> = HashMap::new();
    carrier.insert(TRACEPARENT.to_owned(), traceparent.to_owned());
    if let Some(state) = tracestate {
        carrier.insert(TRACESTATE.to_owned(), state.to_owned());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    if !cx.span().span_context().is_valid() {
        return;
    }
    // Fails only when the span is disabled or already started a context; nothing to do then.
    let _ = span.set_parent(cx);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn trace_id(span: &tracing::Span) -> opentelemetry::trace::TraceId {
        span.context().span().span_context().trace_id()
    }

    #[test]
    fn inject_then_set_parent_round_trips_the_trace_id() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let sender = tracing::info_span!("publish");
            let (traceparent, tracestate) = sender.in_scope(inject_current);
            let traceparent = traceparent.expect("a traceparent inside an OTel span");
            assert!(traceparent.starts_with("00-"), "{traceparent}");
            assert_eq!(tracestate, None);

            let receiver = tracing::info_span!("consume");
            set_parent(&receiver, Some(&traceparent), tracestate.as_deref());
            assert_eq!(trace_id(&receiver), trace_id(&sender));
            assert!(traceparent.contains(&trace_id(&sender).to_string()));

            // An invalid header leaves the span a root of its own trace.
            let other = tracing::info_span!("other");
            set_parent(&other, Some("garbage"), None);
            assert_ne!(trace_id(&other), trace_id(&sender));
        });
    }

    /// The only test that installs the global subscriber (with OTLP export to a closed port).
    // `figment::Jail` closures must return `figment::Result`, whose error is large.
    #[allow(clippy::result_large_err)]
    #[tokio::test]
    async fn init_is_idempotent_and_exports_when_configured() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(OTLP_ENDPOINT_ENV, "http://127.0.0.1:9");
            let config = TelemetryConfig::default();
            let guard = init("telemetry-test", &config);
            assert!(guard.exporting());
            let second = init("telemetry-test", &config);
            assert!(!second.exporting());
            tracing::info_span!("exported").in_scope(|| {
                let (traceparent, _) = inject_current();
                assert!(traceparent.is_some());
            });
            // Flushing to a closed port reports the failure and returns.
            drop(guard);
            Ok(())
        });
    }

    #[test]
    fn inject_without_otel_layer_gives_nothing() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("plain");
            assert_eq!(span.in_scope(inject_current), (None, None));
        });
    }
}
