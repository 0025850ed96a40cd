//! Sync progress, one shape for every connector: how far a connector's run over one resource
//! (a MailChimp collection, a MplusKASSA entity) is, how fast it goes and when it should end.
//! Served by each connector at `GET /api/v1/<system>/integrations/{id}/progress` as an
//! [`IntegrationProgress`].
//!
//! A connector keeps a [`Run`] per resource in its own tables (so that any replica answers,
//! not only the one polling the integration), and records a [`Sample`] in the run's
//! [`Samples`] whenever it commits a page. [`Run::view`] turns that into a
//! [`ResourceProgress`]:
//!
//! | field | meaning |
//! | --- | --- |
//! | `done` | records the run has read so far |
//! | `total` | records it has to read, when the API says (MailChimp's `total_items`); `null` when unknown (MplusKASSA has no count) |
//! | `percent` | how far along the run's axis it is: `done / total`, or (MplusKASSA) sync markers passed / markers to pass |
//! | `rate_per_second` | running: records per second over the last [`RATE_WINDOW`] of samples (falling to 0 when nothing moved for a whole window); finished: the run's average |
//! | `eta_seconds` | running: what is left on the axis divided by the axis's rate over the same window |
//!
//! The axis: a run reports `position` of `position_total`. For a counted collection both are
//! the records (`done`, `total`); MplusKASSA reports how many sync markers (`stockId`s) the
//! run passed of those between its start cursor and the installation's marker when it started.
//! A record changed twice holds one marker, so markers over-count records; the fraction and
//! the time left stay right, since the run crosses the markers at the pace it reads.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The window the running rate is measured over.
pub const RATE_WINDOW: Duration = Duration::from_secs(20);

/// Samples closer together than this are merged (the newer one kept), so a run committing
/// many small pages a second keeps a few dozen samples per window.
const MIN_SPACING: Duration = Duration::from_secs(1);

/// At most this many samples are kept (and persisted).
const MAX_SAMPLES: usize = 64;

/// Where a resource's sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Never synced (or nothing known about it here yet).
    Idle,
    /// A run is reading it now.
    Running,
    /// The last run completed.
    Done,
    /// The last run failed (`last_error` says why); the next poll tries again.
    Failed,
}

impl SyncState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Parses [`SyncState::as_str`]; anything else is `Idle`.
    pub fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => Self::Idle,
        }
    }
}

/// One point of a run: when, records done, position on the run's axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// When.
    #[serde(rename = "t")]
    pub at: DateTime<Utc>,
    /// Records done so far.
    #[serde(rename = "d")]
    pub done: u64,
    /// Position on the run's axis.
    #[serde(rename = "p")]
    pub position: u64,
}

/// The recent samples of a run, oldest first: enough to measure the rate over the last
/// [`RATE_WINDOW`], bounded in number. Persisted as JSON with the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Samples(VecDeque<Sample>);

impl Samples {
    /// The samples of a run starting at `at` (nothing done yet).
    pub fn started(at: DateTime<Utc>) -> Self {
        let mut samples = Self::default();
        samples.record(Sample {
            at,
            done: 0,
            position: 0,
        });
        samples
    }

    /// Adds a sample; merges it with the newest one when that one is less than
    /// a second (`MIN_SPACING`) after the one before it, and forgets what no window needs any more.
    pub fn record(&mut self, sample: Sample) {
        let n = self.0.len();
        if n >= 2 && self.0[n - 1].at - self.0[n - 2].at < spacing() {
            self.0.pop_back();
        }
        self.0.push_back(sample);
        // Keep the newest sample at or before the window's start (the rate's reference).
        let horizon = sample.at - window();
        while self.0.len() > 2 && self.0[1].at <= horizon {
            self.0.pop_front();
        }
        while self.0.len() > MAX_SAMPLES {
            self.0.pop_front();
        }
    }

    /// The samples, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Sample> {
        self.0.iter()
    }

    /// The JSON stored with the run.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Reads [`Samples::to_json`]; anything unreadable (or nothing) is no samples.
    pub fn from_json(value: Option<&serde_json::Value>) -> Self {
        value
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// Records and positions per second over the last [`RATE_WINDOW`] as of `now`: from the
    /// newest sample at or before the window's start (else the oldest) to the newest sample,
    /// or to `now` when the newest is older than a window (a stalled run slows to 0). `None`
    /// without two points in time.
    pub fn rates(&self, now: DateTime<Utc>) -> Option<(f64, f64)> {
        let last = self.0.back()?;
        let end = if now - last.at > window() {
            now
        } else {
            last.at
        };
        let start = end - window();
        let reference = self
            .0
            .iter()
            .rev()
            .find(|s| s.at <= start)
            .or_else(|| self.0.front())?;
        let seconds = (end - reference.at).num_milliseconds() as f64 / 1000.0;
        if seconds <= 0.0 {
            return None;
        }
        let per_second = |a: u64, b: u64| a.saturating_sub(b) as f64 / seconds;
        Some((
            per_second(last.done, reference.done),
            per_second(last.position, reference.position),
        ))
    }
}

