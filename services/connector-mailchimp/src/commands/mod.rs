//! Executes canonical commands (`mailchimp.#` on the commands exchange, queue
//! `connector-mailchimp`) against MailChimp and replies with result events.
//!
//! | command | MailChimp calls | reply |
//! | --- | --- | --- |
//! | `customer.upsert` | look up by e-mail (`customers?email_address=`) unless the id is known, then `PUT customers/{id}` | `customer.upserted` |
//! | `customer.find` | `customers?email_address=` | `customer.found` |
//! | `product.upsert` | `GET products/{id}`, then `PUT products/{id}` with its variants (or only the missing variants when `overwrite_existing` is false) | `product.upserted` |
//! | `category.upsert` | none: MailChimp has no categories; the name is kept and becomes the `type` of products in that category | `category.upserted` |
//! | `stock.set` | `PATCH products/{id}/variants/{id}` `inventory_quantity` | `stock.set-done` |
//! | `order.find` | `GET orders/{id}` | `order.found` |
//! | `order.create` | `GET orders/{id}`, `POST orders` only when absent; after an ambiguous failure, look up again before posting again | `order.created` (`replayed` when it existed) |
//! | `products.verify` | `GET products/{id}/variants/{id}` per SKU | `products.verified` |
//! | `record.recheck` (own) | read the record again | the observed event, or the message is dead-lettered with the reason |
//!
//! Any failure replies `command.failed` (routed `mailchimp.<entity>.failed`) with a precise
//! [`FailureInfo`]. SKUs must be digits only ([`NumericSku`]): anything else is refused with a
//! `mapping` failure and no API call; a SKU is never altered. Product images are ignored.
//! MailChimp has no switch for "manage stock": `stock.set` always sets the quantity.
//!
//! **Idempotency.** The API calls are idempotent (PUT/PATCH with absolute values, lookups, a
//! create guarded by a lookup), so they run *before* the database transaction (no database lock
//! is held during network calls); then one transaction claims the message in the inbox, writes
//! the cross-references and puts the reply into the outbox. A duplicate delivery finds its id in
//! the inbox and is acknowledged without effect; a duplicate racing past that check repeats only
//! idempotent calls and loses the claim, so it publishes nothing.
//!
//! **Failures.** The client retries transient API failures a few times with backoff; if they
//! persist the delivery is retried by the bus (`Outcome::Retry`, exponential delay queues). On
//! the last attempt the connector replies `command.failed` (retryable) so the requester
//! learns, and dead-letters the message so an operator can replay it. Permanent failures
//! (validation, 4xx) reply `command.failed` and are acknowledged.

mod customer;
mod order;
mod product;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_mailchimp_wire as wire;
use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{Delivery, Outcome};
use ferry_platform::connector::{CommandError, Cx, Done, Executed, Lookup, Target, Xref};
use ferry_proto::messages::{
    CategoryUpsert, CategoryUpserted, CustomerFind, CustomerFound, CustomerUpsert,
    CustomerUpserted, ErrorCode, FailureInfo, IntegrationChanged, OrderCreate, OrderCreated,
    OrderFind, OrderFound, OrderSetStatus, OrderStatusSet, ProductUpsert, ProductUpserted,
    ProductsVerified, ProductsVerify, StockSet, StockSetDone,
};
use ferry_proto::model::Address;
use ferry_proto::{Envelope, ExternalId, IntegrationId, Message, Money, NumericSku, Sku, System};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use serde_json::json;

use crate::client::ClientError;
use crate::ingest::{Ingester, RecheckOutcome, RecordRecheck};
use crate::integrations::{Integration, Integrations};
use crate::registry::RegistryListener;
use crate::resource::Resource;
use crate::store::{self, XREFS, XrefKind};

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        let info = e.failure();
        if matches!(e, ClientError::Throttled { .. }) {
            Self::RateLimited {
                info,
                retry_after: None,
            }
        } else if e.is_transient() {
            Self::Transient(info)
        } else {
            Self::Permanent(info)
        }
    }
}

/// A command's result with the cross-references learnt.
fn effect<R>(reply: R, xrefs: Vec<Xref>) -> Executed<R> {
    Ok(Done { reply, xrefs })
}

/// MailChimp's side of the canonical commands, plus the connector's own `record.recheck`
/// and the registry's `integration.changed` on the same queue.
pub struct MailchimpTarget {
    db: DatabaseConnection,
    inbox: Inbox,
    outbox: Outbox,
    integrations: Arc<Integrations>,
    ingester: Arc<Ingester>,
    registry: Option<Arc<RegistryListener>>,
    wait_for_first_product_sync: bool,
    /// The products (integration, SKU) whose upsert was deferred during the first product
    /// sync and has not succeeded since: a stock update of one waits for it.
    deferred_products: std::sync::Mutex<std::collections::HashSet<(IntegrationId, String)>>,
}

