//! Sales: orders found, cancelled, read by page or external id, and created (`OrderWrite`
//! with its lines, addresses and payments); invoices read by page.

use ferry_mplusqapi::ops::{self, TextList};
use ferry_mplusqapi::records as wire;

use super::{Page, text};

/// `findOrder` by external id.
pub fn find_order(ext_order_id: &str) -> ops::FindOrder {
    ops::FindOrder {
        ext_order_id: ext_order_id.to_owned(),
    }
}

/// `cancelOrder` of order `order_id` (MplusKASSA's own id).
pub fn cancel_order(order_id: &str) -> ops::CancelOrder {
    ops::CancelOrder {
        order_id: order_id.to_owned(),
    }
}

/// `getOrdersByExtOrderIds` for `ext_order_ids` (at most [`ORDERS_BY_EXT_IDS_MAX`]).
pub fn get_orders_by_ext_order_ids(ext_order_ids: &[String]) -> ops::GetOrdersByExtOrderIds {
    ops::GetOrdersByExtOrderIds {
        request: ops::GetOrdersByExtOrderIdsRequest {
            sync_marker: Some(0),
            sync_marker_limit: Some(ORDERS_BY_EXT_IDS_MAX as i32),
            ext_order_ids: Some(ops::IdList {
                id: ext_order_ids.to_vec(),
            }),
        },
    }
}

/// Most external ids one `getOrdersByExtOrderIds` asks for (and so its `syncMarkerLimit`:
/// an extOrderId is unique, so the answer never holds more orders than ids).
pub const ORDERS_BY_EXT_IDS_MAX: usize = 100;

/// `getOrders` for a sync-marker page.
pub fn get_orders(page: Page) -> ops::GetOrders {
    ops::GetOrders {
        request: ops::GetOrdersRequest {
            sync_marker: Some(page.from),
            sync_marker_limit: Some(page.limit()),
            article_plu_numbers: TextList::default(),
            article_barcodes: TextList::default(),
            include_line_list: Some(true),
        },
    }
}

/// `getInvoice` of invoice `invoice_id`.
pub fn get_invoice(invoice_id: &str) -> ops::GetInvoice {
    ops::GetInvoice {
        invoice_id: invoice_id.to_owned(),
    }
}

/// `getInvoices`: one sync-marker page, with lines.
pub fn get_invoices(page: Page) -> ops::GetInvoices {
    ops::GetInvoices {
        request: ops::GetInvoicesRequest {
            sync_marker: Some(page.from),
            sync_marker_limit: Some(page.limit()),
            article_plu_numbers: TextList::default(),
            article_barcodes: TextList::default(),
            include_line_list: Some(true),
        },
    }
}

/// An order address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressWrite {
    /// Name.
    pub name: Option<String>,
    /// Contact.
    pub contact: Option<String>,
    /// Street line.
    pub address: Option<String>,
    /// Postcode.
    pub zipcode: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Company.
    pub company_name: Option<String>,
}

impl AddressWrite {
    fn to_wire(&self) -> wire::Address {
        wire::Address {
            name: text(&self.name),
            contact: text(&self.contact),
            address: text(&self.address),
            zipcode: text(&self.zipcode),
            city: text(&self.city),
            country: text(&self.country),
            company_name: text(&self.company_name),
        }
    }
}

/// One order line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineWrite {
    /// Article (required).
    pub article_number: i64,
    /// PLU number.
    pub plu_number: Option<String>,
    /// Text.
    pub text: Option<String>,
    /// Quantity (unscaled).
    pub quantity: i64,
    /// Decimal places of `quantity`.
    pub decimal_places: u32,
    /// Unit price including VAT, cents.
    pub price: Option<i64>,
    /// Unit price excluding VAT, cents.
    pub price_excl: Option<i64>,
    /// Turnover group.
    pub turnover_group: Option<i32>,
    /// VAT code.
    pub vat_code: Option<i32>,
    /// Discount on the line, cents.
    pub discount_amount: Option<i64>,
}

impl LineWrite {
    fn to_wire(&self) -> wire::OrderLine {
        wire::OrderLine {
            article_number: Some(self.article_number),
            plu_number: text(&self.plu_number),
            text: text(&self.text),
            data: Some(wire::LineData {
                quantity: Some(self.quantity),
                decimal_places: Some(self.decimal_places),
                price: self.price,
                price_excl: self.price_excl,
                turnover_group: self.turnover_group,
                vat_code: self.vat_code,
                discount_type: self
                    .discount_amount
                    .map(|_| "DISCOUNT-TYPE-EXTERNAL-DISCOUNT".to_owned()),
                discount_amount: self.discount_amount,
                ..wire::LineData::default()
            }),
            ..wire::OrderLine::default()
        }
    }
}

/// An order as Ferry creates it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderWrite {
    /// External order id (unique in the installation).
    pub ext_order_id: String,
    /// Entry branch.
    pub entry_branch_number: Option<i32>,
    /// Employee (mandatory for Ferry).
    pub employee_number: i64,
    /// Relation (always required).
    pub relation_number: i64,
    /// Delivery address.
    pub delivery_address: Option<AddressWrite>,
    /// Invoice address.
    pub invoice_address: Option<AddressWrite>,
    /// Workplace (required when the branch is not the default).
    pub workplace_number: Option<i32>,
    /// Reference shown on the order.
    pub reference: Option<String>,
    /// `VAT-METHOD-INCLUSIVE` or `VAT-METHOD-EXCLUSIVE`.
    pub vat_method: &'static str,
    /// Payment method code.
    pub payment_method: Option<String>,
    /// Lines.
    pub lines: Vec<LineWrite>,
}

/// A payment with the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentWrite {
    /// Payment method code.
    pub method: String,
    /// Amount, cents.
    pub amount: i64,
}

/// `createOrderV3` with its idempotency key.
pub fn create_order_v3(
    o: &OrderWrite,
    idempotency_key: &str,
    payments: &[PaymentWrite],
) -> ops::CreateOrderV3 {
    let order = wire::Order {
        order_id: String::new(),
        ext_order_id: Some(o.ext_order_id.clone()),
        order_type: Some("ORDER-TYPE-SALES-ORDER".to_owned()),
        entry_branch_number: o.entry_branch_number,
        employee_number: Some(o.employee_number),
        relation_number: Some(o.relation_number),
        delivery_address: o.delivery_address.as_ref().map(AddressWrite::to_wire),
        invoice_address: o.invoice_address.as_ref().map(AddressWrite::to_wire),
        financial_branch_number: o.entry_branch_number,
        workplace_number: o.workplace_number,
        reference: text(&o.reference),
        vat_method: Some(o.vat_method.to_owned()),
        payment_method: text(&o.payment_method),
        line_list: Some(wire::OrderLineList {
            line: o.lines.iter().map(LineWrite::to_wire).collect(),
        }),
        ..wire::Order::default()
    };
    ops::CreateOrderV3 {
        request: ops::CreateOrderV3Request {
            idempotency_key: idempotency_key.to_owned(),
            order,
            payment_list: (!payments.is_empty()).then(|| wire::PaymentList {
                payment: payments
                    .iter()
                    .map(|p| ops::payment(&p.method, p.amount))
                    .collect(),
            }),
        },
    }
}
