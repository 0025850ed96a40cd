//! The message bus: one [`Bus`] trait with two implementations of the same semantics.
//!
//! - [`rabbit::RabbitBus`]: RabbitMQ via lapin, for production. Durable quorum queues,
//!   persistent messages, publisher confirms on every publish, manual acks after the handler's
//!   effect is committed, delay queues for retries, a dead-letter queue per consumer queue, and
//!   reconnection with backoff.
//! - [`inproc::InProcessBus`]: the in-process twin for the embedded all-in-one default: the same
//!   routing, acknowledgement, delayed retry and dead-lettering, in memory.
//!
//! Delivery is at-least-once: a handler may see a message again (after a crash, a lost
//! connection, a retried publish). [`inbox`] makes handlers idempotent; [`outbox`] publishes what
//! a database transaction decided, after it committed.
//!
//! ## Topology (names get the deployment prefix in front)
//! | name | kind | purpose |
//! | --- | --- | --- |
//! | `ferry.events` | topic exchange | facts and replies |
//! | `ferry.commands` | topic exchange | requests to a service |
//! | `ferry.dead-letter` | direct exchange | parked messages, routed by queue name |
//! | `<queue>` | quorum queue | one per consuming service, bound by routing-key patterns |
//! | `<queue>.delay.<ms>` | quorum queue | one per backoff step; expired messages return to `<queue>` |
//! | `<queue>.dlq` | quorum queue | dead letters of `<queue>`, for inspection and replay |

mod consumers;
mod dispatch;
pub mod group_commit;
pub mod inbox;
pub mod inproc;
mod message;
pub mod outbox;
pub mod parking;
pub mod rabbit;
mod retry;
pub(crate) mod store;
pub mod topic;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use message::{
    BusMessage, DeadLetter, Delivery, Exchange, Outcome, headers, with_current_trace,
    with_new_trace,
};
pub use retry::RetryPolicy;
pub use store::Migration as BusMigration;

/// The queue of each service (replicas of a service share it). Named once, here.
pub mod queues {
    /// connector-mailchimp.
    pub const CONNECTOR_MAILCHIMP: &str = "connector-mailchimp";
    /// connector-mpluskassa.
    pub const CONNECTOR_MPLUSKASSA: &str = "connector-mpluskassa";
    /// mapper.
    pub const MAPPER: &str = "mapper";
    /// order-orchestrator.
    pub const ORDER_ORCHESTRATOR: &str = "order-orchestrator";
    /// notifier.
    pub const NOTIFIER: &str = "notifier";
    /// The queues a live change passes through on its way to the other system (every one
    /// but the notifier's, which only observes): what a backfill waits for
    /// ([`crate::connector::ingest::Backlog`]).
    pub const PIPELINE: [&str; 4] = [
        MAPPER,
        ORDER_ORCHESTRATOR,
        CONNECTOR_MAILCHIMP,
        CONNECTOR_MPLUSKASSA,
    ];
    /// All of them, for the parking lot.
    pub const ALL: [&str; 5] = [
        CONNECTOR_MAILCHIMP,
        CONNECTOR_MPLUSKASSA,
        MAPPER,
        ORDER_ORCHESTRATOR,
        NOTIFIER,
    ];

    use super::{Binding, Exchange, Subscription, topic};

