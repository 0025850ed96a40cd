//! The command protocol, written once for every connector: the bus handler of a connector's
//! queue.
//!
//! For each canonical command:
//!
//! 1. a message id the inbox already holds is acknowledged without effect;
//! 2. the envelope is decoded (undecodable: parked with the reason);
//! 3. the integration is looked up: unknown to this connector, the command is parked (an
//!    operator configures the integration and replays it); paused, it waits in the delay
//!    queues (never lost, parked once the retries are used up);
//! 4. the target may defer it ([`Target::defer`]);
//! 5. commands that create records take a lease on their record (`customer:a@b.nl`) so two
//!    deliveries for one new e-mail, SKU or order never both create it, on any replica; the
//!    lease is released after step 7's commit, so the next command on the record sees the
//!    cross-references the first one wrote. The takes (and the releases) of the commands
//!    running at one moment share one statement ([`Leases::take_many`]);
//! 6. the [`Target`] executes it (idempotent API calls, no database transaction held);
//! 7. the outcome is classified: success and permanent failures commit the reply (the
//!    result or `command.failed`), the cross-references and the inbox claim in one
//!    transaction (shared with the commands committing at the same moment:
//!    [`GroupCommit`]) and acknowledge; transient and rate-limited failures are retried through the
//!    delay queues, and on the last attempt the requester is told (`command.failed`,
//!    retryable) and the command parked for a replay, without an inbox claim.
//!
//! Step 1 looks only at retries and redeliveries (a first delivery is rarely a duplicate).
//! A duplicate racing past step 1 repeats only idempotent calls and loses the claim, so it
//! publishes nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferry_proto::messages::{
    CategoryUpsert, CommandFailed, CustomerFind, CustomerUpsert, OrderCreate, OrderFind,
    OrderSetStatus, ProductUpsert, ProductsVerify, StockSet,
};
use ferry_proto::{Envelope, IntegrationId, Message};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};

use super::store::{LeaseRequest, Leases, Xref, Xrefs};
use super::target::{Command, Cx, Lookup, Target};
use crate::bus::group_commit::{Effect, GroupCommit, Rows};
use crate::bus::inbox::Inbox;
use crate::bus::outbox::Outbox;
use crate::bus::{BusMessage, Delivery, Handler, Outcome, RetryPolicy, with_current_trace};
use crate::grouped::Grouped;

/// How long a command waits for another one on the same record; a crashed holder's lease
/// runs out after twice that.
pub const LEASE_WAIT: Duration = Duration::from_secs(30);

/// Lease takes (or releases) sharing one statement at most.
const MAX_LEASE_GROUP: usize = 64;

/// The bus handler executing a connector's commands through its [`Target`].
pub struct Executor<T: Target> {
    target: Arc<T>,
    db: DatabaseConnection,
    inbox: Inbox,
    commits: GroupCommit,
    retry: RetryPolicy,
    xrefs: Xrefs,
    leases: RecordLeases,
}

