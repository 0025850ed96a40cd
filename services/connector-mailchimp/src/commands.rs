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

use std::sync::Arc;

use async_trait::async_trait;
use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{Delivery, Outcome};
use ferry_platform::connector::{CommandError, Cx, Done, Executed, Lookup, Target, Xref};
use ferry_proto::messages::{
    CategoryUpsert, CategoryUpserted, CustomerFind, CustomerFound, CustomerUpsert,
    CustomerUpserted, ErrorCode, FailureInfo, IntegrationChanged, OrderCreate, OrderCreated,
    OrderFind, OrderFound, ProductRef, ProductUpsert, ProductUpserted, ProductsVerified,
    ProductsVerify, StockSet, StockSetDone,
};
use ferry_proto::model::{Address, Customer, CustomerKind, CustomerPlan, Product, ProductKind};
use ferry_proto::{
    Email, Envelope, ExternalId, IntegrationId, Message, Money, NumericSku, Sku, System,
};
use futures::StreamExt;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use serde_json::{Map, Value, json};

use crate::client::{ClientError, segment, subscriber_hash};
use crate::ingest::{Ingester, RecheckOutcome, RecordRecheck, Resource};
use crate::integrations::{Integration, Integrations};
use crate::records;
use crate::registry::RegistryListener;
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
        match store::cursor(&self.db, id, Resource::Products.as_str()).await {
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

    async fn defer(&self, integration: IntegrationId, message_type: &str) -> Option<String> {
        match message_type {
            "product.upsert" | "stock.set" | "products.verify" => {
                self.first_product_sync_pending(integration).await
            }
            _ => None,
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
        customer_upsert(cx, cmd).await
    }

    async fn customer_find(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &CustomerFind,
    ) -> Executed<CustomerFound> {
        customer_find(cx, cmd).await
    }

    async fn product_upsert(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &ProductUpsert,
    ) -> Executed<ProductUpserted> {
        product_upsert(cx, cmd).await
    }

    async fn category_upsert(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &CategoryUpsert,
    ) -> Executed<CategoryUpserted> {
        Self::category_upsert_in(cx, cmd).await
    }

    async fn stock_set(&self, cx: &Cx<'_, Integration>, cmd: &StockSet) -> Executed<StockSetDone> {
        stock_set(cx, cmd).await
    }

    async fn order_find(&self, cx: &Cx<'_, Integration>, cmd: &OrderFind) -> Executed<OrderFound> {
        order_find(cx, cmd).await
    }

    async fn order_create(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &OrderCreate,
    ) -> Executed<OrderCreated> {
        order_create(cx, cmd).await
    }

    async fn products_verify(
        &self,
        cx: &Cx<'_, Integration>,
        cmd: &ProductsVerify,
    ) -> Executed<ProductsVerified> {
        products_verify(cx, cmd).await
    }
}

// ---- customers ----------------------------------------------------------------------------

/// The id of the e-commerce customer with `email`, looked up in MailChimp.
async fn find_customer(
    integration: &Integration,
    email: &Email,
) -> Result<Option<String>, ClientError> {
    let page = integration
        .client
        .page(
            "customers.find",
            &format!("{}/customers", integration.store_path()),
            "customers",
            &[
                ("email_address", email.as_str().to_owned()),
                ("fields", "customers.id,total_items".into()),
            ],
            0,
            1,
        )
        .await?;
    Ok(page.items.first().and_then(records::id_of))
}

fn address_json(a: &Address) -> Value {
    let mut line = a.street.to_string();
    if let Some(n) = &a.house_number {
        line.push(' ');
        line.push_str(n.as_str());
    }
    if let Some(s) = &a.house_number_suffix {
        line.push_str(s.as_str());
    }
    json!({
        "address1": line,
        "city": a.city.as_str(),
        "postal_code": a.postcode.as_str(),
        "province": a.region.as_ref().map(|r| r.as_str()).unwrap_or_default(),
        "country_code": a.country.as_str(),
    })
}

fn customer_json(id: &str, c: &Customer) -> Value {
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert("email_address".into(), json!(c.email.as_str()));
    body.insert("opt_in_status".into(), json!(c.opted_in.unwrap_or(false)));
    if let Some(n) = &c.first_name {
        body.insert("first_name".into(), json!(n.as_str()));
    }
    if let Some(n) = &c.last_name {
        body.insert("last_name".into(), json!(n.as_str()));
    }
    if let CustomerKind::Company { company_name, .. } = &c.kind {
        body.insert("company".into(), json!(company_name.as_str()));
    }
    if let Some(a) = c.billing_address.as_ref().or(c.shipping_address.as_ref()) {
        body.insert("address".into(), address_json(a));
    }
    Value::Object(body)
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, email = %cmd.customer.email.masked()))]
async fn customer_upsert(
    cx: &Cx<'_, Integration>,
    cmd: &CustomerUpsert,
) -> Executed<CustomerUpserted> {
    let integration = &**cx.integration;
    integration.ensure_store().await?;
    let customer = &cmd.customer;
    let email = &customer.email;
    let known = match &cmd.existing_id {
        Some(id) => Some(id.to_string()),
        None => find_customer(integration, email).await?,
    };
    let created = known.is_none();
    // A new customer's id: stable per e-mail, so a retried upsert hits the same record.
    let mut id = known.unwrap_or_else(|| subscriber_hash(email.as_str()));
    let mut attempt = 0;
    let saved = loop {
        let path = format!("{}/customers/{}", integration.store_path(), segment(&id));
        match integration
            .client
            .put("customers.put", &path, &customer_json(&id, customer))
            .await
        {
            Ok(saved) => break saved,
            // The e-mail belongs to another customer id (created meanwhile): use that one.
            Err(ClientError::Rejected {
                status: 400,
                ref detail,
                ..
            }) if attempt == 0 && detail.contains("already exists") => {
                attempt += 1;
                match find_customer(integration, email).await? {
                    Some(other) if other != id => id = other,
                    _ => {
                        return Err(CommandError::from(ClientError::Rejected {
                            op: "customers.put",
                            status: 400,
                            title: "Bad Request".into(),
                            detail: detail.clone(),
                            errors: Vec::new(),
                        }));
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    let target_id = external_id(&id)?;
    effect(
        CustomerUpserted {
            target: System::Mailchimp,
            email: email.clone(),
            target_id,
            created,
        },
        vec![Xref {
            kind: XrefKind::Customer.as_str(),
            external_id: id,
            canonical_key: Some(email.to_string()),
            // Our own write is not observed again as a change.
            fingerprint: Some(records::fingerprint(&saved)),
        }],
    )
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, email = %cmd.email.masked()))]
async fn customer_find(cx: &Cx<'_, Integration>, cmd: &CustomerFind) -> Executed<CustomerFound> {
    let integration = &**cx.integration;
    integration.ensure_store().await?;
    let found = find_customer(integration, &cmd.email).await?;
    let found = found.as_deref().map(external_id).transpose()?;
    effect(
        CustomerFound {
            target: System::Mailchimp,
            email: cmd.email.clone(),
            found,
        },
        Vec::new(),
    )
}

// ---- products -----------------------------------------------------------------------------

fn external_id(id: &str) -> Result<ExternalId, CommandError> {
    ExternalId::parse(id).map_err(|e| {
        CommandError::Permanent(FailureInfo::new(
            ErrorCode::Internal,
            format!("MailChimp returned an id Ferry cannot carry: {e}"),
        ))
    })
}

fn numeric(sku: &Sku) -> Result<NumericSku, CommandError> {
    NumericSku::from_sku(sku).map_err(|e| {
        CommandError::Permanent(
            FailureInfo::new(ErrorCode::Mapping, e.to_string())
                .with_details(json!({"sku": sku.as_str(), "rule": "MailChimp SKUs may contain digits (0-9) only"})),
        )
    })
}

fn amount(m: &Money) -> Value {
    serde_json::from_str::<Value>(&m.amount().normalize().to_string()).unwrap_or(json!(0))
}

fn integer_quantity(q: &rust_decimal::Decimal, what: &str) -> Result<i64, CommandError> {
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

/// The variants MailChimp should have for `product`, keyed by id (= SKU).
fn variants_json(product: &Product) -> Result<Vec<Value>, CommandError> {
    let mut out = Vec::new();
    let variant = |sku: &NumericSku,
                   title: &str,
                   price: &Money,
                   qty: Option<&ferry_proto::Quantity>|
     -> Result<Value, CommandError> {
        let mut v = json!({"id": sku.as_str(), "sku": sku.as_str(), "title": title, "price": amount(price)});
        if let Some(q) = qty {
            v["inventory_quantity"] = json!(integer_quantity(&q.value(), "quantity")?);
        }
        Ok(v)
    };
    match &product.kind {
        ProductKind::Simple => {
            let sku = numeric(&product.sku)?;
            out.push(variant(
                &sku,
                product.title.as_str(),
                &product.price,
                product.quantity.as_ref(),
            )?);
        }
        ProductKind::Configurable { variants } => {
            for v in variants {
                let sku = numeric(&v.sku)?;
                let title = v.title.as_ref().unwrap_or(&product.title);
                let price = v.price.as_ref().unwrap_or(&product.price);
                out.push(variant(&sku, title.as_str(), price, v.quantity.as_ref())?);
            }
            if out.is_empty() {
                return Err(CommandError::Permanent(FailureInfo::new(
                    ErrorCode::Validation,
                    format!("configurable product {} has no variants", product.sku),
                )));
            }
        }
    }
    Ok(out)
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, sku = %cmd.product.sku))]
async fn product_upsert(
    cx: &Cx<'_, Integration>,
    cmd: &ProductUpsert,
) -> Executed<ProductUpserted> {
    let (db, integration) = (cx.db, &**cx.integration);
    let product = &cmd.product;
    // Refused before any call: a SKU is never altered.
    let sku = numeric(&product.sku)?;
    let variants = variants_json(product)?;
    integration.ensure_store().await?;
    let id = match XREFS
        .by_key(
            db,
            integration.id(),
            XrefKind::Product.as_str(),
            sku.as_str(),
        )
        .await?
    {
        Some(x) => x.external_id,
        None => sku.as_str().to_owned(),
    };
    let path = format!("{}/products/{}", integration.store_path(), segment(&id));
    let existing = integration
        .client
        .get_opt(
            "products.get",
            &path,
            &[("fields", "id,variants.id".into())],
        )
        .await?;
    let created = existing.is_none();
    let body = if existing.is_some() && !cmd.overwrite_existing {
        // Keep the product's information; only add variants it lacks.
        let have: Vec<String> = existing
            .as_ref()
            .and_then(|p| p.get("variants"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(records::id_of)
            .collect();
        let missing: Vec<Value> = variants
            .into_iter()
            .filter(|v| !have.iter().any(|h| Some(h.as_str()) == v["id"].as_str()))
            .collect();
        json!({"variants": missing})
    } else {
        let mut body = json!({
            "id": id,
            "title": product.title.as_str(),
            "variants": variants,
        });
        if let Some(d) = product
            .long_description
            .as_ref()
            .or(product.short_description.as_ref())
        {
            body["description"] = json!(d.as_str());
        }
        if let Some(category) = &product.category {
            let name = match &category.name {
                Some(n) => Some(n.to_string()),
                None => XREFS
                    .by_id(
                        db,
                        integration.id(),
                        XrefKind::Category.as_str(),
                        category.key.as_str(),
                    )
                    .await?
                    .and_then(|x| x.canonical_key),
            };
            body["type"] = json!(name.unwrap_or_else(|| category.key.to_string()));
        }
        if let Some(vendor) = product.properties.get("vendor") {
            body["vendor"] = json!(vendor);
        }
        body
    };
    let saved = if body["variants"].as_array().is_some_and(|v| v.is_empty())
        && !created
        && !cmd.overwrite_existing
    {
        existing.unwrap_or_default()
    } else {
        integration.client.put("products.put", &path, &body).await?
    };
    let mut xrefs = vec![Xref {
        kind: XrefKind::Product.as_str(),
        external_id: id.clone(),
        canonical_key: Some(sku.as_str().to_owned()),
        fingerprint: saved
            .get("updated_at")
            .map(|_| records::fingerprint(&saved)),
    }];
    let variant_skus: Vec<&Sku> = match &product.kind {
        ProductKind::Simple => vec![&product.sku],
        ProductKind::Configurable { variants } => variants.iter().map(|v| &v.sku).collect(),
    };
    for s in variant_skus {
        xrefs.push(Xref {
            kind: XrefKind::Variant.as_str(),
            external_id: format!("{id}/{s}"),
            canonical_key: Some(s.to_string()),
            fingerprint: None,
        });
    }
    let target_id = external_id(&id)?;
    effect(
        ProductUpserted {
            target: System::Mailchimp,
            sku: product.sku.clone(),
            target_id,
            created,
        },
        xrefs,
    )
}

impl MailchimpTarget {
    async fn category_upsert_in(
        cx: &Cx<'_, Integration>,
        cmd: &CategoryUpsert,
    ) -> Executed<CategoryUpserted> {
        let category = &cmd.category;
        let existed = XREFS
            .by_id(
                cx.db,
                cx.integration_id,
                XrefKind::Category.as_str(),
                category.key.as_str(),
            )
            .await?
            .is_some();
        effect(
            CategoryUpserted {
                target: System::Mailchimp,
                key: category.key.clone(),
                target_id: category.key.clone(),
                created: !existed,
            },
            vec![Xref {
                kind: XrefKind::Category.as_str(),
                external_id: category.key.to_string(),
                canonical_key: Some(category.name.to_string()),
                fingerprint: None,
            }],
        )
    }
}

/// The product and variant ids of a SKU: from the cross-references, else the convention of
/// products Ferry creates (product id = variant id = SKU).
async fn locate(
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

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, sku = %cmd.sku))]
async fn stock_set(cx: &Cx<'_, Integration>, cmd: &StockSet) -> Executed<StockSetDone> {
    let (db, integration) = (cx.db, &**cx.integration);
    let sku = numeric(&cmd.sku)?;
    let qty = integer_quantity(&cmd.quantity.value(), "quantity")?;
    let done = |managed| StockSetDone {
        target: System::Mailchimp,
        sku: cmd.sku.clone(),
        quantity: cmd.quantity,
        managed,
    };
    if !cmd.manage_stock {
        // MailChimp has no switch for stock tracking: a product whose stock MailChimp
        // should not manage keeps whatever inventory it has, untouched by Ferry.
        return effect(done(false), Vec::new());
    }
    integration.ensure_store().await?;
    let (product, variant) = locate(db, integration, &sku).await?;
    let path = format!(
        "{}/products/{}/variants/{}",
        integration.store_path(),
        segment(&product),
        segment(&variant)
    );
    match integration
        .client
        .patch("variants.patch", &path, &json!({"inventory_quantity": qty}))
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {
            return Err(CommandError::Permanent(
                FailureInfo::new(
                    ErrorCode::NotFound,
                    format!("no MailChimp product variant has SKU {sku}; upsert the product first"),
                )
                .with_retryable(false),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    effect(done(true), Vec::new())
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, skus = cmd.skus.len()))]
async fn products_verify(
    cx: &Cx<'_, Integration>,
    cmd: &ProductsVerify,
) -> Executed<ProductsVerified> {
    let (db, integration) = (cx.db, &**cx.integration);
    integration.ensure_store().await?;
    let checks = futures::stream::iter(cmd.skus.iter().cloned())
        .map(|sku| async move {
            let Ok(numeric) = NumericSku::from_sku(&sku) else {
                // A non-numeric SKU cannot exist in MailChimp.
                return Ok::<_, CommandError>((sku, None));
            };
            let (product, variant) = locate(db, integration, &numeric).await?;
            let path = format!(
                "{}/products/{}/variants/{}",
                integration.store_path(),
                segment(&product),
                segment(&variant)
            );
            let found = integration
                .client
                .get_opt("variants.get", &path, &[("fields", "id".into())])
                .await?;
            Ok((sku, found.map(|_| product)))
        })
        .buffered(integration.client.concurrency());
    let results: Vec<Result<(Sku, Option<String>), CommandError>> = checks.collect().await;
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for r in results {
        match r? {
            (sku, None) => missing.push(sku),
            (sku, Some(product)) => found.push(ProductRef {
                sku,
                target_id: external_id(&product)?,
            }),
        }
    }
    effect(
        ProductsVerified {
            target: System::Mailchimp,
            missing,
            found,
        },
        Vec::new(),
    )
}

// ---- orders -------------------------------------------------------------------------------

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, order = %cmd.external_id))]
async fn order_find(cx: &Cx<'_, Integration>, cmd: &OrderFind) -> Executed<OrderFound> {
    let integration = &**cx.integration;
    integration.ensure_store().await?;
    let id = cmd.external_id.as_str();
    let path = format!("{}/orders/{}", integration.store_path(), segment(id));
    let found = integration
        .client
        .get_opt("orders.get", &path, &[("fields", "id".into())])
        .await?;
    effect(
        OrderFound {
            target: System::Mailchimp,
            external_id: cmd.external_id.clone(),
            found: found.map(|_| cmd.external_id.clone()),
        },
        Vec::new(),
    )
}

