//! One entity's pass over the kit's pipeline: its [`Checkpoint`] (the page committed with the
//! cursor and the pass's progress), the paged read of an entity behind its sync marker
//! ([`Paged`], the kit's [`Source`] of every such entity through [`ByMarker`]), and what
//! every entity's conversion shares (parse-or-park, a full page never splitting a marker, the
//! SKU of a sale's line).

use async_trait::async_trait;
use ferry_platform::connector::ingest::{Batch, Checkpoint, Listing, Parked, Source, drain};
use ferry_proto::Sku;
use uuid::Uuid;

use super::catalogue::{Groups, Products, Relations};
use super::invoices::Invoices;
use super::orders::{Orders, Sales};
use super::{EntityReport, Ingest, IngestError};
use crate::client::{Listed, MplusError};
use crate::config::SkuSource;
use crate::integrations::Integration;
use crate::soap::Element;
use crate::soap::requests::Page;
use crate::soap::types as mk;
use crate::store::{CURSORS, SyncEntity};

/// One entity's pass of one integration: where its pages commit.
pub(super) struct EntityPass<'a> {
    pub(super) ingest: &'a Ingest,
    pub(super) integration: &'a Integration,
    pub(super) entity: SyncEntity,
    pub(super) run: Uuid,
    /// A full pass (from marker 0): its pages wait for the pipeline's backlog.
    pub(super) bulk: bool,
}

impl<'a> EntityPass<'a> {
    pub(super) fn new(
        ingest: &'a Ingest,
        integration: &'a Integration,
        entity: SyncEntity,
        from: i64,
    ) -> Self {
        Self {
            ingest,
            integration,
            entity,
            run: Uuid::now_v7(),
            bulk: from == 0,
        }
    }

    /// Commits `batch` with the cursor at its position, the page's counts and the pass's
    /// progress, in one transaction (parked records sent first, confirmed); a full pass's
    /// page first waits for the pipeline's backlog (the kit's `Backlog`).
    pub(super) async fn commit_page(&self, batch: &Batch) -> Result<(), IngestError> {
        let (ingest, id) = (self.ingest, self.integration.id());
        let progress = ingest.page_progress(id, self.entity, batch);
        let page = if self.bulk {
            ingest.pipeline.open_bulk(batch).await?
        } else {
            ingest.pipeline.open(batch).await?
        };
        CURSORS
            .advance(
                page.txn(),
                id,
                self.entity.as_str(),
                batch.position,
                batch.events.len() as i64,
                batch.parked.len() as i64,
            )
            .await?;
        if let Some(row) = &progress {
            CURSORS
                .put_runs(page.txn(), std::slice::from_ref(row))
                .await?;
        }
        page.commit().await?;
        if let Some(row) = progress {
            ingest.page_stored(id, self.entity, row);
        }
        Ok(())
    }
}

#[async_trait]
impl Checkpoint for EntityPass<'_> {
    type Error = IngestError;

    fn batch(&self) -> Batch {
        self.ingest.pipeline.batch(self.integration.id(), self.run)
    }

    async fn commit(&mut self, batch: Batch) -> Result<i64, IngestError> {
        self.commit_page(&batch).await?;
        Ok(CURSORS
            .marker(
                self.ingest.db(),
                self.integration.id(),
                self.entity.as_str(),
            )
            .await?)
    }
}

