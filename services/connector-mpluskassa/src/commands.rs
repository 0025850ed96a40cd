//! Executes the canonical commands addressed to MplusKASSA (`mpluskassa.#` on the commands
//! exchange, queue `connector-mpluskassa`) and replies with result events.
//!
//! Commands that change a record take a lease on it first (`mpluskassa_locks`), so two
//! deliveries for one new e-mail (or SKU, or order) never both create it, on any replica.
//! Each command is idempotent at MplusKASSA: relations are looked up by e-mail
//! (`findRelationV2` with `exactMatch`) before one is created, products by SKU, article groups
//! by cross-reference or by name under their parent, stock is set absolutely, and orders are
//! created with `createOrderV3` and the command's idempotency key (a replay answers the first
//! attempt's result). The reply, the cross-references and the inbox claim commit in one
//! transaction after the effect; a redelivered command runs again idempotently, a duplicate
//! one whose reply is committed is acknowledged without effect.
//!
//! Failures: transient ones (timeouts, 5xx, `Server` faults, unreadable answers) are retried
//! through the bus's delay queues; on the last attempt, and for permanent ones (refused
//! credentials, MplusKASSA's business refusals, invalid commands), a `command.failed` reply
//! with a precise [`FailureInfo`] is sent and the command acknowledged. Messages that are no
//! command of this catalogue are dead-lettered.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{BusMessage, Delivery, Handler, Outcome};
use ferry_proto::messages::{
    CategoryUpsert, CategoryUpserted, CommandFailed, CustomerFind, CustomerFound, CustomerUpsert,
    CustomerUpserted, ErrorCode, FailureInfo, IntegrationChanged, OrderCreate, OrderCreated,
    OrderFind, OrderFound, ProductRef, ProductUpsert, ProductUpserted, ProductsVerified,
    ProductsVerify, StockSet, StockSetDone,
};
use ferry_proto::model::{CustomerKind, ProductKind};
use ferry_proto::{Envelope, ExternalId, Message, Sku, System};
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{MplusError, OrderCreation};
use crate::config::SkuSource;
use crate::convert;
use crate::integrations::{Integration, Integrations};
use crate::registry::RegistryListener;
use crate::soap::requests::{
    ArticleWrite, LineWrite, OrderWrite, PaymentWrite, ProductQuery, ProductWrite,
};
use crate::soap::types::{self as mk, quantity_to_wire};
use crate::store::{self, XrefKind};

/// Why a command did not succeed.
#[derive(Debug)]
pub enum CommandError {
    /// May pass later: retry through the bus (or, on the last attempt, reply failed).
    Transient(FailureInfo),
    /// Will not pass as it is: reply failed.
    Permanent(FailureInfo),
}

impl CommandError {
    fn permanent(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Permanent(FailureInfo::new(code, message).with_retryable(false))
    }

    fn info(self) -> FailureInfo {
        match self {
            Self::Transient(f) | Self::Permanent(f) => f,
        }
    }
}

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

impl From<DbErr> for CommandError {
    fn from(e: DbErr) -> Self {
        Self::Transient(FailureInfo::new(
            ErrorCode::Unavailable,
            format!("database: {e}"),
        ))
    }
}

/// What an executed command leaves behind: its reply and cross-references to record.
struct Done<R> {
    reply: R,
    xrefs: Vec<(XrefKind, String, String)>,
}

impl<R> Done<R> {
    fn new(reply: R) -> Self {
        Self {
            reply,
            xrefs: Vec::new(),
        }
    }

    fn xref(mut self, kind: XrefKind, key: impl Into<String>, target: impl Into<String>) -> Self {
        self.xrefs.push((kind, key.into(), target.into()));
        self
    }
}

/// What a command executes against: the integration and this service's database.
pub struct Ctx {
    integration: Arc<Integration>,
    db: DatabaseConnection,
}

impl Ctx {
    async fn xref(&self, kind: XrefKind, key: &str) -> Result<Option<String>, CommandError> {
        Ok(store::xref(&self.db, &self.integration.key(), kind, key).await?)
    }
}

type Execution<'a, R> = BoxFuture<'a, Result<Done<R>, CommandError>>;

