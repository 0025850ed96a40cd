//! [`PollScheduler`]: polls the integrations this replica owns, concurrently, each on its own
//! adaptive schedule, and keeps ownership fair across the live replicas.
//!
//! A coordinator task ticks every third of a lease: it beats the replica's heartbeat, renews
//! its leases, stops the polls of leases it lost, releases the leases of integrations it no
//! longer serves, and rebalances: with `n` live replicas and `m` integrations to poll, a
//! replica owns at most `ceil(m / n)`; one owning more releases the surplus (stopping those
//! polls first), one owning fewer takes free or expired leases. Each owned integration has a
//! task of its own that polls it under the lease's [`Fence`](super::Fence), at most
//! [`PollSettings::concurrency`] at once per replica, waiting [`AdaptiveInterval`] between
//! polls or less when triggered. When renewals keep failing (database unreachable) every poll
//! is stopped before its lease can expire, and the fence refuses a commit anyway.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferry_proto::{IntegrationId, System};
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::lease::{Held, PollLeases, with_fence};
use crate::backoff::Backoff;
use crate::connector::integrations::{Integrations, Served};

/// Why one poll failed (the connector's own error, shown in the log).
pub type PollError = Box<dyn std::error::Error + Send + Sync>;

/// The connector's side of polling.
#[async_trait]
pub trait Poller: Send + Sync + 'static {
    /// The integrations to poll: the live ones this replica serves (every replica serves the
    /// same ones; the scheduler decides who polls which).
    fn integrations(&self) -> Vec<IntegrationId>;

    /// Whether `integration` is still to be polled (live). Asked before every poll, so a
    /// pause stops polling at once rather than at the coordinator's next tick, when the lease
    /// is released. The default looks through [`Poller::integrations`].
    fn is_active(&self, integration: IntegrationId) -> bool {
        self.integrations().contains(&integration)
    }

    /// Polls one integration once; answers how many changes it found (0: idle). Commits of
    /// pages call [`super::check_current`] in their transaction. The scheduler records each
    /// poll that succeeds (`ferry_poll_last_success_timestamp_seconds`).
    async fn poll(&self, integration: IntegrationId) -> Result<u64, PollError>;

    /// Serves an operator's `request` for `integration` ([`PollScheduler::request`]: the
    /// connector's own JSON) in place of a poll, under the same fence; answers the changes
    /// found. The default polls.
    async fn serve(&self, integration: IntegrationId, request: String) -> Result<u64, PollError> {
        let _ = request;
        self.poll(integration).await
    }
}

/// A [`Poller`] over a connector's served [`Integrations`]: polls the live ones, asks
/// [`Integrations::is_active`] before each poll, and leaves an integration no longer served
/// alone (0 changes). The connector writes only the poll of one integration.
#[async_trait]
pub trait PollServed: Send + Sync + 'static {
    /// The connector's served integration.
    type Integration: Served;

    /// The integrations the connector serves.
    fn served(&self) -> &Integrations<Self::Integration>;

    /// Polls `integration` once; answers how many changes it found (0: idle).
    async fn poll_integration(&self, integration: Arc<Self::Integration>)
    -> Result<u64, PollError>;

    /// Serves an operator's `request` ([`Poller::serve`]); the default polls.
    async fn serve_request(
        &self,
        integration: Arc<Self::Integration>,
        request: String,
    ) -> Result<u64, PollError> {
        let _ = request;
        self.poll_integration(integration).await
    }
}

#[async_trait]
impl<P: PollServed> Poller for P {
    fn integrations(&self) -> Vec<IntegrationId> {
        self.served().active_ids()
    }

    fn is_active(&self, integration: IntegrationId) -> bool {
        self.served().is_active(integration)
    }

    async fn poll(&self, integration: IntegrationId) -> Result<u64, PollError> {
        match self.served().get(integration) {
            Some(served) => self.poll_integration(served).await,
            None => Ok(0),
        }
    }

    async fn serve(&self, integration: IntegrationId, request: String) -> Result<u64, PollError> {
        match self.served().get(integration) {
            Some(served) => self.serve_request(served, request).await,
            None => Ok(0),
        }
    }
}

/// The wait between two polls of one integration: the shortest after a poll that found
/// changes, doubling after each idle poll up to the longest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveInterval {
    /// After a poll that found changes (and the first step of the back-off).
    pub busy: Duration,
    /// The longest wait of an idle integration.
    pub idle_max: Duration,
}

impl Default for AdaptiveInterval {
    /// 1 s busy, up to 5 s idle: a change waits at most 5 s plus one poll for its poll, which
    /// keeps the 10 s p99 freshness goal with room for the pipeline behind it.
    fn default() -> Self {
        Self {
            busy: Duration::from_secs(1),
            idle_max: Duration::from_secs(5),
        }
    }
}

