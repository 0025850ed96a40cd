//! The parking lot: dead-lettered messages taken off the dead-letter queues into a table, where
//! operators inspect them and replay or discard them (see `admin::dead_letters` for the HTTP
//! side). Whoever hosts it (the notifier, or the all-in-one runner) also learns of every newly
//! parked message through [`ParkingLot::watch`], to raise an alert.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::store::dead_letter_row;
use super::{
    Bus, BusError, BusMessage, DeadLetter, Delivery, Exchange, Handler, Outcome,
    SubscriptionHandle, headers,
};

/// A parked message without its body.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ParkedSummary {
    /// The queue whose consumer gave up on it.
    pub queue: String,
    /// The message id.
    pub message_id: Uuid,
    /// Its routing key.
    pub routing_key: String,
    /// Its message type, when it carried one.
    pub message_type: Option<String>,
    /// Its integration, when it carried one.
    pub integration_id: Option<String>,
    /// Why it was parked.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it was parked (last time).
    pub parked_at: DateTime<Utc>,
    /// When an operator last replayed it; `None` while it waits.
    pub replayed_at: Option<DateTime<Utc>>,
}

/// A parked message with its headers and body.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ParkedMessage {
    /// The summary.
    #[serde(flatten)]
    pub summary: ParkedSummary,
    /// Its headers.
    pub headers: BTreeMap<String, String>,
    /// Its body as text (the JSON envelope; lossy if it was not UTF-8).
    pub body: String,
}

/// Which parked messages to list.
#[derive(Clone, Debug, Default)]
pub struct ParkedFilter {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this integration.
    pub integration_id: Option<String>,
    /// Also those already replayed.
    pub include_replayed: bool,
    /// At most this many (capped at 500).
    pub limit: u64,
    /// Skip this many.
    pub offset: u64,
}

/// Why a parking-lot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ParkingError {
    /// The database failed.
    #[error("parking lot database error: {0}")]
    Db(#[from] DbErr),
    /// The bus failed to replay.
    #[error("replay failed: {0}")]
    Bus(#[from] BusError),
}

/// Parked messages of the queues it watches.
#[derive(Clone)]
pub struct ParkingLot {
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    parked: broadcast::Sender<ParkedSummary>,
}

/// Sets `ferry_parked_messages` per queue at each scrape.
struct ParkedProbe {
    db: DatabaseConnection,
}

#[async_trait]
impl crate::metrics::Probe for ParkedProbe {
    fn name(&self) -> &'static str {
        "parking_lot"
    }

    async fn refresh(&self, metrics: &crate::metrics::Metrics) {
        use sea_orm::ConnectionTrait as _;
        let statement = sea_orm::Statement::from_string(
            self.db.get_database_backend(),
            "SELECT queue, COUNT(*) FROM ferry_dead_letters GROUP BY queue",
        );
        match self.db.query_all(statement).await {
            Ok(rows) => {
                let counts: Vec<(String, i64)> = rows
                    .iter()
                    .filter_map(|row| {
                        Some((
                            row.try_get_by_index::<String>(0).ok()?,
                            row.try_get_by_index::<i64>(1).ok()?,
                        ))
                    })
                    .collect();
                metrics.set_parked_messages(counts.iter().map(|(q, n)| (q.as_str(), *n)));
            }
            Err(error) => tracing::warn!(%error, "metrics probe parking_lot failed"),
        }
    }
}

impl ParkingLot {
    /// A parking lot storing into `db` (which has the bus migrations) and replaying on `bus`.
    pub fn new(db: DatabaseConnection, bus: Arc<dyn Bus>) -> Self {
        let (parked, _) = broadcast::channel(1024);
        Self { db, bus, parked }
    }

