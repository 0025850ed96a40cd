//! The in-process bus of the embedded all-in-one default: RabbitMQ's semantics (topic routing,
//! manual ack, requeue of unacknowledged deliveries, delayed retry, dead-letter queues) in
//! memory, optionally journaled in the service's database ([`InProcessBus::durable`]) so that a
//! crash of the process loses nothing that was published: what was not acknowledged is
//! delivered again after the restart.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::consumers::Consumers;
use super::dispatch::{self, Parking, Settlement};
use super::store::journal_row;
use super::{
    Binding, Bus, BusError, BusMessage, DEFAULT_MAX_MESSAGE_BYTES, Delivery, Exchange, Handler,
    Subscription, SubscriptionHandle, topic, validate_queue_name,
};
use crate::metrics;

/// The in-process bus. Cheap to clone; clones share the same queues.
#[derive(Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    journal: Option<Journal>,
    max_message_bytes: usize,
    shutting_down: AtomicBool,
    consumers: Consumers,
    next_tag: AtomicU64,
}

#[derive(Default)]
struct State {
    queues: HashMap<String, Arc<Queue>>,
    bindings: Vec<(Binding, String)>,
}

#[derive(Default)]
struct Queue {
    ready: Mutex<VecDeque<Queued>>,
    notify: Notify,
}

#[derive(Clone)]
struct Queued {
    message: BusMessage,
    redelivered: bool,
    /// Its journal row, on a durable bus.
    row: Option<Uuid>,
}

impl Queued {
    fn new(message: BusMessage, row: Option<Uuid>) -> Self {
        Self {
            message,
            redelivered: false,
            row,
        }
    }
}

impl Queue {
    fn push_back(&self, item: Queued) {
        lock(&self.ready).push_back(item);
        self.notify.notify_one();
    }

    fn push_front(&self, item: Queued) {
        lock(&self.ready).push_front(item);
        self.notify.notify_one();
    }

    fn pop(&self) -> Option<Queued> {
        lock(&self.ready).pop_front()
    }

