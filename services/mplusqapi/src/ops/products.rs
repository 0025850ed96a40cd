//! Products, their articles, and article groups.

use serde::{Deserialize, Serialize};

use super::TextList;
use crate::date::SoapMplusDateTime;
use crate::records::{ArticleGroupList, NumberList, Product, ProductList};

/// `getProducts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetProducts {
    /// Filter.
    pub request: GetProductsRequest,
}

/// `tns:GetProductsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetProductsRequest {
    /// Products with these articles.
    pub article_numbers: Vec<i64>,
    /// Products with articles of these PLU numbers.
    pub plu_numbers: TextList,
    /// Records with a marker from this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Most records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker_limit: Option<i32>,
    /// Every article of a selected product, not only the matching ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_all_articles_of_selected_products: Option<bool>,
    /// These products.
    pub product_numbers: Vec<i64>,
}

/// `GetProductsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetProductsResponse {
    /// The products.
    pub product_list: ProductList,
}

/// `createProduct`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateProduct {
    /// The new product with its articles.
    pub product: Product,
}

/// `CreateProductResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateProductResponse {
    /// `CREATE-PRODUCT-RESULT-*`.
    pub result: String,
    /// The new product's number.
    pub product_number: Option<i64>,
    /// Its articles' numbers, in the order given.
    pub article_numbers: Vec<i64>,
    /// Created at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Its marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Why it failed.
    pub error_message: String,
}

/// `updateProduct`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateProduct {
    /// The product with its number.
    pub product: Product,
}

/// `UpdateProductResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateProductResponse {
    /// `UPDATE-PRODUCT-RESULT-*`.
    pub result: String,
    /// Articles that existed.
    pub existing_article_numbers: Vec<i64>,
    /// Articles created.
    pub new_article_numbers: Vec<i64>,
    /// Changed at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Its marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Why it failed.
    pub error_message: String,
}

/// `getArticleGroups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetArticleGroups {
    /// Filter.
    pub request: GetArticleGroupsRequest,
}

/// `tns:GetArticleGroupsRequest`: without a marker the whole tree, with one the changed
/// groups of a page (flat).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetArticleGroupsRequest {
    /// Records with a marker from this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Most records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker_limit: Option<i32>,
    /// Top-level groups to return.
    pub group_numbers: Vec<i32>,
    /// Include the article numbers of each group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieve_article_numbers: Option<bool>,
}

/// `GetArticleGroupsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetArticleGroupsResponse {
    /// The groups.
    pub article_group_list: ArticleGroupList,
}

/// `newArticleGroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewArticleGroup {
    /// The group.
    pub request: NewArticleGroupRequest,
}

/// `tns:NewArticleGroupRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewArticleGroupRequest {
    /// Parent (0: top level).
    pub parent_group_number: i32,
    /// Name.
    pub name: String,
    /// Text.
    pub text: String,
}

/// `NewArticleGroupResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewArticleGroupResponse {
    /// `NEW-ARTICLE-GROUP-RESULT-*`.
    pub result: String,
    /// The new group's number.
    pub group_number: Option<i32>,
}

/// `updateArticleGroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateArticleGroup {
    /// The group.
    pub request: UpdateArticleGroupRequest,
}

/// `tns:UpdateArticleGroupRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateArticleGroupRequest {
    /// The group.
    pub group_number: i32,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Text.
    #[serde(default)]
    pub text: String,
    /// Parent (0: top level).
    #[serde(default)]
    pub parent_group_number: i32,
}

/// `UpdateArticleGroupResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateArticleGroupResponse {
    /// `SAVE-ARTICLE-GROUP-RESULT-*`.
    pub result: String,
}

/// The filters of `tns:GetProductsRequest` the connector does not send, read from the same
/// `request` element: `Request<GetProductsFilters>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetProductsFilters {
    /// Products in these article groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_numbers: Vec<i32>,
    /// Only articles shown in the webshop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_webshop: Option<bool>,
    /// Only active articles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_active: Option<bool>,
    /// Articles changed since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_since_timestamp: Option<SoapMplusDateTime>,
}

/// The fields of `tns:NewArticleGroupRequest` and `tns:UpdateArticleGroupRequest` as sent
/// (every one optional: an update changes only what it names), read from the same `request`
/// element: `Request<ArticleGroupFields>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArticleGroupFields {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Position among its siblings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<i32>,
    /// Parent (0: top level).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_group_number: Option<i32>,
}

/// `addProductsToArticleGroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddProductsToArticleGroup {
    /// What to add where.
    pub request: AddProductsToArticleGroupRequest,
}

/// `tns:AddProductsToArticleGroupRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddProductsToArticleGroupRequest {
    /// The group.
    pub group_number: i32,
    /// Insert at this position (absent or 0: append).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i32>,
    /// The products.
    pub product_numbers: NumberList,
}

/// `AddProductsToArticleGroupResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddProductsToArticleGroupResponse {
    /// `ADD-PRODUCTS-TO-ARTICLE-GROUP-RESULT-*`.
    pub result: String,
}