impl AdaptiveInterval {
    /// The wait after a poll, given the previous wait and whether the poll found changes.
    pub fn next(&self, previous: Duration, changed: bool) -> Duration {
        if changed {
            return self.busy;
        }
        (previous.max(self.busy / 2) * 2)
            .max(self.busy)
            .min(self.idle_max.max(self.busy))
    }

    /// The wait after `failures` failed polls in a row: backing off from the busy interval to
    /// a minute (or the idle maximum when longer).
    pub fn after_failure(&self, failures: u32) -> Duration {
        Backoff::new(self.busy * 2, self.idle_max.max(Duration::from_secs(60))).delay(failures)
    }
}

/// How a replica polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    /// How long a lease lasts unless renewed (renewed every third of it). A killed replica's
    /// integrations are polled again by others within about 1⅓ of it.
    pub lease: Duration,
    /// Polls running at once in this replica.
    pub concurrency: usize,
    /// The wait between polls of one integration.
    pub interval: AdaptiveInterval,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15),
            concurrency: 64,
            interval: AdaptiveInterval::default(),
        }
    }
}

/// One integration this replica polls.
struct Owned {
    generation: i64,
    stop: CancellationToken,
    now: Arc<Notify>,
    /// Operators' requests to serve before the next poll.
    requests: Requests,
    task: JoinHandle<()>,
}

/// The requests an owned integration's task serves next.
type Requests = Arc<Mutex<std::collections::VecDeque<String>>>;

struct Inner {
    db: DatabaseConnection,
    leases: PollLeases,
    settings: PollSettings,
    poller: Arc<dyn Poller>,
    system: System,
    owned: Mutex<HashMap<IntegrationId, Owned>>,
    permits: Arc<Semaphore>,
    wake: Notify,
}

/// Polls the integrations this replica owns (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct PollScheduler {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PollScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollScheduler")
            .field("replica", &self.inner.leases.replica())
            .finish_non_exhaustive()
    }
}

impl PollScheduler {
    /// A scheduler of `system`'s polls for a new replica (a fresh replica id).
    pub fn new(
        db: DatabaseConnection,
        system: System,
        poller: Arc<dyn Poller>,
        settings: PollSettings,
    ) -> Self {
        let settings = PollSettings {
            lease: settings.lease.max(Duration::from_millis(300)),
            concurrency: settings.concurrency.max(1),
            ..settings
        };
        Self {
            inner: Arc::new(Inner {
                db,
                leases: PollLeases::new(system, Uuid::new_v4(), settings.lease),
                permits: Arc::new(Semaphore::new(settings.concurrency)),
                settings,
                poller,
                system,
                owned: Mutex::default(),
                wake: Notify::new(),
            }),
        }
    }

    /// This replica's id (its heartbeat and lease owner).
    pub fn replica(&self) -> Uuid {
        self.inner.leases.replica()
    }

    /// The leases (for a deleted integration's [`PollLeases::forget`]).
    pub fn leases(&self) -> PollLeases {
        self.inner.leases
    }

    /// The integrations this replica polls now.
    pub fn owned(&self) -> Vec<IntegrationId> {
        let mut ids: Vec<_> = self.owned_map().keys().copied().collect();
        ids.sort();
        ids
    }