/// The command handler.
#[derive(Clone)]
pub struct Commands {
    db: DatabaseConnection,
    outbox: Outbox,
    inbox: Inbox,
    integrations: Integrations,
    max_attempts: u32,
    registry: Option<Arc<RegistryListener>>,
}

impl Commands {
    /// A handler committing replies through `outbox`; `max_attempts` is the bus retry
    /// policy's, so the last attempt replies instead of retrying.
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        inbox: Inbox,
        integrations: Integrations,
        max_attempts: u32,
    ) -> Self {
        Self {
            db,
            outbox,
            inbox,
            integrations,
            max_attempts,
            registry: None,
        }
    }

    /// Also follows the integration registry (`integration.changed` on the same queue).
    pub fn with_registry(mut self, registry: Arc<RegistryListener>) -> Self {
        self.registry = Some(registry);
        self
    }

    async fn run<C, R, F>(&self, delivery: &Delivery, execute: F) -> Outcome
    where
        C: Message + DeserializeOwned + Send + Sync,
        R: Message + Serialize + Send,
        F: for<'a> FnOnce(&'a Ctx, &'a C) -> Execution<'a, R>,
    {
        let envelope = match Envelope::<C>::decode(&delivery.message.body) {
            Ok(e) => e,
            Err(e) => {
                return Outcome::DeadLetter(format!(
                    "{} {} cannot be decoded: {e}",
                    C::MESSAGE_TYPE,
                    delivery.message.message_id
                ));
            }
        };
        match self
            .inbox
            .contains(&self.db, delivery.message.message_id)
            .await
        {
            Ok(true) => return Outcome::Ack,
            Ok(false) => {}
            Err(e) => return Outcome::Retry(format!("inbox: {e}")),
        }
        let record = envelope.payload.record_key().unwrap_or_default();
        if !self.integrations.is_active(envelope.integration_id) {
            // Paused (or still a draft): deferred through the delay queues, never lost; once
            // the retries are used up it is parked and can be replayed.
            return Outcome::Retry(format!(
                "integration {} is not live; {} {} deferred",
                envelope.integration_id,
                C::MESSAGE_TYPE,
                envelope.message_id
            ));
        }
        let result = match self.integrations.get(envelope.integration_id) {
            Some(integration) => {
                let cx = Ctx {
                    integration,
                    db: self.db.clone(),
                };
                // Commands that change one record run one at a time per record (two
                // deliveries for one new e-mail must not both create a relation).
                let lease = match C::KIND {
                    ferry_proto::MessageKind::Command if mutates(C::MESSAGE_TYPE) => {
                        let entity = C::MESSAGE_TYPE.split('.').next().unwrap_or_default();
                        let key = format!("{entity}:{}", record.to_lowercase());
                        match self.lock(&cx, &key).await {
                            Ok(holder) => Some((key, holder)),
                            Err(reason) => return Outcome::Retry(reason),
                        }
                    }
                    _ => None,
                };
                let result = execute(&cx, &envelope.payload).await;
                if let Some((key, holder)) = lease
                    && let Err(e) =
                        store::unlock(&self.db, &cx.integration.key(), &key, holder).await
                {
                    tracing::warn!(error = %e, "releasing a record lease failed; it expires by itself");
                }
                result
            }
            None => Err(CommandError::permanent(
                ErrorCode::NotFound,
                format!(
                    "no MplusKASSA connection is configured for integration {}",
                    envelope.integration_id
                ),
            )),
        };
        let (reply, xrefs) = match result {
            Ok(done) => {
                tracing::info!(command = C::MESSAGE_TYPE, record = %mask(&record), "command executed");
                let reply = Envelope::caused_by(&envelope, done.reply);
                (
                    BusMessage::from_envelope(&ferry_platform::bus::with_current_trace(reply)),
                    done.xrefs,
                )
            }
            Err(CommandError::Transient(info)) if delivery.attempt < self.max_attempts => {
                tracing::warn!(command = C::MESSAGE_TYPE, record = %mask(&record), attempt = delivery.attempt, error = %info.message, "command failed transiently; retrying");
                return Outcome::Retry(info.message);
            }
            Err(error) => {
                let info = error.info();
                tracing::warn!(command = C::MESSAGE_TYPE, record = %mask(&record), code = %info.code, error = %info.message, "command failed");
                let failed = CommandFailed::for_command(&envelope.payload, info);
                let reply = Envelope::caused_by(&envelope, failed);
                (
                    BusMessage::from_envelope(&ferry_platform::bus::with_current_trace(reply)),
                    Vec::new(),
                )
            }
        };
        let reply = match reply {
            Ok(m) => m,
            Err(e) => {
                return Outcome::DeadLetter(format!(
                    "the reply to {record} cannot be encoded: {e}"
                ));
            }
        };
        match self
            .commit(
                delivery,
                &envelope.integration_id.to_string(),
                &reply,
                &xrefs,
            )
            .await
        {
            Ok(()) => {
                self.outbox.wake();
                Outcome::Ack
            }
            Err(e) => Outcome::Retry(format!("committing the reply: {e}")),
        }
    }

    /// Waits for the lease of `key` (up to [`LEASE`]); the lease outlives a crashed holder by
    /// at most that long.
    async fn lock(&self, cx: &Ctx, key: &str) -> Result<uuid::Uuid, String> {
        let deadline = tokio::time::Instant::now() + LEASE;
        loop {
            match store::try_lock(&self.db, &cx.integration.key(), key, LEASE * 2).await {
                Ok(Some(holder)) => return Ok(holder),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                Ok(None) => return Err(format!("record {key} is busy with another command")),
                Err(e) => return Err(format!("record lease: {e}")),
            }
        }
    }

    async fn commit(
        &self,
        delivery: &Delivery,
        integration: &str,
        reply: &BusMessage,
        xrefs: &[(XrefKind, String, String)],
    ) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        if !self.inbox.claim(&txn, delivery.message.message_id).await? {
            txn.rollback().await?;
            return Ok(());
        }
        for (kind, key, target) in xrefs {
            store::put_xref(&txn, integration, *kind, key, target).await?;
        }
        self.outbox.enqueue(&txn, reply).await?;
        txn.commit().await
    }
}

