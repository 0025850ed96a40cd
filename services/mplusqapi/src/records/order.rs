//! Orders: addresses, lines (quantity and money), VAT totals, payments.

use serde::{Deserialize, Serialize};

use crate::Cents;
use crate::date::{SoapMplusDate, SoapMplusDateTime};

/// `tns:Address` of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Address {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Street line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zipcode: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
}

/// `tns:OrderVatGroupList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderVatGroupList {
    /// VAT totals.
    #[serde(default)]
    pub vat_group: Vec<OrderVatGroup>,
}

/// One VAT total of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderVatGroup {
    /// VAT code.
    pub vat_code: i32,
    /// Percentage as the installation writes it.
    pub vat_percentage: i64,
    /// Amount the VAT is over, cents.
    pub excl_amount: Cents,
    /// VAT, cents.
    pub vat_amount: Cents,
}

/// `tns:YearNumber`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct YearNumber {
    /// Year.
    pub year: i32,
    /// Number in the year.
    pub number: i64,
}

/// `tns:OrderLineList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineList {
    /// Lines.
    #[serde(default)]
    pub line: Vec<OrderLine>,
}

/// `tns:OrderLine`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderLine {
    /// Line id (server generated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_id: Option<String>,
    /// Employee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
    /// Article.
    pub article_number: Option<i64>,
    /// PLU number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plu_number: Option<String>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Quantities and amounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<LineData>,
}

/// `tns:LineData`: quantity (unscaled + places) and money in cents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LineData {
    /// Quantity, unscaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// Decimal places of `quantity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places: Option<u32>,
    /// Unit price including VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Cents>,
    /// Unit price excluding VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_excl: Option<Cents>,
    /// Turnover group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turnover_group: Option<i32>,
    /// VAT code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_code: Option<i32>,
    /// VAT percentage as the installation writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_percentage: Option<i64>,
    /// `DISCOUNT-TYPE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_type: Option<String>,
    /// Discount percentage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_percentage: Option<i32>,
    /// Discount, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_amount: Option<Cents>,
    /// Line total including VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_incl_amount: Option<Cents>,
    /// Line total excluding VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_excl_amount: Option<Cents>,
}

/// `tns:PaymentList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentList {
    /// Payments.
    #[serde(default)]
    pub payment: Vec<Payment>,
}

/// `tns:Payment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// Payment id (server generated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// Payment method code.
    pub method: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Amount, cents.
    pub amount: Cents,
    /// `PAYMENT-METHOD-TYPE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method_type: Option<String>,
}

/// `tns:OrderList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderList {
    /// Orders.
    #[serde(default)]
    pub order: Vec<Order>,
}

/// `tns:Order`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Order {
    /// Order id (server generated; empty on creation).
    pub order_id: String,
    /// External order id (unique).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_order_id: Option<String>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// `ORDER-TYPE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_type: Option<String>,
    /// Branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_branch_number: Option<i32>,
    /// Employee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
    /// Employee's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_name: Option<String>,
    /// Entered at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_timestamp: Option<SoapMplusDateTime>,
    /// Relation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_number: Option<i64>,
    /// Relation's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_name: Option<String>,
    /// Delivery address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_address: Option<Address>,
    /// Invoice address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_address: Option<Address>,
    /// Financial date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub financial_date: Option<SoapMplusDate>,
    /// Financial branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub financial_branch_number: Option<i32>,
    /// Workplace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workplace_number: Option<i32>,
    /// Reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Total including VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_incl_amount: Option<Cents>,
    /// Total excluding VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_excl_amount: Option<Cents>,
    /// `VAT-METHOD-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_method: Option<String>,
    /// VAT totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_group_list: Option<OrderVatGroupList>,
    /// Payment method code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// Change counter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_counter: Option<i32>,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_number: Option<i32>,
    /// Prepaid, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepaid_amount: Option<Cents>,
    /// Fully paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fully_paid: Option<bool>,
    /// `ORDER-DELIVERY-STATE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_state: Option<String>,
    /// `ORDER-CANCEL-STATE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_state: Option<String>,
    /// `ORDER-COMPLETE-STATE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_state: Option<String>,
    /// Year and number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_number: Option<YearNumber>,
    /// Barcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_barcode: Option<String>,
    /// Lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_list: Option<OrderLineList>,
    /// Payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_list: Option<PaymentList>,
}
