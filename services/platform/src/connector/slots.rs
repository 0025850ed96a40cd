//! An API key's connection limit shared by every replica (MailChimp: 10 simultaneous
//! connections per key, all replicas together).
//!
//! Each key has `limit` slot rows in `connector_slots` (keyed by a digest of the key, never the
//! key). A replica holds some of them, each until it expires, and runs at most as many calls
//! on the key as it holds slots: a semaphore per key in process ([`KeyLimit`]) is the fast
//! path, so a call costs no database round trip. A manager task per replica, every
//! [`SlotSettings::renew_every`]:
//!
//! - writes this replica's demand per key (calls waiting or running) to
//!   `connector_slot_demand`;
//! - renews the slots it holds;
//! - splits each key's limit fairly among the replicas that want it (water-filling: nobody
//!   gets more than it wants, the rest is split evenly) and, when another replica holds fewer
//!   than its fair share, releases its own surplus: only slots not in use (their permits are
//!   taken out of the semaphore first, then the rows released);
//! - claims free or expired slots up to its fair share and adds their permits.
//!
//! **Safety.** A slot is held by one replica at a time, and a call starts only while the
//! replica's claim on its slots stays valid for longer than a call can take
//! ([`SlotSettings::call_timeout`]): a replica that cannot renew stops starting calls before
//! its slots can expire and be claimed by another. A slot's claim lasts
//! [`SlotSettings::ttl`] (the call timeout plus 5 s), so the slots a replica killed with
//! `kill -9` held come back after that; a graceful stop releases them at once, and a key idle
//! for [`SlotSettings::idle_release`] gives its slots back, so a replica rarely dies holding
//! slots it did not use.
//!
//! [`ConnectionSlots::local`] is the same limit within one process (no database).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use ferry_proto::System;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{DatabaseConnection, Set};
use tokio::sync::{Notify, Semaphore, SemaphorePermit};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::poll::tables::{slot, slot_demand};

/// How slots are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotSettings {
    /// How often the manager renews, rebalances and claims.
    pub renew_every: Duration,
    /// The longest a call can take (the client's request timeout).
    pub call_timeout: Duration,
    /// How long a claim lasts unless renewed: `call_timeout` plus a few renewals (calls start
    /// only while the claim has more than `call_timeout` left).
    pub ttl: Duration,
    /// A key without calls for this long gives its slots back (so a replica killed later does
    /// not take idle slots with it for a whole `ttl`).
    pub idle_release: Duration,
}

impl SlotSettings {
    /// Settings for calls of at most `call_timeout`.
    pub fn for_timeout(call_timeout: Duration) -> Self {
        Self {
            renew_every: Duration::from_secs(1),
            call_timeout,
            ttl: call_timeout + Duration::from_secs(5),
            idle_release: Duration::from_secs(10),
        }
    }
}

/// The connection limit of one API key in this replica.
#[derive(Debug)]
pub struct KeyLimit {
    key_hash: String,
    limit: usize,
    semaphore: Semaphore,
    /// The slot numbers whose permits are in the semaphore (in use or available).
    held: Mutex<Vec<i32>>,
    /// Calls waiting or running.
    demand: AtomicUsize,
    /// Calls may start while this is more than the call timeout away (shared limits).
    valid_until: Mutex<Option<Instant>>,
    call_timeout: Duration,
    rows_ready: AtomicBool,
    wake: Option<Arc<Notify>>,
    /// Permits to take out of use as calls end (slots to hand over).
    shed: AtomicUsize,
    /// Permits taken out whose slots are not released yet.
    shed_done: AtomicUsize,
    /// When calls last waited or ran (seen by the manager).
    busy_at: Mutex<Instant>,
}

/// A call's permission to run; dropping it frees the connection (or hands its slot over).
#[derive(Debug)]
pub struct SlotPermit<'a> {
    permit: Option<SemaphorePermit<'a>>,
    limit: &'a KeyLimit,
    _demand: Demand<'a>,
}

