//! The in-process bus of the embedded all-in-one default: RabbitMQ's semantics (topic routing,
//! manual ack, requeue of unacknowledged deliveries, delayed retry, dead-letter queues) in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::dispatch::{self, Parking, Settlement};
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
    max_message_bytes: usize,
    shutting_down: AtomicBool,
    subscriptions: Mutex<Vec<ConsumerControl>>,
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
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                max_message_bytes,
                shutting_down: AtomicBool::new(false),
                subscriptions: Mutex::new(Vec::new()),
                next_tag: AtomicU64::new(1),
            }),
        }
    }

    /// Messages waiting (not in flight) in `queue`, for tests and the dashboard.
    pub fn queue_depth(&self, queue: &str) -> usize {
        self.queue(queue).map_or(0, |q| q.len())
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
        let targets: Vec<Arc<Queue>> = {
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
                .filter_map(|name| state.queues.get(name).cloned())
                .collect()
        };
        if targets.is_empty() && message.exchange == Exchange::Commands {
            return Err(BusError::Unroutable {
                message_id: message.message_id,
                exchange: message.exchange.base_name().to_owned(),
                routing_key: message.routing_key.clone(),
            });
        }
        metrics::global().bus_published(message.exchange.base_name(), &message.routing_key);
        for queue in targets {
            queue.push_back(Queued {
                message: message.clone(),
                redelivered: false,
            });
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
        target.push_back(Queued {
            message,
            redelivered: false,
        });
        Ok(())
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
        let stop = CancellationToken::new();
        let abort = CancellationToken::new();
        let done = CancellationToken::new();
        lock(&self.inner.subscriptions).push(ConsumerControl {
            stop: stop.clone(),
            abort: abort.clone(),
            done: done.clone(),
        });
        let consumer = Consumer {
            bus: self.clone(),
            queue,
            subscription,
            handler,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        };
        let task = tokio::spawn({
            let (stop, abort) = (stop.clone(), abort.clone());
            async move {
                let _done = done.drop_guard();
                consumer.run(stop, abort).await;
            }
        });
        Ok(SubscriptionHandle::new(stop, abort, task))
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
        let consumers = std::mem::take(&mut *lock(&self.inner.subscriptions));
        for consumer in &consumers {
            consumer.stop.cancel();
        }
        let all_done = futures::future::join_all(consumers.iter().map(|c| c.done.cancelled()));
        if tokio::time::timeout(drain, all_done).await.is_err() {
            for consumer in &consumers {
                consumer.abort.cancel();
            }
            futures::future::join_all(consumers.iter().map(|c| c.done.cancelled())).await;
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
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            target.push_back(Queued {
                message,
                redelivered: false,
            });
        });
        Ok(())
    }

    async fn dead_letter(&self, queue: &str, message: BusMessage) -> Result<(), BusError> {
        let dlq = self.declare_queue(&Subscription::dead_letter_queue(queue));
        dlq.push_back(Queued {
            message,
            redelivered: false,
        });
        Ok(())
    }
}

/// The tokens of one consumer: stop (graceful), abort (crash), and done (it has exited).
struct ConsumerControl {
    stop: CancellationToken,
    abort: CancellationToken,
    done: CancellationToken,
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
}

#[async_trait]
impl Settlement for InProcSettlement {
    async fn ack(self) -> Result<(), BusError> {
        lock(&self.in_flight).remove(&self.tag);
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
