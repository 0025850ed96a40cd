//! The all-in-one runner's configuration: the common sections plus where it keeps its data.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ferry_platform::config::{self, CommonConfig, Secret, Validate, ValidationErrors};
use figment::providers::Serialized;
use schemars::JsonSchema;
use serde::Deserialize;

/// The embedded default's SQLite file.
const DEFAULT_DATABASE_URL: &str = "sqlite://ferry-data/ferry.sqlite?mode=rwc";

/// Configuration of `ferry run`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FerryConfig {
    /// Admin server, bus, database and telemetry.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Where the embedded default keeps its generated admin token (and, by default, its
    /// SQLite file: `database.url` is `sqlite://ferry-data/ferry.sqlite?mode=rwc`).
    pub data_dir: PathBuf,
    /// Processed message ids are remembered this many days (redeliveries come within minutes).
    pub inbox_retention_days: u64,
    /// The simulators of MailChimp and MplusKASSA, seeded with a sample shop.
    pub sandbox: SandboxSettings,
    /// `[egress]`: internal destinations the connectors (and the alert channels) may reach
    /// anyway, added to each one's own `[connector_*.egress]` / `[notifier.egress]`; its
    /// `sandbox` turns the connectors' sandbox mode on (plain `http://` to loopback / allowed
    /// internal addresses). With `sandbox.enabled` (the default), exactly the sandboxes'
    /// two addresses are allowed to their connector, in sandbox mode: nothing else on
    /// loopback (this process's admin port included).
    pub egress: ferry_platform::egress::EgressConfig,
    /// `[mapper]`: the mapper's own settings (its common sections are ignored here: the
    /// all-in-one process shares one bus, database and admin server).
    pub mapper: ferry_mapper::MapperConfig,
    /// `[order_orchestrator]`.
    pub order_orchestrator: ferry_order_orchestrator::OrchestratorConfig,
    /// `[notifier]`.
    pub notifier: ferry_notifier::NotifierConfig,
    /// `[connector_mailchimp]`.
    pub connector_mailchimp: ferry_connector_mailchimp::ConnectorConfig,
    /// `[connector_mpluskassa]`.
    pub connector_mpluskassa: ferry_connector_mpluskassa::ConnectorConfig,
}

/// Whether and where `ferry run` starts the sandboxes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SandboxSettings {
    /// Start them (the embedded default); off when real accounts are configured. On, it is
    /// the sandbox mode of the connectors: each may reach its sandbox's address (and only
    /// that one on loopback) over plain `http://`.
    pub enabled: bool,
    /// The MailChimp API simulator (`http://ADDR/3.0`).
    pub mailchimp_listen: SocketAddr,
    /// The MplusKASSA SOAP simulator (`http://ADDR/`).
    pub mpluskassa_listen: SocketAddr,
    /// Sync the two sandboxes through a demo integration when no integration is configured.
    pub demo_integration: bool,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            mailchimp_listen: SocketAddr::from(([127, 0, 0, 1], 9110)),
            mpluskassa_listen: SocketAddr::from(([127, 0, 0, 1], 9111)),
            demo_integration: true,
        }
    }
}

impl Default for FerryConfig {
    fn default() -> Self {
        let mut common = CommonConfig::default();
        common.database.url = Secret::new(DEFAULT_DATABASE_URL);
        Self {
            common,
            data_dir: PathBuf::from("ferry-data"),
            inbox_retention_days: 7,
            sandbox: SandboxSettings::default(),
            egress: Default::default(),
            mapper: Default::default(),
            order_orchestrator: Default::default(),
            notifier: Default::default(),
            connector_mailchimp: Default::default(),
            connector_mpluskassa: Default::default(),
        }
    }
}

impl Validate for FerryConfig {
    fn validate(&self, errors: &mut ValidationErrors) {
        self.common.validate(errors);
        if self.data_dir.as_os_str().is_empty() {
            errors.push("data_dir", "must not be empty");
        }
        if self.inbox_retention_days == 0 {
            errors.push("inbox_retention_days", "must be at least 1");
        }
        if let Err(error) = ferry_platform::egress::EgressGuard::new(&self.egress) {
            errors.push("egress.allow", error.to_string());
        }
    }
}

impl FerryConfig {
    /// Loads defaults, then the file, then `FERRY_*` variables, and validates the result.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let file = file.map(Path::to_path_buf).or_else(|| {
            std::env::var_os("FERRY_CONFIG")
                .filter(|v| !v.is_empty())
                .map(Into::into)
        });
        // The embedded default keeps its database in the data directory; `join` only fills
        // what neither the file nor the environment set.
        let figment = config::figment("ferry", file.as_deref())?
            .join(Serialized::default("database.url", DEFAULT_DATABASE_URL));
        Ok(config::load_figment::<Self>(figment)?)
    }
}