/// How long a command waits for another one on the same record.
const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// Commands that change a record (and so are serialized per record).
fn mutates(message_type: &str) -> bool {
    matches!(
        message_type,
        "customer.upsert" | "product.upsert" | "category.upsert" | "stock.set" | "order.create"
    )
}

/// Masks e-mail addresses in record keys for logs.
fn mask(record: &str) -> String {
    if record.contains('@') {
        ferry_proto::mask_email(record)
    } else {
        record.to_owned()
    }
}

#[async_trait]
impl Handler for Commands {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        match delivery.message.message_type() {
            CustomerUpsert::MESSAGE_TYPE => {
                self.run(delivery, |cx, c| Box::pin(customer_upsert(cx, c)))
                    .await
            }
            CustomerFind::MESSAGE_TYPE => {
                self.run(delivery, |cx, c| Box::pin(customer_find(cx, c)))
                    .await
            }
            ProductUpsert::MESSAGE_TYPE => {
                self.run(delivery, |cx, c| Box::pin(product_upsert(cx, c)))
                    .await
            }
            CategoryUpsert::MESSAGE_TYPE => {
                self.run(delivery, |cx, c| Box::pin(category_upsert(cx, c)))
                    .await
            }
            StockSet::MESSAGE_TYPE => self.run(delivery, |cx, c| Box::pin(stock_set(cx, c))).await,
            OrderFind::MESSAGE_TYPE => {
                self.run(delivery, |cx, c| Box::pin(order_find(cx, c)))
                    .await
            }
            OrderCreate::MESSAGE_TYPE => {
                self.run(delivery, |cx, c| Box::pin(order_create(cx, c)))
                    .await
            }
            ProductsVerify::MESSAGE_TYPE => {
                self.run(delivery, |cx, c| Box::pin(products_verify(cx, c)))
                    .await
            }
            IntegrationChanged::MESSAGE_TYPE => match &self.registry {
                Some(registry) => registry.handle(delivery).await,
                None => Outcome::Ack,
            },
            other => Outcome::DeadLetter(format!(
                "{other} ({}) is not a command connector-mpluskassa executes",
                delivery.message.message_id
            )),
        }
    }
}