    fn owned_map(&self) -> std::sync::MutexGuard<'_, HashMap<IntegrationId, Owned>> {
        self.inner.owned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Polls `integration` now: at once when this replica owns it, else through its lease
    /// row, which its owner reads within a third of a lease.
    pub async fn trigger(&self, integration: IntegrationId) -> Result<(), sea_orm::DbErr> {
        if let Some(o) = self.owned_map().get(&integration) {
            o.now.notify_one();
            return Ok(());
        }
        self.inner
            .leases
            .request(&self.inner.db, integration)
            .await?;
        // Also look again now: a new integration may be unowned yet.
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Has `request` (the connector's own JSON: a full sync, a reconciliation, ...) served
    /// by the replica owning `integration`'s polling, under its fence, in place of a poll: at
    /// once when that is this replica, else through `connector_poll_requests`, which the owner
    /// reads within a third of a lease. So an operator's sync never runs beside the owner's
    /// polls, whichever replica took the API call.
    pub async fn request(
        &self,
        integration: IntegrationId,
        request: String,
    ) -> Result<(), sea_orm::DbErr> {
        if let Some(o) = self.owned_map().get(&integration) {
            lock(&o.requests).push_back(request);
            o.now.notify_one();
            return Ok(());
        }
        self.inner
            .leases
            .request_with(&self.inner.db, integration, &request)
            .await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Whether some replica (this one or another) polls `integration` now: it owns an
    /// unexpired lease. A request ([`PollScheduler::request`]) for an integration nobody
    /// polls would wait until someone does.
    pub async fn is_polled(&self, integration: IntegrationId) -> Result<bool, sea_orm::DbErr> {
        if self.owned_map().contains_key(&integration) {
            return Ok(true);
        }
        Ok(self
            .inner
            .leases
            .lease(&self.inner.db, integration)
            .await?
            .is_some_and(|l| !l.owner.is_nil() && l.expires_at > chrono::Utc::now()))
    }

    /// Looks at ownership now rather than at the next tick (an integration was added).
    pub fn rebalance_now(&self) {
        self.inner.wake.notify_one();
    }

    /// Runs the coordinator until `shutdown`; then stops every poll and releases the leases.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            let every = self.inner.settings.lease / 3;
            let mut renewed = Instant::now();
            loop {
                let started = Instant::now();
                match self.tick().await {
                    Ok(()) => renewed = started,
                    Err(error) => {
                        tracing::warn!(%error, "cannot renew the poll leases");
                        // The next renewal could come after the leases expired: stop polling
                        // now, before another replica may take them over.
                        if renewed.elapsed() + every >= self.inner.settings.lease {
                            self.stop_all().await;
                        }
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.inner.wake.notified() => {}
                    _ = tokio::time::sleep(every) => {}
                }
            }
            self.stop_all().await;
            if let Err(error) = self.inner.leases.leave(&self.inner.db).await {
                tracing::warn!(%error, "cannot release the poll leases; they expire by themselves");
            }
        })
    }

    async fn stop_all(&self) {
        let all: Vec<Owned> = self.owned_map().drain().map(|(_, o)| o).collect();
        for o in all {
            stop(o).await;
        }
    }

    async fn stop(&self, integration: IntegrationId) -> Option<i64> {
        let owned = self.owned_map().remove(&integration)?;
        let generation = owned.generation;
        stop(owned).await;
        Some(generation)
    }

    /// One round: heartbeat, renew, drop what was lost, rebalance, start what was taken.
    async fn tick(&self) -> Result<(), sea_orm::DbErr> {
        let inner = &self.inner;
        let db = &inner.db;
        inner.leases.heartbeat(db).await?;
        let live = inner.leases.live_replicas(db).await?;
        let held: HashMap<IntegrationId, Held> = inner
            .leases
            .renew(db)
            .await?
            .into_iter()
            .map(|h| (h.integration, h))
            .collect();
        // Polls whose lease moved on stop at once.
        let lost: Vec<IntegrationId> = self
            .owned_map()
            .iter()
            .filter(|(id, o)| held.get(id).is_none_or(|h| h.generation != o.generation))
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            tracing::info!(integration = %id, "poll lease lost; stopping its polls");
            self.stop(id).await;
        }
        let wanted: HashSet<IntegrationId> = inner.poller.integrations().into_iter().collect();
        let mut mine: Vec<Held> = Vec::new();
        for h in held.into_values() {
            if wanted.contains(&h.integration) {
                mine.push(h);
            } else {
                self.stop(h.integration).await;
                inner
                    .leases
                    .release(db, h.integration, h.generation)
                    .await?;
            }
        }
        let replicas = live.len().max(1);
        let share = wanted.len().div_ceil(replicas);
        // Surplus first (a replica joined): release the ones last in this replica's order.
        let replica = inner.leases.replica();
        mine.sort_by_key(|h| rank(replica, h.integration));
        while mine.len() > share {
            let Some(h) = mine.pop() else { break };
            self.stop(h.integration).await;
            inner
                .leases
                .release(db, h.integration, h.generation)
                .await?;
            tracing::info!(integration = %h.integration, share, replicas, "poll lease handed over to rebalance");
        }
        for h in &mine {
            self.ensure_running(h.integration, h.generation);
            if h.requested {
                inner.leases.clear_request(db, h.integration).await?;
                let requests = inner.leases.take_requests(db, h.integration).await?;
                self.hand_over(h.integration, requests);
            }
        }
        if mine.len() < share {
            let owned: HashSet<IntegrationId> = mine.iter().map(|h| h.integration).collect();
            // Leases other replicas hold now are left alone (a replica one short of its
            // share would otherwise try every one of them, every tick).
            let held = inner.leases.held_by_others(db).await?;
            let mut free: Vec<IntegrationId> = wanted
                .into_iter()
                .filter(|id| !owned.contains(id) && !held.contains(id))
                .collect();
            // Each replica tries them in an order of its own, so they rarely race.
            free.sort_by_key(|id| rank(replica, *id));
            let mut count = mine.len();
            let mut taken = Vec::new();
            for id in free {
                if count >= share {
                    break;
                }
                if let Some(generation) = inner.leases.try_take(db, id).await? {
                    tracing::info!(integration = %id, generation, "poll lease taken");
                    self.ensure_running(id, generation);
                    taken.push(id);
                    count += 1;
                }
            }
            // Requests made while nobody owned them (one look for all the takes).
            if !taken.is_empty() {
                let waiting = inner.leases.with_requests(db).await?;
                for id in taken.into_iter().filter(|id| waiting.contains(id)) {
                    let requests = inner.leases.take_requests(db, id).await?;
                    self.hand_over(id, requests);
                }
            }
        }
        Ok(())
    }

