//! The connector kit's poll ownership and shared connection limit, on SQLite and PostgreSQL:
//! lease take / renew / expiry / fence, schedulers of several replicas sharing integrations
//! (each polled by one at a time, rebalanced when a replica joins or leaves), and connection
//! slots shared by three replicas (never more calls in flight than the limit).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferry_platform::connector::poll::{
    self, AdaptiveInterval, CreatePollRequests, CreatePollTables, PollError, PollLeases,
    PollScheduler, PollSettings, Poller,
};
use ferry_platform::connector::slots::{ConnectionSlots, SlotSettings};
use ferry_platform::db::{self, testing};
use ferry_proto::{IntegrationId, System};
use sea_orm::{DatabaseConnection, TransactionTrait};
use sea_orm_migration::prelude::{DynIden, MigrationTrait, MigratorTrait};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePollTables), Box::new(CreatePollRequests)]
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table("poll-test")
    }
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn database(backend: Backend) -> (testing::TestDatabase, DatabaseConnection) {
    let test = match backend {
        Backend::Sqlite => testing::sqlite_temp(),
        Backend::Postgres => testing::postgres_schema().await.expect("postgres"),
    };
    let conn = db::connect(test.config()).await.expect("connect");
    db::migrate::<Migrator>(&conn).await.expect("migrate");
    (test, conn)
}

async fn lease_lifecycle(backend: Backend) {
    let (_test, db) = database(backend).await;
    let ttl = Duration::from_millis(400);
    let a = PollLeases::new(System::Mailchimp, Uuid::new_v4(), ttl);
    let b = PollLeases::new(System::Mailchimp, Uuid::new_v4(), ttl);
    let other_system = PollLeases::new(System::Mpluskassa, Uuid::new_v4(), ttl);
    let i = IntegrationId::new();

    assert_eq!(
        a.try_take(&db, i).await.unwrap(),
        Some(1),
        "a free lease is taken"
    );
    assert_eq!(
        b.try_take(&db, i).await.unwrap(),
        None,
        "a held lease is not"
    );
    assert_eq!(
        other_system.try_take(&db, i).await.unwrap(),
        Some(1),
        "each connector's leases are its own"
    );
    let fence_a = a.fence(i, 1);
    fence_a
        .check(&db)
        .await
        .expect("the owner passes its fence");

    // Renewed, the lease outlives its first term.
    tokio::time::sleep(ttl / 2).await;
    let held = a.renew(&db).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].integration, held[0].generation), (i, 1));
    tokio::time::sleep(ttl / 2 + Duration::from_millis(50)).await;
    assert_eq!(
        b.try_take(&db, i).await.unwrap(),
        None,
        "renewed: still a's"
    );

    // Not renewed, it expires and the other replica takes it in a new generation.
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    assert!(
        fence_a.check(&db).await.is_err(),
        "an expired lease fails the fence"
    );
    assert_eq!(b.try_take(&db, i).await.unwrap(), Some(2));
    let err = fence_a
        .check(&db)
        .await
        .expect_err("a's fence after the take-over");
    assert!(err.to_string().contains(poll::LEASE_LOST), "{err}");
    b.fence(i, 2).check(&db).await.expect("b's fence");
    assert!(
        a.renew(&db).await.unwrap().is_empty(),
        "a no longer holds it"
    );
    a.release(&db, i, 1).await.unwrap();
    b.fence(i, 2)
        .check(&db)
        .await
        .expect("a stale release changes nothing");

    // A request reaches the owner; a release lets the other take it at once.
    a.request(&db, i).await.unwrap();
    assert!(b.renew(&db).await.unwrap()[0].requested);
    b.clear_request(&db, i).await.unwrap();
    assert!(!b.renew(&db).await.unwrap()[0].requested);
    b.release(&db, i, 2).await.unwrap();
    assert_eq!(a.try_take(&db, i).await.unwrap(), Some(3));

    // The fence inside a transaction, through the task-local of a scheduled poll.
    let txn = db.begin().await.unwrap();
    poll::with_fence(a.fence(i, 3), poll::check_current(&txn))
        .await
        .expect("current fence");
    assert!(
        poll::with_fence(b.fence(i, 2), poll::check_current(&txn))
            .await
            .is_err()
    );
    poll::check_current(&txn)
        .await
        .expect("no scheduled poll: no fence");
    txn.commit().await.unwrap();

    // Heartbeats: live replicas, a leaver disappears.
    a.heartbeat(&db).await.unwrap();
    b.heartbeat(&db).await.unwrap();
    assert_eq!(a.live_replicas(&db).await.unwrap().len(), 2);
    b.leave(&db).await.unwrap();
    assert_eq!(a.live_replicas(&db).await.unwrap(), vec![a.replica()]);
}

