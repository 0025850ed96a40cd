//! Alerts: one row per problem, deduplicated by key while open, with a notification to every
//! channel when it opens, a reminder at most every `reminder_minutes` while it keeps occurring,
//! and a resolve notification when it clears. Notifications are rows of `notifier_deliveries`,
//! written in the same transaction as the alert, and sent by [`crate::delivery`].

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::config::ChannelConfig;
use crate::directory::Directory;
use crate::store::{alert_row, delivery_row};

/// The rules (the `rule` of an alert).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A consumer gave up on a message after its retries.
    Parked,
    /// A message was dead-lettered at once (a permanent error).
    DeadLetter,
    /// An order saga failed (a failed command of an order, a saga failure event).
    SagaFailed,
    /// A record of another flow could not be synced (a failed command).
    SyncFailed,
    /// A target refused the credentials (`command.failed` with code `auth`).
    AuthFailed,
    /// A connector could not reach its API for a while.
    ApiUnreachable,
    /// Too many failed replies in the window.
    ErrorRate,
    /// No successful sync for hours.
    NoSync,
}

impl Rule {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parked => "parked",
            Self::DeadLetter => "dead_letter",
            Self::SagaFailed => "saga_failed",
            Self::SyncFailed => "sync_failed",
            Self::AuthFailed => "auth_failed",
            Self::ApiUnreachable => "api_unreachable",
            Self::ErrorRate => "error_rate",
            Self::NoSync => "no_sync",
        }
    }
}

/// How bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Everything of an integration stops (credentials, unreachable API).
    Critical,
    /// Records are not synced.
    Error,
    /// Attention needed soon.
    Warning,
}

impl Severity {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// A problem to raise.
#[derive(Clone, Debug)]
pub struct AlertSpec {
    /// Two raises with the same key while the first is open are one alert.
    pub dedup_key: String,
    /// The rule.
    pub rule: Rule,
    /// How bad.
    pub severity: Severity,
    /// The integration.
    pub integration_id: Option<String>,
    /// The external system.
    pub system: Option<String>,
    /// The record (already masked when it is an e-mail address).
    pub record_key: Option<String>,
    /// For the shop owner: what broke, for which record, the one thing to do (see
    /// [`crate::plain`]); the integration's name is put before it.
    pub summary: String,
    /// What failed, in one line (technical).
    pub title: String,
    /// Why and where.
    pub detail: String,
    /// What to do.
    pub action: String,
    /// Machine-readable context.
    pub context: serde_json::Value,
}

/// What a raise did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raised {
    /// A new alert (notified).
    Opened(Uuid),
    /// Merged into the open alert; a reminder was queued.
    Reminded(Uuid),
    /// Merged into the open alert, within the reminder interval (not notified again).
    Deduplicated(Uuid),
}

/// A channel as the alert book needs it: its name and which integrations it serves.
#[derive(Clone, Debug)]
struct Target {
    name: String,
    integrations: Vec<String>,
}

/// Opens, deduplicates and resolves alerts and queues their notifications.
#[derive(Clone, Debug)]
pub struct AlertBook {
    targets: Arc<Vec<Target>>,
    reminder: Option<ChronoDuration>,
    dashboard_url: Option<String>,
    directory: Directory,
}

/// Alert states.
pub const OPEN: &str = "open";
/// Alert states.
pub const RESOLVED: &str = "resolved";

impl AlertBook {
    /// An alert book notifying `channels`, reminding at most every `reminder_minutes` (0: never).
    pub fn new(
        channels: &[ChannelConfig],
        reminder_minutes: u64,
        dashboard_url: Option<String>,
    ) -> Self {
        Self {
            targets: Arc::new(
                channels
                    .iter()
                    .map(|c| Target {
                        name: c.name.clone(),
                        integrations: c.integrations.clone(),
                    })
                    .collect(),
            ),
            reminder: (reminder_minutes > 0).then(|| {
                ChronoDuration::minutes(
                    i64::try_from(reminder_minutes).unwrap_or(i64::MAX / 120_000),
                )
            }),
            dashboard_url,
            directory: Directory::default(),
        }
    }

