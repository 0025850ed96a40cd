//! Change detection: what changed in MailChimp becomes canonical events.
//!
//! | resource | how changes are found | event |
//! | --- | --- | --- |
//! | `members` (audience) | `since_last_changed` polling + list webhooks ([`crate::webhook`]) | `mailchimp.customer.observed` |
//! | `customers` (e-commerce) | projected scan + reconciliation (no e-commerce webhooks or changed-since filter exist) | `mailchimp.customer.observed` |
//! | `products` (+ variants) | projected scan + reconciliation | `mailchimp.product.observed` (+ `mailchimp.stock.observed` per variant when the integration's `publish_stock` is set) |
//! | `orders` (+ lines) | projected scan + reconciliation | `mailchimp.order.observed` |
//!
//! A product read in full with 50 variants inline (MailChimp's cap) gets all its variants
//! from the variants endpoint before it is fingerprinted and published ([`crate::variants`]).
//!
//! **Fast path (incremental poll of an e-commerce collection).** MailChimp's e-commerce
//! collections have no changed-since filter, so a poll scans the collection projected to
//! ids and change times (`fields=<plural>.id,<plural>.updated_at,total_items`, pages of
//! `page_size`, 1,000 by default, fetched concurrently within the connection share) and
//! compares each `updated_at` with the version last read in full (`mailchimp_seen`). Only
//! the records whose change time moved, or lies at or after the watermark (a second write
//! within the second of the previous read has the same `updated_at`), are read in full: one
//! `GET` each, or the page in full when more than 1 in 20 of it changed. MailChimp
//! documents no order for these collections, so the scan never stops early: every page is
//! read (an idle poll of 100,000 orders is 100 calls of ~57 KB).
//!
//! **Reconciliation.** Every `reconcile_interval_secs` (default one hour) an incremental poll
//! of an e-commerce resource reads every record in full instead and publishes every version
//! whose content fingerprint is new: it finds what the fast path cannot see (a change that
//! did not move `updated_at`, a record skipped because offsets shifted during a scan, lost
//! seen versions). `POST .../sync {"mode": "reconcile"}` runs one at once.
//!
//! **Exactly once per version.** Every record read in full is compared by its content
//! fingerprint (a digest without links, statistics and change times) with the one in
//! `connector_xrefs`. For each page, one transaction writes the new fingerprints, the seen
//! versions, the events (into the outbox) and the sync progress: a crash anywhere re-reads
//! the page and publishes nothing twice, and nothing is
//! lost, since the outbox relay publishes with broker confirms and deletes a row only once
//! confirmed. The poll watermark (`mailchimp_cursors.watermark`, the start of the last complete
//! poll minus `poll_overlap_secs`) advances only when every page of the poll is committed.
//!
//! **Invalid records** (no e-mail, unknown country, ...) publish nothing. They are raised as a
//! `mailchimp.record.recheck` command ([`RecordRecheck`], carrying the raw record and the
//! reason) through the same outbox to this connector's own queue, whose handler reads the
//! record again and, if it is still invalid, dead-letters the message with the reason: it
//! lands in the parking lot (`GET /api/v1/dead-letters`) where an operator sees the record
//! and why. After fixing the record in MailChimp, a replay publishes it.
//!
//! **Full sync (backfill)**: reads every record regardless of fingerprints, fetching pages
//! concurrently (up to the integration's connection share) while earlier pages are being
//! committed; progress (`sync_total`, `sync_done`, ..., and recent samples for the rate and
//! time left) is in the cursor row, written with each page, shown by the admin API
//! (`GET .../cursors`, `GET .../progress`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{Bus, BusMessage, queues, with_new_trace};
use ferry_platform::connector::ingest::{self, PageError, Pipeline};
use ferry_platform::connector::poll::{PollError, Poller};
use ferry_proto::messages::{CustomerObserved, OrderObserved, ProductObserved, StockObserved};
use ferry_proto::{Envelope, IntegrationId, Message, MessageId, MessageKind, System};
use futures::StreamExt;
use schemars::JsonSchema;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::client::{ClientError, Page, segment};
use crate::integrations::{Integration, Integrations};
use crate::records::{self, Rejected};
use crate::resource::Resource;
use ferry_platform::connector::Xref;
use ferry_platform::connector::progress::{Sample, Samples};