#[tokio::test]
async fn lease_take_renew_expire_fence_on_sqlite() {
    lease_lifecycle(Backend::Sqlite).await;
}

#[tokio::test]
async fn lease_take_renew_expire_fence_on_postgres() {
    lease_lifecycle(Backend::Postgres).await;
}

/// One poll: who, which, from when to when (open while running).
#[derive(Debug, Clone)]
struct Span {
    replica: usize,
    integration: IntegrationId,
    start: Instant,
    end: Option<Instant>,
}

#[derive(Default)]
struct Journal {
    spans: Mutex<Vec<Span>>,
    /// Requests served: by which replica, of which integration, what.
    served: Mutex<Vec<(usize, IntegrationId, String)>>,
}

impl Journal {
    fn served(&self) -> Vec<(usize, IntegrationId, String)> {
        self.served.lock().unwrap().clone()
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// Panics when two replicas' polls of one integration overlap.
    fn assert_no_overlap(&self) {
        let mut by: HashMap<IntegrationId, Vec<Span>> = HashMap::new();
        for s in self.spans() {
            by.entry(s.integration).or_default().push(s);
        }
        for (id, mut spans) in by {
            spans.sort_by_key(|s| s.start);
            for w in spans.windows(2) {
                let end = w[0].end.unwrap_or_else(Instant::now);
                assert!(
                    end <= w[1].start,
                    "integration {id}: replica {} polled while replica {} did",
                    w[1].replica,
                    w[0].replica
                );
            }
        }
    }

    /// The replicas that polled each integration after `since`.
    fn pollers_since(&self, since: Instant) -> HashMap<IntegrationId, Vec<usize>> {
        let mut by: HashMap<IntegrationId, Vec<usize>> = HashMap::new();
        for s in self.spans().into_iter().filter(|s| s.start >= since) {
            let v = by.entry(s.integration).or_default();
            if !v.contains(&s.replica) {
                v.push(s.replica);
            }
        }
        by
    }
}

struct Recording {
    replica: usize,
    integrations: Arc<Mutex<Vec<IntegrationId>>>,
    journal: Arc<Journal>,
}

struct Close(Arc<Journal>, usize);

impl Drop for Close {
    fn drop(&mut self) {
        self.0.spans.lock().unwrap()[self.1].end = Some(Instant::now());
    }
}

#[async_trait]
impl Poller for Recording {
    fn integrations(&self) -> Vec<IntegrationId> {
        self.integrations.lock().unwrap().clone()
    }

    async fn serve(&self, integration: IntegrationId, request: String) -> Result<u64, PollError> {
        self.journal
            .served
            .lock()
            .unwrap()
            .push((self.replica, integration, request));
        self.poll(integration).await
    }

