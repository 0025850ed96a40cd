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
//! | `ferry_parked_messages` | gauge | `queue` |
//! | `ferry_alerts_open` | gauge | |
//! | `ferry_sagas_failed` | gauge | |
//! | `ferry_poll_last_success_timestamp_seconds` | gauge | `system`, `integration` |
//! | `ferry_ingest_backlog_wait_seconds_total` | counter | `system` |
//! | `ferry_db_pool_connections` | gauge | `state` |
//! | `ferry_db_pool_max_connections` | gauge | |
//! | `ferry_db_statements_total` | counter | `verb`, `table` |
//! | `ferry_db_statement_seconds_total` | counter | `verb`, `table` |
//! | `ferry_build_info` | gauge | `version` |
//! | `ferry_dependency_up` | gauge | `dependency` |
//! | `process_*` | | | CPU, memory, file descriptors, threads, start time ([`ProcessCollector`]) |
//!
//! Gauges of state kept in a database (parked messages, open alerts, failed sagas, the pool)
//! are refreshed at scrape time by the [`Probe`]s a service adds ([`Metrics::add_probe`]):
//! `/metrics` runs them (each bounded by [`PROBE_TIMEOUT`]) before encoding.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use std::fmt::Write as _;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
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

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PollLabels {
    system: String,
    integration: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SystemLabels {
    system: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatementLabels {
    verb: &'static str,
    table: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DependencyLabels {
    dependency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The verb and first table of a SQL statement, for [`Metrics::db_statement`]'s labels: a
/// bounded set (the schema's tables), never values.
fn statement_kind(sql: &str) -> (&'static str, &str) {
    let mut words = sql.split_ascii_whitespace();
    let first = words.next().unwrap_or_default();
    let verb = [
        "select",
        "insert",
        "update",
        "delete",
        "begin",
        "commit",
        "rollback",
        "savepoint",
        "release",
        "with",
        "create",
        "alter",
        "drop",
        "pragma",
        "set",
        "show",
    ]
    .into_iter()
    .find(|v| first.eq_ignore_ascii_case(v))
    .unwrap_or("other");
    let marker = match verb {
        "select" | "delete" | "with" => "from",
        "insert" => "into",
        "update" => return (verb, table_name(words.next())),
        _ => return (verb, ""),
    };
    let table = words
        .by_ref()
        .position(|w| w.eq_ignore_ascii_case(marker))
        .and_then(|_| words.next());
    (verb, table_name(table))
}

/// A table name without quotes or schema, or `?` when it is not a plain name.
fn table_name(word: Option<&str>) -> &str {
    let word = word.unwrap_or_default();
    let bare = word
        .rsplit('.')
        .next()
        .unwrap_or(word)
        .trim_matches(['"', '`', '(', ')']);
    if !bare.is_empty() && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bare
    } else {
        "?"
    }
}

/// How long one [`Probe`] may take at scrape time before it is skipped (its gauges keep their
/// last value).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Refreshes gauges of state that lives elsewhere (a database count, a pool) when `/metrics`
/// is scraped.
#[async_trait::async_trait]
pub trait Probe: Send + Sync + 'static {
    /// A short name for logs (`parking_lot`, `failed_sagas`).
    fn name(&self) -> &'static str;
    /// Reads the state and sets the gauges on `metrics`.
    async fn refresh(&self, metrics: &Metrics);
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
    parked_messages: Family<QueueLabels, Gauge>,
    alerts_open: Gauge,
    sagas_failed: Gauge,
    poll_last_success: Family<PollLabels, Gauge<f64, AtomicU64>>,
    ingest_backlog_wait: Family<SystemLabels, Counter<f64, AtomicU64>>,
    db_pool_connections: Family<PoolLabels, Gauge>,
    db_pool_max: Gauge,
    db_statements: Family<StatementLabels, Counter>,
    db_statement_seconds: Family<StatementLabels, Counter<f64, AtomicU64>>,
    dependency_up: Family<DependencyLabels, Gauge>,
    probes: Mutex<Vec<Arc<dyn Probe>>>,
}

impl std::fmt::Debug for dyn Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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

        let parked_messages = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "ferry_parked_messages",
            "Dead-lettered messages waiting in the parking lot for replay or discard, by queue",
            parked_messages.clone(),
        );
        let alerts_open = Gauge::default();
        registry.register(
            "ferry_alerts_open",
            "Alerts raised and not resolved (notifier)",
            alerts_open.clone(),
        );
        let sagas_failed = Gauge::default();
        registry.register(
            "ferry_sagas_failed",
            "Order sagas that failed and wait for an operator's retry (order-orchestrator)",
            sagas_failed.clone(),
        );
        let poll_last_success = Family::<PollLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "ferry_poll_last_success_timestamp_seconds",
            "Unix time of the last poll of an integration's source API that completed, by system and integration",
            poll_last_success.clone(),
        );
        let ingest_backlog_wait = Family::<SystemLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "ferry_ingest_backlog_wait_seconds",
            "Time a backfill or reconciliation page waited for the pipeline's queues to drain (live changes go first), by system, in seconds",
            ingest_backlog_wait.clone(),
        );
        let db_pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "ferry_db_pool_connections",
            "Database pool connections, by state (in_use, idle)",
            db_pool_connections.clone(),
        );
        let db_pool_max = Gauge::default();
        registry.register(
            "ferry_db_pool_max_connections",
            "Size limit of the database pool (database.max_connections)",
            db_pool_max.clone(),
        );
        let db_statements = Family::<StatementLabels, Counter>::default();
        registry.register(
            "ferry_db_statements",
            "SQL statements this process ran, by verb (select, insert, update, delete, begin, commit, ...) and first table named",
            db_statements.clone(),
        );
        let db_statement_seconds = Family::<StatementLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "ferry_db_statement_seconds",
            "Time spent in SQL statements (waiting for the driver included), by verb and table, in seconds",
            db_statement_seconds.clone(),
        );
        let dependency_up = Family::<DependencyLabels, Gauge>::default();
        registry.register(
            "ferry_dependency_up",
            "1 when the readiness check of a dependency (bus, database) passed at the last scrape, else 0",
            dependency_up.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "ferry_build_info",
            "Always 1; the version of the running Ferry build in its label",
            build_info,
        );
        registry.register_collector(Box::new(ProcessCollector));

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
            parked_messages,
            alerts_open,
            sagas_failed,
            poll_last_success,
            ingest_backlog_wait,
            db_pool_connections,
            db_pool_max,
            db_statements,
            db_statement_seconds,
            dependency_up,
            probes: Mutex::new(Vec::new()),
        }
    }

    /// Adds a probe run at every scrape (see [`Metrics::refresh`]).
    pub fn add_probe(&self, probe: Arc<dyn Probe>) {
        if let Ok(mut probes) = self.probes.lock() {
            probes.push(probe);
        }
    }

    /// Runs every probe, each bounded by [`PROBE_TIMEOUT`].
    pub async fn refresh(&self) {
        let probes: Vec<Arc<dyn Probe>> = match self.probes.lock() {
            Ok(probes) => probes.clone(),
            Err(_) => return,
        };
        for probe in probes {
            if tokio::time::timeout(PROBE_TIMEOUT, probe.refresh(self))
                .await
                .is_err()
            {
                tracing::warn!(probe = probe.name(), "metrics probe timed out");
            }
        }
    }

    /// The parking lot holds `counts` messages per queue (queues not listed hold none).
    pub fn set_parked_messages<'a>(&self, counts: impl IntoIterator<Item = (&'a str, i64)>) {
        self.parked_messages.clear();
        for (queue, count) in counts {
            self.parked_messages
                .get_or_create(&QueueLabels {
                    queue: queue.to_owned(),
                })
                .set(count);
        }
    }

    /// `open` alerts are raised and not resolved.
    pub fn set_alerts_open(&self, open: i64) {
        self.alerts_open.set(open);
    }

    /// `failed` order sagas wait for an operator.
    pub fn set_sagas_failed(&self, failed: i64) {
        self.sagas_failed.set(failed);
    }

    /// A poll of `integration`'s `system` API completed at `unix_seconds`.
    pub fn poll_succeeded(&self, system: &str, integration: &str, unix_seconds: f64) {
        self.poll_last_success
            .get_or_create(&PollLabels {
                system: system.to_owned(),
                integration: integration.to_owned(),
            })
            .set(unix_seconds);
    }

    /// A bulk page of `system`'s ingest waited `waited` for the pipeline's backlog.
    pub fn ingest_backlog_waited(&self, system: &str, waited: Duration) {
        self.ingest_backlog_wait
            .get_or_create(&SystemLabels {
                system: system.to_owned(),
            })
            .inc_by(waited.as_secs_f64());
    }

    /// The readiness check `dependency` (`bus`, `database`, ...) passed or not.
    pub fn set_dependency_up(&self, dependency: &str, up: bool) {
        self.dependency_up
            .get_or_create(&DependencyLabels {
                dependency: dependency.to_owned(),
            })
            .set(i64::from(up));
    }

    /// The database pool has `in_use` and `idle` connections of at most `max`.
    pub fn set_db_pool(&self, in_use: i64, idle: i64, max: i64) {
        self.db_pool_connections
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(in_use);
        self.db_pool_connections
            .get_or_create(&PoolLabels { state: "idle" })
            .set(idle);
        self.db_pool_max.set(max);
    }

    /// One SQL statement ran: its text (only the verb and the first table named are kept) and
    /// how long it took.
    pub fn db_statement(&self, sql: &str, elapsed: Duration) {
        let (verb, table) = statement_kind(sql);
        let labels = StatementLabels {
            verb,
            table: table.to_owned(),
        };
        self.db_statements.get_or_create(&labels).inc();
        self.db_statement_seconds
            .get_or_create(&labels)
            .inc_by(elapsed.as_secs_f64());
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

/// The standard `process_*` families of this process, read from `/proc/self` at each scrape
/// (Linux; elsewhere nothing is reported).
#[derive(Debug, Clone, Copy)]
pub struct ProcessCollector;

/// What [`ProcessCollector`] reads.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub resident_memory_bytes: i64,
    /// Virtual memory size, in bytes.
    pub virtual_memory_bytes: i64,
    /// Threads.
    pub threads: i64,
    /// Open file descriptors.
    pub open_fds: i64,
    /// Limit of open file descriptors.
    pub max_fds: i64,
    /// Start of the process, Unix time in seconds.
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// The stats of this process, if `/proc` can be read.
    pub fn read() -> Option<Self> {
        // Linux's clock ticks (`getconf CLK_TCK`) and page size on every platform Ferry ships.
        const TICKS: f64 = 100.0;
        const PAGE: i64 = 4096;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command (in parentheses, which may contain spaces).
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Numbered as in proc(5), whose field 3 is fields[0] here.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|dir| i64::try_from(dir.count()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| {
                limits
                    .lines()
                    .find(|line| line.starts_with("Max open files"))
                    .and_then(|line| line.split_whitespace().nth(3))
                    .and_then(|v| v.parse::<i64>().ok())
            })
            .unwrap_or(0);
        Some(Self {
            cpu_seconds: (field(14)? + field(15)?) / TICKS,
            threads: field(20)? as i64,
            start_time_seconds: boot_time + field(22)? / TICKS,
            virtual_memory_bytes: field(23)? as i64,
            resident_memory_bytes: field(24)? as i64 * PAGE,
            open_fds,
            max_fds,
        })
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stats) = ProcessStats::read() else {
            return Ok(());
        };
        let counter = ConstCounter::new(stats.cpu_seconds);
        counter.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            counter.metric_type(),
        )?)?;
        let gauges: [(&str, &str, i64); 5] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                stats.resident_memory_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stats.virtual_memory_bytes,
            ),
            ("process_threads", "Number of OS threads", stats.threads),
            (
                "process_open_fds",
                "Number of open file descriptors",
                stats.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                stats.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        ConstGauge::new(stats.start_time_seconds).encode(encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
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
    fn statements_are_counted_by_verb_and_table_never_by_value() {
        for (sql, verb, table) in [
            (
                r#"SELECT "a"."id" FROM "ferry_inbox" AS "a" WHERE "id" = $1"#,
                "select",
                "ferry_inbox",
            ),
            (
                r#"INSERT INTO "s1"."ferry_outbox" ("id") VALUES ($1)"#,
                "insert",
                "ferry_outbox",
            ),
            ("UPDATE saga SET state = 'x@example.nl'", "update", "saga"),
            (
                "DELETE FROM connector_leases WHERE k = 'secret'",
                "delete",
                "connector_leases",
            ),
            ("BEGIN", "begin", ""),
            ("commit", "commit", ""),
            ("SELECT 1", "select", "?"),
            ("VACUUM", "other", ""),
        ] {
            assert_eq!(statement_kind(sql), (verb, table), "{sql}");
        }
        let metrics = Metrics::new();
        metrics.db_statement(r#"SELECT * FROM "ferry_inbox""#, Duration::from_millis(2));
        metrics.db_statement(r#"SELECT * FROM "ferry_inbox""#, Duration::from_millis(2));
        let text = metrics.encode();
        assert!(
            text.contains(r#"ferry_db_statements_total{verb="select",table="ferry_inbox"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ferry_db_statement_seconds_total{verb="select",table="ferry_inbox"} 0.004"#
            ),
            "{text}"
        );
    }

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
        assert!(text.contains(&format!(
            r#"ferry_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        )));
    }

    #[test]
    fn state_gauges_are_set_and_parked_queues_that_emptied_disappear() {
        let metrics = Metrics::new();
        metrics.set_parked_messages([("mapper", 2), ("notifier", 1)]);
        metrics.set_parked_messages([("notifier", 3)]);
        metrics.set_alerts_open(4);
        metrics.set_sagas_failed(5);
        metrics.poll_succeeded("mailchimp", "int-1", 1_700_000_000.0);
        metrics.set_db_pool(2, 3, 10);
        metrics.set_dependency_up("bus", false);
        let text = metrics.encode();
        assert!(
            text.contains(r#"ferry_parked_messages{queue="notifier"} 3"#),
            "{text}"
        );
        assert!(
            !text.contains(r#"ferry_parked_messages{queue="mapper"}"#),
            "{text}"
        );
        assert!(text.contains("ferry_alerts_open 4"));
        assert!(text.contains("ferry_sagas_failed 5"));
        assert!(text.contains(
            r#"ferry_poll_last_success_timestamp_seconds{system="mailchimp",integration="int-1"} 1700000000.0"#
        ), "{text}");
        assert!(text.contains(r#"ferry_db_pool_connections{state="in_use"} 2"#));
        assert!(text.contains("ferry_db_pool_max_connections 10"));
        assert!(text.contains(r#"ferry_dependency_up{dependency="bus"} 0"#));
    }

    #[test]
    fn process_metrics_describe_this_process() {
        let stats = ProcessStats::read().expect("/proc is readable on Linux");
        assert!(stats.threads >= 1);
        assert!(stats.resident_memory_bytes > 1_000_000, "{stats:?}");
        assert!(
            stats.open_fds >= 3 && stats.open_fds <= stats.max_fds,
            "{stats:?}"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        assert!(stats.start_time_seconds <= now + 1.0 && stats.start_time_seconds > now - 3600.0);
        let text = Metrics::new().encode();
        for family in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.contains(&format!("\n{family} ")),
                "{family} missing: {text}"
            );
        }
    }

    #[tokio::test]
    async fn probes_refresh_gauges_at_scrape_time() {
        struct Fixed;
        #[async_trait::async_trait]
        impl Probe for Fixed {
            fn name(&self) -> &'static str {
                "fixed"
            }
            async fn refresh(&self, metrics: &Metrics) {
                metrics.set_sagas_failed(7);
            }
        }
        let metrics = Metrics::new();
        metrics.add_probe(Arc::new(Fixed));
        assert!(metrics.encode().contains("ferry_sagas_failed 0"));
        metrics.refresh().await;
        assert!(metrics.encode().contains("ferry_sagas_failed 7"));
    }
}
