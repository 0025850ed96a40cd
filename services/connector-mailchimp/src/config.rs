//! Configuration: the common sections, `[mailchimp]` (client, polling, consumer) and the
//! per-integration connections `[[integrations]]`.
//!
//! ```toml
//! [mailchimp]
//! poll_interval_secs = 5       # longest wait between polls of an idle integration
//!
//! [[integrations]]
//! integration_id = "0195f3a4-7b1c-7d2e-8f90-a1b2c3d4e5f6"
//! api_key = "0123456789abcdef0123456789abcdef-us19"   # or FERRY_INTEGRATIONS__0__API_KEY
//! store_id = "ferry-shop"
//! list_id = "a1b2c3d4e5"
//! webhook_secret = "long-random-string"
//!
//! [egress]
//! allow = []        # internal destinations allowed anyway: "10.1.0.0/16", "127.0.0.1:9110", "sandbox"
//! sandbox = false   # on: plain http:// to loopback / allowed internal addresses (sandboxes)
//! ```

use ferry_proto::messages::AudienceStatus;
use std::time::Duration;

use ferry_platform::config::{CommonConfig, Secret, Validate, ValidationErrors};
use ferry_proto::IntegrationId;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::client::{ApiKey, ClientSettings};
use crate::resource::Resource;

/// Everything the connector reads from its configuration.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ConnectorConfig {
    /// Admin, bus, database, telemetry.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// `[mailchimp]`: client, polling and consumer settings.
    pub mailchimp: MailchimpSection,
    /// `[[integrations]]`: MailChimp accounts served from the configuration, always live,
    /// beside those of the integration registry.
    pub integrations: Vec<IntegrationConfig>,
    /// `[egress]`: where the MailChimp client and the connection tests may go besides public
    /// `https://` hosts (internal destinations allowed, the sandbox mode for plain `http://`).
    pub egress: ferry_platform::egress::EgressConfig,
    /// The credentials keyring, when the host provides it (the all-in-one runner); else
    /// `FERRY_CREDENTIALS_KEY` is read at start.
    #[serde(skip)]
    pub keyring: Option<ferry_platform::secrets::Keyring>,
}

/// `[mailchimp]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MailchimpSection {
    /// Deliveries of the command queue handled at once (default: the bus's prefetch).
    pub prefetch: Option<u16>,
    /// Seconds one API call may take (MailChimp's own limit is 120).
    pub request_timeout_secs: u64,
    /// Seconds to establish a connection.
    pub connect_timeout_secs: u64,
    /// Attempts per idempotent API call, the first included.
    pub max_attempts: u32,
    /// First backoff delay in milliseconds (full jitter, doubled per attempt).
    pub retry_base_ms: u64,
    /// Longest backoff delay in milliseconds.
    pub retry_max_ms: u64,
    /// Longest response body read, in bytes (default 32 MiB); a longer one fails the call.
    pub max_response_bytes: usize,
    /// Deprecated and ignored: the replicas share each account's connection limit through the
    /// database (connection slots), whatever their number. Still accepted, with a warning at
    /// start, so existing deployments keep starting.
    #[schemars(extend("deprecated" = true))]
    pub replicas: Option<u32>,
    /// The longest wait, in seconds, between two polls of an integration that found nothing
    /// (idle polls back off to it from `poll_busy_interval_ms`).
    pub poll_interval_secs: u64,
    /// The wait, in milliseconds, after a poll that found changes.
    pub poll_busy_interval_ms: u64,
    /// Seconds a replica's ownership of an integration's polling lasts unless renewed; a
    /// killed replica's integrations are polled by the others within about 1⅓ of it.
    pub poll_lease_secs: u64,
    /// Integrations this replica polls at once.
    pub poll_concurrency: usize,
    /// Seconds a poll looks back before the previous poll's start (clock skew, slow writes).
    pub poll_overlap_secs: u64,
    /// Records per page when reading collections (MailChimp's maximum is 1000).
    pub page_size: u32,
    /// Seconds between reconciliation passes of an e-commerce resource: an incremental
    /// poll due for one reads every record in full and compares content fingerprints
    /// instead of scanning ids and change times (catches what the fast path cannot see).
    pub reconcile_interval_secs: u64,
    /// Run a full sync of an integration whose resources were never synced, at start.
    pub initial_sync: bool,
    /// A page of a full or reconciling sync waits while this many messages (or more) are
    /// ready in the pipeline's queues and the outbox, so live changes are not queued behind
    /// a backfill (0: never waits).
    pub backfill_backlog: u64,
    /// Hours a processed command id is remembered by the inbox.
    pub inbox_retention_hours: u32,
    /// Poll MailChimp at all (off: only admin-triggered syncs and webhooks).
    pub poll_enabled: bool,
    /// Public base URL of this service's admin server as MailChimp reaches it; when set,
    /// the list webhook of every integration with a `webhook_secret` is registered at start.
    pub webhook_public_url: Option<String>,
}