    /// The same book, naming integrations from `directory`.
    #[must_use]
    pub fn with_directory(mut self, directory: Directory) -> Self {
        self.directory = directory;
        self
    }

    /// The integrations' names.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The dashboard link for alerts, if configured.
    pub fn dashboard_url(&self) -> Option<&str> {
        self.dashboard_url.as_deref()
    }

    /// The open alert with `key`, if any.
    pub async fn open_alert<C: ConnectionTrait>(
        &self,
        conn: &C,
        key: &str,
    ) -> Result<Option<alert_row::Model>, DbErr> {
        alert_row::Entity::find()
            .filter(alert_row::Column::DedupKey.eq(key))
            .filter(alert_row::Column::State.eq(OPEN))
            .order_by_desc(alert_row::Column::OpenedAt)
            .one(conn)
            .await
    }

    /// Raises `spec`: a new alert, or one more occurrence of the open one with its key.
    pub async fn raise<C: ConnectionTrait>(
        &self,
        conn: &C,
        spec: AlertSpec,
        now: DateTime<Utc>,
    ) -> Result<Raised, DbErr> {
        // An alert names its integration (its id stays in `integration_id` and the detail).
        let mut spec = spec;
        if let Some(integration) = &spec.integration_id {
            let label = self.directory.label(conn, integration).await?;
            spec.title = format!("{} ({label})", spec.title);
            spec.summary = format!("{label}: {}", spec.summary);
            spec.detail = format!("{} Integration id {integration}.", spec.detail);
        }
        // One more occurrence of the open alert, counted in the database (`occurrences + 1`):
        // concurrent handlers and replicas raising the same problem must not lose a count.
        use alert_row::Column as A;
        let counted = alert_row::Entity::update_many()
            .col_expr(A::Occurrences, Expr::col(A::Occurrences).add(1))
            .col_expr(A::LastSeenAt, Expr::value(now))
            .col_expr(A::Detail, Expr::value(spec.detail.clone()))
            .filter(A::DedupKey.eq(spec.dedup_key.as_str()))
            .filter(A::State.eq(OPEN))
            .exec(conn)
            .await?;
        if counted.rows_affected > 0 {
            let Some(open) = self.open_alert(conn, &spec.dedup_key).await? else {
                return Err(DbErr::RecordNotFound(spec.dedup_key));
            };
            let Some(every) = self.reminder else {
                return Ok(Raised::Deduplicated(open.id));
            };
            // The reminder is claimed by a conditional update, so only one raiser sends it.
            let due = Condition::any()
                .add(A::LastNotifiedAt.is_null())
                .add(A::LastNotifiedAt.lte(now - every));
            let claimed = alert_row::Entity::update_many()
                .col_expr(A::LastNotifiedAt, Expr::value(Some(now)))
                .filter(A::Id.eq(open.id))
                .filter(due)
                .exec(conn)
                .await?;
            if claimed.rows_affected == 0 {
                return Ok(Raised::Deduplicated(open.id));
            }
            self.enqueue(
                conn,
                open.id,
                spec.integration_id.as_deref(),
                "reminder",
                now,
            )
            .await?;
            return Ok(Raised::Reminded(open.id));
        }
        let id = Uuid::now_v7();
        let row = alert_row::ActiveModel {
            id: Set(id),
            dedup_key: Set(spec.dedup_key.clone()),
            rule: Set(spec.rule.as_str().to_owned()),
            severity: Set(spec.severity.as_str().to_owned()),
            integration_id: Set(spec.integration_id.clone()),
            system: Set(spec.system),
            record_key: Set(spec.record_key),
            summary: Set(spec.summary),
            title: Set(spec.title.clone()),
            detail: Set(spec.detail),
            action: Set(spec.action),
            state: Set(OPEN.to_owned()),
            occurrences: Set(1),
            opened_at: Set(now),
            last_seen_at: Set(now),
            resolved_at: Set(None),
            resolution: Set(None),
            last_notified_at: Set(Some(now)),
            context: Set(spec.context),
        };
        row.insert(conn).await?;
        self.enqueue(conn, id, spec.integration_id.as_deref(), "firing", now)
            .await?;
        tracing::warn!(alert = %id, rule = spec.rule.as_str(), key = %spec.dedup_key, integration = ?spec.integration_id, title = %spec.title, "alert opened");
        Ok(Raised::Opened(id))
    }

