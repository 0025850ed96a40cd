//! Coalescing of concurrent lookups into batch calls (the "data loader" pattern).
//!
//! Many commands of one integration in flight at once each ask the same API one small
//! question ("does order X exist?", "which article has SKU Y?"). A [`Coalescer`] answers them
//! with one batch call: the first caller's batch starts at once (no added latency when Ferry is
//! idle), and every caller that arrives while a batch is in flight joins the next one, which
//! starts as soon as the current one returns. Under load the batches grow by themselves; the
//! calls per command fall with the load instead of staying at one.
//!
//! A failed batch fails every caller in it with a clone of the error (each command then
//! retries on its own schedule). Keys a batch does not answer get `None`.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Answer<K, V, E> = Result<HashMap<K, V>, E>;
type Waiters<K, V, E> = Vec<(Vec<K>, oneshot::Sender<Answer<K, V, E>>)>;

struct State<K, V, E> {
    /// Whether a batch is in flight (its runner then also runs the queued ones).
    running: bool,
    queued: Waiters<K, V, E>,
}

/// Coalesces lookups of keys `K` into batches answered by one call each.
pub struct Coalescer<K, V, E> {
    state: Arc<Mutex<State<K, V, E>>>,
    max_batch: usize,
}

impl<K, V, E> Clone for Coalescer<K, V, E> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            max_batch: self.max_batch,
        }
    }
}

impl<K, V, E> std::fmt::Debug for Coalescer<K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl<K, V, E> Coalescer<K, V, E>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// A coalescer sending at most `max_batch` keys per call (a single lookup of more keys
    /// gets a call of its own).
    pub fn new(max_batch: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                running: false,
                queued: Vec::new(),
            })),
            max_batch: max_batch.max(1),
        }
    }

    /// The value of `key`, looked up by `batch` together with the keys of concurrent callers
    /// (see [`Coalescer::load_many`]).
    pub async fn load<F, Fut>(&self, key: K, batch: F) -> Result<Option<V>, E>
    where
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>, E>>,
    {
        let mut found = self.load_many(vec![key.clone()], batch).await?;
        Ok(found.remove(&key))
    }

    /// The values of `keys` that `batch` found, looked up together with the keys of concurrent
    /// callers. `batch` gets distinct keys (at most `max_batch`, unless one caller asked for
    /// more) and returns the values it found.
    ///
    /// The caller whose arrival finds no batch running becomes the runner: it runs batches
    /// until the queue is empty, answering each waiter (itself included) as its batch returns.
    /// A runner dropped mid-batch (its command cancelled) drops every waiter with it; they
    /// then ask again, and the first of them runs the queue.
    pub async fn load_many<F, Fut>(&self, keys: Vec<K>, batch: F) -> Result<HashMap<K, V>, E>
    where
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>, E>>,
    {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        loop {
            if let Some(answer) = self.load_once(keys.clone(), &batch).await {
                return answer;
            }
        }
    }

    /// One attempt of [`Coalescer::load_many`]: `None` when the runner serving it was dropped.
    async fn load_once<F, Fut>(&self, keys: Vec<K>, batch: &F) -> Option<Answer<K, V, E>>
    where
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>, E>>,
    {
        let (tx, rx) = oneshot::channel();
        let runner = {
            let mut state = lock(&self.state);
            state.queued.push((keys, tx));
            !std::mem::replace(&mut state.running, true)
        };
        if runner {
            let guard = RunningGuard(&self.state);
            loop {
                let (waiters, keys) = {
                    let mut state = lock(&self.state);
                    if state.queued.is_empty() {
                        state.running = false;
                        break;
                    }
                    self.take(&mut state.queued)
                };
                let result = batch(keys).await;
                for (wanted, tx) in waiters {
                    let answer = match &result {
                        Ok(found) => Ok(wanted
                            .into_iter()
                            .filter_map(|k| found.get(&k).cloned().map(|v| (k, v)))
                            .collect()),
                        Err(e) => Err(e.clone()),
                    };
                    let _ = tx.send(answer);
                }
            }
            std::mem::forget(guard);
        }
        rx.await.ok()
    }

    /// The next batch: queued waiters in arrival order while their distinct keys fit in
    /// `max_batch` (the first always goes), and those keys.
    fn take(&self, queued: &mut Waiters<K, V, E>) -> (Waiters<K, V, E>, Vec<K>) {
        let mut keys: Vec<K> = Vec::new();
        let mut taken = Vec::new();
        let mut rest = Vec::new();
        for (wanted, tx) in queued.drain(..) {
            let new: Vec<&K> = wanted.iter().filter(|k| !keys.contains(k)).collect();
            if rest.is_empty() && (taken.is_empty() || keys.len() + new.len() <= self.max_batch) {
                let new: Vec<K> = new.into_iter().cloned().collect();
                for k in new {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                taken.push((wanted, tx));
            } else {
                rest.push((wanted, tx));
            }
        }
        *queued = rest;
        (taken, keys)
    }
}