impl<T: Target> Executor<T> {
    /// An executor committing replies through `outbox`; `retry` must be the subscription's
    /// policy (it tells the last attempt).
    pub fn new(
        target: Arc<T>,
        db: DatabaseConnection,
        inbox: Inbox,
        outbox: Outbox,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            target,
            commits: GroupCommit::spawn(db.clone(), inbox.clone(), outbox),
            leases: RecordLeases::spawn(Leases::new(T::SYSTEM), db.clone()),
            db,
            inbox,
            retry,
            xrefs: Xrefs::new(T::SYSTEM),
        }
    }

    /// The target.
    pub fn target(&self) -> &Arc<T> {
        &self.target
    }

    async fn run<C: Command<T>>(&self, delivery: &Delivery) -> Outcome {
        let system = T::SYSTEM.as_str();
        if may_have_run_before(delivery) {
            match self
                .inbox
                .contains(&self.db, delivery.message.message_id)
                .await
            {
                Ok(true) => return Outcome::Ack,
                Ok(false) => {}
                Err(e) => return Outcome::Retry(format!("inbox lookup failed: {e}")),
            }
        }
        let command = match Envelope::<C>::decode(&delivery.message.body) {
            Ok(e) => e,
            Err(e) => {
                return Outcome::DeadLetter(format!(
                    "connector-{system} cannot decode {} message {}: {e}",
                    C::MESSAGE_TYPE,
                    delivery.message.message_id
                ));
            }
        };
        let id = command.integration_id;
        let integration = match self.target.integration(id) {
            Lookup::Live(i) => i,
            Lookup::Paused => {
                return Outcome::Retry(format!(
                    "integration {id} is not live; {} {} deferred",
                    C::MESSAGE_TYPE,
                    command.message_id
                ));
            }
            Lookup::Unknown => {
                return Outcome::DeadLetter(format!(
                    "integration {id} has no {system} connection in connector-{system} ({} {}); configure it, then replay",
                    C::MESSAGE_TYPE,
                    command.message_id
                ));
            }
        };
        let record = command.payload.record_key().unwrap_or_default();
        if let Some(reason) = self.target.defer(id, C::MESSAGE_TYPE, &record).await {
            return Outcome::Retry(reason);
        }
        let lease = if self.target.serializes(C::MESSAGE_TYPE) {
            let entity = C::MESSAGE_TYPE.split('.').next().unwrap_or_default();
            let key = format!("{entity}:{}", record.to_lowercase());
            match self.leases.take(id, key).await {
                Ok(holder) => Some(holder),
                Err(reason) => return Outcome::Retry(reason),
            }
        } else {
            None
        };
        let outcome = self
            .execute::<C>(delivery, &command, &integration, &record)
            .await;
        // After the commit: a command waiting for the record sees what this one wrote.
        if let Some(holder) = lease {
            self.leases.release(holder).await;
        }
        outcome
    }

    /// Executes `command` and commits (or retries) its outcome.
    async fn execute<C: Command<T>>(
        &self,
        delivery: &Delivery,
        command: &Envelope<C>,
        integration: &Arc<T::Integration>,
        record: &str,
    ) -> Outcome {
        let id = command.integration_id;
        let cx = Cx {
            integration,
            integration_id: id,
            db: &self.db,
            xrefs: self.xrefs,
        };
        let result = C::execute(&self.target, &cx, &command.payload).await;
        let masked = mask(record);
        let (reply, xrefs, claim, outcome) = match result {
            Ok(done) => {
                tracing::info!(integration = %id, command = C::MESSAGE_TYPE, record = %masked, "command executed");
                match encode(command, done.reply) {
                    Ok(reply) => (reply, done.xrefs, true, Outcome::Ack),
                    Err(out) => return out,
                }
            }
            Err(e) if e.is_retryable() && self.retry.may_retry(delivery.attempt) => {
                tracing::warn!(integration = %id, command = C::MESSAGE_TYPE, record = %masked, attempt = delivery.attempt, error = %e, "command failed transiently; retrying");
                return Outcome::Retry(e.to_string());
            }
            Err(e) => {
                let last_try = e.is_retryable();
                let info = e.into_info();
                tracing::warn!(integration = %id, command = C::MESSAGE_TYPE, record = %masked, code = %info.code, retryable = info.retryable, error = %info.message, "command failed");
                let reason = info.message.clone();
                let failed = CommandFailed::for_command(&command.payload, info);
                let reply = match encode(command, failed) {
                    Ok(reply) => reply,
                    Err(out) => return out,
                };
                if last_try {
                    // Tell the requester, park the command for a replay (no claim: a
                    // replay executes it again).
                    (reply, Vec::new(), false, Outcome::DeadLetter(reason))
                } else {
                    (reply, Vec::new(), true, Outcome::Ack)
                }
            }
        };
        let effect = Effect {
            claim: claim.then_some(delivery.message.message_id),
            messages: vec![reply],
            rows: (!xrefs.is_empty()).then(|| {
                Arc::new(XrefRows {
                    xrefs: self.xrefs,
                    rows: xrefs.into_iter().map(|x| (id, x)).collect(),
                }) as Arc<dyn Rows>
            }),
        };
        match self.commits.commit(effect).await {
            Ok(true) => outcome,
            Ok(false) => Outcome::Ack,
            Err(e) => Outcome::Retry(format!(
                "cannot commit the result of {}: {e}",
                C::MESSAGE_TYPE
            )),
        }
    }
}

/// The record leases of an executor, taken and released in groups: the takes (and the
/// releases) of the commands running at one moment share one statement.
#[derive(Clone, Debug)]
struct RecordLeases {
    takes: Grouped<LeaseRequest, Result<bool, String>>,
    releases: Grouped<uuid::Uuid, ()>,
}

impl RecordLeases {
    fn spawn(leases: Leases, db: DatabaseConnection) -> Self {
        let take_db = db.clone();
        let takes = Grouped::spawn(MAX_LEASE_GROUP, move |requests: Vec<LeaseRequest>| {
            let db = take_db.clone();
            async move {
                match leases.take_many(&db, &requests, LEASE_WAIT * 2).await {
                    Ok(taken) => requests
                        .iter()
                        .map(|r| Ok(taken.contains(&r.holder)))
                        .collect(),
                    Err(e) => requests
                        .iter()
                        .map(|_| Err(format!("record lease: {e}")))
                        .collect(),
                }
            }
        });
        let releases = Grouped::spawn(MAX_LEASE_GROUP, move |holders: Vec<uuid::Uuid>| {
            let db = db.clone();
            async move {
                if let Err(e) = leases.release_many(&db, &holders).await {
                    tracing::warn!(error = %e, leases = holders.len(), "releasing record leases failed; they expire by themselves");
                }
                vec![(); holders.len()]
            }
        });
        Self { takes, releases }
    }

