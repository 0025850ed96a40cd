//! Stock levels.

use crate::types::{Quantity, Sku};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The stock of one SKU as observed in its source system. Which figure is sent to the
/// target (available minus reserved by default, physical, available, or with a buffer)
/// is the mapper's setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockLevel {
    /// The SKU.
    pub sku: Sku,
    /// Physically present.
    pub physical: Quantity,
    /// Committed to sales not yet delivered.
    pub reserved: Quantity,
    /// Available to sell as the source reports it.
    pub available: Quantity,
    /// When the source reported this level.
    pub observed_at: DateTime<Utc>,
}
