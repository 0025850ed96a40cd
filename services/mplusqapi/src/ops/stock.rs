//! Stock levels.

use serde::{Deserialize, Serialize};

use crate::records::ArticleStock;

/// `getStock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetStock {
    /// Filter.
    pub request: GetStockRequest,
}

/// `tns:GetStockRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetStockRequest {
    /// Branch.
    pub branch_number: i32,
    /// These articles (empty: every stock article).
    pub article_numbers: ArticleNumberList,
    /// Changed after this marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_id: Option<i64>,
}

/// `tns:ArticleNumberList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArticleNumberList {
    /// The numbers.
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
#[serde(default)]
pub struct SetStock {
    /// The new level.
    pub request: SetStockRequest,
}

/// `tns:SetStockRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
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
