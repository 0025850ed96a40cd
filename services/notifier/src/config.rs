//! The notifier's configuration: the common sections plus activity retention, alert rules and
//! alert channels.
//!
//! ```toml
//! [activity]
//! retention_days = 30                 # default for every integration
//! [activity.retention_overrides]      # per integration (the admin API can set more)
//! "0193...-uuid" = 7
//!
//! [rules]
//! unreachable_minutes = 10            # consecutive unavailable/timeout failures this long
//! error_rate_threshold = 0.2          # failed / (succeeded + failed) over the window
//! error_rate_window_minutes = 15
//! error_rate_min_replies = 20
//! no_sync_hours = 24
//! reminder_minutes = 240              # an open alert is re-sent at most this often
//!
//! [[channels]]
//! name = "ops-webhook"
//! kind = "webhook"                    # webhook | slack | email | pagerduty
//! url = "https://hooks.example.com/ferry"
//! secret = "…"                        # HMAC-SHA256 key of the X-Ferry-Signature header
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_platform::backoff::Backoff;
use ferry_platform::config::{CommonConfig, Secret, Validate, ValidationErrors};
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the notifier service.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NotifierConfig {
    /// Admin server, bus, database and telemetry.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// The activity log.
    pub activity: ActivityConfig,
    /// Alert rules.
    pub rules: RulesConfig,
    /// Where alerts go.
    pub channels: Vec<ChannelConfig>,
    /// Alert delivery retries.
    pub delivery: DeliveryConfig,
    /// Host the parking lot of every service's dead letters (and its admin routes). Off when
    /// another process (the all-in-one `ferry`) hosts it.
    pub host_parking_lot: bool,
    /// How often the time-based rules and the parked-message resolutions are evaluated.
    pub evaluate_every_seconds: u64,
    /// Link to the dashboard put in alerts (e.g. `https://ferry.example.com/dashboard`).
    pub dashboard_url: Option<String>,
    /// Integrations configured in the services' configuration files rather than in the
    /// registry (the registry announces its own): their names for the dashboard and alerts.
    pub integrations: Vec<ConfiguredIntegration>,
    /// The tracing UI's page of one trace, `{trace_id}` standing for the id (e.g.
    /// `http://jaeger:16686/trace/{trace_id}`): a record's story links its trace there.
    pub trace_url: Option<String>,
    /// Internal destinations the alert channels may reach anyway (the egress guard refuses
    /// loopback, private, link-local and cluster-internal addresses otherwise).
    pub egress: ferry_platform::egress::EgressConfig,
}

/// An integration configured in a file (the connectors' `[[integrations]]`), named.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ConfiguredIntegration {
    /// The integration id.
    pub id: String,
    /// Its name.
    pub name: String,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            common: CommonConfig::default(),
            activity: ActivityConfig::default(),
            rules: RulesConfig::default(),
            channels: Vec::new(),
            delivery: DeliveryConfig::default(),
            host_parking_lot: true,
            evaluate_every_seconds: 30,
            dashboard_url: None,
            integrations: Vec::new(),
            trace_url: None,
            egress: ferry_platform::egress::EgressConfig::default(),
        }
    }
}

/// The activity log.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ActivityConfig {
    /// Days rows are kept (default 30).
    pub retention_days: u32,
    /// Days per integration id, overriding `retention_days`.
    pub retention_overrides: BTreeMap<String, u32>,
    /// How often the purge runs, in minutes.
    pub purge_every_minutes: u64,
    /// Days a parked message (dead letter) is kept for replay before it is deleted (default
    /// 90): it holds the record's personal data.
    pub parked_retention_days: u32,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self {
            retention_days: 30,
            retention_overrides: BTreeMap::new(),
            purge_every_minutes: 60,
            parked_retention_days: 90,
        }
    }
}

/// Thresholds of the alert rules.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RulesConfig {
    /// A connector failing with `unavailable`/`timeout` for this long, with no success in
    /// between, raises `api_unreachable`.
    pub unreachable_minutes: u64,
    /// Failed share of replies over the window that raises `error_rate`.
    pub error_rate_threshold: f64,
    /// The error-rate window.
    pub error_rate_window_minutes: u64,
    /// Fewer replies than this in the window never raise `error_rate`.
    pub error_rate_min_replies: u64,
    /// No successful reply for this long raises `no_sync` (for integrations that synced before).
    pub no_sync_hours: u64,
    /// An open alert is notified again at most this often while it keeps occurring (0: never).
    pub reminder_minutes: u64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            unreachable_minutes: 10,
            error_rate_threshold: 0.2,
            error_rate_window_minutes: 15,
            error_rate_min_replies: 20,
            no_sync_hours: 24,
            reminder_minutes: 240,
        }
    }
}

