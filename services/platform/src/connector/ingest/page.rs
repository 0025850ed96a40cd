//! [`Pipeline`]: the commit of one page of changes.
//!
//! ```text
//! let page = pipeline.open(&batch).await?;       // parked records confirmed; txn: events, xrefs
//! CURSORS.advance(page.txn(), ...).await?;        // the connector's cursor (kit's `cursors`)
//! CURSORS.put_runs(page.txn(), &[run]).await?;    // and the run's progress
//! page.commit().await?;                           // fenced by the poll lease, outbox woken
//! ```

use std::sync::Arc;

use ferry_proto::{IntegrationId, System};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use uuid::Uuid;

use crate::bus::outbox::Outbox;
use crate::bus::{Bus, Subscription};
use crate::connector::Xrefs;
use crate::connector::poll::check_current;

use super::backlog::{Backlog, Turn};
use super::batch::{Batch, Scope};

/// Why a page was not committed.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The bus refused a parked record (nothing committed; the page is read again).
    #[error("bus: {0}")]
    Park(String),
    /// The database failed, or the poll lease was lost ([`crate::connector::poll::LEASE_LOST`]).
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// One connector's ingest pipeline: its database, outbox, bus and cross-references.
#[derive(Clone)]
pub struct Pipeline {
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    outbox: Outbox,
    system: System,
    queue: &'static str,
    backlog: Backlog,
}

impl Pipeline {
    /// The pipeline of `system`, whose parked records are dead letters of `queue`.
    pub fn new(
        db: DatabaseConnection,
        bus: Arc<dyn Bus>,
        outbox: Outbox,
        system: System,
        queue: &'static str,
    ) -> Self {
        Self {
            db,
            backlog: Backlog::new(bus.clone(), super::backlog::DEFAULT_MAX),
            bus,
            outbox,
            system,
            queue,
        }
    }

    /// The same pipeline whose bulk pages ([`Pipeline::open_bulk`]) wait while `max` or more
    /// messages are ahead of them (0: never; default [`super::backlog::DEFAULT_MAX`]).
    pub fn with_backlog(mut self, max: u64) -> Self {
        self.backlog = Backlog::new(self.bus.clone(), max);
        self
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The scope of a sync run of `integration`.
    pub fn scope(&self, integration: IntegrationId, run: Uuid) -> Scope {
        Scope {
            system: self.system,
            integration,
            run,
            queue: self.queue,
        }
    }

    /// An empty batch of a sync run of `integration`.
    pub fn batch(&self, integration: IntegrationId, run: Uuid) -> Batch {
        Batch::new(self.scope(integration, run))
    }

    /// Sends the batch's parked records (each confirmed by the broker), then opens the page's
    /// transaction holding its events (in the outbox) and cross-references. The caller writes
    /// its cursor on [`OpenPage::txn`] and calls [`OpenPage::commit`].
    pub async fn open(&self, batch: &Batch) -> Result<OpenPage<'_>, PageError> {
        self.open_with(batch, None).await
    }

    /// [`Pipeline::open`] for a page of a bulk run (a backfill, a reconciliation): first
    /// waits until the pipeline's backlog leaves room ([`Backlog`]), and holds this
    /// replica's turn until the page commits, so live changes never wait behind more than
    /// the backlog's maximum.
    pub async fn open_bulk(&self, batch: &Batch) -> Result<OpenPage<'_>, PageError> {
        let turn = self
            .backlog
            .room(&self.db, &self.outbox, self.system.as_str())
            .await?;
        self.open_with(batch, Some(turn)).await
    }

    async fn open_with(
        &self,
        batch: &Batch,
        turn: Option<Turn>,
    ) -> Result<OpenPage<'_>, PageError> {
        let dlq = Subscription::dead_letter_queue(self.queue);
        for message in &batch.parked {
            self.bus
                .send_to_queue(&dlq, message.clone())
                .await
                .map_err(|e| PageError::Park(e.to_string()))?;
        }
        let txn = self.db.begin().await?;
        self.outbox.enqueue_many(&txn, &batch.events).await?;
        if !batch.xrefs.is_empty() {
            Xrefs::new(self.system)
                .put(&txn, batch.scope().integration, &batch.xrefs)
                .await?;
        }
        Ok(OpenPage {
            txn,
            outbox: &self.outbox,
            events: !batch.events.is_empty(),
            _turn: turn,
        })
    }
}

/// A page's open transaction (see [`Pipeline::open`]); dropped uncommitted, it rolls back.
pub struct OpenPage<'a> {
    txn: DatabaseTransaction,
    outbox: &'a Outbox,
    events: bool,
    /// A bulk page's turn ([`Pipeline::open_bulk`]), released when the page is done.
    _turn: Option<Turn>,
}

impl OpenPage<'_> {
    /// The transaction, for the connector's cursor and progress.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Commits, only while this replica still owns the integration's polling, and wakes the
    /// outbox relay when the page holds events.
    pub async fn commit(self) -> Result<(), DbErr> {
        check_current(&self.txn).await?;
        self.txn.commit().await?;
        if self.events {
            self.outbox.wake();
        }
        Ok(())
    }
}
