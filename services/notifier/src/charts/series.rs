//! Time series of the activity log: the window and its buckets (hourly over 24 hours, per
//! minute over the last hour), records per flow and status, failures, and the latency from a
//! change seen in the source until the target confirmed it (p50 / p95).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::activity_row;

/// The two spans the dashboard shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// 24 hourly buckets, the last one holding the current hour.
    Day,
    /// 60 one-minute buckets, the last one holding the current minute.
    Hour,
}

impl Span {
    /// `24h` or `1h` (default `24h`).
    pub fn parse(text: Option<&str>) -> Option<Self> {
        match text.unwrap_or("24h") {
            "24h" => Some(Self::Day),
            "1h" => Some(Self::Hour),
            _ => None,
        }
    }

    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Hour => "1h",
        }
    }
}

/// Buckets of equal width, in minutes since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First minute of the first bucket.
    pub start_minute: i64,
    /// Bucket width in minutes.
    pub width: i64,
    /// How many buckets.
    pub buckets: usize,
}

impl Window {
    /// The window of `span` ending with the bucket that holds `now`.
    pub fn ending_at(span: Span, now: DateTime<Utc>) -> Self {
        let minute = now.timestamp().div_euclid(60);
        let (width, buckets) = match span {
            Span::Day => (60, 24),
            Span::Hour => (1, 60),
        };
        let current = minute.div_euclid(width) * width;
        Self {
            start_minute: current - width * (buckets as i64 - 1),
            width,
            buckets,
        }
    }

    /// The first minute after the window.
    pub fn end_minute(&self) -> i64 {
        self.start_minute + self.width * self.buckets as i64
    }

    /// The bucket holding `minute`, if in the window.
    pub fn index(&self, minute: i64) -> Option<usize> {
        if minute < self.start_minute || minute >= self.end_minute() {
            return None;
        }
        usize::try_from((minute - self.start_minute) / self.width).ok()
    }

    /// When bucket `i` starts.
    pub fn start_of(&self, i: usize) -> DateTime<Utc> {
        let minute = self.start_minute + self.width * i as i64;
        Utc.timestamp_opt(minute * 60, 0)
            .single()
            .unwrap_or_default()
    }

    /// When the window starts.
    pub fn from(&self) -> DateTime<Utc> {
        self.start_of(0)
    }

    /// When the window ends.
    pub fn to(&self) -> DateTime<Utc> {
        self.from() + ChronoDuration::minutes(self.width * self.buckets as i64)
    }

    /// Axis labels (`HH:MM` in the reader's time zone, `offset_minutes` east of UTC) every 6
    /// hours or every 15 minutes, and every bucket's name for tooltips.
    pub fn labels(&self, offset_minutes: i64) -> (Vec<(usize, String)>, Vec<String>) {
        let offset = ChronoDuration::minutes(offset_minutes.clamp(-14 * 60, 14 * 60));
        let every = if self.width >= 60 { 6 } else { 15 };
        let name = |i: usize| (self.start_of(i) + offset).format("%H:%M").to_string();
        let names: Vec<String> = (0..self.buckets).map(name).collect();
        let local_minute =
            |i: usize| self.start_minute + self.width * i as i64 + offset.num_minutes();
        let axis = (0..self.buckets)
            .filter(|i| (local_minute(*i) / self.width).rem_euclid(every) == 0)
            .map(|i| (i, names[i].clone()))
            .collect();
        (axis, names)
    }
}

/// The value at or above fraction `p` of `sorted` values (nearest rank); none for no values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied()
}

/// One flow's records per status and bucket.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
pub struct FlowSeries {
    /// The flow.
    pub flow: String,
    /// Per status (`observed`, `sent`, `succeeded`, `failed`, `parked`): a count per bucket.
    pub statuses: BTreeMap<String, Vec<i64>>,
}

/// Records, failures and latency over a window.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
pub struct TimeSeries {
    /// `24h` (hourly buckets) or `1h` (per minute).
    pub span: String,
    /// Bucket width in minutes.
    pub bucket_minutes: i64,
    /// Start of every bucket.
    pub buckets: Vec<DateTime<Utc>>,
    /// Per flow: changes seen in a source (`observed`) and commands to a target by outcome
    /// (`sent` is awaiting its reply).
    pub records: Vec<FlowSeries>,
    /// Failed and parked records per bucket (every flow).
    pub failures: Vec<i64>,
    /// Median milliseconds from a change seen in the source until the target confirmed it, by
    /// the bucket of the confirmation.
    pub latency_p50_ms: Vec<Option<i64>>,
    /// 95th percentile of the same.
    pub latency_p95_ms: Vec<Option<i64>>,
    /// How many confirmations the latency is measured on, per bucket.
    pub latency_samples: Vec<i64>,
}