    /// What each service's queue receives, named once, here: every service binds its queue
    /// with [`bindings`], and every publisher declares the queues a message is routed to
    /// (`owners`) before its first such publish. So on a fresh deployment a record or a
    /// command published before its service ever started waits in that service's queue
    /// (and a command is not "routed" only because a catch-all listener heard it).
    ///
    /// The notifier is left out on purpose: it observes everything (`#` on both exchanges),
    /// and counting it as an owner would make every command routable.
    pub const ROUTES: [(&str, Exchange, &str); 24] = [
        (CONNECTOR_MAILCHIMP, Exchange::Commands, MAILCHIMP_COMMANDS),
        (CONNECTOR_MAILCHIMP, Exchange::Events, REGISTRY_CHANGES),
        (
            CONNECTOR_MPLUSKASSA,
            Exchange::Commands,
            MPLUSKASSA_COMMANDS,
        ),
        (CONNECTOR_MPLUSKASSA, Exchange::Events, REGISTRY_CHANGES),
        (MAPPER, Exchange::Events, "*.customer.observed"),
        (MAPPER, Exchange::Events, "*.product.observed"),
        (MAPPER, Exchange::Events, "*.category.observed"),
        (MAPPER, Exchange::Events, "*.stock.observed"),
        (MAPPER, Exchange::Events, "*.order.observed"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.order.mapped"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.order.found"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.customer.found"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.customer.upserted"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.products.verified"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.order.created"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.order.status-set"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.order.failed"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.customer.failed"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.products.failed"),
        (ORDER_ORCHESTRATOR, Exchange::Events, "*.product.upserted"),
        (CONNECTOR_MAILCHIMP, Exchange::Events, PERSON_ERASE),
        (CONNECTOR_MPLUSKASSA, Exchange::Events, PERSON_ERASE),
        (MAPPER, Exchange::Events, PERSON_ERASE),
        (ORDER_ORCHESTRATOR, Exchange::Events, PERSON_ERASE),
    ];
    /// The commands connector-mailchimp executes.
    pub const MAILCHIMP_COMMANDS: &str = "mailchimp.#";
    /// The commands connector-mpluskassa executes.
    pub const MPLUSKASSA_COMMANDS: &str = "mpluskassa.#";
    /// The integration registry's changes (both connectors follow them).
    pub const REGISTRY_CHANGES: &str = "ferry.integration.changed";
    /// A person's erase (GDPR): every service erases its own rows ([`crate::gdpr`]).
    pub const PERSON_ERASE: &str = "ferry.person.erase-requested";

    /// Everything `queue`'s service receives, per [`ROUTES`].
    pub fn bindings(queue: &str) -> Vec<Binding> {
        ROUTES
            .iter()
            .filter(|(owner, _, _)| *owner == queue)
            .map(|(_, exchange, pattern)| Binding {
                exchange: *exchange,
                pattern: (*pattern).to_owned(),
            })
            .collect()
    }

    /// The queues a message published to `exchange` with `routing_key` is routed to, per
    /// [`ROUTES`] (cheap: no allocation unless a route matches).
    pub(crate) fn owners(exchange: Exchange, routing_key: &str) -> Vec<&'static str> {
        let mut queues: Vec<&'static str> = ROUTES
            .iter()
            .filter(|(_, e, pattern)| *e == exchange && topic::matches(pattern, routing_key))
            .map(|(queue, _, _)| *queue)
            .collect();
        queues.dedup();
        queues
    }

    /// `queue`'s subscription with everything it receives, to declare it.
    pub(crate) fn owner_subscription(queue: &str) -> Subscription {
        Subscription::new(queue, bindings(queue))
    }
}

/// Largest message body the bus accepts (1 MiB); bigger ones are refused at publish.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Something that handles deliveries of one queue.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one delivery. Return [`Outcome::Ack`] only once the effect is committed.
    /// A panic counts as [`Outcome::Retry`].
    async fn handle(&self, delivery: &Delivery) -> Outcome;
}

#[async_trait]
impl<F, Fut> Handler for F
where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Outcome> + Send,
{
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        (self)(delivery.clone()).await
    }
}

/// A queue binding: messages published to `exchange` whose routing key matches `pattern`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The exchange.
    pub exchange: Exchange,
    /// A topic pattern (`*` one word, `#` any number of words).
    pub pattern: String,
}

impl Binding {
    /// Binds to the events exchange.
    pub fn events(pattern: impl Into<String>) -> Self {
        Self {
            exchange: Exchange::Events,
            pattern: pattern.into(),
        }
    }

    /// Binds to the commands exchange.
    pub fn commands(pattern: impl Into<String>) -> Self {
        Self {
            exchange: Exchange::Commands,
            pattern: pattern.into(),
        }
    }
}

/// A consumer's queue, what it is bound to, and how its deliveries are handled.
#[derive(Clone, Debug)]
pub struct Subscription {
    /// Queue name without the deployment prefix, e.g. `mapper`. Replicas of one service use the
    /// same name and so share the work.
    pub queue: String,
    /// What the queue receives.
    pub bindings: Vec<Binding>,
    /// Deliveries in flight at once for this consumer.
    pub prefetch: u16,
    /// Retry and dead-letter policy.
    pub retry: RetryPolicy,
}

