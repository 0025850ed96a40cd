//! Orders and invoices.

use super::{Address, Customer};
use crate::types::{
    CurrencyCode, ExternalId, LongText, Money, Name, PositiveQuantity, Sku, TaxRate,
};
use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Most lines one order may have.
pub const MAX_ORDER_LINES: usize = 10_000;

/// Order or invoice (the source supports both; MplusKASSA as a target takes orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// A sales order.
    Order,
    /// An invoice.
    Invoice,
}

/// Where an order stands in its source system after it was placed: the lifecycle Ferry
/// carries to the other system once the order exists there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed and standing (paid, pending, delivered: nothing to carry).
    #[default]
    Open,
    /// Cancelled (MailChimp `financial_status` cancelled or `cancelled_at_foreign`;
    /// MplusKASSA `cancelState` complete).
    Cancelled,
    /// Refunded (MailChimp `financial_status` refunded; MplusKASSA: a credit invoice of the
    /// sale).
    Refunded,
}

impl OrderStatus {
    /// Whether this is [`OrderStatus::Open`] (the default, left out of the JSON).
    pub fn is_open(&self) -> bool {
        *self == Self::Open
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Order {
    /// Order number in the source system (the duplicate check key).
    pub external_id: ExternalId,
    /// Order or invoice.
    pub order_type: OrderType,
    /// The buyer.
    pub customer: Customer,
    /// The lines (1 to [`MAX_ORDER_LINES`]).
    pub lines: OrderLines,
    /// Totals.
    pub totals: OrderTotals,
    /// Currency of all amounts.
    pub currency: CurrencyCode,
    /// Payment method code in the source system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<Name>,
    /// Payment term code in the source system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_term: Option<Name>,
    /// Billing address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    /// Shipping address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    /// When the order was placed.
    pub placed_at: DateTime<Utc>,
    /// Free-text notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<LongText>,
    /// Its lifecycle status in the source (`open` when absent).
    #[serde(default, skip_serializing_if = "OrderStatus::is_open")]
    pub status: OrderStatus,
}

/// An inconsistency inside an [`Order`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// An amount is in another currency than the order.
    #[error("order {order}: {field} is in {found}, the order is in {expected}")]
    CurrencyMismatch {
        /// The order's external id.
        order: String,
        /// Which amount (`lines[2].unit_price`, `totals.total`).
        field: String,
        /// The order currency.
        expected: CurrencyCode,
        /// The amount's currency.
        found: CurrencyCode,
    },
}

impl Order {
    /// Checks that every amount is in the order's currency.
    pub fn check_currencies(&self) -> Result<(), OrderError> {
        let mut amounts: Vec<(String, &Money)> = vec![
            ("totals.subtotal".into(), &self.totals.subtotal),
            ("totals.tax".into(), &self.totals.tax),
            ("totals.shipping".into(), &self.totals.shipping),
            ("totals.total".into(), &self.totals.total),
        ];
        for (i, line) in self.lines.iter().enumerate() {
            amounts.push((format!("lines[{i}].unit_price"), &line.unit_price));
            if let Some(d) = &line.discount {
                amounts.push((format!("lines[{i}].discount"), d));
            }
        }
        match amounts
            .into_iter()
            .find(|(_, m)| m.currency() != self.currency)
        {
            Some((field, m)) => Err(OrderError::CurrencyMismatch {
                order: self.external_id.to_string(),
                field,
                expected: self.currency,
                found: m.currency(),
            }),
            None => Ok(()),
        }
    }

    /// The distinct SKUs of the order, in first-seen order.
    pub fn skus(&self) -> Vec<Sku> {
        let mut skus: Vec<Sku> = Vec::new();
        for line in self.lines.iter() {
            if !skus.contains(&line.sku) {
                skus.push(line.sku.clone());
            }
        }
        skus
    }
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    /// SKU of the product sold.
    pub sku: Sku,
    /// Line text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Name>,
    /// Quantity, greater than zero.
    pub quantity: PositiveQuantity,
    /// Price of one unit.
    pub unit_price: Money,
    /// Whether `unit_price` includes tax.
    pub price_includes_tax: bool,
    /// Tax rate, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate: Option<TaxRate>,
    /// Discount on the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Money>,
}

/// Order totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderTotals {
    /// Sum of the lines.
    pub subtotal: Money,
    /// Tax.
    pub tax: Money,
    /// Shipping costs.
    pub shipping: Money,
    /// Grand total.
    pub total: Money,
}

/// The lines of an order: at least one, at most [`MAX_ORDER_LINES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<OrderLine>", into = "Vec<OrderLine>")]
pub struct OrderLines(Vec<OrderLine>);

impl OrderLines {
    /// Checks the number of lines.
    pub fn new(lines: Vec<OrderLine>) -> Result<Self, OrderLinesError> {
        if lines.is_empty() {
            return Err(OrderLinesError::Empty);
        }
        if lines.len() > MAX_ORDER_LINES {
            return Err(OrderLinesError::TooMany {
                count: lines.len(),
                max: MAX_ORDER_LINES,
            });
        }
        Ok(Self(lines))
    }

    /// The lines.
    pub fn iter(&self) -> std::slice::Iter<'_, OrderLine> {
        self.0.iter()
    }

    /// Number of lines (at least 1).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false; present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The lines as a slice.
    pub fn as_slice(&self) -> &[OrderLine] {
        &self.0
    }
}

/// Why a list of order lines was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderLinesError {
    /// No lines.
    #[error("an order needs at least one line")]
    Empty,
    /// Too many lines.
    #[error("an order has {count} lines, at most {max} are supported")]
    TooMany {
        /// Number of lines.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl TryFrom<Vec<OrderLine>> for OrderLines {
    type Error = OrderLinesError;
    fn try_from(lines: Vec<OrderLine>) -> Result<Self, Self::Error> {
        Self::new(lines)
    }
}

impl From<OrderLines> for Vec<OrderLine> {
    fn from(lines: OrderLines) -> Self {
        lines.0
    }
}

impl<'a> IntoIterator for &'a OrderLines {
    type Item = &'a OrderLine;
    type IntoIter = std::slice::Iter<'a, OrderLine>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl JsonSchema for OrderLines {
    fn schema_name() -> Cow<'static, str> {
        "OrderLines".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let line = generator.subschema_for::<OrderLine>();
        json_schema!({
            "type": "array",
            "items": line,
            "minItems": 1,
            "maxItems": MAX_ORDER_LINES,
        })
    }
}
