//! Calls per operation and outcome, for the admin API.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// Calls per operation and outcome, for the admin API.
#[derive(Debug, Default)]
pub struct ApiStats {
    inner: Mutex<StatsInner>,
}

#[derive(Debug, Default)]
pub(super) struct StatsInner {
    calls: BTreeMap<(String, String), CallCount>,
    pub(super) retries: u64,
    pub(super) in_flight: u64,
    pub(super) last_error: Option<String>,
}

#[derive(Debug, Default, Clone, Copy)]
struct CallCount {
    count: u64,
    total_ms: u64,
}

/// A snapshot of [`ApiStats`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiStatsSnapshot {
    /// Attempts per operation and outcome (HTTP status or `timeout`/`connection`).
    pub calls: Vec<CallStat>,
    /// Attempts that were retries.
    pub retries: u64,
    /// Calls in flight now.
    pub in_flight: u64,
    /// The last failed call's error.
    pub last_error: Option<String>,
}

/// Attempts of one operation with one outcome.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallStat {
    /// The operation (`products.put`).
    pub operation: String,
    /// HTTP status or error kind.
    pub status: String,
    /// Attempts.
    pub count: u64,
    /// Mean latency in milliseconds.
    pub mean_ms: u64,
}

impl ApiStats {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, StatsInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn record(&self, op: &str, status: &str, elapsed: Duration) {
        let mut s = self.lock();
        let c = s
            .calls
            .entry((op.to_owned(), status.to_owned()))
            .or_default();
        c.count += 1;
        c.total_ms += u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    }

    /// The current figures.
    pub fn snapshot(&self) -> ApiStatsSnapshot {
        let s = self.lock();
        ApiStatsSnapshot {
            calls: s
                .calls
                .iter()
                .map(|((op, status), c)| CallStat {
                    operation: op.clone(),
                    status: status.clone(),
                    count: c.count,
                    mean_ms: c.total_ms / c.count.max(1),
                })
                .collect(),
            retries: s.retries,
            in_flight: s.in_flight,
            last_error: s.last_error.clone(),
        }
    }

    /// Attempts of `op` (all outcomes), for tests.
    pub fn attempts(&self, op: &str) -> u64 {
        self.lock()
            .calls
            .iter()
            .filter(|((o, _), _)| o == op)
            .map(|(_, c)| c.count)
            .sum()
    }
}
