//! The orchestrator's configuration: the common sections plus `[saga]`.

use std::time::Duration;

use ferry_platform::backoff::Backoff;
use ferry_platform::config::{CommonConfig, Validate, ValidationErrors};
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the order orchestrator.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct OrchestratorConfig {
    /// Admin, bus, database, telemetry.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// How sagas run.
    pub saga: SagaSettings,
}

impl Validate for OrchestratorConfig {
    fn validate(&self, errors: &mut ValidationErrors) {
        self.common.validate(errors);
        self.saga.validate_at("saga", errors);
    }
}

/// Upper bound of `saga.customer_reuse_secs`: a day-old resolution is no reason to skip
/// updating a customer.
const MAX_CUSTOMER_REUSE_SECS: u64 = 86_400;

/// How sagas run (`[saga]`). Durations are in milliseconds.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SagaSettings {
    /// Sagas in flight at once (all replicas together); further orders wait in state
    /// `queued` until a slot frees.
    pub max_in_flight: u32,
    /// Saga transitions this process runs at once, committed in one transaction (a group).
    pub max_concurrent_steps: u32,
    /// Actix arbiters (threads) the saga actors are spread over; 0 = one per CPU core.
    pub arbiters: usize,
    /// How long a command may go unanswered before the attempt counts as failed.
    pub step_timeout_ms: u64,
    /// Attempts per step (timeouts and retryable failures) before the saga fails.
    pub max_attempts: u32,
    /// Delay before the first retry of a step; doubled per attempt, with jitter.
    pub retry_base_ms: u64,
    /// Upper bound of the retry delay.
    pub retry_max_ms: u64,
    /// First re-verification of missing products after a saga parked; doubled each time.
    pub recheck_base_ms: u64,
    /// Upper bound of the re-verification interval.
    pub recheck_max_ms: u64,
    /// How often a saga waiting for another saga of the same customer looks again (it is
    /// also woken as soon as the other one is done).
    pub customer_lock_poll_ms: u64,
    /// How long (seconds) a customer resolved in the target by one saga (find + upsert) is
    /// taken over by further orders of the same customer with the same customer data,
    /// without the customer lock and without commands; 0 = every saga finds and upserts.
    pub customer_reuse_secs: u64,
    /// How often due timers and queued sagas are looked for in the database (timers of
    /// this process's own actors fire on time regardless).
    pub sweep_interval_ms: u64,
    /// How long a replica's claim of a due saga lasts before another replica may take it.
    pub lease_ms: u64,
    /// Finished sagas (completed, skipped, cancelled) are deleted after this many days.
    pub retention_days: u32,
    /// Failed sagas (kept so that an operator can retry them) are deleted this many days after
    /// their last change: they hold the order and the customer's e-mail (GDPR).
    pub failed_retention_days: u32,
}

impl Default for SagaSettings {
    fn default() -> Self {
        Self {
            max_in_flight: 1000,
            max_concurrent_steps: 64,
            arbiters: 0,
            step_timeout_ms: 30_000,
            max_attempts: 5,
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            recheck_base_ms: 30_000,
            recheck_max_ms: 900_000,
            customer_lock_poll_ms: 1_000,
            customer_reuse_secs: 300,
            sweep_interval_ms: 1_000,
            lease_ms: 30_000,
            retention_days: 30,
            failed_retention_days: 90,
        }
    }
}

