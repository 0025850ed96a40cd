//! The API key (its data center; never printed) and the client's settings.

use std::fmt;
use std::time::Duration;

use ferry_platform::config::Secret;
use ferry_platform::egress::EgressGuard;

use super::{ClientError, subscriber_hash};

/// A MailChimp API key: `<32 hex>-<dc>`. Prints as `***-<dc>`.
#[derive(Clone)]
pub struct ApiKey {
    pub(super) secret: Secret,
    data_center: String,
}

impl ApiKey {
    /// Parses a key; the error never contains the key.
    pub fn parse(raw: &str) -> Result<Self, ClientError> {
        let raw = raw.trim();
        let Some((key, dc)) = raw.rsplit_once('-') else {
            return Err(ClientError::InvalidKey(
                "expected <key>-<data center>, e.g. ...-us19",
            ));
        };
        if key.is_empty() {
            return Err(ClientError::InvalidKey(
                "the part before the data center is empty",
            ));
        }
        let dc_ok = !dc.is_empty()
            && dc.len() <= 8
            && dc
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !dc_ok {
            return Err(ClientError::InvalidKey(
                "the data center suffix must be lower-case letters and digits (us19)",
            ));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ClientError::InvalidKey("contains whitespace"));
        }
        Ok(Self {
            data_center: dc.to_owned(),
            secret: Secret::new(raw),
        })
    }

    /// The data center (`us19`).
    pub fn data_center(&self) -> &str {
        &self.data_center
    }

    /// A digest identifying the account (never the key itself), to share limits.
    pub fn account_digest(&self) -> String {
        subscriber_hash(self.secret.expose())
    }

    /// The production base URL of this key.
    pub fn default_base_url(&self) -> String {
        format!("https://{}.api.mailchimp.com/3.0", self.data_center)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "***-{}", self.data_center)
    }
}

/// Timeouts, retries and the connection limit of one client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Whole request, body included.
    pub request_timeout: Duration,
    /// Connection establishment.
    pub connect_timeout: Duration,
    /// Attempts of an idempotent call, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt (upper bound of the jitter).
    pub retry_base: Duration,
    /// Longest backoff.
    pub retry_max: Duration,
    /// Calls in flight at once (this replica's share of the account's limit).
    pub concurrency: usize,
    /// Longest response body read, in bytes; a longer one fails the call unread.
    pub max_response_bytes: usize,
    /// Where calls may go (the default: public `https://` destinations only).
    pub egress: EgressGuard,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 5,
            retry_base: Duration::from_millis(250),
            retry_max: Duration::from_secs(10),
            concurrency: 10,
            max_response_bytes: 32 * 1024 * 1024,
            egress: EgressGuard::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_never_print() {
        let key = ApiKey::parse("0123456789abcdef0123456789abcdef-us19").expect("valid");
        assert_eq!(key.data_center(), "us19");
        assert_eq!(key.default_base_url(), "https://us19.api.mailchimp.com/3.0");
        assert_eq!(format!("{key:?}"), "***-us19");
        for bad in ["", "abc", "-us1", "abc-", "abc-US1", "abc-us 1"] {
            let err = ApiKey::parse(bad).expect_err(bad);
            assert!(!err.to_string().contains("abc"), "{err}");
        }
    }
}
