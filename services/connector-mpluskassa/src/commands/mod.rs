//! Executes the canonical commands addressed to MplusKASSA (`mpluskassa.#` on the commands
//! exchange, queue `connector-mpluskassa`): [`MplusTarget`] is this connector's side of the
//! connector kit ([`ferry_platform::connector`]), which does the rest (inbox, per-record
//! lease, failure classification, reply, cross-references).
//!
//! | command | MplusKASSA calls | file |
//! | --- | --- | --- |
//! | `customer.upsert` | the relation known for the e-mail (checked) else `findRelationV2` (`exactMatch`), then `updateRelation` or `createRelation` | `customer` |
//! | `customer.find` | `findRelationV2` | `customer` |
//! | `product.upsert` | `getProducts` by SKU, then `updateProduct` or `createProduct` (new articles with the turnover group and the VAT code of their rate), `getProducts` again for the article numbers | `product` |
//! | `products.verify` | `getProducts` by SKU | `product` |
//! | `category.upsert` | `getArticleGroups`, then `updateArticleGroups` or `createArticleGroup` (found by name under its parent when the answer to a creation was lost) | `category` |
//! | `stock.set` | `getProducts`, `updateProduct` when the stock switch differs, `updateStock` | `stock` |
//! | `order.find` | `findOrder` by extOrderId | `order` |
//! | `order.create` | `getProducts` (article numbers of the lines), `createOrderV3` with the idempotency key (a replay answers the first attempt's result; a taken extOrderId is looked up) | `order` |
//!
//! Failures: transient ones (timeouts, 5xx, `Server` faults, unreadable answers) are retried
//! through the bus's delay queues; MplusKASSA's business refusals, refused credentials and
//! invalid commands reply `command.failed` with a precise [`FailureInfo`] at once.

mod category;
mod customer;
mod order;
mod product;
mod stock;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_platform::bus::{Delivery, Outcome};
use ferry_platform::connector::{CommandError, Cx, Executed, Lookup, Target};
use ferry_proto::messages::{
    CategoryUpsert, CategoryUpserted, CustomerFind, CustomerFound, CustomerUpsert,
    CustomerUpserted, ErrorCode, FailureInfo, IntegrationChanged, OrderCreate, OrderCreated,
    OrderFind, OrderFound, OrderSetStatus, OrderStatusSet, ProductUpsert, ProductUpserted,
    ProductsVerified, ProductsVerify, StockSet, StockSetDone,
};
use ferry_proto::{ExternalId, IntegrationId, Message, Sku, System};

use crate::client::MplusError;
use crate::config::SkuSource;
use crate::integrations::{Integration, Integrations};
use crate::registry::RegistryListener;
use crate::soap::types as mk;

impl From<MplusError> for CommandError {
    fn from(e: MplusError) -> Self {
        let mut info = FailureInfo::new(e.code(), e.to_string());
        if let MplusError::Rejected {
            result,
            message,
            operation,
        } = &e
        {
            info = info.with_details(serde_json::json!({
                "operation": operation,
                "result": result,
                "error_message": message,
            }));
        }
        if e.is_transient() {
            Self::Transient(info)
        } else {
            Self::Permanent(info)
        }
    }
}

/// MplusKASSA's side of the canonical commands.
pub struct MplusTarget {
    integrations: Integrations,
    registry: Option<Arc<RegistryListener>>,
}

impl MplusTarget {
    /// The target of `integrations`.
    pub fn new(integrations: Integrations) -> Self {
        Self {
            integrations,
            registry: None,
        }
    }

    /// Also follows the integration registry (`integration.changed` on the same queue).
    pub fn with_registry(mut self, registry: Arc<RegistryListener>) -> Self {
        self.registry = Some(registry);
        self
    }
}

#[async_trait]
impl Target for MplusTarget {
    type Integration = Integration;
    const SYSTEM: System = System::Mpluskassa;

    fn integration(&self, id: IntegrationId) -> Lookup<Integration> {
        match self.integrations.get(id) {
            Some(i) if self.integrations.is_active(id) => Lookup::Live(i),
            Some(_) => Lookup::Paused,
            None => Lookup::Unknown,
        }
    }

    async fn other(&self, delivery: &Delivery) -> Option<Outcome> {
        (delivery.message.message_type() == IntegrationChanged::MESSAGE_TYPE).then_some(())?;
        Some(match &self.registry {
            Some(registry) => registry.handle(delivery).await,
            None => Outcome::Ack,
        })
    }

    async fn customer_upsert(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &CustomerUpsert,
    ) -> Executed<CustomerUpserted> {
        customer::customer_upsert(cx, cmd).await
    }

    async fn customer_find(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &CustomerFind,
    ) -> Executed<CustomerFound> {
        customer::customer_find(cx, cmd).await
    }

    async fn product_upsert(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &ProductUpsert,
    ) -> Executed<ProductUpserted> {
        product::product_upsert(cx, cmd).await
    }

    async fn category_upsert(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &CategoryUpsert,
    ) -> Executed<CategoryUpserted> {
        category::category_upsert(cx, cmd).await
    }

    async fn stock_set(&self, cx: &Cx<'_, Integration>, cmd: &StockSet) -> Executed<StockSetDone> {
        stock::stock_set(cx, cmd).await
    }

    async fn order_find(&self, cx: &Cx<'_, Integration>, cmd: &OrderFind) -> Executed<OrderFound> {
        order::order_find(cx, cmd).await
    }

    async fn order_create(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &OrderCreate,
    ) -> Executed<OrderCreated> {
        order::order_create(cx, cmd).await
    }

    async fn order_set_status(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &OrderSetStatus,
    ) -> Executed<OrderStatusSet> {
        order::order_set_status(cx, cmd).await
    }

    async fn products_verify(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &ProductsVerify,
    ) -> Executed<ProductsVerified> {
        product::products_verify(cx, cmd).await
    }
}

pub(super) fn external_id(n: impl ToString) -> Result<ExternalId, CommandError> {
    ExternalId::parse(&n.to_string())
        .map_err(|e| CommandError::permanent(ErrorCode::Internal, e.to_string()))
}

/// Articles of the installation by SKU: `(product number, article)`. Asked together with the
/// lookups of other commands in flight (see [`Integration::articles`]).
pub(super) async fn articles_by_sku(
    integration: &Integration,
    skus: &[Sku],
) -> Result<HashMap<String, (i64, mk::Article)>, CommandError> {
    Ok(integration
        .articles(skus.iter().map(ToString::to_string).collect())
        .await?)
}

pub(super) fn check_sku(source: SkuSource, sku: &Sku) -> Result<(), CommandError> {
    if source == SkuSource::ArticleNumber && sku.as_str().parse::<i64>().is_err() {
        return Err(CommandError::permanent(
            ErrorCode::Mapping,
            format!(
                "SKU {sku} is not an MplusKASSA article number (this integration uses article numbers as SKUs)"
            ),
        ));
    }
    Ok(())
}

pub(super) fn cents(m: &ferry_proto::Money, what: &str) -> Result<i64, CommandError> {
    m.to_minor_units()
        .map_err(|e| CommandError::permanent(ErrorCode::Validation, format!("{what}: {e}")))
}
