//! The consumers: every event and command of the bus into the activity log (with the alert
//! rules they drive, in the same transaction), and every newly parked message into an alert.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::parking::{ParkedSummary, ParkingLot};
use ferry_platform::bus::{Delivery, Exchange, Handler, Outcome};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, TransactionTrait};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::activity;
use crate::alerts::AlertBook;
use crate::classify::{self, Status};
use crate::delivery::Dispatcher;
use crate::directory;
use crate::erased;
use crate::rules;
use crate::store::activity_row;

/// Records every delivery of the notifier's queue.
pub struct ActivityRecorder {
    pub(crate) db: DatabaseConnection,
    pub(crate) inbox: Inbox,
    pub(crate) book: AlertBook,
    pub(crate) dispatcher: Dispatcher,
}

#[async_trait]
impl Handler for ActivityRecorder {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let message = &delivery.message;
        let is_command = message.exchange == Exchange::Commands;
        let obs = match classify::classify(&message.routing_key, is_command, &message.body) {
            Ok(obs) => obs,
            Err(error) => {
                return Outcome::DeadLetter(format!(
                    "message {} ({}) is not a valid envelope, so it cannot be logged: {error}",
                    message.message_id, message.routing_key
                ));
            }
        };
        // Deliveries of one queue run concurrently, so a reply may be recorded before (or at
        // the same time as) its command. Each side completes the pair inside its transaction
        // when it can, and once more after its commit: whichever commits last sees both rows.
        let result: Result<Option<(activity_row::Model, bool)>, DbErr> = async {
            let txn = self.db.begin().await?;
            if !self.inbox.claim(&txn, message.message_id).await? {
                return Ok(None);
            }
            // First the integration's lock: an erase and the recordings of the same
            // integration are ordered, and nothing is recorded of a deleted one.
            let integration = obs.envelope.integration_id.to_string();
            let deleting = integration_deleted(&obs);
            if deleting {
                erased::begin_erase(&txn, &integration, Utc::now()).await?;
            } else if !erased::may_record(&txn, &integration).await? {
                txn.commit().await?;
                tracing::debug!(%integration, message_id = %message.message_id, "message of a deleted integration not recorded");
                return Ok(None);
            }
            let row = activity::insert(&txn, &obs, None, None).await?;
            let paired = if is_command {
                activity::complete_from_earlier_reply(&txn, &row).await?
            } else if obs.is_reply() {
                activity::complete_command(&txn, &obs).await? > 0
            } else {
                true
            };
            directory::record_change(&txn, &obs).await?;
            rules::on_message(&self.book, &txn, &obs, Utc::now()).await?;
            if deleting {
                let removed = activity::forget_integration(&txn, &integration).await?;
                for open in self.book.open_for_integration(&txn, &integration).await? {
                    self.book
                        .resolve_alert(&txn, open, "the integration was deleted", Utc::now())
                        .await?;
                }
                tracing::info!(
                    integration,
                    removed,
                    "deleted integration's activity erased"
                );
            }
            txn.commit().await?;
            Ok(Some((row, paired)))
        }
        .await;
        let result = match result {
            Ok(Some((row, false))) => {
                let second = if is_command {
                    activity::complete_from_earlier_reply(&self.db, &row)
                        .await
                        .map(|_| ())
                } else {
                    activity::complete_command(&self.db, &obs).await.map(|_| ())
                };
                if let Err(error) = second {
                    tracing::warn!(%error, message_id = %message.message_id, "cannot pair a command with its reply");
                }
                Ok(true)
            }
            Ok(Some(_)) => Ok(true),
            Ok(None) => Ok(false),
            Err(error) => Err(error),
        };
        match result {
            Ok(recorded) => {
                if recorded {
                    self.dispatcher.wake();
                    tracing::debug!(
                        integration = %obs.envelope.integration_id,
                        routing_key = %obs.routing_key,
                        record = ?obs.masked_key(),
                        status = obs.status.as_str(),
                        "activity recorded"
                    );
                }
                Outcome::Ack
            }
            Err(error) => Outcome::Retry(format!(
                "cannot record message {} ({}): {error}",
                message.message_id, message.routing_key
            )),
        }
    }
}

/// `integration.changed` to state `deleted`: its data is to be erased.
fn integration_deleted(obs: &classify::Observation) -> bool {
    obs.envelope.message_type == "integration.changed"
        && obs.envelope.payload.get("state").and_then(|s| s.as_str()) == Some("deleted")
}

/// Marks a parked message in the activity log and raises its alert.
pub async fn record_parked(
    db: &DatabaseConnection,
    book: &AlertBook,
    lot: &ParkingLot,
    parked: &ParkedSummary,
) -> Result<(), DbErr> {
    let reason = classify::mask_text(&parked.reason);
    let txn = db.begin().await?;
    if let Some(integration) = &parked.integration_id
        && !erased::may_record(&txn, integration).await?
    {
        return txn.commit().await;
    }
    let marked = activity::mark_parked(&txn, parked.message_id, &reason).await?;
    if marked == 0 {
        // Parked before it reached the log (or never routed to the notifier): log it now.
        if let Some(full) = lot.get(&parked.queue, parked.message_id).await? {
            let is_command = full
                .headers
                .get("x-ferry-original-exchange")
                .map(String::as_str)
                == Some(Exchange::Commands.base_name())
                || parked.routing_key.rsplit('.').next().is_some_and(|verb| {
                    matches!(verb, "upsert" | "find" | "create" | "verify" | "set")
                });
            if let Ok(obs) =
                classify::classify(&parked.routing_key, is_command, full.body.as_bytes())
            {
                activity::insert(&txn, &obs, Some(Status::Parked), Some(reason.clone())).await?;
            }
        }
    }
    let record = activity_row::Entity::find()
        .filter(activity_row::Column::MessageId.eq(parked.message_id))
        .one(&txn)
        .await?
        .and_then(|row| row.record_key)
        .map(|key| classify::mask_if_email(&key));
    rules::on_parked(book, &txn, parked, record, Utc::now()).await?;
    txn.commit().await
}

/// Follows the parking lot's announcements until `shutdown`.
pub fn spawn_parked_watcher(
    db: DatabaseConnection,
    book: AlertBook,
    lot: ParkingLot,
    dispatcher: Dispatcher,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let mut parked = lot.watch();
    let lot = Arc::new(lot);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = parked.recv() => next,
            };
            match next {
                Ok(summary) => {
                    // A database hiccup must not lose the alert: try a few times.
                    let mut attempt = 0u32;
                    loop {
                        attempt += 1;
                        match record_parked(&db, &book, &lot, &summary).await {
                            Ok(()) => break,
                            Err(error) if attempt < 5 => {
                                tracing::warn!(%error, message_id = %summary.message_id, "cannot record a parked message yet");
                                tokio::time::sleep(std::time::Duration::from_millis(
                                    200 * u64::from(attempt),
                                ))
                                .await;
                            }
                            Err(error) => {
                                tracing::error!(%error, message_id = %summary.message_id, queue = %summary.queue, "parked message not alerted");
                                break;
                            }
                        }
                    }
                    dispatcher.wake();
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::error!(
                        missed,
                        "parked-message announcements missed; see the dead-letter list"
                    );
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}