/// The relation of an e-mail address: the number known from a previous command, checked,
/// else `findRelationV2` with `exactMatch`.
async fn find_relation(
    integration: &Integration,
    known: Option<i64>,
    email: &str,
) -> Result<Option<mk::Relation>, MplusError> {
    if let Some(n) = known
        && let Some(r) = integration.client.relation(n).await?
        && r.email.eq_ignore_ascii_case(email)
    {
        return Ok(Some(r));
    }
    integration.client.find_relation_by_email(email).await
}

async fn customer_upsert(
    cx: &Ctx,
    cmd: &CustomerUpsert,
) -> Result<Done<CustomerUpserted>, CommandError> {
    let integration = &*cx.integration;
    let email = cmd.customer.email.as_str();
    let known = match cmd
        .existing_id
        .as_ref()
        .and_then(|id| id.as_str().parse().ok())
    {
        Some(n) => Some(n),
        None => cx
            .xref(XrefKind::Relation, email)
            .await?
            .and_then(|n| n.parse().ok()),
    };
    let existing = find_relation(integration, known, email).await?;
    let (number, created) = match &existing {
        Some(r) => {
            let write = convert::relation_write(&cmd.customer, Some(r));
            integration.client.update_relation(&write).await?;
            (r.relation_number, false)
        }
        None => {
            let write = convert::relation_write(&cmd.customer, None);
            (integration.client.create_relation(&write).await?, true)
        }
    };
    let target_id = external_id(number)?;
    Ok(Done::new(CustomerUpserted {
        target: System::Mpluskassa,
        email: cmd.customer.email.clone(),
        target_id,
        created,
    })
    .xref(XrefKind::Relation, email, number.to_string()))
}

async fn customer_find(cx: &Ctx, cmd: &CustomerFind) -> Result<Done<CustomerFound>, CommandError> {
    let integration = &*cx.integration;
    let found = integration
        .client
        .find_relation_by_email(cmd.email.as_str())
        .await?;
    let mut done = Done::new(CustomerFound {
        target: System::Mpluskassa,
        email: cmd.email.clone(),
        found: found
            .as_ref()
            .map(|r| external_id(r.relation_number))
            .transpose()?,
    });
    if let Some(r) = found {
        done = done.xref(
            XrefKind::Relation,
            cmd.email.as_str(),
            r.relation_number.to_string(),
        );
    }
    Ok(done)
}

fn external_id(n: impl ToString) -> Result<ExternalId, CommandError> {
    ExternalId::parse(&n.to_string())
        .map_err(|e| CommandError::permanent(ErrorCode::Internal, e.to_string()))
}

/// Articles of the installation by SKU: `(product number, article)`.
async fn articles_by_sku(
    integration: &Integration,
    skus: &[Sku],
) -> Result<HashMap<String, (i64, mk::Article)>, CommandError> {
    let source = integration.settings.sku_source;
    let mut found = HashMap::new();
    for chunk in skus.chunks(200) {
        let mut query = ProductQuery {
            include_all_articles: true,
            ..ProductQuery::default()
        };
        match source {
            SkuSource::PluNumber => {
                query.plu_numbers = chunk.iter().map(ToString::to_string).collect();
            }
            SkuSource::ArticleNumber => {
                query.article_numbers = chunk
                    .iter()
                    .filter_map(|s| s.as_str().parse().ok())
                    .collect();
                if query.article_numbers.is_empty() {
                    continue;
                }
            }
        }
        for (p, _) in integration
            .client
            .products(&query)
            .await?
            .into_iter()
            .filter_map(crate::client::Listed::ok)
        {
            for a in p.articles {
                if let Ok(sku) = convert::article_sku(source, &a) {
                    found.insert(sku.to_string(), (p.product_number, a));
                }
            }
        }
    }
    found.retain(|sku, _| skus.iter().any(|s| s.as_str() == sku));
    Ok(found)
}

