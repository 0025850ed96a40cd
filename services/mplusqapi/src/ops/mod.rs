//! One request struct per operation (the element inside the SOAP Body, named like the
//! operation) and its response (named by the WSDL's message table, which follows no single
//! rule: `getBranchesResponse`, `GetEmployeesResponse`, `GetOrderResponse` for `findOrder`).
//! [`Operation`] ties them together.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod invoices;
mod orders;
mod products;
mod reference;
mod relations;
mod stock;

pub use invoices::*;
pub use orders::*;
pub use products::*;
pub use reference::*;
pub use relations::*;
pub use stock::*;

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
    ($(#[$doc:meta])* $list:ident: $($request:ident => $name:literal, $response:ident => $response_name:literal;)*) => {
        $(
            impl Operation for $request {
                const NAME: &'static str = $name;
                const RESPONSE: &'static str = $response_name;
                type Response = $response;
            }
        )*

        $(#[$doc])*
        pub const $list: &[(&str, &str)] = &[$(($name, $response_name)),*];
    };
}

operations! {
    /// `(operation, response element)` of every operation the connector calls.
    OPERATIONS:
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
    GetInvoices => "getInvoices", GetInvoicesResponse => "GetInvoicesResponse";
    GetInvoice => "getInvoice", GetInvoiceResponse => "GetInvoiceResponse";
    CancelOrder => "cancelOrder", CancelOrderResponse => "CancelOrderResponse";
}

operations! {
    /// `(operation, response element)` of the operations only the sandbox answers (the
    /// connector does not call them).
    SANDBOX_OPERATIONS:
    FindRelation => "findRelation", FindRelationResponse => "FindRelationResponse";
    AddProductsToArticleGroup => "addProductsToArticleGroup", AddProductsToArticleGroupResponse => "AddProductsToArticleGroupResponse";
    UpdateStock => "updateStock", UpdateStockResponse => "UpdateStockResponse";
    GetStockHistoryV2 => "getStockHistoryV2", GetStockHistoryResponse => "GetStockHistoryResponse";
    GetOrdersByExtOrderIds => "getOrdersByExtOrderIds", GetOrdersByExtOrderIdsResponse => "GetOrdersByExtOrderIdsResponse";
    CreateOrder => "createOrder", CreateOrderResponse => "CreateOrderResponse";
    DeliverOrder => "deliverOrder", DeliverOrderResponse => "DeliverOrderResponse";
}

/// An operation's `request` element read as another type than the operation's own: the
/// WSDL's filters the connector does not send (e.g. `Request<GetStockFilters>`), read by the
/// sandbox from the same element.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request<T> {
    /// The `request` element.
    pub request: T,
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
