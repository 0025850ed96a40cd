//! The inbox: processed message ids per consumer, so that a message delivered twice has its
//! effect once.
//!
//! The pattern, inside the handler:
//! ```ignore
//! let txn = db.begin().await?;
//! if !inbox.claim(&txn, delivery.message.message_id).await? {
//!     return Outcome::Ack; // seen before: the effect is already committed
//! }
//! // ... the effect, on `txn` ...
//! outbox.enqueue(&txn, &reply).await?; // what the effect decided to publish
//! txn.commit().await?;
//! Outcome::Ack
//! ```
//! Claim and effect commit together or not at all, so a crash in between leaves no claim behind
//! and the redelivered message is processed normally.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::store::inbox_row;
use crate::metrics;

/// The inbox of one consumer.
#[derive(Clone, Debug)]
pub struct Inbox {
    consumer: String,
}

impl Inbox {
    /// The inbox of `consumer` (a service's queue name, e.g. `mapper`).
    pub fn new(consumer: impl Into<String>) -> Self {
        Self {
            consumer: consumer.into(),
        }
    }

    /// The consumer name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Records `message_id` as processed inside the caller's transaction. Returns `false` when
    /// it had been processed already: the caller must then skip its effect.
    pub async fn claim<C: ConnectionTrait>(
        &self,
        txn: &C,
        message_id: Uuid,
    ) -> Result<bool, DbErr> {
        let row = inbox_row::ActiveModel {
            consumer: Set(self.consumer.clone()),
            message_id: Set(message_id),
            processed_at: Set(Utc::now()),
        };
        let inserted = inbox_row::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([inbox_row::Column::Consumer, inbox_row::Column::MessageId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        if inserted == 0 {
            self.absorbed(message_id);
        }
        Ok(inserted == 1)
    }

    /// Counts and logs a duplicate delivery.
    fn absorbed(&self, message_id: Uuid) {
        metrics::global().inbox_duplicate(&self.consumer);
        tracing::debug!(consumer = %self.consumer, %message_id, "duplicate delivery absorbed by the inbox");
    }

    /// Claims every id of `message_ids` in one statement inside the caller's transaction
    /// (`INSERT … ON CONFLICT DO NOTHING RETURNING`, PostgreSQL and SQLite >= 3.35). Returns
    /// the ids claimed now; the others had been processed already, and their effects must be
    /// skipped. One round trip for a batch of deliveries instead of one per delivery.
    pub async fn claim_many<C: ConnectionTrait>(
        &self,
        txn: &C,
        message_ids: &[Uuid],
    ) -> Result<HashSet<Uuid>, DbErr> {
        if message_ids.is_empty() {
            return Ok(HashSet::new());
        }
        let now = Utc::now();
        let mut insert = Query::insert();
        insert
            .into_table(inbox_row::Entity)
            .columns([
                inbox_row::Column::Consumer,
                inbox_row::Column::MessageId,
                inbox_row::Column::ProcessedAt,
            ])
            .on_conflict(
                OnConflict::columns([inbox_row::Column::Consumer, inbox_row::Column::MessageId])
                    .do_nothing()
                    .to_owned(),
            )
            .returning_col(inbox_row::Column::MessageId);
        for id in message_ids {
            insert.values_panic([self.consumer.clone().into(), (*id).into(), now.into()]);
        }
        let backend = txn.get_database_backend();
        let rows = txn.query_all(backend.build(&insert)).await?;
        let mut claimed = HashSet::with_capacity(rows.len());
        for row in rows {
            claimed.insert(row.try_get::<Uuid>("", "message_id")?);
        }
        for id in message_ids.iter().filter(|id| !claimed.contains(id)) {
            self.absorbed(*id);
        }
        Ok(claimed)
    }

    /// Whether `message_id` has been processed by this consumer.
    pub async fn contains<C: ConnectionTrait>(
        &self,
        db: &C,
        message_id: Uuid,
    ) -> Result<bool, DbErr> {
        let found = inbox_row::Entity::find_by_id((self.consumer.clone(), message_id))
            .one(db)
            .await?;
        Ok(found.is_some())
    }

    /// Forgets ids processed before `cutoff` (of every consumer). Redeliveries arrive within
    /// minutes, so a retention of days is plenty. Returns how many were removed.
    pub async fn purge_older_than<C: ConnectionTrait>(
        db: &C,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, DbErr> {
        let result = inbox_row::Entity::delete_many()
            .filter(inbox_row::Column::ProcessedAt.lt(cutoff))
            .exec(db)
            .await?;
        Ok(result.rows_affected)
    }
}

/// Purges the inbox every `every`, forgetting ids older than `retention`, until `shutdown`.
pub fn spawn_purge(
    db: sea_orm::DatabaseConnection,
    retention: std::time::Duration,
    every: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let cutoff = Utc::now()
                - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
            match Inbox::purge_older_than(&db, cutoff).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "purged old inbox entries"),
                Err(error) => tracing::warn!(%error, "inbox purge failed; will try again"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
    })
}
