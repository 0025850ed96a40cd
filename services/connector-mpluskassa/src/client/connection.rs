//! Where an installation's API is and how a client of it behaves: [`Connection`] (endpoint
//! and credentials, the secret never in debug output) and [`ClientSettings`] (timeouts,
//! retries, response limits, egress).

use std::fmt;
use std::time::Duration;

use ferry_mplusqapi::Limits;
use ferry_platform::config::Secret;
use ferry_platform::egress::EgressGuard;

/// Where an installation's API is and how to sign in.
#[derive(Clone)]
pub struct Connection {
    /// `https://api.mpluskassa.nl:<port>/` (no query string).
    pub endpoint: String,
    /// The `ident` credential.
    pub ident: String,
    /// The `secret` credential.
    pub secret: Secret,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("ident", &self.ident)
            .field("secret", &"***")
            .finish()
    }
}

/// Timeouts, retries, limits and destinations of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Whole call (connect, send, wait, read).
    pub timeout: Duration,
    /// Connecting.
    pub connect_timeout: Duration,
    /// Attempts of a retry-safe call (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Largest and deepest response accepted.
    pub limits: Limits,
    /// Where calls may go (the default: public `https://` endpoints only).
    pub egress: EgressGuard,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            max_attempts: 4,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            limits: Limits::default(),
            egress: EgressGuard::default(),
        }
    }
}
