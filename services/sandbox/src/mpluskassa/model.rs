//! The installation's records as MplusKASSA keeps them: money in cents (`xsd:long`), quantities
//! as an unscaled long with `decimalPlaces`, dates as `{day, mon, year}` structs, numeric
//! internal ids and string external ids.

use serde::{Deserialize, Serialize};

/// Dates as the WSDL has them (`SoapMplusDate`, `SoapMplusDateTime`), from the wire crate.
pub use ferry_mplusqapi::{SoapMplusDate as MplusDate, SoapMplusDateTime as MplusDateTime};

/// Internal scale of quantities: thousandths (`decimalPlaces` up to 3 are exact).
pub const QTY_SCALE: u32 = 3;

/// A quantity normalised to [`QTY_SCALE`] decimal places.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Qty(pub i64);

impl Qty {
    /// `(value, decimalPlaces)` as sent on the wire; more than 3 places must be exact.
    pub fn from_wire(value: i64, decimal_places: i32) -> Option<Self> {
        let dp = u32::try_from(decimal_places).ok()?;
        if dp <= QTY_SCALE {
            value.checked_mul(10_i64.pow(QTY_SCALE - dp)).map(Qty)
        } else {
            let div = 10_i64.checked_pow(dp - QTY_SCALE)?;
            (value % div == 0).then_some(Qty(value / div))
        }
    }

    pub fn units(n: i64) -> Self {
        Qty(n * 10_i64.pow(QTY_SCALE))
    }

    /// The shortest exact `(value, decimalPlaces)`.
    pub fn to_wire(self) -> (i64, i32) {
        let mut value = self.0;
        let mut dp = QTY_SCALE as i32;
        while dp > 0 && value % 10 == 0 {
            value /= 10;
            dp -= 1;
        }
        (value, dp)
    }