impl Default for MailchimpSection {
    fn default() -> Self {
        Self {
            prefetch: None,
            request_timeout_secs: 120,
            connect_timeout_secs: 10,
            max_attempts: 5,
            retry_base_ms: 250,
            retry_max_ms: 10_000,
            max_response_bytes: 32 * 1024 * 1024,
            replicas: None,
            poll_interval_secs: 5,
            poll_busy_interval_ms: 1000,
            poll_lease_secs: 15,
            poll_concurrency: 64,
            poll_overlap_secs: 60,
            page_size: 1000,
            reconcile_interval_secs: 3600,
            initial_sync: true,
            backfill_backlog: ferry_platform::connector::ingest::backlog::DEFAULT_MAX,
            inbox_retention_hours: 168,
            poll_enabled: true,
            webhook_public_url: None,
        }
    }
}

impl MailchimpSection {
    /// How integrations are polled (ownership leases, concurrency, adaptive interval).
    pub fn poll_settings(&self) -> ferry_platform::connector::poll::PollSettings {
        use ferry_platform::connector::poll::{AdaptiveInterval, PollSettings};
        PollSettings {
            lease: Duration::from_secs(self.poll_lease_secs.max(1)),
            concurrency: self.poll_concurrency.max(1),
            interval: AdaptiveInterval {
                busy: Duration::from_millis(
                    self.poll_busy_interval_ms
                        .clamp(1, self.poll_interval_secs.max(1) * 1000),
                ),
                idle_max: Duration::from_secs(self.poll_interval_secs.max(1)),
            },
        }
    }

    /// The client settings for an account allowing `concurrency` connections (all replicas
    /// together: they share them through connection slots), with the default egress guard
    /// (public `https://` only; [`crate::integrations::Integrations::client_settings`] adds
    /// the deployment's `[egress]`).
    pub fn client_settings(&self, concurrency: u32) -> ClientSettings {
        ClientSettings {
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            max_attempts: self.max_attempts.max(1),
            retry_base: Duration::from_millis(self.retry_base_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
            concurrency: concurrency.max(1) as usize,
            max_response_bytes: self.max_response_bytes.max(1),
            egress: ferry_platform::egress::EgressGuard::default(),
        }
    }
}

/// One integration's MailChimp connection. The API key and the webhook secret are
/// [`Secret`]s: never logged, never serialized, never stored in the database.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// The integration (tenant).
    pub integration_id: IntegrationId,
    /// `<key>-<dc>`; the data center picks the host.
    pub api_key: Secret,
    /// Overrides `https://<dc>.api.mailchimp.com/3.0` (the sandbox).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The e-commerce store Ferry reads and writes.
    pub store_id: String,
    /// The audience (list) of the store.
    pub list_id: String,
    /// Name of the store when Ferry has to create it.
    #[serde(default = "default_store_name")]
    pub store_name: String,
    /// Currency of the store (ISO 4217).
    #[serde(default = "default_currency")]
    pub currency_code: String,
    /// Simultaneous API calls for this account across all replicas (MailChimp allows 10).
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Secret in the webhook URL; without it, list webhooks are refused.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// Audience merge field holding a company name (MailChimp has no default one).
    #[serde(default = "default_company_field")]
    pub company_merge_field: String,
    /// What is read from MailChimp (default: all).
    #[serde(default = "Resource::all")]
    pub resources: Vec<Resource>,
    /// Also publish `mailchimp.stock.observed` per variant (when MailChimp is the stock source).
    #[serde(default)]
    pub publish_stock: bool,
    /// Customers written to MailChimp also become audience members; a new one without consent
    /// gets this status (`transactional` or `pending`). Absent (default): off.
    #[serde(default)]
    pub audience_members: Option<AudienceStatus>,
}

fn default_store_name() -> String {
    "Ferry".to_owned()
}
fn default_currency() -> String {
    "EUR".to_owned()
}
fn default_concurrency() -> u32 {
    10
}
fn default_company_field() -> String {
    "COMPANY".to_owned()
}

