//! The activity log: one row per message per integration, queried by the admin API and the
//! dashboard, purged after its retention, and erasable by e-mail address (GDPR).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TryIntoModel,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::classify::{self, Observation, Status};
use crate::directory::KnownIntegration;
use crate::store::{activity_row, retention_row};

/// Longest JSON payload kept per column; larger ones are replaced by a note.
const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// The payload as stored: at most [`MAX_PAYLOAD_BYTES`], and without NUL characters, which
/// PostgreSQL's `jsonb` refuses (`\u0000`); a record carrying one (hostile input that a
/// connector parks) is still recorded, with U+FFFD in its place.
fn bounded(value: &serde_json::Value) -> serde_json::Value {
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0);
    if size > MAX_PAYLOAD_BYTES {
        serde_json::json!({"truncated": true, "bytes": size})
    } else {
        without_nul(value)
    }
}

fn without_nul(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let clean = |s: &str| s.replace('\0', "\u{FFFD}");
    match value {
        Value::String(s) => Value::String(clean(s)),
        Value::Array(items) => Value::Array(items.iter().map(without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (clean(k), without_nul(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Stores a new row for `obs` (status as classified, or `status` when given).
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    obs: &Observation,
    status: Option<Status>,
    error_override: Option<String>,
) -> Result<activity_row::Model, DbErr> {
    new_row(obs, status, error_override).insert(conn).await
}

/// Stores a new row for each of `observations` in one statement; returns them in order.
pub async fn insert_many<C: ConnectionTrait>(
    conn: &C,
    observations: &[&Observation],
) -> Result<Vec<activity_row::Model>, DbErr> {
    let rows: Vec<activity_row::ActiveModel> = observations
        .iter()
        .map(|obs| new_row(obs, None, None))
        .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let models = rows
        .iter()
        .map(|row| row.clone().try_into_model())
        .collect::<Result<Vec<_>, _>>()?;
    activity_row::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(models)
}

/// The new row of `obs`, every column set.
fn new_row(
    obs: &Observation,
    status: Option<Status>,
    error_override: Option<String>,
) -> activity_row::ActiveModel {
    let env = &obs.envelope;
    let status = status.unwrap_or(obs.status);
    let payload = bounded(&env.payload);
    let (source_data, sent_data, result_data) = match (obs.kind, obs.status) {
        ("command", _) => (None, Some(payload), None),
        (_, Status::Observed) => (Some(payload), None, None),
        _ => (None, None, Some(payload)),
    };
    let error = error_override
        .or_else(|| obs.failure.as_ref().map(|f| f.message.clone()))
        .or_else(|| obs.payload_problem.clone());
    activity_row::ActiveModel {
        id: Set(Uuid::now_v7()),
        message_id: Set(env.message_id.as_uuid()),
        integration_id: Set(env.integration_id.to_string()),
        kind: Set(obs.kind.to_owned()),
        direction: Set(obs.direction.to_owned()),
        system: Set(obs.system.clone()),
        flow: Set(obs.flow.clone()),
        entity: Set(obs.entity.clone()),
        message_type: Set(env.message_type.clone()),
        routing_key: Set(obs.routing_key.clone()),
        record_key: Set(obs.record_key.clone()),
        status: Set(status.as_str().to_owned()),
        error_code: Set(obs.failure.as_ref().map(|f| f.code.clone())),
        error: Set(error),
        source_data: Set(source_data),
        sent_data: Set(sent_data),
        result_data: Set(result_data),
        trace_id: Set(env
            .trace
            .traceparent
            .as_ref()
            .map(|t| t.trace_id().to_owned())),
        correlation_id: Set(env.correlation_id),
        causation_id: Set(env.causation_id.map(|c| c.as_uuid())),
        occurred_at: Set(env.occurred_at),
        recorded_at: Set(Utc::now()),
        completed_at: Set(None),
        duration_ms: Set(None),
        minute: Set(env.occurred_at.timestamp().div_euclid(60)),
        email_hashes: Set(classify::email_hashes(&obs.emails)),
        redacted: Set(false),
    }
}

/// Replies complete the rows of the commands that caused them: status, error, reply time
/// and duration. One query finds the commands of every reply in `replies`; returns the
/// message ids of the replies that completed a command.
pub async fn complete_commands<C: ConnectionTrait>(
    conn: &C,
    replies: &[&Observation],
) -> Result<HashSet<Uuid>, DbErr> {
    let mut by_cause: HashMap<Uuid, &Observation> = HashMap::new();
    for reply in replies {
        if let Some(cause) = reply.envelope.causation_id {
            by_cause.insert(cause.as_uuid(), reply);
        }
    }
    if by_cause.is_empty() {
        return Ok(HashSet::new());
    }
    let commands = activity_row::Entity::find()
        .filter(activity_row::Column::MessageId.is_in(by_cause.keys().copied()))
        .filter(activity_row::Column::Kind.eq("command"))
        .all(conn)
        .await?;
    let mut completed = HashSet::new();
    let mut completions = Vec::new();
    for command in commands {
        let Some(reply) = by_cause.get(&command.message_id) else {
            continue;
        };
        let status = if reply.status == Status::Failed {
            Status::Failed
        } else {
            Status::Succeeded
        };
        completions.push(Completion {
            id: command.id,
            status: status.as_str().to_owned(),
            completed_at: reply.envelope.occurred_at,
            duration_ms: (reply.envelope.occurred_at - command.occurred_at)
                .num_milliseconds()
                .max(0),
            failure: reply
                .failure
                .as_ref()
                .map(|f| (Some(f.code.clone()), Some(f.message.clone()))),
        });
        completed.insert(reply.envelope.message_id.as_uuid());
    }
    complete(conn, &completions).await?;
    Ok(completed)
}

/// A command's row completed by its reply.
struct Completion {
    id: Uuid,
    status: String,
    completed_at: DateTime<Utc>,
    duration_ms: i64,
    /// Error code and message of a failed reply (the row's stay as they are otherwise).
    failure: Option<(Option<String>, Option<String>)>,
}

/// Rows updated at most by one statement of [`complete`] (about 12 parameters a row).
const COMPLETIONS_PER_STATEMENT: usize = 200;

/// Writes `completions`: one `UPDATE … SET col = CASE id WHEN … END … WHERE id IN (…)` per
/// [`COMPLETIONS_PER_STATEMENT`] rows, on either database.
async fn complete<C: ConnectionTrait>(conn: &C, completions: &[Completion]) -> Result<(), DbErr> {
    use sea_orm::sea_query::{CaseStatement, SimpleExpr};
    type Value = fn(&Completion) -> Option<SimpleExpr>;
    let columns: [(activity_row::Column, Value); 5] = [
        (activity_row::Column::Status, |c| {
            Some(Expr::value(c.status.clone()))
        }),
        (activity_row::Column::CompletedAt, |c| {
            Some(Expr::value(Some(c.completed_at)))
        }),
        (activity_row::Column::DurationMs, |c| {
            Some(Expr::value(Some(c.duration_ms)))
        }),
        (activity_row::Column::ErrorCode, |c| {
            c.failure
                .as_ref()
                .map(|(code, _)| Expr::value(code.clone()))
        }),
        (activity_row::Column::Error, |c| {
            c.failure
                .as_ref()
                .map(|(_, message)| Expr::value(message.clone()))
        }),
    ];
    for chunk in completions.chunks(COMPLETIONS_PER_STATEMENT) {
        let mut update = activity_row::Entity::update_many();
        for (column, value) in &columns {
            let arms: Vec<(Uuid, SimpleExpr)> = chunk
                .iter()
                .filter_map(|c| Some((c.id, value(c)?)))
                .collect();
            if arms.is_empty() {
                continue; // no row changes it (an empty CASE is no SQL)
            }
            let mut case = CaseStatement::new();
            for (id, v) in arms {
                case = case.case(activity_row::Column::Id.eq(id), v);
            }
            let expr: SimpleExpr = case.finally(Expr::col(*column)).into();
            update = update.col_expr(*column, expr);
        }
        update
            .filter(activity_row::Column::Id.is_in(chunk.iter().map(|c| c.id)))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Commands recorded after their replies (deliveries of one queue are not ordered): completes
/// each command's row from its reply already stored. One query finds the replies of every
/// command in `commands`; returns the message ids of the commands completed.
pub async fn complete_from_earlier_replies<C: ConnectionTrait>(
    conn: &C,
    commands: &[&activity_row::Model],
) -> Result<HashSet<Uuid>, DbErr> {
    if commands.is_empty() {
        return Ok(HashSet::new());
    }
    let replies = activity_row::Entity::find()
        .filter(activity_row::Column::CausationId.is_in(commands.iter().map(|c| c.message_id)))
        .filter(activity_row::Column::Kind.eq("event"))
        .filter(activity_row::Column::Direction.eq("in"))
        .filter(activity_row::Column::Status.is_in(["succeeded", "failed"]))
        .all(conn)
        .await?;
    let mut by_cause: HashMap<Uuid, activity_row::Model> = HashMap::new();
    for reply in replies {
        if let Some(cause) = reply.causation_id {
            by_cause.entry(cause).or_insert(reply);
        }
    }
    let mut completed = HashSet::new();
    let mut completions = Vec::new();
    for command in commands {
        let Some(reply) = by_cause.get(&command.message_id) else {
            continue;
        };
        completions.push(Completion {
            id: command.id,
            status: reply.status.clone(),
            completed_at: reply.occurred_at,
            duration_ms: (reply.occurred_at - command.occurred_at)
                .num_milliseconds()
                .max(0),
            failure: (reply.status == Status::Failed.as_str())
                .then(|| (reply.error_code.clone(), reply.error.clone())),
        });
        completed.insert(command.message_id);
    }
    complete(conn, &completions).await?;
    Ok(completed)
}

/// Marks the rows of a parked message `parked`; returns how many there were.
pub async fn mark_parked<C: ConnectionTrait>(
    conn: &C,
    message_id: Uuid,
    reason: &str,
) -> Result<u64, DbErr> {
    let result = activity_row::Entity::update_many()
        .col_expr(
            activity_row::Column::Status,
            Expr::value(Status::Parked.as_str()),
        )
        .col_expr(activity_row::Column::Error, Expr::value(reason.to_owned()))
        .filter(activity_row::Column::MessageId.eq(message_id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Filters of the activity list.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Only this integration.
    pub integration_id: Option<String>,
    /// Only this flow (`customers`, `products`, `categories`, `stock`, `orders`).
    pub flow: Option<String>,
    /// Only this status (`observed`, `sent`, `succeeded`, `failed`, `parked`).
    pub status: Option<String>,
    /// Only this record key (SKU, e-mail address, order number; exact match).
    pub key: Option<String>,
    /// Record keys starting with this (SKU, order number, e-mail address). With a read-only
    /// token e-mail addresses are never matched by a prefix (only `key`, exactly), so that
    /// nobody can discover addresses letter by letter.
    pub key_prefix: Option<String>,
    /// Only this correlation id (one order's saga, one sync run).
    pub correlation_id: Option<Uuid>,
    /// Only this message type (`customer.upsert`).
    pub message_type: Option<String>,
    /// From this time on (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

/// One row as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ActivityItem {
    /// Row id.
    pub id: Uuid,
    /// The message id.
    pub message_id: Uuid,
    /// The integration.
    pub integration_id: String,
    /// `event` or `command`.
    pub kind: String,
    /// `in` (from a system), `out` (to a system) or `internal`.
    pub direction: String,
    /// `mailchimp`, `mpluskassa` or `ferry`.
    pub system: String,
    /// The flow.
    pub flow: String,
    /// The entity.
    pub entity: String,
    /// `<entity>.<verb>`.
    pub message_type: String,
    /// The routing key.
    pub routing_key: String,
    /// SKU, e-mail, order number (e-mail addresses masked for read-only tokens).
    pub record_key: Option<String>,
    /// The status.
    pub status: String,
    /// The failure code.
    pub error_code: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
    /// W3C trace id.
    pub trace_id: Option<String>,
    /// The saga or sync run.
    pub correlation_id: Uuid,
    /// The message that caused this one.
    pub causation_id: Option<Uuid>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When a command's reply arrived.
    pub completed_at: Option<DateTime<Utc>>,
    /// Command until reply, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Personal data was erased from it.
    pub redacted: bool,
}

/// One row with its data.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ActivityDetail {
    /// The row.
    #[serde(flatten)]
    pub item: ActivityItem,
    /// What came from the source system.
    pub source_data: Option<serde_json::Value>,
    /// What was sent to the target system.
    pub sent_data: Option<serde_json::Value>,
    /// What the target answered.
    pub result_data: Option<serde_json::Value>,
    /// Every row of the same correlation id (the saga or sync run), oldest first.
    pub timeline: Vec<ActivityItem>,
}

/// A page of rows.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ActivityPage {
    /// Rows matching the filters.
    pub total: u64,
    /// This page, newest first.
    pub items: Vec<ActivityItem>,
}

/// Whether the reader may see personal data in plain text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Operator tokens.
    Full,
    /// Read-only tokens: e-mail addresses masked.
    Masked,
}

pub(crate) fn item(row: &activity_row::Model, visibility: Visibility) -> ActivityItem {
    let mask = |s: &Option<String>, f: fn(&str) -> String| match visibility {
        Visibility::Full => s.clone(),
        Visibility::Masked => s.as_deref().map(f),
    };
    ActivityItem {
        id: row.id,
        message_id: row.message_id,
        integration_id: row.integration_id.clone(),
        kind: row.kind.clone(),
        direction: row.direction.clone(),
        system: row.system.clone(),
        flow: row.flow.clone(),
        entity: row.entity.clone(),
        message_type: row.message_type.clone(),
        routing_key: row.routing_key.clone(),
        record_key: mask(&row.record_key, classify::mask_if_email),
        status: row.status.clone(),
        error_code: row.error_code.clone(),
        error: mask(&row.error, classify::mask_text),
        trace_id: row.trace_id.clone(),
        correlation_id: row.correlation_id,
        causation_id: row.causation_id,
        occurred_at: row.occurred_at,
        completed_at: row.completed_at,
        duration_ms: row.duration_ms,
        redacted: row.redacted,
    }
}

pub(crate) fn data(
    value: &Option<serde_json::Value>,
    visibility: Visibility,
) -> Option<serde_json::Value> {
    match visibility {
        Visibility::Full => value.clone(),
        Visibility::Masked => value.as_ref().map(classify::mask_json),
    }
}

/// `text` for a `LIKE` pattern: its `%`, `_` and `\\` taken literally.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn conditions(query: &ActivityQuery, visibility: Visibility) -> Condition {
    use activity_row::Column as A;
    use sea_orm::sea_query::{LikeExpr, SimpleExpr};
    let mut c = Condition::all();
    if let Some(prefix) = query
        .key_prefix
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let prefix = if prefix.contains('@') {
            prefix.to_lowercase()
        } else {
            prefix.to_owned()
        };
        let pattern = LikeExpr::new(format!("{}%", like_literal(&prefix))).escape('\\');
        c = c.add(Expr::col(A::RecordKey).like(pattern));
        if visibility == Visibility::Masked {
            let no_email: SimpleExpr = Expr::col(A::RecordKey).not_like("%@%");
            c = c.add(no_email);
        }
    }
    if let Some(v) = &query.integration_id {
        c = c.add(A::IntegrationId.eq(v.as_str()));
    }
    if let Some(v) = &query.flow {
        c = c.add(A::Flow.eq(v.as_str()));
    }
    if let Some(v) = &query.status {
        c = c.add(A::Status.eq(v.as_str()));
    }
    if let Some(v) = &query.message_type {
        c = c.add(A::MessageType.eq(v.as_str()));
    }
    if let Some(v) = &query.key {
        // An e-mail key matches however it was written, and also rows that merely mention it.
        let v = v.trim();
        match ferry_proto::Email::parse(v) {
            Ok(email) if v.contains('@') => {
                let hash = classify::email_hash(email.as_str());
                c = c.add(
                    Condition::any()
                        .add(A::RecordKey.eq(email.as_str()))
                        .add(A::EmailHashes.like(format!("%,{hash},%"))),
                );
            }
            _ => c = c.add(A::RecordKey.eq(v)),
        }
    }
    if let Some(v) = query.correlation_id {
        c = c.add(A::CorrelationId.eq(v));
    }
    if let Some(v) = query.from {
        c = c.add(A::OccurredAt.gte(v));
    }
    if let Some(v) = query.to {
        c = c.add(A::OccurredAt.lt(v));
    }
    c
}

/// A page of rows matching `query`, newest first.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    query: &ActivityQuery,
    visibility: Visibility,
) -> Result<ActivityPage, DbErr> {
    let filter = conditions(query, visibility);
    let total = activity_row::Entity::find()
        .filter(filter.clone())
        .count(conn)
        .await?;
    let rows = activity_row::Entity::find()
        .filter(filter)
        .order_by(activity_row::Column::OccurredAt, Order::Desc)
        .order_by(activity_row::Column::Id, Order::Desc)
        .limit(query.limit.unwrap_or(50).clamp(1, 500))
        .offset(ferry_platform::db::page_offset(query.offset))
        .all(conn)
        .await?;
    Ok(ActivityPage {
        total,
        items: rows.iter().map(|r| item(r, visibility)).collect(),
    })
}

/// One row with its data and its timeline.
pub async fn detail<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    visibility: Visibility,
) -> Result<Option<ActivityDetail>, DbErr> {
    let Some(row) = activity_row::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    let timeline = activity_row::Entity::find()
        .filter(activity_row::Column::CorrelationId.eq(row.correlation_id))
        .filter(activity_row::Column::IntegrationId.eq(row.integration_id.as_str()))
        .order_by(activity_row::Column::OccurredAt, Order::Asc)
        .order_by(activity_row::Column::Id, Order::Asc)
        .limit(500)
        .all(conn)
        .await?;
    Ok(Some(ActivityDetail {
        item: item(&row, visibility),
        source_data: data(&row.source_data, visibility),
        sent_data: data(&row.sent_data, visibility),
        result_data: data(&row.result_data, visibility),
        timeline: timeline.iter().map(|r| item(r, visibility)).collect(),
    }))
}

/// Filters of the statistics.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Only this integration.
    pub integration_id: Option<String>,
    /// From this time on (default: 24 hours ago).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (default: now).
    pub to: Option<DateTime<Utc>>,
    /// Bucket width in minutes (default 60).
    pub bucket_minutes: Option<i64>,
}

/// Rows of one flow and status in one time bucket.
#[derive(Clone, Debug, Serialize, ToSchema, FromQueryResult)]
pub struct StatPoint {
    /// Start of the bucket, in minutes since the Unix epoch.
    pub bucket: i64,
    /// The flow.
    pub flow: String,
    /// The status.
    pub status: String,
    /// How many rows.
    pub count: i64,
}

/// Counts per flow and status over time.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Stats {
    /// Bucket width in minutes.
    pub bucket_minutes: i64,
    /// First bucket (minutes since the Unix epoch).
    pub from_minute: i64,
    /// End (exclusive, minutes since the Unix epoch).
    pub to_minute: i64,
    /// The counts; buckets without rows are left out.
    pub points: Vec<StatPoint>,
}