/// Alert delivery retries.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DeliveryConfig {
    /// Attempts before a notification is given up (and logged as failed).
    pub max_attempts: u32,
    /// First retry delay, in milliseconds; doubles with each attempt.
    pub retry_base_ms: u64,
    /// Longest retry delay, in milliseconds.
    pub retry_max_ms: u64,
    /// How long one send may take, in milliseconds.
    pub timeout_ms: u64,
    /// How often the worker looks for due deliveries, in milliseconds (it is also woken on new ones).
    pub poll_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            retry_base_ms: 5_000,
            retry_max_ms: 15 * 60 * 1000,
            timeout_ms: 10_000,
            poll_ms: 1_000,
        }
    }
}

impl DeliveryConfig {
    /// The retry schedule: doubling from `retry_base_ms` up to `retry_max_ms`, with equal
    /// jitter so that a recovering endpoint is not hit by every delivery at once.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(
            Duration::from_millis(self.retry_base_ms),
            Duration::from_millis(self.retry_max_ms),
        )
    }
}

/// One alert channel.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ChannelConfig {
    /// Name shown in deliveries and logs.
    pub name: String,
    /// Only alerts of these integrations (empty: all).
    #[serde(default)]
    pub integrations: Vec<String>,
    /// The kind and its settings.
    #[serde(flatten)]
    pub kind: ChannelKind,
}

/// How a channel delivers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelKind {
    /// Generic webhook: `POST url` with the alert as JSON, signed with HMAC-SHA256 in
    /// `X-Ferry-Signature: sha256=<hex>` over `<X-Ferry-Timestamp>.<body>`.
    Webhook {
        /// Where to post.
        url: String,
        /// The HMAC key.
        secret: Secret,
    },
    /// Slack-compatible incoming webhook (`{"text": …}`).
    Slack {
        /// The incoming-webhook URL (a secret in itself).
        url: Secret,
    },
    /// E-mail over SMTP.
    Email {
        /// SMTP server host.
        smtp_host: String,
        /// SMTP port (587 STARTTLS, 465 TLS, 25 or a local relay plain).
        smtp_port: u16,
        /// `starttls` (default), `tls` or `none` (local relays and tests only).
        #[serde(default)]
        tls: SmtpTls,
        /// SMTP user, if the server wants a login.
        #[serde(default)]
        username: Option<String>,
        /// SMTP password.
        #[serde(default)]
        password: Option<Secret>,
        /// Sender address.
        from: String,
        /// Recipients.
        to: Vec<String>,
    },
    /// PagerDuty Events API v2 (or compatible).
    Pagerduty {
        /// The events endpoint.
        #[serde(default = "default_pagerduty_url")]
        url: String,
        /// The integration's routing key.
        routing_key: Secret,
    },
}

fn default_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".to_owned()
}

/// TLS of an SMTP channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on the same host, and tests.
    None,
}