    async fn poll(&self, integration: IntegrationId) -> Result<u64, PollError> {
        let at = {
            let mut spans = self.journal.spans.lock().unwrap();
            spans.push(Span {
                replica: self.replica,
                integration,
                start: Instant::now(),
                end: None,
            });
            spans.len() - 1
        };
        let _close = Close(self.journal.clone(), at);
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(0)
    }
}

fn settings() -> PollSettings {
    PollSettings {
        lease: Duration::from_millis(900),
        concurrency: 8,
        interval: AdaptiveInterval {
            busy: Duration::from_millis(50),
            idle_max: Duration::from_millis(150),
        },
    }
}

struct Replica {
    scheduler: PollScheduler,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn replica(
    db: &DatabaseConnection,
    n: usize,
    integrations: &[IntegrationId],
    journal: &Arc<Journal>,
) -> Replica {
    let live = Arc::new(Mutex::new(integrations.to_vec()));
    replica_with(db, n, live, journal, settings())
}

fn replica_with(
    db: &DatabaseConnection,
    n: usize,
    live: Arc<Mutex<Vec<IntegrationId>>>,
    journal: &Arc<Journal>,
    settings: PollSettings,
) -> Replica {
    let poller = Arc::new(Recording {
        replica: n,
        integrations: live,
        journal: journal.clone(),
    });
    let scheduler = PollScheduler::new(db.clone(), System::Mailchimp, poller, settings);
    let shutdown = CancellationToken::new();
    let task = scheduler.clone().spawn(shutdown.clone());
    Replica {
        scheduler,
        shutdown,
        task,
    }
}

async fn eventually(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn owned_counts(replicas: &[&Replica]) -> Vec<usize> {
    replicas.iter().map(|r| r.scheduler.owned().len()).collect()
}

async fn schedulers_share_and_rebalance(backend: Backend) {
    let (_test, db) = database(backend).await;
    let integrations: Vec<IntegrationId> = (0..12).map(|_| IntegrationId::new()).collect();
    let journal = Arc::new(Journal::default());

    // One replica owns everything and polls every integration concurrently.
    let r0 = replica(&db, 0, &integrations, &journal);
    eventually("one replica owns all 12", Duration::from_secs(5), || {
        owned_counts(&[&r0]) == [12]
    })
    .await;
    let t = Instant::now();
    eventually("all polled", Duration::from_secs(5), || {
        journal.pollers_since(t).len() == 12
    })
    .await;

    // Two replicas join: each ends up with its fair share (4), every integration still owned
    // exactly once.
    let r1 = replica(&db, 1, &integrations, &journal);
    let r2 = replica(&db, 2, &integrations, &journal);
    // A replica sees a lease it lost at its next tick (under load, a renewal late past the
    // lease lets another replica take it first; its fence refuses the old owner's commits
    // meanwhile): the views settle into a partition.
    let mut expected = integrations.clone();
    expected.sort();
    let partition = || {
        let mut all: Vec<IntegrationId> = [&r0, &r1, &r2]
            .iter()
            .flat_map(|r| r.scheduler.owned())
            .collect();
        all.sort();
        all
    };
    eventually(
        "rebalanced to 4/4/4, each integration owned by exactly one replica",
        Duration::from_secs(10),
        || owned_counts(&[&r0, &r1, &r2]) == [4, 4, 4] && partition() == expected,
    )
    .await;
    let t = Instant::now();
    eventually(
        "every integration polled by its owner",
        Duration::from_secs(5),
        || journal.pollers_since(t).len() == 12,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (id, pollers) in journal.pollers_since(t) {
        assert_eq!(
            pollers.len(),
            1,
            "{id} polled by {pollers:?} after the rebalance"
        );
    }

    // A trigger through a replica that does not own the integration reaches its owner.
    let target = r1.scheduler.owned()[0];
    r0.scheduler.trigger(target).await.unwrap();

    // Requests (an operator's sync) are served once each, by the owner, in place of polls
    // (never beside them): one made through another replica, one through the owner itself.
    r0.scheduler
        .request(target, "full sync".into())
        .await
        .unwrap();
    r1.scheduler
        .request(target, "reconcile".into())
        .await
        .unwrap();
    eventually("both requests served", Duration::from_secs(5), || {
        journal.served().len() == 2
    })
    .await;
    let mut served = journal.served();
    served.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(
        served,
        vec![
            (1, target, "full sync".to_owned()),
            (1, target, "reconcile".to_owned())
        ]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(journal.served().len(), 2, "each request is served once");

    // One leaves gracefully: the others take its integrations at once (6/6).
    r2.shutdown.cancel();
    r2.task.await.unwrap();
    eventually("6/6 after a replica left", Duration::from_secs(5), || {
        owned_counts(&[&r0, &r1]) == [6, 6]
    })
    .await;
    journal.assert_no_overlap();
    for r in [r0, r1] {
        r.shutdown.cancel();
        r.task.await.unwrap();
    }
    journal.assert_no_overlap();
}

#[tokio::test]
async fn schedulers_share_integrations_and_rebalance_on_sqlite() {
    schedulers_share_and_rebalance(Backend::Sqlite).await;
}

#[tokio::test]
async fn schedulers_share_integrations_and_rebalance_on_postgres() {
    schedulers_share_and_rebalance(Backend::Postgres).await;
}

/// A paused integration is not polled again, even long before the coordinator's next tick
/// releases its lease (the registry test saw polls for up to a third of a lease).
async fn a_pause_stops_polling_at_once(backend: Backend) {
    let (_test, db) = database(backend).await;
    let (kept, paused) = (IntegrationId::new(), IntegrationId::new());
    let live = Arc::new(Mutex::new(vec![kept, paused]));
    let journal = Arc::new(Journal::default());
    // A long lease: the coordinator ticks every 20 s, so only the per-poll check can stop it.
    let r = replica_with(
        &db,
        0,
        live.clone(),
        &journal,
        PollSettings {
            lease: Duration::from_secs(60),
            ..settings()
        },
    );
    let t = Instant::now();
    eventually("both polled", Duration::from_secs(5), || {
        journal.pollers_since(t).len() == 2
    })
    .await;
    live.lock().unwrap().retain(|i| *i != paused);
    // A poll of it already waiting for its permit may still start; none after that.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let polled = journal.pollers_since(t);
    assert!(polled.contains_key(&kept), "the live one is still polled");
    assert!(
        !polled.contains_key(&paused),
        "the paused integration was polled after the pause"
    );
    r.shutdown.cancel();
    r.task.await.unwrap();
}

#[tokio::test]
async fn a_pause_stops_polling_at_once_on_sqlite() {
    a_pause_stops_polling_at_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_pause_stops_polling_at_once_on_postgres() {
    a_pause_stops_polling_at_once(Backend::Postgres).await;
}

async fn slots_shared_by_three_replicas(backend: Backend) {
    let (_test, db) = database(backend).await;
    let settings = SlotSettings {
        renew_every: Duration::from_millis(100),
        call_timeout: Duration::from_millis(500),
        ttl: Duration::from_secs(2),
        idle_release: Duration::from_secs(10),
    };
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let mut managers = Vec::new();
    let mut callers = Vec::new();
    let done: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
    for r in 0..3 {
        let slots = ConnectionSlots::shared(db.clone(), System::Mailchimp, settings);
        managers.push(slots.clone().spawn(shutdown.clone()).expect("shared"));
        let key = slots.key("digest-of-a-key", 10);
        // Each replica wants all ten connections.
        for _ in 0..10 {
            let key = key.clone();
            let in_flight = in_flight.clone();
            let peak = peak.clone();
            let done = done.clone();
            let stop = shutdown.clone();
            callers.push(tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let Ok(_permit) = key.acquire().await else {
                        return;
                    };
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    done[r].fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    shutdown.cancel();
    for m in managers {
        m.await.unwrap();
    }
    for c in callers {
        let _ = tokio::time::timeout(Duration::from_secs(2), c).await;
    }
    let peak = peak.load(Ordering::SeqCst);
    let done: Vec<usize> = done.iter().map(|d| d.load(Ordering::SeqCst)).collect();
    assert!(
        peak <= 10,
        "peak {peak} calls in flight across three replicas"
    );
    assert!(peak >= 8, "the limit is used, peak {peak}");
    assert!(
        done.iter().all(|d| *d > 50),
        "every replica got connections: {done:?}"
    );
}

#[tokio::test]
async fn three_replicas_share_ten_connections_on_sqlite() {
    slots_shared_by_three_replicas(Backend::Sqlite).await;
}

#[tokio::test]
async fn three_replicas_share_ten_connections_on_postgres() {
    slots_shared_by_three_replicas(Backend::Postgres).await;
}
