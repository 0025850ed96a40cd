//! The RabbitMQ bus (lapin).
//!
//! One connection per bus, watched by a supervisor task that reconnects with backoff when the
//! broker goes away; one confirm-mode channel for publishing; one channel per consumer. Every
//! publish waits for the broker's confirmation: an `Ack` is success, a `Nack`, a returned
//! (unroutable) message or no answer within the publish timeout is an error. Messages are
//! persistent and queues are durable quorum queues, so a broker restart loses nothing that was
//! confirmed.

mod consumer;
mod convert;
mod topology;

/// A private broker node for tests that kill RabbitMQ (feature `test-util`).
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backoff::Backoff;
use async_trait::async_trait;
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeleteOptions};
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::dispatch::Parking;
use super::{
    Bus, BusError, BusMessage, DEFAULT_MAX_MESSAGE_BYTES, Exchange, Handler, Subscription,
    SubscriptionHandle, validate_queue_name,
};
use crate::metrics;
use topology::Names;

/// How long closing a channel or connection may take: on a dead connection the close
/// handshake never completes, and the supervisor must move on to reconnect.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long connecting (TCP, AMQP handshake, publisher channel, exchanges) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the RabbitMQ bus.
#[derive(Clone)]
pub struct RabbitConfig {
    /// `amqp://user:password@host:port/vhost`. Holds a password: never logged.
    pub url: String,
    /// Put in front of every exchange and queue name (isolates deployments and tests).
    pub prefix: String,
    /// How long a publish may wait for a connection and the broker's confirmation.
    pub publish_timeout: Duration,
    /// Largest accepted body.
    pub max_message_bytes: usize,
    /// Shown in the broker's management UI.
    pub connection_name: String,
}

impl std::fmt::Debug for RabbitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitConfig")
            .field("url", &"***")
            .field("prefix", &self.prefix)
            .field("publish_timeout", &self.publish_timeout)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("connection_name", &self.connection_name)
            .finish()
    }
}

impl RabbitConfig {
    /// Settings with defaults: no prefix, 30 s publish timeout, 1 MiB messages.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: String::new(),
            publish_timeout: Duration::from_secs(30),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            connection_name: "ferry".to_owned(),
        }
    }

    /// Sets the name prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the publish timeout.
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// Sets the connection name.
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = name.into();
        self
    }
}

/// A live connection and its publishing channel.
pub(crate) struct Link {
    connection: Connection,
    publisher: Channel,
    generation: u64,
}

impl Link {
    fn is_healthy(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }
}

/// The RabbitMQ bus. Cheap to clone.
#[derive(Clone)]
pub struct RabbitBus {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: RabbitConfig,
    names: Names,
    link: watch::Sender<Option<Arc<Link>>>,
    shutdown: CancellationToken,
    consumers: super::consumers::Consumers,
    declared_queues: Mutex<Vec<String>>,
    /// Service queues declared by [`RabbitBus::ensure_owners`].
    owners_declared: Mutex<std::collections::HashSet<String>>,
}

impl RabbitBus {
    /// Starts the bus: a supervisor connects in the background and reconnects whenever the
    /// connection is lost. Publishes wait (up to the publish timeout) for a connection.
    pub fn start(config: RabbitConfig) -> Self {
        let (link, _) = watch::channel(None);
        let bus = Self {
            inner: Arc::new(Inner {
                names: Names::new(&config.prefix),
                config,
                link,
                shutdown: CancellationToken::new(),
                consumers: super::consumers::Consumers::default(),
                declared_queues: Mutex::new(Vec::new()),
                owners_declared: Mutex::new(std::collections::HashSet::new()),
            }),
        };
        tokio::spawn(supervise(bus.inner.clone()));
        bus
    }

    /// Starts the bus and waits until it is connected, or fails after `timeout`.
    pub async fn connect(config: RabbitConfig, timeout: Duration) -> Result<Self, BusError> {
        let bus = Self::start(config);
        bus.wait_connected(timeout).await?;
        Ok(bus)
    }

