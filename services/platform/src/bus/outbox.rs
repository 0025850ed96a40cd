//! The transactional outbox: a service writes the messages its transaction decided into the
//! `ferry_outbox` table, in that same transaction; a relay publishes them once committed and
//! deletes each row only after the broker confirmed it. A crash at any point leaves the row,
//! which is published (perhaps again: consumers deduplicate by message id) after restart.
//!
//! Several replicas may run a relay for the same source: on PostgreSQL rows are taken with
//! `FOR UPDATE SKIP LOCKED`, so each is published by one of them at a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::store::outbox_row;
use super::{Bus, BusError, BusMessage, Exchange};
use crate::backoff::Backoff;
use crate::metrics;

/// Writes messages into the outbox of one source (service).
#[derive(Clone, Debug)]
pub struct Outbox {
    source: String,
    wake: Arc<Notify>,
}

impl Outbox {
    /// The outbox of `source` (the service name).
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The source name.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Adds `message` to the outbox inside the caller's transaction. It is published after the
    /// transaction commits; call [`Outbox::wake`] after the commit to publish without waiting
    /// for the relay's next poll.
    pub async fn enqueue<C: ConnectionTrait>(
        &self,
        txn: &C,
        message: &BusMessage,
    ) -> Result<(), DbErr> {
        self.enqueue_many(txn, [message]).await
    }

