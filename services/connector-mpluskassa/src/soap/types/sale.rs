//! Sales: orders, their lines and addresses, and invoices (a sale read as an [`Order`]).

use chrono::{DateTime, Utc};
use ferry_mplusqapi::WireError;
use ferry_mplusqapi::records as wire;
use rust_decimal::Decimal;

use super::{opt_datetime, quantity, required, string};

/// An order address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderAddress {
    /// Name.
    pub name: String,
    /// Contact.
    pub contact: String,
    /// Street line.
    pub address: String,
    /// Postcode.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
    /// Company.
    pub company_name: String,
}

impl OrderAddress {
    fn from_wire(a: wire::Address) -> Self {
        Self {
            name: string(a.name),
            contact: string(a.contact),
            address: string(a.address),
            zipcode: string(a.zipcode),
            city: string(a.city),
            country: string(a.country),
            company_name: string(a.company_name),
        }
    }
}

/// One order line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderLine {
    /// Article.
    pub article_number: i64,
    /// PLU number.
    pub plu_number: String,
    /// Text.
    pub text: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit price including VAT, cents.
    pub price: i64,
    /// Unit price excluding VAT, cents.
    pub price_excl: Option<i64>,
    /// VAT code.
    pub vat_code: i32,
    /// VAT percentage as written by the installation.
    pub vat_percentage: i64,
    /// Turnover group.
    pub turnover_group: i32,
    /// Discount, cents.
    pub discount_amount: Option<i64>,
}

/// An order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Order {
    /// Order id (server generated).
    pub order_id: String,
    /// External order id (unique).
    pub ext_order_id: String,
    /// Change marker.
    pub sync_marker: i64,
    /// `ORDER-TYPE-*`.
    pub order_type: String,
    /// Branch.
    pub entry_branch_number: i32,
    /// Employee.
    pub employee_number: i64,
    /// Relation.
    pub relation_number: i64,
    /// Entered at.
    pub entry_timestamp: Option<DateTime<Utc>>,
    /// Total including VAT, cents.
    pub total_incl: i64,
    /// Total excluding VAT, cents.
    pub total_excl: i64,
    /// `VAT-METHOD-*`.
    pub vat_method: String,
    /// Payment method code.
    pub payment_method: String,
    /// `ORDER-CANCEL-STATE-*`.
    pub cancel_state: String,
    /// `ORDER-DELIVERY-STATE-*` (empty when not reported).
    pub delivery_state: String,
    /// Reference.
    pub reference: String,
    /// Delivery address.
    pub delivery_address: Option<OrderAddress>,
    /// Invoice address.
    pub invoice_address: Option<OrderAddress>,
    /// Lines.
    pub lines: Vec<OrderLine>,
}

/// The lines of an order or invoice (`tns:LineList`).
fn lines_from_wire(list: Option<wire::OrderLineList>) -> Result<Vec<OrderLine>, WireError> {
    let mut lines = Vec::new();
    for l in list.map(|l| l.line).unwrap_or_default() {
        let data = l.data.unwrap_or_default();
        lines.push(OrderLine {
            article_number: required(l.article_number, "line", "articleNumber")?,
            plu_number: string(l.plu_number),
            text: string(l.text),
            quantity: quantity(data.quantity.unwrap_or(1), data.decimal_places.unwrap_or(0))?,
            price: data.price.unwrap_or(0),
            price_excl: data.price_excl,
            vat_code: data.vat_code.unwrap_or(0),
            vat_percentage: data.vat_percentage.unwrap_or(0),
            turnover_group: data.turnover_group.unwrap_or(0),
            discount_amount: data.discount_amount,
        });
    }
    Ok(lines)
}

