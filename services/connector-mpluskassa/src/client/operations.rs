//! One method per MplusQAPI operation Ferry uses: build the request ([`requests`]), send it
//! ([`MplusClient::call`]), check the business result and read the records
//! ([`crate::soap::types`]).
//! Business results other than OK (`CREATE-ORDER-RESULT-FAILED`, ...) are
//! [`MplusError::Rejected`] with the `errorMessage`.

use std::collections::HashMap;

use ferry_mplusqapi::{Operation, WireError};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

use super::error::malformed;
use super::{MplusClient, MplusError, Response, Retry};
use crate::soap::Element;
use crate::soap::requests::{self, Page, ProductQuery};
use crate::soap::types::{
    ApiVersion, ArticleGroup, ArticleStock, Branch, Employee, Invoice, Order, PaymentMethod,
    Product, Relation, SyncMarkers, TurnoverGroup, VatGroup, VatScale,
};

/// One record of a list answer with its element (the `raw` of observed events); `record` is
/// the error when the element cannot be read, so the caller can park it instead of losing
/// the whole page.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    /// The response element.
    pub element: Element,
    /// The record.
    pub record: Result<T, WireError>,
}

impl<T> Listed<T> {
    /// The record and its element, when it was read.
    pub fn ok(self) -> Option<(T, Element)> {
        match self.record {
            Ok(r) => Some((r, self.element)),
            Err(_) => None,
        }
    }

    /// Turns the wire record into Ferry's.
    fn then<U>(self, f: impl FnOnce(T) -> Result<U, WireError>) -> Listed<U> {
        Listed {
            element: self.element,
            record: self.record.and_then(f),
        }
    }
}

/// What `createOrderV3` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCreation {
    /// Created now, or earlier under the same idempotency key (`replayed`).
    Created {
        /// The order id.
        order_id: String,
        /// The answer was a replay of an earlier attempt's.
        replayed: bool,
    },
    /// An order with this extOrderId exists already (not created with this key).
    AlreadyExists {
        /// The `errorMessage`.
        message: String,
    },
}

/// What `cancelOrder` answered (a refusal is an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellation {
    /// Cancelled now.
    Cancelled,
    /// It was cancelled before.
    AlreadyCancelled,
    /// No such order.
    NotFound,
}

fn expect_result(
    operation: &'static str,
    result: &str,
    ok: &str,
    message: &str,
) -> Result<(), MplusError> {
    if result.trim() == ok {
        Ok(())
    } else {
        Err(rejected(operation, result, message))
    }
}

fn rejected(operation: &'static str, result: &str, message: &str) -> MplusError {
    let result = result.trim();
    MplusError::Rejected {
        operation,
        result: if result.is_empty() {
            "no result"
        } else {
            result
        }
        .to_owned(),
        message: message.trim().to_owned(),
    }
}

/// The record of a lookup that answered `ok`, made Ferry's with `from_wire`; `None` for any
/// other result (not found).
fn found<W, T>(
    operation: &'static str,
    (result, ok): (&str, &str),
    record: Option<W>,
    from_wire: impl FnOnce(W) -> Result<T, WireError>,
) -> Result<Option<T>, MplusError> {
    if result.trim() != ok {
        return Ok(None);
    }
    record
        .map(from_wire)
        .transpose()
        .map_err(malformed(operation))
}

/// The records of a list answer (see [`Response::items`]) made Ferry's with `from_wire`, each
/// with its element; one that cannot be read is an `Err` beside the others.
fn listed<W: DeserializeOwned, T>(
    r: &Response,
    (list, item): (Option<&str>, &str),
    from_wire: impl Fn(W) -> Result<T, WireError>,
) -> Vec<Listed<T>> {
    r.items(list, item)
        .into_iter()
        .map(|l| l.then(&from_wire))
        .collect()
}

/// Every record of a list, or the first error.
fn all<W, T>(
    operation: &'static str,
    items: Vec<W>,
    from_wire: impl Fn(W) -> Result<T, WireError>,
) -> Result<Vec<T>, MplusError> {
    items
        .into_iter()
        .map(|w| from_wire(w).map_err(malformed(operation)))
        .collect()
}

impl MplusClient {
    /// Sends `op` and decodes its response.
    async fn ask<O: Operation>(&self, op: &O, retry: Retry) -> Result<O::Response, MplusError> {
        self.call(op, retry).await?.decode()
    }

    /// `getApiVersion`: the connection test.
    pub async fn api_version(&self) -> Result<ApiVersion, MplusError> {
        let r = self.ask(&requests::get_api_version(), Retry::Safe).await?;
        ApiVersion::from_wire(r).map_err(malformed("getApiVersion"))
    }

