//! The consumers a bus has started: each runs as a task with a stop token (graceful: finish
//! in-flight work), an abort token (crash: drop it unacknowledged) and a done token (it has
//! exited), so that the bus can drain them all at shutdown. Shared by both buses.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::SubscriptionHandle;

struct Control {
    stop: CancellationToken,
    abort: CancellationToken,
    done: CancellationToken,
}

/// The running consumers of one bus.
#[derive(Default)]
pub(crate) struct Consumers {
    running: Mutex<Vec<Control>>,
}

impl Consumers {
    /// Spawns `run(stop, abort)` as a consumer task and returns its handle.
    pub(crate) fn spawn<F, Fut>(&self, run: F) -> SubscriptionHandle
    where
        F: FnOnce(CancellationToken, CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, abort, done) = (
            CancellationToken::new(),
            CancellationToken::new(),
            CancellationToken::new(),
        );
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Control {
                stop: stop.clone(),
                abort: abort.clone(),
                done: done.clone(),
            });
        let work = run(stop.clone(), abort.clone());
        let task = tokio::spawn(async move {
            let _done = done.drop_guard();
            work.await;
        });
        SubscriptionHandle::new(stop, abort, task)
    }

    /// Stops every consumer, lets them drain up to `drain`, then aborts the rest.
    pub(crate) async fn stop_all(&self, drain: Duration) {
        let consumers = std::mem::take(
            &mut *self
                .running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
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
