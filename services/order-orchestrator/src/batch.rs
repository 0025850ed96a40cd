//! The transaction of a group of saga inputs (see [`crate::engine`]): the saga rows it
//! locked up front, and the timeline rows and commands it writes at its end.
//!
//! Inputs of different sagas that arrive while a transaction runs share the next one: one
//! `BEGIN`, one multi-row inbox claim, one statement locking every saga row of the group,
//! one multi-row upsert of the sagas it changed, one multi-row timeline insert, one
//! multi-row outbox insert and one `COMMIT`. What the transitions read (customer locks and
//! resolutions, other sagas) and the rows they insert stay statements of their own, in
//! input order. A changed saga is written at the end, so reads of saga rows inside the
//! group look at the changed sagas first ([`Batch::changed`]): a later input of the group
//! sees what an earlier one did, exactly as in serial transactions. Timeline rows and
//! messages are never read by a transition, so they wait for the end too.

use std::collections::{BTreeMap, HashMap};

use ferry_platform::bus::BusMessage;
use ferry_platform::bus::outbox::Outbox;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr,
    EntityTrait, Iterable, QueryFilter, QueryOrder, QuerySelect, TryIntoModel,
};
use uuid::Uuid;

use crate::saga::Saga;
use crate::store::{event_row, saga_row};

/// Timeline rows per insert: 8 columns a row stay well under SQLite's 32,766 parameters.
const TIMELINE_CHUNK: usize = 500;

/// Saga rows per upsert: 31 columns a row, likewise.
const SAGA_CHUNK: usize = 200;

/// A group's transaction and what it writes at its end.
pub(crate) struct Batch<'t> {
    txn: &'t DatabaseTransaction,
    /// Saga rows locked and read up front, not yet taken by a transition.
    locked: HashMap<Uuid, saga_row::Model>,
    /// Sagas changed by the group's transitions (their rows locked), written at the end.
    changed: BTreeMap<Uuid, (Saga, saga_row::Model)>,
    timeline: Vec<event_row::ActiveModel>,
    messages: Vec<BusMessage>,
}

