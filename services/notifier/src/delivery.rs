//! Sends the queued alert notifications (`notifier_deliveries`), retrying with exponential
//! backoff and jitter until the channel accepts or `delivery.max_attempts` is reached. Rows
//! survive a restart; a row is claimed (its next attempt pushed out) before it is sent, so two
//! replicas do not send the same notification at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alerts::AlertView;
use crate::channels::Channel;
use crate::config::DeliveryConfig;
use crate::store::{alert_row, delivery_row};

/// The sender of queued notifications.
#[derive(Clone)]
pub struct Dispatcher {
    db: DatabaseConnection,
    channels: Arc<HashMap<String, Channel>>,
    config: DeliveryConfig,
    wake: Arc<Notify>,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Accepted by their channel.
    pub sent: u32,
    /// Failed and scheduled again.
    pub retried: u32,
    /// Failed for the last time.
    pub gave_up: u32,
}

impl Dispatcher {
    /// A dispatcher sending through `channels`.
    pub fn new(db: DatabaseConnection, channels: Vec<Channel>, config: DeliveryConfig) -> Self {
        Self {
            db,
            channels: Arc::new(
                channels
                    .into_iter()
                    .map(|c| (c.name().to_owned(), c))
                    .collect(),
            ),
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Asks the worker to look for due deliveries now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `shutdown`: a pass when woken or every `delivery.poll_ms`.
    pub fn spawn(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let poll = Duration::from_millis(this.config.poll_ms.max(10));
            loop {
                match this.pass(Utc::now()).await {
                    Ok(report) if report != PassReport::default() => {
                        tracing::debug!(?report, "alert deliveries processed");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "alert delivery pass failed; will try again")
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = this.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        })
    }

    /// Sends every delivery due at `now` (up to 100).
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<PassReport, DbErr> {
        let due = delivery_row::Entity::find()
            .filter(delivery_row::Column::State.eq("pending"))
            .filter(delivery_row::Column::NextAttemptAt.lte(now))
            .order_by_asc(delivery_row::Column::NextAttemptAt)
            .limit(100)
            .all(&self.db)
            .await?;
        let mut report = PassReport::default();
        let sends = due.into_iter().map(|row| self.deliver(row, now));
        for outcome in futures::future::join_all(sends).await {
            match outcome? {
                Some(true) => report.sent += 1,
                Some(false) => report.retried += 1,
                None => report.gave_up += 1,
            }
        }
        Ok(report)
    }

    /// `Some(true)` sent, `Some(false)` retried later, `None` given up (or claimed elsewhere:
    /// counted as given up by nobody).
    async fn deliver(
        &self,
        row: delivery_row::Model,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>, DbErr> {
        // Claim: push the next attempt out past the send timeout, only if nobody else did.
        let lease = now
            + chrono::Duration::from_std(Duration::from_millis(self.config.timeout_ms * 3))
                .unwrap_or(chrono::Duration::seconds(60));
        let claimed = delivery_row::Entity::update_many()
            .col_expr(delivery_row::Column::NextAttemptAt, Expr::value(lease))
            .filter(delivery_row::Column::Id.eq(row.id))
            .filter(delivery_row::Column::State.eq("pending"))
            .filter(delivery_row::Column::NextAttemptAt.eq(row.next_attempt_at))
            .exec(&self.db)
            .await?
            .rows_affected;
        if claimed == 0 {
            return Ok(Some(false));
        }
        let attempts = row.attempts.saturating_add(1);
        let alert = alert_row::Entity::find_by_id(row.alert_id)
            .one(&self.db)
            .await?;
        let result = match (alert, self.channels.get(&row.channel)) {
            (None, _) => Err("the alert no longer exists".to_owned()),
            (_, None) => Err(format!("channel {} is no longer configured", row.channel)),
            (Some(alert), Some(channel)) => channel
                .send(&AlertView::from(alert), &row.event)
                .await
                .map_err(|e| e.to_string()),
        };
        let mut update: delivery_row::ActiveModel = row.clone().into();
        update.attempts = Set(attempts);
        let outcome = match result {
            Ok(()) => {
                update.state = Set("sent".to_owned());
                update.sent_at = Set(Some(Utc::now()));
                update.last_error = Set(None);
                tracing::info!(channel = %row.channel, alert = %row.alert_id, event = %row.event, attempts, "alert notification sent");
                Some(true)
            }
            Err(error)
                if u32::try_from(attempts).unwrap_or(u32::MAX) >= self.config.max_attempts =>
            {
                update.state = Set("failed".to_owned());
                update.last_error = Set(Some(error.clone()));
                tracing::error!(channel = %row.channel, alert = %row.alert_id, event = %row.event, attempts, %error, "alert notification given up");
                None
            }
            Err(error) => {
                let delay = self
                    .config
                    .backoff()
                    .delay(u32::try_from(attempts).unwrap_or(u32::MAX));
                let next = Utc::now()
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60));
                update.next_attempt_at = Set(next);
                update.last_error = Set(Some(error.clone()));
                tracing::warn!(channel = %row.channel, alert = %row.alert_id, attempts, %error, retry_in_ms = delay.as_millis() as u64, "alert notification failed; will retry");
                Some(false)
            }
        };
        update.update(&self.db).await?;
        Ok(outcome)
    }
}
