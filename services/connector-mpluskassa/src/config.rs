//! The service's configuration: the common sections, the MplusKASSA installations it serves
//! (until the integration registry feeds them), change detection and client settings.
//!
//! ```toml
//! [[integrations]]
//! integration_id = "0193a0c4-0000-7000-8000-000000000001"
//! endpoint = "https://api.mpluskassa.nl:34567/"
//! ident = "shop"
//! secret = "..."            # or FERRY_INTEGRATIONS__0__SECRET; printed as ***
//! branch = 1
//! sku_source = "plu_number" # or "article_number"
//!
//! [sync]
//! poll_interval_ms = 5000   # longest pause of an idle integration (1000 after changes)
//! page_size = 500
//!
//! [egress]
//! allow = []        # internal destinations allowed anyway: "10.1.0.0/16", "127.0.0.1:9111", "sandbox"
//! sandbox = false   # on: plain http:// to loopback / allowed internal addresses (sandboxes)
//! ```

use std::time::Duration;

use ferry_platform::config::{CommonConfig, Secret, Validate, ValidationErrors};
use ferry_proto::{CurrencyCode, IntegrationId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use ferry_platform::egress::{EgressError, EgressGuard};

use crate::client::ClientSettings;

/// Name of the service (queue, outbox source, config defaults).
pub const SERVICE: &str = "connector-mpluskassa";

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ConnectorConfig {
    /// Admin, bus, database, telemetry.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// The installations served.
    pub integrations: Vec<IntegrationConfig>,
    /// Change detection.
    pub sync: SyncConfig,
    /// The SOAP client.
    pub client: ClientConfig,
    /// `[egress]`: where the SOAP client and the connection tests may go besides public
    /// `https://` endpoints (internal destinations allowed, the sandbox mode for plain
    /// `http://`).
    pub egress: ferry_platform::egress::EgressConfig,
    /// The credentials keyring, when the host provides it (the all-in-one runner); else
    /// `FERRY_CREDENTIALS_KEY` is read at start.
    #[serde(skip)]
    pub keyring: Option<ferry_platform::secrets::Keyring>,
}

impl ConnectorConfig {
    /// The SOAP client's settings, through the `[egress]` guard.
    pub fn client_settings(&self) -> Result<ClientSettings, EgressError> {
        Ok(ClientSettings {
            egress: EgressGuard::new(&self.egress)?,
            ..self.client.settings()
        })
    }
}

impl Validate for ConnectorConfig {
    fn validate(&self, errors: &mut ValidationErrors) {
        self.common.validate(errors);
        let guard = match EgressGuard::new(&self.egress) {
            Ok(guard) => Some(guard),
            Err(error) => {
                errors.push("egress.allow", error.to_string());
                None
            }
        };
        for (i, integration) in self.integrations.iter().enumerate() {
            integration.validate_at(&format!("integrations[{i}]"), errors);
            if let (Some(guard), Ok(url)) = (&guard, reqwest::Url::parse(&integration.endpoint))
                && let Err(refused) = guard.check_credentialed_url(&url)
            {
                errors.push(format!("integrations[{i}].endpoint"), refused.to_string());
            }
            if self.integrations[..i]
                .iter()
                .any(|o| o.integration_id == integration.integration_id)
            {
                errors.push(format!("integrations[{i}].integration_id"), "appears twice");
            }
        }
        self.sync.validate_at("sync", errors);
        self.client.validate_at("client", errors);
    }
}

/// Which article field is the SKU.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SkuSource {
    /// `pluNumber` (a string; the default).
    #[default]
    PluNumber,
    /// `articleNumber` (a number).
    ArticleNumber,
}

/// The entity types change detection covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Entities {
    /// Relations -> `customer.observed`.
    pub customers: bool,
    /// Products -> `product.observed`.
    pub products: bool,
    /// Article groups -> `category.observed`.
    pub categories: bool,
    /// Stock -> `stock.observed`.
    pub stock: bool,
    /// Orders -> `order.observed`.
    pub orders: bool,
}