fn check_sku(source: SkuSource, sku: &Sku) -> Result<(), CommandError> {
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

fn cents(m: &ferry_proto::Money, what: &str) -> Result<i64, CommandError> {
    m.to_minor_units()
        .map_err(|e| CommandError::permanent(ErrorCode::Validation, format!("{what}: {e}")))
}

async fn product_upsert(
    cx: &Ctx,
    cmd: &ProductUpsert,
) -> Result<Done<ProductUpserted>, CommandError> {
    let integration = &*cx.integration;
    let settings = &integration.settings;
    let p = &cmd.product;
    // The sellable items: the variants of a configurable product, else the product itself.
    struct Item<'a> {
        sku: &'a Sku,
        title: String,
        price: i64,
        barcode: Option<String>,
        colour: Option<String>,
        size: Option<String>,
    }
    let attr = |attrs: &[ferry_proto::model::Attribute], names: &[&str]| {
        attrs
            .iter()
            .find(|a| {
                names
                    .iter()
                    .any(|n| a.name.as_str().eq_ignore_ascii_case(n))
            })
            .map(|a| a.value.to_string())
    };
    let base_price = cents(&p.price, &format!("price of {}", p.sku))?;
    let items: Vec<Item<'_>> = match &p.kind {
        ProductKind::Simple => vec![Item {
            sku: &p.sku,
            title: p.title.to_string(),
            price: base_price,
            barcode: p.gtin.as_ref().map(ToString::to_string),
            colour: attr(&p.attributes, &["colour", "color", "kleur"]),
            size: attr(&p.attributes, &["size", "maat"]),
        }],
        ProductKind::Configurable { variants } => {
            let mut items = Vec::with_capacity(variants.len());
            for v in variants {
                items.push(Item {
                    sku: &v.sku,
                    title: v.title.as_ref().unwrap_or(&p.title).to_string(),
                    price: match &v.price {
                        Some(m) => cents(m, &format!("price of {}", v.sku))?,
                        None => base_price,
                    },
                    barcode: v.gtin.as_ref().map(ToString::to_string),
                    colour: attr(&v.attributes, &["colour", "color", "kleur"]),
                    size: attr(&v.attributes, &["size", "maat"]),
                });
            }
            items
        }
    };
    if items.is_empty() {
        return Err(CommandError::permanent(
            ErrorCode::Validation,
            format!("product {} has no variants", p.sku),
        ));
    }
    for item in &items {
        check_sku(settings.sku_source, item.sku)?;
    }
    let skus: Vec<Sku> = items.iter().map(|i| i.sku.clone()).collect();
    let existing = articles_by_sku(integration, &skus).await?;
    let product_number = existing.values().map(|(p, _)| *p).next();

    if let Some(number) = product_number
        && !cmd.overwrite_existing
    {
        let mut done = Done::new(ProductUpserted {
            target: System::Mpluskassa,
            sku: p.sku.clone(),
            target_id: external_id(number)?,
            created: false,
        });
        for (sku, (_, a)) in &existing {
            done = done.xref(XrefKind::Article, sku.clone(), a.article_number.to_string());
        }
        return Ok(done);
    }

    let group = match &p.category {
        Some(c) => {
            // The group recorded for the category key (never the key read as a number).
            cx.xref(XrefKind::Category, c.key.as_str())
                .await?
                .and_then(|g| g.parse().ok())
        }
        None => None,
    };
    let (turnover, vat_code) = article_codes(integration, p.tax_rate.map(|t| t.value())).await?;
    let price_incl = p.price_includes_tax;
    let writes: Vec<ArticleWrite> = items
        .iter()
        .map(|item| {
            let current = existing
                .get(item.sku.as_str())
                .map(|(_, a)| a.article_number);
            ArticleWrite {
                article_number: current.or_else(|| match settings.sku_source {
                    SkuSource::ArticleNumber => item.sku.as_str().parse().ok(),
                    SkuSource::PluNumber => None,
                }),
                plu_number: match settings.sku_source {
                    SkuSource::PluNumber => Some(item.sku.to_string()),
                    SkuSource::ArticleNumber => None,
                },
                active: Some(true),
                description: Some(item.title.clone()),
                colour: item.colour.clone(),
                size: item.size.clone(),
                barcode: item.barcode.clone(),
                extra_text: p.short_description.as_ref().map(ToString::to_string),
                turnover_group: current.is_none().then_some(turnover).flatten(),
                vat_code: current.is_none().then_some(vat_code).flatten(),
                price_incl: price_incl.then_some(item.price),
                price_excl: (!price_incl).then_some(item.price),
                webshop: Some(true),
                stock_article: current.is_none().then_some(true),
            }
        })
        .collect();
    let write = ProductWrite {
        product_number,
        description: Some(p.title.to_string()),
        extra_text: p.long_description.as_ref().map(ToString::to_string),
        articles: writes,
        group_numbers: group.map(|g| vec![g]),
    };
    let (number, created) = match product_number {
        Some(n) => {
            integration.client.update_product(&write).await?;
            (n, false)
        }
        None => (integration.client.create_product(&write).await?.0, true),
    };
    let now = articles_by_sku(integration, &skus).await?;
    let mut done = Done::new(ProductUpserted {
        target: System::Mpluskassa,
        sku: p.sku.clone(),
        target_id: external_id(number)?,
        created,
    });
    for (sku, (_, a)) in now {
        done = done.xref(XrefKind::Article, sku, a.article_number.to_string());
    }
    Ok(done)
}

