//! The consumers: every event and command of the bus into the activity log (with the alert
//! rules they drive, in the same transaction), and every newly parked message into an alert.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::parking::{ParkedSummary, ParkingLot};
use ferry_platform::bus::{Delivery, Exchange, Handler, Outcome};
use ferry_platform::gdpr::Fingerprint;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, TransactionTrait,
};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::activity;
use crate::alerts::AlertBook;
use crate::classify::{self, Status};
use crate::delivery::Dispatcher;
use crate::directory;
use crate::erased;
use crate::rules;
use crate::store::activity_row;

/// Records every delivery of the notifier's queue.
///
/// Deliveries are recorded in batches: each delivery's handler hands its message to
/// [`BATCH_WORKERS`] workers, and a worker records every message waiting at that moment (up to
/// [`BATCH_MAX`]) in one transaction. Under load the messages that arrive while a batch commits
/// form the next one, so a burst costs one transaction (and one integration lock and tombstone
/// check per integration) per batch instead of per message; alone, a message is recorded at
/// once. A batch that fails is recorded again message by message, so one bad message never
/// holds up the others. The erase of a deleted integration is always recorded alone.
pub struct ActivityRecorder {
    recording: Arc<Recording>,
    queue: mpsc::UnboundedSender<Pending>,
}

/// What a recording needs.
struct Recording {
    db: DatabaseConnection,
    inbox: Inbox,
    book: AlertBook,
    dispatcher: Dispatcher,
}

/// One message waiting for its batch, and where its result goes.
struct Pending {
    message: Message,
    done: oneshot::Sender<Result<bool, String>>,
}

/// One message, understood.
struct Message {
    obs: classify::Observation,
    message_id: Uuid,
    is_command: bool,
    /// The body as text, for the erased people's check in the recording transaction.
    body: String,
}

/// What a recording transaction found of one integration: `None` when it was deleted, else
/// the people erased in it ([`ferry_platform::gdpr::tombstones`]).
type MayRecord = HashMap<String, Option<Vec<(Fingerprint, DateTime<Utc>)>>>;

/// Workers recording batches at once (more overlap PostgreSQL's round trips; SQLite runs
/// one writer at a time anyway).
pub const BATCH_WORKERS: usize = 2;

/// The most messages one transaction records.
pub const BATCH_MAX: usize = 64;

/// What recording one message did.
enum Recorded {
    /// Recorded before (the inbox knew the message) or of a deleted integration.
    Nothing,
    /// A new row; `paired`: its command/reply pair is complete (or it is not part of one).
    Row(Box<activity_row::Model>, bool),
}

impl ActivityRecorder {
    /// A recorder on `db`; spawns its batch workers (they end when the recorder is dropped).
    pub fn new(
        db: DatabaseConnection,
        inbox: Inbox,
        book: AlertBook,
        dispatcher: Dispatcher,
    ) -> Self {
        let recording = Arc::new(Recording {
            db,
            inbox,
            book,
            dispatcher,
        });
        let (queue, waiting) = mpsc::unbounded_channel();
        let waiting = Arc::new(tokio::sync::Mutex::new(waiting));
        for _ in 0..BATCH_WORKERS {
            tokio::spawn(batch_worker(recording.clone(), waiting.clone()));
        }
        Self { recording, queue }
    }
}