impl Default for Entities {
    fn default() -> Self {
        Self {
            customers: true,
            products: true,
            categories: true,
            stock: true,
            orders: true,
        }
    }
}

/// Which MplusKASSA sales become `order.observed` (`orders.source_types`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SourceTypes {
    /// Orders only (`getOrders`).
    Orders,
    /// Invoices only (`getInvoices`: till sales and invoiced orders).
    Invoices,
    /// Both (the default); an order that became an invoice is one sale.
    #[default]
    Both,
}

impl SourceTypes {
    /// Whether orders are read.
    pub fn orders(self) -> bool {
        matches!(self, Self::Orders | Self::Both)
    }

    /// Whether invoices are read.
    pub fn invoices(self) -> bool {
        matches!(self, Self::Invoices | Self::Both)
    }
}

/// Sales from MplusKASSA (`[integrations.orders]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SalesSettings {
    /// Orders, invoices or both (default both).
    pub source_types: SourceTypes,
    /// Sales without a known customer (no relation, or a relation without an e-mail
    /// address): absent, they are skipped; a relation number, they are booked on that
    /// relation (e.g. the shop's own "walk-in customer" with the shop's address). Never a
    /// made-up e-mail address.
    pub walk_in_relation: Option<i64>,
}

/// One installation (an integration's MplusKASSA side).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct IntegrationConfig {
    /// The integration.
    pub integration_id: IntegrationId,
    /// SOAP endpoint (`https://api.mpluskassa.nl:<port>/`).
    pub endpoint: String,
    /// `ident` credential.
    pub ident: String,
    /// `secret` credential (never logged, never stored by this service).
    pub secret: Secret,
    /// Branch for stock and orders.
    #[serde(default = "default_branch")]
    pub branch: i32,
    /// Workplace for orders (required by MplusKASSA when the branch is not the default).
    #[serde(default)]
    pub workplace: Option<i32>,
    /// Which article field is the SKU.
    #[serde(default)]
    pub sku_source: SkuSource,
    /// Currency of the installation's amounts (ISO 4217).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Turnover group of new articles when the command names none.
    #[serde(default)]
    pub default_turnover_group: Option<i32>,
    /// VAT code of new articles whose rate matches no VAT group.
    #[serde(default)]
    pub default_vat_code: Option<i32>,
    /// Entity types observed by change detection.
    #[serde(default)]
    pub observe: Entities,
    /// Which sales are read and how sales without a customer are treated.
    #[serde(default)]
    pub orders: SalesSettings,
}

fn default_branch() -> i32 {
    1
}

fn default_currency() -> String {
    "EUR".to_owned()
}

impl IntegrationConfig {
    /// The currency, parsed (validated at load).
    pub fn currency(&self) -> CurrencyCode {
        CurrencyCode::parse(&self.currency).unwrap_or(CurrencyCode::EUR)
    }

    fn validate_at(&self, prefix: &str, errors: &mut ValidationErrors) {
        match reqwest::Url::parse(&self.endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.query().is_none() => {}
            _ => errors.push(
                format!("{prefix}.endpoint"),
                "must be an http(s) URL without a query string",
            ),
        }
        if self.ident.trim().is_empty() {
            errors.push(format!("{prefix}.ident"), "must not be empty");
        }
        if self.secret.is_empty() {
            errors.push(format!("{prefix}.secret"), "must not be empty");
        }
        if self.branch <= 0 {
            errors.push(format!("{prefix}.branch"), "must be a branch number (> 0)");
        }
        if CurrencyCode::parse(&self.currency).is_err() {
            errors.push(format!("{prefix}.currency"), "must be an ISO 4217 code");
        }
    }
}