impl Validate for ConnectorConfig {
    fn validate(&self, errors: &mut ValidationErrors) {
        self.common.validate(errors);
        let m = &self.mailchimp;
        if m.prefetch == Some(0) {
            errors.push("mailchimp.prefetch", "must be at least 1");
        }
        if m.request_timeout_secs == 0 {
            errors.push("mailchimp.request_timeout_secs", "must be at least 1");
        }
        if m.poll_lease_secs == 0 {
            errors.push("mailchimp.poll_lease_secs", "must be at least 1");
        }
        if m.poll_concurrency == 0 {
            errors.push("mailchimp.poll_concurrency", "must be at least 1");
        }
        if m.poll_interval_secs == 0 {
            errors.push("mailchimp.poll_interval_secs", "must be at least 1");
        }
        if !(1..=1000).contains(&m.page_size) {
            errors.push("mailchimp.page_size", "must be within 1..=1000");
        }
        if m.inbox_retention_hours == 0 {
            errors.push("mailchimp.inbox_retention_hours", "must be at least 1");
        }
        let guard = match ferry_platform::egress::EgressGuard::new(&self.egress) {
            Ok(guard) => Some(guard),
            Err(error) => {
                errors.push("egress.allow", error.to_string());
                None
            }
        };
        for (i, integration) in self.integrations.iter().enumerate() {
            let at = |key: &str| format!("integrations[{i}].{key}");
            if let Err(e) = ApiKey::parse(integration.api_key.expose()) {
                errors.push(at("api_key"), e.to_string());
            }
            if integration.store_id.trim().is_empty() || integration.store_id.len() > 50 {
                errors.push(at("store_id"), "must be 1 to 50 characters");
            }
            if integration.list_id.trim().is_empty() {
                errors.push(at("list_id"), "must not be empty");
            }
            if ferry_proto::CurrencyCode::parse(&integration.currency_code).is_err() {
                errors.push(at("currency_code"), "must be an ISO 4217 code");
            }
            if integration.concurrency == 0 {
                errors.push(at("concurrency"), "must be at least 1");
            }
            if let Some(url) = &integration.base_url {
                match reqwest::Url::parse(url.trim()) {
                    Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                        if let Some(Err(refused)) =
                            guard.as_ref().map(|g| g.check_credentialed_url(&parsed))
                        {
                            errors.push(at("base_url"), refused.to_string());
                        }
                    }
                    _ => errors.push(at("base_url"), "must start with http:// or https://"),
                }
            }
            if integration
                .webhook_secret
                .as_ref()
                .is_some_and(|s| s.expose().len() < 16)
            {
                errors.push(at("webhook_secret"), "must be at least 16 characters");
            }
            if self.integrations[..i]
                .iter()
                .any(|o| o.integration_id == integration.integration_id)
            {
                errors.push(at("integration_id"), "is listed twice");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(config: &ConnectorConfig) -> Vec<String> {
        let mut errors = ValidationErrors::default();
        config.validate(&mut errors);
        errors.problems().iter().map(|p| p.path.clone()).collect()
    }

    fn integration(id: &str, key: &str) -> serde_json::Value {
        json!({"integration_id": id, "api_key": key, "store_id": "shop", "list_id": "list"})
    }

    #[test]
    fn a_valid_configuration_passes() {
        let mut config: ConnectorConfig = serde_json::from_value(json!({
            "integrations": [integration("0195f3a4-7b1c-7d2e-8f90-a1b2c3d4e5f6", "0123456789abcdef0123456789abcdef-us19")]
        }))
        .expect("deserializes");
        config.common.service_name = "connector-mailchimp".into();
        assert_eq!(problems(&config), Vec::<String>::new());
        let i = &config.integrations[0];
        assert_eq!(i.concurrency, 10);
        assert_eq!(i.resources, Resource::all());
        assert_eq!(config.mailchimp.client_settings(10).concurrency, 10);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut config: ConnectorConfig = serde_json::from_value(json!({
            "mailchimp": {"page_size": 0, "poll_lease_secs": 0},
            "integrations": [
                integration("0195f3a4-7b1c-7d2e-8f90-a1b2c3d4e5f6", "no-dc-"),
                integration("0195f3a4-7b1c-7d2e-8f90-a1b2c3d4e5f6", "0123456789abcdef0123456789abcdef-us19"),
            ]
        }))
        .expect("deserializes");
        config.common.service_name = "connector-mailchimp".into();
        config.integrations[1].webhook_secret = Some(Secret::new("short"));
        let found = problems(&config);
        for key in [
            "mailchimp.page_size",
            "mailchimp.poll_lease_secs",
            "integrations[0].api_key",
            "integrations[1].integration_id",
            "integrations[1].webhook_secret",
        ] {
            assert!(
                found.iter().any(|p| p == key),
                "{key} not reported: {found:?}"
            );
        }
    }

    /// Issue 19: a base URL over plain http, or on an internal address, is refused at load
    /// unless `[egress]` allows it.
    #[test]
    fn base_urls_must_pass_the_egress_guard() {
        let mut entry = integration(
            "0195f3a4-7b1c-7d2e-8f90-a1b2c3d4e5f6",
            "0123456789abcdef0123456789abcdef-us19",
        );
        entry["base_url"] = json!("http://127.0.0.1:9110/3.0");
        let mut config: ConnectorConfig =
            serde_json::from_value(json!({ "integrations": [entry] })).expect("deserializes");
        config.common.service_name = "connector-mailchimp".into();
        assert_eq!(problems(&config), vec!["integrations[0].base_url"]);
        config.egress.allow = vec!["127.0.0.1:9110".into()];
        assert_eq!(
            problems(&config),
            vec!["integrations[0].base_url"],
            "plain http outside the sandbox mode"
        );
        config.egress.sandbox = true;
        assert_eq!(problems(&config), Vec::<String>::new());
        config.egress.allow = vec!["not a/net!".into()];
        assert_eq!(problems(&config), vec!["egress.allow"]);
    }

    #[test]
    fn the_deprecated_replica_count_is_accepted_and_changes_nothing() {
        let config: ConnectorConfig =
            serde_json::from_value(json!({"mailchimp": {"replicas": 3}})).expect("accepted");
        assert_eq!(config.mailchimp.replicas, Some(3));
        assert_eq!(
            config.mailchimp.client_settings(10).concurrency,
            10,
            "the account's whole limit: the replicas share it through connection slots"
        );
    }
}
