//! One request struct per operation (the element inside the SOAP Body, named like the
//! operation) and its response (named by the WSDL's message table, which follows no single
//! rule: `getBranchesResponse`, `GetEmployeesResponse`, `GetOrderResponse` for `findOrder`).
//! [`Operation`] ties them together.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Cents;
use crate::date::SoapMplusDateTime;
use crate::records::{
    ArticleGroupList, ArticleStock, BranchList, Employee, EmployeeList, Order, OrderList,
    PaymentList, PaymentMethodList, Product, ProductList, Relation, RelationList,
    TurnoverGroupList, VatGroup,
};

/// A MplusQAPI operation: the request element's name, the response element's name and type.
pub trait Operation: Serialize {
    /// Operation = request element.
    const NAME: &'static str;
    /// Response element.
    const RESPONSE: &'static str;
    /// Response type.
    type Response: DeserializeOwned + Serialize;
}

macro_rules! operations {
    ($($request:ident => $name:literal, $response:ident => $response_name:literal;)*) => {
        $(
            impl Operation for $request {
                const NAME: &'static str = $name;
                const RESPONSE: &'static str = $response_name;
                type Response = $response;
            }
        )*

        /// `(operation, response element)` of every operation this crate describes.
        pub const OPERATIONS: &[(&str, &str)] = &[$(($name, $response_name)),*];
    };
}

operations! {
    GetApiVersion => "getApiVersion", GetApiVersionResponse => "getApiVersionResponse";
    GetCurrentSyncMarkers => "getCurrentSyncMarkers", GetCurrentSyncMarkersResponse => "getCurrentSyncMarkersResponse";
    GetBranches => "getBranches", GetBranchesResponse => "getBranchesResponse";
    GetEmployees => "getEmployees", GetEmployeesResponse => "GetEmployeesResponse";
    GetEmployee => "getEmployee", GetEmployeeResponse => "GetEmployeeResponse";
    GetPaymentMethodsV2 => "getPaymentMethodsV2", GetPaymentMethodsResponse => "GetPaymentMethodsResponse";
    GetVatGroupList => "getVatGroupList", GetVatGroupListResponse => "getVatGroupListResponse";
    GetTurnoverGroups => "getTurnoverGroups", GetTurnoverGroupsResponse => "GetTurnoverGroupsResponse";
    FindRelationV2 => "findRelationV2", FindRelationV2Response => "FindRelationV2Response";
    GetRelation => "getRelation", GetRelationResponse => "GetRelationResponse";
    GetRelations => "getRelations", GetRelationsResponse => "GetRelationsResponse";
    CreateRelation => "createRelation", CreateRelationResponse => "CreateRelationResponse";
    UpdateRelation => "updateRelation", UpdateRelationResponse => "UpdateRelationResponse";
    GetProducts => "getProducts", GetProductsResponse => "GetProductsResponse";
    CreateProduct => "createProduct", CreateProductResponse => "CreateProductResponse";
    UpdateProduct => "updateProduct", UpdateProductResponse => "UpdateProductResponse";
    GetArticleGroups => "getArticleGroups", GetArticleGroupsResponse => "GetArticleGroupsResponse";
    NewArticleGroup => "newArticleGroup", NewArticleGroupResponse => "NewArticleGroupResponse";
    UpdateArticleGroup => "updateArticleGroup", UpdateArticleGroupResponse => "UpdateArticleGroupResponse";
    GetStock => "getStock", GetStockResponse => "GetStockResponse";
    SetStock => "setStock", SetStockResponse => "SetStockResponse";
    FindOrder => "findOrder", GetOrderResponse => "GetOrderResponse";
    GetOrders => "getOrders", GetOrdersResponse => "GetOrdersResponse";
    CreateOrderV3 => "createOrderV3", CreateOrderV3Response => "CreateOrderV3Response";
}

/// An element without content (`<request/>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `tns:TextList` (`<text><text>…</text></text>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextList {
    /// The texts.
    #[serde(default)]
    pub text: Vec<Text>,
}