    /// Waits for the lease of `key` (up to [`LEASE_WAIT`]); answers its holder id.
    async fn take(&self, integration: IntegrationId, key: String) -> Result<uuid::Uuid, String> {
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        loop {
            let request = LeaseRequest {
                integration,
                key: key.clone(),
                holder: uuid::Uuid::new_v4(),
            };
            let holder = request.holder;
            match self.takes.run(request).await {
                Some(Ok(true)) => return Ok(holder),
                Some(Ok(false)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Some(Ok(false)) => {
                    return Err(format!("record {key} is busy with another command"));
                }
                Some(Err(e)) => return Err(e),
                None => return Err("the record lease task has stopped".to_owned()),
            }
        }
    }

    /// Releases a lease taken with [`Self::take`].
    async fn release(&self, holder: uuid::Uuid) {
        self.releases.run(holder).await;
    }
}

/// Commands' cross-references, written in their group's transaction: those of every command
/// of a group in one statement ([`Rows::merged`]).
struct XrefRows {
    xrefs: Xrefs,
    rows: Vec<(IntegrationId, Xref)>,
}

#[async_trait]
impl Rows for XrefRows {
    async fn write(&self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        let rows: Vec<(IntegrationId, &Xref)> = self.rows.iter().map(|(i, r)| (*i, r)).collect();
        self.xrefs.put_many(txn, &rows).await
    }

    fn merged(&self, next: &dyn Rows) -> Option<Arc<dyn Rows>> {
        let next = (next as &dyn std::any::Any).downcast_ref::<XrefRows>()?;
        (next.xrefs == self.xrefs).then(|| {
            Arc::new(XrefRows {
                xrefs: self.xrefs,
                rows: self.rows.iter().chain(&next.rows).cloned().collect(),
            }) as Arc<dyn Rows>
        })
    }
}

fn encode<C: Message, R: Message>(command: &Envelope<C>, reply: R) -> Result<BusMessage, Outcome> {
    BusMessage::from_envelope(&with_current_trace(Envelope::caused_by(command, reply))).map_err(
        |e| {
            Outcome::DeadLetter(format!(
                "the reply to {} {} cannot be encoded: {e}",
                C::MESSAGE_TYPE,
                command.message_id
            ))
        },
    )
}

/// Whether a delivery may be of a command this connector executed before: a retry or a
/// redelivery after a crash or a lost connection. Only those are looked up in the inbox
/// before executing (a query per command saved on the first, usual, delivery). A copy that
/// arrives as a first delivery although it ran before (published twice by a relay that
/// crashed between publish and delete, or a dead letter replayed twice) repeats only
/// idempotent calls and loses the inbox claim at commit, so it publishes nothing, as a
/// duplicate racing past the lookup always did.
fn may_have_run_before(delivery: &Delivery) -> bool {
    delivery.attempt > 1 || delivery.redelivered
}

/// Masks e-mail addresses in record keys for logs.
fn mask(record: &str) -> String {
    if record.contains('@') {
        ferry_proto::mask_email(record)
    } else {
        record.to_owned()
    }
}

#[async_trait]
impl<T: Target> Handler for Executor<T> {
    #[tracing::instrument(skip_all, fields(system = T::SYSTEM.as_str(), message_type = delivery.message.message_type(), message_id = %delivery.message.message_id, attempt = delivery.attempt))]
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let message_type = delivery.message.message_type();
        let message_type = message_type
            .strip_prefix(T::SYSTEM.as_str())
            .and_then(|t| t.strip_prefix('.'))
            .unwrap_or(message_type)
            .to_owned();
        match message_type.as_str() {
            CustomerUpsert::MESSAGE_TYPE => self.run::<CustomerUpsert>(delivery).await,
            CustomerFind::MESSAGE_TYPE => self.run::<CustomerFind>(delivery).await,
            ProductUpsert::MESSAGE_TYPE => self.run::<ProductUpsert>(delivery).await,
            CategoryUpsert::MESSAGE_TYPE => self.run::<CategoryUpsert>(delivery).await,
            StockSet::MESSAGE_TYPE => self.run::<StockSet>(delivery).await,
            OrderFind::MESSAGE_TYPE => self.run::<OrderFind>(delivery).await,
            OrderCreate::MESSAGE_TYPE => self.run::<OrderCreate>(delivery).await,
            OrderSetStatus::MESSAGE_TYPE => self.run::<OrderSetStatus>(delivery).await,
            ProductsVerify::MESSAGE_TYPE => self.run::<ProductsVerify>(delivery).await,
            other => match self.target.other(delivery).await {
                Some(outcome) => outcome,
                None => Outcome::DeadLetter(format!(
                    "{other} ({}, routing key {}) is not a command connector-{} executes",
                    delivery.message.message_id,
                    delivery.message.routing_key,
                    T::SYSTEM.as_str()
                )),
            },
        }
    }
}