/// Change detection.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SyncConfig {
    /// Whether change detection runs at all.
    pub enabled: bool,
    /// The longest pause, in milliseconds, between two passes of an integration that found
    /// nothing (idle passes back off to it from `busy_interval_ms`).
    pub poll_interval_ms: u64,
    /// The pause, in milliseconds, after a pass that found changes.
    pub busy_interval_ms: u64,
    /// Seconds a replica's ownership of an integration's polling lasts unless renewed; a
    /// killed replica's integrations are polled by the others within about 1⅓ of it.
    pub lease_secs: u64,
    /// Integrations this replica polls at once.
    pub concurrency: usize,
    /// Records per page (`syncMarkerLimit`, at most 1000).
    pub page_size: u32,
    /// A page of a full pass (an entity read from marker 0: the first sync, a reset) waits
    /// while this many messages (or more) are ready in the pipeline's queues and the outbox,
    /// so live changes are not queued behind a backfill (0: never waits).
    pub backfill_backlog: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 5_000,
            busy_interval_ms: 1_000,
            lease_secs: 15,
            concurrency: 64,
            page_size: 500,
            backfill_backlog: ferry_platform::connector::ingest::backlog::DEFAULT_MAX,
        }
    }
}

impl SyncConfig {
    /// [`poll_interval_ms`](Self::poll_interval_ms) as a duration.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// How integrations are polled (ownership leases, concurrency, adaptive interval).
    pub fn poll_settings(&self) -> ferry_platform::connector::poll::PollSettings {
        use ferry_platform::connector::poll::{AdaptiveInterval, PollSettings};
        PollSettings {
            lease: Duration::from_secs(self.lease_secs.max(1)),
            concurrency: self.concurrency.max(1),
            interval: AdaptiveInterval {
                // Never longer than the idle maximum (tests poll every 200 ms).
                busy: Duration::from_millis(
                    self.busy_interval_ms.clamp(1, self.poll_interval_ms.max(1)),
                ),
                idle_max: self.poll_interval().max(Duration::from_millis(1)),
            },
        }
    }

    fn validate_at(&self, prefix: &str, errors: &mut ValidationErrors) {
        if !(1..=1000).contains(&self.page_size) {
            errors.push(format!("{prefix}.page_size"), "must be 1..=1000");
        }
        if self.poll_interval_ms == 0 {
            errors.push(format!("{prefix}.poll_interval_ms"), "must be > 0");
        }
        if self.lease_secs == 0 {
            errors.push(format!("{prefix}.lease_secs"), "must be > 0");
        }
        if self.concurrency == 0 {
            errors.push(format!("{prefix}.concurrency"), "must be > 0");
        }
    }
}

/// SOAP client settings.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ClientConfig {
    /// Whole-call timeout, ms (MplusKASSA calls can be slow).
    pub timeout_ms: u64,
    /// Connect timeout, ms.
    pub connect_timeout_ms: u64,
    /// Attempts of a call that is safe to repeat.
    pub max_attempts: u32,
    /// First retry delay, ms (doubles, with jitter).
    pub backoff_base_ms: u64,
    /// Longest retry delay, ms.
    pub backoff_max_ms: u64,
    /// Largest response read, bytes (a bigger one is refused unread).
    pub max_response_bytes: usize,
    /// Deepest element nesting read in a response.
    pub max_response_depth: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        let d = ClientSettings::default();
        Self {
            timeout_ms: d.timeout.as_millis() as u64,
            connect_timeout_ms: d.connect_timeout.as_millis() as u64,
            max_attempts: d.max_attempts,
            backoff_base_ms: d.backoff_base.as_millis() as u64,
            backoff_max_ms: d.backoff_max.as_millis() as u64,
            max_response_bytes: d.limits.max_bytes,
            max_response_depth: d.limits.max_depth,
        }
    }
}

