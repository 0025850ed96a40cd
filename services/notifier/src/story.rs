//! One record's whole story: what came from the source, what the mapper made of it, every
//! command sent to the target with its payload and the target's answer, the final state, how
//! long it took, and the trace id (linked to the tracing UI when `trace_url` is configured).
//! Built from the activity rows of the record's saga or sync run (its correlation id).

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::activity::{self, ActivityItem, Visibility};
use crate::store::activity_row;

/// One message of the story with its payload.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StoryMessage {
    /// The row.
    pub row: ActivityItem,
    /// Its payload: what came from the source, what was sent, or what the target answered.
    pub data: Option<serde_json::Value>,
}

/// A command to the target and the target's answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StoryStep {
    /// The command, with what was sent.
    pub command: StoryMessage,
    /// The answer, with what the target said (none while it is awaited).
    pub reply: Option<StoryMessage>,
}

/// A record from its change in the source to its final state in the target.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordStory {
    /// The integration.
    pub integration_id: String,
    /// The record (e-mail addresses masked for read-only tokens).
    pub record_key: Option<String>,
    /// The flow.
    pub flow: String,
    /// The saga or sync run.
    pub correlation_id: Uuid,
    /// As it came from the source system (the `*.observed` event).
    pub source: Option<StoryMessage>,
    /// As the mapper made it for the target (`order.mapped`, or the first command's payload).
    pub mapped: Option<StoryMessage>,
    /// Every command to the target, oldest first, with its answer.
    pub steps: Vec<StoryStep>,
    /// Every other message of the saga (failures, saga events), oldest first.
    pub other: Vec<StoryMessage>,
    /// `succeeded` (every command confirmed), `failed`, `parked`, `sent` (an answer is
    /// awaited) or `observed` (nothing sent yet).
    pub final_status: String,
    /// The last answer of the target.
    pub final_reply: Option<serde_json::Value>,
    /// From the first to the last message.
    pub started_at: DateTime<Utc>,
    /// The last message.
    pub finished_at: DateTime<Utc>,
    /// From the change seen in the source (or the first message) to the last answer.
    pub total_ms: i64,
    /// The W3C trace id (of the first message carrying one).
    pub trace_id: Option<String>,
    /// The trace in the tracing UI, when `trace_url` is configured.
    pub trace_url: Option<String>,
}

fn message(row: &activity_row::Model, visibility: Visibility) -> StoryMessage {
    let data = row
        .source_data
        .as_ref()
        .or(row.sent_data.as_ref())
        .or(row.result_data.as_ref())
        .cloned();
    StoryMessage {
        row: activity::item(row, visibility),
        data: activity::data(&data, visibility),
    }
}

/// The story of the record of activity row `id`; none when there is no such row.
pub async fn of_row<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    visibility: Visibility,
    trace_url: Option<&str>,
) -> Result<Option<RecordStory>, DbErr> {
    use activity_row::Column as A;
    let Some(row) = activity_row::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    let rows = activity_row::Entity::find()
        .filter(A::CorrelationId.eq(row.correlation_id))
        .filter(A::IntegrationId.eq(row.integration_id.as_str()))
        .order_by(A::OccurredAt, Order::Asc)
        .order_by(A::Id, Order::Asc)
        .limit(500)
        .all(conn)
        .await?;
    Ok(Some(tell(&row, &rows, visibility, trace_url)))
}

fn tell(
    row: &activity_row::Model,
    rows: &[activity_row::Model],
    visibility: Visibility,
    trace_url: Option<&str>,
) -> RecordStory {
    let observed =
        |r: &&activity_row::Model| r.kind == "event" && r.message_type.ends_with(".observed");
    // The source record: the observed event with this record's key, else the saga's first.
    let source = rows
        .iter()
        .filter(observed)
        .find(|r| r.record_key == row.record_key)
        .or_else(|| rows.iter().find(observed));
    let mapped_event = rows.iter().find(|r| r.message_type == "order.mapped");
    let commands: Vec<&activity_row::Model> = rows.iter().filter(|r| r.kind == "command").collect();
    let is_reply = |r: &activity_row::Model| {
        r.kind == "event"
            && commands
                .iter()
                .any(|c| Some(c.message_id) == r.causation_id)
    };
    let steps: Vec<StoryStep> = commands
        .iter()
        .map(|c| StoryStep {
            command: message(c, visibility),
            reply: rows
                .iter()
                .find(|r| r.kind == "event" && r.causation_id == Some(c.message_id))
                .map(|r| message(r, visibility)),
        })
        .collect();
    let other = rows
        .iter()
        .filter(|r| {
            r.kind == "event"
                && !is_reply(r)
                && Some(r.id) != source.map(|s| s.id)
                && Some(r.id) != mapped_event.map(|m| m.id)
        })
        .map(|r| message(r, visibility))
        .collect();
    let final_status = if rows.iter().any(|r| r.status == "parked") {
        "parked"
    } else if commands.iter().any(|c| c.status == "failed")
        || rows.iter().any(|r| r.status == "failed")
    {
        "failed"
    } else if commands.iter().any(|c| c.status == "sent") {
        "sent"
    } else if commands.is_empty() {
        "observed"
    } else {
        "succeeded"
    };
    let final_reply = steps
        .iter()
        .rev()
        .find_map(|s| s.reply.as_ref().and_then(|r| r.data.clone()));
    let started_at = rows.first().map_or(row.occurred_at, |r| r.occurred_at);
    let finished_at = rows
        .iter()
        .map(|r| r.completed_at.unwrap_or(r.occurred_at).max(r.occurred_at))
        .max()
        .unwrap_or(row.occurred_at);
    let from = source.map_or(started_at, |s| s.occurred_at);
    let trace_id = std::iter::once(row)
        .chain(rows.iter())
        .find_map(|r| r.trace_id.clone());
    let trace_url = match (trace_url, &trace_id) {
        (Some(template), Some(id)) => Some(template.replace("{trace_id}", id)),
        _ => None,
    };
    RecordStory {
        integration_id: row.integration_id.clone(),
        record_key: source
            .map_or_else(
                || activity::item(row, visibility),
                |s| activity::item(s, visibility),
            )
            .record_key,
        flow: source.map_or_else(|| row.flow.clone(), |s| s.flow.clone()),
        correlation_id: row.correlation_id,
        source: source.map(|s| message(s, visibility)),
        mapped: mapped_event
            .or_else(|| commands.first().copied())
            .map(|m| message(m, visibility)),
        steps,
        other,
        final_status: final_status.to_owned(),
        final_reply,
        started_at,
        finished_at,
        total_ms: (finished_at - from).num_milliseconds().max(0),
        trace_id,
        trace_url,
    }
}