    /// Starts taking the dead letters of each of `queues` into the table; from then on this
    /// process's `/metrics` reports `ferry_parked_messages`.
    pub async fn watch_queues(&self, queues: &[&str]) -> Result<Vec<SubscriptionHandle>, BusError> {
        crate::metrics::global().add_probe(Arc::new(ParkedProbe {
            db: self.db.clone(),
        }));
        let mut handles = Vec::new();
        for queue in queues {
            let taker = Arc::new(Taker {
                lot: self.clone(),
                queue: (*queue).to_owned(),
            });
            handles.push(self.bus.subscribe_dead_letters(queue, taker).await?);
        }
        Ok(handles)
    }

    /// Every message parked from now on.
    pub fn watch(&self) -> broadcast::Receiver<ParkedSummary> {
        self.parked.subscribe()
    }

    /// Stores one parked message (again: a message parked twice is one row, updated).
    pub async fn park(&self, dead: &DeadLetter) -> Result<ParkedSummary, DbErr> {
        let message = &dead.message;
        let headers = serde_json::to_value(&message.headers)
            .map_err(|e| DbErr::Custom(format!("dead-letter headers: {e}")))?;
        let now = Utc::now();
        let row = dead_letter_row::ActiveModel {
            queue: Set(dead.queue.clone()),
            message_id: Set(message.message_id),
            exchange: Set(message.exchange.base_name().to_owned()),
            routing_key: Set(message.routing_key.clone()),
            message_type: Set(message.header(headers::MESSAGE_TYPE).map(str::to_owned)),
            integration_id: Set(message.header(headers::INTEGRATION_ID).map(str::to_owned)),
            headers: Set(headers),
            body: Set(message.body.to_vec()),
            reason: Set(dead.reason.clone()),
            attempts: Set(i32::try_from(dead.attempts).unwrap_or(i32::MAX)),
            parked_at: Set(now),
            replayed_at: Set(None),
        };
        dead_letter_row::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    dead_letter_row::Column::Queue,
                    dead_letter_row::Column::MessageId,
                ])
                .update_columns([
                    dead_letter_row::Column::Reason,
                    dead_letter_row::Column::Attempts,
                    dead_letter_row::Column::ParkedAt,
                    dead_letter_row::Column::ReplayedAt,
                    dead_letter_row::Column::Headers,
                    dead_letter_row::Column::Body,
                ])
                .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        let summary = summary(&dead_letter_row::Model {
            queue: dead.queue.clone(),
            message_id: message.message_id,
            exchange: message.exchange.base_name().to_owned(),
            routing_key: message.routing_key.clone(),
            message_type: message.header(headers::MESSAGE_TYPE).map(str::to_owned),
            integration_id: message.header(headers::INTEGRATION_ID).map(str::to_owned),
            headers: serde_json::Value::Null,
            body: Vec::new(),
            reason: dead.reason.clone(),
            attempts: i32::try_from(dead.attempts).unwrap_or(i32::MAX),
            parked_at: now,
            replayed_at: None,
        });
        // Nobody listening is fine.
        let _ = self.parked.send(summary.clone());
        Ok(summary)
    }

    /// Lists parked messages, newest first.
    pub async fn list(&self, filter: &ParkedFilter) -> Result<Vec<ParkedSummary>, DbErr> {
        let mut query = dead_letter_row::Entity::find()
            .order_by_desc(dead_letter_row::Column::ParkedAt)
            .limit(filter.limit.clamp(1, 500))
            .offset(crate::db::page_offset(Some(filter.offset)));
        if let Some(queue) = &filter.queue {
            query = query.filter(dead_letter_row::Column::Queue.eq(queue.as_str()));
        }
        if let Some(integration) = &filter.integration_id {
            query = query.filter(dead_letter_row::Column::IntegrationId.eq(integration.as_str()));
        }
        if !filter.include_replayed {
            query = query.filter(dead_letter_row::Column::ReplayedAt.is_null());
        }
        Ok(query.all(&self.db).await?.iter().map(summary).collect())
    }

    /// One parked message with its body.
    pub async fn get(&self, queue: &str, message_id: Uuid) -> Result<Option<ParkedMessage>, DbErr> {
        let row = dead_letter_row::Entity::find_by_id((queue.to_owned(), message_id))
            .one(&self.db)
            .await?;
        Ok(row.map(|row| ParkedMessage {
            summary: summary(&row),
            headers: serde_json::from_value(row.headers.clone()).unwrap_or_default(),
            body: String::from_utf8_lossy(&row.body).into_owned(),
        }))
    }

    /// Sends a parked message back to its queue as a first attempt. `Ok(false)` when there is
    /// no such message.
    pub async fn replay(&self, queue: &str, message_id: Uuid) -> Result<bool, ParkingError> {
        let Some(row) = dead_letter_row::Entity::find_by_id((queue.to_owned(), message_id))
            .one(&self.db)
            .await?
        else {
            return Ok(false);
        };
        let message = BusMessage {
            exchange: Exchange::from_base_name(&row.exchange).unwrap_or(Exchange::Events),
            routing_key: row.routing_key.clone(),
            message_id: row.message_id,
            headers: serde_json::from_value(row.headers.clone()).unwrap_or_default(),
            body: row.body.clone().into(),
        };
        let dead = DeadLetter {
            message,
            queue: row.queue.clone(),
            reason: row.reason.clone(),
            attempts: u32::try_from(row.attempts).unwrap_or_default(),
        };
        self.bus.replay(&dead).await?;
        let update = dead_letter_row::ActiveModel {
            queue: Set(row.queue),
            message_id: Set(row.message_id),
            replayed_at: Set(Some(Utc::now())),
            ..Default::default()
        };
        dead_letter_row::Entity::update(update)
            .exec(&self.db)
            .await?;
        tracing::info!(queue, %message_id, "parked message replayed");
        Ok(true)
    }

    /// Replaces a parked message's body and reason (a GDPR erase keeps the message as evidence
    /// of the failure, without the personal data). `Ok(false)` when there is no such message.
    pub async fn redact(
        &self,
        queue: &str,
        message_id: Uuid,
        body: Vec<u8>,
        reason: String,
    ) -> Result<bool, DbErr> {
        let update = dead_letter_row::ActiveModel {
            queue: Set(queue.to_owned()),
            message_id: Set(message_id),
            body: Set(body),
            reason: Set(reason),
            ..Default::default()
        };
        match dead_letter_row::Entity::update(update).exec(&self.db).await {
            Ok(_) => Ok(true),
            Err(DbErr::RecordNotUpdated) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Forgets the messages parked (last) before `cutoff`: their retention is over. Returns how
    /// many were removed.
    pub async fn purge_older_than(&self, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
        let result = dead_letter_row::Entity::delete_many()
            .filter(dead_letter_row::Column::ParkedAt.lt(cutoff))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    /// Forgets a parked message. `Ok(false)` when there is no such message.
    pub async fn discard(&self, queue: &str, message_id: Uuid) -> Result<bool, DbErr> {
        let result = dead_letter_row::Entity::delete_by_id((queue.to_owned(), message_id))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }
}

fn summary(row: &dead_letter_row::Model) -> ParkedSummary {
    ParkedSummary {
        queue: row.queue.clone(),
        message_id: row.message_id,
        routing_key: row.routing_key.clone(),
        message_type: row.message_type.clone(),
        integration_id: row.integration_id.clone(),
        reason: row.reason.clone(),
        attempts: u32::try_from(row.attempts).unwrap_or_default(),
        parked_at: row.parked_at,
        replayed_at: row.replayed_at,
    }
}

/// Takes the dead letters of one queue into the lot.
struct Taker {
    lot: ParkingLot,
    queue: String,
}

#[async_trait]
impl Handler for Taker {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let dead = DeadLetter::from_parked(delivery.message.clone(), &self.queue);
        match self.lot.park(&dead).await {
            Ok(_) => Outcome::Ack,
            Err(error) => Outcome::Retry(format!("cannot store the dead letter: {error}")),
        }
    }
}