    fn len(&self) -> usize {
        lock(&self.ready).len()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks cannot leave the data half-changed.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessBus {
    /// A bus with the default message size limit.
    pub fn new() -> Self {
        Self::with_max_message_bytes(DEFAULT_MAX_MESSAGE_BYTES)
    }

    /// A bus refusing bodies over `max_message_bytes`.
    pub fn with_max_message_bytes(max_message_bytes: usize) -> Self {
        Self::build(max_message_bytes, None)
    }

    /// A bus whose queues are journaled in `db` (which has the bus migrations): a publish
    /// returns once the message is stored, an ack deletes it, and on start every message left
    /// by a previous run is put back in its queue, flagged as redelivered.
    ///
    /// Acks are deleted in batches, every [`ACK_FLUSH_EVERY`] (or at once when
    /// [`ACK_FLUSH_AT`] are waiting, and at shutdown): one statement for many deliveries
    /// instead of one each. A crash within that window redelivers the messages acknowledged in
    /// it after the restart, which the consumers' inboxes absorb, as after any crash between a
    /// handler's commit and its ack.
    pub async fn durable(db: DatabaseConnection) -> Result<Self, BusError> {
        let journal = Journal {
            db,
            acked: Arc::default(),
        };
        let bus = Self::build(DEFAULT_MAX_MESSAGE_BYTES, Some(journal.clone()));
        bus.recover().await?;
        tokio::spawn(journal.flush_acks_every(ACK_FLUSH_EVERY, Arc::downgrade(&bus.inner)));
        Ok(bus)
    }

    fn build(max_message_bytes: usize, journal: Option<Journal>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                journal,
                max_message_bytes,
                shutting_down: AtomicBool::new(false),
                consumers: Consumers::default(),
                next_tag: AtomicU64::new(1),
            }),
        }
    }

    /// Messages waiting (not in flight) in `queue`, for tests and the dashboard.
    pub fn queue_depth(&self, queue: &str) -> usize {
        self.queue(queue).map_or(0, |q| q.len())
    }

    async fn recover(&self) -> Result<(), BusError> {
        let Some(journal) = &self.inner.journal else {
            return Ok(());
        };
        let rows = journal.load().await?;
        let now = Utc::now();
        let count = rows.len();
        for (queue, available_at, mut item) in rows {
            let target = self.declare_queue(&queue);
            item.redelivered = true;
            if available_at > now {
                let delay = (available_at - now).to_std().unwrap_or_default();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    target.push_back(item);
                });
            } else {
                target.push_back(item);
            }
        }
        if count > 0 {
            tracing::info!(
                count,
                "in-process bus recovered unacknowledged messages from its journal"
            );
        }
        Ok(())
    }

    /// Stores `message` for each queue (one transaction) and returns the rows, in order.
    async fn journal(
        &self,
        queues: &[&str],
        message: &BusMessage,
        available_at: DateTime<Utc>,
    ) -> Result<Vec<Option<Uuid>>, BusError> {
        match &self.inner.journal {
            None => Ok(vec![None; queues.len()]),
            Some(journal) => Ok(journal
                .insert(queues, message, available_at)
                .await?
                .into_iter()
                .map(Some)
                .collect()),
        }
    }

    fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        lock(&self.inner.state).queues.get(name).cloned()
    }

    fn declare_queue(&self, name: &str) -> Arc<Queue> {
        lock(&self.inner.state)
            .queues
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    fn check_size(&self, message: &BusMessage) -> Result<(), BusError> {
        if message.body.len() > self.inner.max_message_bytes {
            return Err(BusError::TooLarge {
                message_id: message.message_id,
                size: message.body.len(),
                limit: self.inner.max_message_bytes,
            });
        }
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(BusError::ShuttingDown);
        }
        Ok(())
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, message: BusMessage) -> Result<(), BusError> {
        self.check_size(&message)?;
        for queue in super::queues::owners(message.exchange, &message.routing_key) {
            if self.queue(queue).is_none() {
                self.declare(&super::queues::owner_subscription(queue))
                    .await?;
            }
        }
        let targets: Vec<(String, Arc<Queue>)> = {
            let state = lock(&self.inner.state);
            let mut names: Vec<&String> = state
                .bindings
                .iter()
                .filter(|(binding, _)| {
                    binding.exchange == message.exchange
                        && topic::matches(&binding.pattern, &message.routing_key)
                })
                .map(|(_, queue)| queue)
                .collect();
            names.sort();
            names.dedup();
            names
                .into_iter()
                .filter_map(|name| state.queues.get(name).map(|q| (name.clone(), q.clone())))
                .collect()
        };
        if targets.is_empty() && message.exchange == Exchange::Commands {
            return Err(BusError::Unroutable {
                message_id: message.message_id,
                exchange: message.exchange.base_name().to_owned(),
                routing_key: message.routing_key.clone(),
            });
        }
        let names: Vec<&str> = targets.iter().map(|(name, _)| name.as_str()).collect();
        let rows = self.journal(&names, &message, Utc::now()).await?;
        metrics::global().bus_published(message.exchange.base_name(), &message.routing_key);
        for ((_, queue), row) in targets.into_iter().zip(rows) {
            queue.push_back(Queued::new(message.clone(), row));
        }
        Ok(())
    }

    async fn send_to_queue(&self, queue: &str, message: BusMessage) -> Result<(), BusError> {
        self.check_size(&message)?;
        let Some(target) = self.queue(queue) else {
            return Err(BusError::Unroutable {
                message_id: message.message_id,
                exchange: String::new(),
                routing_key: queue.to_owned(),
            });
        };
        let rows = self.journal(&[queue], &message, Utc::now()).await?;
        target.push_back(Queued::new(message, rows.into_iter().next().flatten()));
        Ok(())
    }

    async fn queue_depth(&self, queue: &str) -> Result<Option<u64>, BusError> {
        validate_queue_name(queue)?;
        Ok(self
            .queue(queue)
            .map(|q| u64::try_from(lock(&q.ready).len()).unwrap_or(u64::MAX)))
    }

    async fn declare(&self, subscription: &Subscription) -> Result<(), BusError> {
        validate_queue_name(&subscription.queue)?;
        self.declare_queue(&subscription.queue);
        self.declare_queue(&Subscription::dead_letter_queue(&subscription.queue));
        let mut state = lock(&self.inner.state);
        for binding in &subscription.bindings {
            let entry = (binding.clone(), subscription.queue.clone());
            if !state.bindings.contains(&entry) {
                state.bindings.push(entry);
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        subscription: Subscription,
        handler: Arc<dyn Handler>,
    ) -> Result<SubscriptionHandle, BusError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(BusError::ShuttingDown);
        }
        self.declare(&subscription).await?;
        let queue = self.declare_queue(&subscription.queue);
        let consumer = Consumer {
            bus: self.clone(),
            queue,
            subscription,
            handler,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        };
        Ok(self
            .inner
            .consumers
            .spawn(move |stop, abort| consumer.run(stop, abort)))
    }

    async fn check(&self) -> Result<(), BusError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            Err(BusError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    async fn shutdown(&self, drain: Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.inner.consumers.stop_all(drain).await;
        if let Some(journal) = &self.inner.journal
            && let Err(error) = journal.flush_acks().await
        {
            tracing::warn!(%error, "acknowledged messages stay in the bus journal; they are delivered again after the restart and absorbed by the inboxes");
        }
    }
}

