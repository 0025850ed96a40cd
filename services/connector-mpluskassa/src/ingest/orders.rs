//! Orders as `order.observed`, and what orders and invoices (sales) share: the installation's
//! VAT scale and the relations a page's sales are booked on.
//!
//! An order Ferry created (from the other system) comes back only when it is cancelled here:
//! a cancellation at the till reaches the order's source; a cancelled order of this system is
//! sent with its status, and the order saga decides (it is not created). An order whose
//! relation does not exist is parked.

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_platform::connector::ingest::Batch;
use ferry_proto::System;
use ferry_proto::messages::OrderObserved;
use ferry_proto::model::Order;

use super::pass::{Paged, line_sku, observe_or_park, park};
use super::{Ingest, IngestError};
use crate::client::{Listed, MplusError};
use crate::convert;
use crate::integrations::Integration;
use crate::soap::Element;
use crate::soap::requests::Page;
use crate::soap::types::{self as mk, VatScale};
use crate::store::{XREFS, kind};

/// What a pass over sales (orders or invoices) reads besides them.
pub(super) struct Sales<'a> {
    pub(super) ingest: &'a Ingest,
    pub(super) integration: &'a Integration,
    pub(super) scale: VatScale,
    /// Relations read for the page's sales (`None`: does not exist).
    relations: HashMap<i64, Option<mk::Relation>>,
}

impl<'a> Sales<'a> {
    /// Reads the installation's VAT scale once for the pass.
    pub(super) async fn new(
        ingest: &'a Ingest,
        integration: &'a Integration,
    ) -> Result<Self, IngestError> {
        let scale = integration.vat().await?.1;
        Ok(Self {
            ingest,
            integration,
            scale,
            relations: HashMap::new(),
        })
    }

    /// Starts a page: relations are read once per page.
    pub(super) fn next_page(&mut self) {
        self.relations.clear();
    }

    /// Relation `number`; `None` when it does not exist.
    pub(super) async fn relation(
        &mut self,
        number: i64,
    ) -> Result<Option<mk::Relation>, IngestError> {
        if let Some(r) = self.relations.get(&number) {
            return Ok(r.clone());
        }
        let r = self.integration.client.relation(number).await?;
        self.relations.insert(number, r.clone());
        Ok(r)
    }

    /// Whether Ferry created order `id` in MplusKASSA (from the other system).
    pub(super) async fn created_by_ferry(&self, id: &str) -> Result<bool, IngestError> {
        let db = self.ingest.db();
        Ok(XREFS
            .by_id(db, self.integration.id(), kind::ORDER, id)
            .await?
            .is_some())
    }

    /// Publishes `sale` booked on `buyer` as `order.observed` (`finish` completes the
    /// canonical order), or parks the record `node` with why it could not be converted.
    pub(super) fn observe(
        &self,
        batch: &mut Batch,
        at: (&str, &str, i64),
        node: &Element,
        (sale, buyer): (&mk::Order, &mk::Relation),
        finish: impl FnOnce(Order) -> Result<Order, String>,
    ) {
        let settings = &self.integration.settings;
        let sku = line_sku(settings.sku_source);
        let converted = convert::order(sale, buyer, settings.currency, self.scale, sku);
        observe_or_park(batch, at, node, converted.and_then(finish), |order, raw| {
            OrderObserved {
                source: System::Mpluskassa,
                order,
                raw,
            }
        });
    }
}

/// Orders of one pass.
pub(super) struct Orders<'a>(pub(super) Sales<'a>);

#[async_trait]
impl Paged for Orders<'_> {
    type Record = mk::Order;
    const ENTITY: &'static str = "order";
    const KEY: &'static str = "orderId";

    async fn list(&self, page: Page) -> Result<Vec<Listed<mk::Order>>, MplusError> {
        self.0.integration.client.orders(page).await
    }

    fn next_page(&mut self) {
        self.0.next_page();
    }

    async fn convert(
        &mut self,
        o: mk::Order,
        node: Element,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        let sales = &mut self.0;
        if sales.created_by_ferry(&o.order_id).await? && !o.is_cancelled() {
            batch.skip();
            return Ok(());
        }
        let at = ("order", o.order_id.as_str(), o.sync_marker);
        let Some(relation) = sales.relation(o.relation_number).await? else {
            let why = format!(
                "order {}: relation {} does not exist",
                o.order_id, o.relation_number
            );
            park(batch, at.0, at.1, at.2, why, &node);
            return Ok(());
        };
        sales.observe(batch, at, &node, (&o, &relation), Ok);
        Ok(())
    }
}