fn window() -> chrono::Duration {
    chrono::Duration::from_std(RATE_WINDOW).unwrap_or(chrono::Duration::seconds(20))
}

fn spacing() -> chrono::Duration {
    chrono::Duration::from_std(MIN_SPACING).unwrap_or(chrono::Duration::seconds(1))
}

/// The last (or running) run of one resource, as a connector keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Where it is.
    pub state: SyncState,
    /// The connector's name for the kind of run (`full`, `incremental`, `reconcile`).
    pub mode: Option<String>,
    /// Records read so far.
    pub done: u64,
    /// Records to read, when known.
    pub total: Option<u64>,
    /// Position on the run's axis (`done` for a counted collection).
    pub position: u64,
    /// The axis's end (`total` for a counted collection), when known.
    pub position_total: Option<u64>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub last_error: Option<String>,
    /// Its recent samples.
    pub samples: Samples,
}

impl Run {
    /// A resource never synced.
    pub fn idle() -> Self {
        Self {
            state: SyncState::Idle,
            mode: None,
            done: 0,
            total: None,
            position: 0,
            position_total: None,
            started_at: None,
            finished_at: None,
            last_error: None,
            samples: Samples::default(),
        }
    }

    /// Done, total, percentage, rate and time left as of `now`.
    pub fn view(&self, resource: impl Into<String>, now: DateTime<Utc>) -> ResourceProgress {
        let percent = match (self.state, self.position_total) {
            (SyncState::Idle, _) => None,
            (SyncState::Done, _) => Some(100.0),
            (_, Some(0)) => Some(100.0),
            (_, Some(total)) => Some((self.position as f64 * 100.0 / total as f64).min(100.0)),
            (_, None) => None,
        };
        let (rate, eta) = match self.state {
            SyncState::Running => match self.samples.rates(now) {
                Some((records, positions)) => {
                    let left = self
                        .position_total
                        .map(|total| total.saturating_sub(self.position));
                    let eta = match left {
                        Some(0) => Some(0),
                        Some(left) if positions > 0.0 => {
                            Some((left as f64 / positions).ceil() as u64)
                        }
                        _ => None,
                    };
                    (Some(records), eta)
                }
                None => (None, None),
            },
            SyncState::Done | SyncState::Failed => {
                let seconds = match (self.started_at, self.finished_at) {
                    (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
                    _ => 0.0,
                };
                ((seconds > 0.0).then(|| self.done as f64 / seconds), None)
            }
            SyncState::Idle => (None, None),
        };
        ResourceProgress {
            resource: resource.into(),
            state: self.state,
            mode: self.mode.clone(),
            done: self.done,
            total: self.total,
            percent: percent.map(round1),
            rate_per_second: rate.map(round1),
            eta_seconds: eta,
            started_at: self.started_at,
            finished_at: self.finished_at,
            last_error: self.last_error.clone(),
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// How far the sync of one resource of an integration is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourceProgress {
    /// The resource (MailChimp: `members`, `customers`, `products`, `orders`; MplusKASSA:
    /// `article_groups`, `products`, `stock`, `relations`, `orders`, `invoices`).
    pub resource: String,
    /// `idle` (never synced), `running`, `done` or `failed`.
    pub state: SyncState,
    /// The kind of the running or last run: `full` (a backfill), `incremental` (a poll),
    /// `reconcile` (MailChimp's periodic full read).
    pub mode: Option<String>,
    /// Records the run has read so far.
    pub done: u64,
    /// Records it has to read, when the API says (MailChimp); `null` when unknown
    /// (MplusKASSA: its percentage and time left are measured in sync markers).
    pub total: Option<u64>,
    /// How far along, 0-100; `null` when not known yet.
    pub percent: Option<f64>,
    /// Records per second: while running, over the last 20 s; when finished, the run's
    /// average.
    pub rate_per_second: Option<f64>,
    /// Seconds left at the current rate (running runs with a known end only).
    pub eta_seconds: Option<u64>,
    /// When the run started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub last_error: Option<String>,
}

impl ResourceProgress {
    /// Whether this resource needs no more waiting for: not a backfill or reconciliation in
    /// progress, and (when the integration is polled) synced at least once. A poll
    /// (`incremental`) in progress counts as settled: polls never end.
    pub fn settled(&self, polled: bool) -> bool {
        match self.state {
            SyncState::Running => self.mode.as_deref() == Some("incremental"),
            SyncState::Idle => !polled,
            SyncState::Done | SyncState::Failed => true,
        }
    }
}

/// The sync progress of one integration in one connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IntegrationProgress {
    /// The integration.
    pub integration_id: String,
    /// `mailchimp` or `mpluskassa`.
    pub system: String,
    /// Whether the connector polls it (live); an idle resource of a polled integration is
    /// about to start.
    pub polled: bool,
    /// Whether nothing is left to wait for: no backfill or reconciliation running, and every
    /// resource of a polled integration synced once ([`ResourceProgress::settled`]).
    pub settled: bool,
    /// When this was computed.
    pub at: DateTime<Utc>,
    /// Every enabled resource, in sync order.
    pub resources: Vec<ResourceProgress>,
}

impl IntegrationProgress {
    /// The progress of `resources` of an integration as of `at`.
    pub fn new(
        integration_id: impl Into<String>,
        system: impl Into<String>,
        polled: bool,
        at: DateTime<Utc>,
        resources: Vec<ResourceProgress>,
    ) -> Self {
        Self {
            integration_id: integration_id.into(),
            system: system.into(),
            polled,
            settled: resources.iter().all(|r| r.settled(polled)),
            at,
            resources,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(seconds: f64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default()
            + chrono::Duration::milliseconds((seconds * 1000.0) as i64)
    }

    fn running(samples: &[(f64, u64)], total: Option<u64>) -> Run {
        let mut s = Samples::started(t(0.0));
        for &(at, done) in samples {
            s.record(Sample {
                at: t(at),
                done,
                position: done,
            });
        }
        let done = samples.last().map_or(0, |x| x.1);
        Run {
            state: SyncState::Running,
            mode: Some("full".into()),
            done,
            total,
            position: done,
            position_total: total,
            started_at: Some(t(0.0)),
            samples: s,
            ..Run::idle()
        }
    }

    #[test]
    fn the_rate_is_measured_over_the_last_window_not_since_the_start() {
        // 100 records/s for 60 s, then 1,000/s for the last 30 s.
        let mut points = Vec::new();
        for s in 1..=60u64 {
            points.push((s as f64, s * 100));
        }
        for s in 61..=90u64 {
            points.push((s as f64, 6_000 + (s - 60) * 1_000));
        }
        let run = running(&points, Some(100_000));
        let view = run.view("orders", t(90.0));
        assert_eq!(view.rate_per_second, Some(1_000.0), "{view:?}");
        // 100,000 - 36,000 left at 1,000/s.
        assert_eq!(view.eta_seconds, Some(64));
        assert_eq!(view.percent, Some(36.0));
        assert_eq!((view.done, view.total), (36_000, Some(100_000)));
        // Since the start it would have been 400/s: not what is reported.
        assert_ne!(view.rate_per_second, Some(400.0));
    }

    #[test]
    fn early_in_a_run_the_rate_is_since_its_start() {
        let run = running(&[(2.0, 100), (4.0, 200)], Some(1_000));
        let view = run.view("customers", t(4.5));
        assert_eq!(view.rate_per_second, Some(50.0));
        assert_eq!(view.eta_seconds, Some(16));
        // Only the start sample: no rate, no ETA yet.
        let fresh = running(&[], Some(1_000)).view("customers", t(0.5));
        assert_eq!((fresh.rate_per_second, fresh.eta_seconds), (None, None));
        assert_eq!(fresh.percent, Some(0.0));
    }

    #[test]
    fn a_stalled_run_slows_to_zero_and_has_no_eta() {
        let run = running(&[(5.0, 500), (10.0, 1_000)], Some(5_000));
        // 10 s after the last page: the window still holds the last pages.
        assert_eq!(run.view("orders", t(20.0)).rate_per_second, Some(100.0));
        // A whole window after the last page: nothing moved within it.
        let stalled = run.view("orders", t(40.0));
        assert_eq!(stalled.rate_per_second, Some(0.0));
        assert_eq!(stalled.eta_seconds, None);
    }

    #[test]
    fn without_a_known_total_there_is_a_rate_but_no_eta_or_percent() {
        let view = running(&[(5.0, 500)], None).view("orders", t(5.0));
        assert_eq!(view.rate_per_second, Some(100.0));
        assert_eq!(
            (view.percent, view.eta_seconds, view.total),
            (None, None, None)
        );
    }

    #[test]
    fn a_marker_axis_gives_percent_and_eta_while_rate_counts_records() {
        // 2,000 sync markers to pass; 40 records read while passing 400 markers in 4 s.
        let mut samples = Samples::started(t(0.0));
        samples.record(Sample {
            at: t(4.0),
            done: 40,
            position: 400,
        });
        let run = Run {
            state: SyncState::Running,
            mode: Some("full".into()),
            done: 40,
            total: None,
            position: 400,
            position_total: Some(2_000),
            started_at: Some(t(0.0)),
            samples,
            ..Run::idle()
        };
        let view = run.view("relations", t(4.0));
        assert_eq!(view.rate_per_second, Some(10.0));
        assert_eq!(view.percent, Some(20.0));
        // 1,600 markers left at 100 markers/s.
        assert_eq!(view.eta_seconds, Some(16));
    }

    #[test]
    fn finished_runs_report_their_average_and_full_percent() {
        let run = Run {
            state: SyncState::Done,
            mode: Some("full".into()),
            done: 1_000,
            total: Some(1_000),
            position: 1_000,
            position_total: Some(1_000),
            started_at: Some(t(0.0)),
            finished_at: Some(t(8.0)),
            ..Run::idle()
        };
        let view = run.view("products", t(100.0));
        assert_eq!(view.percent, Some(100.0));
        assert_eq!(view.rate_per_second, Some(125.0));
        assert_eq!(view.eta_seconds, None);
        let idle = Run::idle().view("products", t(0.0));
        assert_eq!(
            (idle.state, idle.percent, idle.rate_per_second),
            (SyncState::Idle, None, None)
        );
        // An empty collection is complete as soon as its (zero) total is known.
        let empty = running(&[], Some(0)).view("members", t(1.0));
        assert_eq!((empty.percent, empty.eta_seconds), (Some(100.0), None));
    }

    #[test]
    fn samples_stay_few_and_survive_json() {
        let mut samples = Samples::started(t(0.0));
        // 20 pages a second for 5 minutes.
        for i in 1..=6_000u64 {
            samples.record(Sample {
                at: t(i as f64 * 0.05),
                done: i * 10,
                position: i * 10,
            });
        }
        let n = samples.iter().count();
        assert!((2..=25).contains(&n), "{n} samples kept");
        let first = samples.iter().next().copied().unwrap();
        // The reference of the window is kept (at or before its start).
        assert!(first.at <= t(300.0) - window(), "{first:?}");
        let back = Samples::from_json(Some(&samples.to_json()));
        assert_eq!(back, samples);
        let (records, _) = back.rates(t(300.0)).unwrap();
        assert!((records - 200.0).abs() < 1.0, "{records}");
        assert_eq!(Samples::from_json(None), Samples::default());
        assert_eq!(
            Samples::from_json(Some(&serde_json::json!("garbage"))),
            Samples::default()
        );
    }

    #[test]
    fn an_integration_is_settled_when_no_backfill_runs_and_everything_synced_once() {
        let at = t(0.0);
        let view = |state, mode: &str| ResourceProgress {
            state,
            mode: Some(mode.into()),
            ..Run::idle().view("x", at)
        };
        let done = view(SyncState::Done, "full");
        let polling = view(SyncState::Running, "incremental");
        let backfill = view(SyncState::Running, "full");
        let idle = Run::idle().view("y", at);
        let of = |polled, r: Vec<ResourceProgress>| {
            IntegrationProgress::new("i", "mailchimp", polled, at, r).settled
        };
        assert!(of(true, vec![done.clone(), polling.clone()]));
        assert!(!of(true, vec![done.clone(), backfill]));
        assert!(!of(true, vec![done.clone(), idle.clone()]));
        // Not polled (a draft or paused integration): nothing is about to start.
        assert!(of(false, vec![done, idle]));
        assert_eq!(SyncState::parse("running"), SyncState::Running);
        assert_eq!(
            SyncState::parse(SyncState::Failed.as_str()),
            SyncState::Failed
        );
        assert_eq!(SyncState::parse("whatever"), SyncState::Idle);
    }
}
