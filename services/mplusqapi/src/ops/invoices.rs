//! Invoices (till and back-office sales) and delivering orders (which invoices them).

use serde::{Deserialize, Serialize};

use super::TextList;
use crate::records::{Invoice, InvoiceList};

/// `getInvoices`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetInvoices {
    /// Filter.
    pub request: GetInvoicesRequest,
}

/// `tns:GetInvoicesRequest` (the elements Ferry sends; `articlePluNumbers` and
/// `articleBarcodes` are required by the WSDL, empty means no filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetInvoicesRequest {
    /// Records with a marker from this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Most records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_marker_limit: Option<i32>,
    /// Invoices with articles of these PLU numbers.
    pub article_plu_numbers: TextList,
    /// Invoices with articles of these barcodes.
    pub article_barcodes: TextList,
    /// With their lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_line_list: Option<bool>,
}

/// `GetInvoicesResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetInvoicesResponse {
    /// The invoices.
    pub invoice_list: InvoiceList,
}

/// `getInvoice`: one invoice by its id (a credit invoice names the invoice it credits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetInvoice {
    /// The invoice.
    pub invoice_id: String,
}

/// `GetInvoiceResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetInvoiceResponse {
    /// `GET-INVOICE-RESULT-OK` or `-NOT-FOUND`.
    pub result: String,
    /// The invoice when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
}

/// `deliverOrder`: the order is delivered and (turnover type invoice) invoiced; its
/// reservation becomes a stock deduction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverOrder {
    /// The order.
    pub request: DeliverOrderRequest,
}

/// `tns:DeliverOrderRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverOrderRequest {
    /// The order.
    pub order_id: String,
    /// `DELIVER-ORDER-TURNOVER-TYPE-INVOICE` or `…-RECEIPT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turnover_type: Option<String>,
}

/// `DeliverOrderResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeliverOrderResponse {
    /// `DELIVER-ORDER-RESULT-*`.
    pub result: String,
    /// The invoice made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    /// Why it failed.
    pub error_message: String,
}