    /// Cents for `quantity × unit price in cents`, rounded half away from zero.
    pub fn times_cents(self, cents: i64) -> i64 {
        let scale = 10_i128.pow(QTY_SCALE);
        let raw = i128::from(self.0) * i128::from(cents);
        let rounded = if raw >= 0 {
            (raw + scale / 2) / scale
        } else {
            (raw - scale / 2) / scale
        };
        i64::try_from(rounded).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workplace {
    pub number: i32,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Branch {
    pub number: i32,
    pub name: String,
    pub abbreviation: String,
    #[serde(default)]
    pub ext_branch_id: String,
    pub country_code: i32,
    pub country_iso3: String,
    pub country_name: String,
    #[serde(default)]
    pub workplaces: Vec<Workplace>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Employee {
    pub number: i64,
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub sync_marker: i64,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentMethod {
    /// The code used in orders (`CONTANT`, `PIN`, `IDEAL`, ...).
    pub method: String,
    pub description: String,
    /// `PAYMENT-METHOD-TYPE-*`.
    pub method_type: String,
    #[serde(default)]
    pub account_number: Option<i32>,
    #[serde(default = "yes")]
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VatGroup {
    pub vat_code: i32,
    /// In hundredths of a percent: 2100 = 21 %.
    pub vat_percentage: i64,
    pub country_iso3: String,
    #[serde(default)]
    pub account_number: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TurnoverGroup {
    pub number: i32,
    pub name: String,
    /// Revenue account.
    pub account_number: i32,
    pub default_vat_code: i32,
    #[serde(default = "yes")]
    pub active: bool,
}

/// A relation (customer): a person, or a company (`companyName`) with contact persons.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Relation {
    pub relation_number: i64,
    pub ext_relation_id: String,
    pub sync_marker: i64,
    pub create_timestamp: Option<MplusDateTime>,
    pub change_timestamp: Option<MplusDateTime>,
    pub active: bool,
    pub name: String,
    pub address: String,
    pub zipcode: String,
    pub city: String,
    pub country: String,
    pub delivery_address: String,
    pub delivery_zipcode: String,
    pub delivery_city: String,
    pub delivery_country: String,
    pub contact: String,
    pub telephone: String,
    pub mobile: String,
    pub email: String,
    pub website: String,
    pub birth_date: Option<MplusDate>,
    pub relation_code: String,
    pub payment_within_days: Option<i32>,
    pub vat_number: String,
    pub commerce_number: String,
    pub extra_text: String,
    /// `VAT-METHOD-*`.
    pub default_vat_method: Option<String>,
    pub contact_list: Vec<Relation>,
    pub company_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Article {
    pub article_number: i64,
    pub ext_article_id: String,
    /// SKU-like code.
    pub plu_number: String,
    pub sync_marker: i64,
    pub change_timestamp: Option<MplusDateTime>,
    pub create_timestamp: Option<MplusDateTime>,
    pub active: bool,
    pub description: String,
    pub colour: String,
    pub size: String,
    pub invoice_text: String,
    pub receipt_text: String,
    pub barcode: String,
    pub brand_name: String,
    pub extra_text: String,
    pub turnover_group: i32,
    pub vat_code: i32,
    /// Hundredths of a percent, from the VAT group.
    pub vat_percentage: i64,
    pub purchase_price: Option<i64>,
    /// Cents including VAT.
    pub price_incl: i64,
    /// Cents excluding VAT.
    pub price_excl: i64,
    pub webshop: bool,
    pub stock_article: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Product {
    pub product_number: i64,
    pub sync_marker: i64,
    pub description: String,
    pub extra_text: String,
    pub articles: Vec<Article>,
    pub group_numbers: Vec<i32>,
}

/// Webshop category (article group), a tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArticleGroup {
    pub group_number: i32,
    /// 0 for a top-level group.
    pub parent_group_number: i32,
    pub sync_marker: i64,
    pub name: String,
    pub text: String,
    pub sort_order: i32,
    pub product_numbers: Vec<i64>,
    pub is_deleted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Address {
    pub name: String,
    pub contact: String,
    pub address: String,
    pub zipcode: String,
    pub city: String,
    pub country: String,
    pub company_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderLine {
    pub line_id: String,
    pub article_number: i64,
    pub plu_number: String,
    pub text: String,
    pub quantity: Qty,
    /// Unit price in cents including VAT.
    pub price: i64,
    pub price_excl: i64,
    pub vat_code: i32,
    pub vat_percentage: i64,
    pub turnover_group: i32,
    pub discount_percentage: Option<i32>,
    pub discount_amount: Option<i64>,
    pub total_incl: i64,
    pub total_excl: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Payment {
    pub payment_id: String,
    pub method: String,
    pub description: String,
    /// Cents.
    pub amount: i64,
    pub payment_method_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub ext_order_id: String,
    pub sync_marker: i64,
    pub order_type: String,
    pub entry_branch_number: i32,
    pub employee_number: i64,
    pub employee_name: String,
    pub entry_timestamp: Option<MplusDateTime>,
    pub relation_number: i64,
    pub relation_name: String,
    pub delivery_address: Option<Address>,
    pub invoice_address: Option<Address>,
    pub financial_date: Option<MplusDate>,
    pub financial_branch_number: i32,
    pub workplace_number: Option<i32>,
    pub reference: String,
    pub total_incl: i64,
    pub total_excl: i64,
    pub vat_method: String,
    pub payment_method: String,
    pub change_counter: i32,
    pub version_number: i32,
    pub prepaid_amount: i64,
    pub fully_paid: bool,
    pub delivery_state: String,
    pub cancel_state: String,
    pub complete_state: String,
    pub order_number: (i32, i64),
    pub lines: Vec<OrderLine>,
    pub payments: Vec<Payment>,
    /// Whether this order counts in stock reservations (seeded orders are already part of
    /// the seed's `amount_reserved`).
    #[serde(default = "yes")]
    pub reserves_stock: bool,
}

impl Order {
    /// An open order reserves stock: neither cancelled nor delivered.
    pub fn is_open(&self) -> bool {
        self.reserves_stock
            && self.cancel_state != "ORDER-CANCEL-STATE-COMPLETE"
            && self.delivery_state != "ORDER-DELIVERY-STATE-COMPLETE"
    }

    pub fn order_string(&self) -> String {
        format!("{}{:06}", self.order_number.0, self.order_number.1)
    }
}

/// An invoice (`getInvoices`): a till sale, or an order delivered and invoiced
/// (`deliverOrder`), which names the order in `order_ids` / `ext_order_ids`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    pub invoice_id: String,
    pub order_ids: Vec<String>,
    pub ext_order_ids: Vec<String>,
    pub sync_marker: i64,
    pub invoice_number: (i32, i64),
    /// `INVOICE-TYPE-*`.
    pub invoice_type: String,
    pub employee_number: i64,
    pub entry_timestamp: MplusDateTime,
    /// 0: an anonymous till sale (no customer).
    pub relation_number: i64,
    pub relation_name: String,
    pub delivery_address: Option<Address>,
    pub invoice_address: Option<Address>,
    pub branch_number: i32,
    pub workplace_number: Option<i32>,
    pub reference: String,
    pub total_incl: i64,
    pub total_excl: i64,
    pub lines: Vec<OrderLine>,
    pub payments: Vec<Payment>,
    /// A credit invoice (refund, `INVOICE-TYPE-CREDIT-INVOICE`): the invoice it credits.
    #[serde(default)]
    pub credited_invoice_id: Option<String>,
}

/// One physical stock change (`getStockHistoryV2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockChange {
    pub stock_id: i64,
    pub timestamp: MplusDateTime,
    pub branch_number: i32,
    pub article_number: i64,
    pub amount_changed: Qty,
    /// `STOCK-HISTORY-TYPE-*`.
    pub kind: String,
    /// For corrections (`setStock`): the amount before and after.
    pub correction: Option<(Qty, Qty)>,
}

/// Stock of one article in one branch, kept as the amount on hand. What `getStock` reports
/// follows from it: `amountReserved` is what open orders hold ([`Store::reserved`]:
/// `reserved_base` plus the simulated open orders), `amountFree` is on hand minus reserved
/// (free to sell; below zero when more is promised than is on hand).
///
/// [`Store::reserved`]: super::store::Store::reserved
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockLevel {
    /// Physically in the branch: open orders do not lower it, a delivery or a till sale does.
    pub on_hand: Qty,
    pub incoming: Qty,
    /// Reserved by orders outside the simulation (the seed's `amount_reserved`).
    pub reserved_base: Qty,
    /// Marker of the last change (physical or reservation).
    pub stock_id: i64,
    pub change_timestamp: MplusDateTime,
}

impl StockLevel {
    /// No stock yet, as of change `stock_id` at `now`.
    pub fn empty(stock_id: i64, now: MplusDateTime) -> Self {
        Self {
            on_hand: Qty(0),
            incoming: Qty(0),
            reserved_base: Qty(0),
            stock_id,
            change_timestamp: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_round_trip() {
        assert_eq!(Qty::from_wire(530, 3), Some(Qty(530)));
        assert_eq!(Qty::from_wire(2, 0), Some(Qty(2000)));
        assert_eq!(Qty::from_wire(12345, 4), None);
        assert_eq!(Qty::from_wire(12340, 4), Some(Qty(1234)));
        assert_eq!(Qty(2000).to_wire(), (2, 0));
        assert_eq!(Qty(530).to_wire(), (53, 2));
        assert_eq!(Qty(0).to_wire(), (0, 0));
        assert_eq!(Qty(1500).times_cents(1995), 2993);
    }
}