impl Order {
    /// From a `tns:Order`.
    pub fn from_wire(o: wire::Order) -> Result<Self, WireError> {
        let lines = lines_from_wire(o.line_list)?;
        Ok(Self {
            order_id: string(Some(o.order_id)),
            ext_order_id: string(o.ext_order_id),
            sync_marker: o.sync_marker.unwrap_or(0),
            order_type: string(o.order_type),
            entry_branch_number: o.entry_branch_number.unwrap_or(0),
            employee_number: o.employee_number.unwrap_or(0),
            relation_number: o.relation_number.unwrap_or(0),
            entry_timestamp: opt_datetime(o.entry_timestamp)?,
            total_incl: o.total_incl_amount.unwrap_or(0),
            total_excl: o.total_excl_amount.unwrap_or(0),
            vat_method: string(o.vat_method),
            payment_method: string(o.payment_method),
            cancel_state: string(o.cancel_state),
            delivery_state: string(o.delivery_state),
            reference: string(o.reference),
            delivery_address: o.delivery_address.map(OrderAddress::from_wire),
            invoice_address: o.invoice_address.map(OrderAddress::from_wire),
            lines,
        })
    }
}

impl Order {
    /// Whether the order is cancelled as a whole (`ORDER-CANCEL-STATE-COMPLETE`).
    pub fn is_cancelled(&self) -> bool {
        self.cancel_state.trim() == "ORDER-CANCEL-STATE-COMPLETE"
    }

    /// Whether any of it was delivered (and so invoiced): a cancellation is refused then.
    pub fn is_delivered(&self) -> bool {
        matches!(
            self.delivery_state.trim(),
            "ORDER-DELIVERY-STATE-PARTIAL" | "ORDER-DELIVERY-STATE-COMPLETE"
        )
    }
}

/// An invoice: a sale at the till or in the back office, or orders delivered and invoiced.
/// Its sale is read as an [`Order`] (`order_id` = the invoice id, `ext_order_id` = its
/// external id, `order_type` = its `INVOICE-TYPE-*`); `order_ids` / `ext_order_ids` name the
/// orders it invoices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invoice {
    /// The sale.
    pub sale: Order,
    /// The orders it invoices.
    pub order_ids: Vec<String>,
    /// Their external ids.
    pub ext_order_ids: Vec<String>,
    /// The invoice a credit invoice credits.
    pub credited_invoice_id: String,
}

impl Invoice {
    /// From a `tns:Invoice`.
    pub fn from_wire(i: wire::Invoice) -> Result<Self, WireError> {
        let ids = |l: Option<ferry_mplusqapi::ops::IdList>| {
            l.map(|l| l.id)
                .unwrap_or_default()
                .into_iter()
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect::<Vec<_>>()
        };
        let paid = i
            .payment_list
            .as_ref()
            .and_then(|p| p.payment.first())
            .map(|p| p.method.clone());
        Ok(Self {
            sale: Order {
                order_id: string(i.invoice_id),
                ext_order_id: string(i.ext_invoice_id),
                sync_marker: i.sync_marker.unwrap_or(0),
                order_type: string(i.invoice_type),
                entry_branch_number: i.entry_branch_number.unwrap_or(0),
                employee_number: i.employee_number.unwrap_or(0),
                relation_number: i.relation_number.unwrap_or(0),
                entry_timestamp: opt_datetime(i.entry_timestamp)?,
                total_incl: i.total_incl_amount.unwrap_or(0),
                total_excl: i.total_excl_amount.unwrap_or(0),
                vat_method: string(i.vat_method),
                payment_method: string(paid),
                cancel_state: String::new(),
                delivery_state: String::new(),
                reference: string(i.reference),
                delivery_address: i.delivery_address.map(OrderAddress::from_wire),
                invoice_address: i.invoice_address.map(OrderAddress::from_wire),
                lines: lines_from_wire(i.line_list)?,
            },
            order_ids: ids(i.order_ids),
            ext_order_ids: ids(i.ext_order_ids),
            credited_invoice_id: string(i.credited_invoice_id),
        })
    }

    /// The number the sale is known by across systems: the order it invoices (its external
    /// id, else its id), so an order that became an invoice stays one order; else the
    /// invoice's external id, else its id.
    pub fn sale_number(&self) -> &str {
        self.ext_order_ids
            .first()
            .or(self.order_ids.first())
            .map_or_else(|| crate::convert::order_number(&self.sale), String::as_str)
    }

    /// A credit of an earlier invoice (a refund), not a sale.
    pub fn is_credit(&self) -> bool {
        self.sale.order_type == ferry_mplusqapi::records::CREDIT_INVOICE
            || !self.credited_invoice_id.is_empty()
    }
}
