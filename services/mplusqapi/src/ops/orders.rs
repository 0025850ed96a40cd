//! Orders.

use serde::{Deserialize, Serialize};

use super::TextList;
use crate::Cents;
use crate::date::SoapMplusDate;
use crate::records::{Order, OrderList, PaymentList};

/// `findOrder` by external id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
pub struct CreateOrderV3 {
    /// The order.
    pub request: CreateOrderV3Request,
}

/// `tns:CreateOrderV3Request` (an `IdempotentReq`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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

/// The filters of `tns:GetOrdersRequest` the connector does not send, read from the same
/// `request` element: `Request<GetOrdersFilters>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetOrdersFilters {
    /// From this financial date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_financial_date: Option<SoapMplusDate>,
    /// Through this financial date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through_financial_date: Option<SoapMplusDate>,
    /// Entered in these branches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub branch_numbers: Vec<i32>,
    /// Entered by these employees.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub employee_numbers: Vec<i64>,
    /// For these relations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relation_numbers: Vec<i64>,
    /// With lines of these articles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub article_numbers: Vec<i64>,
    /// Of these `ORDER-TYPE-*`s (absent: the sales orders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_type_list: Option<OrderTypeList>,
    /// These orders.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_ids: Vec<String>,
}

/// `tns:OrderTypeList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderTypeList {
    /// `ORDER-TYPE-*`.
    pub order_type: Vec<String>,
}

/// `getOrdersByExtOrderIds`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetOrdersByExtOrderIds {
    /// Filter.
    pub request: GetOrdersByExtOrderIdsRequest,
}

/// `tns:GetOrdersByExtOrderIdsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetOrdersByExtOrderIdsRequest {
    /// Records with a marker from this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Most records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker_limit: Option<i32>,
    /// The external ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_order_ids: Option<IdList>,
}

/// `tns:IdList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdList {
    /// The ids.
    pub id: Vec<String>,
}

/// `GetOrdersByExtOrderIdsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetOrdersByExtOrderIdsResponse {
    /// The orders.
    pub order_list: OrderList,
}

/// `createOrder` (not idempotent: `createOrderV3` is).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrder {
    /// The order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
}

/// `CreateOrderResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateOrderResponse {
    /// `CREATE-ORDER-RESULT-*`.
    pub result: String,
    /// Its id and number.
    pub info: CreateOrderInfo,
    /// Why it failed.
    pub error_message: String,
}

/// `cancelOrder`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrder {
    /// The order.
    pub order_id: String,
}

/// `CancelOrderResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CancelOrderResponse {
    /// `CANCEL-ORDER-RESULT-*`.
    pub result: String,
    /// Why it failed.
    pub message: String,
}