impl ClientConfig {
    /// As client settings, with the default egress guard (public `https://` only;
    /// [`ConnectorConfig::client_settings`] adds the deployment's `[egress]`).
    pub fn settings(&self) -> ClientSettings {
        ClientSettings {
            timeout: Duration::from_millis(self.timeout_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            max_attempts: self.max_attempts.max(1),
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            limits: ferry_mplusqapi::Limits {
                max_bytes: self.max_response_bytes,
                max_depth: self.max_response_depth,
            },
            egress: EgressGuard::default(),
        }
    }

    fn validate_at(&self, prefix: &str, errors: &mut ValidationErrors) {
        if self.timeout_ms == 0 {
            errors.push(format!("{prefix}.timeout_ms"), "must be > 0");
        }
        if self.max_attempts == 0 {
            errors.push(format!("{prefix}.max_attempts"), "must be >= 1");
        }
        if self.max_response_bytes < 1024 {
            errors.push(format!("{prefix}.max_response_bytes"), "must be >= 1024");
        }
        if self.max_response_depth < 8 {
            errors.push(format!("{prefix}.max_response_depth"), "must be >= 8");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_platform::config::{figment, load_figment};

    #[test]
    fn loads_and_validates_integrations() {
        let dir = std::env::temp_dir().join(format!("mk-config-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(
            &dir,
            r#"
[[integrations]]
integration_id = "0193a0c4-0000-7000-8000-000000000001"
endpoint = "https://api.example.nl:34567/"
ident = "shop"
secret = "s3cret"
sku_source = "article_number"

[sync]
page_size = 1000
"#,
        )
        .expect("write");
        let config: ConnectorConfig =
            load_figment(figment(SERVICE, Some(&dir)).expect("figment")).expect("valid");
        let _ = std::fs::remove_file(&dir);
        assert_eq!(config.integrations.len(), 1);
        let i = &config.integrations[0];
        assert_eq!(i.sku_source, SkuSource::ArticleNumber);
        assert_eq!(i.branch, 1);
        assert!(!format!("{config:?}").contains("s3cret"));

        let mut bad = config.clone();
        bad.integrations[0].endpoint = "https://x/?secret=1".into();
        bad.integrations.push(bad.integrations[0].clone());
        bad.sync.page_size = 0;
        let mut errors = ValidationErrors::default();
        bad.validate(&mut errors);
        let paths: Vec<&str> = errors.problems().iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"integrations[0].endpoint"), "{paths:?}");
        assert!(
            paths.contains(&"integrations[1].integration_id"),
            "{paths:?}"
        );
        assert!(paths.contains(&"sync.page_size"), "{paths:?}");
    }

    /// Issue 19: an endpoint over plain http, or on an internal address, is refused at load
    /// unless `[egress]` allows it (the secret travels in its query string).
    #[test]
    fn endpoints_must_pass_the_egress_guard() {
        let mut config: ConnectorConfig = serde_json::from_value(serde_json::json!({
            "integrations": [{
                "integration_id": "0193a0c4-0000-7000-8000-000000000001",
                "endpoint": "http://127.0.0.1:9111/", "ident": "shop", "secret": "s3cret"
            }]
        }))
        .expect("deserializes");
        config.common.service_name = SERVICE.into();
        let paths = |config: &ConnectorConfig| {
            let mut errors = ValidationErrors::default();
            config.validate(&mut errors);
            errors
                .problems()
                .iter()
                .map(|p| p.path.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(paths(&config), vec!["integrations[0].endpoint"]);
        config.egress.allow = vec!["127.0.0.1:9111".into()];
        assert_eq!(
            paths(&config),
            vec!["integrations[0].endpoint"],
            "plain http"
        );
        config.egress.sandbox = true;
        assert_eq!(paths(&config), Vec::<String>::new());
        assert!(config.client_settings().is_ok());
        config.integrations[0].endpoint = "https://10.0.0.9:34567/".into();
        assert_eq!(paths(&config), vec!["integrations[0].endpoint"]);
        config.egress.allow = vec!["what/ever!".into()];
        assert_eq!(paths(&config), vec!["egress.allow"]);
        assert!(config.client_settings().is_err());
    }
}