/// Loads the series of `window` (one integration, or all).
pub async fn load<C: ConnectionTrait>(
    conn: &C,
    window: Window,
    integration_id: Option<&str>,
) -> Result<TimeSeries, DbErr> {
    use activity_row::Column as A;
    let n = window.buckets;
    let mut scope = Condition::all();
    if let Some(integration) = integration_id {
        scope = scope.add(A::IntegrationId.eq(integration));
    }
    // Records: observed changes and commands; replies are already counted on their command.
    let counts: Vec<(i64, String, String, i64)> = activity_row::Entity::find()
        .select_only()
        .column(A::Minute)
        .column(A::Flow)
        .column(A::Status)
        .column_as(Expr::col(A::Id).count(), "n")
        .filter(scope.clone())
        .filter(A::Minute.gte(window.start_minute))
        .filter(A::Minute.lt(window.end_minute()))
        .filter(A::Flow.ne("integration"))
        .filter(
            Condition::any()
                .add(A::Kind.eq("command"))
                .add(A::Status.is_not_in(["succeeded", "failed"])),
        )
        .group_by(A::Minute)
        .group_by(A::Flow)
        .group_by(A::Status)
        .into_tuple()
        .all(conn)
        .await?;
    let mut flows: BTreeMap<String, BTreeMap<String, Vec<i64>>> = BTreeMap::new();
    let mut failures = vec![0; n];
    for (minute, flow, status, count) in counts {
        let Some(i) = window.index(minute) else {
            continue;
        };
        if status == "failed" || status == "parked" {
            failures[i] += count;
        }
        flows
            .entry(flow)
            .or_default()
            .entry(status)
            .or_insert_with(|| vec![0; n])[i] += count;
    }

    let latencies = latencies(conn, window, scope).await?;
    let mut p50 = vec![None; n];
    let mut p95 = vec![None; n];
    let mut samples = vec![0; n];
    for (i, mut values) in latencies {
        values.sort_unstable();
        p50[i] = percentile(&values, 0.5);
        p95[i] = percentile(&values, 0.95);
        samples[i] = values.len() as i64;
    }
    Ok(TimeSeries {
        span: if window.width >= 60 { "24h" } else { "1h" }.to_owned(),
        bucket_minutes: window.width,
        buckets: (0..n).map(|i| window.start_of(i)).collect(),
        records: flows
            .into_iter()
            .map(|(flow, statuses)| FlowSeries { flow, statuses })
            .collect(),
        failures,
        latency_p50_ms: p50,
        latency_p95_ms: p95,
        latency_samples: samples,
    })
}

/// Most confirmations a window measures (the newest are kept).
const MAX_SAMPLES: u64 = 50_000;