impl Ingest {
    /// Reads `entity` page by page (sync markers) from `cursor`.
    pub(super) async fn sync_paged(
        &self,
        integration: &Integration,
        entity: SyncEntity,
        cursor: i64,
    ) -> Result<EntityReport, IngestError> {
        let limit = self.config.page_size.clamp(1, 1000);
        let mut pass = EntityPass::new(self, integration, entity, cursor);
        let pass = &mut pass;
        match entity {
            SyncEntity::Relations => {
                let mut source = ByMarker(Relations::new(integration));
                drain(&mut source, pass, cursor, limit).await
            }
            SyncEntity::Products => {
                let mut source = ByMarker(Products::new(integration).await?);
                drain(&mut source, pass, cursor, limit).await
            }
            SyncEntity::ArticleGroups => {
                let mut source = ByMarker(Groups::new(integration).await?);
                drain(&mut source, pass, cursor, limit).await
            }
            SyncEntity::Orders => {
                let mut source = ByMarker(Orders(Sales::new(self, integration).await?));
                drain(&mut source, pass, cursor, limit).await
            }
            SyncEntity::Invoices => {
                let mut source = ByMarker(Invoices(Sales::new(self, integration).await?));
                drain(&mut source, pass, cursor, limit).await
            }
            // Stock is read since a stockId, never paged by marker (`sync_stock`).
            SyncEntity::Stock => Ok(EntityReport::default()),
        }
    }
}

/// An entity read page by page behind its sync marker: what it lists, and what one record
/// becomes (an event, a parked record or a skip). [`ByMarker`] makes it the kit's [`Source`].
#[async_trait]
pub(super) trait Paged: Send {
    /// Ferry's record (from `soap::types`).
    type Record: Marked + Send;
    /// The entity a record that cannot be read is parked as (`customer`).
    const ENTITY: &'static str;
    /// The element holding its key (`relationNumber`).
    const KEY: &'static str;

    /// One page of records.
    async fn list(&self, page: Page) -> Result<Vec<Listed<Self::Record>>, MplusError>;

    /// Starts a page: forgets what was read for the one before.
    fn next_page(&mut self) {}

    /// Adds what `record` (read from `node`) becomes to `batch`.
    async fn convert(
        &mut self,
        record: Self::Record,
        node: Element,
        batch: &mut Batch,
    ) -> Result<(), IngestError>;
}

/// The kit's [`Source`] of a [`Paged`] entity: each page listed after the cursor with its
/// sync markers complete, its readable records converted one by one, the others parked.
pub(super) struct ByMarker<P>(pub(super) P);

#[async_trait]
impl<P: Paged> Source for ByMarker<P> {
    type Record = Listed<P::Record>;
    type Error = IngestError;

    async fn list(&mut self, after: i64, limit: u32) -> Result<Listing<Self::Record>, IngestError> {
        let records = self.0.list(page(after, limit)).await?;
        Ok(listing(records, limit))
    }

    async fn convert(
        &mut self,
        records: Vec<Self::Record>,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        self.0.next_page();
        for (record, node) in readable(batch, P::ENTITY, (P::KEY, "syncMarker"), records) {
            self.0.convert(record, node, batch).await?;
        }
        Ok(())
    }
}

/// The page of at most `limit` records after position `after`.
fn page(after: i64, limit: u32) -> Page {
    Page {
        from: after + 1,
        limit,
    }
}

/// A listed page whose sync markers are complete (see [`complete_markers`]).
fn listing<T>(records: Vec<Listed<T>>, limit: u32) -> Listing<Listed<T>> {
    let fetched = records.len();
    Listing {
        records: complete_markers(records, limit),
        fetched,
    }
}

/// Keeps the records of a page whose sync marker is certainly complete. Markers can repeat
/// (one change touching several records); when a full page ends inside such a run, the rest of
/// the run is on the next page, which starts at the cursor + 1. So a full page drops its
/// highest marker's records (they come again, whole, on the next page), unless the whole page
/// has one marker (then nothing smaller exists to keep).
fn complete_markers<T>(mut records: Vec<Listed<T>>, limit: u32) -> Vec<Listed<T>> {
    if records.len() < limit as usize {
        return records;
    }
    let marker = |r: &Listed<T>| {
        r.element
            .num::<i64>("syncMarker")
            .ok()
            .flatten()
            .unwrap_or(0)
    };
    let highest = records.iter().map(marker).max().unwrap_or(0);
    if records.iter().any(|r| marker(r) < highest) {
        records.retain(|r| marker(r) < highest);
    }
    records
}

/// A record read at a position: its sync marker (`stockId` for stock).
pub(super) trait Marked {
    /// The position.
    fn marker(&self) -> i64;
}