impl Validate for NotifierConfig {
    fn validate(&self, errors: &mut ValidationErrors) {
        self.common.validate(errors);
        if let Err(error) = ferry_platform::egress::EgressGuard::new(&self.egress) {
            errors.push("egress.allow", error.to_string());
        }
        if self.activity.retention_days == 0 {
            errors.push("activity.retention_days", "must be at least 1");
        }
        for (integration, days) in &self.activity.retention_overrides {
            if *days == 0 {
                errors.push(
                    format!("activity.retention_overrides.{integration}"),
                    "must be at least 1",
                );
            }
        }
        if self.activity.parked_retention_days == 0 {
            errors.push("activity.parked_retention_days", "must be at least 1");
        }
        if self.activity.purge_every_minutes == 0 {
            errors.push("activity.purge_every_minutes", "must be at least 1");
        }
        let rules = &self.rules;
        if !(rules.error_rate_threshold > 0.0 && rules.error_rate_threshold <= 1.0) {
            errors.push(
                "rules.error_rate_threshold",
                "must be above 0 and at most 1",
            );
        }
        for (key, value) in [
            ("rules.unreachable_minutes", rules.unreachable_minutes),
            (
                "rules.error_rate_window_minutes",
                rules.error_rate_window_minutes,
            ),
            ("rules.error_rate_min_replies", rules.error_rate_min_replies),
            ("rules.no_sync_hours", rules.no_sync_hours),
            ("evaluate_every_seconds", self.evaluate_every_seconds),
            ("delivery.retry_base_ms", self.delivery.retry_base_ms),
            ("delivery.timeout_ms", self.delivery.timeout_ms),
            ("delivery.poll_ms", self.delivery.poll_ms),
        ] {
            if value == 0 {
                errors.push(key, "must be at least 1");
            }
        }
        if self.delivery.max_attempts == 0 {
            errors.push("delivery.max_attempts", "must be at least 1");
        }
        if self.delivery.retry_max_ms < self.delivery.retry_base_ms {
            errors.push(
                "delivery.retry_max_ms",
                "must not be below delivery.retry_base_ms",
            );
        }
        if let Some(url) = &self.trace_url
            && (!(url.starts_with("https://") || url.starts_with("http://"))
                || !url.contains("{trace_id}"))
        {
            errors.push("trace_url", "must be an http(s) URL containing {trace_id}");
        }
        for (i, integration) in self.integrations.iter().enumerate() {
            let at = format!("integrations[{i}]");
            if ferry_proto::IntegrationId::parse(&integration.id).is_err() {
                errors.push(format!("{at}.id"), "must be an integration id (a UUID)");
            }
            if integration.name.trim().is_empty() {
                errors.push(format!("{at}.name"), "must not be empty");
            }
        }
        for (i, channel) in self.channels.iter().enumerate() {
            let at = format!("channels[{i}]");
            if channel.name.trim().is_empty() {
                errors.push(format!("{at}.name"), "must not be empty");
            } else if self.channels[..i].iter().any(|c| c.name == channel.name) {
                errors.push(format!("{at}.name"), "is used by another channel");
            }
            let sandbox = self.egress.sandbox;
            let http_url = |errors: &mut ValidationErrors, key: &str, url: &str| {
                if url.starts_with("http://") && !sandbox {
                    errors.push(
                        format!("{at}.{key}"),
                        "must start with https:// (it carries a secret; plain http only in \
                         the sandbox mode, egress.sandbox = true)",
                    );
                } else if !(url.starts_with("https://") || url.starts_with("http://")) {
                    errors.push(format!("{at}.{key}"), "must start with https://");
                }
            };
            match &channel.kind {
                ChannelKind::Webhook { url, secret } => {
                    http_url(errors, "url", url);
                    if secret.expose().len() < 16 {
                        errors.push(format!("{at}.secret"), "must be at least 16 characters");
                    }
                }
                ChannelKind::Slack { url } => http_url(errors, "url", url.expose()),
                ChannelKind::Pagerduty { url, routing_key } => {
                    http_url(errors, "url", url);
                    if routing_key.is_empty() {
                        errors.push(format!("{at}.routing_key"), "must not be empty");
                    }
                }
                ChannelKind::Email {
                    smtp_host,
                    from,
                    to,
                    username,
                    password,
                    ..
                } => {
                    if smtp_host.trim().is_empty() {
                        errors.push(format!("{at}.smtp_host"), "must not be empty");
                    }
                    if from.parse::<lettre::message::Mailbox>().is_err() {
                        errors.push(format!("{at}.from"), "is not an e-mail address");
                    }
                    if to.is_empty() {
                        errors.push(format!("{at}.to"), "must name at least one recipient");
                    }
                    for (j, recipient) in to.iter().enumerate() {
                        if recipient.parse::<lettre::message::Mailbox>().is_err() {
                            errors.push(format!("{at}.to[{j}]"), "is not an e-mail address");
                        }
                    }
                    if username.is_some() != password.is_some() {
                        errors.push(
                            format!("{at}.password"),
                            "username and password go together",
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let d = DeliveryConfig {
            retry_base_ms: 100,
            retry_max_ms: 1000,
            ..DeliveryConfig::default()
        };
        assert_eq!(d.backoff().ceiling(1), Duration::from_millis(100));
        assert_eq!(d.backoff().ceiling(2), Duration::from_millis(200));
        assert_eq!(d.backoff().ceiling(4), Duration::from_millis(800));
        assert_eq!(d.backoff().ceiling(5), Duration::from_millis(1000));
        assert_eq!(d.backoff().ceiling(60), Duration::from_millis(1000));
        assert!(d.backoff().delay(4) >= Duration::from_millis(400));
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut config = NotifierConfig::default();
        config.common.service_name = "notifier".into();
        config.activity.retention_days = 0;
        config.channels.push(ChannelConfig {
            name: "hook".into(),
            integrations: vec![],
            kind: ChannelKind::Webhook {
                url: "ftp://x".into(),
                secret: Secret::new("short"),
            },
        });
        let mut errors = ValidationErrors::default();
        config.validate(&mut errors);
        let text = errors.to_string();
        assert!(text.contains("activity.retention_days"), "{text}");
        assert!(text.contains("channels[0].url"), "{text}");
        assert!(text.contains("channels[0].secret"), "{text}");
    }
}
