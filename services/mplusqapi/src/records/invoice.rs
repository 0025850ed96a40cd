//! Invoices: what the till and the back office sell (`tns:Invoice`). An invoice made from
//! orders names them in `orderIds` / `extOrderIds`.

use serde::{Deserialize, Serialize};

use super::{Address, OrderLineList, PaymentList, YearNumber};
use crate::Cents;
use crate::date::{SoapMplusDate, SoapMplusDateTime};
use crate::ops::IdList;

/// `INVOICE-TYPE-CREDIT-INVOICE`: a credit of an earlier invoice (`creditedInvoiceId`).
pub const CREDIT_INVOICE: &str = "INVOICE-TYPE-CREDIT-INVOICE";

/// `tns:InvoiceList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceList {
    /// Invoices.
    #[serde(default)]
    pub invoice: Vec<Invoice>,
}

/// `tns:Invoice` (the elements Ferry reads, in the WSDL's order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Invoice {
    /// Internal UUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    /// External id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_invoice_id: Option<String>,
    /// The orders this invoice was made from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_ids: Option<IdList>,
    /// Their external ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_order_ids: Option<IdList>,
    /// Change marker (the invoice sequence of `getCurrentSyncMarkers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Year and number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<YearNumber>,
    /// `INVOICE-TYPE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_type: Option<String>,
    /// Employee who entered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
    /// Entered at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_timestamp: Option<SoapMplusDateTime>,
    /// The customer who paid (absent or 0 for an anonymous till sale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_number: Option<i64>,
    /// The customer's name.
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
    /// Branch the turnover and stock changes are booked on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub financial_branch_number: Option<i32>,
    /// Workplace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workplace_number: Option<i32>,
    /// Branch it was entered on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_branch_number: Option<i32>,
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
    /// Paid, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_amount: Option<Cents>,
    /// `INVOICE-STATE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_list: Option<OrderLineList>,
    /// Payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_list: Option<PaymentList>,
    /// The invoice a credit invoice credits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credited_invoice_id: Option<String>,
}