impl MailchimpTarget {
    /// The target; `inbox` and `outbox` serve the connector's own `record.recheck`.
    pub fn new(
        db: DatabaseConnection,
        inbox: Inbox,
        outbox: Outbox,
        ingester: Arc<Ingester>,
    ) -> Self {
        Self {
            db,
            inbox,
            outbox,
            integrations: ingester.integrations().clone(),
            ingester,
            registry: None,
            wait_for_first_product_sync: false,
            deferred_products: std::sync::Mutex::default(),
        }
    }

    /// Defers the product commands of an integration (upsert, stock, verification) until its
    /// first product sync has finished (when polling with an initial sync is on): before that
    /// the cross-references do not know the store's existing products, so an upsert would
    /// create a second product with the same SKU under another id, and a stock update or a
    /// verification would not find a product whose id is not its SKU.
    pub fn waiting_for_first_product_sync(mut self, wait: bool) -> Self {
        self.wait_for_first_product_sync = wait;
        self
    }

    /// Also follows the integration registry (`integration.changed` on the same queue).
    pub fn with_registry(mut self, registry: Arc<RegistryListener>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// `Some(reason)` while the integration's first product sync has not finished.
    async fn first_product_sync_pending(&self, id: IntegrationId) -> Option<String> {
        if !self.wait_for_first_product_sync {
            return None;
        }
        let integration = self.integrations.get(id)?;
        if !integration
            .connection
            .resources
            .contains(&Resource::Products)
        {
            return None;
        }
        match store::CURSORS
            .get(&self.db, id, Resource::Products.as_str())
            .await
        {
            Ok(Some(cursor)) if cursor.watermark.is_some() => None,
            Ok(_) => Some(format!(
                "integration {id}: the first product sync has not finished, existing products are not known yet"
            )),
            Err(e) => Some(format!("cursor lookup failed: {e}")),
        }
    }

    async fn recheck(&self, delivery: &Delivery) -> Outcome {
        let command = match Envelope::<RecordRecheck>::decode(&delivery.message.body) {
            Ok(c) => c,
            Err(e) => {
                return Outcome::DeadLetter(format!(
                    "connector-mailchimp cannot decode record.recheck message {}: {e}",
                    delivery.message.message_id
                ));
            }
        };
        let integration = match self.integration(command.integration_id) {
            Lookup::Live(i) => i,
            Lookup::Paused => {
                return Outcome::Retry(format!(
                    "integration {} is not live; record.recheck {} deferred",
                    command.integration_id, command.message_id
                ));
            }
            Lookup::Unknown => {
                return Outcome::DeadLetter(format!(
                    "integration {} has no MailChimp connection in connector-mailchimp (record.recheck {})",
                    command.integration_id, command.message_id
                ));
            }
        };
        let fetched = self.ingester.fetch(&integration, &command.payload).await;
        let raw = match fetched {
            Ok(raw) => raw,
            Err(e) if e.is_transient() => return Outcome::Retry(e.to_string()),
            Err(e) => {
                return Outcome::DeadLetter(format!(
                    "cannot read MailChimp {} {}: {e}",
                    command.payload.resource.as_str(),
                    command.payload.mailchimp_id
                ));
            }
        };
        let result: Result<RecheckOutcome, String> = async {
            let Some(raw) = raw else {
                return Ok(RecheckOutcome::Gone);
            };
            let txn = self.db.begin().await.map_err(|e| e.to_string())?;
            if !self
                .inbox
                .claim(&txn, delivery.message.message_id)
                .await
                .map_err(|e| e.to_string())?
            {
                return Ok(RecheckOutcome::Done);
            }
            let outcome = self
                .ingester
                .apply(&txn, &integration, &command, &raw)
                .await
                .map_err(|e| e.to_string())?;
            match outcome {
                RecheckOutcome::Invalid(_) => txn.rollback().await.map_err(|e| e.to_string())?,
                _ => txn.commit().await.map_err(|e| e.to_string())?,
            }
            Ok(outcome)
        }
        .await;
        match result {
            Ok(RecheckOutcome::Done) => {
                self.outbox.wake();
                Outcome::Ack
            }
            Ok(RecheckOutcome::Gone) => {
                tracing::info!(integration = %integration.id(), record = %command.payload.mailchimp_id, "MailChimp record no longer exists; nothing to publish");
                Outcome::Ack
            }
            Ok(RecheckOutcome::Invalid(rejected)) => Outcome::DeadLetter(format!(
                "{rejected}; fix the record in MailChimp, then replay this message"
            )),
            Err(e) => Outcome::Retry(e),
        }
    }
}

#[async_trait]
impl Target for MailchimpTarget {
    type Integration = Integration;
    const SYSTEM: System = System::Mailchimp;