    /// `getCurrentSyncMarkers`.
    pub async fn sync_markers(&self) -> Result<SyncMarkers, MplusError> {
        let r = self
            .ask(&requests::get_current_sync_markers(), Retry::Safe)
            .await?;
        Ok(SyncMarkers::from_wire(r))
    }

    /// `getBranches`.
    pub async fn branches(&self) -> Result<Vec<Branch>, MplusError> {
        let r = self.ask(&requests::get_branches(), Retry::Safe).await?;
        all("getBranches", r.branches.branch, Branch::from_wire)
    }

    /// `getEmployees`.
    pub async fn employees(&self) -> Result<Vec<Employee>, MplusError> {
        let r = self.ask(&requests::get_employees(), Retry::Safe).await?;
        let employees = r.employee_list.employee;
        all("getEmployees", employees, Employee::from_wire)
    }

    /// `getEmployee`; `None` when it does not exist.
    pub async fn employee(&self, number: i64) -> Result<Option<Employee>, MplusError> {
        let r = self
            .ask(&requests::get_employee(number), Retry::Safe)
            .await?;
        let result = (r.result.as_str(), "GET-EMPLOYEE-RESULT-OK");
        found("getEmployee", result, r.employee, Employee::from_wire)
    }

    /// `getPaymentMethodsV2`.
    pub async fn payment_methods(&self) -> Result<Vec<PaymentMethod>, MplusError> {
        let r = self
            .ask(&requests::get_payment_methods_v2(), Retry::Safe)
            .await?;
        let methods = r.payment_method_list.payment_method;
        all("getPaymentMethodsV2", methods, PaymentMethod::from_wire)
    }

    /// `getVatGroupList`, percentages read with the installation's scale.
    pub async fn vat_groups(&self) -> Result<(Vec<VatGroup>, VatScale), MplusError> {
        let r = self
            .ask(&requests::get_vat_group_list(), Retry::Safe)
            .await?;
        let mut groups = all("getVatGroupList", r.vat_group, VatGroup::from_wire)?;
        let scale = VatScale::detect(&groups);
        scale.apply(&mut groups);
        Ok((groups, scale))
    }

    /// `getTurnoverGroups` (active ones).
    pub async fn turnover_groups(&self) -> Result<Vec<TurnoverGroup>, MplusError> {
        let r = self
            .ask(&requests::get_turnover_groups(true), Retry::Safe)
            .await?;
        let groups = r.turnover_group_list.turnover_group;
        all("getTurnoverGroups", groups, TurnoverGroup::from_wire)
    }

    /// `findRelationV2` by e-mail with `exactMatch`.
    pub async fn find_relation_by_email(
        &self,
        email: &str,
    ) -> Result<Option<Relation>, MplusError> {
        let op = "findRelationV2";
        let r = self
            .ask(&requests::find_relation_v2_by_email(email), Retry::Safe)
            .await?;
        match r.result.trim() {
            "FIND-RELATION-RESULT-OK" => r
                .relation
                .map(Relation::from_wire)
                .transpose()
                .map_err(malformed(op)),
            "FIND-RELATION-RESULT-NOT-FOUND" => Ok(None),
            other => Err(MplusError::Malformed {
                operation: op,
                message: format!("unknown result {other:?}"),
            }),
        }
    }

    /// `getRelation`; `None` when it does not exist.
    pub async fn relation(&self, number: i64) -> Result<Option<Relation>, MplusError> {
        let r = self
            .ask(&requests::get_relation(number), Retry::Safe)
            .await?;
        let result = (r.result.as_str(), "GET-RELATION-RESULT-OK");
        found("getRelation", result, r.relation, Relation::from_wire)
    }

    /// `getRelations`: one sync-marker page, ascending by marker. Each relation is returned
    /// with its element; a relation that cannot be read comes back as `Err` with it.
    pub async fn relations(&self, page: Page) -> Result<Vec<Listed<Relation>>, MplusError> {
        let r = self
            .call(&requests::get_relations(page), Retry::Safe)
            .await?;
        let list = (Some("relationList"), "relation");
        Ok(listed(&r, list, Relation::from_wire))
    }

    /// `createRelation`; returns the new relation number. Tried once (not idempotent).
    pub async fn create_relation(&self, r: &requests::RelationWrite) -> Result<i64, MplusError> {
        let op = "createRelation";
        let r = self
            .ask(&requests::create_relation(r), Retry::Never)
            .await?;
        expect_result(op, &r.result, "CREATE-RELATION-RESULT-OK", &r.error_message)?;
        r.relation_number.ok_or_else(|| MplusError::Malformed {
            operation: op,
            message: "<CreateRelationResponse> has no <relationNumber> element".into(),
        })
    }

    /// `updateRelation` (absolute: safe to repeat).
    pub async fn update_relation(&self, r: &requests::RelationWrite) -> Result<(), MplusError> {
        let r = self.ask(&requests::update_relation(r), Retry::Safe).await?;
        let ok = "UPDATE-RELATION-RESULT-OK";
        expect_result("updateRelation", &r.result, ok, &r.error_message)
    }