macro_rules! marked {
    ($($record:ty => |$r:ident| $marker:expr),* $(,)?) => {
        $(impl Marked for $record {
            fn marker(&self) -> i64 {
                let $r = self;
                $marker
            }
        })*
    };
}

marked! {
    mk::Relation => |r| r.sync_marker,
    mk::Product => |r| r.sync_marker,
    mk::ArticleGroup => |r| r.sync_marker,
    mk::Order => |r| r.sync_marker,
    mk::Invoice => |r| r.sale.sync_marker,
    mk::ArticleStock => |r| r.stock_id,
}

/// The records of a page that could be read, each with its element, their positions reached
/// in `batch`; an element that cannot be read is parked (its key from `key_field`, its
/// position from `marker_field`).
pub(super) fn readable<T: Marked>(
    batch: &mut Batch,
    entity: &str,
    (key_field, marker_field): (&str, &str),
    records: Vec<Listed<T>>,
) -> Vec<(T, Element)> {
    let mut out = Vec::with_capacity(records.len());
    for Listed { element, record } in records {
        match record {
            Ok(record) => {
                batch.reach(record.marker());
                out.push((record, element));
            }
            Err(e) => {
                let marker = element.num::<i64>(marker_field).ok().flatten().unwrap_or(0);
                batch.reach(marker);
                let key = element.string(key_field);
                park(batch, entity, key, marker, e.to_string(), &element);
            }
        }
    }
    out
}

/// Publishes the event `event` makes of a converted record, or parks the record `node` with
/// why it could not be converted.
pub(super) fn observe_or_park<T, P>(
    batch: &mut Batch,
    (entity, key, marker): (&str, &str, i64),
    node: &Element,
    converted: Result<T, String>,
    event: impl FnOnce(T, serde_json::Value) -> P,
) where
    P: ferry_proto::Message + serde::Serialize,
{
    match converted {
        Ok(record) => batch.observe(event(record, node.to_json())),
        Err(why) => park(batch, entity, key, marker, why, node),
    }
}

/// Parks the record `node` of `entity` with `reason`.
pub(super) fn park(
    batch: &mut Batch,
    entity: &str,
    key: impl Into<String>,
    marker: i64,
    reason: impl Into<String>,
    node: &Element,
) {
    batch.park(Parked::observed(
        entity,
        key,
        marker,
        reason,
        node.to_json(),
    ));
}

/// The SKU of an order or invoice line, from the configured article field.
pub(super) fn line_sku(source: SkuSource) -> impl Fn(&mk::OrderLine) -> Result<Sku, String> {
    move |l| match source {
        SkuSource::PluNumber if !l.plu_number.is_empty() => {
            Sku::parse(&l.plu_number).map_err(|e| e.to_string())
        }
        SkuSource::PluNumber => Err(format!("article {} has no PLU number", l.article_number)),
        SkuSource::ArticleNumber => {
            Sku::parse(&l.article_number.to_string()).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(marker: i64) -> Listed<i64> {
        let element = Element::from_json(serde_json::json!({ "syncMarker": marker.to_string() }));
        Listed {
            element,
            record: Ok(marker),
        }
    }

    fn markers(records: &[Listed<i64>]) -> Vec<i64> {
        records
            .iter()
            .map(|r| *r.record.as_ref().unwrap_or(&-1))
            .collect()
    }

    #[test]
    fn a_full_page_never_splits_a_marker() {
        // A full page ending inside a run of marker 7: the 7s come whole on the next page.
        let page = vec![listed(5), listed(6), listed(7), listed(7)];
        assert_eq!(markers(&complete_markers(page, 4)), vec![5, 6]);
        // A page that is not full is complete.
        let page = vec![listed(5), listed(7), listed(7)];
        assert_eq!(markers(&complete_markers(page, 4)), vec![5, 7, 7]);
        // A full page of one marker cannot shrink.
        let page = vec![listed(9), listed(9)];
        assert_eq!(markers(&complete_markers(page, 2)), vec![9, 9]);
    }
}