impl SagaSettings {
    /// Validates this section, reporting paths under `prefix`.
    pub fn validate_at(&self, prefix: &str, errors: &mut ValidationErrors) {
        let at = |key: &str| format!("{prefix}.{key}");
        let positive = [
            ("max_in_flight", u64::from(self.max_in_flight)),
            ("max_concurrent_steps", u64::from(self.max_concurrent_steps)),
            ("step_timeout_ms", self.step_timeout_ms),
            ("max_attempts", u64::from(self.max_attempts)),
            ("retry_base_ms", self.retry_base_ms),
            ("recheck_base_ms", self.recheck_base_ms),
            ("customer_lock_poll_ms", self.customer_lock_poll_ms),
            ("sweep_interval_ms", self.sweep_interval_ms),
            ("lease_ms", self.lease_ms),
            ("retention_days", u64::from(self.retention_days)),
            (
                "failed_retention_days",
                u64::from(self.failed_retention_days),
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                errors.push(at(key), "must be at least 1");
            }
        }
        if self.retry_max_ms < self.retry_base_ms {
            errors.push(at("retry_max_ms"), "must not be below saga.retry_base_ms");
        }
        if self.recheck_max_ms < self.recheck_base_ms {
            errors.push(
                at("recheck_max_ms"),
                "must not be below saga.recheck_base_ms",
            );
        }
        if self.customer_reuse_secs > MAX_CUSTOMER_REUSE_SECS {
            errors.push(at("customer_reuse_secs"), "must be at most 86400 (one day)");
        }
        if self.arbiters > 256 {
            errors.push(at("arbiters"), "must be at most 256");
        }
    }

    /// The number of arbiters to start.
    pub fn arbiter_count(&self) -> usize {
        if self.arbiters > 0 {
            self.arbiters
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }
    }

    /// Step timeout.
    pub fn step_timeout(&self) -> Duration {
        Duration::from_millis(self.step_timeout_ms)
    }

    /// Delay before retrying after the `attempt`-th failed attempt (1-based): exponential,
    /// capped, with equal jitter (half of the delay random) so that failed sagas do not retry
    /// in lockstep.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        schedule(self.retry_base_ms, self.retry_max_ms).delay(attempt)
    }

    /// Delay before the `n`-th re-verification of missing products (1-based).
    pub fn recheck_delay(&self, n: u32) -> Duration {
        schedule(self.recheck_base_ms, self.recheck_max_ms).delay(n)
    }

    /// Customer lock poll interval.
    pub fn customer_lock_poll(&self) -> Duration {
        Duration::from_millis(self.customer_lock_poll_ms)
    }

    /// How long a customer resolution may be reused; `None` when reuse is off.
    pub fn customer_reuse(&self) -> Option<chrono::Duration> {
        (self.customer_reuse_secs > 0).then(|| {
            chrono::Duration::seconds(i64::try_from(self.customer_reuse_secs).unwrap_or(i64::MAX))
        })
    }

    /// Sweep interval.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_interval_ms)
    }

    /// Lease duration.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}

/// Doubling from `base_ms` up to `max_ms` (never below the base).
fn schedule(base_ms: u64, max_ms: u64) -> Backoff {
    Backoff::new(
        Duration::from_millis(base_ms),
        Duration::from_millis(max_ms.max(base_ms)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let ceilings: Vec<u128> = [1, 2, 4, 5, 500]
            .into_iter()
            .map(|n| schedule(100, 1000).ceiling(n).as_millis())
            .collect();
        assert_eq!(ceilings, [100, 200, 400 * 2, 1000, 1000]);
        assert_eq!(schedule(100, 10).ceiling(3).as_millis(), 100);
    }

    #[test]
    fn retry_delays_are_jittered_within_their_ceiling() {
        let settings = SagaSettings::default();
        for _ in 0..100 {
            let d = settings.retry_delay(3);
            let ceiling = schedule(settings.retry_base_ms, settings.retry_max_ms).ceiling(3);
            assert!(d <= ceiling && d >= ceiling / 2, "{d:?}");
        }
    }

    #[test]
    fn defaults_are_valid_and_zero_is_reported_with_its_key() {
        let mut errors = ValidationErrors::default();
        SagaSettings::default().validate_at("saga", &mut errors);
        assert!(errors.is_empty(), "{errors}");
        let settings = SagaSettings {
            max_attempts: 0,
            retry_max_ms: 1,
            ..SagaSettings::default()
        };
        settings.validate_at("saga", &mut errors);
        let text = errors.to_string();
        assert!(
            text.contains("saga.max_attempts: must be at least 1"),
            "{text}"
        );
        assert!(text.contains("saga.retry_max_ms"), "{text}");
    }
}
