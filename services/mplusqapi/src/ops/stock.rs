//! Stock levels.

use serde::{Deserialize, Serialize};

use crate::date::SoapMplusDateTime;
use crate::records::ArticleStock;

/// `getStock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetStock {
    /// Filter.
    pub request: GetStockRequest,
}

/// `tns:GetStockRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetStockRequest {
    /// Branch.
    pub branch_number: i32,
    /// These articles (empty: every stock article).
    pub article_numbers: ArticleNumberList,
    /// Changed after this marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_id: Option<i64>,
}

/// The other filter of `tns:GetStockRequest` (the connector does not send it), read from the
/// same `request` element: `Request<GetStockFilters>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetStockFilters {
    /// Several branches instead of `branchNumber`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_numbers: Option<BranchNumberList>,
}

/// `tns:BranchNumberList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BranchNumberList {
    /// The numbers.
    pub branch_number: Vec<i32>,
}

/// `tns:ArticleNumberList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArticleNumberList {
    /// The numbers.
    #[serde(default)]
    pub article_numbers: Vec<i64>,
}

/// `GetStockResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetStockResponse {
    /// One per article (and branch).
    pub article_stocks: Vec<ArticleStock>,
}

/// `setStock` (absolute).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetStock {
    /// The new level.
    pub request: SetStockRequest,
}

/// `tns:SetStockRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetStockRequest {
    /// Branch.
    pub branch_number: i32,
    /// Article.
    pub article_number: i64,
    /// Amount, unscaled.
    pub amount: i64,
    /// Decimal places of `amount`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places: Option<u32>,
    /// Employee booking it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
    /// Reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// `SetStockResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetStockResponse {
    /// `SET-STOCK-RESULT-*`.
    pub result: String,
    /// The change's marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_id: Option<i64>,
}

/// `updateStock` (relative).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStock {
    /// The change.
    pub request: UpdateStockRequest,
}

/// `tns:UpdateStockRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStockRequest {
    /// Branch.
    pub branch_number: i32,
    /// Article.
    pub article_number: i64,
    /// Change, unscaled.
    pub amount_changed: i64,
    /// Decimal places of `amountChanged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places: Option<u32>,
    /// Employee booking it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
    /// Reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// `UpdateStockResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateStockResponse {
    /// `UPDATE-STOCK-RESULT-*`.
    pub result: String,
    /// The change's marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_id: Option<i64>,
}

/// `getStockHistoryV2`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetStockHistoryV2 {
    /// Filter.
    pub request: GetStockHistoryV2Request,
}

/// `tns:GetStockHistoryV2Request`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetStockHistoryV2Request {
    /// These branches (none: all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub branch_numbers: Vec<i32>,
    /// These articles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_numbers: Option<ArticleNumberList>,
    /// From this financial moment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_financial_date_time: Option<SoapMplusDateTime>,
    /// Through this financial moment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through_financial_date_time: Option<SoapMplusDateTime>,
    /// Changes from this stockId.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_stock_id: Option<i64>,
    /// Most changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_stock_id_limit: Option<i32>,
}

/// `GetStockHistoryResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetStockHistoryResponse {
    /// The changes.
    pub article_stock_history: Vec<ArticleStockHistory>,
}

/// `tns:ArticleStockHistory` (the fields of stock changes made by hand, by the API and by
/// orders; invoice, receipt and shipment references are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArticleStockHistory {
    /// The change's marker.
    pub stock_id: i64,
    /// When.
    pub timestamp: SoapMplusDateTime,
    /// Branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_number: Option<i32>,
    /// Article.
    pub article_number: i64,
    /// Change, unscaled.
    pub amount_changed: i64,
    /// Decimal places of `amountChanged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places: Option<u32>,
    /// `STOCK-HISTORY-TYPE-*`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The order that changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Level before a correction, unscaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_correction_quantity: Option<i64>,
    /// Its decimal places.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_correction_decimal_places: Option<u32>,
    /// Level after a correction, unscaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_correction_quantity: Option<i64>,
    /// Its decimal places.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_correction_decimal_places: Option<u32>,
}
