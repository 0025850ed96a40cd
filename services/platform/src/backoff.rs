//! Exponential backoff, written once: the bus's delay queues, the API clients' retries, the
//! broker reconnection, the outbox relay, the notifier's deliveries and the saga's retries all
//! compute their waits here.
//!
//! The delay after failed attempt `n` (1-based) is `base * 2^(n-1)`, capped at `max`, then
//! jittered by one of three rules:
//!
//! | [`Jitter`] | delay | used where |
//! | --- | --- | --- |
//! | `None` | the capped delay itself | delay queues (keyed by their delay), persisted schedules whose figures are asserted |
//! | `Equal` | half of it fixed, the other half uniformly random | reconnection and relay loops: never retry at once, spread the herd |
//! | `Full` | uniformly random in `0..=` the capped delay | API clients sharing a rate limit (AWS's "full jitter"): the least synchronised retries |
//!
//! ```
//! use std::time::Duration;
//! use ferry_platform::backoff::{Backoff, Jitter};
//!
//! let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(Jitter::None);
//! let delays: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
//! assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
//! ```

use std::time::Duration;

use rand::Rng;

/// How the capped delay is randomised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Jitter {
    /// No randomness.
    None,
    /// Half fixed, half uniformly random.
    #[default]
    Equal,
    /// Uniformly random between zero and the capped delay.
    Full,
}

/// An exponential backoff schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// No delay is longer than this.
    pub max: Duration,
    /// The jitter rule.
    pub jitter: Jitter,
}

impl Backoff {
    /// `base` doubling up to `max`, with [`Jitter::Equal`].
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            jitter: Jitter::Equal,
        }
    }

    /// The same schedule with another jitter rule.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The capped delay after failed attempt `attempt` (1-based), before jitter, in whole
    /// milliseconds (at least 1 ms).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(40);
        let base_ms = u64::try_from(self.base.as_millis()).unwrap_or(u64::MAX);
        let max_ms = u64::try_from(self.max.as_millis()).unwrap_or(u64::MAX);
        let ms = base_ms.saturating_mul(1u64 << exponent).min(max_ms).max(1);
        Duration::from_millis(ms)
    }

    /// The delay after failed attempt `attempt` (1-based), jittered.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Equal => {
                let half = ms / 2;
                Duration::from_millis(ms - half + rand::rng().random_range(0..=half))
            }
            Jitter::Full => Duration::from_millis(rand::rng().random_range(0..=ms)),
        }
    }

    /// A counter over this schedule for loops that retry until they succeed.
    pub fn attempts(self) -> Attempts {
        Attempts {
            backoff: self,
            failures: 0,
        }
    }
}

/// Consecutive failures of a retry loop (reconnection, relay passes).
#[derive(Clone, Copy, Debug)]
pub struct Attempts {
    backoff: Backoff,
    failures: u32,
}

impl Attempts {
    /// Counts one more failure and returns the wait before the next try.
    pub fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.backoff.delay(self.failures)
    }

    /// A success: the next failure waits the base delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn doubles_then_caps_without_jitter() {
        let b = Backoff::new(MS(100), MS(500)).jitter(Jitter::None);
        let delays: Vec<u128> = (1..=5).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn huge_attempt_numbers_and_durations_do_not_overflow() {
        let b = Backoff::new(Duration::from_secs(u64::MAX / 1000), Duration::MAX);
        assert!(b.ceiling(u32::MAX) >= Duration::from_secs(u64::MAX / 1000));
        let b = Backoff::new(MS(500), Duration::from_secs(60)).jitter(Jitter::None);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn equal_jitter_stays_in_the_upper_half_and_varies() {
        let b = Backoff::new(MS(100), MS(10_000));
        let seen: std::collections::HashSet<Duration> = (0..200)
            .map(|_| {
                let d = b.delay(4);
                assert!(d >= MS(400) && d <= MS(800), "{d:?}");
                d
            })
            .collect();
        assert!(seen.len() > 10, "no jitter: {seen:?}");
    }

    #[test]
    fn full_jitter_stays_under_the_cap_and_varies() {
        let b = Backoff::new(MS(100), MS(1_000)).jitter(Jitter::Full);
        let seen: std::collections::HashSet<Duration> = (0..200)
            .map(|_| {
                let d = b.delay(9);
                assert!(d <= MS(1_000), "{d:?}");
                d
            })
            .collect();
        assert!(seen.len() > 10, "no jitter: {seen:?}");
    }

    #[test]
    fn attempts_grow_and_reset() {
        let mut a = Backoff::new(MS(10), MS(1_000))
            .jitter(Jitter::None)
            .attempts();
        assert_eq!(a.failed(), MS(10));
        assert_eq!(a.failed(), MS(20));
        assert_eq!(a.failures(), 2);
        a.reset();
        assert_eq!(a.failed(), MS(10));
    }
}