fn order_address(a: &Address, name: Option<String>) -> Value {
    let mut v = address_json(a);
    if let Some(name) = name {
        v["name"] = json!(name);
    }
    v
}

async fn order_json(
    db: &DatabaseConnection,
    integration: &Integration,
    command: &OrderCreate,
) -> Result<Value, CommandError> {
    let order = command.order.order();
    let customer = match command.order.customer_plan() {
        CustomerPlan::Upsert { customer } => customer.as_ref().clone(),
        CustomerPlan::DefaultDebtor { .. } => order.customer.clone(),
    };
    let mut customer_body = customer_json(command.customer_id.as_str(), &customer);
    if let Some(obj) = customer_body.as_object_mut() {
        obj.remove("address");
    }
    let mut lines = Vec::new();
    for (i, line) in order.lines.iter().enumerate() {
        let sku = numeric(&line.sku)?;
        let (product, variant) = locate(db, integration, &sku).await?;
        let mut l = json!({
            "id": format!("{}-{}", order.external_id, i + 1),
            "product_id": product,
            "product_variant_id": variant,
            "quantity": integer_quantity(&line.quantity.value(), &format!("line {} quantity", i + 1))?,
            "price": amount(&line.unit_price),
        });
        if let Some(d) = &line.discount {
            l["discount"] = amount(d);
        }
        lines.push(l);
    }
    let mut body = json!({
        "id": order.external_id.as_str(),
        "customer": customer_body,
        "currency_code": order.currency.as_str(),
        "order_total": amount(&order.totals.total),
        "tax_total": amount(&order.totals.tax),
        "shipping_total": amount(&order.totals.shipping),
        "processed_at_foreign": order.placed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "lines": lines,
    });
    let name = customer.full_name();
    if let Some(a) = &order.billing_address {
        body["billing_address"] = order_address(a, name.clone());
    }
    if let Some(a) = &order.shipping_address {
        body["shipping_address"] = order_address(a, name);
    }
    Ok(body)
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, order = %cmd.order.order().external_id))]
async fn order_create(cx: &Cx<'_, Integration>, cmd: &OrderCreate) -> Executed<OrderCreated> {
    let (db, integration) = (cx.db, &**cx.integration);
    let body = order_json(db, integration, cmd).await?;
    integration.ensure_store().await?;
    let external = &cmd.order.order().external_id;
    let path = format!(
        "{}/orders/{}",
        integration.store_path(),
        segment(external.as_str())
    );
    let orders = format!("{}/orders", integration.store_path());
    let max = 3;
    let mut replayed = false;
    let mut saved = Value::Null;
    for attempt in 1..=max {
        // Look up before every create: a timeout or a broken answer may have created it.
        if let Some(found) = integration
            .client
            .get_opt("orders.get", &path, &[("fields", "id,updated_at".into())])
            .await?
        {
            replayed = true;
            saved = found;
            break;
        }
        match integration
            .client
            .post_once("orders.post", &orders, &body)
            .await
        {
            Ok(created) => {
                saved = created;
                break;
            }
            Err(e) if e.is_transient() && attempt < max => {
                tracing::info!(error = %e, "order create may or may not have happened; looking it up");
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    effect(
        OrderCreated {
            target: System::Mailchimp,
            external_id: external.clone(),
            target_id: external.clone(),
            replayed,
        },
        vec![Xref {
            kind: XrefKind::Order.as_str(),
            external_id: external.to_string(),
            canonical_key: Some(external.to_string()),
            fingerprint: saved
                .get("updated_at")
                .map(|_| records::fingerprint(&saved)),
        }],
    )
}
