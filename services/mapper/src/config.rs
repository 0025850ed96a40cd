//! The mapper's configuration: the common sections plus `[mapper]`.
//!
//! ```toml
//! [mapper]
//! prefetch = 128              # deliveries handled at once
//! inbox_retention_hours = 168 # how long processed message ids are remembered
//!
//! [mapper.registry]            # how the registry's connection test reaches the connectors
//! mailchimp_admin_url = "http://connector-mailchimp:9100"    # default: this admin server
//! mpluskassa_admin_url = "http://connector-mpluskassa:9100"  # default: this admin server
//! admin_token = "…"            # an operator token of theirs (default: the caller's token)
//! admin_ca_file = "/etc/ferry/tls/ca.crt" # trusted for https admin URLs (`[admin] tls` of theirs)
//! test_timeout_secs = 30
//! republish_interval_secs = 3600 # every integration is republished this often (and at start)
//! ```
//!
//! ```toml
//! [egress]                     # saved endpoints: https to public hosts only, unless allowed
//! allow = ["sandbox"]          # internal destinations accepted (CIDR, ip:port, host name)
//! sandbox = false              # true: plain http to those (development with the sandboxes)
//! ```
//!
//! The credentials keyring comes from `FERRY_CREDENTIALS_KEY` (see
//! `ferry_platform::secrets`), or is handed over by the host ([`MapperConfig::keyring`]).

use ferry_platform::config::{CommonConfig, Secret, Validate, ValidationErrors};
use ferry_platform::secrets::Keyring;
use schemars::JsonSchema;
use serde::Deserialize;

/// Everything the mapper reads from its configuration.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MapperConfig {
    /// Admin, bus, database, telemetry.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// The mapper's own section.
    pub mapper: MapperSection,
    /// `[egress]`: which saved endpoints the registry accepts. A MailChimp base URL or an
    /// MplusKASSA endpoint carries credentials, so it must be `https://` to a public
    /// destination, unless it is an internal destination this names (`allow`) and, for plain
    /// `http://`, the sandbox mode is on (`sandbox = true`), as the connectors require.
    pub egress: ferry_platform::egress::EgressConfig,
    /// The credentials keyring, when the host provides it (the all-in-one runner); else
    /// `FERRY_CREDENTIALS_KEY` is read at start.
    #[serde(skip)]
    pub keyring: Option<Keyring>,
}

/// `[mapper]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MapperSection {
    /// Deliveries handled at once (default: the bus's prefetch).
    pub prefetch: Option<u16>,
    /// Hours a processed message id is remembered by the inbox (default 168).
    pub inbox_retention_hours: u32,
    /// `[mapper.registry]`: how the integration registry reaches the connectors.
    pub registry: RegistrySection,
}

/// `[mapper.registry]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrySection {
    /// Base URL of connector-mailchimp's admin server (default: the server the mapper's
    /// admin API is served by, as in the all-in-one runner).
    pub mailchimp_admin_url: Option<String>,
    /// Base URL of connector-mpluskassa's admin server (default: the same server).
    pub mpluskassa_admin_url: Option<String>,
    /// An operator token for the connectors' admin APIs (default: the caller's own token).
    pub admin_token: Option<Secret>,
    /// A PEM file of the certificate authority (or the certificates) the connectors' admin
    /// servers use when they serve TLS (`[admin] tls`), trusted besides the public roots for
    /// `https://` admin URLs.
    pub admin_ca_file: Option<std::path::PathBuf>,
    /// How long a connection test may take.
    pub test_timeout_secs: u64,
    /// Every integration is republished this often (and at start), so a connector that
    /// started later or lost its queue learns the registry's state.
    pub republish_interval_secs: u64,
}

impl Default for RegistrySection {
    fn default() -> Self {
        Self {
            mailchimp_admin_url: None,
            mpluskassa_admin_url: None,
            admin_token: None,
            admin_ca_file: None,
            test_timeout_secs: 30,
            republish_interval_secs: 3600,
        }
    }
}

impl Default for MapperSection {
    fn default() -> Self {
        Self {
            prefetch: None,
            inbox_retention_hours: 168,
            registry: RegistrySection::default(),
        }
    }
}

impl Validate for MapperConfig {
    fn validate(&self, errors: &mut ValidationErrors) {
        self.common.validate(errors);
        if self.mapper.prefetch == Some(0) {
            errors.push("mapper.prefetch", "must be at least 1");
        }
        for (key, url) in [
            (
                "mapper.registry.mailchimp_admin_url",
                &self.mapper.registry.mailchimp_admin_url,
            ),
            (
                "mapper.registry.mpluskassa_admin_url",
                &self.mapper.registry.mpluskassa_admin_url,
            ),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                errors.push(key, "must be an http(s) URL");
            }
        }
        if let Some(ca) = &self.mapper.registry.admin_ca_file
            && !ca.is_file()
        {
            errors.push(
                "mapper.registry.admin_ca_file",
                format!("{} is not a readable file", ca.display()),
            );
        }
        if let Err(error) = ferry_platform::egress::EgressGuard::new(&self.egress) {
            errors.push("egress.allow", error.to_string());
        }
        if self.mapper.registry.republish_interval_secs == 0 {
            errors.push(
                "mapper.registry.republish_interval_secs",
                "must be at least 1",
            );
        }
        if self.mapper.registry.test_timeout_secs == 0 {
            errors.push("mapper.registry.test_timeout_secs", "must be at least 1");
        }
        if self.mapper.inbox_retention_hours == 0 {
            errors.push("mapper.inbox_retention_hours", "must be at least 1");
        }
    }
}
