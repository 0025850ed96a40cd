//! When a call is sent again: only a call that is safe to repeat ([`Retry::Safe`]: reads,
//! absolute writes by number, `createOrderV3` with its idempotency key), only after a
//! transient failure ([`MplusError::is_transient`]), at most
//! [`ClientSettings::max_attempts`] times, each wait an exponential backoff with equal jitter
//! (the platform's [`Backoff`]). Creations without such a key are tried once; their callers
//! look the record up again before a new attempt.

use std::future::Future;

use ferry_platform::backoff::Backoff;

use super::connection::ClientSettings;
use super::error::MplusError;

/// Whether a call may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Repeating has no second effect.
    Safe,
    /// Repeating could create a second record: one attempt only.
    Never,
}

impl Retry {
    /// How many attempts a call gets with `settings`.
    fn attempts(self, settings: &ClientSettings) -> u32 {
        match self {
            Self::Safe => settings.max_attempts.max(1),
            Self::Never => 1,
        }
    }

    /// Runs `attempt` until it succeeds, fails for good or has had all its attempts, waiting
    /// the backoff between two attempts.
    pub(super) async fn run<T, F, Fut>(
        self,
        operation: &'static str,
        settings: &ClientSettings,
        mut attempt: F,
    ) -> Result<T, MplusError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, MplusError>>,
    {
        let attempts = self.attempts(settings);
        // Equal jitter: between half and all of the exponential delay.
        let backoff = Backoff::new(settings.backoff_base, settings.backoff_max);
        let mut n = 1;
        loop {
            match attempt().await {
                Ok(answer) => return Ok(answer),
                Err(error) if error.is_transient() && n < attempts => {
                    let delay = backoff.delay(n);
                    tracing::debug!(operation, attempt = n, error = %error, delay_ms = delay.as_millis() as u64, "MplusKASSA call failed; retrying");
                    tokio::time::sleep(delay).await;
                    n += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;

    /// Counts the attempts of a call failing with `error` each time.
    async fn attempts(retry: Retry, error: MplusError) -> u32 {
        let settings = ClientSettings {
            max_attempts: 3,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            ..ClientSettings::default()
        };
        let made = Cell::new(0);
        let result: Result<(), _> = retry
            .run("getOrders", &settings, || {
                made.set(made.get() + 1);
                std::future::ready(Err(error.clone()))
            })
            .await;
        assert_eq!(result, Err(error));
        made.get()
    }

    #[tokio::test]
    async fn only_safe_calls_failing_transiently_are_sent_again() {
        let unavailable = MplusError::Http {
            operation: "getOrders",
            status: 503,
        };
        let refused = MplusError::Http {
            operation: "getOrders",
            status: 400,
        };
        assert_eq!(attempts(Retry::Safe, unavailable.clone()).await, 3);
        assert_eq!(attempts(Retry::Never, unavailable).await, 1);
        assert_eq!(attempts(Retry::Safe, refused).await, 1);
    }
}