/// `tns:Text`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    #[serde(default)]
    pub text: String,
}

// ---- reference data ----

/// `getApiVersion`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetApiVersion {}

/// `getApiVersionResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetApiVersionResponse {
    /// Major API version.
    pub major_number: Option<i32>,
    /// Minor API version.
    pub minor_number: Option<i32>,
    /// Revision.
    pub revision_number: Option<i32>,
    /// Debug build.
    pub in_debug_mode: bool,
}

/// `getCurrentSyncMarkers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetCurrentSyncMarkers {}

/// `getCurrentSyncMarkersResponse`: the highest marker of each entity type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetCurrentSyncMarkersResponse {
    /// Articles.
    pub article_sync_marker: i64,
    /// Article groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_group_sync_marker: Option<i64>,
    /// Relations.
    pub relation_sync_marker: i64,
    /// Employees.
    pub employee_sync_marker: i64,
    /// Invoices.
    pub invoice_sync_marker: i64,
    /// Receipts.
    pub receipt_sync_marker: i64,
    /// Orders.
    pub order_sync_marker: i64,
    /// Proposals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal_sync_marker: Option<i64>,
    /// Stock changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_id: Option<i64>,
}

/// `getBranches`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBranches {}

/// `getBranchesResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetBranchesResponse {
    /// The branches.
    pub branches: BranchList,
}

/// `getEmployees`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetEmployees {
    /// Filter (absent: all).
    pub request: GetEmployeesRequest,
}

/// `tns:getEmployeesRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetEmployeesRequest {
    /// These employees.
    pub employee_numbers: Vec<i64>,
    /// Changed from this marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Most records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker_limit: Option<i32>,
}

/// `GetEmployeesResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetEmployeesResponse {
    /// The employees.
    pub employee_list: EmployeeList,
}

/// `getEmployee`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetEmployee {
    /// The employee.
    pub employee_number: i64,
}

/// `GetEmployeeResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetEmployeeResponse {
    /// `GET-EMPLOYEE-RESULT-*`.
    pub result: String,
    /// The employee when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee: Option<Employee>,
}

/// `getPaymentMethodsV2`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetPaymentMethodsV2 {
    /// Filter (empty: all).
    pub request: Empty,
}

/// `GetPaymentMethodsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetPaymentMethodsResponse {
    /// The payment methods.
    pub payment_method_list: PaymentMethodList,
}

/// `getVatGroupList`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetVatGroupList {}

/// `getVatGroupListResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetVatGroupListResponse {
    /// The VAT groups.
    pub vat_group: Vec<VatGroup>,
}

/// `getTurnoverGroups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetTurnoverGroups {
    /// Filter.
    pub request: GetTurnoverGroupsRequest,
}

/// `tns:GetTurnoverGroupsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetTurnoverGroupsRequest {
    /// Only active groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_active: Option<bool>,
}

/// `GetTurnoverGroupsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetTurnoverGroupsResponse {
    /// The turnover groups.
    pub turnover_group_list: TurnoverGroupList,
}

// ---- relations ----

/// `findRelationV2`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindRelationV2 {
    /// The search.
    pub request: FindRelationV2Request,
}

/// `tns:FindRelationV2Request`: the fields to match, given as a relation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FindRelationV2Request {
    /// Fields to match.
    pub relation: Relation,
    /// Exact matches only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_match: Option<bool>,
}

/// `FindRelationV2Response`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindRelationV2Response {
    /// `FIND-RELATION-RESULT-*`.
    pub result: String,
    /// The relation when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
}

/// `getRelation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetRelation {
    /// The relation.
    pub relation_number: i64,
}

/// `GetRelationResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetRelationResponse {
    /// `GET-RELATION-RESULT-*`.
    pub result: String,
    /// The relation (an empty one when not found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
}

/// `getRelations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetRelations {
    /// Filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<GetRelationsRequest>,
}

/// `tns:GetRelationsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetRelationsRequest {
    /// These relations.
    pub relation_numbers: Vec<i64>,
    /// Records with a marker from this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Most records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker_limit: Option<i32>,
}

