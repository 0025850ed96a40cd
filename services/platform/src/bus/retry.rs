//! Retry policy: how many attempts, and the exponential backoff between them.

use std::time::Duration;

use crate::backoff::{Backoff, Jitter};

/// Exponential backoff with a cap, and a limit on attempts after which a message is
/// dead-lettered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. After the last one fails, the message is parked.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub base_delay: Duration,
    /// No delay is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based): base, 2x base, 4x base, ...,
    /// capped at `max_delay`. Rounded to whole milliseconds (delay queues are keyed by it).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        self.backoff().delay(attempt)
    }

    /// The schedule of the delays, without jitter (delay queues are keyed by the delay).
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.base_delay, self.max_delay).jitter(Jitter::None)
    }

    /// Whether a failed attempt number `attempt` leaves room for another.
    pub fn may_retry(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_cap() {
        let policy = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let delays: Vec<u128> = (1..=5).map(|a| policy.delay_after(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(policy.may_retry(1));
        assert!(policy.may_retry(2));
        assert!(!policy.may_retry(3));
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_after(u32::MAX), policy.max_delay);
    }
}