/// Takes the messages waiting (at least one) and records them as one batch, until the
/// recorder is gone.
async fn batch_worker(
    recording: Arc<Recording>,
    waiting: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>,
) {
    loop {
        let mut batch = Vec::new();
        {
            let mut waiting = waiting.lock().await;
            let Some(first) = waiting.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < BATCH_MAX {
                match waiting.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        recording.record_batch(batch).await;
    }
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
        let understood = Message {
            obs,
            message_id: message.message_id,
            is_command,
            body: String::from_utf8_lossy(&message.body).into_owned(),
        };
        let result = if integration_deleted(&understood.obs) {
            let result = self.recording.record_alone(&understood).await;
            self.recording.after_commit(&[(&understood, &result)]).await;
            result
                .map(|r| matches!(r, Recorded::Row(..)))
                .map_err(|e| e.to_string())
        } else {
            let (done, result) = oneshot::channel();
            if self
                .queue
                .send(Pending {
                    message: understood,
                    done,
                })
                .is_err()
            {
                return Outcome::Retry("the activity recorder is stopping".into());
            }
            result
                .await
                .unwrap_or_else(|_| Err("the activity recorder stopped".into()))
        };
        match result {
            Ok(_) => Outcome::Ack,
            Err(error) => Outcome::Retry(format!(
                "cannot record message {} ({}): {error}",
                message.message_id, message.routing_key
            )),
        }
    }
}

impl Recording {
    /// Records `batch` in one transaction, or message by message when that fails, and answers
    /// each message's handler.
    async fn record_batch(&self, batch: Vec<Pending>) {
        let together = async {
            let txn = self.db.begin().await?;
            let results = self.record_together(&txn, &batch).await?;
            txn.commit().await?;
            Ok::<_, DbErr>(results)
        }
        .await;
        match together {
            Ok(results) => {
                let results: Vec<Result<Recorded, DbErr>> = results.into_iter().map(Ok).collect();
                let recorded: Vec<_> = batch.iter().map(|p| &p.message).zip(&results).collect();
                self.after_commit(&recorded).await;
                for (pending, result) in batch.into_iter().zip(results) {
                    let _ = pending
                        .done
                        .send(Ok(matches!(result, Ok(Recorded::Row(..)))));
                }
            }
            Err(error) => {
                if batch.len() > 1 {
                    tracing::warn!(%error, messages = batch.len(), "an activity batch failed; recording its messages one by one");
                }
                for pending in batch {
                    let result = self.record_alone(&pending.message).await;
                    self.after_commit(&[(&pending.message, &result)]).await;
                    let _ = pending.done.send(
                        result
                            .map(|r| matches!(r, Recorded::Row(..)))
                            .map_err(|e| e.to_string()),
                    );
                }
            }
        }
    }

    /// Records the messages of `batch` inside `txn` with one statement for their inbox
    /// claims and one for their activity rows; the pairing and alert rules follow message by
    /// message. A message delivered twice into the same batch is recorded by its first copy.
    /// (An integration's erase never comes in a batch: it is recorded alone.)
    async fn record_together(
        &self,
        txn: &DatabaseTransaction,
        batch: &[Pending],
    ) -> Result<Vec<Recorded>, DbErr> {
        let ids: Vec<Uuid> = batch.iter().map(|p| p.message.message_id).collect();
        let mut claimed = self.inbox.claim_many(txn, &ids).await?;
        let mut may_record = MayRecord::new();
        let mut recording = Vec::new();
        for (index, pending) in batch.iter().enumerate() {
            let message = &pending.message;
            if claimed.remove(&message.message_id)
                && self.may_record(txn, message, &mut may_record).await?
            {
                recording.push(index);
            }
        }
        let observations: Vec<_> = recording.iter().map(|i| &batch[*i].message.obs).collect();
        let rows = activity::insert_many(txn, &observations).await?;
        let recorded: Vec<(&Message, &activity_row::Model)> = recording
            .iter()
            .map(|i| &batch[*i].message)
            .zip(&rows)
            .collect();
        let paired = self.follow_up(txn, &recorded).await?;
        let mut results: Vec<Recorded> = batch.iter().map(|_| Recorded::Nothing).collect();
        for (index, row) in recording.into_iter().zip(rows) {
            let done = paired.contains(&batch[index].message.message_id);
            results[index] = Recorded::Row(Box::new(row), done);
        }
        Ok(results)
    }

    /// Whether `message` may be recorded: takes its integration's lock once per transaction
    /// (an erase and the recordings of one integration are ordered), finds the integration not
    /// deleted and the message about no person erased since it occurred. The erase's
    /// tombstones are read here, in the recording transaction, after the lock: a message that
    /// passed the check at delivery while an erase was committing is dropped now.
    /// `may_record` keeps what was found per integration.
    async fn may_record(
        &self,
        txn: &DatabaseTransaction,
        message: &Message,
        may_record: &mut MayRecord,
    ) -> Result<bool, DbErr> {
        let integration = message.obs.envelope.integration_id.to_string();
        if !may_record.contains_key(&integration) {
            let found = if erased::may_record(txn, &integration).await? {
                Some(ferry_platform::gdpr::tombstones(txn, &integration).await?)
            } else {
                None
            };
            may_record.insert(integration.clone(), found);
        }
        let Some(Some(people)) = may_record.get(&integration) else {
            tracing::debug!(%integration, message_id = %message.message_id, "message of a deleted integration not recorded");
            return Ok(false);
        };
        if ferry_platform::gdpr::about_an_erased_person(
            people,
            message.obs.envelope.occurred_at,
            &message.body,
        ) {
            tracing::info!(%integration, message_id = %message.message_id, "message about an erased person not recorded");
            return Ok(false);
        }
        Ok(true)
    }

    /// What follows new activity rows in their transaction: each command/reply pair
    /// completed when it can be, the integration directory, the alert rules. Returns the
    /// message ids whose pair is complete (or that are no part of one).
    async fn follow_up(
        &self,
        txn: &DatabaseTransaction,
        recorded: &[(&Message, &activity_row::Model)],
    ) -> Result<HashSet<Uuid>, DbErr> {
        let paired = pair(txn, recorded).await?;
        for (message, _) in recorded {
            directory::record_change(txn, &message.obs).await?;
        }
        let observations: Vec<&crate::classify::Observation> =
            recorded.iter().map(|(m, _)| &m.obs).collect();
        rules::on_messages(&self.book, txn, &observations, Utc::now()).await?;
        Ok(paired)
    }

    /// Records one message in a transaction of its own.
    async fn record_alone(&self, message: &Message) -> Result<Recorded, DbErr> {
        let txn = self.db.begin().await?;
        let recorded = self.record(&txn, message).await?;
        txn.commit().await?;
        Ok(recorded)
    }

    /// Records `message` inside `txn`, alone.
    async fn record(
        &self,
        txn: &DatabaseTransaction,
        message: &Message,
    ) -> Result<Recorded, DbErr> {
        let obs = &message.obs;
        if !self.inbox.claim(txn, message.message_id).await? {
            return Ok(Recorded::Nothing);
        }
        let integration = obs.envelope.integration_id.to_string();
        let deleting = integration_deleted(obs);
        if deleting {
            erased::begin_erase(txn, &integration, Utc::now()).await?;
        } else if !self.may_record(txn, message, &mut MayRecord::new()).await? {
            return Ok(Recorded::Nothing);
        }
        let row = activity::insert(txn, obs, None, None).await?;
        let paired = self
            .follow_up(txn, &[(message, &row)])
            .await?
            .contains(&message.message_id);
        if deleting {
            let removed = activity::forget_integration(txn, &integration).await?;
            for open in self.book.open_for_integration(txn, &integration).await? {
                self.book
                    .resolve_alert(txn, open, "the integration was deleted", Utc::now())
                    .await?;
            }
            tracing::info!(
                integration,
                removed,
                "deleted integration's activity erased"
            );
        }
        Ok(Recorded::Row(Box::new(row), paired))
    }

    /// After the commit: completes the pairs their transaction could not (one query for all
    /// of them), wakes the alert dispatcher.
    async fn after_commit(&self, recorded: &[(&Message, &Result<Recorded, DbErr>)]) {
        let mut unpaired = Vec::new();
        for (message, result) in recorded {
            let Ok(Recorded::Row(row, paired)) = result else {
                continue;
            };
            if !paired {
                unpaired.push((*message, row.as_ref()));
            }
            let obs = &message.obs;
            tracing::debug!(
                integration = %obs.envelope.integration_id,
                routing_key = %obs.routing_key,
                record = ?obs.masked_key(),
                status = obs.status.as_str(),
                "activity recorded"
            );
        }
        if let Err(error) = pair(&self.db, &unpaired).await {
            tracing::warn!(%error, messages = unpaired.len(), "cannot pair commands with their replies");
        }
        if recorded
            .iter()
            .any(|(_, r)| matches!(r, Ok(Recorded::Row(..))))
        {
            self.dispatcher.wake();
        }
    }
}

/// Completes the command/reply pairs of new activity rows, one query for the commands and
/// one for the replies. Deliveries run concurrently, so a reply may be recorded before (or at
/// the same time as) its command: each side completes the pair inside its transaction when it
/// can, and once more after its commit, so whichever commits last sees both rows. Returns the
/// message ids whose pair is complete (or that are no part of one).
async fn pair<C: ConnectionTrait>(
    conn: &C,
    recorded: &[(&Message, &activity_row::Model)],
) -> Result<HashSet<Uuid>, DbErr> {
    let commands: Vec<&activity_row::Model> = recorded
        .iter()
        .filter(|(m, _)| m.is_command)
        .map(|(_, row)| *row)
        .collect();
    let replies: Vec<&classify::Observation> = recorded
        .iter()
        .filter(|(m, _)| !m.is_command && m.obs.is_reply())
        .map(|(m, _)| &m.obs)
        .collect();
    let mut paired = activity::complete_from_earlier_replies(conn, &commands).await?;
    paired.extend(activity::complete_commands(conn, &replies).await?);
    paired.extend(
        recorded
            .iter()
            .filter(|(m, _)| !m.is_command && !m.obs.is_reply())
            .map(|(m, _)| m.message_id),
    );
    Ok(paired)
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