/// Turnover group and VAT code of new articles: the configured turnover group (else the
/// installation's first), the VAT group whose rate matches (else the configured default).
async fn article_codes(
    integration: &Integration,
    rate: Option<Decimal>,
) -> Result<(Option<i32>, Option<i32>), CommandError> {
    let settings = &integration.settings;
    let turnover = match settings.default_turnover_group {
        Some(t) => Some(t),
        None => integration
            .client
            .turnover_groups()
            .await?
            .first()
            .map(|t| t.number),
    };
    let vat = match rate {
        Some(rate) => {
            let (groups, _) = integration.vat().await?;
            groups
                .iter()
                .find(|g| g.percent == rate.normalize())
                .map(|g| g.vat_code)
                .or(settings.default_vat_code)
        }
        None => settings.default_vat_code,
    };
    Ok((turnover, vat))
}

async fn category_upsert(
    cx: &Ctx,
    cmd: &CategoryUpsert,
) -> Result<Done<CategoryUpserted>, CommandError> {
    let integration = &*cx.integration;
    let c = &cmd.category;
    let tree = integration.client.article_group_tree().await?;
    // Category keys belong to the source system: a key is never read as a group number. The
    // group of a key is the one recorded for it (if it still exists).
    let recorded = async |key: &str| -> Result<Option<i32>, CommandError> {
        Ok(cx
            .xref(XrefKind::Category, key)
            .await?
            .and_then(|g| g.parse::<i32>().ok())
            .filter(|g| tree.iter().any(|t| t.group_number == *g && !t.is_deleted)))
    };
    let parent = match &c.parent {
        None => 0,
        Some(key) => match recorded(key.as_str()).await? {
            Some(n) => n,
            None => {
                return Err(CommandError::Transient(
                    FailureInfo::new(
                        ErrorCode::NotFound,
                        format!(
                            "the parent category {key} of category {} is not in MplusKASSA yet",
                            c.key
                        ),
                    )
                    .with_retryable(true),
                ));
            }
        },
    };
    // Else a group with the same name under the same parent, so a creation whose answer was
    // lost is found instead of repeated.
    let existing = match recorded(c.key.as_str()).await? {
        Some(n) => Some(n),
        None => tree
            .iter()
            .find(|g| {
                !g.is_deleted && g.parent == parent && g.name.eq_ignore_ascii_case(c.name.as_str())
            })
            .map(|g| g.group_number),
    };
    let (number, created) = match existing {
        Some(n) => {
            integration
                .client
                .update_article_group(n, c.name.as_str(), parent)
                .await?;
            (n, false)
        }
        None => (
            integration
                .client
                .new_article_group(parent, c.name.as_str())
                .await?,
            true,
        ),
    };
    Ok(Done::new(CategoryUpserted {
        target: System::Mpluskassa,
        key: c.key.clone(),
        target_id: external_id(number)?,
        created,
    })
    .xref(XrefKind::Category, c.key.as_str(), number.to_string()))
}