impl Subscription {
    /// A subscription with default prefetch (32) and retry policy.
    pub fn new(queue: impl Into<String>, bindings: Vec<Binding>) -> Self {
        Self {
            queue: queue.into(),
            bindings,
            prefetch: 32,
            retry: RetryPolicy::default(),
        }
    }

    /// Sets the prefetch.
    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The dead-letter queue of `queue`.
    pub fn dead_letter_queue(queue: &str) -> String {
        format!("{queue}.dlq")
    }
}

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker cannot be reached (yet); the operation may succeed later.
    #[error("message broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused a publish (`basic.nack`): it was not stored.
    #[error("broker refused message {message_id} for {exchange}/{routing_key} (nack)")]
    Nacked {
        /// Message id.
        message_id: uuid::Uuid,
        /// Exchange name.
        exchange: String,
        /// Routing key.
        routing_key: String,
    },
    /// No queue is bound for the routing key: nobody would ever see the message.
    #[error("message {message_id} with routing key {routing_key} reached no queue of {exchange}")]
    Unroutable {
        /// Message id.
        message_id: uuid::Uuid,
        /// Exchange name.
        exchange: String,
        /// Routing key.
        routing_key: String,
    },
    /// No confirmation arrived in time; the message may or may not be stored.
    #[error("no broker confirmation for message {message_id} within {timeout:?}")]
    ConfirmTimeout {
        /// Message id.
        message_id: uuid::Uuid,
        /// The publish timeout.
        timeout: Duration,
    },
    /// The body is over the size limit.
    #[error("message {message_id} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Message id.
        message_id: uuid::Uuid,
        /// Body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A queue name or pattern that cannot be used.
    #[error("invalid bus topology: {0}")]
    InvalidTopology(String),
    /// The bus is shutting down and takes no new work.
    #[error("the bus is shutting down")]
    ShuttingDown,
    /// A protocol-level failure.
    #[error("AMQP error: {0}")]
    Amqp(String),
}

impl BusError {
    /// Whether trying the same operation again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_)
                | Self::Nacked { .. }
                | Self::ConfirmTimeout { .. }
                | Self::Amqp(_)
        )
    }
}

/// Handle to a running consumer.
#[derive(Debug)]
pub struct SubscriptionHandle {
    stop: CancellationToken,
    abort: CancellationToken,
    task: JoinHandle<()>,
}

impl SubscriptionHandle {
    pub(crate) fn new(
        stop: CancellationToken,
        abort: CancellationToken,
        task: JoinHandle<()>,
    ) -> Self {
        Self { stop, abort, task }
    }

    /// Stops taking deliveries, lets in-flight handlers finish (up to `drain`), then closes.
    /// What is not finished by then is returned to the queue unacknowledged.
    pub async fn stop(self, drain: Duration) {
        self.stop.cancel();
        let abort = self.abort.clone();
        let mut task = self.task;
        if tokio::time::timeout(drain, &mut task).await.is_err() {
            abort.cancel();
            let _ = task.await;
        }
    }

