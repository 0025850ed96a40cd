//! Stock levels.

use crate::types::{Quantity, Sku};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The stock of one SKU as observed in its source system. Which figure is sent to the
/// target (physical minus reserved by default, physical, available, or with a buffer) is
/// the mapper's setting.
///
/// Per source: MplusKASSA's `getStock` reports `amountFree` (on hand minus reservations)
/// and `amountReserved`: physical = free + reserved, available = free, reserved = reserved.
/// MailChimp has one `inventory_quantity`: physical = available = quantity, reserved = 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockLevel {
    /// The SKU.
    pub sku: Sku,
    /// On hand (physically present), what open orders reserve included.
    pub physical: Quantity,
    /// Held by open orders not yet delivered (committed sales).
    pub reserved: Quantity,
    /// Available to sell as the source reports it.
    pub available: Quantity,
    /// When the source reported this level.
    pub observed_at: DateTime<Utc>,
}
