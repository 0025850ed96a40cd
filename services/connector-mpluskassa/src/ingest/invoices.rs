//! Invoices (till and back-office sales) as `order.observed`, once per sale:
//!
//! - An invoice made from orders (`orderIds` / `extOrderIds`, the WSDL's link) carries the
//!   order's number as its external id, so an order that became an invoice is one order in
//!   the target: whichever arrives second is a duplicate the order flow skips.
//! - An invoice of an order Ferry created (from the other system) is skipped, as the order is.
//! - A credit invoice (a refund at the till, `creditedInvoiceId`) is no sale of its own: it
//!   is read as the sale it credits (`getInvoice`), with status refunded, numbered as that
//!   sale (so the refund reaches the order the sale became in the target, also one Ferry
//!   created from the other system). A credit invoice without its credited invoice is skipped.
//! - A sale without a known customer (no relation, or a relation without an e-mail address)
//!   is booked on `orders.walk_in_relation` when one is configured, else skipped; never on a
//!   made-up e-mail address. A relation number that does not exist is parked.

use std::collections::HashMap;

use ferry_proto::messages::OrderObserved;
use ferry_proto::model::{OrderStatus, OrderType};
use ferry_proto::{ExternalId, System};
use uuid::Uuid;

use super::{Converted, Ingest, IngestError};
use crate::client::Listed;
use crate::convert;
use crate::integrations::Integration;
use crate::soap::types::{self as mk, VatScale};
use crate::store::{XREFS, kind};

/// The customer a sale is booked on.
enum Buyer {
    /// This relation.
    Relation(Box<mk::Relation>),
    /// None known and no walk-in relation configured: skipped.
    Unknown,
    /// Refused (parked) with this reason.
    Refused(String),
}

impl Ingest {
    pub(super) async fn convert_invoices(
        &self,
        integration: &Integration,
        run: Uuid,
        scale: VatScale,
        records: Vec<Listed<mk::Invoice>>,
    ) -> Result<Converted, IngestError> {
        let settings = &integration.settings;
        let mut c = Converted::new();
        let mut relations: HashMap<i64, Option<mk::Relation>> = HashMap::new();
        for Listed {
            element: node,
            record,
        } in records
        {
            let invoice = match record {
                Ok(i) => i,
                Err(e) => {
                    let marker = node.num::<i64>("syncMarker").ok().flatten().unwrap_or(0);
                    c.max_marker = c.max_marker.max(marker);
                    let key = node.string("invoiceId");
                    self.park_into(
                        &mut c,
                        integration,
                        "invoice",
                        &key,
                        marker,
                        &e.to_string(),
                        &node,
                    );
                    continue;
                }
            };
            c.max_marker = c.max_marker.max(invoice.sale.sync_marker);
            let (invoice, status) = if invoice.is_credit() {
                match integration
                    .client
                    .invoice(&invoice.credited_invoice_id)
                    .await?
                {
                    Some(credited) if !credited.is_credit() => (credited, OrderStatus::Refunded),
                    _ => {
                        tracing::info!(integration = %integration.id(), invoice = %invoice.sale.order_id, credited = %invoice.credited_invoice_id, "credit invoice without the invoice it credits skipped");
                        c.skipped += 1;
                        continue;
                    }
                }
            } else if self.invoices_ferry_order(integration, &invoice).await? {
                c.skipped += 1;
                continue;
            } else {
                (invoice, OrderStatus::Open)
            };
            let sale = &invoice.sale;
            let buyer = match self
                .buyer(integration, &mut relations, sale.relation_number)
                .await?
            {
                Buyer::Relation(r) => r,
                Buyer::Unknown => {
                    tracing::info!(integration = %integration.id(), invoice = %sale.order_id, "sale without a known customer skipped (no orders.walk_in_relation)");
                    c.skipped += 1;
                    continue;
                }
                Buyer::Refused(why) => {
                    let why = format!("invoice {}: {why}", sale.order_id);
                    self.park_into(
                        &mut c,
                        integration,
                        "invoice",
                        &sale.order_id,
                        sale.sync_marker,
                        &why,
                        &node,
                    );
                    continue;
                }
            };
            let converted = convert::order(
                sale,
                &buyer,
                settings.currency,
                scale,
                super::line_sku(settings.sku_source),
            )
            .and_then(|mut order| {
                order.external_id = ExternalId::parse(invoice.sale_number())
                    .map_err(|e| format!("invoice {}: {e}", sale.order_id))?;
                order.order_type = OrderType::Invoice;
                order.status = status;
                Ok(order)
            });
            match converted {
                Ok(order) => self.event_into(
                    &mut c,
                    integration,
                    run,
                    OrderObserved {
                        source: System::Mpluskassa,
                        order,
                        raw: node.to_json(),
                    },
                ),
                Err(why) => self.park_into(
                    &mut c,
                    integration,
                    "invoice",
                    &sale.order_id,
                    sale.sync_marker,
                    &why,
                    &node,
                ),
            }
        }
        Ok(c)
    }

    /// Whether the invoice invoices an order Ferry created in MplusKASSA.
    async fn invoices_ferry_order(
        &self,
        integration: &Integration,
        invoice: &mk::Invoice,
    ) -> Result<bool, IngestError> {
        for id in &invoice.order_ids {
            if XREFS
                .by_id(&self.db, integration.id(), kind::ORDER, id)
                .await?
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The relation a sale is booked on (see the module docs).
    async fn buyer(
        &self,
        integration: &Integration,
        cache: &mut HashMap<i64, Option<mk::Relation>>,
        number: i64,
    ) -> Result<Buyer, IngestError> {
        let walk_in = integration.settings.sales.walk_in_relation;
        let found = if number > 0 {
            self.relation_cached(integration, cache, number).await?
        } else {
            None
        };
        if number > 0 && found.is_none() {
            return Ok(Buyer::Refused(format!("relation {number} does not exist")));
        }
        if let Some(r) = found.filter(|r| !r.email.trim().is_empty()) {
            return Ok(Buyer::Relation(Box::new(r)));
        }
        let Some(walk_in) = walk_in else {
            return Ok(Buyer::Unknown);
        };
        match self.relation_cached(integration, cache, walk_in).await? {
            Some(r) if !r.email.trim().is_empty() => Ok(Buyer::Relation(Box::new(r))),
            Some(_) => Ok(Buyer::Refused(format!(
                "the walk-in relation {walk_in} (orders.walk_in_relation) has no e-mail address"
            ))),
            None => Ok(Buyer::Refused(format!(
                "the walk-in relation {walk_in} (orders.walk_in_relation) does not exist"
            ))),
        }
    }

    async fn relation_cached(
        &self,
        integration: &Integration,
        cache: &mut HashMap<i64, Option<mk::Relation>>,
        number: i64,
    ) -> Result<Option<mk::Relation>, IngestError> {
        if let Some(r) = cache.get(&number) {
            return Ok(r.clone());
        }
        let r = integration.client.relation(number).await?;
        cache.insert(number, r.clone());
        Ok(r)
    }
}
