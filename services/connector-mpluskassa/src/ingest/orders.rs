//! Orders as `order.observed`, and what orders and invoices (sales) share: the installation's
//! VAT scale and the relations a page's sales are booked on.
//!
//! An order Ferry created (from the other system) comes back only when it is cancelled here:
//! a cancellation at the till reaches the order's source; a cancelled order of this system is
//! sent with its status, and the order saga decides (it is not created). An order whose
//! relation does not exist is parked.

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_platform::connector::ingest::{Batch, Listing, Source};
use ferry_proto::System;
use ferry_proto::messages::OrderObserved;

use super::pass::{line_sku, listing, observe_or_park, page, park, readable};
use super::{Ingest, IngestError};
use crate::client::Listed;
use crate::convert;
use crate::integrations::Integration;
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
}

/// Orders of one pass.
pub(super) struct Orders<'a>(pub(super) Sales<'a>);

#[async_trait]
impl Source for Orders<'_> {
    type Record = Listed<mk::Order>;
    type Error = IngestError;

    async fn list(&mut self, after: i64, limit: u32) -> Result<Listing<Self::Record>, IngestError> {
        let client = &self.0.integration.client;
        Ok(listing(client.orders(page(after, limit)).await?, limit))
    }

    async fn convert(
        &mut self,
        records: Vec<Self::Record>,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        let sales = &mut self.0;
        sales.next_page();
        let settings = &sales.integration.settings;
        for (o, node) in readable(batch, "order", ("orderId", "syncMarker"), records) {
            if sales.created_by_ferry(&o.order_id).await? && !o.is_cancelled() {
                batch.skip();
                continue;
            }
            let at = ("order", o.order_id.as_str(), o.sync_marker);
            let Some(relation) = sales.relation(o.relation_number).await? else {
                let why = format!(
                    "order {}: relation {} does not exist",
                    o.order_id, o.relation_number
                );
                park(batch, at.0, at.1, at.2, why, &node);
                continue;
            };
            let sku = line_sku(settings.sku_source);
            let converted = convert::order(&o, &relation, settings.currency, sales.scale, sku);
            observe_or_park(batch, at, &node, converted, |order, raw| OrderObserved {
                source: System::Mpluskassa,
                order,
                raw,
            });
        }
        Ok(())
    }
}