/// `GetRelationsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetRelationsResponse {
    /// The relations.
    pub relation_list: RelationList,
}

/// `createRelation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateRelation {
    /// The new relation.
    pub relation: Relation,
}

/// `CreateRelationResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateRelationResponse {
    /// `CREATE-RELATION-RESULT-*`.
    pub result: String,
    /// The new relation's number.
    pub relation_number: Option<i64>,
    /// Created at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Its marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Why it failed.
    pub error_message: String,
}

/// `updateRelation` (absent fields are left alone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateRelation {
    /// The relation with its number.
    pub relation: Relation,
}

/// `UpdateRelationResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateRelationResponse {
    /// `UPDATE-RELATION-RESULT-*`.
    pub result: String,
    /// Why it failed.
    pub error_message: String,
    /// Changed at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Its marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
}

// ---- products and article groups ----

/// `getProducts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
#[serde(default)]
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
#[serde(default)]
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
#[serde(default)]
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
#[serde(default)]
pub struct NewArticleGroup {
    /// The group.
    pub request: NewArticleGroupRequest,
}

/// `tns:NewArticleGroupRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
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
#[serde(default)]
pub struct UpdateArticleGroup {
    /// The group.
    pub request: UpdateArticleGroupRequest,
}

/// `tns:UpdateArticleGroupRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateArticleGroupRequest {
    /// The group.
    pub group_number: i32,
    /// Name.
    pub name: String,
    /// Text.
    pub text: String,
    /// Parent (0: top level).
    pub parent_group_number: i32,
}

/// `UpdateArticleGroupResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateArticleGroupResponse {
    /// `SAVE-ARTICLE-GROUP-RESULT-*`.
    pub result: String,
}

// ---- stock ----

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

// ---- orders ----

/// `findOrder` by external id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FindOrder {
    /// External order id.
    pub ext_order_id: String,
}

/// `GetOrderResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetOrderResponse {
    /// `GET-ORDER-RESULT-*`.
    pub result: String,
    /// The order when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
}

/// `getOrders`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetOrders {
    /// Filter.
    pub request: GetOrdersRequest,
}

/// `tns:GetOrdersRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetOrdersRequest {
    /// Records with a marker from this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Most records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker_limit: Option<i32>,
    /// Orders with articles of these PLU numbers.
    pub article_plu_numbers: TextList,
    /// Orders with articles of these barcodes.
    pub article_barcodes: TextList,
    /// With their lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_line_list: Option<bool>,
}

/// `GetOrdersResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetOrdersResponse {
    /// The orders.
    pub order_list: OrderList,
}

/// `createOrderV3`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateOrderV3 {
    /// The order.
    pub request: CreateOrderV3Request,
}

/// `tns:CreateOrderV3Request` (an `IdempotentReq`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateOrderV3Request {
    /// Same key, same answer: the order is created once.
    pub idempotency_key: String,
    /// The order.
    pub order: Order,
    /// Payments with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_list: Option<PaymentList>,
}

/// `CreateOrderV3Response` (an `IdempotentResp`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateOrderV3Response {
    /// `IDEMPOTENCY-RESULT-ORIGINAL-RESPONSE` or `…-REPLAY-RESPONSE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_result: Option<String>,
    /// `CREATE-ORDER-RESULT-*`.
    pub result: String,
    /// The order created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Its id and number.
    pub info: CreateOrderInfo,
    /// `PAY-ORDER-RESULT-*` when paying with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_result: Option<String>,
}

/// `tns:CreateOrderInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateOrderInfo {
    /// The order id.
    pub order_id: String,
    /// The order's number as text.
    pub order_string: String,
    /// Queued rather than created now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_queued: Option<bool>,
}

/// A payment with an order, in cents.
pub fn payment(method: &str, amount: Cents) -> crate::records::Payment {
    crate::records::Payment {
        method: method.to_owned(),
        amount,
        ..crate::records::Payment::default()
    }
}
