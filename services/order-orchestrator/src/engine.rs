//! Runs saga transitions against the database: each input locks its saga row, applies the
//! [`Saga`] state machine, takes or releases the customer lock, writes the new state and
//! the timeline, and enqueues the decided commands in the outbox, in one transaction.
//! A reply's inbox claim is part of the same transaction, so a reply has its effect once.
//!
//! Inputs of different sagas share transactions (group commit): one task commits the inputs
//! that arrived while the previous transaction ran (at most `max_concurrent_steps`), with one
//! multi-row inbox claim, one statement locking their saga rows (in id order), each input's
//! transition in order, and one multi-row insert each for the timeline and the outbox
//! ([`crate::batch`]). Idle, a group is one input and commits at once; under load the groups
//! grow and the statements per input fall. An input is answered after its group committed.
//! A group that fails is applied again input by input, so a failing input fails alone.
//! One saga's inputs still come one at a time (its actor waits for the answer), so a group
//! never holds two inputs of one saga.
//!
//! Row locks (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite serialises writers) make the
//! transitions of one saga strictly sequential across replicas, and every input is checked
//! against the state it finds (is the reply for the current step? is the timer due?), so a
//! second replica, a duplicate timer or a late reply has no second effect.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::grouped::{Grouped, each_alone_on_failure};
use ferry_platform::metrics;
use ferry_proto::messages::OrderMapped;
use ferry_proto::{Email, Envelope, ExternalId, IntegrationId, Sku, System};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::batch::Batch;
use crate::config::SagaSettings;
use crate::crash;
use crate::saga::{
    BuildError, CustomerEffect, Effects, OperatorAction, Refused, Reply, Saga, SagaState, Step,
    TimelineEntry, Wait,
};
use crate::store::{self, CorruptRow, event_row, lock_row, resolution_row, saga_row};

/// What drives a saga.
#[derive(Debug, Clone)]
pub enum Input {
    /// An order event: create the saga (or recognise a duplicate) and start it.
    Start(Box<Envelope<OrderMapped>>),
    /// A reply to one of its commands.
    Reply(Box<Reply>),
    /// A timer (step timeout, backoff, re-verification, customer lock poll, queue slot).
    Timer,
    /// The customer lock this saga waits for was released: a timer that makes a customer
    /// lock wait due at once (other waits keep their time).
    CustomerReleased,
    /// An operator's decision; `who` names the admin token.
    Operator {
        /// The action.
        action: OperatorAction,
        /// Who asked.
        who: String,
    },
}

/// What an input did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The saga changed (or was created).
    Changed,
    /// Nothing to do now (a timer that is not due, an input for a finished saga).
    Unchanged,
    /// This message was processed before (inbox) or the order has a saga already.
    Duplicate,
    /// A reply that does not apply to the current step; recorded in the timeline.
    Stale(String),
    /// The operator action is not possible; nothing changed.
    Refused(String),
    /// No such saga.
    NotFound,
}

/// The result of one input.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The saga concerned (for a duplicate order event: the existing saga).
    pub saga_id: Uuid,
    /// What happened.
    pub outcome: Outcome,
    /// The saga's state afterwards.
    pub state: Option<SagaState>,
    /// When its next timer is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Other sagas to wake now (they waited for the customer lock this one released).
    pub wake: Vec<Uuid>,
}

impl Applied {
    fn bare(saga_id: Uuid, outcome: Outcome) -> Self {
        Self {
            saga_id,
            outcome,
            state: None,
            next_attempt_at: None,
            wake: Vec::new(),
        }
    }
}

/// Why an input could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed; trying again later may succeed.
    #[error("saga database error: {0}")]
    Db(#[from] DbErr),
    /// A saga row cannot be read.
    #[error(transparent)]
    Corrupt(#[from] CorruptRow),
    /// A command could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The actor system is shutting down.
    #[error("the saga actors are stopping")]
    Stopping,
}

impl EngineError {
    /// Whether the same input may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Db(_) | Self::Stopping)
    }
}

/// The saga engine of one process.
pub struct Engine {
    db: DatabaseConnection,
    outbox: Outbox,
    inbox: Inbox,
    settings: SagaSettings,
    node: String,
    groups: Grouped<(Uuid, Input), Result<Applied, EngineError>>,
    in_flight: std::sync::Mutex<InFlightEstimate>,
}

/// How long a count of the sagas in flight stands in for a new one while far below the limit.
const IN_FLIGHT_RECOUNT: Duration = Duration::from_secs(1);

/// The sagas in flight as last counted, plus those this process started since.
#[derive(Debug, Default)]
struct InFlightEstimate {
    counted_at: Option<std::time::Instant>,
    counted: u64,
    started_since: u64,
}