impl Drop for SlotPermit<'_> {
    fn drop(&mut self) {
        let shed = self
            .limit
            .shed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if let Some(permit) = self.permit.take()
            && shed
        {
            permit.forget();
            self.limit.shed_done.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[derive(Debug)]
struct Demand<'a>(&'a AtomicUsize);

impl Drop for Demand<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The limit is closed (its process is stopping).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the connection limit is closed")]
pub struct Closed;

impl KeyLimit {
    fn new(
        key_hash: String,
        limit: usize,
        wake: Option<Arc<Notify>>,
        call_timeout: Duration,
    ) -> Self {
        let local = wake.is_none();
        Self {
            key_hash,
            limit: limit.max(1),
            semaphore: Semaphore::new(if local { limit.max(1) } else { 0 }),
            held: Mutex::default(),
            demand: AtomicUsize::new(0),
            valid_until: Mutex::new(None),
            call_timeout,
            rows_ready: AtomicBool::new(false),
            wake,
            shed: AtomicUsize::new(0),
            shed_done: AtomicUsize::new(0),
            busy_at: Mutex::new(Instant::now()),
        }
    }

    /// The key's limit, all replicas together.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Connections this replica may use now (the slots it holds; the limit when local).
    pub fn share(&self) -> usize {
        if self.wake.is_none() {
            self.limit
        } else {
            self.held().len()
        }
    }

    /// Calls waiting or running.
    pub fn demand(&self) -> usize {
        self.demand.load(Ordering::Acquire)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<i32>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn callable(&self) -> bool {
        if self.wake.is_none() {
            return true;
        }
        let until = *self.valid_until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| t.saturating_duration_since(Instant::now()) > self.call_timeout)
    }

    /// Waits for a connection of the key.
    pub async fn acquire(&self) -> Result<SlotPermit<'_>, Closed> {
        self.demand.fetch_add(1, Ordering::AcqRel);
        let demand = Demand(&self.demand);
        loop {
            if let Some(wake) = &self.wake
                && self.semaphore.available_permits() == 0
            {
                wake.notify_one();
            }
            let permit = self.semaphore.acquire().await.map_err(|_| Closed)?;
            if self.callable() {
                return Ok(SlotPermit {
                    permit: Some(permit),
                    limit: self,
                    _demand: demand,
                });
            }
            drop(permit);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The connection limits of one connector's keys (see the module docs). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConnectionSlots {
    inner: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    shared: Option<Shared>,
    keys: Mutex<HashMap<String, Arc<KeyLimit>>>,
    call_timeout: Duration,
}

#[derive(Debug)]
struct Shared {
    db: DatabaseConnection,
    system: System,
    replica: Uuid,
    settings: SlotSettings,
    wake: Arc<Notify>,
}

impl ConnectionSlots {
    /// Limits within this process only (one replica, or tests without a database).
    pub fn local() -> Self {
        Self {
            inner: Arc::new(Pool {
                shared: None,
                keys: Mutex::default(),
                call_timeout: Duration::ZERO,
            }),
        }
    }

    /// Limits shared through `db` by every replica of `system`; run [`Self::spawn`].
    pub fn shared(db: DatabaseConnection, system: System, settings: SlotSettings) -> Self {
        Self {
            inner: Arc::new(Pool {
                shared: Some(Shared {
                    db,
                    system,
                    replica: Uuid::new_v4(),
                    settings,
                    wake: Arc::new(Notify::new()),
                }),
                keys: Mutex::default(),
                call_timeout: settings.call_timeout,
            }),
        }
    }

    /// This replica's id in the slot tables (`None` when local).
    pub fn replica(&self) -> Option<Uuid> {
        self.inner.shared.as_ref().map(|s| s.replica)
    }

    /// The limit of the key whose digest is `key_hash`, `limit` connections for all replicas
    /// together (the first caller's limit counts).
    pub fn key(&self, key_hash: &str, limit: usize) -> Arc<KeyLimit> {
        let mut keys = self.inner.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.entry(key_hash.to_owned())
            .or_insert_with(|| {
                Arc::new(KeyLimit::new(
                    key_hash.to_owned(),
                    limit,
                    self.inner.shared.as_ref().map(|s| s.wake.clone()),
                    self.inner.call_timeout,
                ))
            })
            .clone()
    }

    fn snapshot(&self) -> Vec<Arc<KeyLimit>> {
        let keys = self.inner.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.values().cloned().collect()
    }

    /// Runs the manager until `shutdown` (nothing to run when local), then releases every
    /// slot this replica holds.
    pub fn spawn(self, shutdown: CancellationToken) -> Option<JoinHandle<()>> {
        self.inner.shared.as_ref()?;
        Some(tokio::spawn(async move {
            let Some(shared) = self.inner.shared.as_ref() else {
                return;
            };
            loop {
                if let Err(error) = self.tick().await {
                    tracing::warn!(%error, "cannot renew the connection slots");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = shared.wake.notified() => {
                        // Several callers at once wake one round, not one each.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ = tokio::time::sleep(shared.settings.renew_every) => {}
                }
            }
            for key in self.snapshot() {
                key.semaphore.close();
            }
            let released = slot::Entity::update_many()
                .col_expr(slot::Column::Holder, Expr::value(Option::<Uuid>::None))
                .col_expr(
                    slot::Column::ExpiresAt,
                    Expr::value(Option::<chrono::DateTime<Utc>>::None),
                )
                .filter(slot::Column::System.eq(shared.system.as_str()))
                .filter(slot::Column::Holder.eq(shared.replica))
                .exec(&shared.db)
                .await;
            if let Err(error) = released {
                tracing::warn!(%error, "cannot release the connection slots; they expire by themselves");
            }
        }))
    }

    /// One round of the manager: demand, renew, rebalance, claim (see the module docs).
    pub async fn tick(&self) -> Result<(), DbErr> {
        let Some(s) = self.inner.shared.as_ref() else {
            return Ok(());
        };
        let started = Instant::now();
        let now = Utc::now();
        let ttl =
            chrono::Duration::from_std(s.settings.ttl).unwrap_or(chrono::Duration::minutes(3));
        let fresh = now
            - chrono::Duration::from_std(s.settings.renew_every * 3)
                .unwrap_or(chrono::Duration::seconds(3));
        let sys = s.system.as_str();
        let keys: Vec<Arc<KeyLimit>> = self
            .snapshot()
            .into_iter()
            .filter(|k| k.demand() > 0 || !k.held().is_empty())
            .collect();
        for k in &keys {
            if !k.rows_ready.load(Ordering::Acquire) {
                let rows = (0..k.limit).map(|n| slot::ActiveModel {
                    system: Set(sys.to_owned()),
                    key_hash: Set(k.key_hash.clone()),
                    slot: Set(i32::try_from(n).unwrap_or(i32::MAX)),
                    holder: Set(None),
                    expires_at: Set(None),
                });
                slot::Entity::insert_many(rows)
                    .on_conflict(
                        OnConflict::columns([
                            slot::Column::System,
                            slot::Column::KeyHash,
                            slot::Column::Slot,
                        ])
                        .do_nothing()
                        .to_owned(),
                    )
                    .exec_without_returning(&s.db)
                    .await?;
                k.rows_ready.store(true, Ordering::Release);
            }
        }
        // Demand: every key with demand or slots (a key this replica no longer needs says 0).
        if !keys.is_empty() {
            let rows = keys.iter().map(|k| slot_demand::ActiveModel {
                system: Set(sys.to_owned()),
                key_hash: Set(k.key_hash.clone()),
                replica_id: Set(s.replica),
                wanted: Set(i32::try_from(k.demand().min(k.limit)).unwrap_or(i32::MAX)),
                updated_at: Set(now),
            });
            slot_demand::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        slot_demand::Column::System,
                        slot_demand::Column::KeyHash,
                        slot_demand::Column::ReplicaId,
                    ])
                    .update_columns([slot_demand::Column::Wanted, slot_demand::Column::UpdatedAt])
                    .to_owned(),
                )
                .exec_without_returning(&s.db)
                .await?;
        }
        slot::Entity::update_many()
            .col_expr(slot::Column::ExpiresAt, Expr::value(Some(now + ttl)))
            .filter(slot::Column::System.eq(sys))
            .filter(slot::Column::Holder.eq(s.replica))
            .exec(&s.db)
            .await?;
        let valid_until = started + s.settings.ttl;
        if keys.is_empty() {
            return Ok(());
        }
        let hashes: Vec<String> = keys.iter().map(|k| k.key_hash.clone()).collect();
        let mut slots: HashMap<String, Vec<slot::Model>> = HashMap::new();
        for row in slot::Entity::find()
            .filter(slot::Column::System.eq(sys))
            .filter(slot::Column::KeyHash.is_in(hashes.clone()))
            .all(&s.db)
            .await?
        {
            slots.entry(row.key_hash.clone()).or_default().push(row);
        }
        let mut wants: HashMap<String, Vec<(Uuid, usize)>> = HashMap::new();
        for row in slot_demand::Entity::find()
            .filter(slot_demand::Column::System.eq(sys))
            .filter(slot_demand::Column::KeyHash.is_in(hashes))
            .filter(slot_demand::Column::UpdatedAt.gt(fresh))
            .all(&s.db)
            .await?
        {
            if row.wanted > 0 {
                let wanted = usize::try_from(row.wanted).unwrap_or(0);
                wants
                    .entry(row.key_hash)
                    .or_default()
                    .push((row.replica_id, wanted));
            }
        }
        for k in keys {
            let rows = slots.remove(&k.key_hash).unwrap_or_default();
            let wants = wants.remove(&k.key_hash).unwrap_or_default();
            self.balance(s, &k, &rows, &wants, valid_until).await?;
        }
        Ok(())
    }

    async fn balance(
        &self,
        s: &Shared,
        k: &KeyLimit,
        rows: &[slot::Model],
        wants: &[(Uuid, usize)],
        valid_until: Instant,
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        let live = |r: &slot::Model| r.holder.is_some() && r.expires_at.is_some_and(|t| t > now);
        let mine: HashSet<i32> = rows
            .iter()
            .filter(|r| r.holder == Some(s.replica) && live(r))
            .map(|r| r.slot)
            .collect();
        // Slots this replica lost (it could not renew in time): take their permits out.
        {
            let mut held = k.held();
            let lost: Vec<i32> = held.iter().copied().filter(|n| !mine.contains(n)).collect();
            for n in lost {
                if k.semaphore.forget_permits(1) == 1 {
                    held.retain(|h| *h != n);
                }
            }
        }
        *k.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(valid_until);
        let fair = fair_shares(k.limit, wants);
        let target = fair.get(&s.replica).copied().unwrap_or(0);
        let mut holders: HashMap<Uuid, usize> = HashMap::new();
        for r in rows.iter().filter(|r| live(r)) {
            if let Some(h) = r.holder {
                *holders.entry(h).or_default() += 1;
            }
        }
        let starved = fair
            .iter()
            .any(|(r, f)| *r != s.replica && holders.get(r).copied().unwrap_or(0) < *f);
        // Surplus slots go as their calls end (or at once when unused).
        let held_now = k.held().len();
        let idle = {
            let mut busy_at = k.busy_at.lock().unwrap_or_else(|e| e.into_inner());
            if k.demand() > 0 {
                *busy_at = Instant::now();
            }
            busy_at.elapsed() >= s.settings.idle_release
        };
        let surplus = if idle {
            held_now
        } else if starved {
            held_now.saturating_sub(target)
        } else {
            0
        };
        let already = k.shed.load(Ordering::Acquire) + k.shed_done.load(Ordering::Acquire);
        if surplus > already {
            k.shed.fetch_add(surplus - already, Ordering::AcqRel);
        }
        // Unused permits go at once, one by one (a call ending meanwhile sheds its own).
        while k
            .shed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            if k.semaphore.forget_permits(1) == 1 {
                k.shed_done.fetch_add(1, Ordering::AcqRel);
            } else {
                k.shed.fetch_add(1, Ordering::AcqRel);
                break;
            }
        }
        let freed = k.shed_done.swap(0, Ordering::AcqRel);
        if freed > 0 {
            let give: Vec<i32> = {
                let mut held = k.held();
                let at = held.len().saturating_sub(freed);
                held.split_off(at)
            };
            slot::Entity::update_many()
                .col_expr(slot::Column::Holder, Expr::value(Option::<Uuid>::None))
                .col_expr(
                    slot::Column::ExpiresAt,
                    Expr::value(Option::<chrono::DateTime<Utc>>::None),
                )
                .filter(slot::Column::System.eq(s.system.as_str()))
                .filter(slot::Column::KeyHash.eq(k.key_hash.as_str()))
                .filter(slot::Column::Holder.eq(s.replica))
                .filter(slot::Column::Slot.is_in(give.clone()))
                .exec(&s.db)
                .await?;
            tracing::debug!(
                released = give.len(),
                target,
                "connection slots handed to other replicas"
            );
        }
        let held_now = k.held().len();
        if !starved && !idle {
            // Nobody waits for this replica's surplus: keep what is not handed over yet.
            k.shed.store(0, Ordering::Release);
        }
        if held_now < target {
            let ttl =
                chrono::Duration::from_std(s.settings.ttl).unwrap_or(chrono::Duration::minutes(3));
            let mut need = target - held_now;
            let counted: HashSet<i32> = k.held().iter().copied().collect();
            for r in rows
                .iter()
                .filter(|r| !live(r) && !mine.contains(&r.slot) && !counted.contains(&r.slot))
            {
                if need == 0 {
                    break;
                }
                let taken = slot::Entity::update_many()
                    .col_expr(slot::Column::Holder, Expr::value(Some(s.replica)))
                    .col_expr(slot::Column::ExpiresAt, Expr::value(Some(now + ttl)))
                    .filter(slot::Column::System.eq(s.system.as_str()))
                    .filter(slot::Column::KeyHash.eq(k.key_hash.as_str()))
                    .filter(slot::Column::Slot.eq(r.slot))
                    .filter(
                        slot::Column::Holder
                            .is_null()
                            .or(slot::Column::ExpiresAt.lt(now)),
                    )
                    .exec(&s.db)
                    .await?;
                if taken.rows_affected == 1 {
                    k.held().push(r.slot);
                    k.semaphore.add_permits(1);
                    need -= 1;
                }
            }
        }
        Ok(())
    }
}