    fn integration(&self, id: IntegrationId) -> Lookup<Integration> {
        match self.integrations.get(id) {
            Some(i) if self.integrations.is_active(id) => Lookup::Live(i),
            Some(_) => Lookup::Paused,
            None => Lookup::Unknown,
        }
    }

    /// MailChimp's writes are idempotent by id (a new customer's id is derived from its
    /// e-mail, a product's from its SKU, an order's is its number): no record lease needed.
    fn serializes(&self, _message_type: &str) -> bool {
        false
    }

    async fn defer(
        &self,
        integration: IntegrationId,
        message_type: &str,
        record: &str,
    ) -> Option<String> {
        let pending = match message_type {
            "product.upsert" | "stock.set" | "products.verify" => {
                self.first_product_sync_pending(integration).await
            }
            _ => None,
        };
        let key = (integration, record.to_owned());
        let mut deferred = self
            .deferred_products
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (message_type, pending) {
            ("product.upsert", Some(reason)) => {
                deferred.insert(key);
                Some(reason)
            }
            // The product of this SKU waits in the delay queues: its stock waits too (else it
            // meets MailChimp's 404 and is refused for a product that is on its way).
            ("stock.set", None) if deferred.contains(&key) => Some(format!(
                "integration {integration}: the product of SKU {record} waits to be upserted"
            )),
            (_, pending) => pending,
        }
    }

    async fn other(&self, delivery: &Delivery) -> Option<Outcome> {
        match delivery.message.message_type() {
            RecordRecheck::MESSAGE_TYPE => Some(self.recheck(delivery).await),
            IntegrationChanged::MESSAGE_TYPE => Some(match &self.registry {
                Some(registry) => registry.handle(delivery).await,
                None => Outcome::Ack,
            }),
            _ => None,
        }
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
        let done = product::product_upsert(cx, cmd).await;
        if done.is_ok()
            && let Some(record) = cmd.record_key()
        {
            self.deferred_products
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&(cx.integration_id, record));
        }
        done
    }

    async fn category_upsert(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &CategoryUpsert,
    ) -> Executed<CategoryUpserted> {
        product::category_upsert(cx, cmd).await
    }

    async fn stock_set(&self, cx: &Cx<'_, Integration>, cmd: &StockSet) -> Executed<StockSetDone> {
        product::stock_set(cx, cmd).await
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

pub(super) fn external_id(id: &str) -> Result<ExternalId, CommandError> {
    ExternalId::parse(id).map_err(|e| {
        CommandError::Permanent(FailureInfo::new(
            ErrorCode::Internal,
            format!("MailChimp returned an id Ferry cannot carry: {e}"),
        ))
    })
}

pub(super) fn numeric(sku: &Sku) -> Result<NumericSku, CommandError> {
    NumericSku::from_sku(sku).map_err(|e| {
        CommandError::Permanent(
            FailureInfo::new(ErrorCode::Mapping, e.to_string())
                .with_details(json!({"sku": sku.as_str(), "rule": "MailChimp SKUs may contain digits (0-9) only"})),
        )
    })
}

pub(super) fn amount(m: &Money) -> wire::Amount {
    wire::Amount::from(m.amount())
}

pub(super) fn integer_quantity(q: &rust_decimal::Decimal, what: &str) -> Result<i64, CommandError> {
    if !q.fract().is_zero() {
        return Err(CommandError::Permanent(FailureInfo::new(
            ErrorCode::Validation,
            format!("{what} {q} is not a whole number; MailChimp quantities are integers"),
        )));
    }
    i64::try_from(q.mantissa() / 10i128.pow(q.scale())).map_err(|_| {
        CommandError::Permanent(FailureInfo::new(
            ErrorCode::Validation,
            format!("{what} {q} is out of range"),
        ))
    })
}

/// An e-commerce address (a customer's; an order's adds the name). The province is always
/// sent, blank without a region.
pub(super) fn address(a: &Address) -> wire::Address {
    wire::Address {
        address1: Some(a.street_line()),
        city: Some(a.city.as_str().to_owned()),
        postal_code: Some(a.postcode.as_str().to_owned()),
        province: Some(
            a.region
                .as_ref()
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
        ),
        country_code: Some(a.country.as_str().to_owned()),
        ..wire::Address::default()
    }
}

/// The product and variant ids of a SKU: from the cross-references, else the convention of
/// products Ferry creates (product id = variant id = SKU).
pub(super) async fn locate(
    db: &DatabaseConnection,
    integration: &Integration,
    sku: &NumericSku,
) -> Result<(String, String), DbErr> {
    if let Some(x) = XREFS
        .by_key(
            db,
            integration.id(),
            XrefKind::Variant.as_str(),
            sku.as_str(),
        )
        .await?
        && let Some((p, v)) = x.external_id.split_once('/')
    {
        return Ok((p.to_owned(), v.to_owned()));
    }
    Ok((sku.as_str().to_owned(), sku.as_str().to_owned()))
}