/// When a runner is dropped mid-batch: clears `running` and drops the queued waiters, whose
/// callers then ask again (see [`Coalescer::load`]).
struct RunningGuard<'a, K, V, E>(&'a Arc<Mutex<State<K, V, E>>>);

impl<K, V, E> Drop for RunningGuard<'_, K, V, E> {
    fn drop(&mut self) {
        let mut state = lock(self.0);
        state.running = false;
        state.queued.clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_lookups_share_a_batch_and_a_lone_one_runs_at_once() {
        let coalescer: Coalescer<u32, String, String> = Coalescer::new(100);
        let calls = Arc::new(AtomicUsize::new(0));
        let batch = |keys: Vec<u32>| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, String>(
                    keys.into_iter()
                        .filter(|k| k % 2 == 0)
                        .map(|k| (k, format!("v{k}")))
                        .collect::<HashMap<_, _>>(),
                )
            }
        };
        let lookups = (0..40u32).map(|k| {
            let c = coalescer.clone();
            async move { (k, c.load(k, batch).await) }
        });
        let answers = futures::future::join_all(lookups).await;
        for (k, answer) in answers {
            let expected = (k % 2 == 0).then(|| format!("v{k}"));
            assert_eq!(answer, Ok(expected), "key {k}");
        }
        // The first caller's batch (1 key), then one batch of the 39 that queued behind it.
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(coalescer.load(7, batch).await, Ok(None));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn batches_are_capped_and_an_error_reaches_every_caller_of_its_batch() {
        let coalescer: Coalescer<u32, u32, String> = Coalescer::new(3);
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let batch = |keys: Vec<u32>| {
            let sizes = sizes.clone();
            async move {
                lock(&sizes).push(keys.len());
                tokio::time::sleep(Duration::from_millis(5)).await;
                if keys.contains(&4) {
                    return Err("API down".to_owned());
                }
                Ok(keys.into_iter().map(|k| (k, k * 10)).collect())
            }
        };
        // The same key twice in one batch is asked once.
        let lookups = [0u32, 1, 2, 3, 3, 4, 5].map(|k| {
            let c = coalescer.clone();
            async move { (k, c.load(k, batch).await) }
        });
        for (k, answer) in futures::future::join_all(lookups).await {
            if (4..=5).contains(&k) {
                assert_eq!(answer, Err("API down".to_owned()), "key {k}");
            } else {
                assert_eq!(answer, Ok(Some(k * 10)), "key {k}");
            }
        }
        assert_eq!(*lock(&sizes), vec![1, 3, 2]);
    }

    #[tokio::test]
    async fn the_keys_of_one_caller_go_in_one_call() {
        let coalescer: Coalescer<u32, u32, String> = Coalescer::new(10);
        let calls = Arc::new(AtomicUsize::new(0));
        let batch = |keys: Vec<u32>| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(
                    keys.into_iter()
                        .filter(|k| *k != 2)
                        .map(|k| (k, k))
                        .collect(),
                )
            }
        };
        let found = coalescer
            .load_many(vec![1, 2, 3], batch)
            .await
            .expect("found");
        assert_eq!(found, HashMap::from([(1, 1), (3, 3)]));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // More keys than a batch holds still go in one call (of their own).
        let many: Vec<u32> = (100..130).collect();
        assert_eq!(
            coalescer.load_many(many, batch).await.expect("found").len(),
            30
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cancelled_runner_hands_the_queue_on() {
        let coalescer: Coalescer<u32, u32, String> = Coalescer::new(10);
        let slow = |keys: Vec<u32>| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, String>(keys.into_iter().map(|k| (k, k)).collect::<HashMap<_, _>>())
        };
        let runner = {
            let c = coalescer.clone();
            tokio::spawn(async move { c.load(1, slow).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let waiter = {
            let c = coalescer.clone();
            tokio::spawn(async move { c.load(2, slow).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        runner.abort();
        let answer = tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("the waiter is answered after the runner was cancelled")
            .expect("no panic");
        assert_eq!(answer, Ok(Some(2)));
    }
}
