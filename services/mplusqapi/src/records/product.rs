//! Products, articles, article groups and stock.

use serde::{Deserialize, Serialize};

use crate::Cents;
use crate::date::SoapMplusDateTime;

/// `tns:ArticleList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleList {
    /// Articles.
    #[serde(default)]
    pub article: Vec<Article>,
}

/// `tns:Article`: one sellable item (one size/colour of a product).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Article {
    /// Article number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_number: Option<i64>,
    /// External id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_article_id: Option<String>,
    /// PLU number (a SKU-like code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plu_number: Option<String>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Created at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_timestamp: Option<SoapMplusDateTime>,
    /// Active (deleted articles turn inactive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Colour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colour: Option<String>,
    /// Size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Invoice text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_text: Option<String>,
    /// Receipt text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_text: Option<String>,
    /// Barcode (EAN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    /// Brand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand_name: Option<String>,
    /// Extra text (long description).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_text: Option<String>,
    /// Turnover group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turnover_group: Option<i32>,
    /// VAT code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_code: Option<i32>,
    /// VAT percentage as the installation writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_percentage: Option<i64>,
    /// Purchase price, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_price: Option<Cents>,
    /// Price including VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_incl: Option<Cents>,
    /// Price excluding VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_excl: Option<Cents>,
    /// Sold in the webshop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webshop: Option<bool>,
    /// Whether stock is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_article: Option<bool>,
}

/// `tns:ProductList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductList {
    /// Products.
    #[serde(default)]
    pub product: Vec<Product>,
}

/// `tns:Product`: a group of articles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Product {
    /// Product number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_number: Option<i64>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Extra text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_text: Option<String>,
    /// Its articles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_list: Option<ArticleList>,
    /// Article groups (categories) it belongs to.
    pub group_numbers: Vec<i32>,
}

/// `tns:NumberList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberList {
    /// Numbers.
    #[serde(default)]
    pub number: Vec<i64>,
}

/// `tns:ArticleGroupList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArticleGroupList {
    /// Groups (the WSDL names each element `articleGroups`).
    #[serde(default)]
    pub article_groups: Vec<ArticleGroup>,
}

/// `tns:ArticleGroup` (webshop category) with its sub groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArticleGroup {
    /// Group number.
    pub group_number: Option<i32>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Name.
    pub name: String,
    /// Text.
    pub text: String,
    /// Sub groups.
    pub sub_group_list: ArticleGroupList,
    /// Sort order.
    pub sort_order: i32,
    /// Products in the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_numbers: Option<NumberList>,
    /// Articles in the group (when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_numbers: Option<NumberList>,
    /// Deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_deleted: Option<bool>,
}

/// `tns:ArticleStock`: stock of one article in one branch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArticleStock {
    /// Branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_number: Option<i32>,
    /// Article.
    pub article_number: Option<i64>,
    /// Last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Marker of the last change.
    pub stock_id: i64,
    /// Free stock, unscaled.
    pub amount_free: i64,
    /// Decimal places of `amount_free`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places_free: Option<u32>,
    /// Reserved by open orders, unscaled.
    pub amount_reserved: i64,
    /// Decimal places of `amount_reserved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places_reserved: Option<u32>,
    /// Incoming (ordered from suppliers), unscaled.
    pub amount_incoming: i64,
    /// Decimal places of `amount_incoming`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places_incoming: Option<u32>,
    /// A day-stock article.
    pub is_day_stock_article: bool,
}