impl<'t> Batch<'t> {
    /// A batch on `txn`, nothing locked yet.
    pub(crate) fn new(txn: &'t DatabaseTransaction) -> Self {
        Self {
            txn,
            locked: HashMap::new(),
            changed: BTreeMap::new(),
            timeline: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// The transaction.
    pub(crate) fn txn(&self) -> &'t DatabaseTransaction {
        self.txn
    }

    /// Locks the rows of sagas `ids` for this transaction and reads them, in one statement:
    /// `SELECT … WHERE id IN (…) ORDER BY id FOR UPDATE` on PostgreSQL (rows are locked in id
    /// order, so two groups never wait for each other in a cycle). SQLite serialises writers:
    /// unless `writing` (this transaction has written already, so it is the writer), a no-op
    /// update of the rows makes it the writer now, instead of failing later when a read
    /// transaction tries to upgrade.
    pub(crate) async fn lock_up_front(&mut self, ids: &[Uuid], writing: bool) -> Result<(), DbErr> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut query = saga_row::Entity::find()
            .filter(saga_row::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(saga_row::Column::Id);
        match self.txn.get_database_backend() {
            DatabaseBackend::Postgres | DatabaseBackend::MySql => {
                query = query.lock_exclusive();
            }
            DatabaseBackend::Sqlite if !writing => {
                become_writer(self.txn, ids).await?;
            }
            DatabaseBackend::Sqlite => {}
        }
        for row in query.all(self.txn).await? {
            self.locked.insert(row.id, row);
        }
        Ok(())
    }

    /// Saga `saga_id`'s row, locked for this transaction: as changed by this group, else
    /// the one read up front (once: a transition that takes it may change the row), else
    /// locked and read now.
    pub(crate) async fn lock(&mut self, saga_id: Uuid) -> Result<Option<saga_row::Model>, DbErr> {
        if let Some((_, row)) = self.changed.get(&saga_id) {
            return Ok(Some(row.clone()));
        }
        if let Some(row) = self.locked.remove(&saga_id) {
            return Ok(Some(row));
        }
        match self.txn.get_database_backend() {
            DatabaseBackend::Postgres | DatabaseBackend::MySql => {
                saga_row::Entity::find_by_id(saga_id)
                    .lock_exclusive()
                    .one(self.txn)
                    .await
            }
            DatabaseBackend::Sqlite => {
                become_writer(self.txn, &[saga_id]).await?;
                saga_row::Entity::find_by_id(saga_id).one(self.txn).await
            }
        }
    }

    /// Records `saga`'s new state (`row`, every column set; its row is locked by this
    /// transaction), written at the end.
    pub(crate) fn update(&mut self, saga: &Saga, row: saga_row::ActiveModel) -> Result<(), DbErr> {
        let row = row.try_into_model()?;
        self.changed.insert(saga.id, (saga.clone(), row));
        Ok(())
    }

    /// The sagas this group changed so far (not yet in the database), by id.
    pub(crate) fn changed(&self) -> impl Iterator<Item = &Saga> {
        self.changed.values().map(|(saga, _)| saga)
    }

    /// Saga `saga_id` as this group changed it, if it did.
    pub(crate) fn changed_saga(&self, saga_id: Uuid) -> Option<&Saga> {
        self.changed.get(&saga_id).map(|(saga, _)| saga)
    }

    /// Adds timeline rows, inserted at the end.
    pub(crate) fn timeline(&mut self, rows: impl IntoIterator<Item = event_row::ActiveModel>) {
        self.timeline.extend(rows);
    }

    /// Adds messages, enqueued in the outbox at the end.
    pub(crate) fn messages(&mut self, messages: impl IntoIterator<Item = BusMessage>) {
        self.messages.extend(messages);
    }

    /// Writes the changed sagas (one upsert by id: every row exists and is locked, so each
    /// is an update), the timeline rows and the messages (one insert each, for the whole
    /// group). Returns whether there were messages (the relay is to be woken after the
    /// commit).
    pub(crate) async fn flush(&mut self, outbox: &Outbox) -> Result<bool, DbErr> {
        let mut sagas: Vec<saga_row::ActiveModel> = std::mem::take(&mut self.changed)
            .into_values()
            .map(|(_, row)| saga_row::ActiveModel::from(row).reset_all())
            .collect();
        while !sagas.is_empty() {
            let rest = sagas.split_off(sagas.len().min(SAGA_CHUNK));
            saga_row::Entity::insert_many(std::mem::replace(&mut sagas, rest))
                .on_conflict(
                    OnConflict::column(saga_row::Column::Id)
                        .update_columns(saga_row::Column::iter().filter(|c| {
                            !matches!(c, saga_row::Column::Id | saga_row::Column::CreatedAt)
                        }))
                        .to_owned(),
                )
                .exec_without_returning(self.txn)
                .await?;
        }
        let mut rows = std::mem::take(&mut self.timeline);
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(TIMELINE_CHUNK));
            event_row::Entity::insert_many(std::mem::replace(&mut rows, rest))
                .exec_without_returning(self.txn)
                .await?;
        }
        let messages = std::mem::take(&mut self.messages);
        outbox.enqueue_many(self.txn, &messages).await?;
        Ok(!messages.is_empty())
    }
}

/// SQLite: a write first makes the transaction the (single) writer now.
async fn become_writer(txn: &DatabaseTransaction, ids: &[Uuid]) -> Result<(), DbErr> {
    saga_row::Entity::update_many()
        .col_expr(
            saga_row::Column::Attempt,
            Expr::col(saga_row::Column::Attempt).into(),
        )
        .filter(saga_row::Column::Id.is_in(ids.iter().copied()))
        .exec(txn)
        .await?;
    Ok(())
}