/// Milliseconds from the observed change to each confirmed command, per bucket of the
/// confirmation. The change is the `*.observed` event of the same saga or sync run with the
/// same record key, else the first one of the saga (an order's customer step has the
/// customer's key).
async fn latencies<C: ConnectionTrait>(
    conn: &C,
    window: Window,
    scope: Condition,
) -> Result<BTreeMap<usize, Vec<i64>>, DbErr> {
    use activity_row::Column as A;
    let commands: Vec<(Uuid, Option<String>, Option<DateTime<Utc>>)> = activity_row::Entity::find()
        .select_only()
        .column(A::CorrelationId)
        .column(A::RecordKey)
        .column(A::CompletedAt)
        .filter(scope.clone())
        .filter(A::Kind.eq("command"))
        .filter(A::Status.eq("succeeded"))
        .filter(A::CompletedAt.gte(window.from()))
        .filter(A::CompletedAt.lt(window.to()))
        .limit(MAX_SAMPLES)
        .into_tuple()
        .all(conn)
        .await?;
    let mut correlations: Vec<Uuid> = commands.iter().map(|c| c.0).collect();
    correlations.sort_unstable();
    correlations.dedup();
    let mut by_key: HashMap<(Uuid, Option<String>), DateTime<Utc>> = HashMap::new();
    let mut first: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for chunk in correlations.chunks(500) {
        let observed: Vec<(Uuid, Option<String>, DateTime<Utc>)> = activity_row::Entity::find()
            .select_only()
            .column(A::CorrelationId)
            .column(A::RecordKey)
            .column(A::OccurredAt)
            .filter(scope.clone())
            .filter(A::CorrelationId.is_in(chunk.iter().copied()))
            .filter(A::Kind.eq("event"))
            .filter(A::MessageType.like("%.observed"))
            .into_tuple()
            .all(conn)
            .await?;
        for (corr, key, at) in observed {
            let slot = by_key.entry((corr, key)).or_insert(at);
            *slot = (*slot).min(at);
            let slot = first.entry(corr).or_insert(at);
            *slot = (*slot).min(at);
        }
    }
    let mut out: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
    for (corr, key, completed) in commands {
        let Some(completed) = completed else { continue };
        let Some(i) = window.index(completed.timestamp().div_euclid(60)) else {
            continue;
        };
        let Some(seen) = by_key
            .get(&(corr, key))
            .or_else(|| first.get(&corr))
            .copied()
        else {
            continue;
        };
        out.entry(i)
            .or_default()
            .push((completed - seen).num_milliseconds().max(0));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_day_is_24_hours_ending_with_the_current_one() {
        let w = Window::ending_at(Span::Day, at("2026-12-06T19:27:41Z"));
        assert_eq!(w.width, 60);
        assert_eq!(w.buckets, 24);
        assert_eq!(w.from(), at("2026-12-05T20:00:00Z"));
        assert_eq!(w.to(), at("2026-12-06T20:00:00Z"));
        let minute = |t: &str| at(t).timestamp() / 60;
        assert_eq!(w.index(minute("2026-12-06T19:27:00Z")), Some(23));
        assert_eq!(w.index(minute("2026-12-06T19:00:00Z")), Some(23));
        assert_eq!(w.index(minute("2026-12-06T18:59:00Z")), Some(22));
        assert_eq!(w.index(minute("2026-12-05T20:00:00Z")), Some(0));
        assert_eq!(w.index(minute("2026-12-05T19:59:00Z")), None);
        assert_eq!(w.index(minute("2026-12-06T20:00:00Z")), None);
    }

    #[test]
    fn an_hour_is_60_minutes_ending_with_the_current_one() {
        let w = Window::ending_at(Span::Hour, at("2026-12-06T19:27:41Z"));
        assert_eq!((w.width, w.buckets), (1, 60));
        assert_eq!(w.from(), at("2026-12-06T18:28:00Z"));
        assert_eq!(w.start_of(59), at("2026-12-06T19:27:00Z"));
        assert_eq!(
            w.index(at("2026-12-06T19:27:00Z").timestamp() / 60),
            Some(59)
        );
        assert_eq!(
            w.index(at("2026-12-06T18:28:00Z").timestamp() / 60),
            Some(0)
        );
        assert_eq!(w.index(at("2026-12-06T18:27:00Z").timestamp() / 60), None);
    }

    #[test]
    fn labels_are_local_and_round() {
        let w = Window::ending_at(Span::Day, at("2026-12-06T19:27:41Z"));
        let (axis, names) = w.labels(60);
        // Buckets start at 21:00 local (20:00 UTC + 1 h); labels at 00, 06, 12, 18 local.
        assert_eq!(names[0], "21:00");
        assert_eq!(
            axis,
            vec![
                (3, "00:00".to_owned()),
                (9, "06:00".to_owned()),
                (15, "12:00".to_owned()),
                (21, "18:00".to_owned())
            ]
        );
        let w = Window::ending_at(Span::Hour, at("2026-12-06T19:27:41Z"));
        let (axis, names) = w.labels(0);
        assert_eq!(names[59], "19:27");
        assert_eq!(
            axis.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
            vec!["18:30", "18:45", "19:00", "19:15"]
        );
        // An absurd offset is clamped, not a panic.
        assert_eq!(w.labels(i64::MAX).1.len(), 60);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7], 0.95), Some(7));
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), Some(50));
        assert_eq!(percentile(&values, 0.95), Some(95));
        assert_eq!(percentile(&values, 0.0), Some(1));
        assert_eq!(percentile(&[10, 20, 30], 0.5), Some(20));
        assert_eq!(percentile(&[10, 20, 30, 40], 0.95), Some(40));
    }

    #[test]
    fn spans_parse() {
        assert_eq!(Span::parse(None), Some(Span::Day));
        assert_eq!(Span::parse(Some("1h")), Some(Span::Hour));
        assert_eq!(Span::parse(Some("7d")), None);
        assert_eq!(Span::Hour.as_str(), "1h");
    }
}