use crate::store::{self, XREFS, XrefKind};
use crate::variants;

/// Above this share of changed records in a scanned page (1 in N), the fast path reads the
/// whole page in full (one call) instead of each changed record (one call each).
const WHOLE_PAGE_BELOW_ONE_IN: usize = 20;

/// Full (every record, republished), incremental (what changed) or reconcile (every record
/// read in full, new versions published).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Read everything and publish everything.
    Full,
    /// Read what changed and publish new versions only: members by `since_last_changed`,
    /// e-commerce records by a projected scan of ids and change times (the fast path).
    Incremental,
    /// Read every record in full and publish the versions not published yet (catches what
    /// the fast path cannot see; run every `reconcile_interval_secs` by the poller).
    Reconcile,
}

impl SyncMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
            Self::Reconcile => "reconcile",
        }
    }
}

/// Command to this connector itself: read a record again and publish it, or park it when it is
/// (still) invalid. Sent for invalid polled records and for list webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordRecheck {
    /// Always `mailchimp`.
    pub target: System,
    /// Which collection.
    pub resource: Resource,
    /// The record's MailChimp id (a subscriber hash for members).
    pub mailchimp_id: String,
    /// Why it was not published, when it was found invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The record (or webhook data) as received.
    #[serde(default)]
    pub raw: Value,
}

impl Message for RecordRecheck {
    const MESSAGE_TYPE: &'static str = "record.recheck";
    const SCHEMA_VERSION: u16 = 1;
    const KIND: MessageKind = MessageKind::Command;

    fn system(&self) -> System {
        self.target
    }

    fn record_key(&self) -> Option<String> {
        Some(format!("{}/{}", self.resource.as_str(), self.mailchimp_id))
    }
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// MailChimp failed.
    #[error(transparent)]
    Api(#[from] ClientError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// An event could not be encoded.
    #[error("cannot encode an event: {0}")]
    Encode(String),
    /// A page fetch task died.
    #[error("a page fetch failed: {0}")]
    Task(String),
    /// A page was not committed (a parked record refused by the bus, the database, a lost
    /// poll lease).
    #[error(transparent)]
    Page(#[from] PageError),
}

/// What one sync of one resource did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    /// The sync run: the correlation id of every event it published.
    pub correlation_id: Uuid,
    /// Records read.
    pub read: u64,
    /// Records published.
    pub published: u64,
    /// Records parked as invalid.
    pub rejected: u64,
    /// Records unchanged since they were last published.
    pub unchanged: u64,
    /// Pages read.
    pub pages: u64,
    /// Records the fast path read in full because their change time moved (or is recent).
    pub fetched: u64,
    /// API calls made.
    pub calls: u64,
    /// Milliseconds spent deciding and committing pages (the connector's own work, while
    /// further pages are being fetched).
    pub commit_ms: u64,
}

/// What handling a [`RecordRecheck`] decided.
#[derive(Debug)]
pub enum RecheckOutcome {
    /// Published (or already published in this version).
    Done,
    /// The record no longer exists in MailChimp.
    Gone,
    /// Still invalid: park it with this reason.
    Invalid(Rejected),
}

/// Reads MailChimp and publishes what changed.
pub struct Ingester {
    db: DatabaseConnection,
    pipeline: Pipeline,
    integrations: Arc<Integrations>,
    initial_sync: bool,
    page_size: u32,
    overlap: Duration,
    reconcile_every: Duration,
}

/// Events and cross-references decided for a batch of records (the kit's page), and what
/// the sync reports of it.
struct Batch {
    page: ingest::Batch,
    report: SyncReport,
}

impl Ingester {
    /// An ingester publishing through `outbox`; `bus` takes what cannot be published.
    pub fn new(
        db: DatabaseConnection,
        bus: Arc<dyn Bus>,
        outbox: Outbox,
        integrations: Arc<Integrations>,
    ) -> Self {
        let section = integrations.section().clone();
        Self {
            pipeline: Pipeline::new(
                db.clone(),
                bus,
                outbox,
                System::Mailchimp,
                queues::CONNECTOR_MAILCHIMP,
            ),
            db,
            integrations,
            initial_sync: section.initial_sync,
            page_size: section.page_size.clamp(1, 1000),
            overlap: Duration::from_secs(section.poll_overlap_secs),
            reconcile_every: Duration::from_secs(section.reconcile_interval_secs),
        }
    }