impl InFlightEstimate {
    /// The estimate while it is fresh and below half of `max` (surely room: no count needed).
    fn room_without_count(&self, max: u64) -> bool {
        self.counted_at
            .is_some_and(|at| at.elapsed() < IN_FLIGHT_RECOUNT)
            && (self.counted + self.started_since) * 2 < max
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine on `db`, writing commands into `outbox`. `node` names this replica (leases).
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        settings: SagaSettings,
        node: String,
    ) -> Arc<Self> {
        let max = settings.max_concurrent_steps.max(1) as usize;
        Arc::new_cyclic(|engine: &Weak<Self>| {
            let engine = engine.clone();
            let groups = Grouped::spawn(max, move |inputs: Vec<(Uuid, Input)>| {
                let engine = engine.upgrade();
                async move {
                    match engine {
                        Some(engine) => engine.commit_group(&inputs).await,
                        None => inputs.iter().map(|_| Err(EngineError::Stopping)).collect(),
                    }
                }
            });
            Self {
                db,
                outbox,
                inbox: Inbox::new(ferry_platform::bus::queues::ORDER_ORCHESTRATOR),
                settings,
                node,
                groups,
                in_flight: std::sync::Mutex::default(),
            }
        })
    }

    /// The settings.
    pub fn settings(&self) -> &SagaSettings {
        &self.settings
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Whether saga `saga_id` exists (in any state).
    pub async fn saga_exists(&self, saga_id: Uuid) -> Result<bool, EngineError> {
        Ok(saga_row::Entity::find_by_id(saga_id)
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Applies one input to saga `saga_id`: in the transaction of the next group (see the
    /// module), whose commit it waits for.
    #[tracing::instrument(level = "debug", skip(self, input), fields(saga = %saga_id))]
    pub async fn apply(&self, saga_id: Uuid, input: Input) -> Result<Applied, EngineError> {
        self.groups
            .run((saga_id, input))
            .await
            .unwrap_or(Err(EngineError::Stopping))
    }

    /// Commits `inputs` in one transaction; when that fails, each input on its own, so a
    /// failing input fails alone. One result per input, in order.
    async fn commit_group(&self, inputs: &[(Uuid, Input)]) -> Vec<Result<Applied, EngineError>> {
        each_alone_on_failure(inputs, |group| self.apply_group(group)).await
    }

    /// One transaction for `inputs` (of different sagas): the claims of the replies and
    /// order events in one statement, the rows of the sagas concerned locked in one, each
    /// input's transition in order, the timeline rows and commands in one insert each.
    async fn apply_group(&self, inputs: &[(Uuid, Input)]) -> Result<Vec<Applied>, EngineError> {
        let txn = self.db.begin().await?;
        let mut claims: Vec<Uuid> = inputs
            .iter()
            .filter_map(|(_, input)| claim_of(input))
            .collect();
        claims.sort_unstable();
        claims.dedup();
        let mut claimed = self.inbox.claim_many(&txn, &claims).await?;
        // Of two inputs with one message id, the first takes the claim.
        let fresh: Vec<bool> = inputs
            .iter()
            .map(|(_, input)| claim_of(input).is_none_or(|id| claimed.remove(&id)))
            .collect();
        let mut lock: Vec<Uuid> = inputs
            .iter()
            .zip(&fresh)
            .filter(|((_, input), fresh)| **fresh && !matches!(input, Input::Start(_)))
            .map(|((id, _), _)| *id)
            .collect();
        lock.sort_unstable();
        lock.dedup();
        let mut batch = Batch::new(&txn);
        batch.lock_up_front(&lock, !claims.is_empty()).await?;
        let mut applied = Vec::with_capacity(inputs.len());
        let mut points = Vec::new();
        for ((saga_id, input), fresh) in inputs.iter().zip(fresh) {
            let now = Utc::now();
            let (one, point) = if !fresh {
                (Applied::bare(*saga_id, Outcome::Duplicate), None)
            } else if let Input::Start(envelope) = input {
                self.intake(&mut batch, *saga_id, envelope, now).await?
            } else {
                self.transition(&mut batch, *saga_id, input, now).await?
            };
            applied.push(one);
            points.extend(point);
        }
        let wake = batch.flush(&self.outbox).await?;
        for point in &points {
            crash::reached(&format!("before_commit:{point}"));
        }
        txn.commit().await?;
        for point in &points {
            crash::reached(&format!("after_commit:{point}"));
        }
        if wake {
            self.outbox.wake();
        }
        Ok(applied)
    }

    /// Applies a reply, timer, wake-up or operator action to saga `saga_id` inside `batch`.
    /// Returns what it did and its crash point.
    async fn transition(
        &self,
        batch: &mut Batch<'_>,
        saga_id: Uuid,
        input: &Input,
        now: DateTime<Utc>,
    ) -> Result<(Applied, Option<String>), EngineError> {
        let Some(row) = batch.lock(saga_id).await? else {
            return Ok((Applied::bare(saga_id, Outcome::NotFound), None));
        };
        let mut saga = store::saga_from_row(&row)?;
        let held_lock = saga.needs_customer_lock();
        let state_before = saga.state;
        let released = matches!(input, Input::CustomerReleased);
        let unchanged = |saga: &Saga, outcome| {
            let applied = Applied {
                state: Some(saga.state),
                next_attempt_at: saga.next_attempt_at,
                ..Applied::bare(saga_id, outcome)
            };
            Ok((applied, None))
        };

        let mut fx = match input {
            Input::Start(_) => Effects::default(),
            Input::Reply(reply) => {
                let step = saga.step;
                let first_command = saga.step_commands.first().copied();
                match saga.on_reply(reply, now, &self.settings)? {
                    Ok(fx) => {
                        if let Some(sent) = first_command.and_then(sent_at) {
                            let elapsed = (now - sent).to_std().unwrap_or_default();
                            metrics::global().saga_step(step.as_str(), elapsed);
                        }
                        fx
                    }
                    Err(Refused::StaleReply(why) | Refused::NotAllowed(why)) => {
                        tracing::debug!(saga = %saga_id, reply = %reply.message_id, %why, "stale reply ignored");
                        let entry = TimelineEntry {
                            kind: "reply_ignored",
                            step: saga.step,
                            message_id: Some(reply.message_id),
                            message_type: Some(reply.payload.message_type().to_owned()),
                            detail: json!({ "reason": why, "reply": reply.payload.summary() }),
                        };
                        batch.timeline([event_to_row(saga_id, &entry, now)]);
                        return unchanged(&saga, Outcome::Stale(why));
                    }
                }
            }
            Input::Timer | Input::CustomerReleased => {
                let lock_wait = saga.state == SagaState::Running && saga.wait == Wait::CustomerLock;
                if lock_wait && released {
                    saga.next_attempt_at = Some(now);
                }
                if !saga.is_due(now)
                    || (saga.state.is_terminal() || saga.state == SagaState::Failed)
                {
                    return unchanged(&saga, Outcome::Unchanged);
                }
                if lock_wait {
                    Effects::default()
                } else {
                    saga.on_timer(now, &self.settings)?
                }
            }
            Input::Operator { action, who } => {
                match saga.on_operator(*action, who, now, &self.settings)? {
                    Ok(fx) => {
                        tracing::info!(saga = %saga_id, by = %who, action = action.as_str(), "operator action on saga");
                        fx
                    }
                    // Nothing written for it (an operator action has no claim).
                    Err(Refused::NotAllowed(why) | Refused::StaleReply(why)) => {
                        return unchanged(&saga, Outcome::Refused(why));
                    }
                }
            }
        };

        // The customer steps run under the customer's lock, unless the same customer data
        // was resolved recently.
        let mut release = held_lock;
        if saga.state == SagaState::Running && saga.wait == Wait::CustomerLock && saga.is_due(now) {
            release |= self.customer_steps(batch, &mut saga, now, &mut fx).await?;
        }
        let mut wake = Vec::new();
        if (release || saga.state.is_terminal() || saga.state == SagaState::Failed)
            && !saga.needs_customer_lock()
        {
            wake = self.release_customer_lock(batch, &saga).await?;
        }

        let point = crash_point(&saga, state_before, &fx);
        self.persist(batch, &saga, fx, now, Write::over(&row))
            .await?;
        log_transition(&saga, state_before);
        let applied = Applied {
            saga_id,
            outcome: Outcome::Changed,
            state: Some(saga.state),
            next_attempt_at: saga.next_attempt_at,
            wake,
        };
        Ok((applied, point))
    }

    /// Creates the saga of an order event inside `batch` (or recognises a duplicate, an echo,
    /// or a status change of an order that has a saga).
    async fn intake(
        &self,
        batch: &mut Batch<'_>,
        saga_id: Uuid,
        envelope: &Envelope<OrderMapped>,
        now: DateTime<Utc>,
    ) -> Result<(Applied, Option<String>), EngineError> {
        let txn = batch.txn();
        let mut saga = Saga::new(saga_id, envelope);
        // The order Ferry itself wrote into the source (a completed saga of the same order
        // towards the other system) comes back as an observed order: it exists in this target
        // already, where it came from. Ended here, without a round trip to ask.
        // Only an open order is an echo: a cancellation or refund of it comes from a change
        // made in that system, and is carried (the connectors ignore one made by Ferry).
        let origin = if !saga.status().is_open() {
            None
        } else {
            let stored = saga_row::Entity::find()
                .filter(saga_row::Column::IntegrationId.eq(saga.integration_id.as_uuid()))
                .filter(saga_row::Column::ExternalId.eq(saga.external_id.as_str()))
                .filter(saga_row::Column::Target.ne(saga.target.as_str()))
                .filter(saga_row::Column::State.eq(SagaState::Completed.as_str()))
                .one(txn)
                .await?;
            // Sagas this group changed are not in the database yet: as they are now.
            let completed = |other: &Saga| other.state == SagaState::Completed;
            stored
                .filter(|row| batch.changed_saga(row.id).is_none_or(completed))
                .map(|row| (row.id, row.target_order_id))
                .or_else(|| {
                    batch
                        .changed()
                        .find(|other| {
                            completed(other)
                                && other.integration_id == saga.integration_id
                                && other.external_id == saga.external_id
                                && other.target != saga.target
                        })
                        .map(|other| {
                            (
                                other.id,
                                other.target_order_id.as_ref().map(ToString::to_string),
                            )
                        })
                })
        };
        if let Some((origin, origin_order)) = origin {
            let mut fx = Effects::default();
            fx.timeline.push(TimelineEntry {
                kind: "received",
                step: Step::FindOrder,
                message_id: Some(envelope.message_id.as_uuid()),
                message_type: Some(envelope.message_type.clone()),
                detail: json!({ "external_id": saga.external_id, "target": saga.target }),
            });
            fx.timeline
                .extend(saga.skip_echo(origin, origin_order).timeline);
            if self.persist(batch, &saga, fx, now, Write::Insert).await? {
                tracing::info!(saga = %saga_id, origin = %origin, order = %saga.external_id, target = %saga.target, "echo of an order Ferry wrote; skipped");
                let applied = Applied {
                    saga_id,
                    outcome: Outcome::Changed,
                    state: Some(saga.state),
                    next_attempt_at: None,
                    wake: Vec::new(),
                };
                return Ok((applied, None));
            }
            // The order has a saga already: handled below as a duplicate event.
            saga = Saga::new(saga_id, envelope);
        }
        let in_flight = self.in_flight(txn).await?;
        let mut fx = Effects::default();
        fx.timeline.push(TimelineEntry {
            kind: "received",
            step: Step::FindOrder,
            message_id: Some(envelope.message_id.as_uuid()),
            message_type: Some(envelope.message_type.clone()),
            detail: json!({ "external_id": saga.external_id, "target": saga.target }),
        });
        if in_flight < u64::from(self.settings.max_in_flight) {
            let started = saga.start(now, &self.settings)?;
            fx.messages.extend(started.messages);
            fx.timeline.extend(started.timeline);
        } else {
            fx.timeline.push(TimelineEntry {
                kind: "queued",
                step: Step::FindOrder,
                message_id: None,
                message_type: None,
                detail: json!({ "in_flight": in_flight, "max_in_flight": self.settings.max_in_flight }),
            });
        }
        let point = crash_point(&saga, SagaState::Queued, &fx);
        if !self.persist(batch, &saga, fx, now, Write::Insert).await? {
            // Another event of the same order: its saga exists already.
            let existing = saga_row::Entity::find()
                .filter(saga_row::Column::IntegrationId.eq(saga.integration_id.as_uuid()))
                .filter(saga_row::Column::Target.eq(saga.target.as_str()))
                .filter(saga_row::Column::ExternalId.eq(saga.external_id.as_str()))
                .one(txn)
                .await?;
            let Some(existing) = existing else {
                return Err(EngineError::Db(DbErr::Custom(format!(
                    "order {} conflicted with a saga that does not exist",
                    saga.external_id
                ))));
            };
            if let Some(applied) = self.carry_status(batch, existing.id, envelope, now).await? {
                return Ok((applied, None));
            }
            let step = match batch.changed_saga(existing.id) {
                Some(changed) => changed.step,
                None => Step::parse(&existing.step).unwrap_or(Step::FindOrder),
            };
            let entry = TimelineEntry {
                kind: "duplicate_order_event",
                step,
                message_id: Some(envelope.message_id.as_uuid()),
                message_type: Some(envelope.message_type.clone()),
                detail: json!({ "reason": "this order has a saga already; the event was ignored" }),
            };
            batch.timeline([event_to_row(existing.id, &entry, now)]);
            tracing::info!(saga = %existing.id, order = %saga.external_id, "duplicate order event ignored");
            return Ok((Applied::bare(existing.id, Outcome::Duplicate), None));
        }
        tracing::info!(saga = %saga_id, integration = %saga.integration_id, order = %saga.external_id, target = %saga.target, state = saga.state.as_str(), "order saga created");
        let applied = Applied {
            saga_id,
            outcome: Outcome::Changed,
            state: Some(saga.state),
            next_attempt_at: saga.next_attempt_at,
            wake: Vec::new(),
        };
        Ok((applied, point))
    }

    /// The sagas in flight, for the intake's `max_in_flight` bound. Counted in the database
    /// unless a count less than [`IN_FLIGHT_RECOUNT`] old, plus the sagas started here since,
    /// is below half the bound: a burst then costs one count a second, not one per order.
    /// The bound is soft across replicas (each counts the others' starts at its next count);
    /// near it, every intake counts.
    async fn in_flight(&self, txn: &DatabaseTransaction) -> Result<u64, EngineError> {
        let max = u64::from(self.settings.max_in_flight);
        if let Ok(mut estimate) = self.in_flight.lock()
            && estimate.room_without_count(max)
        {
            estimate.started_since += 1;
            return Ok(estimate.counted + estimate.started_since - 1);
        }
        let counted = saga_row::Entity::find()
            .filter(saga_row::Column::State.is_in([
                SagaState::Running.as_str(),
                SagaState::WaitingProducts.as_str(),
            ]))
            .count(txn)
            .await?;
        if let Ok(mut estimate) = self.in_flight.lock() {
            *estimate = InFlightEstimate {
                counted_at: Some(std::time::Instant::now()),
                counted,
                started_since: 1,
            };
        }
        Ok(counted)
    }

    /// A later event of the order of saga `saga_id` with a new lifecycle status
    /// ([`Saga::carry_status`]); `None` when it carries nothing new (a duplicate).
    async fn carry_status(
        &self,
        batch: &mut Batch<'_>,
        saga_id: Uuid,
        envelope: &Envelope<OrderMapped>,
        now: DateTime<Utc>,
    ) -> Result<Option<Applied>, EngineError> {
        let status = envelope.payload.order.order().status;
        if status.is_open() {
            return Ok(None);
        }
        let Some(row) = batch.lock(saga_id).await? else {
            return Ok(None);
        };
        let mut saga = store::saga_from_row(&row)?;
        let state_before = saga.state;
        let Some(fx) =
            saga.carry_status(status, envelope.message_id.as_uuid(), now, &self.settings)?
        else {
            return Ok(None);
        };
        self.persist(batch, &saga, fx, now, Write::over(&row))
            .await?;
        log_transition(&saga, state_before);
        tracing::info!(saga = %saga_id, order = %saga.external_id, target = %saga.target, %status, "order status change taken into its saga");
        Ok(Some(Applied {
            saga_id,
            outcome: Outcome::Changed,
            state: Some(saga.state),
            next_attempt_at: saga.next_attempt_at,
            wake: Vec::new(),
        }))
    }

    /// Writes the saga (inserts a new one now: returns false when the order had a saga
    /// already, and writes nothing; hands a changed one to `batch`, which writes the sagas
    /// of the whole group at its end) and its customer resolution; hands its timeline
    /// entries and its messages to `batch` too.
    async fn persist(
        &self,
        batch: &mut Batch<'_>,
        saga: &Saga,
        fx: Effects,
        now: DateTime<Utc>,
        write: Write,
    ) -> Result<bool, EngineError> {
        let txn = batch.txn();
        let mut row = store::saga_to_active(saga, now)?;
        row.lease_owner = Set(Some(self.node.clone()));
        row.lease_until = Set(Some(now + chrono_of(self.settings.lease())));
        if let Write::Update { created_at } = write {
            row.created_at = Set(created_at);
            batch.update(saga, row)?;
        } else {
            row.created_at = Set(now);
            let inserted = saga_row::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        saga_row::Column::IntegrationId,
                        saga_row::Column::Target,
                        saga_row::Column::ExternalId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
            if inserted == 0 {
                return Ok(false);
            }
        }
        if let Some(effect) = &fx.customer {
            self.record_customer(txn, saga, effect, now).await?;
        }
        batch.timeline(
            fx.timeline
                .iter()
                .map(|entry| event_to_row(saga.id, entry, now)),
        );
        batch.messages(fx.messages);
        Ok(true)
    }

    /// Moves a saga whose customer lock wait is due: reuses a recent resolution of the same
    /// customer data, or takes the lock and sends `customer.find`, or waits. Returns whether
    /// it took the lock only to find a resolution recorded meanwhile (the lock is to be
    /// released again).
    async fn customer_steps(
        &self,
        batch: &Batch<'_>,
        saga: &mut Saga,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<bool, EngineError> {
        let txn = batch.txn();
        if let Some((customer_id, resolved_at)) = self.reusable_customer(txn, saga, now).await? {
            fx.absorb(saga.customer_reused(customer_id, resolved_at, now, &self.settings)?);
            return Ok(false);
        }
        if !self.try_customer_lock(batch, saga, now).await? {
            if saga.customer_lock_busy(now, &self.settings) {
                fx.timeline.push(TimelineEntry {
                    kind: "waiting_for_customer",
                    step: saga.step,
                    message_id: None,
                    message_type: None,
                    detail: json!({
                        "reason": "another order of the same customer is creating or updating it"
                    }),
                });
            }
            return Ok(false);
        }
        // On PostgreSQL the lock insert may have waited for a holder releasing the lock at
        // the same time; the resolution that holder recorded is visible now. (SQLite has one
        // writer at a time: nothing was committed since the first look.)
        if txn.get_database_backend() != DatabaseBackend::Sqlite
            && let Some((customer_id, resolved_at)) = self.reusable_customer(txn, saga, now).await?
        {
            fx.absorb(saga.customer_reused(customer_id, resolved_at, now, &self.settings)?);
            return Ok(true);
        }
        fx.absorb(saga.customer_lock_acquired(now, &self.settings)?);
        Ok(false)
    }

    /// The customer id and resolution time of a fresh resolution of `saga`'s customer made
    /// with the same customer data, when reuse is on and the saga may reuse.
    async fn reusable_customer(
        &self,
        txn: &DatabaseTransaction,
        saga: &Saga,
        now: DateTime<Utc>,
    ) -> Result<Option<(ExternalId, DateTime<Utc>)>, EngineError> {
        let Some(window) = self.settings.customer_reuse() else {
            return Ok(None);
        };
        let (Some(key), Some(hash)) = (customer_key(saga), saga.customer_payload_hash()) else {
            return Ok(None);
        };
        if !saga.may_reuse_customer() {
            return Ok(None);
        }
        let Some(row) = resolution_row::Entity::find_by_id(key).one(txn).await? else {
            return Ok(None);
        };
        if row.payload_hash != hash || row.resolved_at <= now - window {
            return Ok(None);
        }
        match ExternalId::parse(&row.target_customer_id) {
            Ok(id) => Ok(Some((id, row.resolved_at))),
            Err(error) => {
                tracing::warn!(saga = %saga.id, %error, "unreadable customer resolution ignored");
                Ok(None)
            }
        }
    }

    /// Records (or forgets) a customer resolution of `saga`'s customer.
    async fn record_customer(
        &self,
        txn: &DatabaseTransaction,
        saga: &Saga,
        effect: &CustomerEffect,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let Some((integration_id, target, customer_key)) = customer_key(saga) else {
            return Ok(());
        };
        match effect {
            CustomerEffect::Resolved {
                customer_id,
                payload_hash,
            } => {
                if self.settings.customer_reuse().is_none() {
                    return Ok(());
                }
                let row = resolution_row::ActiveModel {
                    integration_id: Set(integration_id),
                    target: Set(target),
                    customer_key: Set(customer_key),
                    target_customer_id: Set(customer_id.to_string()),
                    payload_hash: Set(payload_hash.clone()),
                    saga_id: Set(saga.id),
                    resolved_at: Set(now),
                };
                resolution_row::Entity::insert(row)
                    .on_conflict(
                        OnConflict::columns([
                            resolution_row::Column::IntegrationId,
                            resolution_row::Column::Target,
                            resolution_row::Column::CustomerKey,
                        ])
                        .update_columns([
                            resolution_row::Column::TargetCustomerId,
                            resolution_row::Column::PayloadHash,
                            resolution_row::Column::SagaId,
                            resolution_row::Column::ResolvedAt,
                        ])
                        .to_owned(),
                    )
                    .exec_without_returning(txn)
                    .await?;
            }
            CustomerEffect::Invalidated { customer_id } => {
                let forgotten = resolution_row::Entity::delete_many()
                    .filter(resolution_row::Column::IntegrationId.eq(integration_id))
                    .filter(resolution_row::Column::Target.eq(target))
                    .filter(resolution_row::Column::CustomerKey.eq(customer_key))
                    .filter(resolution_row::Column::TargetCustomerId.eq(customer_id.as_str()))
                    .exec(txn)
                    .await?;
                tracing::info!(
                    saga = %saga.id, integration = %saga.integration_id, order = %saga.external_id,
                    forgotten = forgotten.rows_affected,
                    "order refused on a reused customer; the customer is resolved again"
                );
            }
        }
        Ok(())
    }

    /// Takes the customer lock for `saga` (re-entrant; a lock left by a saga that no longer
    /// needs it is taken over). Returns whether it is held now.
    async fn try_customer_lock(
        &self,
        batch: &Batch<'_>,
        saga: &Saga,
        now: DateTime<Utc>,
    ) -> Result<bool, EngineError> {
        let txn = batch.txn();
        let Some(key) = customer_key(saga) else {
            return Ok(true);
        };
        // Released between the insert and the read: its holder's wake-up list was taken
        // before this saga waited (a wake-up it would miss until its next lock poll), so the
        // free lock is tried again at once.
        let mut attempts = 0;
        let lock = loop {
            let inserted = lock_row::Entity::insert(lock_row::ActiveModel {
                integration_id: Set(key.0),
                target: Set(key.1.clone()),
                customer_key: Set(key.2.clone()),
                saga_id: Set(saga.id),
                acquired_at: Set(now),
            })
            .on_conflict(
                OnConflict::columns([
                    lock_row::Column::IntegrationId,
                    lock_row::Column::Target,
                    lock_row::Column::CustomerKey,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
            if inserted == 1 {
                return Ok(true);
            }
            // On PostgreSQL the read waits for a holder releasing it right now (its delete
            // uncommitted): then either its wake-up list sees this saga waiting, or this
            // read sees the lock gone and the loop takes it.
            let mut read = lock_row::Entity::find_by_id(key.clone());
            if txn.get_database_backend() == DatabaseBackend::Postgres {
                read = read.lock_exclusive();
            }
            match read.one(txn).await? {
                Some(lock) => break lock,
                None if attempts < 3 => attempts += 1,
                None => return Ok(false), // the next poll takes it
            }
        };
        if lock.saga_id == saga.id {
            return Ok(true);
        }
        // A holder that no longer needs the lock (it cannot happen through the engine, but
        // a lock must never be lost forever) is replaced.
        let holder_needs = if let Some(holder) = batch.changed_saga(lock.saga_id) {
            holder.needs_customer_lock()
        } else {
            let holder = saga_row::Entity::find_by_id(lock.saga_id).one(txn).await?;
            match holder.as_ref().map(store::saga_from_row) {
                Some(Ok(h)) => h.needs_customer_lock(),
                Some(Err(_)) | None => false,
            }
        };
        if holder_needs {
            return Ok(false);
        }
        tracing::warn!(saga = %saga.id, stale_holder = %lock.saga_id, "customer lock taken over from a saga that no longer needs it");
        lock_row::Entity::update_many()
            .col_expr(lock_row::Column::SagaId, Expr::value(saga.id))
            .col_expr(lock_row::Column::AcquiredAt, Expr::value(now))
            .filter(lock_row::Column::IntegrationId.eq(key.0))
            .filter(lock_row::Column::Target.eq(key.1))
            .filter(lock_row::Column::CustomerKey.eq(key.2))
            .filter(lock_row::Column::SagaId.eq(lock.saga_id))
            .exec(txn)
            .await?;
        Ok(true)
    }

    /// Releases `saga`'s customer lock (if held); returns the sagas waiting for it.
    async fn release_customer_lock(
        &self,
        batch: &Batch<'_>,
        saga: &Saga,
    ) -> Result<Vec<Uuid>, EngineError> {
        let txn = batch.txn();
        let Some(email) = saga.customer_email() else {
            return Ok(Vec::new());
        };
        let released = lock_row::Entity::delete_many()
            .filter(lock_row::Column::SagaId.eq(saga.id))
            .exec(txn)
            .await?;
        if released.rows_affected == 0 {
            return Ok(Vec::new());
        }
        let mut waiting =
            store::waiting_for_customer(saga.integration_id, saga.target, email.as_str(), saga.id)
                .into_tuple::<Uuid>()
                .all(txn)
                .await?;
        // Sagas this group changed are not in the database yet: as they are now.
        for other in batch.changed().filter(|other| other.id != saga.id) {
            let waits = other.integration_id == saga.integration_id
                && other.target == saga.target
                && other.customer_email().map(Email::as_str) == Some(email.as_str())
                && other.state == SagaState::Running
                && other.wait == Wait::CustomerLock;
            let listed = waiting.contains(&other.id);
            if waits && !listed {
                waiting.push(other.id);
            } else if !waits && listed {
                waiting.retain(|id| *id != other.id);
            }
        }
        // The waiters are woken by the caller after commit (their actors, in this process);
        // other replicas see them at their next lock poll. Updating their rows here would
        // take their row locks while holding this one: a deadlock with a waiter that holds
        // its own row and waits for the lock row being deleted.
        Ok(waiting)
    }

    /// A product appeared in the target: sagas waiting for it become due now. Returns them.
    pub async fn products_appeared(
        &self,
        integration: IntegrationId,
        target: System,
        sku: &Sku,
    ) -> Result<Vec<Uuid>, EngineError> {
        let parked = saga_row::Entity::find()
            .select_only()
            .column(saga_row::Column::Id)
            .column(saga_row::Column::MissingSkus)
            .filter(saga_row::Column::IntegrationId.eq(integration.as_uuid()))
            .filter(saga_row::Column::Target.eq(target.as_str()))
            .filter(saga_row::Column::State.eq(SagaState::WaitingProducts.as_str()))
            .into_tuple::<(Uuid, serde_json::Value)>()
            .all(&self.db)
            .await?;
        let ids: Vec<Uuid> = parked
            .into_iter()
            .filter(|(_, missing)| {
                serde_json::from_value::<Vec<Sku>>(missing.clone()).is_ok_and(|m| m.contains(sku))
            })
            .map(|(id, _)| id)
            .collect();
        if !ids.is_empty() {
            saga_row::Entity::update_many()
                .col_expr(
                    saga_row::Column::NextAttemptAt,
                    Expr::value(Some(Utc::now())),
                )
                .filter(saga_row::Column::Id.is_in(ids.clone()))
                .filter(saga_row::Column::State.eq(SagaState::WaitingProducts.as_str()))
                .filter(saga_row::Column::Wait.eq(Wait::Retry.as_str()))
                .exec(&self.db)
                .await?;
            tracing::info!(sagas = ids.len(), sku = %sku, "a missing product appeared; parked sagas re-verify now");
        }
        Ok(ids)
    }

    /// Claims up to `limit` sagas whose timers are due and whose lease is free (or ours), for
    /// this replica; returns their ids. Queued sagas are promoted while slots are free.
    pub async fn claim_due(&self, limit: u64) -> Result<Vec<Uuid>, EngineError> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        // Promote queued sagas into free slots (oldest first).
        let queued = saga_row::Entity::find()
            .filter(saga_row::Column::State.eq(SagaState::Queued.as_str()))
            .filter(saga_row::Column::NextAttemptAt.is_null())
            .count(&txn)
            .await?;
        if queued > 0 {
            let in_flight = saga_row::Entity::find()
                .filter(saga_row::Column::State.is_in([
                    SagaState::Running.as_str(),
                    SagaState::WaitingProducts.as_str(),
                ]))
                .count(&txn)
                .await?;
            let free = u64::from(self.settings.max_in_flight).saturating_sub(in_flight);
            if free > 0 {
                let ids: Vec<Uuid> = saga_row::Entity::find()
                    .select_only()
                    .column(saga_row::Column::Id)
                    .filter(saga_row::Column::State.eq(SagaState::Queued.as_str()))
                    .filter(saga_row::Column::NextAttemptAt.is_null())
                    .order_by_asc(saga_row::Column::CreatedAt)
                    .limit(free.min(limit))
                    .into_tuple::<Uuid>()
                    .all(&txn)
                    .await?;
                saga_row::Entity::update_many()
                    .col_expr(saga_row::Column::NextAttemptAt, Expr::value(Some(now)))
                    .filter(saga_row::Column::Id.is_in(ids))
                    .exec(&txn)
                    .await?;
            }
        }
        let mut query = saga_row::Entity::find()
            .select_only()
            .column(saga_row::Column::Id)
            .filter(saga_row::Column::State.is_in([
                SagaState::Queued.as_str(),
                SagaState::Running.as_str(),
                SagaState::WaitingProducts.as_str(),
            ]))
            .filter(saga_row::Column::NextAttemptAt.lte(now))
            .filter(
                sea_orm::Condition::any()
                    .add(saga_row::Column::LeaseUntil.is_null())
                    .add(saga_row::Column::LeaseUntil.lt(now))
                    .add(saga_row::Column::LeaseOwner.eq(self.node.as_str())),
            )
            .order_by_asc(saga_row::Column::NextAttemptAt)
            .limit(limit);
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let ids: Vec<Uuid> = query.into_tuple::<Uuid>().all(&txn).await?;
        if !ids.is_empty() {
            saga_row::Entity::update_many()
                .col_expr(
                    saga_row::Column::LeaseOwner,
                    Expr::value(Some(self.node.clone())),
                )
                .col_expr(
                    saga_row::Column::LeaseUntil,
                    Expr::value(Some(now + chrono_of(self.settings.lease()))),
                )
                .filter(saga_row::Column::Id.is_in(ids.clone()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(ids)
    }

    /// Deletes finished sagas (and their timelines) older than the retention, failed sagas
    /// not changed within `failed_retention_days`, and customer resolutions too old to be
    /// reused.
    pub async fn purge_finished(&self) -> Result<u64, EngineError> {
        let stale = Utc::now() - self.settings.customer_reuse().unwrap_or_default();
        resolution_row::Entity::delete_many()
            .filter(resolution_row::Column::ResolvedAt.lt(stale))
            .exec(&self.db)
            .await?;
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(self.settings.retention_days));
        let failed_cutoff =
            Utc::now() - chrono::Duration::days(i64::from(self.settings.failed_retention_days));
        let old: Vec<Uuid> = saga_row::Entity::find()
            .select_only()
            .column(saga_row::Column::Id)
            .filter(
                sea_orm::Condition::any()
                    .add(saga_row::Column::FinishedAt.lt(cutoff))
                    .add(
                        sea_orm::Condition::all()
                            .add(saga_row::Column::State.eq(SagaState::Failed.as_str()))
                            .add(saga_row::Column::UpdatedAt.lt(failed_cutoff)),
                    ),
            )
            .limit(1000)
            .into_tuple::<Uuid>()
            .all(&self.db)
            .await?;
        if old.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin().await?;
        event_row::Entity::delete_many()
            .filter(event_row::Column::SagaId.is_in(old.clone()))
            .exec(&txn)
            .await?;
        let deleted = saga_row::Entity::delete_many()
            .filter(saga_row::Column::Id.is_in(old))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(deleted.rows_affected)
    }
}

/// How [`Engine::persist`] writes a saga.
#[derive(Debug, Clone, Copy)]
enum Write {
    /// A new saga, unless its order has one.
    Insert,
    /// A saga whose row this transaction locked, created at `created_at`.
    Update { created_at: DateTime<Utc> },
}

impl Write {
    /// An update of the saga read (and locked) as `row`.
    fn over(row: &saga_row::Model) -> Self {
        Self::Update {
            created_at: row.created_at,
        }
    }
}

/// The message id an input claims in the inbox: replies and order events.
fn claim_of(input: &Input) -> Option<Uuid> {
    match input {
        Input::Start(envelope) => Some(envelope.message_id.as_uuid()),
        Input::Reply(reply) => Some(reply.message_id),
        Input::Timer | Input::CustomerReleased | Input::Operator { .. } => None,
    }
}

/// The key of `saga`'s customer lock and resolution: integration, target, normalised e-mail.
fn customer_key(saga: &Saga) -> Option<(Uuid, String, String)> {
    let email = saga.customer_email()?;
    Some((
        saga.integration_id.as_uuid(),
        saga.target.as_str().to_owned(),
        email.as_str().to_owned(),
    ))
}

fn event_to_row(
    saga_id: Uuid,
    entry: &TimelineEntry,
    now: DateTime<Utc>,
) -> event_row::ActiveModel {
    store::event_to_active(saga_id, entry, now)
}

/// The crash point of a transition: named after the command it sends, or `completed`.
fn crash_point(saga: &Saga, before: SagaState, fx: &Effects) -> Option<String> {
    if !crash::armed() {
        return None;
    }
    if saga.state == SagaState::Completed && before != SagaState::Completed {
        return Some("completed".to_owned());
    }
    fx.messages
        .iter()
        .map(|m| m.message_type().to_owned())
        .find(|t| Step::of_command(t).is_some())
}

/// When a command was sent, from its UUID v7 id.
fn sent_at(command_id: Uuid) -> Option<DateTime<Utc>> {
    let (secs, nanos) = command_id.get_timestamp()?.to_unix();
    DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn log_transition(saga: &Saga, before: SagaState) {
    if saga.state == before {
        return;
    }
    match saga.state {
        SagaState::Failed => tracing::warn!(
            saga = %saga.id, integration = %saga.integration_id, order = %saga.external_id,
            step = saga.step.as_str(), outcome = saga.outcome.as_deref().unwrap_or(""),
            "order saga failed; parked for an operator"
        ),
        SagaState::WaitingProducts => tracing::warn!(
            saga = %saga.id, integration = %saga.integration_id, order = %saga.external_id,
            missing = saga.missing_skus.len(), "order saga parked: products missing in the target"
        ),
        state => tracing::info!(
            saga = %saga.id, integration = %saga.integration_id, order = %saga.external_id,
            state = state.as_str(), "order saga state changed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_flight_count_is_skipped_only_when_fresh_and_far_below_the_bound() {
        let never = InFlightEstimate::default();
        assert!(!never.room_without_count(1000), "never counted");
        let fresh = |counted, started_since| InFlightEstimate {
            counted_at: Some(std::time::Instant::now()),
            counted,
            started_since,
        };
        assert!(fresh(10, 5).room_without_count(1000));
        assert!(!fresh(400, 100).room_without_count(1000), "half the bound");
        assert!(fresh(0, 0).room_without_count(2));
        assert!(!fresh(0, 1).room_without_count(2), "near a small bound");
        let stale = InFlightEstimate {
            counted_at: std::time::Instant::now().checked_sub(IN_FLIGHT_RECOUNT * 2),
            counted: 0,
            started_since: 0,
        };
        assert!(!stale.room_without_count(1000), "older than the recount");
    }
}
