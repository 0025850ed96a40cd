//! The reading side of a sync: the pages of a collection (fetched concurrently, committed in
//! order), the fast path's projected scan, and the commit of a page read in full.

use chrono::{DateTime, SecondsFormat, Utc};
use ferry_platform::connector::cursors::run_row;
use ferry_platform::connector::ingest::offsets::{self, Fetched, Order};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use uuid::Uuid;

use super::memory::Seen;
use super::observe::record_id;
use super::{IngestError, Ingester, SyncMode, SyncReport};
use crate::client::{ClientError, Page, segment};
use crate::integrations::Integration;
use crate::records;
use crate::resource::Resource;
use crate::store;
use crate::variants;

/// Above this share of changed records in a scanned page (1 in N), the fast path reads the
/// whole page in full (one call) instead of each changed record (one call each).
const WHOLE_PAGE_BELOW_ONE_IN: usize = 20;

impl Ingester {
    /// Reads `resource` (`mode`, changes since `since`) and commits it page by page; `seen`:
    /// the poll owner's memory of the versions seen (else they are read page by page).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn read_all(
        &self,
        integration: &Integration,
        resource: Resource,
        mode: SyncMode,
        since: Option<DateTime<Utc>>,
        run: Uuid,
        sync: &mut run_row::Model,
        mut seen: Option<&mut Seen>,
    ) -> Result<SyncReport, IngestError> {
        if resource.scanned() {
            integration.ensure_store().await?;
        }
        let mut report = SyncReport {
            correlation_id: run,
            ..SyncReport::default()
        };
        let plural = resource.as_str();
        if mode == SyncMode::Incremental && resource.scanned() {
            let query = vec![(
                "fields",
                format!("{plural}.id,{plural}.updated_at,total_items"),
            )];
            let mut pages = self
                .pages(
                    integration,
                    resource,
                    query,
                    Order::NewestFirst,
                    sync,
                    &mut report,
                )
                .await?;
            while let Some((offset, page)) = pages.next().await {
                let page = page.map_err(|e| IngestError::Task(e.to_string()))??;
                if page.items.is_empty() {
                    // Records deleted since the total was read: the older pages still come.
                    continue;
                }
                self.commit_changed(
                    integration,
                    resource,
                    (offset, page),
                    since,
                    run,
                    sync,
                    &mut report,
                    seen.as_deref_mut(),
                )
                .await?;
            }
            return Ok(report);
        }
        let mut query: Vec<(&str, String)> =
            vec![("exclude_fields", format!("{plural}._links,_links"))];
        if let (Some(since), false) = (since, resource.scanned()) {
            query.push((
                "since_last_changed",
                since.to_rfc3339_opts(SecondsFormat::Secs, false),
            ));
        }
        let mut pages = self
            .pages(
                integration,
                resource,
                query,
                Order::Ascending,
                sync,
                &mut report,
            )
            .await?;
        while let Some((_, page)) = pages.next().await {
            let page = page.map_err(|e| IngestError::Task(e.to_string()))??;
            if page.items.is_empty() {
                break;
            }
            self.commit_page(
                integration,
                resource,
                page,
                mode,
                run,
                sync,
                &mut report,
                seen.as_deref_mut(),
            )
            .await?;
        }
        Ok(report)
    }

    /// Every page of a collection with `query`, with its offset: the first read here (for
    /// the total), the rest by the kit's concurrent offset paging ([`offsets::pages`]), at most
    /// the client's share at once, in `order` (so fetching goes on while earlier pages are
    /// committed).
    async fn pages(
        &self,
        integration: &Integration,
        resource: Resource,
        query: Vec<(&'static str, String)>,
        order: Order,
        sync: &mut run_row::Model,
        report: &mut SyncReport,
    ) -> Result<BoxStream<'static, Fetched<Page, ClientError>>, IngestError> {
        let client = integration.client.clone();
        let path = integration.collection(resource);
        let size = self.page_size;
        let first = client
            .page(
                resource.list_op(),
                &path,
                resource.as_str(),
                &query,
                0,
                size,
            )
            .await?;
        let total = first.total_items;
        sync.total = Some(i64::try_from(total).unwrap_or(i64::MAX));
        let rest = offsets::offsets(first.items.len() as u64, total, size, order);
        report.calls += 1 + rest.len() as u64;
        let width = client.concurrency();
        let rest = offsets::pages(rest, width, move |offset| {
            let (client, path, query) = (client.clone(), path.clone(), query.clone());
            async move {
                client
                    .page(
                        resource.list_op(),
                        &path,
                        resource.as_str(),
                        &query,
                        offset,
                        size,
                    )
                    .await
            }
        });
        Ok(futures::stream::once(async move { (0, Ok(Ok(first))) })
            .chain(rest)
            .boxed())
    }

    /// The fast path for one scanned page (`id`, `updated_at` of each record): reads in full
    /// the records whose change time moved since the version last read in full, or is at or
    /// after `since` (a change in the same second as the last read), and commits them. The
    /// versions seen come from `seen` (the poll owner's memory, read whole once) or, without
    /// it, from the database for this page's records.
    #[allow(clippy::too_many_arguments)]
    async fn commit_changed(
        &self,
        integration: &Integration,
        resource: Resource,
        (offset, page): (u64, Page),
        since: Option<DateTime<Utc>>,
        run: Uuid,
        sync: &mut run_row::Model,
        report: &mut SyncReport,
        mut seen: Option<&mut Seen>,
    ) -> Result<(), IngestError> {
        let started = std::time::Instant::now();
        let scanned = page.items.len();
        let ids: Vec<String> = page.items.iter().map(|r| record_id(resource, r)).collect();
        let page_seen;
        let known: &Seen = match seen.as_deref_mut() {
            Some(seen) => {
                seen.load(&self.db, integration.id(), resource).await?;
                seen
            }
            None => {
                let read =
                    store::seen_versions(&self.db, integration.id(), resource.as_str(), &ids)
                        .await?;
                page_seen = Seen::of(&read);
                &page_seen
            }
        };
        let changed: std::collections::HashSet<String> = page
            .items
            .iter()
            .zip(ids)
            .filter(|(r, id)| {
                let recent = match (records::changed_at(r), since) {
                    (Some(at), Some(since)) => at >= since,
                    _ => true,
                };
                records::text(r, "updated_at").is_none_or(|v| !known.is(id, v)) || recent
            })
            .map(|(_, id)| id)
            .collect();
        let unchanged = (scanned - changed.len()) as u64;
        report.read += unchanged;
        report.unchanged += unchanged;
        sync.skipped += unchanged as i64;
        report.commit_ms += u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if changed.is_empty() {
            report.pages += 1;
            return Ok(());
        }
        let client = &integration.client;
        let plural = resource.as_str();
        let full_query = vec![("exclude_fields", format!("{plural}._links,_links"))];
        let items: Vec<Value> = if changed.len() * WHOLE_PAGE_BELOW_ONE_IN > scanned {
            // Many changed: the page in full, once. A record that moved out of it meanwhile
            // keeps its old seen version, so the next poll reads it.
            report.calls += 1;
            client
                .page(
                    resource.list_op(),
                    &integration.collection(resource),
                    plural,
                    &full_query,
                    offset,
                    self.page_size,
                )
                .await?
                .items
                .into_iter()
                .filter(|r| changed.contains(&record_id(resource, r)))
                .collect()
        } else {
            report.calls += changed.len() as u64;
            let collection = integration.collection(resource);
            let reads = futures::stream::iter(changed.iter().cloned())
                .map(|id| {
                    let path = format!("{collection}/{}", segment(&id));
                    let query = &full_query;
                    async move { client.get_opt(resource.get_op(), &path, query).await }
                })
                .buffered(client.concurrency().max(1))
                .collect::<Vec<_>>()
                .await;
            // A record deleted since the scan is simply gone.
            reads
                .into_iter()
                .filter_map(Result::transpose)
                .collect::<Result<_, _>>()?
        };
        report.fetched += items.len() as u64;
        let total = page.total_items;
        self.commit_page(
            integration,
            resource,
            Page {
                items,
                total_items: total,
            },
            SyncMode::Incremental,
            run,
            sync,
            report,
            seen,
        )
        .await
    }

    /// Commits a page read in full: in a full sync every record is published (`force`); a
    /// page of a full or reconciling sync is a bulk one, which waits for the pipeline's
    /// backlog ([`ferry_platform::connector::ingest::Backlog`]) so live changes go first.
    /// Once committed, the versions read are remembered in `seen`.
    #[allow(clippy::too_many_arguments)]
    async fn commit_page(
        &self,
        integration: &Integration,
        resource: Resource,
        mut page: Page,
        mode: SyncMode,
        run: Uuid,
        sync: &mut run_row::Model,
        report: &mut SyncReport,
        seen: Option<&mut Seen>,
    ) -> Result<(), IngestError> {
        if resource == Resource::Products {
            report.calls += complete_variants(integration, &mut page.items).await?;
        }
        let started = std::time::Instant::now();
        let force = mode == SyncMode::Full;
        let batch = self
            .decide(integration, resource, &page.items, force, run)
            .await?;
        sync.published += batch.report.published as i64;
        sync.parked += batch.report.rejected as i64;
        sync.skipped += batch.report.unchanged as i64;
        let versions: Vec<(String, String)> = if resource.scanned() {
            page.items
                .iter()
                .filter_map(|r| {
                    let v = records::text(r, "updated_at")?;
                    Some((record_id(resource, r), v.to_owned()))
                })
                .collect()
        } else {
            Vec::new()
        };
        let nothing_new = mode == SyncMode::Incremental
            && batch.page.is_empty()
            && batch.page.xrefs.is_empty()
            && seen
                .as_deref()
                .is_some_and(|seen| versions.iter().all(|(id, v)| seen.is(id, v)));
        if nothing_new {
            // Records read again only because they changed recently (within the watermark's
            // overlap), unchanged since: the poll owner remembers their versions already, so
            // there is nothing to commit; the sync's progress goes with the poll's end.
            report.read += batch.report.read;
            report.unchanged += batch.report.unchanged;
            report.pages += 1;
            report.commit_ms += u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            return Ok(());
        }
        sync.sample(Utc::now());
        // The page's events and cross-references, its seen versions and the sync's progress,
        // in one transaction fenced by the poll lease (connector kit).
        let page = if mode == SyncMode::Incremental {
            self.pipeline.open(&batch.page).await?
        } else {
            self.pipeline.open_bulk(&batch.page).await?
        };
        store::put_seen(page.txn(), integration.id(), resource.as_str(), &versions).await?;
        store::CURSORS
            .put_runs(page.txn(), std::slice::from_ref(sync))
            .await?;
        page.commit().await?;
        if let Some(seen) = seen {
            seen.put(&versions);
        }
        report.read += batch.report.read;
        report.published += batch.report.published;
        report.rejected += batch.report.rejected;
        report.unchanged += batch.report.unchanged;
        report.pages += 1;
        report.commit_ms += u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(())
    }
}

/// Completes the variants of the products read in full (MailChimp shows at most 50 inline,
/// [`variants`]), their variant pages read concurrently within the client's share; answers
/// the calls made.
async fn complete_variants(
    integration: &Integration,
    products: &mut Vec<Value>,
) -> Result<u64, ClientError> {
    let client = &integration.client;
    let store_path = integration.store_path();
    let read = futures::stream::iter(std::mem::take(products))
        .map(|mut p| {
            let (client, store_path) = (client.clone(), store_path.clone());
            async move {
                let read = variants::complete(&client, &store_path, &mut p).await?;
                Ok::<_, ClientError>((p, read))
            }
        })
        .buffered(client.concurrency().max(1))
        .collect::<Vec<_>>()
        .await;
    let mut calls = 0;
    for r in read {
        let (p, read) = r?;
        calls += u64::from(read);
        products.push(p);
    }
    Ok(calls)
}