    /// Waits until the bus has a healthy connection.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), BusError> {
        self.current_link(Instant::now() + timeout)
            .await
            .map(|_| ())
    }

    /// Deletes every queue this bus declared (tests clean up after themselves with it).
    pub async fn delete_declared_queues(&self) -> Result<(), BusError> {
        let link = self
            .current_link(Instant::now() + self.inner.config.publish_timeout)
            .await?;
        let queues = std::mem::take(&mut *lock(&self.inner.declared_queues));
        let channel = link.connection.create_channel().await.map_err(amqp)?;
        for queue in queues {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(amqp)?;
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, "done".into())).await;
        Ok(())
    }

    /// The current healthy link, waiting for one until `deadline`.
    async fn current_link(&self, deadline: Instant) -> Result<Arc<Link>, BusError> {
        self.inner.current_link(deadline).await
    }

    async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        mandatory: bool,
        message: &BusMessage,
    ) -> Result<(), BusError> {
        if message.body.len() > self.inner.config.max_message_bytes {
            return Err(BusError::TooLarge {
                message_id: message.message_id,
                size: message.body.len(),
                limit: self.inner.config.max_message_bytes,
            });
        }
        if self.inner.shutdown.is_cancelled() {
            return Err(BusError::ShuttingDown);
        }
        let timeout = self.inner.config.publish_timeout;
        let deadline = Instant::now() + timeout;
        let properties = convert::properties(message);
        let started = std::time::Instant::now();
        loop {
            let link = self.current_link(deadline).await?;
            let attempt = tokio::time::timeout_at(deadline, async {
                link.publisher
                    .basic_publish(
                        exchange.into(),
                        routing_key.into(),
                        BasicPublishOptions {
                            mandatory,
                            ..BasicPublishOptions::default()
                        },
                        &message.body,
                        properties.clone(),
                    )
                    .await?
                    .await
            })
            .await;
            match attempt {
                Err(_) => {
                    return Err(BusError::ConfirmTimeout {
                        message_id: message.message_id,
                        timeout,
                    });
                }
                Ok(Ok(Confirmation::Ack(None))) => {
                    let m = metrics::global();
                    m.bus_published(message.exchange.base_name(), &message.routing_key);
                    m.bus_publish_duration(started.elapsed());
                    return Ok(());
                }
                Ok(Ok(Confirmation::Ack(Some(_)))) => {
                    return Err(BusError::Unroutable {
                        message_id: message.message_id,
                        exchange: exchange.to_owned(),
                        routing_key: routing_key.to_owned(),
                    });
                }
                Ok(Ok(Confirmation::Nack(_))) => {
                    return Err(BusError::Nacked {
                        message_id: message.message_id,
                        exchange: exchange.to_owned(),
                        routing_key: routing_key.to_owned(),
                    });
                }
                Ok(Ok(Confirmation::NotRequested)) => {
                    // Cannot happen on a confirm-mode channel; never count it as stored.
                    return Err(BusError::Amqp(
                        "publisher channel is not in confirm mode".to_owned(),
                    ));
                }
                Ok(Err(error)) => {
                    // The connection or channel failed under us: wait for the supervisor to
                    // bring a new one, then publish again (the consumer's inbox absorbs a
                    // duplicate if the first copy did reach the broker).
                    tracing::debug!(error = %error, generation = link.generation, "publish failed; retrying on a new connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if Instant::now() >= deadline {
                        return Err(BusError::Unavailable(error.to_string()));
                    }
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn amqp(error: lapin::Error) -> BusError {
    BusError::Amqp(error.to_string())
}

impl Inner {
    async fn current_link(&self, deadline: Instant) -> Result<Arc<Link>, BusError> {
        let mut rx = self.link.subscribe();
        loop {
            if self.shutdown.is_cancelled() {
                return Err(BusError::ShuttingDown);
            }
            if let Some(link) = rx.borrow_and_update().clone()
                && link.is_healthy()
            {
                return Ok(link);
            }
            let changed = tokio::time::timeout_at(
                deadline.min(Instant::now() + Duration::from_millis(100)),
                rx.changed(),
            )
            .await;
            if Instant::now() >= deadline {
                return Err(BusError::Unavailable(
                    "no connection to the message broker".to_owned(),
                ));
            }
            if let Ok(Err(_)) = changed {
                return Err(BusError::ShuttingDown);
            }
        }
    }
}

/// Keeps a connection up until shutdown.
async fn supervise(inner: Arc<Inner>) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).attempts();
    let mut generation = 0u64;
    while !inner.shutdown.is_cancelled() {
        // A broker that accepts TCP but never finishes the AMQP handshake (still booting, or
        // wedged) must not hold the supervisor forever.
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, establish(&inner, generation + 1))
            .await
            .unwrap_or_else(|_| {
                Err(lapin::Error::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "AMQP handshake timed out",
                )))
            });
        match attempt {
            Ok(link) => {
                generation += 1;
                backoff.reset();
                tracing::info!(generation, "connected to the message broker");
                let link = Arc::new(link);
                inner.link.send_replace(Some(link.clone()));
                loop {
                    tokio::select! {
                        _ = inner.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                    if !link.is_healthy() {
                        tracing::warn!(
                            generation,
                            "lost the connection to the message broker; reconnecting"
                        );
                        break;
                    }
                }
                inner.link.send_replace(None);
                let _ =
                    tokio::time::timeout(CLOSE_TIMEOUT, link.connection.close(200, "bye".into()))
                        .await;
            }
            Err(error) => {
                let wait = backoff.failed();
                tracing::warn!(error = %error, retry_in_ms = wait.as_millis() as u64, "cannot connect to the message broker");
                tokio::select! {
                    _ = inner.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    inner.link.send_replace(None);
}

async fn establish(inner: &Inner, generation: u64) -> lapin::Result<Link> {
    let properties = ConnectionProperties::default()
        .with_connection_name(inner.config.connection_name.as_str().into());
    let connection = Connection::connect(&inner.config.url, properties).await?;
    let publisher = connection.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    topology::declare_exchanges(&publisher, &inner.names).await?;
    Ok(Link {
        connection,
        publisher,
        generation,
    })
}

#[async_trait]
impl Bus for RabbitBus {
    async fn publish(&self, message: BusMessage) -> Result<(), BusError> {
        let exchange = self.inner.names.exchange(message.exchange);
        // A command nobody receives is lost work: make it an error. An event may have no
        // listener (yet).
        let mandatory = message.exchange == Exchange::Commands;
        self.ensure_owners(message.exchange, &message.routing_key)
            .await?;
        let routing_key = message.routing_key.clone();
        self.publish_raw(&exchange, &routing_key, mandatory, &message)
            .await
    }

    async fn send_to_queue(&self, queue: &str, message: BusMessage) -> Result<(), BusError> {
        validate_queue_name(queue)?;
        let name = self.inner.names.queue(queue);
        self.publish_raw("", &name, true, &message).await
    }

    async fn queue_depth(&self, queue: &str) -> Result<Option<u64>, BusError> {
        validate_queue_name(queue)?;
        let link = self
            .current_link(Instant::now() + self.inner.config.publish_timeout)
            .await?;
        let channel = link.connection.create_channel().await.map_err(amqp)?;
        // A passive declare only reads the queue; a missing one closes the channel (404).
        let declared = channel
            .queue_declare(
                self.inner.names.queue(queue).as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await;
        let depth = declared.ok().map(|q| u64::from(q.message_count()));
        if depth.is_some() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, "depth".into())).await;
        }
        Ok(depth)
    }

    async fn declare(&self, subscription: &Subscription) -> Result<(), BusError> {
        validate_queue_name(&subscription.queue)?;
        let link = self
            .current_link(Instant::now() + self.inner.config.publish_timeout)
            .await?;
        let channel = link.connection.create_channel().await.map_err(amqp)?;
        let declared = topology::declare_subscription(&channel, &self.inner.names, subscription)
            .await
            .map_err(amqp)?;
        self.remember(declared);
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, "declared".into())).await;
        Ok(())
    }

    async fn subscribe(
        &self,
        subscription: Subscription,
        handler: Arc<dyn Handler>,
    ) -> Result<SubscriptionHandle, BusError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(BusError::ShuttingDown);
        }
        // Declared now, so that what is published after subscribe returns is kept.
        self.declare(&subscription).await?;
        Ok(consumer::spawn(self.clone(), subscription, handler))
    }

    async fn check(&self) -> Result<(), BusError> {
        match self.inner.link.borrow().as_ref() {
            Some(link) if link.is_healthy() => Ok(()),
            _ => Err(BusError::Unavailable(
                "no connection to the message broker".to_owned(),
            )),
        }
    }

    async fn shutdown(&self, drain: Duration) {
        self.inner.consumers.stop_all(drain).await;
        self.inner.shutdown.cancel();
        // Let the supervisor close the connection.
        let mut rx = self.inner.link.subscribe();
        let _ =
            tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|link| link.is_none())).await;
    }
}