#[async_trait]
impl Parking for InProcessBus {
    async fn schedule_retry(
        &self,
        queue: &str,
        message: BusMessage,
        delay: Duration,
    ) -> Result<(), BusError> {
        let Some(target) = self.queue(queue) else {
            return Err(BusError::InvalidTopology(format!("queue {queue} vanished")));
        };
        let available_at =
            Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
        let rows = self.journal(&[queue], &message, available_at).await?;
        let item = Queued::new(message, rows.into_iter().next().flatten());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            target.push_back(item);
        });
        Ok(())
    }

    async fn dead_letter(&self, queue: &str, message: BusMessage) -> Result<(), BusError> {
        let name = Subscription::dead_letter_queue(queue);
        let dlq = self.declare_queue(&name);
        let rows = self.journal(&[name.as_str()], &message, Utc::now()).await?;
        dlq.push_back(Queued::new(message, rows.into_iter().next().flatten()));
        Ok(())
    }
}

/// One running consumer of one queue.
struct Consumer {
    bus: InProcessBus,
    queue: Arc<Queue>,
    subscription: Subscription,
    handler: Arc<dyn Handler>,
    /// Deliveries handed to the handler and not yet settled, by delivery tag.
    in_flight: Arc<Mutex<HashMap<u64, Queued>>>,
}

impl Consumer {
    async fn run(self, stop: CancellationToken, abort: CancellationToken) {
        let permits = Arc::new(Semaphore::new(usize::from(self.subscription.prefetch)));
        let mut tasks = JoinSet::new();
        loop {
            let permit = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let item = loop {
                let notified = self.queue.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(item) = self.queue.pop() {
                    break Some(item);
                }
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => break None,
                    _ = &mut notified => {}
                }
            };
            let Some(item) = item else { break };
            let tag = self.bus.inner.next_tag.fetch_add(1, Ordering::Relaxed);
            lock(&self.in_flight).insert(tag, item.clone());
            let delivery = Delivery {
                attempt: dispatch::attempt_of(&item.message),
                message: item.message,
                queue: self.subscription.queue.clone(),
                redelivered: item.redelivered,
            };
            let settlement = InProcSettlement {
                tag,
                queue: self.queue.clone(),
                in_flight: self.in_flight.clone(),
                journal: self.bus.inner.journal.clone(),
            };
            let bus = self.bus.clone();
            let handler = self.handler.clone();
            let policy = self.subscription.retry;
            tasks.spawn(async move {
                dispatch::dispatch(&bus, handler.as_ref(), delivery, policy, settlement).await;
                drop(permit);
            });
            // Reap finished tasks so the set does not grow.
            while tasks.try_join_next().is_some() {}
        }
        // Drain: let in-flight handlers finish unless aborted.
        tokio::select! {
            _ = async { while tasks.join_next().await.is_some() {} } => {}
            _ = abort.cancelled() => tasks.abort_all(),
        }
        while tasks.join_next().await.is_some() {}
        // Whatever was not settled goes back, marked redelivered, as the broker would do.
        let unsettled: Vec<Queued> = lock(&self.in_flight).drain().map(|(_, q)| q).collect();
        for mut item in unsettled {
            item.redelivered = true;
            self.queue.push_front(item);
        }
    }
}

struct InProcSettlement {
    tag: u64,
    queue: Arc<Queue>,
    in_flight: Arc<Mutex<HashMap<u64, Queued>>>,
    journal: Option<Journal>,
}