    /// Resolves the open alert with `key`, if any, and queues the resolve notification.
    pub async fn resolve<C: ConnectionTrait>(
        &self,
        conn: &C,
        key: &str,
        resolution: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, DbErr> {
        let Some(open) = self.open_alert(conn, key).await? else {
            return Ok(None);
        };
        self.resolve_alert(conn, open, resolution, now)
            .await
            .map(Some)
    }

    /// Resolves every open alert named in `resolves` (`(dedup key, resolution)`; the first
    /// resolution named for a key is recorded) with one query for all of them: nothing more
    /// when none is open.
    pub async fn resolve_each<C: ConnectionTrait>(
        &self,
        conn: &C,
        resolves: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<u32, DbErr> {
        if resolves.is_empty() {
            return Ok(0);
        }
        let mut resolution: HashMap<&str, &str> = HashMap::new();
        for (key, why) in resolves {
            resolution.entry(key.as_str()).or_insert(why.as_str());
        }
        let mut resolved = 0;
        let keys: Vec<&str> = resolution.keys().copied().collect();
        // Bounded IN lists (SQLite's variable limit).
        for chunk in keys.chunks(500) {
            let open = alert_row::Entity::find()
                .filter(alert_row::Column::DedupKey.is_in(chunk.iter().copied()))
                .filter(alert_row::Column::State.eq(OPEN))
                .all(conn)
                .await?;
            for alert in open {
                let why = resolution
                    .get(alert.dedup_key.as_str())
                    .copied()
                    .unwrap_or("succeeded")
                    .to_owned();
                self.resolve_alert(conn, alert, &why, now).await?;
                resolved += 1;
            }
        }
        Ok(resolved)
    }

    /// Resolves one open alert.
    pub async fn resolve_alert<C: ConnectionTrait>(
        &self,
        conn: &C,
        open: alert_row::Model,
        resolution: &str,
        now: DateTime<Utc>,
    ) -> Result<Uuid, DbErr> {
        let id = open.id;
        let integration = open.integration_id.clone();
        let mut row: alert_row::ActiveModel = open.into();
        row.state = Set(RESOLVED.to_owned());
        row.resolved_at = Set(Some(now));
        row.resolution = Set(Some(resolution.to_owned()));
        row.update(conn).await?;
        self.enqueue(conn, id, integration.as_deref(), "resolved", now)
            .await?;
        tracing::info!(alert = %id, resolution, "alert resolved");
        Ok(id)
    }

    /// Open alerts whose key starts with `prefix`.
    pub async fn open_with_prefix<C: ConnectionTrait>(
        &self,
        conn: &C,
        prefix: &str,
    ) -> Result<Vec<alert_row::Model>, DbErr> {
        alert_row::Entity::find()
            .filter(alert_row::Column::DedupKey.starts_with(prefix))
            .filter(alert_row::Column::State.eq(OPEN))
            .all(conn)
            .await
    }

    /// Open alerts of one integration.
    pub async fn open_for_integration<C: ConnectionTrait>(
        &self,
        conn: &C,
        integration_id: &str,
    ) -> Result<Vec<alert_row::Model>, DbErr> {
        alert_row::Entity::find()
            .filter(alert_row::Column::IntegrationId.eq(integration_id))
            .filter(alert_row::Column::State.eq(OPEN))
            .all(conn)
            .await
    }

    async fn enqueue<C: ConnectionTrait>(
        &self,
        conn: &C,
        alert_id: Uuid,
        integration: Option<&str>,
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        for target in self.targets.iter() {
            let serves = target.integrations.is_empty()
                || integration.is_some_and(|i| target.integrations.iter().any(|t| t == i));
            if !serves {
                continue;
            }
            delivery_row::pending(alert_id, target.name.clone(), event, now)
                .insert(conn)
                .await?;
        }
        Ok(())
    }
}

/// An alert as the API and the channels show it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// Alert id.
    pub id: Uuid,
    /// Deduplication key.
    pub dedup_key: String,
    /// The rule.
    pub rule: String,
    /// `critical`, `error` or `warning`.
    pub severity: String,
    /// `open` or `resolved`.
    pub state: String,
    /// The integration.
    pub integration_id: Option<String>,
    /// The external system.
    pub system: Option<String>,
    /// The record (e-mail addresses masked).
    pub record_key: Option<String>,
    /// For the shop owner: what broke, for which record, the one thing to do.
    pub summary: String,
    /// What failed (technical).
    pub title: String,
    /// Why and where.
    pub detail: String,
    /// What to do.
    pub action: String,
    /// How often it occurred.
    pub occurrences: i32,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it last occurred.
    pub last_seen_at: DateTime<Utc>,
    /// When it cleared.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Why it cleared.
    pub resolution: Option<String>,
    /// Context (queue, message id, counts).
    pub context: serde_json::Value,
}

impl From<alert_row::Model> for AlertView {
    fn from(row: alert_row::Model) -> Self {
        Self {
            id: row.id,
            dedup_key: row.dedup_key,
            rule: row.rule,
            severity: row.severity,
            state: row.state,
            integration_id: row.integration_id,
            system: row.system,
            record_key: row.record_key,
            summary: row.summary,
            title: row.title,
            detail: row.detail,
            action: row.action,
            occurrences: row.occurrences,
            opened_at: row.opened_at,
            last_seen_at: row.last_seen_at,
            resolved_at: row.resolved_at,
            resolution: row.resolution,
            context: row.context,
        }
    }
}

/// Filters of the alert list.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `open` (default), `resolved` or `all`.
    pub state: Option<String>,
    /// Only this integration.
    pub integration_id: Option<String>,
    /// Only this rule.
    pub rule: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<u64>,
    /// Alerts to skip.
    pub offset: Option<u64>,
}

