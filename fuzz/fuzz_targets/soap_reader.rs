//! Arbitrary bytes as a MplusQAPI response body, read the way the MplusKASSA connector reads
//! one: the envelope checked as a whole (size, depth, well-formedness), the Body's element
//! decoded as the response it names, list answers taken apart into records, each decoded on
//! its own and turned into its `raw` JSON. Every step ends in a value or a typed error.
#![no_main]

use ferry_mplusqapi::envelope::{self, Body};
use ferry_mplusqapi::ops::*;
use ferry_mplusqapi::records::{ArticleGroup, ArticleStock, Invoice, Order, Product, Relation};
use ferry_mplusqapi::{Limits, ResponseError};
use libfuzzer_sys::fuzz_target;

/// Small enough that the fuzzer reaches the limits, not only the content.
const LIMITS: Limits = Limits {
    max_bytes: 64 * 1024,
    max_depth: 16,
};

/// Decodes `body` as the response type its element names (every response the connector
/// and the sandbox know).
macro_rules! decode_named {
    ($body:expr, $($response:ident),* $(,)?) => {
        match $body.name.as_str() {
            $(stringify!($response) => {
                let _ = $body.decode::<$response>();
            })*
            _ => {}
        }
    };
}

/// The records of a list answer, each decoded and read as raw JSON, as the connector's
/// `items` does.
fn list<T: serde::de::DeserializeOwned>(body: &Body<'_>, list: Option<&str>, item: &str) {
    for record in body.items(list, item) {
        let _ = record.decode::<T>();
        let _ = record.raw();
    }
}

fn read(text: &str) {
    let _ = envelope::root_of(text);
    let _ = envelope::raw_json(text);
    // The sandbox's side: any request envelope.
    let Ok(request) = envelope::open_request(text, &LIMITS) else {
        return;
    };
    // The connector's side: the response it expects (the element found, so that every
    // response type is reached), or a fault.
    let body = match envelope::open(text, &request.name, &LIMITS) {
        Ok(body) => body,
        Err(ResponseError::Fault(fault)) => {
            let _ = (fault.is_client(), fault.is_auth());
            return;
        }
        Err(_) => return,
    };
    // The operation names differ from the type names only in the case of the first letter.
    let mut name = body.name.clone();
    if let Some(first) = name.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    let named = Body {
        name,
        ..body.clone()
    };
    decode_named!(
        named,
        GetApiVersionResponse,
        GetCurrentSyncMarkersResponse,
        GetBranchesResponse,
        GetEmployeesResponse,
        GetEmployeeResponse,
        GetPaymentMethodsResponse,
        GetVatGroupListResponse,
        GetTurnoverGroupsResponse,
        FindRelationV2Response,
        GetRelationResponse,
        GetRelationsResponse,
        CreateRelationResponse,
        UpdateRelationResponse,
        GetProductsResponse,
        CreateProductResponse,
        UpdateProductResponse,
        GetArticleGroupsResponse,
        NewArticleGroupResponse,
        UpdateArticleGroupResponse,
        GetStockResponse,
        SetStockResponse,
        GetOrderResponse,
        GetOrdersResponse,
        CreateOrderV3Response,
        GetInvoicesResponse,
        GetInvoiceResponse,
        CancelOrderResponse,
        FindRelationResponse,
        AddProductsToArticleGroupResponse,
        UpdateStockResponse,
        GetStockHistoryResponse,
        GetOrdersByExtOrderIdsResponse,
        CreateOrderResponse,
        DeliverOrderResponse,
    );
    list::<Relation>(&body, Some("relationList"), "relation");
    list::<Product>(&body, Some("productList"), "product");
    list::<ArticleGroup>(&body, Some("articleGroupList"), "articleGroups");
    list::<ArticleStock>(&body, None, "articleStocks");
    list::<Order>(&body, Some("orderList"), "order");
    list::<Invoice>(&body, Some("invoiceList"), "invoice");
}

fuzz_target!(|data: &[u8]| {
    // The connector reads the body as UTF-8, replacing what is not.
    read(&String::from_utf8_lossy(data));
});
