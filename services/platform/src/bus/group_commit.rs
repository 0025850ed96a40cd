//! Group commit: the inbox claims and outbox messages of many deliveries in one transaction.
//!
//! A consumer whose effect is "claim the message, write a few rows, publish what it decided"
//! (the mapper, a connector's command replies) hands that effect to a [`GroupCommit`] instead
//! of running a transaction of its own. One task commits what the handlers handed in while
//! the previous transaction ran: one `BEGIN`, one multi-row inbox claim
//! ([`Inbox::claim_many`]), the extra rows, one multi-row outbox insert and one `COMMIT` for
//! the whole group. Idle, a group is one effect and commits at once (no added latency); under
//! load the groups grow by themselves and the statements per delivery fall. Rows of one kind
//! merge ([`Rows::merged`]): the cross-references of a group's commands are one insert.
//!
//! The semantics are those of the per-delivery transaction (see [`crate::bus::inbox`]):
//! - an effect whose message id the inbox holds already (or that another effect of the same
//!   group claimed first) writes nothing and is answered `false`: a duplicate;
//! - a handler acknowledges its delivery only after its group committed; a crash before
//!   leaves no claim, and the redelivery does the work;
//! - a handler cancelled while its group runs does not stop the group: the claim may commit,
//!   and the redelivered message is then absorbed by the inbox.
//!
//! A group that fails (a database error, one effect's rows refused) is committed again effect
//! by effect, so one bad effect fails only its own delivery.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use uuid::Uuid;

use super::BusMessage;
use super::inbox::Inbox;
use super::outbox::Outbox;
use crate::grouped::{Grouped, each_alone_on_failure};

/// Effects committed together at most.
const MAX_GROUP: usize = 64;

/// Rows an effect writes besides its claim and its messages (e.g. cross-references).
#[async_trait]
pub trait Rows: std::any::Any + Send + Sync + 'static {
    /// Writes the rows inside the group's transaction.
    async fn write(&self, txn: &DatabaseTransaction) -> Result<(), DbErr>;

    /// These rows and `next`'s as one write, when they can be (rows of one kind written by
    /// one statement); `None` writes them one after the other. The group merges the rows of
    /// its effects in their order, so one statement carries the cross-references of every
    /// command committed at once.
    fn merged(&self, _next: &dyn Rows) -> Option<Arc<dyn Rows>> {
        None
    }
}

/// One delivery's effect.
#[derive(Clone)]
pub struct Effect {
    /// The message id to claim in the inbox; `None` commits without a claim (a command
    /// parked for a replay, which must run again).
    pub claim: Option<Uuid>,
    /// The messages the effect publishes (through the outbox, after the commit).
    pub messages: Vec<BusMessage>,
    /// Other rows it writes.
    pub rows: Option<Arc<dyn Rows>>,
}

impl Effect {
    /// Claims `message_id` and publishes `messages`.
    pub fn claim(message_id: Uuid, messages: Vec<BusMessage>) -> Self {
        Self {
            claim: Some(message_id),
            messages,
            rows: None,
        }
    }

    /// Writes `rows` too.
    pub fn with_rows(mut self, rows: Arc<dyn Rows>) -> Self {
        self.rows = Some(rows);
        self
    }
}

type Answer = Result<bool, DbErr>;

/// Commits the effects of concurrent deliveries in groups (see the module).
#[derive(Clone, Debug)]
pub struct GroupCommit {
    groups: Grouped<Effect, Answer>,
}

impl GroupCommit {
    /// Starts the committing task (it ends when the last handle is dropped).
    pub fn spawn(db: DatabaseConnection, inbox: Inbox, outbox: Outbox) -> Self {
        let groups = Grouped::spawn(MAX_GROUP, move |effects: Vec<Effect>| {
            let (db, inbox, outbox) = (db.clone(), inbox.clone(), outbox.clone());
            async move { commit_group(&db, &inbox, &outbox, &effects).await }
        });
        Self { groups }
    }

    /// Commits `effect` with those of concurrent deliveries. `true` once committed, `false`
    /// when its message had been processed already (nothing written).
    pub async fn commit(&self, effect: Effect) -> Result<bool, DbErr> {
        self.groups
            .run(effect)
            .await
            .unwrap_or_else(|| Err(DbErr::Custom("the group commit has stopped".to_owned())))
    }
}

/// Commits a group; when that fails, each effect on its own. One answer per effect, in order.
async fn commit_group(
    db: &DatabaseConnection,
    inbox: &Inbox,
    outbox: &Outbox,
    effects: &[Effect],
) -> Vec<Answer> {
    let answers = each_alone_on_failure(effects, |group| commit(db, inbox, outbox, group)).await;
    if answers.iter().any(|a| matches!(a, Ok(true))) {
        outbox.wake();
    }
    answers
}

/// One transaction for `effects`: whether each was committed (`false`: a duplicate).
async fn commit(
    db: &DatabaseConnection,
    inbox: &Inbox,
    outbox: &Outbox,
    effects: &[Effect],
) -> Result<Vec<bool>, DbErr> {
    let txn = db.begin().await?;
    let mut ids: Vec<Uuid> = effects.iter().filter_map(|e| e.claim).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut claimed = inbox.claim_many(&txn, &ids).await?;
    let mut done = Vec::with_capacity(effects.len());
    let mut messages = Vec::new();
    // The rows not written yet: those of the effects so far that merged into one write.
    let mut pending: Option<Arc<dyn Rows>> = None;
    for effect in effects {
        // Of two effects with one message id, the first takes the claim.
        let goes = effect.claim.is_none_or(|id| claimed.remove(&id));
        if goes {
            if let Some(rows) = &effect.rows {
                pending = match pending.take() {
                    None => Some(rows.clone()),
                    Some(so_far) => match so_far.merged(rows.as_ref()) {
                        Some(both) => Some(both),
                        None => {
                            so_far.write(&txn).await?;
                            Some(rows.clone())
                        }
                    },
                };
            }
            messages.extend(effect.messages.iter());
        }
        done.push(goes);
    }
    if let Some(rows) = pending {
        rows.write(&txn).await?;
    }
    outbox.enqueue_many(&txn, messages).await?;
    txn.commit().await?;
    Ok(done)
}