/// Alerts, newest first.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    query: &AlertQuery,
) -> Result<Vec<AlertView>, DbErr> {
    let mut select = alert_row::Entity::find()
        .order_by_desc(alert_row::Column::OpenedAt)
        .limit(query.limit.unwrap_or(100).clamp(1, 500))
        .offset(ferry_platform::db::page_offset(query.offset));
    match query.state.as_deref().unwrap_or(OPEN) {
        "all" => {}
        state => select = select.filter(alert_row::Column::State.eq(state)),
    }
    if let Some(integration) = &query.integration_id {
        select = select.filter(alert_row::Column::IntegrationId.eq(integration.as_str()));
    }
    if let Some(rule) = &query.rule {
        select = select.filter(alert_row::Column::Rule.eq(rule.as_str()));
    }
    Ok(select
        .all(conn)
        .await?
        .into_iter()
        .map(AlertView::from)
        .collect())
}

/// One notification of an alert, as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Delivery id.
    pub id: Uuid,
    /// The channel.
    pub channel: String,
    /// `firing`, `reminder` or `resolved`.
    pub event: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// Next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// The last error.
    pub last_error: Option<String>,
    /// When the channel accepted it.
    pub sent_at: Option<DateTime<Utc>>,
}

/// The notifications of one alert.
pub async fn deliveries<C: ConnectionTrait>(
    conn: &C,
    alert_id: Uuid,
) -> Result<Vec<DeliveryView>, DbErr> {
    Ok(delivery_row::Entity::find()
        .filter(delivery_row::Column::AlertId.eq(alert_id))
        .order_by_asc(delivery_row::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(|d| DeliveryView {
            id: d.id,
            channel: d.channel,
            event: d.event,
            state: d.state,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error,
            sent_at: d.sent_at,
        })
        .collect())
}
