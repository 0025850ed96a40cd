//! Names and declarations of the RabbitMQ topology (see the table in the bus module docs).

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::bus::{Exchange, Subscription};

/// Base name of the direct exchange that routes parked messages to `<queue>.dlq`.
pub(crate) const DEAD_LETTER_EXCHANGE: &str = "ferry.dead-letter";

/// Deliveries of one message after which the broker parks it by itself: protects consumers
/// from a message that crashes them every time.
pub(crate) const DELIVERY_LIMIT: i64 = 20;

/// Names of the topology, with the deployment prefix applied.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    prefix: String,
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn exchange(&self, exchange: Exchange) -> String {
        format!("{}{}", self.prefix, exchange.base_name())
    }

    pub(crate) fn dead_letter_exchange(&self) -> String {
        format!("{}{}", self.prefix, DEAD_LETTER_EXCHANGE)
    }

    pub(crate) fn queue(&self, queue: &str) -> String {
        format!("{}{}", self.prefix, queue)
    }

    pub(crate) fn delay_queue(&self, queue: &str, delay: Duration) -> String {
        format!("{}{}.delay.{}", self.prefix, queue, delay.as_millis())
    }

    /// The unprefixed queue name of a prefixed one.
    pub(crate) fn strip<'a>(&self, name: &'a str) -> &'a str {
        name.strip_prefix(self.prefix.as_str()).unwrap_or(name)
    }
}

fn text(value: impl Into<String>) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.into()))
}

/// Declares the three exchanges.
pub(crate) async fn declare_exchanges(channel: &Channel, names: &Names) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    for exchange in [Exchange::Events, Exchange::Commands] {
        channel
            .exchange_declare(
                names.exchange(exchange).into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
    }
    channel
        .exchange_declare(
            names.dead_letter_exchange().into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await
}

/// Declares a consumer queue: a durable quorum queue whose rejected or over-delivered messages
/// go (at least once) to its dead-letter queue.
async fn declare_consumer_queue(
    channel: &Channel,
    names: &Names,
    queue: &str,
) -> lapin::Result<()> {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), text("quorum"));
    args.insert(
        "x-dead-letter-exchange".into(),
        text(names.dead_letter_exchange()),
    );
    args.insert("x-dead-letter-routing-key".into(), text(queue));
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    channel
        .queue_declare(names.queue(queue).into(), durable_queue(), args)
        .await?;
    Ok(())
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares everything one subscription needs: its queue and bindings and its dead-letter
/// queue (delay queues come with the first retry: [`declare_delay_queue`]).
pub(crate) async fn declare_subscription(
    channel: &Channel,
    names: &Names,
    subscription: &Subscription,
) -> lapin::Result<Vec<String>> {
    let queue = subscription.queue.as_str();
    let dlq = Subscription::dead_letter_queue(queue);
    let mut declared = Vec::new();

    // The dead-letter queue is shaped like any consumer queue, so that it can be consumed (and
    // have a dead-letter queue of its own) with the same declaration.
    declare_consumer_queue(channel, names, &dlq).await?;
    declared.push(names.queue(&dlq));

    declare_consumer_queue(channel, names, queue).await?;
    declared.push(names.queue(queue));
    // Parked messages of `queue` are routed by its name to `<queue>.dlq`.
    channel
        .queue_bind(
            names.queue(&dlq).into(),
            names.dead_letter_exchange().into(),
            queue.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for binding in &subscription.bindings {
        channel
            .queue_bind(
                names.queue(queue).into(),
                names.exchange(binding.exchange).into(),
                binding.pattern.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }

    Ok(declared)
}

/// Declares the delay queue of `queue` for `delay`: a quorum queue whose messages expire after
/// `delay` and return (at least once) to `queue`. Declared on first use, so that consumers
/// that never retry cost the broker no delay queues.
pub(crate) async fn declare_delay_queue(
    channel: &Channel,
    names: &Names,
    queue: &str,
    delay: Duration,
) -> lapin::Result<String> {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), text("quorum"));
    let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
    // Expired messages go back to the consumer queue through the default exchange.
    args.insert("x-dead-letter-exchange".into(), text(""));
    args.insert("x-dead-letter-routing-key".into(), text(names.queue(queue)));
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
    let name = names.delay_queue(queue, delay);
    channel
        .queue_declare(name.as_str().into(), durable_queue(), args)
        .await?;
    Ok(name)
}