    /// Adds `messages` to the outbox inside the caller's transaction, in multi-row inserts
    /// (see [`Outbox::enqueue`]).
    pub async fn enqueue_many<'m, C: ConnectionTrait>(
        &self,
        txn: &C,
        messages: impl IntoIterator<Item = &'m BusMessage>,
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        let mut rows = Vec::new();
        for message in messages {
            let headers = serde_json::to_value(&message.headers)
                .map_err(|e| DbErr::Custom(format!("outbox headers: {e}")))?;
            rows.push(outbox_row::ActiveModel {
                id: Set(message.message_id),
                source: Set(self.source.clone()),
                exchange: Set(message.exchange.base_name().to_owned()),
                routing_key: Set(message.routing_key.clone()),
                headers: Set(headers),
                body: Set(message.body.to_vec()),
                created_at: Set(now),
                attempts: Set(0),
                last_error: Set(None),
            });
        }
        // 9 columns a row: 100 rows stay well under SQLite's 32,766 parameters.
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(100));
            outbox_row::Entity::insert_many(std::mem::replace(&mut rows, rest))
                .exec_without_returning(txn)
                .await?;
        }
        Ok(())
    }

    /// Tells the relay that committed messages are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Messages of this source waiting to be published.
    pub async fn pending<C: ConnectionTrait>(&self, db: &C) -> Result<u64, DbErr> {
        outbox_row::Entity::find()
            .filter(outbox_row::Column::Source.eq(self.source.as_str()))
            .count(db)
            .await
    }

    /// A relay publishing this outbox's messages on `bus`.
    pub fn relay(&self, db: DatabaseConnection, bus: Arc<dyn Bus>) -> OutboxRelay {
        OutboxRelay {
            outbox: self.clone(),
            db,
            bus,
            batch_size: 100,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Why one relay pass failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database failed.
    #[error("outbox database error: {0}")]
    Db(#[from] DbErr),
    /// Some messages could not be published; they stay in the outbox.
    #[error("{failed} outbox message(s) not published, first error: {first}")]
    Publish {
        /// How many failed.
        failed: usize,
        /// The first error.
        first: BusError,
    },
}

/// Publishes an outbox's committed messages.
pub struct OutboxRelay {
    outbox: Outbox,
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    batch_size: u64,
    poll_interval: Duration,
}

impl OutboxRelay {
    /// Rows taken per pass.
    pub fn batch_size(mut self, batch_size: u64) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// How often the outbox is looked at when nobody wakes the relay.
    pub fn poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// One pass: publishes up to a batch of messages, oldest first, and deletes those the
    /// broker confirmed. Returns how many were published.
    ///
    /// On PostgreSQL the batch is locked (`FOR UPDATE SKIP LOCKED`) in a transaction held
    /// across the publishes, so replicas never relay the same rows at once. SQLite has one
    /// writer and the embedded process one relay per source: there the pass runs without a
    /// transaction, since a read snapshot held across the publishes (which write the bus
    /// journal) could never be upgraded to a write (`SQLITE_BUSY_SNAPSHOT`). A crash between
    /// publish and delete publishes again, which the consumers' inboxes absorb.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        let (published, failed, first) =
            if self.db.get_database_backend() == DatabaseBackend::Postgres {
                let txn = self.db.begin().await?;
                let pass = self.pass(&txn, true).await?;
                txn.commit().await?;
                pass
            } else {
                self.pass(&self.db, false).await?
            };
        // A pass that took less than a batch left only its failures behind (and what other
        // replicas hold or committed since, which their passes count): no count query then.
        if published + failed > 0 {
            let pending = if ((published + failed) as u64) < self.batch_size {
                Some(failed as u64)
            } else {
                self.outbox.pending(&self.db).await.ok()
            };
            if let Some(pending) = pending {
                metrics::global().set_outbox_pending(i64::try_from(pending).unwrap_or(i64::MAX));
            }
        }
        match first {
            None => Ok(published),
            Some(first) => Err(RelayError::Publish { failed, first }),
        }
    }

    /// Publishes a batch and settles its rows: (published, failed, first failure).
    async fn pass<C: ConnectionTrait>(
        &self,
        conn: &C,
        lock: bool,
    ) -> Result<(usize, usize, Option<BusError>), RelayError> {
        let mut query = outbox_row::Entity::find()
            .filter(outbox_row::Column::Source.eq(self.outbox.source.as_str()))
            .order_by_asc(outbox_row::Column::Id)
            .limit(self.batch_size);
        if lock {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = query.all(conn).await?;
        if rows.is_empty() {
            return Ok((0, 0, None));
        }
        let publishes = rows.iter().map(|row| async move {
            let result = match to_message(row) {
                Ok(message) => self.bus.publish(message).await,
                Err(error) => Err(error),
            };
            (row, result)
        });
        let results = futures::future::join_all(publishes).await;

        let mut published = Vec::new();
        let mut failures = Vec::new();
        for (row, result) in results {
            match result {
                Ok(()) => published.push(row.id),
                Err(error) => failures.push((row, error)),
            }
        }
        if !published.is_empty() {
            outbox_row::Entity::delete_many()
                .filter(outbox_row::Column::Id.is_in(published.clone()))
                .exec(conn)
                .await?;
        }
        for (row, error) in &failures {
            let update = outbox_row::ActiveModel {
                id: Set(row.id),
                attempts: Set(row.attempts.saturating_add(1)),
                last_error: Set(Some(error.to_string())),
                ..Default::default()
            };
            outbox_row::Entity::update(update).exec(conn).await?;
        }
        let failed = failures.len();
        Ok((
            published.len(),
            failed,
            failures.into_iter().next().map(|(_, e)| e),
        ))
    }

    /// Runs the relay until `shutdown` is cancelled: a pass whenever woken or every poll
    /// interval, passes back to back while there is a backlog, backoff after failures.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff =
                Backoff::new(Duration::from_millis(100), Duration::from_secs(10)).attempts();
            loop {
                let wait = match self.relay_once().await {
                    Ok(n) if n as u64 >= self.batch_size => Duration::ZERO,
                    Ok(_) => {
                        backoff.reset();
                        self.poll_interval
                    }
                    Err(error) => {
                        tracing::warn!(source = %self.outbox.source, error = %error, "outbox relay pass failed; will retry");
                        backoff.failed()
                    }
                };
                if wait.is_zero() {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    continue;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.outbox.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        })
    }
}

fn to_message(row: &outbox_row::Model) -> Result<BusMessage, BusError> {
    let exchange = Exchange::from_base_name(&row.exchange).ok_or_else(|| {
        BusError::InvalidTopology(format!(
            "outbox row {} names unknown exchange {:?}",
            row.id, row.exchange
        ))
    })?;
    let headers: BTreeMap<String, String> = serde_json::from_value(row.headers.clone())
        .map_err(|e| BusError::InvalidTopology(format!("outbox row {} headers: {e}", row.id)))?;
    Ok(BusMessage {
        exchange,
        routing_key: row.routing_key.clone(),
        message_id: row.id,
        headers,
        body: row.body.clone().into(),
    })
}
