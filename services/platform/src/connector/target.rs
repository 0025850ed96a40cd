//! The target side of a connector: what it does for each canonical command. The
//! [`Executor`](super::Executor) does everything around it (decode, inbox, lease, classify,
//! reply, cross-references).

use std::sync::Arc;

use async_trait::async_trait;
use ferry_proto::messages::{
    CategoryUpsert, CategoryUpserted, CustomerFind, CustomerFound, CustomerUpsert,
    CustomerUpserted, OrderCreate, OrderCreated, OrderFind, OrderFound, OrderSetStatus,
    OrderStatusSet, ProductUpsert, ProductUpserted, ProductsVerified, ProductsVerify, StockSet,
    StockSetDone,
};
use ferry_proto::{IntegrationId, Message, System};
use sea_orm::DatabaseConnection;
use serde::de::DeserializeOwned;

use super::error::CommandError;
use super::store::{Xref, Xrefs};
use crate::bus::{Delivery, Outcome};

/// Where an integration stands for this connector.
pub enum Lookup<I> {
    /// Configured and live: commands run.
    Live(Arc<I>),
    /// Configured but paused (or still a draft): commands wait in the delay queues.
    Paused,
    /// Not configured in this connector.
    Unknown,
}

/// What a command executes in: its integration, the connector's database and tables.
pub struct Cx<'a, I> {
    /// The integration's connection (client, settings).
    pub integration: &'a Arc<I>,
    /// Its id.
    pub integration_id: IntegrationId,
    /// The connector's database.
    pub db: &'a DatabaseConnection,
    /// The connector's cross-references.
    pub xrefs: Xrefs,
}

impl<I> Cx<'_, I> {
    /// The external id recorded for a canonical key.
    pub async fn xref(&self, kind: &str, key: &str) -> Result<Option<String>, CommandError> {
        Ok(self
            .xrefs
            .id_of(self.db, self.integration_id, kind, key)
            .await?)
    }
}

/// What an executed command leaves behind: its reply and the cross-references it learnt
/// (written in the reply's transaction).
#[derive(Debug)]
pub struct Done<R> {
    /// The reply event.
    pub reply: R,
    /// Cross-references to record.
    pub xrefs: Vec<Xref>,
}

impl<R> Done<R> {
    /// A reply without cross-references.
    pub fn new(reply: R) -> Self {
        Self {
            reply,
            xrefs: Vec::new(),
        }
    }

    /// Adds the cross-reference `key` -> `external_id` of `kind`.
    pub fn xref(
        mut self,
        kind: &'static str,
        key: impl Into<String>,
        external_id: impl Into<String>,
    ) -> Self {
        self.xrefs.push(Xref::new(kind, key, external_id));
        self
    }

    /// Adds a cross-reference as given.
    pub fn with(mut self, xref: Xref) -> Self {
        self.xrefs.push(xref);
        self
    }
}

/// The result of one command.
pub type Executed<R> = Result<Done<R>, CommandError>;

/// A shop system's side of the canonical commands. Each method is one API conversation;
/// it must be idempotent (a redelivered command runs again).
#[async_trait]
pub trait Target: Send + Sync + 'static {
    /// One integration's connection (API client, settings).
    type Integration: Send + Sync + 'static;

    /// The system this connector talks to.
    const SYSTEM: System;

    /// The integration of a command.
    fn integration(&self, id: IntegrationId) -> Lookup<Self::Integration>;

    /// Whether commands of `message_type` run one at a time per record (across replicas,
    /// under a lease): those that create records where two racing creations would give two.
    fn serializes(&self, message_type: &str) -> bool {
        matches!(
            message_type,
            "customer.upsert" | "product.upsert" | "category.upsert" | "stock.set" | "order.create"
        )
    }

    /// A reason to defer a command on `record` (its record key: SKU, e-mail, ...) for now
    /// (retried later through the delay queues).
    async fn defer(
        &self,
        _integration: IntegrationId,
        _message_type: &str,
        _record: &str,
    ) -> Option<String> {
        None
    }

    /// Messages on the connector's queue that are no canonical command (the registry's
    /// `integration.changed`, a connector's own commands); `None`: not handled here.
    async fn other(&self, _delivery: &Delivery) -> Option<Outcome> {
        None
    }

    /// `customer.upsert`: found by e-mail, then updated or created.
    async fn customer_upsert(
        &self,
        cx: &Cx<'_, Self::Integration>,
        cmd: &CustomerUpsert,
    ) -> Executed<CustomerUpserted>;

    /// `customer.find`: by e-mail.
    async fn customer_find(
        &self,
        cx: &Cx<'_, Self::Integration>,
        cmd: &CustomerFind,
    ) -> Executed<CustomerFound>;

    /// `product.upsert`: by SKU.
    async fn product_upsert(
        &self,
        cx: &Cx<'_, Self::Integration>,
        cmd: &ProductUpsert,
    ) -> Executed<ProductUpserted>;

    /// `category.upsert`: by the source's category key.
    async fn category_upsert(
        &self,
        cx: &Cx<'_, Self::Integration>,
        cmd: &CategoryUpsert,
    ) -> Executed<CategoryUpserted>;

    /// `stock.set`: an absolute quantity for one SKU.
    async fn stock_set(
        &self,
        cx: &Cx<'_, Self::Integration>,
        cmd: &StockSet,
    ) -> Executed<StockSetDone>;

    /// `order.find`: by external order id.
    async fn order_find(
        &self,
        cx: &Cx<'_, Self::Integration>,
        cmd: &OrderFind,
    ) -> Executed<OrderFound>;

    /// `order.create`: once per external order id.
    async fn order_create(
        &self,
        cx: &Cx<'_, Self::Integration>,
        cmd: &OrderCreate,
    ) -> Executed<OrderCreated>;

    /// `order.set-status`: carries a cancellation or refund to an order that exists; an
    /// order in that status already is left alone (`changed: false`), a missing one is
    /// answered `target_id: None`.
    async fn order_set_status(
        &self,
        cx: &Cx<'_, Self::Integration>,
        cmd: &OrderSetStatus,
    ) -> Executed<OrderStatusSet>;

    /// `products.verify`: which SKUs exist.
    async fn products_verify(
        &self,
        cx: &Cx<'_, Self::Integration>,
        cmd: &ProductsVerify,
    ) -> Executed<ProductsVerified>;
}

/// A canonical command and the [`Target`] method that executes it.
#[async_trait]
pub trait Command<T: Target>: Message + DeserializeOwned {
    /// Its reply event.
    type Reply: Message;

    /// Runs it on `target`.
    async fn execute(target: &T, cx: &Cx<'_, T::Integration>, cmd: &Self) -> Executed<Self::Reply>;
}

macro_rules! commands {
    ($($command:ty => $reply:ty, $method:ident;)*) => {$(
        #[async_trait]
        impl<T: Target> Command<T> for $command {
            type Reply = $reply;

            async fn execute(
                target: &T,
                cx: &Cx<'_, T::Integration>,
                cmd: &Self,
            ) -> Executed<Self::Reply> {
                target.$method(cx, cmd).await
            }
        }
    )*};
}

commands! {
    CustomerUpsert => CustomerUpserted, customer_upsert;
    CustomerFind => CustomerFound, customer_find;
    ProductUpsert => ProductUpserted, product_upsert;
    CategoryUpsert => CategoryUpserted, category_upsert;
    StockSet => StockSetDone, stock_set;
    OrderFind => OrderFound, order_find;
    OrderCreate => OrderCreated, order_create;
    OrderSetStatus => OrderStatusSet, order_set_status;
    ProductsVerify => ProductsVerified, products_verify;
}