/// Counts per flow, status and time bucket.
pub async fn stats<C: ConnectionTrait>(conn: &C, query: &StatsQuery) -> Result<Stats, DbErr> {
    use activity_row::Column as A;
    let to = query.to.unwrap_or_else(Utc::now);
    let from = query.from.unwrap_or(to - ChronoDuration::hours(24));
    let width = query.bucket_minutes.unwrap_or(60).clamp(1, 7 * 24 * 60);
    let from_minute = from.timestamp().div_euclid(60).div_euclid(width) * width;
    let to_minute = to.timestamp().div_euclid(60) + 1;
    // Integers computed here, not user text: safe to inline (placeholders differ per backend).
    let bucket = Expr::cust(format!(
        "(minute - {from_minute}) / {width} * {width} + {from_minute}"
    ));
    let mut select = activity_row::Entity::find()
        .select_only()
        .column_as(bucket, "bucket")
        .column(A::Flow)
        .column(A::Status)
        .column_as(Expr::col(A::Id).count(), "count")
        .filter(A::Minute.gte(from_minute))
        .filter(A::Minute.lt(to_minute));
    if let Some(integration) = &query.integration_id {
        select = select.filter(A::IntegrationId.eq(integration.as_str()));
    }
    let points = select
        .group_by(Expr::cust("bucket"))
        .group_by(A::Flow)
        .group_by(A::Status)
        .into_model::<StatPoint>()
        .all(conn)
        .await?;
    Ok(Stats {
        bucket_minutes: width,
        from_minute,
        to_minute,
        points,
    })
}