    /// The integrations.
    pub fn integrations(&self) -> &Arc<Integrations> {
        &self.integrations
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Syncs every enabled resource of `integration`; stops at the first failure.
    pub async fn sync_all(
        &self,
        integration: &Integration,
        mode: SyncMode,
    ) -> Result<Vec<(Resource, SyncReport)>, IngestError> {
        let mut out = Vec::new();
        for resource in Resource::all() {
            if integration.connection.resources.contains(&resource) {
                out.push((resource, self.sync(integration, resource, mode).await?));
            }
        }
        Ok(out)
    }

    /// Syncs one resource. An incremental sync of a resource never synced is a full one.
    #[tracing::instrument(skip_all, fields(integration = %integration.id(), resource = resource.as_str(), mode = mode.as_str()))]
    pub async fn sync(
        &self,
        integration: &Integration,
        resource: Resource,
        mode: SyncMode,
    ) -> Result<SyncReport, IngestError> {
        let _serial = integration.sync_lock.lock().await;
        let started = Utc::now();
        let mut cursor = store::cursor(&self.db, integration.id(), resource.as_str())
            .await?
            .unwrap_or_else(|| new_cursor(integration, resource));
        let mode = if cursor.watermark.is_none() {
            SyncMode::Full
        } else if mode == SyncMode::Incremental
            && resource.scanned()
            && self.reconcile_due(integration, resource, started).await?
        {
            SyncMode::Reconcile
        } else {
            mode
        };
        let since = match mode {
            SyncMode::Full | SyncMode::Reconcile => None,
            SyncMode::Incremental => cursor.watermark,
        };
        cursor.sync_state = "running".into();
        cursor.sync_mode = mode.as_str().into();
        cursor.sync_total = 0;
        cursor.sync_done = 0;
        cursor.sync_published = 0;
        cursor.sync_rejected = 0;
        cursor.sync_started_at = Some(started);
        cursor.sync_finished_at = None;
        cursor.last_error = None;
        cursor.sync_samples = Some(Samples::started(started).to_json());
        store::save_cursor(&self.db, cursor.clone()).await?;

        let run = Uuid::now_v7();
        let result = self
            .read_all(integration, resource, mode, since, run, &mut cursor)
            .await;
        let finished = Utc::now();
        cursor.sync_finished_at = Some(finished);
        match &result {
            Ok(report) => {
                if resource.scanned() && mode != SyncMode::Incremental {
                    store::set_reconciled(&self.db, integration.id(), resource.as_str(), finished)
                        .await?;
                }
                cursor.sync_state = "done".into();
                cursor.watermark = Some(
                    started
                        - chrono::Duration::from_std(self.overlap)
                            .unwrap_or(chrono::Duration::zero()),
                );
                cursor.last_poll_at = Some(finished);
                tracing::info!(
                    read = report.read,
                    published = report.published,
                    rejected = report.rejected,
                    unchanged = report.unchanged,
                    fetched = report.fetched,
                    calls = report.calls,
                    "MailChimp sync done"
                );
            }
            Err(e) => {
                cursor.sync_state = "failed".into();
                cursor.last_error = Some(e.to_string());
                tracing::warn!(error = %e, "MailChimp sync failed; the watermark stays");
            }
        }
        store::save_cursor(&self.db, cursor).await?;
        result
    }

    /// Whether the resource's last full-record pass is older than the reconciliation
    /// interval.
    async fn reconcile_due(
        &self,
        integration: &Integration,
        resource: Resource,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let last = store::reconciled_at(&self.db, integration.id(), resource.as_str()).await?;
        let every =
            chrono::Duration::from_std(self.reconcile_every).unwrap_or(chrono::Duration::MAX);
        Ok(last.is_none_or(|t| now - t >= every))
    }

    async fn read_all(
        &self,
        integration: &Integration,
        resource: Resource,
        mode: SyncMode,
        since: Option<DateTime<Utc>>,
        run: Uuid,
        cursor: &mut store::cursor::Model,
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
                .pages(integration, resource, query, cursor, &mut report)
                .await?;
            while let Some((offset, page)) = pages.next().await {
                let page = page.map_err(|e| IngestError::Task(e.to_string()))??;
                if page.items.is_empty() {
                    break;
                }
                self.commit_changed(
                    integration,
                    resource,
                    offset,
                    page,
                    since,
                    run,
                    cursor,
                    &mut report,
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
        let force = mode == SyncMode::Full;
        let mut pages = self
            .pages(integration, resource, query, cursor, &mut report)
            .await?;
        while let Some((_, page)) = pages.next().await {
            let page = page.map_err(|e| IngestError::Task(e.to_string()))??;
            if page.items.is_empty() {
                break;
            }
            self.commit_page(integration, resource, page, force, run, cursor, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Every page of a collection with `query`, in order, with its offset: the first read
    /// here (for the total), the rest each by a task of its own, at most the client's share
    /// at once (so fetching goes on while earlier pages are committed).
    async fn pages<'a>(
        &self,
        integration: &Integration,
        resource: Resource,
        query: Vec<(&'static str, String)>,
        cursor: &mut store::cursor::Model,
        report: &mut SyncReport,
    ) -> Result<
        futures::stream::BoxStream<
            'a,
            (
                u64,
                Result<Result<Page, ClientError>, tokio::task::JoinError>,
            ),
        >,
        IngestError,
    > {
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
        cursor.sync_total = i64::try_from(total).unwrap_or(i64::MAX);
        report.calls += 1;
        let mut offsets = Vec::new();
        let mut offset = first.items.len() as u64;
        while offset < total && !first.items.is_empty() {
            offsets.push(offset);
            offset += u64::from(size);
        }
        report.calls += offsets.len() as u64;
        let width = client.concurrency().max(1);
        let rest = futures::stream::iter(offsets)
            .map(move |offset| {
                let client = client.clone();
                let path = path.clone();
                let query = query.clone();
                let task = tokio::spawn(async move {
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
                });
                async move { (offset, task.await) }
            })
            .buffered(width);
        Ok(futures::stream::once(async move { (0, Ok(Ok(first))) })
            .chain(rest)
            .boxed())
    }

    /// The fast path for one scanned page (`id`, `updated_at` of each record): reads in full
    /// the records whose change time moved since the version last read in full, or is at or
    /// after `since` (a change in the same second as the last read), and commits them.
    #[allow(clippy::too_many_arguments)]
    async fn commit_changed(
        &self,
        integration: &Integration,
        resource: Resource,
        offset: u64,
        page: Page,
        since: Option<DateTime<Utc>>,
        run: Uuid,
        cursor: &mut store::cursor::Model,
        report: &mut SyncReport,
    ) -> Result<(), IngestError> {
        let scanned = page.items.len();
        let ids: Vec<String> = page.items.iter().map(|r| record_id(resource, r)).collect();
        let seen =
            store::seen_versions(&self.db, integration.id(), resource.as_str(), &ids).await?;
        let changed: std::collections::HashSet<String> = page
            .items
            .iter()
            .zip(ids)
            .filter(|(r, id)| {
                let version = records::text(r, "updated_at");
                let recent = match (records::changed_at(r), since) {
                    (Some(at), Some(since)) => at >= since,
                    _ => true,
                };
                version.is_none() || seen.get(id).map(String::as_str) != version || recent
            })
            .map(|(_, id)| id)
            .collect();
        let unchanged = (scanned - changed.len()) as u64;
        report.read += unchanged;
        report.unchanged += unchanged;
        cursor.sync_done += unchanged as i64;
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
            false,
            run,
            cursor,
            report,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit_page(
        &self,
        integration: &Integration,
        resource: Resource,
        mut page: Page,
        force: bool,
        run: Uuid,
        cursor: &mut store::cursor::Model,
        report: &mut SyncReport,
    ) -> Result<(), IngestError> {
        if resource == Resource::Products {
            report.calls += complete_variants(integration, &mut page.items).await?;
        }
        let started = std::time::Instant::now();
        let batch = self
            .decide(integration, resource, &page.items, force, run)
            .await?;
        cursor.sync_done += batch.report.read as i64;
        cursor.sync_published += batch.report.published as i64;
        cursor.sync_rejected += batch.report.rejected as i64;
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
        record_sample(cursor);
        // The page's events and cross-references, its seen versions and the cursor, in one
        // transaction fenced by the poll lease (connector kit).
        let page = self.pipeline.open(&batch.page).await?;
        store::put_seen(page.txn(), integration.id(), resource.as_str(), &versions).await?;
        store::save_cursor(page.txn(), cursor.clone()).await?;
        page.commit().await?;
        report.read += batch.report.read;
        report.published += batch.report.published;
        report.rejected += batch.report.rejected;
        report.unchanged += batch.report.unchanged;
        report.pages += 1;
        report.commit_ms += u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(())
    }

    /// Decides, for each record, whether to publish it (and what), park it or skip it.
    async fn decide(
        &self,
        integration: &Integration,
        resource: Resource,
        records: &[Value],
        force: bool,
        run: Uuid,
    ) -> Result<Batch, IngestError> {
        let kind = resource.xref_kind();
        let ids: Vec<String> = records.iter().map(|r| record_id(resource, r)).collect();
        let known = XREFS
            .by_ids(&self.db, integration.id(), kind.as_str(), &ids)
            .await?;
        let variant_skus = if resource == Resource::Orders {
            self.variant_skus(integration, records).await?
        } else {
            HashMap::new()
        };
        let mut batch = Batch {
            page: self.pipeline.batch(integration.id(), run),
            report: SyncReport::default(),
        };
        for (raw, id) in records.iter().zip(ids) {
            batch.report.read += 1;
            let fingerprint = records::fingerprint(raw);
            let unchanged = known
                .get(&id)
                .is_some_and(|x| x.fingerprint.as_deref() == Some(fingerprint.as_str()));
            if unchanged && !force {
                batch.report.unchanged += 1;
                continue;
            }
            match self.observe(integration, resource, raw, &id, &variant_skus, run, force) {
                Ok((messages, xrefs)) => {
                    batch.page.events.extend(messages);
                    batch.page.xrefs.extend(xrefs);
                    batch.report.published += 1;
                }
                Err(ObserveError::Rejected(rejected)) => {
                    tracing::warn!(resource = resource.as_str(), id = %id, reason = %rejected.reason, "MailChimp record is invalid; parking it");
                    let recheck = RecordRecheck {
                        target: System::Mailchimp,
                        resource,
                        mailchimp_id: id.clone(),
                        reason: Some(rejected.to_string()),
                        raw: raw.clone(),
                    };
                    let rid = (!force).then(|| {
                        version_id(
                            integration.id(),
                            resource,
                            &id,
                            &fingerprint,
                            records::changed_at(raw),
                            "recheck",
                        )
                    });
                    batch.page.events.push(message(stamp(
                        Envelope::new(integration.id(), recheck),
                        run,
                        rid,
                    ))?);
                    batch.page.xrefs.push(Xref {
                        kind: kind.as_str(),
                        external_id: id,
                        canonical_key: None,
                        fingerprint: Some(fingerprint),
                    });
                    batch.report.rejected += 1;
                }
                Err(ObserveError::Encode(e)) => return Err(IngestError::Encode(e)),
            }
        }
        Ok(batch)
    }

    /// SKUs of the variants named by the order lines of `orders`, where known.
    async fn variant_skus(
        &self,
        integration: &Integration,
        orders: &[Value],
    ) -> Result<HashMap<String, String>, DbErr> {
        let mut keys = Vec::new();
        for o in orders {
            for l in o
                .get("lines")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let p = records::text(l, "product_id").unwrap_or_default();
                let v = records::text(l, "product_variant_id").unwrap_or_default();
                keys.push(format!("{p}/{v}"));
            }
        }
        let found = XREFS
            .by_ids(
                &self.db,
                integration.id(),
                XrefKind::Variant.as_str(),
                &keys,
            )
            .await?;
        Ok(found
            .into_values()
            .filter_map(|x| {
                let variant = x.external_id.split_once('/')?.1.to_owned();
                Some((variant, x.canonical_key?))
            })
            .collect())
    }

    /// The events and cross-references of one valid record.
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &self,
        integration: &Integration,
        resource: Resource,
        raw: &Value,
        id: &str,
        variant_skus: &HashMap<String, String>,
        run: Uuid,
        fresh: bool,
    ) -> Result<(Vec<BusMessage>, Vec<Xref>), ObserveError> {
        let iid = integration.id();
        let c = &integration.connection;
        let version = records::fingerprint(raw);
        // One version of one record is one message id (unless a full sync republishes on
        // purpose): a second replica, a crash between commit and cursor, or a webhook racing a
        // poll publish the same id, which every consumer's inbox absorbs.
        let at = records::changed_at(raw);
        let envelope = |payload_key: &str| -> Option<MessageId> {
            (!fresh).then(|| version_id(iid, resource, id, &version, at, payload_key))
        };
        let fingerprint = Some(version.clone());
        let kind = resource.xref_kind();
        let mut messages = Vec::new();
        let mut xrefs = Vec::new();
        match resource {
            Resource::Members | Resource::Customers => {
                let customer = if resource == Resource::Members {
                    records::member(raw, &c.company_merge_field)?
                } else {
                    records::customer(raw)?
                };
                xrefs.push(Xref {
                    kind: kind.as_str(),
                    external_id: id.to_owned(),
                    canonical_key: Some(customer.email.to_string()),
                    fingerprint,
                });
                let event = CustomerObserved {
                    source: System::Mailchimp,
                    customer,
                    raw: raw.clone(),
                };
                messages.push(message(stamp(
                    Envelope::new(iid, event),
                    run,
                    envelope(""),
                ))?);
            }
            Resource::Products => {
                let product = records::product(raw, c.currency)?;
                xrefs.push(Xref {
                    kind: kind.as_str(),
                    external_id: id.to_owned(),
                    canonical_key: Some(product.sku.to_string()),
                    fingerprint,
                });
                for (vid, sku) in records::variant_keys(raw) {
                    xrefs.push(Xref {
                        kind: XrefKind::Variant.as_str(),
                        external_id: format!("{id}/{vid}"),
                        canonical_key: Some(sku),
                        fingerprint: None,
                    });
                }
                if c.publish_stock {
                    for stock in records::stock_levels(raw, Utc::now()) {
                        let key = format!("stock:{}", stock.sku);
                        let event = StockObserved {
                            source: System::Mailchimp,
                            stock,
                            raw: raw.clone(),
                        };
                        messages.push(message(stamp(
                            Envelope::new(iid, event),
                            run,
                            envelope(&key),
                        ))?);
                    }
                }
                let event = ProductObserved {
                    source: System::Mailchimp,
                    product,
                    raw: raw.clone(),
                };
                messages.push(message(stamp(
                    Envelope::new(iid, event),
                    run,
                    envelope(""),
                ))?);
            }
            Resource::Orders => {
                let order = records::order(raw, c.currency, variant_skus)?;
                xrefs.push(Xref {
                    kind: kind.as_str(),
                    external_id: id.to_owned(),
                    canonical_key: Some(order.external_id.to_string()),
                    fingerprint,
                });
                let event = OrderObserved {
                    source: System::Mailchimp,
                    order,
                    raw: raw.clone(),
                };
                messages.push(message(stamp(
                    Envelope::new(iid, event),
                    run,
                    envelope(""),
                ))?);
            }
        }
        Ok((messages, xrefs))
    }

    /// Reads the record a [`RecordRecheck`] names; `None` when it no longer exists.
    pub async fn fetch(
        &self,
        integration: &Integration,
        recheck: &RecordRecheck,
    ) -> Result<Option<Value>, ClientError> {
        let resource = recheck.resource;
        let id = &recheck.mailchimp_id;
        let path = match resource {
            Resource::Members => format!("{}/members/{}", integration.list_path(), segment(id)),
            _ => format!(
                "{}/{}/{}",
                integration.store_path(),
                resource.as_str(),
                segment(id)
            ),
        };
        let mut raw = integration
            .client
            .get_opt(resource.get_op(), &path, &[])
            .await?;
        if let (Resource::Products, Some(product)) = (resource, raw.as_mut()) {
            variants::complete(&integration.client, &integration.store_path(), product).await?;
        }
        Ok(raw)
    }

    /// Publishes the record `raw` read for a [`RecordRecheck`] if it is valid and this version
    /// was not published yet (webhooks and polls never publish one version twice). Writes on
    /// `txn` (which the caller commits); [`RecheckOutcome::Invalid`] when it cannot be parsed.
    pub async fn apply<C: ConnectionTrait>(
        &self,
        txn: &C,
        integration: &Integration,
        command: &Envelope<RecordRecheck>,
        raw: &Value,
    ) -> Result<RecheckOutcome, IngestError> {
        let resource = command.payload.resource;
        let id = &command.payload.mailchimp_id;
        let kind = resource.xref_kind();
        let known = XREFS
            .by_id(txn, integration.id(), kind.as_str(), id)
            .await?;
        let fingerprint = records::fingerprint(raw);
        if known.is_some_and(|x| {
            x.canonical_key.is_some() && x.fingerprint.as_deref() == Some(fingerprint.as_str())
        }) {
            return Ok(RecheckOutcome::Done);
        }
        let variant_skus = if resource == Resource::Orders {
            self.variant_skus(integration, std::slice::from_ref(raw))
                .await?
        } else {
            HashMap::new()
        };
        match self.observe(
            integration,
            resource,
            raw,
            id,
            &variant_skus,
            command.correlation_id,
            false,
        ) {
            Ok((messages, xrefs)) => {
                // Two rechecks of one record (a webhook per event of one change) may read the
                // same version at once: the one that records it publishes it.
                if !XREFS
                    .claim_version(txn, integration.id(), kind.as_str(), id, &fingerprint)
                    .await?
                {
                    return Ok(RecheckOutcome::Done);
                }
                XREFS.put(txn, integration.id(), &xrefs).await?;
                self.pipeline.outbox().enqueue_many(txn, &messages).await?;
                Ok(RecheckOutcome::Done)
            }
            Err(ObserveError::Rejected(rejected)) => Ok(RecheckOutcome::Invalid(rejected)),
            Err(ObserveError::Encode(e)) => Err(IngestError::Encode(e)),
        }
    }

    /// The outbox (to wake after a commit).
    pub fn outbox(&self) -> &Outbox {
        self.pipeline.outbox()
    }
}

/// MailChimp's side of the kit's polling: one poll is an incremental sync of each enabled
/// resource (a full one first when never synced and `initial_sync` is on; a resource never
/// synced is left alone when it is off).
#[async_trait::async_trait]
impl Poller for Ingester {
    fn integrations(&self) -> Vec<IntegrationId> {
        self.integrations.active().iter().map(|i| i.id()).collect()
    }

    fn is_active(&self, id: IntegrationId) -> bool {
        self.integrations.is_active(id)
    }

    async fn poll(&self, id: IntegrationId) -> Result<u64, PollError> {
        let Some(integration) = self.integrations.get(id) else {
            return Ok(0);
        };
        let mut changes = 0;
        let mut first_error: Option<PollError> = None;
        for resource in Resource::all() {
            if !integration.connection.resources.contains(&resource) {
                continue;
            }
            let never = match store::cursor(&self.db, id, resource.as_str()).await {
                Ok(cursor) => cursor.is_none_or(|c| c.watermark.is_none()),
                Err(error) => {
                    first_error.get_or_insert(Box::new(error));
                    continue;
                }
            };
            if never && !self.initial_sync {
                continue;
            }
            match self
                .sync(&integration, resource, SyncMode::Incremental)
                .await
            {
                Ok(report) => changes += report.published + report.rejected,
                Err(error) => {
                    tracing::warn!(integration = %id, resource = resource.as_str(), %error, "MailChimp poll failed");
                    first_error.get_or_insert(Box::new(error));
                }
            }
        }
        first_error.map_or(Ok(changes), Err)
    }
}

/// Sets the correlation id and, when given, the message id.
fn stamp<P: Message>(mut envelope: Envelope<P>, run: Uuid, id: Option<MessageId>) -> Envelope<P> {
    if let Some(id) = id {
        envelope.message_id = id;
    }
    envelope.with_correlation(run)
}

/// The message id of one version of one record: a UUID v7 whose time is when the record
/// changed (`at`) and whose other bits are a digest of integration, resource, record id,
/// version and `part`.
pub fn version_id(
    integration: IntegrationId,
    resource: Resource,
    id: &str,
    version: &str,
    at: Option<DateTime<Utc>>,
    part: &str,
) -> MessageId {
    use md5::{Digest, Md5};
    let millis = at
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
        .unwrap_or(0);
    let digest = Md5::digest(
        format!("{integration}|{}|{id}|{version}|{part}", resource.as_str()).as_bytes(),
    );
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&digest[..10]);
    let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid();
    MessageId::from_uuid(uuid).unwrap_or_default()
}

fn new_cursor(integration: &Integration, resource: Resource) -> store::cursor::Model {
    store::cursor::Model {
        integration_id: integration.id().as_uuid(),
        resource: resource.as_str().to_owned(),
        watermark: None,
        last_poll_at: None,
        sync_state: "idle".into(),
        sync_mode: SyncMode::Full.as_str().into(),
        sync_total: 0,
        sync_done: 0,
        sync_published: 0,
        sync_rejected: 0,
        sync_started_at: None,
        sync_finished_at: None,
        last_error: None,
        sync_samples: None,
    }
}

/// Adds the records read so far to the sync's progress samples (its rate and time left,
/// served by `GET .../progress`); saved with the cursor in the page's transaction.
fn record_sample(cursor: &mut store::cursor::Model) {
    let mut samples = Samples::from_json(cursor.sync_samples.as_ref());
    let done = u64::try_from(cursor.sync_done).unwrap_or(0);
    samples.record(Sample {
        at: Utc::now(),
        done,
        position: done,
    });
    cursor.sync_samples = Some(samples.to_json());
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

/// The MailChimp id of a record (for a record without one: a digest of it, so it can still
/// be parked and found).
fn record_id(resource: Resource, raw: &Value) -> String {
    let id = match resource {
        Resource::Members => records::text(raw, "id").map(str::to_owned),
        _ => records::id_of(raw),
    };
    id.unwrap_or_else(|| format!("no-id-{}", records::fingerprint(raw)))
}

pub(crate) enum ObserveError {
    Rejected(Rejected),
    Encode(String),
}

impl From<Rejected> for ObserveError {
    fn from(r: Rejected) -> Self {
        Self::Rejected(r)
    }
}

impl From<ObserveError> for IngestError {
    fn from(e: ObserveError) -> Self {
        match e {
            ObserveError::Rejected(r) => IngestError::Encode(r.to_string()),
            ObserveError::Encode(e) => IngestError::Encode(e),
        }
    }
}

/// The bus form of an observed record's envelope, starting a trace of its own (linked to the
/// sync run's span).
pub(crate) fn message<P: Message>(envelope: Envelope<P>) -> Result<BusMessage, ObserveError> {
    BusMessage::from_envelope(&with_new_trace(envelope))
        .map_err(|e| ObserveError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_version_of_one_record_is_one_time_ordered_message_id() {
        let integration = IntegrationId::new();
        let t1 = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+00:00")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        let t2 = t1.map(|t| t + chrono::Duration::seconds(1));
        let id = |i: IntegrationId, r: Resource, rec: &str, v: &str, at| {
            version_id(i, r, rec, v, at, "")
        };
        let a = id(integration, Resource::Customers, "c1", "v1", t1);
        assert_eq!(a, id(integration, Resource::Customers, "c1", "v1", t1));
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert_ne!(a, id(integration, Resource::Customers, "c2", "v1", t1));
        assert_ne!(a, id(integration, Resource::Customers, "c1", "v2", t1));
        assert_ne!(a, id(integration, Resource::Members, "c1", "v1", t1));
        assert_ne!(
            a,
            id(IntegrationId::new(), Resource::Customers, "c1", "v1", t1)
        );
        assert!(
            id(integration, Resource::Customers, "c1", "v2", t2) > a,
            "newer versions sort later"
        );
    }
}