/// Splits `limit` among the replicas wanting some (water-filling): nobody gets more than it
/// wants; what the modest leave is split evenly among the rest, the remainder of the division
/// going to the last in (want, replica) order.
pub fn fair_shares(limit: usize, wants: &[(Uuid, usize)]) -> HashMap<Uuid, usize> {
    let mut sorted: Vec<(Uuid, usize)> = wants.iter().copied().filter(|(_, w)| *w > 0).collect();
    sorted.sort_by_key(|(r, w)| (*w, *r));
    let mut left = limit;
    let n = sorted.len();
    let mut out = HashMap::with_capacity(n);
    for (i, (replica, want)) in sorted.into_iter().enumerate() {
        let give = want.min(left / (n - i));
        left -= give;
        out.insert(replica, give);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u128) -> Vec<Uuid> {
        (1..=n).map(Uuid::from_u128).collect()
    }

    #[test]
    fn fair_shares_never_exceed_the_limit_nor_what_is_wanted() {
        let r = ids(3);
        let all = fair_shares(10, &[(r[0], 10), (r[1], 10), (r[2], 10)]);
        assert_eq!(all.values().sum::<usize>(), 10);
        assert!(all.values().all(|v| (3..=4).contains(v)), "{all:?}");
        let modest = fair_shares(10, &[(r[0], 1), (r[1], 10), (r[2], 10)]);
        assert_eq!(modest[&r[0]], 1);
        assert_eq!(modest[&r[1]] + modest[&r[2]], 9);
        let few = fair_shares(10, &[(r[0], 2), (r[1], 3)]);
        assert_eq!((few[&r[0]], few[&r[1]]), (2, 3));
        assert!(fair_shares(10, &[(r[0], 0)]).is_empty());
    }

    #[tokio::test]
    async fn a_local_limit_runs_at_most_limit_calls() {
        let slots = ConnectionSlots::local();
        let key = slots.key("k", 2);
        let a = key.acquire().await.expect("open");
        let _b = key.acquire().await.expect("open");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), key.acquire())
                .await
                .is_err(),
            "a third call waits"
        );
        drop(a);
        assert!(key.acquire().await.is_ok());
        assert_eq!(slots.key("k", 9).limit(), 2, "the first limit counts");
    }
}
