//! How far behind each integration is, from what the notifier sees: the last change seen from
//! each source system and flow, the last record each target confirmed, the oldest change seen
//! but not yet delivered (no success, failure or parking of the same record in its saga or
//! sync run), the parked messages, and how many messages wait in each service's queue.
//!
//! What the notifier cannot see is not guessed: a poll that found no change leaves no message,
//! so "last change seen" is the age of the last *change*, not of the last poll; a backfill's
//! progress is not published on the bus yet, so it is not shown.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_platform::bus::parking::{ParkedFilter, ParkingLot};
use ferry_platform::bus::{self, Bus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    Statement,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::activity_row;

/// The latest time of something, per system and flow.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct SystemFlowTime {
    /// `mailchimp` or `mpluskassa`.
    pub system: String,
    /// The flow.
    pub flow: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One integration's freshness and backlog.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IntegrationFreshness {
    /// The integration.
    pub integration_id: String,
    /// The last change seen from each source system, per flow.
    pub last_seen: Vec<SystemFlowTime>,
    /// The last record each target system confirmed, per flow.
    pub last_delivered: Vec<SystemFlowTime>,
    /// The oldest change seen in a source and not delivered yet (nothing succeeded, failed or
    /// was parked for that record in its saga or sync run).
    pub oldest_undelivered_at: Option<DateTime<Utc>>,
    /// How many such changes there are.
    pub undelivered: i64,
    /// Parked messages of this integration waiting for a replay or a discard (counted up to
    /// 500).
    pub parked: u64,
}

/// Messages waiting in one service's queue.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QueueDepth {
    /// The queue (one per service).
    pub queue: String,
    /// Messages ready for the service; none when the bus cannot tell.
    pub waiting: Option<u64>,
}

/// Freshness of every integration and the queues' backlog.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Freshness {
    /// Per integration that has activity.
    pub integrations: Vec<IntegrationFreshness>,
    /// Per service queue (shared by every integration).
    pub queues: Vec<QueueDepth>,
    /// When this was measured.
    pub measured_at: DateTime<Utc>,
}

#[derive(Debug, FromQueryResult)]
struct Backlog {
    integration_id: String,
    oldest: Option<DateTime<Utc>>,
    waiting: i64,
}

/// Changes seen but not delivered, per integration (one query, the same SQL on PostgreSQL and
/// SQLite).
const BACKLOG_SQL: &str = "SELECT o.integration_id AS integration_id, MIN(o.occurred_at) AS oldest, \
     COUNT(*) AS waiting FROM notifier_activity o \
     WHERE o.kind = 'event' AND o.status = 'observed' AND o.message_type LIKE '%.observed' \
     AND NOT EXISTS (SELECT 1 FROM notifier_activity r \
       WHERE r.correlation_id = o.correlation_id AND r.integration_id = o.integration_id \
       AND (r.record_key = o.record_key OR o.record_key IS NULL) \
       AND r.status IN ('succeeded', 'failed', 'parked')) \
     GROUP BY o.integration_id";

async fn latest<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    status: &str,
) -> Result<Vec<(String, String, String, Option<DateTime<Utc>>)>, DbErr> {
    use activity_row::Column as A;
    activity_row::Entity::find()
        .select_only()
        .column(A::IntegrationId)
        .column(A::System)
        .column(A::Flow)
        .column_as(A::OccurredAt.max(), "at")
        .filter(A::Kind.eq(kind))
        .filter(A::Direction.eq("in"))
        .filter(A::Status.eq(status))
        .filter(A::Flow.ne("integration"))
        .group_by(A::IntegrationId)
        .group_by(A::System)
        .group_by(A::Flow)
        .into_tuple()
        .all(conn)
        .await
}

fn slot<'a>(
    per: &'a mut BTreeMap<String, IntegrationFreshness>,
    id: &str,
) -> &'a mut IntegrationFreshness {
    per.entry(id.to_owned())
        .or_insert_with(|| IntegrationFreshness {
            integration_id: id.to_owned(),
            last_seen: Vec::new(),
            last_delivered: Vec::new(),
            oldest_undelivered_at: None,
            undelivered: 0,
            parked: 0,
        })
}

/// Measures freshness and backlog now.
pub async fn measure<C: ConnectionTrait>(
    conn: &C,
    bus: &Arc<dyn Bus>,
    lot: Option<&ParkingLot>,
    now: DateTime<Utc>,
) -> Result<Freshness, DbErr> {
    let mut per: BTreeMap<String, IntegrationFreshness> = BTreeMap::new();
    for (integration, system, flow, at) in latest(conn, "event", "observed").await? {
        if let Some(at) = at {
            slot(&mut per, &integration)
                .last_seen
                .push(SystemFlowTime { system, flow, at });
        }
    }
    for (integration, system, flow, at) in latest(conn, "event", "succeeded").await? {
        if let Some(at) = at {
            slot(&mut per, &integration)
                .last_delivered
                .push(SystemFlowTime { system, flow, at });
        }
    }
    let backend = conn.get_database_backend();
    let backlog = Backlog::find_by_statement(Statement::from_string(backend, BACKLOG_SQL))
        .all(conn)
        .await?;
    for b in backlog {
        let f = slot(&mut per, &b.integration_id);
        f.oldest_undelivered_at = b.oldest;
        f.undelivered = b.waiting;
    }
    if let Some(lot) = lot {
        let ids: Vec<String> = per.keys().cloned().collect();
        for id in ids {
            let parked = lot
                .list(&ParkedFilter {
                    integration_id: Some(id.clone()),
                    limit: 500,
                    ..Default::default()
                })
                .await?;
            if let Some(f) = per.get_mut(&id) {
                f.parked = u64::try_from(parked.len()).unwrap_or(u64::MAX);
            }
        }
    }
    let mut queues = Vec::new();
    for queue in bus::queues::ALL {
        let waiting = match bus.queue_depth(queue).await {
            Ok(depth) => depth,
            Err(error) => {
                tracing::debug!(%error, queue, "queue depth unknown");
                None
            }
        };
        queues.push(QueueDepth {
            queue: queue.to_owned(),
            waiting,
        });
    }
    Ok(Freshness {
        integrations: per.into_values().collect(),
        queues,
        measured_at: now,
    })
}
