//! Product messages.

use super::impl_message;
use crate::model::Product;
use crate::routing::System;
use crate::types::{ExternalId, Sku};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Event: a source connector saw a new or changed product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductObserved {
    /// The source system.
    pub source: System,
    /// The product.
    pub product: Product,
    /// The source API record as received.
    pub raw: serde_json::Value,
}
impl_message!(
    ProductObserved,
    "product.observed",
    version = 1,
    Event,
    system = source,
    key = |m| Some(m.product.sku.to_string())
);

/// Command: create or update a product (matched by SKU) in the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductUpsert {
    /// The target system.
    pub target: System,
    /// The product as it should be in the target.
    pub product: Product,
    /// Whether an existing product's information may be overwritten. When false, an
    /// existing product keeps its information (e.g. a description enriched in the
    /// target); only new products are created in full.
    pub overwrite_existing: bool,
}
impl_message!(
    ProductUpsert,
    "product.upsert",
    version = 1,
    Command,
    system = target,
    key = |m| Some(m.product.sku.to_string())
);

/// Reply to [`ProductUpsert`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductUpserted {
    /// The system that executed the command.
    pub target: System,
    /// The product's SKU.
    pub sku: Sku,
    /// The product's id in the target.
    pub target_id: ExternalId,
    /// True when created, false when updated (or left alone).
    pub created: bool,
}
impl_message!(
    ProductUpserted,
    "product.upserted",
    version = 1,
    Event,
    system = target,
    key = |m| Some(m.sku.to_string())
);

/// Command: check that all SKUs exist in the target (order saga step 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductsVerify {
    /// The target system.
    pub target: System,
    /// The SKUs to check.
    pub skus: Vec<Sku>,
}
impl_message!(
    ProductsVerify,
    "products.verify",
    version = 1,
    Command,
    system = target,
    key = |_m| None
);

/// A SKU found in the target with its id there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductRef {
    /// The SKU.
    pub sku: Sku,
    /// The product's (article's) id in the target.
    pub target_id: ExternalId,
}

/// Reply to [`ProductsVerify`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductsVerified {
    /// The system that executed the command.
    pub target: System,
    /// SKUs that do not exist in the target (empty: all exist).
    pub missing: Vec<Sku>,
    /// SKUs that exist, with their ids in the target.
    #[serde(default)]
    pub found: Vec<ProductRef>,
}
impl_message!(
    ProductsVerified,
    "products.verified",
    version = 1,
    Event,
    system = target,
    key = |_m| None
);