    /// `getProducts`.
    pub async fn products(&self, query: &ProductQuery) -> Result<Vec<Listed<Product>>, MplusError> {
        let r = self
            .call(&requests::get_products(query), Retry::Safe)
            .await?;
        let list = (Some("productList"), "product");
        Ok(listed(&r, list, Product::from_wire))
    }

    /// `createProduct`; returns the product number and its article numbers. Tried once.
    pub async fn create_product(
        &self,
        p: &requests::ProductWrite,
    ) -> Result<(i64, Vec<i64>), MplusError> {
        let op = "createProduct";
        let r = self.ask(&requests::create_product(p), Retry::Never).await?;
        expect_result(op, &r.result, "CREATE-PRODUCT-RESULT-OK", &r.error_message)?;
        let number = r.product_number.ok_or_else(|| MplusError::Malformed {
            operation: op,
            message: "<CreateProductResponse> has no <productNumber> element".into(),
        })?;
        Ok((number, r.article_numbers))
    }

    /// `updateProduct`. Safe to repeat only when every article carries its number (new
    /// articles without one would be created again).
    pub async fn update_product(&self, p: &requests::ProductWrite) -> Result<(), MplusError> {
        let retry = if p.articles.iter().all(|a| a.article_number.is_some()) {
            Retry::Safe
        } else {
            Retry::Never
        };
        let r = self.ask(&requests::update_product(p), retry).await?;
        let ok = "UPDATE-PRODUCT-RESULT-OK";
        expect_result("updateProduct", &r.result, ok, &r.error_message)
    }

    /// `getArticleGroups` without a marker: the whole tree, flattened with parents.
    pub async fn article_group_tree(&self) -> Result<Vec<ArticleGroup>, MplusError> {
        let r = self
            .ask(&requests::get_article_groups(None), Retry::Safe)
            .await?;
        let mut out = Vec::new();
        ArticleGroup::flatten(r.article_group_list, 0, &mut out)
            .map_err(malformed("getArticleGroups"))?;
        Ok(out)
    }

    /// `getArticleGroups` with a marker: the changed groups of one page (flat; parents are
    /// not in this answer).
    pub async fn article_group_changes(
        &self,
        page: Page,
    ) -> Result<Vec<Listed<ArticleGroup>>, MplusError> {
        let r = self
            .call(&requests::get_article_groups(Some(page)), Retry::Safe)
            .await?;
        let list = (Some("articleGroupList"), "articleGroups");
        Ok(listed(&r, list, ArticleGroup::from_wire))
    }

    /// `newArticleGroup`; returns the group number. Tried once.
    pub async fn new_article_group(&self, parent: i32, name: &str) -> Result<i32, MplusError> {
        let op = "newArticleGroup";
        let request = requests::new_article_group(parent, name, name);
        let r = self.ask(&request, Retry::Never).await?;
        expect_result(op, &r.result, "NEW-ARTICLE-GROUP-RESULT-OK", "")?;
        r.group_number.ok_or_else(|| MplusError::Malformed {
            operation: op,
            message: "<NewArticleGroupResponse> has no <groupNumber> element".into(),
        })
    }

    /// `updateArticleGroup` (absolute).
    pub async fn update_article_group(
        &self,
        number: i32,
        name: &str,
        parent: i32,
    ) -> Result<(), MplusError> {
        let request = requests::update_article_group(number, name, name, parent);
        let r = self.ask(&request, Retry::Safe).await?;
        let ok = "SAVE-ARTICLE-GROUP-RESULT-OK";
        expect_result("updateArticleGroup", &r.result, ok, "")
    }

    /// `getStock` of `articles` (every stock article when empty) changed since `since`.
    pub async fn stock(
        &self,
        branch: i32,
        articles: &[i64],
        since: Option<i64>,
    ) -> Result<Vec<Listed<ArticleStock>>, MplusError> {
        let r = self
            .call(&requests::get_stock(branch, articles, since), Retry::Safe)
            .await?;
        Ok(listed(&r, (None, "articleStocks"), ArticleStock::from_wire))
    }

    /// `setStock` (absolute: safe to repeat); returns the new stockId.
    pub async fn set_stock(
        &self,
        branch: i32,
        article: i64,
        amount: Decimal,
        employee: Option<i64>,
    ) -> Result<i64, MplusError> {
        let op = "setStock";
        let body =
            requests::set_stock(branch, article, amount, employee, "Ferry").ok_or_else(|| {
                MplusError::Invalid {
                    operation: op,
                    message: format!("stock quantity {amount} does not fit MplusKASSA's format"),
                }
            })?;
        let r = self.ask(&body, Retry::Safe).await?;
        expect_result(op, &r.result, "SET-STOCK-RESULT-OK", "")?;
        Ok(r.stock_id.unwrap_or(0))
    }

