//! One consumer of one queue: survives reconnections, dispatches deliveries concurrently up to
//! the prefetch, drains on stop, and drops in-flight work unacknowledged on abort.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{CLOSE_TIMEOUT, Link, RabbitBus, amqp, convert, topology};
use crate::bus::dispatch::{self, Settlement};
use crate::bus::{BusError, Delivery, Handler, Subscription, SubscriptionHandle};

/// Starts consuming.
pub(crate) fn spawn(
    bus: RabbitBus,
    subscription: Subscription,
    handler: Arc<dyn Handler>,
) -> SubscriptionHandle {
    let consumers = bus.inner.clone();
    consumers
        .consumers
        .spawn(move |stop, abort| run(bus, subscription, handler, stop, abort))
}

enum End {
    Stopped,
    Lost(String),
}

async fn run(
    bus: RabbitBus,
    subscription: Subscription,
    handler: Arc<dyn Handler>,
    stop: CancellationToken,
    abort: CancellationToken,
) {
    loop {
        let link = tokio::select! {
            _ = stop.cancelled() => return,
            link = bus.inner.current_link(Instant::now() + Duration::from_secs(3600)) => link,
        };
        let link = match link {
            Ok(link) => link,
            Err(BusError::ShuttingDown) => return,
            Err(_) => continue,
        };
        match consume(&bus, &link, &subscription, &handler, &stop, &abort).await {
            Ok(End::Stopped) => return,
            Ok(End::Lost(reason)) | Err(BusError::Amqp(reason)) => {
                tracing::warn!(queue = %subscription.queue, reason = %reason, "consumer lost its channel; resuming on a new one");
            }
            Err(error) => {
                tracing::warn!(queue = %subscription.queue, error = %error, "consumer failed; resuming");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

async fn consume(
    bus: &RabbitBus,
    link: &Link,
    subscription: &Subscription,
    handler: &Arc<dyn Handler>,
    stop: &CancellationToken,
    abort: &CancellationToken,
) -> Result<End, BusError> {
    let names = &bus.inner.names;
    let channel = link.connection.create_channel().await.map_err(amqp)?;
    // Declared again on every (re)connection: the broker may be a new one.
    topology::declare_subscription(&channel, names, subscription)
        .await
        .map_err(amqp)?;
    channel
        .basic_qos(subscription.prefetch, BasicQosOptions::default())
        .await
        .map_err(amqp)?;
    let tag = format!("{}-{}", subscription.queue, uuid::Uuid::new_v4().simple());
    let mut deliveries = channel
        .basic_consume(
            names.queue(&subscription.queue).as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(amqp)?;

    let mut tasks = JoinSet::new();
    let end = loop {
        tokio::select! {
            biased;
            _ = abort.cancelled() => {
                tasks.abort_all();
                break End::Stopped;
            }
            _ = stop.cancelled() => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default())).await;
                tokio::select! {
                    _ = async { while tasks.join_next().await.is_some() {} } => {}
                    _ = abort.cancelled() => tasks.abort_all(),
                }
                break End::Stopped;
            }
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    let message = convert::message(&delivery, names);
                    let item = Delivery {
                        attempt: dispatch::attempt_of(&message),
                        message,
                        queue: subscription.queue.clone(),
                        redelivered: delivery.redelivered,
                    };
                    let settlement = AmqpSettlement { acker: delivery.acker };
                    let (bus, handler, policy) = (bus.clone(), handler.clone(), subscription.retry);
                    tasks.spawn(async move {
                        dispatch::dispatch(&bus, handler.as_ref(), item, policy, settlement).await;
                    });
                }
                Some(Err(error)) => break End::Lost(error.to_string()),
                None => break End::Lost("consumer cancelled by the broker".to_owned()),
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    };
    if let End::Lost(_) = end {
        // Handlers already running finish their effects; their acks fail on the dead channel
        // and the broker redelivers, which the inbox absorbs.
        tasks.detach_all();
    }
    while tasks.join_next().await.is_some() {}
    // Closing the channel returns every unacknowledged delivery to the queue.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, "consumer done".into())).await;
    Ok(end)
}

struct AmqpSettlement {
    acker: lapin::Acker,
}

#[async_trait::async_trait]
impl Settlement for AmqpSettlement {
    async fn ack(self) -> Result<(), BusError> {
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(amqp)
    }

    async fn requeue(self) -> Result<(), BusError> {
        self.acker
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await
            .map(|_| ())
            .map_err(amqp)
    }
}