impl RabbitBus {
    /// Declares the queues of the services `routing_key` is routed to (each once per bus),
    /// so that the message is kept for them even if they never started yet.
    async fn ensure_owners(&self, exchange: Exchange, routing_key: &str) -> Result<(), BusError> {
        for queue in super::queues::owners(exchange, routing_key) {
            if lock(&self.inner.owners_declared).contains(queue) {
                continue;
            }
            self.declare(&super::queues::owner_subscription(queue))
                .await?;
            lock(&self.inner.owners_declared).insert(queue.to_owned());
        }
        Ok(())
    }

    fn remember(&self, queues: Vec<String>) {
        let mut declared = lock(&self.inner.declared_queues);
        for queue in queues {
            if !declared.contains(&queue) {
                declared.push(queue);
            }
        }
    }
}

#[async_trait]
impl Parking for RabbitBus {
    async fn schedule_retry(
        &self,
        queue: &str,
        message: BusMessage,
        delay: Duration,
    ) -> Result<(), BusError> {
        let name = self.inner.names.delay_queue(queue, delay);
        match self.publish_raw("", &name, true, &message).await {
            Err(BusError::Unroutable { .. }) => {
                // First retry at this delay: declare its queue, then publish again.
                let link = self
                    .current_link(Instant::now() + self.inner.config.publish_timeout)
                    .await?;
                let channel = link.connection.create_channel().await.map_err(amqp)?;
                let declared =
                    topology::declare_delay_queue(&channel, &self.inner.names, queue, delay)
                        .await
                        .map_err(amqp);
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, "declared".into()))
                    .await;
                self.remember(vec![declared?]);
                self.publish_raw("", &name, true, &message).await
            }
            other => other,
        }
    }

    async fn dead_letter(&self, queue: &str, message: BusMessage) -> Result<(), BusError> {
        let exchange = self.inner.names.dead_letter_exchange();
        self.publish_raw(&exchange, queue, true, &message).await
    }
}
