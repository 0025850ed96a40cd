//! The operations: one handler per WSDL operation, writing the children of the response element
//! that the WSDL's message table names (which does not follow one rule).

mod groups;
mod invoices;
mod orders;
mod products;
mod reference;
mod relations;
mod stock;

pub use reference::API_VERSION;

use serde::de::DeserializeOwned;

use super::store::Store;
use super::xml::{XmlError, XmlWriter};

/// What a handler gets: the operation element's XML (read with [`Ctx::request`]), the
/// installation, the response being written.
pub struct Ctx<'a> {
    pub xml: &'a str,
    pub store: &'a mut Store,
    pub w: &'a mut XmlWriter,
}

impl Ctx<'_> {
    /// The request as its wire type of [`ferry_mplusqapi::ops`]: a missing required element or
    /// a value of the wrong type is a validation error (a SOAP `Client` fault), as in gSOAP.
    pub fn request<T: DeserializeOwned>(&self) -> Result<T, XmlError> {
        ferry_mplusqapi::envelope::decode(self.xml).map_err(|e| XmlError::Invalid(e.to_string()))
    }
}

type Handler = fn(Ctx<'_>) -> Result<(), XmlError>;

/// `(operation = request element, response element, handler)`.
const OPERATIONS: &[(&str, &str, Handler)] = &[
    (
        "getApiVersion",
        "getApiVersionResponse",
        reference::get_api_version,
    ),
    (
        "getCurrentSyncMarkers",
        "getCurrentSyncMarkersResponse",
        reference::get_current_sync_markers,
    ),
    (
        "getBranches",
        "getBranchesResponse",
        reference::get_branches,
    ),
    (
        "getEmployees",
        "GetEmployeesResponse",
        reference::get_employees,
    ),
    (
        "getEmployee",
        "GetEmployeeResponse",
        reference::get_employee,
    ),
    (
        "getPaymentMethodsV2",
        "GetPaymentMethodsResponse",
        reference::get_payment_methods_v2,
    ),
    (
        "getVatGroupList",
        "getVatGroupListResponse",
        reference::get_vat_group_list,
    ),
    (
        "getTurnoverGroups",
        "GetTurnoverGroupsResponse",
        reference::get_turnover_groups,
    ),
    (
        "findRelation",
        "FindRelationResponse",
        relations::find_relation,
    ),
    (
        "findRelationV2",
        "FindRelationV2Response",
        relations::find_relation_v2,
    ),
    (
        "getRelation",
        "GetRelationResponse",
        relations::get_relation,
    ),
    (
        "getRelations",
        "GetRelationsResponse",
        relations::get_relations,
    ),
    (
        "createRelation",
        "CreateRelationResponse",
        relations::create_relation,
    ),
    (
        "updateRelation",
        "UpdateRelationResponse",
        relations::update_relation,
    ),
    ("getProducts", "GetProductsResponse", products::get_products),
    (
        "createProduct",
        "CreateProductResponse",
        products::create_product,
    ),
    (
        "updateProduct",
        "UpdateProductResponse",
        products::update_product,
    ),
    (
        "getArticleGroups",
        "GetArticleGroupsResponse",
        groups::get_article_groups,
    ),
    (
        "newArticleGroup",
        "NewArticleGroupResponse",
        groups::new_article_group,
    ),
    (
        "updateArticleGroup",
        "UpdateArticleGroupResponse",
        groups::update_article_group,
    ),
    (
        "addProductsToArticleGroup",
        "AddProductsToArticleGroupResponse",
        groups::add_products_to_article_group,
    ),
    ("getStock", "GetStockResponse", stock::get_stock),
    ("setStock", "SetStockResponse", stock::set_stock),
    ("updateStock", "UpdateStockResponse", stock::update_stock),
    (
        "getStockHistoryV2",
        "GetStockHistoryResponse",
        stock::get_stock_history_v2,
    ),
    ("findOrder", "GetOrderResponse", orders::find_order),
    (
        "getOrdersByExtOrderIds",
        "GetOrdersByExtOrderIdsResponse",
        orders::get_orders_by_ext_order_ids,
    ),
    ("getOrders", "GetOrdersResponse", orders::get_orders),
    ("createOrder", "CreateOrderResponse", orders::create_order),
    (
        "createOrderV3",
        "CreateOrderV3Response",
        orders::create_order_v3,
    ),
    ("cancelOrder", "CancelOrderResponse", orders::cancel_order),
    (
        "deliverOrder",
        "DeliverOrderResponse",
        invoices::deliver_order,
    ),
    ("getInvoices", "GetInvoicesResponse", invoices::get_invoices),
    ("getInvoice", "GetInvoiceResponse", invoices::get_invoice),
];

/// Names of the implemented operations.
pub fn names() -> impl Iterator<Item = &'static str> {
    OPERATIONS.iter().map(|(name, _, _)| *name)
}

/// Runs an operation; `None` when it is not implemented. The result is the response element.
pub fn run(operation: &str, xml: &str, store: &mut Store) -> Option<Result<String, XmlError>> {
    let (_, response, handler) = OPERATIONS.iter().find(|(name, _, _)| *name == operation)?;
    let mut w = XmlWriter::new();
    w.start(response);
    let result = handler(Ctx {
        xml,
        store,
        w: &mut w,
    });
    w.end(response);
    Some(result.map(|()| w.finish()))
}

/// Most records per page when paging with a sync marker.
pub const MAX_PAGE: usize = 1000;

/// Sync marker paging: records whose marker is `>= from` (inclusive, as MplusKASSA does),
/// ascending by marker, at most `limit` (capped at [`MAX_PAGE`]). Without `from`: all
/// records in the order given.
pub fn page<T>(
    items: impl Iterator<Item = (i64, T)>,
    from: Option<i64>,
    limit: Option<i32>,
) -> Vec<T> {
    let Some(from) = from else {
        return items.map(|(_, t)| t).collect();
    };
    let limit = limit
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l > 0)
        .unwrap_or(MAX_PAGE)
        .min(MAX_PAGE);
    let mut selected: Vec<(i64, T)> = items.filter(|(m, _)| *m >= from).collect();
    selected.sort_by_key(|(m, _)| *m);
    selected.into_iter().take(limit).map(|(_, t)| t).collect()
}
