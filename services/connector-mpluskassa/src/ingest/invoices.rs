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

use async_trait::async_trait;
use ferry_platform::connector::ingest::Batch;
use ferry_proto::ExternalId;
use ferry_proto::model::{OrderStatus, OrderType};

use super::IngestError;
use super::orders::Sales;
use super::pass::{Paged, park};
use crate::client::{Listed, MplusError};
use crate::soap::Element;
use crate::soap::requests::Page;
use crate::soap::types as mk;

/// The customer a sale is booked on.
enum Buyer {
    /// This relation.
    Relation(Box<mk::Relation>),
    /// None known and no walk-in relation configured: skipped.
    Unknown,
    /// Refused (parked) with this reason.
    Refused(String),
}

/// Invoices of one pass.
pub(super) struct Invoices<'a>(pub(super) Sales<'a>);

#[async_trait]
impl Paged for Invoices<'_> {
    type Record = mk::Invoice;
    const ENTITY: &'static str = "invoice";
    const KEY: &'static str = "invoiceId";

    async fn list(&self, page: Page) -> Result<Vec<Listed<mk::Invoice>>, MplusError> {
        self.0.integration.client.invoices(page).await
    }

    fn next_page(&mut self) {
        self.0.next_page();
    }

    async fn convert(
        &mut self,
        invoice: mk::Invoice,
        node: Element,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        let sales = &mut self.0;
        let integration = sales.integration;
        let (invoice, status) = if invoice.is_credit() {
            match integration
                .client
                .invoice(&invoice.credited_invoice_id)
                .await?
            {
                Some(credited) if !credited.is_credit() => (credited, OrderStatus::Refunded),
                _ => {
                    tracing::info!(integration = %integration.id(), invoice = %invoice.sale.order_id, credited = %invoice.credited_invoice_id, "credit invoice without the invoice it credits skipped");
                    batch.skip();
                    return Ok(());
                }
            }
        } else if invoices_ferry_order(sales, &invoice).await? {
            batch.skip();
            return Ok(());
        } else {
            (invoice, OrderStatus::Open)
        };
        let sale = &invoice.sale;
        let at = ("invoice", sale.order_id.as_str(), sale.sync_marker);
        let buyer = match buyer(sales, sale.relation_number).await? {
            Buyer::Relation(r) => r,
            Buyer::Unknown => {
                tracing::info!(integration = %integration.id(), invoice = %sale.order_id, "sale without a known customer skipped (no orders.walk_in_relation)");
                batch.skip();
                return Ok(());
            }
            Buyer::Refused(why) => {
                let why = format!("invoice {}: {why}", sale.order_id);
                park(batch, at.0, at.1, at.2, why, &node);
                return Ok(());
            }
        };
        sales.observe(batch, at, &node, (sale, &buyer), |mut order| {
            order.external_id = ExternalId::parse(invoice.sale_number())
                .map_err(|e| format!("invoice {}: {e}", sale.order_id))?;
            order.order_type = OrderType::Invoice;
            order.status = status;
            Ok(order)
        });
        Ok(())
    }
}

/// Whether the invoice invoices an order Ferry created in MplusKASSA.
async fn invoices_ferry_order(
    sales: &Sales<'_>,
    invoice: &mk::Invoice,
) -> Result<bool, IngestError> {
    for id in &invoice.order_ids {
        if sales.created_by_ferry(id).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The relation a sale is booked on (see the module docs).
async fn buyer(sales: &mut Sales<'_>, number: i64) -> Result<Buyer, IngestError> {
    let walk_in = sales.integration.settings.sales.walk_in_relation;
    let found = if number > 0 {
        sales.relation(number).await?
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
    match sales.relation(walk_in).await? {
        Some(r) if !r.email.trim().is_empty() => Ok(Buyer::Relation(Box::new(r))),
        Some(_) => Ok(Buyer::Refused(format!(
            "the walk-in relation {walk_in} (orders.walk_in_relation) has no e-mail address"
        ))),
        None => Ok(Buyer::Refused(format!(
            "the walk-in relation {walk_in} (orders.walk_in_relation) does not exist"
        ))),
    }
}
