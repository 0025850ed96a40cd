//! Stock messages.

use super::impl_message;
use crate::model::StockLevel;
use crate::routing::System;
use crate::types::{Quantity, Sku};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Event: a source connector saw a stock level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockObserved {
    /// The source system.
    pub source: System,
    /// The stock level.
    pub stock: StockLevel,
    /// The source API record as received.
    pub raw: serde_json::Value,
}
impl_message!(
    StockObserved,
    "stock.observed",
    version = 1,
    Event,
    system = source,
    key = |m| Some(m.stock.sku.to_string())
);

/// Command: set the stock of a SKU in the target to an absolute quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockSet {
    /// The target system.
    pub target: System,
    /// The SKU.
    pub sku: Sku,
    /// The quantity to set (already computed by the mapper's stock calculation).
    pub quantity: Quantity,
    /// Whether the target should manage (track) stock for this product.
    pub manage_stock: bool,
}
impl_message!(
    StockSet,
    "stock.set",
    version = 1,
    Command,
    system = target,
    key = |m| Some(m.sku.to_string())
);

/// Reply to [`StockSet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockSetDone {
    /// The system that executed the command.
    pub target: System,
    /// The SKU.
    pub sku: Sku,
    /// The quantity now set (when `managed`).
    pub quantity: Quantity,
    /// Whether the target manages this product's stock (the command's `manage_stock`).
    /// `false`: no quantity was set (MplusKASSA: the article is no stock article; MailChimp,
    /// which has no such switch: its inventory was left untouched). Absent in older
    /// replies, which were all managed.
    #[serde(default = "managed_by_default")]
    pub managed: bool,
}

fn managed_by_default() -> bool {
    true
}
impl_message!(
    StockSetDone,
    "stock.set-done",
    version = 1,
    Event,
    system = target,
    key = |m| Some(m.sku.to_string())
);
