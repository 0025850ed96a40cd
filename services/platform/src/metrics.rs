//! Every Prometheus metric of Ferry, named once, here.
//!
//! Code never registers metrics by name elsewhere: it calls the small typed methods of
//! [`Metrics`] (usually on [`global()`]), so names and labels stay consistent across
//! services. `/metrics` of the admin server serves [`Metrics::encode`].
//!
//! | family | type | labels |
//! | --- | --- | --- |
//! | `ferry_bus_messages_published_total` | counter | `exchange`, `routing_key` |
//! | `ferry_bus_messages_consumed_total` | counter | `queue`, `outcome` |
//! | `ferry_bus_messages_retried_total` | counter | `queue` |
//! | `ferry_bus_messages_dead_lettered_total` | counter | `queue` |
//! | `ferry_bus_publish_seconds` | histogram | |
//! | `ferry_bus_handler_seconds` | histogram | `queue` |
//! | `ferry_api_calls_total` | counter | `system`, `operation`, `status` |
//! | `ferry_api_call_seconds` | histogram | `system`, `operation` |
//! | `ferry_saga_step_seconds` | histogram | `step` |
//! | `ferry_outbox_pending` | gauge | |
//! | `ferry_inbox_duplicates_total` | counter | `consumer` |

use std::sync::OnceLock;
use std::time::Duration;

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Content type of [`Metrics::encode`]'s output (OpenMetrics text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How a consumer finished with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumeOutcome {
    /// Handled and acknowledged.
    Ack,
    /// Failed and scheduled for another attempt.
    Retry,
    /// Failed for the last time (or permanently) and moved to the dead-letter queue.
    DeadLetter,
    /// Already processed (inbox hit); acknowledged without running the handler.
    Duplicate,
}

impl ConsumeOutcome {
    /// The label value (`ack`, `retry`, `dead_letter`, `duplicate`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumeOutcome::Ack => "ack",
            ConsumeOutcome::Retry => "retry",
            ConsumeOutcome::DeadLetter => "dead_letter",
            ConsumeOutcome::Duplicate => "duplicate",
        }
    }
}