    /// Gives `requests` to the task of owned `integration` and wakes it.
    fn hand_over(&self, integration: IntegrationId, requests: Vec<String>) {
        if let Some(o) = self.owned_map().get(&integration) {
            lock(&o.requests).extend(requests);
            o.now.notify_one();
        }
    }

    fn ensure_running(&self, integration: IntegrationId, generation: i64) {
        let mut owned = self.owned_map();
        if owned.contains_key(&integration) {
            return;
        }
        let stop = CancellationToken::new();
        let now = Arc::new(Notify::new());
        let requests = Requests::default();
        let task = tokio::spawn(poll_loop(
            self.inner.clone(),
            integration,
            generation,
            stop.clone(),
            (now.clone(), requests.clone()),
        ));
        owned.insert(
            integration,
            Owned {
                generation,
                stop,
                now,
                requests,
                task,
            },
        );
    }
}

async fn stop(owned: Owned) {
    owned.stop.cancel();
    let _ = owned.task.await;
}

/// A stable per-replica order of integrations.
fn rank(replica: Uuid, integration: IntegrationId) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (replica, integration.as_uuid()).hash(&mut h);
    h.finish()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls one owned integration until stopped: at once, then after each wait; a waiting
/// operator's request is served in place of a poll.
async fn poll_loop(
    inner: Arc<Inner>,
    integration: IntegrationId,
    generation: i64,
    stop: CancellationToken,
    (now, requests): (Arc<Notify>, Requests),
) {
    let interval = inner.settings.interval;
    let fence = inner.leases.fence(integration, generation);
    let mut wait = Duration::ZERO;
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = now.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        let waiting = std::time::Instant::now();
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            permit = inner.permits.clone().acquire_owned() => permit,
        };
        let Ok(_permit) = permit else { return };
        let waited = waiting.elapsed();
        if !inner.poller.is_active(integration) {
            // Paused (or gone) since the coordinator's last tick, which releases the lease.
            wait = interval.idle_max;
            continue;
        }
        let request = lock(&requests).pop_front();
        let poller = inner.poller.clone();
        let poll = with_fence(fence, async move {
            match request {
                Some(request) => poller.serve(integration, request).await,
                None => poller.poll(integration).await,
            }
        });
        let polling = std::time::Instant::now();
        let result = tokio::select! {
            // Dropping the poll rolls back the page it was committing.
            _ = stop.cancelled() => return,
            result = poll => result,
        };
        let took = polling.elapsed();
        // A poll late by more than the idle interval (waiting for one of the replica's
        // `concurrency` poll permits) or longer than it is a freshness problem (debug: under
        // overload every poll is one; tests/PERFORMANCE.md session 23 used it).
        if waited + took > interval.idle_max {
            tracing::debug!(integration = %integration, permit_wait_ms = waited.as_millis() as u64, poll_ms = took.as_millis() as u64, "slow poll");
        }
        match result {
            Ok(changes) => {
                failures = 0;
                wait = interval.next(wait, changes > 0);
                crate::metrics::global().poll_succeeded(
                    inner.system.as_str(),
                    &integration.to_string(),
                    chrono::Utc::now().timestamp() as f64,
                );
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                wait = interval.after_failure(failures);
                tracing::warn!(integration = %integration, %error, retry_in_ms = wait.as_millis() as u64, "poll failed");
            }
        }
        if !lock(&requests).is_empty() {
            // The next request follows at once.
            wait = Duration::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_polls_back_off_to_the_cap_and_a_change_resets() {
        let i = AdaptiveInterval::default();
        let mut wait = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..5 {
            wait = i.next(wait, false);
            seen.push(wait.as_secs());
        }
        assert_eq!(seen, [1, 2, 4, 5, 5]);
        assert_eq!(i.next(wait, true), Duration::from_secs(1));
    }

    #[test]
    fn failures_back_off_beyond_the_idle_cap() {
        let i = AdaptiveInterval::default();
        assert!(i.after_failure(1) <= Duration::from_secs(2));
        assert!(i.after_failure(10) >= Duration::from_secs(30));
        assert!(i.after_failure(10) <= Duration::from_secs(60));
    }
}