/// The health of one flow of one integration.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FlowHealth {
    /// The flow.
    pub flow: String,
    /// `ok`, `failing` (failures and no success since) or `idle` (nothing in 24 hours).
    pub health: String,
    /// Rows per status over the last 24 hours.
    pub counts: BTreeMap<String, i64>,
    /// Latest success.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Latest failure.
    pub last_failure_at: Option<DateTime<Utc>>,
}

/// One integration and its flows.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IntegrationHealth {
    /// The integration.
    pub integration_id: String,
    /// Its name (none for an integration the notifier only saw in messages).
    pub name: Option<String>,
    /// `draft`, `live` or `paused`, when known.
    pub state: Option<String>,
    /// `registry` or `configured`, when known.
    pub origin: Option<String>,
    /// `ok`, `failing` or `idle`: the worst of its flows.
    pub health: String,
    /// Its flows.
    pub flows: Vec<FlowHealth>,
    /// Latest activity.
    pub last_activity_at: Option<DateTime<Utc>>,
}

#[derive(Debug, FromQueryResult)]
struct HealthRow {
    integration_id: String,
    flow: String,
    status: String,
    count: i64,
    last: Option<DateTime<Utc>>,
}

/// Every known integration (`known`, by name, then the others seen in the log) and the health
/// of its flows over the last 24 hours.
pub async fn health<C: ConnectionTrait>(
    conn: &C,
    known: &[KnownIntegration],
    now: DateTime<Utc>,
) -> Result<Vec<IntegrationHealth>, DbErr> {
    use activity_row::Column as A;
    let since = now - ChronoDuration::hours(24);
    let rows = activity_row::Entity::find()
        .select_only()
        .column(A::IntegrationId)
        .column(A::Flow)
        .column(A::Status)
        .column_as(Expr::col(A::Id).count(), "count")
        .column_as(A::OccurredAt.max(), "last")
        .filter(A::OccurredAt.gte(since))
        // The registry's own announcements are no flow of records.
        .filter(A::Flow.ne("integration"))
        .group_by(A::IntegrationId)
        .group_by(A::Flow)
        .group_by(A::Status)
        .into_model::<HealthRow>()
        .all(conn)
        .await?;
    let mut by_integration: BTreeMap<String, BTreeMap<String, FlowHealth>> = BTreeMap::new();
    for row in rows {
        let flow = by_integration
            .entry(row.integration_id)
            .or_default()
            .entry(row.flow.clone())
            .or_insert_with(|| FlowHealth {
                flow: row.flow.clone(),
                health: "idle".to_owned(),
                counts: BTreeMap::new(),
                last_success_at: None,
                last_failure_at: None,
            });
        flow.counts.insert(row.status.clone(), row.count);
        match row.status.as_str() {
            "succeeded" => flow.last_success_at = flow.last_success_at.max(row.last),
            "failed" | "parked" => flow.last_failure_at = flow.last_failure_at.max(row.last),
            _ => {}
        }
    }
    for k in known {
        by_integration.entry(k.integration_id.clone()).or_default();
    }
    let mut out = Vec::new();
    for (integration_id, flows) in by_integration {
        let mut flows: Vec<FlowHealth> = flows.into_values().collect();
        for flow in &mut flows {
            flow.health = match (flow.last_success_at, flow.last_failure_at) {
                (_, None) if flow.counts.values().sum::<i64>() > 0 => "ok",
                (Some(ok), Some(failed)) if ok > failed => "ok",
                (_, Some(_)) => "failing",
                _ => "idle",
            }
            .to_owned();
        }
        let health = if flows.iter().any(|f| f.health == "failing") {
            "failing"
        } else if flows.iter().any(|f| f.health == "ok") {
            "ok"
        } else {
            "idle"
        };
        let last_activity_at = activity_row::Entity::find()
            .select_only()
            .column_as(A::OccurredAt.max(), "last")
            .filter(A::IntegrationId.eq(integration_id.as_str()))
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(conn)
            .await?
            .flatten();
        let k = known.iter().find(|k| k.integration_id == integration_id);
        out.push(IntegrationHealth {
            name: k.map(|k| k.name.clone()),
            state: k.map(|k| k.state.clone()),
            origin: k.map(|k| k.origin.clone()),
            integration_id,
            health: health.to_owned(),
            flows,
            last_activity_at,
        });
    }
    // Named ones first, by name; then the rest by id.
    out.sort_by(|a, b| {
        (
            a.name.is_none(),
            a.name.as_deref().map(str::to_lowercase),
            &a.integration_id,
        )
            .cmp(&(
                b.name.is_none(),
                b.name.as_deref().map(str::to_lowercase),
                &b.integration_id,
            ))
    });
    Ok(out)
}