async fn stock_set(cx: &Ctx, cmd: &StockSet) -> Result<Done<StockSetDone>, CommandError> {
    let integration = &*cx.integration;
    check_sku(integration.settings.sku_source, &cmd.sku)?;
    let found = articles_by_sku(integration, std::slice::from_ref(&cmd.sku)).await?;
    let Some((product, article)) = found.get(cmd.sku.as_str()).cloned() else {
        return Err(CommandError::permanent(
            ErrorCode::NotFound,
            format!("SKU {} does not exist in MplusKASSA", cmd.sku),
        ));
    };
    let branch = integration.settings.branch;
    if cmd.manage_stock != article.stock_article {
        integration
            .client
            .update_product(&ProductWrite {
                product_number: Some(product),
                articles: vec![ArticleWrite {
                    article_number: Some(article.article_number),
                    stock_article: Some(cmd.manage_stock),
                    ..ArticleWrite::default()
                }],
                ..ProductWrite::default()
            })
            .await?;
    }
    if cmd.manage_stock {
        integration
            .client
            .set_stock(branch, article.article_number, cmd.quantity.value(), None)
            .await?;
    }
    Ok(Done::new(StockSetDone {
        target: System::Mpluskassa,
        sku: cmd.sku.clone(),
        quantity: cmd.quantity,
        managed: cmd.manage_stock,
    })
    .xref(
        XrefKind::Article,
        cmd.sku.as_str(),
        article.article_number.to_string(),
    ))
}

async fn order_find(cx: &Ctx, cmd: &OrderFind) -> Result<Done<OrderFound>, CommandError> {
    let integration = &*cx.integration;
    let found = integration
        .client
        .find_order(cmd.external_id.as_str())
        .await?;
    let mut done = Done::new(OrderFound {
        target: System::Mpluskassa,
        external_id: cmd.external_id.clone(),
        found: found
            .as_ref()
            .map(|o| external_id(&o.order_id))
            .transpose()?,
    });
    if let Some(o) = found {
        done = done.xref(XrefKind::Order, cmd.external_id.as_str(), o.order_id);
    }
    Ok(done)
}