impl EncodeLabelValue for ConsumeOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PublishedLabels {
    exchange: String,
    routing_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ConsumedLabels {
    queue: String,
    outcome: ConsumeOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApiCallLabels {
    system: String,
    operation: String,
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApiLatencyLabels {
    system: String,
    operation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StepLabels {
    step: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ConsumerLabels {
    consumer: String,
}

/// Builds latency histograms: 5 ms to ~82 s in powers of two.
#[derive(Debug, Clone, Copy)]
struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        latency_histogram()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// The registry and every metric family. Cheap to share; all methods take `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    bus_published: Family<PublishedLabels, Counter>,
    bus_consumed: Family<ConsumedLabels, Counter>,
    bus_retried: Family<QueueLabels, Counter>,
    bus_dead_lettered: Family<QueueLabels, Counter>,
    bus_publish_seconds: Histogram,
    bus_handler_seconds: Family<QueueLabels, Histogram, LatencyBuckets>,
    api_calls: Family<ApiCallLabels, Counter>,
    api_call_seconds: Family<ApiLatencyLabels, Histogram, LatencyBuckets>,
    saga_step_seconds: Family<StepLabels, Histogram, LatencyBuckets>,
    outbox_pending: Gauge,
    inbox_duplicates: Family<ConsumerLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered (tests use their own; services use
    /// [`global()`]).
    pub fn new() -> Self {
        let mut registry = Registry::default();

        let bus_published = Family::<PublishedLabels, Counter>::default();
        registry.register(
            "ferry_bus_messages_published",
            "Messages published to the bus and confirmed by the broker, by exchange and routing key",
            bus_published.clone(),
        );
        let bus_consumed = Family::<ConsumedLabels, Counter>::default();
        registry.register(
            "ferry_bus_messages_consumed",
            "Deliveries a consumer finished, by queue and outcome (ack, retry, dead_letter, duplicate)",
            bus_consumed.clone(),
        );
        let bus_retried = Family::<QueueLabels, Counter>::default();
        registry.register(
            "ferry_bus_messages_retried",
            "Messages sent to a delay queue for another attempt, by queue",
            bus_retried.clone(),
        );
        let bus_dead_lettered = Family::<QueueLabels, Counter>::default();
        registry.register(
            "ferry_bus_messages_dead_lettered",
            "Messages moved to the dead-letter queue after their last attempt, by queue",
            bus_dead_lettered.clone(),
        );
        let bus_publish_seconds = latency_histogram();
        registry.register(
            "ferry_bus_publish_seconds",
            "Time from publish until the broker confirmed the message, in seconds",
            bus_publish_seconds.clone(),
        );
        let bus_handler_seconds =
            Family::<QueueLabels, Histogram, LatencyBuckets>::new_with_constructor(LatencyBuckets);
        registry.register(
            "ferry_bus_handler_seconds",
            "Time a consumer's handler took for one delivery, by queue, in seconds",
            bus_handler_seconds.clone(),
        );
        let api_calls = Family::<ApiCallLabels, Counter>::default();
        registry.register(
            "ferry_api_calls",
            "Calls to external APIs (MailChimp, MplusKASSA, alert targets), by system, operation and status (HTTP status code or error kind)",
            api_calls.clone(),
        );
        let api_call_seconds =
            Family::<ApiLatencyLabels, Histogram, LatencyBuckets>::new_with_constructor(
                LatencyBuckets,
            );
        registry.register(
            "ferry_api_call_seconds",
            "Duration of calls to external APIs, by system and operation, in seconds",
            api_call_seconds.clone(),
        );
        let saga_step_seconds =
            Family::<StepLabels, Histogram, LatencyBuckets>::new_with_constructor(LatencyBuckets);
        registry.register(
            "ferry_saga_step_seconds",
            "Time an order saga step took from sending its command to handling the reply, by step, in seconds",
            saga_step_seconds.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "ferry_outbox_pending",
            "Messages committed to the transactional outbox and not yet published",
            outbox_pending.clone(),
        );
        let inbox_duplicates = Family::<ConsumerLabels, Counter>::default();
        registry.register(
            "ferry_inbox_duplicates",
            "Deliveries recognised as already processed by a consumer's inbox, by consumer",
            inbox_duplicates.clone(),
        );

        Self {
            registry,
            bus_published,
            bus_consumed,
            bus_retried,
            bus_dead_lettered,
            bus_publish_seconds,
            bus_handler_seconds,
            api_calls,
            api_call_seconds,
            saga_step_seconds,
            outbox_pending,
            inbox_duplicates,
        }
    }

    /// A message was published to `exchange` with `routing_key` and confirmed.
    pub fn bus_published(&self, exchange: &str, routing_key: &str) {
        self.bus_published
            .get_or_create(&PublishedLabels {
                exchange: exchange.to_owned(),
                routing_key: routing_key.to_owned(),
            })
            .inc();
    }

    /// A consumer of `queue` finished one delivery with `outcome`.
    pub fn bus_consumed(&self, queue: &str, outcome: ConsumeOutcome) {
        self.bus_consumed
            .get_or_create(&ConsumedLabels {
                queue: queue.to_owned(),
                outcome,
            })
            .inc();
    }

    /// A message of `queue` was scheduled for another attempt.
    pub fn bus_retried(&self, queue: &str) {
        self.bus_retried
            .get_or_create(&QueueLabels {
                queue: queue.to_owned(),
            })
            .inc();
    }

    /// A message of `queue` was dead-lettered.
    pub fn bus_dead_lettered(&self, queue: &str) {
        self.bus_dead_lettered
            .get_or_create(&QueueLabels {
                queue: queue.to_owned(),
            })
            .inc();
    }

    /// A publish took `elapsed` until confirmed.
    pub fn bus_publish_duration(&self, elapsed: Duration) {
        self.bus_publish_seconds.observe(elapsed.as_secs_f64());
    }

    /// The handler of `queue` took `elapsed` for one delivery.
    pub fn bus_handler_duration(&self, queue: &str, elapsed: Duration) {
        self.bus_handler_seconds
            .get_or_create(&QueueLabels {
                queue: queue.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// One call to an external API finished: counts it under `status` (an HTTP status code
    /// like `"200"`/`"429"`, or an error kind like `"timeout"`/`"connect"`) and records its
    /// latency.
    pub fn api_call(&self, system: &str, operation: &str, status: &str, elapsed: Duration) {
        self.api_calls
            .get_or_create(&ApiCallLabels {
                system: system.to_owned(),
                operation: operation.to_owned(),
                status: status.to_owned(),
            })
            .inc();
        self.api_call_seconds
            .get_or_create(&ApiLatencyLabels {
                system: system.to_owned(),
                operation: operation.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The saga step `step` took `elapsed`.
    pub fn saga_step(&self, step: &str, elapsed: Duration) {
        self.saga_step_seconds
            .get_or_create(&StepLabels {
                step: step.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// `pending` messages wait in the outbox.
    pub fn set_outbox_pending(&self, pending: i64) {
        self.outbox_pending.set(pending);
    }

    /// `consumer`'s inbox recognised a delivery as a duplicate.
    pub fn inbox_duplicate(&self, consumer: &str) {
        self.inbox_duplicates
            .get_or_create(&ConsumerLabels {
                consumer: consumer.to_owned(),
            })
            .inc();
    }

    /// Every family in the OpenMetrics text format (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Writing into a String cannot fail; keep whatever was written.
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// The process-wide metrics, created on first use.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// [`global()`] in the OpenMetrics text format.
pub fn encode() -> String {
    global().encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_encoded_with_labels() {
        let metrics = Metrics::new();
        metrics.bus_published("ferry.events", "mailchimp.customer.observed");
        metrics.bus_consumed("mapper", ConsumeOutcome::DeadLetter);
        metrics.api_call(
            "mailchimp",
            "get_customer",
            "429",
            Duration::from_millis(20),
        );
        metrics.set_outbox_pending(3);
        let text = metrics.encode();
        assert!(text.contains(
            r#"ferry_bus_messages_published_total{exchange="ferry.events",routing_key="mailchimp.customer.observed"} 1"#
        ));
        assert!(text.contains(
            r#"ferry_bus_messages_consumed_total{queue="mapper",outcome="dead_letter"} 1"#
        ));
        assert!(text.contains(
            r#"ferry_api_calls_total{system="mailchimp",operation="get_customer",status="429"} 1"#
        ));
        assert!(text.contains("ferry_api_call_seconds_bucket"));
        assert!(text.contains("ferry_outbox_pending 3"));
        assert!(text.contains("# HELP ferry_bus_publish_seconds"));
        // Labelled families appear once they have a sample.
        assert!(!text.contains("ferry_saga_step_seconds"));
    }
}