/// Retention of each integration: overrides from the table, then the configuration, then the
/// default.
pub async fn retention_overrides<C: ConnectionTrait>(
    conn: &C,
    configured: &BTreeMap<String, u32>,
) -> Result<BTreeMap<String, u32>, DbErr> {
    let mut all = configured.clone();
    for row in retention_row::Entity::find().all(conn).await? {
        all.insert(
            row.integration_id,
            u32::try_from(row.days).unwrap_or(1).max(1),
        );
    }
    Ok(all)
}

/// Sets one integration's retention.
pub async fn set_retention<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    days: u32,
) -> Result<(), DbErr> {
    let row = retention_row::ActiveModel {
        integration_id: Set(integration_id.to_owned()),
        days: Set(i32::try_from(days).unwrap_or(i32::MAX)),
        updated_at: Set(Utc::now()),
    };
    retention_row::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(retention_row::Column::IntegrationId)
                .update_columns([
                    retention_row::Column::Days,
                    retention_row::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Deletes rows older than their integration's retention (`overrides`, else `default_days`).
/// Returns how many were deleted.
pub async fn purge<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    default_days: u32,
    overrides: &BTreeMap<String, u32>,
) -> Result<u64, DbErr> {
    use activity_row::Column as A;
    let cutoff = |days: u32| now - ChronoDuration::days(i64::from(days));
    let mut removed = 0;
    for (integration, days) in overrides {
        removed += activity_row::Entity::delete_many()
            .filter(A::IntegrationId.eq(integration.as_str()))
            .filter(A::OccurredAt.lt(cutoff(*days)))
            .exec(conn)
            .await?
            .rows_affected;
    }
    let mut rest =
        activity_row::Entity::delete_many().filter(A::OccurredAt.lt(cutoff(default_days)));
    if !overrides.is_empty() {
        rest = rest.filter(A::IntegrationId.is_not_in(overrides.keys().map(String::as_str)));
    }
    removed += rest.exec(conn).await?.rows_affected;
    Ok(removed)
}

/// Forgets an integration that was deleted: its activity rows and its retention override.
pub async fn forget_integration<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
) -> Result<u64, DbErr> {
    let removed = activity_row::Entity::delete_many()
        .filter(activity_row::Column::IntegrationId.eq(integration_id))
        .exec(conn)
        .await?
        .rows_affected;
    retention_row::Entity::delete_by_id(integration_id.to_owned())
        .exec(conn)
        .await?;
    Ok(removed)
}

/// What an erasure did (counts only: never the erased value).
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct EraseReport {
    /// Activity rows whose personal data was removed.
    pub activity_rows_redacted: u64,
    /// Alerts whose record, sentence and detail were redacted.
    pub alerts_redacted: u64,
    /// Parked messages mentioning the address, redacted (kept as evidence of the failure).
    pub parked_messages_redacted: u64,
    /// Integrations whose services were told to erase the person (each service erases its
    /// own rows and audits it in its `ferry_erasures`).
    #[serde(default)]
    pub integrations_notified: u64,
}

/// Redacts every row mentioning `email`: payloads removed, the record key and error replaced,
/// the e-mail fingerprints cleared. Counts, statuses and times stay (they hold no personal data).
/// Returns the ids of the messages redacted.
pub async fn erase_email<C: ConnectionTrait>(
    conn: &C,
    email: &ferry_proto::Email,
) -> Result<Vec<Uuid>, DbErr> {
    use activity_row::Column as A;
    let hash = classify::email_hash(email.as_str());
    let mentions = Condition::any()
        .add(A::RecordKey.eq(email.as_str()))
        .add(A::EmailHashes.like(format!("%,{hash},%")));
    let rows = activity_row::Entity::find()
        .filter(mentions)
        .all(conn)
        .await?;
    let mut redacted = Vec::with_capacity(rows.len());
    for row in rows {
        redacted.push(row.message_id);
        let key_is_email = row.record_key.as_deref().is_some_and(|k| k.contains('@'));
        let mut active: activity_row::ActiveModel = row.clone().into();
        active.source_data = Set(None);
        active.sent_data = Set(None);
        active.result_data = Set(None);
        if key_is_email {
            active.record_key = Set(Some("[erased]".to_owned()));
        }
        active.error = Set(row.error.as_deref().map(|e| redact_text(e, email.as_str())));
        active.email_hashes = Set(String::new());
        active.redacted = Set(true);
        active.update(conn).await?;
    }
    Ok(redacted)
}

/// `text` with every occurrence of `email` (any case) replaced by `[erased]`.
pub fn redact_text(text: &str, email: &str) -> String {
    let lower = text.to_lowercase();
    if lower.contains(email) {
        // Byte offsets of the lower-cased text match the original for ASCII addresses; for
        // anything else drop the text rather than risk leaving the address.
        if text.is_ascii() {
            let mut out = String::new();
            let mut rest = 0;
            for (at, _) in lower.match_indices(email) {
                out.push_str(&text[rest..at]);
                out.push_str("[erased]");
                rest = at + email.len();
            }
            out.push_str(&text[rest..]);
            return out;
        }
        return "[erased]".to_owned();
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_every_occurrence() {
        assert_eq!(
            redact_text("Jan@X.nl refused; jan@x.nl again", "jan@x.nl"),
            "[erased] refused; [erased] again"
        );
        assert_eq!(redact_text("other", "jan@x.nl"), "other");
    }
}

#[cfg(test)]
mod payload_tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_before_storing() {
        let payload = serde_json::json!({
            "raw": {"first_name": "Bell\u{7}Null\u{0}", "lines": ["a\u{0}b"], "k\u{0}": 1}
        });
        let stored = bounded(&payload);
        assert!(!stored.to_string().contains("\\u0000"), "{stored}");
        assert_eq!(stored["raw"]["first_name"], "Bell\u{7}Null\u{FFFD}");
        assert_eq!(stored["raw"]["lines"][0], "a\u{FFFD}b");
        assert_eq!(stored["raw"]["k\u{FFFD}"], 1);
    }
}