async fn order_create(cx: &Ctx, cmd: &OrderCreate) -> Result<Done<OrderCreated>, CommandError> {
    let integration = &*cx.integration;
    let settings = &integration.settings;
    let target = &cmd.order;
    let order = target.order();
    let ext = order.external_id.as_str();
    let employee = target.employee_number().ok_or_else(|| {
        CommandError::permanent(
            ErrorCode::Validation,
            format!("order {ext} has no employee number, which MplusKASSA orders require"),
        )
    })?;
    let relation: i64 = cmd.customer_id.as_str().parse().map_err(|_| {
        CommandError::permanent(
            ErrorCode::Validation,
            format!(
                "order {ext}: customer id {} is not a relation number",
                cmd.customer_id
            ),
        )
    })?;
    let skus = order.skus();
    for sku in &skus {
        check_sku(settings.sku_source, sku)?;
    }
    let articles = articles_by_sku(integration, &skus).await?;
    let missing: Vec<&str> = skus
        .iter()
        .map(Sku::as_str)
        .filter(|s| !articles.contains_key(*s))
        .collect();
    if !missing.is_empty() {
        return Err(CommandError::Permanent(
            FailureInfo::new(
                ErrorCode::NotFound,
                format!(
                    "order {ext}: SKUs not in MplusKASSA: {}",
                    missing.join(", ")
                ),
            )
            .with_details(serde_json::json!({ "missing_skus": missing })),
        ));
    }
    let code =
        |v: Option<&ExternalId>, what: &str, line: usize| -> Result<Option<i32>, CommandError> {
            v.map(|id| {
                id.as_str().parse::<i32>().map_err(|_| {
                    CommandError::permanent(
                        ErrorCode::Mapping,
                        format!("order {ext} line {line}: {what} {id} is not an MplusKASSA number"),
                    )
                })
            })
            .transpose()
        };
    let mut lines = Vec::with_capacity(order.lines.len());
    let inclusive = order.lines.iter().all(|l| l.price_includes_tax);
    for (i, (line, codes)) in target.lines_with_codes().enumerate() {
        let n = i + 1;
        let (quantity, places) = quantity_to_wire(line.quantity.value()).ok_or_else(|| {
            CommandError::permanent(
                ErrorCode::Validation,
                format!("order {ext} line {n}: quantity out of range"),
            )
        })?;
        let price = cents(&line.unit_price, &format!("order {ext} line {n} price"))?;
        let (_, article) = &articles[line.sku.as_str()];
        lines.push(LineWrite {
            article_number: article.article_number,
            plu_number: (!article.plu_number.is_empty()).then(|| article.plu_number.clone()),
            text: line.title.as_ref().map(ToString::to_string),
            quantity,
            decimal_places: places,
            price: inclusive.then_some(price),
            price_excl: (!inclusive).then_some(price),
            turnover_group: code(codes.revenue_account.as_ref(), "turnover group", n)?,
            vat_code: code(codes.vat_code.as_ref(), "VAT code", n)?,
            discount_amount: line
                .discount
                .as_ref()
                .map(|d| cents(d, &format!("order {ext} line {n} discount")))
                .transpose()?,
        });
    }
    let customer = &order.customer;
    let company = match &customer.kind {
        CustomerKind::Company { company_name, .. } => Some(company_name.to_string()),
        CustomerKind::Person => None,
    };
    let person = customer.full_name();
    let billing = order
        .billing_address
        .as_ref()
        .or(customer.billing_address.as_ref());
    let shipping = order
        .shipping_address
        .as_ref()
        .or(customer.shipping_address.as_ref());
    let write = OrderWrite {
        ext_order_id: ext.to_owned(),
        entry_branch_number: Some(target.branch_number().map_or(settings.branch, |b| b as i32)),
        employee_number: i64::from(employee.0),
        relation_number: relation,
        delivery_address: shipping
            .map(|a| convert::address_write(a, person.clone(), company.clone())),
        invoice_address: billing
            .map(|a| convert::address_write(a, person.clone(), company.clone())),
        workplace_number: target
            .workplace_number()
            .map(|w| w as i32)
            .or(settings.workplace),
        reference: Some(ext.to_owned()),
        vat_method: if inclusive {
            "VAT-METHOD-INCLUSIVE"
        } else {
            "VAT-METHOD-EXCLUSIVE"
        },
        payment_method: target.payment_method_code().map(ToString::to_string),
        lines,
    };
    let payments: Vec<PaymentWrite> = match target.payment_method_code() {
        Some(method) => vec![PaymentWrite {
            method: method.to_string(),
            amount: cents(&order.totals.total, &format!("order {ext} total"))?,
        }],
        None => Vec::new(),
    };
    let (order_id, replayed) = match integration
        .client
        .create_order_v3(&write, cmd.idempotency_key.as_str(), &payments)
        .await?
    {
        OrderCreation::Created { order_id, replayed } => (order_id, replayed),
        OrderCreation::AlreadyExists { message } => match integration.client.find_order(ext).await?
        {
            Some(o) => (o.order_id, true),
            None => {
                return Err(CommandError::Transient(FailureInfo::new(
                    ErrorCode::Conflict,
                    format!(
                        "order {ext}: MplusKASSA reports the extOrderId as taken ({message}) but cannot find it"
                    ),
                )));
            }
        },
    };
    Ok(Done::new(OrderCreated {
        target: System::Mpluskassa,
        external_id: order.external_id.clone(),
        target_id: external_id(&order_id)?,
        replayed,
    })
    .xref(XrefKind::Order, ext, order_id))
}

async fn products_verify(
    cx: &Ctx,
    cmd: &ProductsVerify,
) -> Result<Done<ProductsVerified>, CommandError> {
    let integration = &*cx.integration;
    let source = integration.settings.sku_source;
    let askable: Vec<Sku> = cmd
        .skus
        .iter()
        .filter(|s| check_sku(source, s).is_ok())
        .cloned()
        .collect();
    let found = articles_by_sku(integration, &askable).await?;
    let mut done = Done::new(ProductsVerified {
        target: System::Mpluskassa,
        missing: Vec::new(),
        found: Vec::new(),
    });
    for sku in &cmd.skus {
        match found.get(sku.as_str()) {
            Some((_, a)) if a.active => {
                done.reply.found.push(ProductRef {
                    sku: sku.clone(),
                    target_id: external_id(a.article_number)?,
                });
                done.xrefs.push((
                    XrefKind::Article,
                    sku.to_string(),
                    a.article_number.to_string(),
                ));
            }
            _ => done.reply.missing.push(sku.clone()),
        }
    }
    Ok(done)
}