#[async_trait]
impl Settlement for InProcSettlement {
    async fn ack(self) -> Result<(), BusError> {
        let row = lock(&self.in_flight)
            .get(&self.tag)
            .and_then(|item| item.row);
        lock(&self.in_flight).remove(&self.tag);
        if let (Some(journal), Some(row)) = (&self.journal, row)
            && journal.ack(row) >= ACK_FLUSH_AT
        {
            journal.flush_acks().await?;
        }
        Ok(())
    }

    async fn requeue(self) -> Result<(), BusError> {
        if let Some(mut item) = lock(&self.in_flight).remove(&self.tag) {
            item.redelivered = true;
            self.queue.push_front(item);
        }
        Ok(())
    }
}

/// How often acknowledged messages are deleted from the journal (see
/// [`InProcessBus::durable`]).
pub const ACK_FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Acknowledged messages that make the acknowledging consumer delete them at once.
pub const ACK_FLUSH_AT: usize = 500;

/// The database side of a durable in-process bus.
#[derive(Clone)]
struct Journal {
    db: DatabaseConnection,
    /// Rows of acknowledged messages, to delete at the next flush.
    acked: Arc<Mutex<Vec<Uuid>>>,
}

fn journal_error(error: DbErr) -> BusError {
    BusError::Unavailable(format!("in-process bus journal: {error}"))
}

impl Journal {
    async fn insert(
        &self,
        queues: &[&str],
        message: &BusMessage,
        available_at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, BusError> {
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let headers = serde_json::to_value(&message.headers)
            .map_err(|e| BusError::Amqp(format!("headers: {e}")))?;
        let rows: Vec<journal_row::ActiveModel> = queues
            .iter()
            .map(|queue| journal_row::ActiveModel {
                id: Set(Uuid::now_v7()),
                queue: Set((*queue).to_owned()),
                exchange: Set(message.exchange.base_name().to_owned()),
                routing_key: Set(message.routing_key.clone()),
                message_id: Set(message.message_id),
                headers: Set(headers.clone()),
                body: Set(message.body.to_vec()),
                available_at: Set(available_at),
            })
            .collect();
        let ids = rows
            .iter()
            .filter_map(|row| match &row.id {
                sea_orm::ActiveValue::Set(id) => Some(*id),
                _ => None,
            })
            .collect();
        journal_row::Entity::insert_many(rows)
            .exec_without_returning(&self.db)
            .await
            .map_err(journal_error)?;
        Ok(ids)
    }

    /// Marks row `id` acknowledged; returns how many wait for the next flush.
    fn ack(&self, id: Uuid) -> usize {
        let mut acked = lock(&self.acked);
        acked.push(id);
        acked.len()
    }

    /// Deletes the rows acknowledged since the last flush; on failure they wait for the next.
    async fn flush_acks(&self) -> Result<(), BusError> {
        let ids = std::mem::take(&mut *lock(&self.acked));
        for (n, chunk) in ids.chunks(ACK_FLUSH_AT).enumerate() {
            let deleted = journal_row::Entity::delete_many()
                .filter(journal_row::Column::Id.is_in(chunk.iter().copied()))
                .exec(&self.db)
                .await;
            if let Err(error) = deleted {
                lock(&self.acked).extend_from_slice(&ids[n * ACK_FLUSH_AT..]);
                return Err(journal_error(error));
            }
        }
        Ok(())
    }

    /// Flushes acknowledgements every `every` while the bus lives.
    async fn flush_acks_every(self, every: Duration, bus: std::sync::Weak<Inner>) {
        loop {
            tokio::time::sleep(every).await;
            if bus.strong_count() == 0 {
                let _ = self.flush_acks().await;
                return;
            }
            if let Err(error) = self.flush_acks().await {
                tracing::warn!(%error, "cannot delete acknowledged messages from the bus journal; will retry");
            }
        }
    }

    async fn load(&self) -> Result<Vec<(String, DateTime<Utc>, Queued)>, BusError> {
        let rows = journal_row::Entity::find()
            .order_by_asc(journal_row::Column::Id)
            .all(&self.db)
            .await
            .map_err(journal_error)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let message = BusMessage {
                    exchange: Exchange::from_base_name(&row.exchange).unwrap_or(Exchange::Events),
                    routing_key: row.routing_key,
                    message_id: row.message_id,
                    headers: serde_json::from_value(row.headers).unwrap_or_default(),
                    body: row.body.into(),
                };
                (
                    row.queue,
                    row.available_at,
                    Queued::new(message, Some(row.id)),
                )
            })
            .collect())
    }
}
