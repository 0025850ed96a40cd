//! The mapper's configuration: the common sections plus `[mapper]`.
//!
//! ```toml
//! [mapper]
//! prefetch = 32               # deliveries handled at once
//! inbox_retention_hours = 168 # how long processed message ids are remembered
//! ```

use ferry_platform::config::{CommonConfig, Validate, ValidationErrors};
use serde::Deserialize;

/// Everything the mapper reads from its configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MapperConfig {
    /// Admin, bus, database, telemetry.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// The mapper's own section.
    pub mapper: MapperSection,
}

/// `[mapper]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MapperSection {
    /// Deliveries handled at once (default: the bus's prefetch).
    pub prefetch: Option<u16>,
    /// Hours a processed message id is remembered by the inbox (default 168).
    pub inbox_retention_hours: u32,
}

impl Default for MapperSection {
    fn default() -> Self {
        Self {
            prefetch: None,
            inbox_retention_hours: 168,
        }
    }
}

impl Validate for MapperConfig {
    fn validate(&self, errors: &mut ValidationErrors) {
        self.common.validate(errors);
        if self.mapper.prefetch == Some(0) {
            errors.push("mapper.prefetch", "must be at least 1");
        }
        if self.mapper.inbox_retention_hours == 0 {
            errors.push("mapper.inbox_retention_hours", "must be at least 1");
        }
    }
}
