//! The orchestrator's queue: order events start sagas, replies go to their saga's actor,
//! `product.upserted` wakes sagas parked for that product.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_platform::bus::{Delivery, Handler, Outcome, RetryPolicy, Subscription, queues};
use ferry_proto::messages::{OrderMapped, ProductUpserted};
use ferry_proto::{Envelope, Message};
use uuid::Uuid;

use crate::actors::SagaActors;
use crate::engine::{EngineError, Input, Outcome as Applied};
use crate::saga::Reply;

/// The subscription of the orchestrator's queue: order events and the replies of its
/// commands (the platform's route table, `queues::ROUTES`).
pub fn subscription(prefetch: u16, retry: RetryPolicy) -> Subscription {
    Subscription::new(
        queues::ORDER_ORCHESTRATOR,
        queues::bindings(queues::ORDER_ORCHESTRATOR),
    )
    .prefetch(prefetch)
    .retry(retry)
}

/// Handles the deliveries of the orchestrator's queue.
pub struct SagaConsumer {
    actors: Arc<SagaActors>,
}

impl SagaConsumer {
    /// A consumer driving `actors`.
    pub fn new(actors: Arc<SagaActors>) -> Self {
        Self { actors }
    }

    async fn route(&self, delivery: &Delivery) -> Result<Outcome, EngineError> {
        let envelope = match Envelope::<serde_json::Value>::from_json_slice(&delivery.message.body)
        {
            Ok(envelope) => envelope,
            Err(error) => {
                return Ok(Outcome::DeadLetter(format!(
                    "message {} ({}) is not a valid envelope: {error}",
                    delivery.message.message_id, delivery.message.routing_key
                )));
            }
        };
        let message_id = envelope.message_id;
        match envelope.message_type.as_str() {
            OrderMapped::MESSAGE_TYPE => {
                let typed = match envelope.into_typed::<OrderMapped>() {
                    Ok(typed) => typed,
                    Err(error) => {
                        return Ok(Outcome::DeadLetter(format!(
                            "order event {message_id} cannot be read: {error}"
                        )));
                    }
                };
                let order = typed.payload.order.order().external_id.clone();
                let applied = self
                    .actors
                    .drive(Uuid::now_v7(), Input::Start(Box::new(typed)))
                    .await?;
                if applied.outcome == Applied::Duplicate {
                    tracing::debug!(saga = %applied.saga_id, %order, "order event was a duplicate");
                }
                Ok(Outcome::Ack)
            }
            ProductUpserted::MESSAGE_TYPE => {
                let integration = envelope.integration_id;
                let typed = match envelope.into_typed::<ProductUpserted>() {
                    Ok(typed) => typed,
                    Err(error) => {
                        return Ok(Outcome::DeadLetter(format!(
                            "product event {message_id} cannot be read: {error}"
                        )));
                    }
                };
                let woken = self
                    .actors
                    .engine()
                    .products_appeared(integration, typed.payload.target, &typed.payload.sku)
                    .await?;
                for id in woken {
                    self.actors.poke(id);
                }
                Ok(Outcome::Ack)
            }
            _ => {
                let saga_id = envelope.correlation_id;
                let reply = match Reply::from_envelope(envelope) {
                    Ok(Some(reply)) => reply,
                    Ok(None) => return Ok(Outcome::Ack), // not for us
                    Err(error) => {
                        return Ok(Outcome::DeadLetter(format!(
                            "reply {message_id} cannot be read: {error}"
                        )));
                    }
                };
                // Replies of other flows (a customer sync's `customer.upserted`) carry their
                // run as correlation id, not a saga: acknowledge them without starting an
                // actor. A saga's row is committed before its command is sent, so a reply to
                // a saga always finds it. (Driving actors for them made every concurrent reply
                // of one sync run race for the same short-lived actor until retries ran out.)
                // A saga with an actor alive here exists: no need to ask the database.
                if !self.actors.is_live(saga_id)
                    && !self.actors.engine().saga_exists(saga_id).await?
                {
                    return Ok(Outcome::Ack);
                }
                let applied = self
                    .actors
                    .drive(saga_id, Input::Reply(Box::new(reply)))
                    .await?;
                if let Applied::Stale(why) = &applied.outcome {
                    tracing::info!(saga = %saga_id, reply = %message_id, %why, "late or out-of-order reply ignored");
                }
                Ok(Outcome::Ack)
            }
        }
    }
}

#[async_trait]
impl Handler for SagaConsumer {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        match self.route(delivery).await {
            Ok(outcome) => outcome,
            Err(error) if error.is_transient() => Outcome::Retry(error.to_string()),
            Err(error) => Outcome::DeadLetter(format!(
                "message {} ({}): {error}",
                delivery.message.message_id, delivery.message.routing_key
            )),
        }
    }
}
