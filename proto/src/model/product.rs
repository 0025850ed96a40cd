//! Products: simple and configurable (with variants).
//!
//! Images are not supported: connectors ignore image fields of the source, and no
//! image is ever sent to a target.

use super::CategoryRef;
use crate::types::{Gtin, LongText, Money, Name, Quantity, Sku, TaxRate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A product, matched on its SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Product {
    /// SKU (the matching key).
    pub sku: Sku,
    /// Name / title.
    pub title: Name,
    /// Short description (may be HTML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_description: Option<LongText>,
    /// Long description (may be HTML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_description: Option<LongText>,
    /// Price.
    pub price: Money,
    /// Whether `price` includes tax.
    pub price_includes_tax: bool,
    /// Tax rate, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate: Option<TaxRate>,
    /// EAN / GTIN barcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Gtin>,
    /// Category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<CategoryRef>,
    /// Attributes (size, colour, options) as mapped by the user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Extra information fields (country of origin, delivery time, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// Simple or configurable.
    pub kind: ProductKind,
    /// Stock quantity, when the source sends it with the product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

impl Product {
    /// The SKUs of the product and its variants.
    pub fn skus(&self) -> Vec<&Sku> {
        let mut skus = vec![&self.sku];
        if let ProductKind::Configurable { variants } = &self.kind {
            skus.extend(variants.iter().map(|v| &v.sku));
        }
        skus
    }
}

/// A name/value attribute (`colour` = `red`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attribute {
    /// Attribute name.
    pub name: Name,
    /// Attribute value.
    pub value: Name,
}

/// Simple product or configurable product with variants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProductKind {
    /// One sellable item.
    Simple,
    /// A product whose variants (built from attributes) are the sellable items.
    Configurable {
        /// The variants.
        variants: Vec<Variant>,
    },
}

/// One variant of a configurable product (an MplusKASSA article, a MailChimp variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Variant {
    /// SKU of the variant.
    pub sku: Sku,
    /// Title; the product's title when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Name>,
    /// Price; the product's price when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    /// EAN / GTIN barcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Gtin>,
    /// Attributes that distinguish this variant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Stock quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}