    /// `findOrder` by extOrderId.
    pub async fn find_order(&self, ext_order_id: &str) -> Result<Option<Order>, MplusError> {
        let r = self
            .ask(&requests::find_order(ext_order_id), Retry::Safe)
            .await?;
        let result = (r.result.as_str(), "GET-ORDER-RESULT-OK");
        found("findOrder", result, r.order, Order::from_wire)
    }

    /// `cancelOrder`: safe to repeat (a cancelled order answers already-cancelled).
    pub async fn cancel_order(&self, order_id: &str) -> Result<Cancellation, MplusError> {
        let op = "cancelOrder";
        let r = self
            .ask(&requests::cancel_order(order_id), Retry::Safe)
            .await?;
        match r.result.trim() {
            "CANCEL-ORDER-RESULT-OK" => Ok(Cancellation::Cancelled),
            "CANCEL-ORDER-RESULT-ALREADY-CANCELLED" => Ok(Cancellation::AlreadyCancelled),
            "CANCEL-ORDER-RESULT-NOT-FOUND" => Ok(Cancellation::NotFound),
            other => Err(rejected(op, other, &r.message)),
        }
    }

    /// `getInvoice`: one invoice by id (`None` when MplusKASSA has none).
    pub async fn invoice(&self, invoice_id: &str) -> Result<Option<Invoice>, MplusError> {
        let r = self
            .ask(&requests::get_invoice(invoice_id), Retry::Safe)
            .await?;
        let result = (r.result.as_str(), "GET-INVOICE-RESULT-OK");
        found("getInvoice", result, r.invoice, Invoice::from_wire)
    }

    /// `getOrdersByExtOrderIds`: the orders of up to
    /// [`requests::ORDERS_BY_EXT_IDS_MAX`] external ids at once, by external id.
    pub async fn orders_by_ext_ids(
        &self,
        ext_order_ids: &[String],
    ) -> Result<HashMap<String, Order>, MplusError> {
        let r = self
            .call(
                &requests::get_orders_by_ext_order_ids(ext_order_ids),
                Retry::Safe,
            )
            .await?;
        r.items(Some("orderList"), "order")
            .into_iter()
            .map(|l| {
                let order = l
                    .record
                    .and_then(Order::from_wire)
                    .map_err(malformed("getOrdersByExtOrderIds"))?;
                Ok((order.ext_order_id.clone(), order))
            })
            .collect()
    }

    /// `getOrders`: one sync-marker page.
    pub async fn orders(&self, page: Page) -> Result<Vec<Listed<Order>>, MplusError> {
        let r = self.call(&requests::get_orders(page), Retry::Safe).await?;
        Ok(listed(&r, (Some("orderList"), "order"), Order::from_wire))
    }

    /// `getInvoices`: one sync-marker page (till and back-office sales).
    pub async fn invoices(&self, page: Page) -> Result<Vec<Listed<Invoice>>, MplusError> {
        let r = self
            .call(&requests::get_invoices(page), Retry::Safe)
            .await?;
        let list = (Some("invoiceList"), "invoice");
        Ok(listed(&r, list, Invoice::from_wire))
    }

    /// `createOrderV3`: idempotent through `idempotency_key`, so retried like a read.
    pub async fn create_order_v3(
        &self,
        order: &requests::OrderWrite,
        idempotency_key: &str,
        payments: &[requests::PaymentWrite],
    ) -> Result<OrderCreation, MplusError> {
        let op = "createOrderV3";
        let request = requests::create_order_v3(order, idempotency_key, payments);
        let r = self.ask(&request, Retry::Safe).await?;
        let replayed = r.idempotency_result.as_deref().map(str::trim)
            == Some("IDEMPOTENCY-RESULT-REPLAY-RESPONSE");
        let message = r.error_message.as_deref().unwrap_or_default();
        match r.result.trim() {
            "CREATE-ORDER-RESULT-OK" => {
                let order_id = Some(r.info.order_id.trim())
                    .filter(|id| !id.is_empty())
                    .or_else(|| r.order.as_ref().map(|o| o.order_id.trim()))
                    .ok_or_else(|| MplusError::Malformed {
                        operation: op,
                        message: "CREATE-ORDER-RESULT-OK without an orderId".into(),
                    })?;
                Ok(OrderCreation::Created {
                    order_id: order_id.to_owned(),
                    replayed,
                })
            }
            "CREATE-ORDER-RESULT-EXT-ORDER-ID-ALREADY-EXISTS" => Ok(OrderCreation::AlreadyExists {
                message: message.trim().to_owned(),
            }),
            other => Err(rejected(op, other, message)),
        }
    }
}