    /// Ends the consumer as a crash would: in-flight handlers are dropped without
    /// acknowledgement, so the broker delivers their messages again.
    pub async fn abort(self) {
        self.abort.cancel();
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// The bus. Both implementations honour the same contract (see the contract test suite).
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes a message and returns once the broker has stored it (publisher confirm).
    /// A refusal, an unroutable command or a missing confirmation is an error.
    async fn publish(&self, message: BusMessage) -> Result<(), BusError>;

    /// Puts a message straight into one queue (replay of a dead letter).
    async fn send_to_queue(&self, queue: &str, message: BusMessage) -> Result<(), BusError>;

    /// Declares the subscription's queues and bindings (idempotent) and starts consuming.
    async fn subscribe(
        &self,
        subscription: Subscription,
        handler: Arc<dyn Handler>,
    ) -> Result<SubscriptionHandle, BusError>;

    /// Declares the subscription's queues and bindings without consuming, so messages
    /// published from now on are kept for it.
    async fn declare(&self, subscription: &Subscription) -> Result<(), BusError>;

    /// Whether the bus can publish right now (readiness).
    async fn check(&self) -> Result<(), BusError>;

    /// Stops every consumer (draining in-flight work up to `drain`) and disconnects.
    async fn shutdown(&self, drain: Duration);

    /// How many messages wait in `queue`, ready for a consumer (in flight and delayed
    /// retries not counted); none when the queue is not declared or the bus cannot tell.
    /// For dashboards: a snapshot, not a guarantee.
    async fn queue_depth(&self, queue: &str) -> Result<Option<u64>, BusError> {
        let _ = queue;
        Ok(None)
    }

    /// Consumes the dead-letter queue of `queue`: each delivery is one parked message, whose
    /// headers say why (see [`DeadLetter::from_parked`]). Acknowledging removes it from the
    /// queue; an operator replays one with [`Bus::replay`].
    async fn subscribe_dead_letters(
        &self,
        queue: &str,
        handler: Arc<dyn Handler>,
    ) -> Result<SubscriptionHandle, BusError> {
        let dlq = Subscription::new(Subscription::dead_letter_queue(queue), Vec::new()).retry(
            RetryPolicy {
                max_attempts: u32::MAX,
                ..RetryPolicy::default()
            },
        );
        self.subscribe(dlq, handler).await
    }

    /// Sends a dead-lettered message back to the queue it was parked from, as a first attempt.
    async fn replay(&self, dead: &DeadLetter) -> Result<(), BusError> {
        let mut message = dead.message.clone();
        for name in [
            headers::DEAD_REASON,
            headers::DEAD_QUEUE,
            headers::ATTEMPT,
            headers::ORIGINAL_EXCHANGE,
            headers::ORIGINAL_ROUTING_KEY,
        ] {
            message.headers.remove(name);
        }
        self.send_to_queue(&dead.queue, message).await
    }
}

/// Readiness of a bus for the admin server's `/readyz`.
pub struct BusReadiness(pub Arc<dyn Bus>);

#[async_trait]
impl crate::admin::ReadinessCheck for BusReadiness {
    async fn check(&self) -> Result<(), String> {
        self.0.check().await.map_err(|e| e.to_string())
    }
}

fn validate_queue_name(queue: &str) -> Result<(), BusError> {
    let valid = !queue.is_empty()
        && queue.len() <= 200
        && queue
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(BusError::InvalidTopology(format!(
            "queue name {queue:?} must be 1..=200 characters of [A-Za-z0-9._-]"
        )))
    }
}

impl RetryPolicy {
    /// The retry policy a bus configuration describes.
    pub fn from_config(config: &crate::config::BusConfig) -> Self {
        Self {
            max_attempts: config.max_attempts.max(1),
            base_delay: config.retry_base(),
            max_delay: config.retry_max(),
        }
    }
}

/// Builds the bus a configuration names: the in-process bus (journaled in `journal` when
/// given, so that a crash loses nothing), or RabbitMQ (waiting up to `connect_timeout` for a
/// first connection; it reconnects by itself afterwards).
pub async fn from_config(
    config: &crate::config::BusConfig,
    service: &str,
    connect_timeout: Duration,
    journal: Option<sea_orm::DatabaseConnection>,
) -> Result<Arc<dyn Bus>, BusError> {
    match config.kind {
        crate::config::BusKind::InProcess => match journal {
            Some(db) => Ok(Arc::new(inproc::InProcessBus::durable(db).await?)),
            None => Ok(Arc::new(inproc::InProcessBus::new())),
        },
        crate::config::BusKind::RabbitMq => {
            let rabbit = rabbit::RabbitConfig::new(config.url.expose())
                .prefix(bus_prefix(&config.prefix))
                .publish_timeout(config.publish_timeout())
                .connection_name(service);
            let bus = rabbit::RabbitBus::start(rabbit);
            bus.wait_connected(connect_timeout).await?;
            Ok(Arc::new(bus))
        }
    }
}

/// A configured prefix is separated from the names by a dot (`staging` gives
/// `staging.ferry.events`) unless it already ends in a separator; empty stays empty.
fn bus_prefix(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('.') || prefix.ends_with('-') {
        prefix.to_owned()
    } else {
        format!("{prefix}.")
    }
}
