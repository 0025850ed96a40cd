//! What happens to a delivery after its handler ran: one piece of logic for both buses, so they
//! cannot drift apart.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;

use super::{BusError, BusMessage, Delivery, Handler, Outcome, RetryPolicy, headers};
use crate::metrics::{self, ConsumeOutcome};
use crate::telemetry;
use tracing::Instrument;

/// The operations a bus offers for settling one delivery.
#[async_trait]
pub(crate) trait Settlement: Send {
    /// Acknowledges: the broker forgets the message.
    async fn ack(self) -> Result<(), BusError>;
    /// Returns the message to its queue at once (the retry could not be scheduled).
    async fn requeue(self) -> Result<(), BusError>;
}

/// The publishing side the dispatcher needs: delay queues and dead-letter queues.
#[async_trait]
pub(crate) trait Parking: Send + Sync {
    /// Stores `message` (already marked with its next attempt) in `queue`'s delay queue for
    /// `delay`, after which it returns to `queue`.
    async fn schedule_retry(
        &self,
        queue: &str,
        message: BusMessage,
        delay: Duration,
    ) -> Result<(), BusError>;
    /// Stores `message` (already carrying its dead-letter headers) in `queue`'s dead-letter queue.
    async fn dead_letter(&self, queue: &str, message: BusMessage) -> Result<(), BusError>;
}

/// Reads the attempt header (1 when absent or unreadable).
pub(crate) fn attempt_of(message: &BusMessage) -> u32 {
    message
        .header(headers::ATTEMPT)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// Runs the handler on one delivery and settles it according to the outcome and the policy.
pub(crate) async fn dispatch<P: Parking + ?Sized, S: Settlement>(
    parking: &P,
    handler: &dyn Handler,
    delivery: Delivery,
    policy: RetryPolicy,
    settlement: S,
) {
    let started = Instant::now();
    // One span per delivery, a child of the publisher's trace: one order is one trace.
    let span = tracing::info_span!(
        "bus.handle",
        queue = %delivery.queue,
        routing_key = %delivery.message.routing_key,
        message_id = %delivery.message.message_id,
        integration_id = delivery.message.header(headers::INTEGRATION_ID).unwrap_or(""),
        attempt = delivery.attempt,
    );
    telemetry::set_parent(
        &span,
        delivery.message.header(headers::TRACEPARENT),
        delivery.message.header(headers::TRACESTATE),
    );
    let outcome = AssertUnwindSafe(handler.handle(&delivery).instrument(span))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Outcome::Retry(format!("handler panicked: {what}"))
        });
    let queue = delivery.queue.as_str();
    let attempt = delivery.attempt;
    let m = metrics::global();
    m.bus_handler_duration(queue, started.elapsed());

    let parked = match &outcome {
        Outcome::Ack => {
            m.bus_consumed(queue, ConsumeOutcome::Ack);
            Ok(())
        }
        Outcome::Retry(reason) if policy.may_retry(attempt) => {
            let delay = policy.delay_after(attempt);
            tracing::warn!(
                queue,
                message_id = %delivery.message.message_id,
                routing_key = %delivery.message.routing_key,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                reason = %reason,
                "handler asked for a retry"
            );
            m.bus_consumed(queue, ConsumeOutcome::Retry);
            m.bus_retried(queue);
            let next = delivery
                .message
                .clone()
                .with_header(headers::ATTEMPT, (attempt + 1).to_string());
            parking.schedule_retry(queue, next, delay).await
        }
        Outcome::Retry(reason) => {
            let reason = format!("gave up after {attempt} attempts: {reason}");
            park(parking, &delivery, reason).await
        }
        Outcome::DeadLetter(reason) => park(parking, &delivery, reason.clone()).await,
    };

    let settled = match parked {
        Ok(()) => settlement.ack().await,
        Err(error) => {
            tracing::warn!(
                queue,
                message_id = %delivery.message.message_id,
                error = %error,
                "could not move the message to its retry or dead-letter queue; returning it to the queue"
            );
            settlement.requeue().await
        }
    };
    if let Err(error) = settled {
        // The broker will deliver it again once the channel is back: at-least-once holds.
        tracing::warn!(
            queue,
            message_id = %delivery.message.message_id,
            error = %error,
            "could not settle the delivery; the broker will redeliver it"
        );
    }
}

async fn park<P: Parking + ?Sized>(
    parking: &P,
    delivery: &Delivery,
    reason: String,
) -> Result<(), BusError> {
    let queue = delivery.queue.as_str();
    tracing::error!(
        queue,
        message_id = %delivery.message.message_id,
        routing_key = %delivery.message.routing_key,
        attempt = delivery.attempt,
        reason = %reason,
        "message dead-lettered"
    );
    let m = metrics::global();
    m.bus_consumed(queue, ConsumeOutcome::DeadLetter);
    m.bus_dead_lettered(queue);
    let message = delivery
        .message
        .clone()
        .with_header(headers::DEAD_REASON, reason)
        .with_header(headers::DEAD_QUEUE, queue)
        .with_header(headers::ATTEMPT, delivery.attempt.to_string())
        .with_header(
            headers::ORIGINAL_EXCHANGE,
            delivery.message.exchange.base_name(),
        )
        .with_header(
            headers::ORIGINAL_ROUTING_KEY,
            delivery.message.routing_key.clone(),
        );
    parking.dead_letter(queue, message).await
}
