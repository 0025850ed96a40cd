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
//! read (an idle poll of 100,000 orders is 100 calls of ~57 KB). After the first page (which
//! tells the total) it reads the **last pages first** (the kit's
//! [`ferry_platform::connector::ingest::offsets`]): MailChimp keeps records in creation order
//! in practice, so new records are found one round trip into the scan, not at its end. Were
//! the order another one, nothing is missed (every page is still read); new records are only
//! found later in the scan.
//!
//! | module | what |
//! | --- | --- |
//! | this one | [`Ingester`]: a sync of one resource (mode, cursor, progress, watermark), the kit's poller ([`PollServed`]) |
//! | `scan` | the reading: pages of a collection, the fast path's projected scan, the commit of a page |
//! | `observe` | the conversion: each record read in full to events and cross-references, a recheck (invalid) or nothing (unchanged); [`version_id`] |
//! | `recheck` | [`RecordRecheck`]: read one record again, publish it or park it with its reason |
//! | `memory` | [`Remembered`]: what the poll owner keeps between polls (cursors, seen versions), so an idle poll reads nothing and writes every [`STORE_IDLE_EVERY`] |
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
//! confirmed. The poll watermark (the resource's `connector_cursors.watermark`, the start of
//! the last complete poll minus `poll_overlap_secs`) advances only when every page of the poll
//! is committed.
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
//! committed; each page of a full or reconciling sync waits while `backfill_backlog` messages
//! are ahead in the pipeline's queues (the kit's `Backlog`), so the live changes of every
//! integration are not queued behind a backfill; progress (total, records published, parked
//! and skipped, and recent samples for the rate and time left) is in the resource's
//! `connector_runs` row, written with each page, shown by the admin API (`GET .../cursors`,
//! `GET .../progress`).
//!
//! **Operators' syncs** (`POST .../sync`) run on the replica owning the integration's polling
//! ([`Ingester::request_sync`], the kit's `PollScheduler::request`), in place of a poll and
//! under its fence, never beside it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{Bus, queues};
use ferry_platform::connector::cursors::{cursor_row, run_row};
use ferry_platform::connector::ingest::{PageError, Pipeline};
use ferry_platform::connector::poll::{PollError, PollScheduler, PollServed};
use ferry_proto::System;
use sea_orm::{DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::ClientError;
use crate::integrations::{Integration, Integrations};
use crate::resource::Resource;
use crate::store;

mod memory;
mod observe;
mod recheck;
mod scan;

pub use memory::{PollMemory, Remembered, STORE_IDLE_EVERY};

pub(crate) use observe::message;
pub use observe::version_id;
pub use recheck::{RecheckOutcome, RecordRecheck};

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
    /// Milliseconds spent comparing scanned pages with the versions seen, deciding and
    /// committing pages (the connector's own work, while further pages are being fetched).
    pub commit_ms: u64,
}

/// Reads MailChimp and publishes what changed.
pub struct Ingester {
    db: DatabaseConnection,
    /// The replica's poll scheduler, once polling runs (operators' syncs go to the owner).
    scheduler: Arc<std::sync::OnceLock<PollScheduler>>,
    pipeline: Pipeline,
    integrations: Arc<Integrations>,
    initial_sync: bool,
    page_size: u32,
    overlap: Duration,
    reconcile_every: Duration,
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
            )
            .with_backlog(section.backfill_backlog),
            db,
            scheduler: Arc::default(),
            integrations,
            initial_sync: section.initial_sync,
            page_size: section.page_size.clamp(1, 1000),
            overlap: Duration::from_secs(section.poll_overlap_secs),
            reconcile_every: Duration::from_secs(section.reconcile_interval_secs),
        }
    }

    /// Sends the operators' syncs of live integrations to their poll owner through
    /// `scheduler` (this replica's, once polling runs).
    pub fn set_scheduler(&self, scheduler: PollScheduler) {
        let _ = self.scheduler.set(scheduler);
    }

    /// Has `request` run by the replica owning `integration`'s polling (under its fence, in
    /// place of a poll), when polling runs here and some replica polls the integration (an
    /// unexpired poll lease: not this replica's view of the registry, which may lag by a
    /// refresh); answers whether it was handed over (else the caller runs it).
    pub async fn request_sync(
        &self,
        integration: &Integration,
        request: &SyncRequest,
    ) -> Result<bool, DbErr> {
        let Some(scheduler) = self.scheduler.get() else {
            return Ok(false);
        };
        if !scheduler.is_polled(integration.id()).await? {
            return Ok(false);
        }
        let text = serde_json::to_string(request).map_err(|e| DbErr::Custom(e.to_string()))?;
        scheduler.request(integration.id(), text).await?;
        Ok(true)
    }

    /// Runs `request`'s syncs of `integration`, one resource after another; answers the
    /// records published or parked. Stops at the first failure.
    pub async fn run_request(
        &self,
        integration: &Integration,
        request: &SyncRequest,
    ) -> Result<u64, IngestError> {
        let mut changes = 0;
        for resource in &request.resources {
            let report = self.sync(integration, *resource, request.mode).await?;
            changes += report.published + report.rejected;
        }
        Ok(changes)
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
        let mut memory = integration.sync_lock.lock().await;
        let mut remembered = memory.current();
        let starts =
            Remembered::starts(remembered.as_deref_mut(), &self.db, integration.id()).await?;
        let mut ends = Ends::default();
        let result = self
            .sync_from(
                integration,
                resource,
                mode,
                &starts,
                &mut ends,
                remembered.as_deref_mut(),
            )
            .await;
        ends.store(&self.db, remembered).await?;
        result
    }

    /// [`Ingester::sync`] from `starts` (the cursors and last reconciliations, remembered or
    /// read by the caller under the integration's `sync_lock`, which it holds, with the
    /// memory `remembered` when it runs under a poll lease). An incremental sync leaves its
    /// end (cursor and run) in `ends`, for its caller to store with those of the poll's other
    /// resources (or not yet, for an idle poll: [`Remembered`]). A page that found changes
    /// stores the run with the page. A full or reconciling sync stores its start, for the
    /// progress of a long run, and its end at once (each with the `ends` before it).
    async fn sync_from(
        &self,
        integration: &Integration,
        resource: Resource,
        mode: SyncMode,
        starts: &memory::Starts,
        ends: &mut Ends,
        mut remembered: Option<&mut Remembered>,
    ) -> Result<SyncReport, IngestError> {
        let started = Utc::now();
        let id = integration.id();
        let reconciled = if resource.scanned() {
            starts.reconciled(resource)
        } else {
            None
        };
        let mut cursor = starts
            .cursor(resource)
            .unwrap_or_else(|| store::CURSORS.unmoved(id, resource.as_str()));
        let mode = if cursor.watermark.is_none() {
            SyncMode::Full
        } else if mode == SyncMode::Incremental
            && resource.scanned()
            && self.reconcile_due(reconciled, started)
        {
            SyncMode::Reconcile
        } else {
            mode
        };
        let since = match mode {
            SyncMode::Full | SyncMode::Reconcile => None,
            SyncMode::Incremental => cursor.watermark,
        };
        let mut sync =
            store::CURSORS.start_run(id, resource.as_str(), mode.as_str(), started, 0, None);
        // Known once the first page is read.
        sync.total = Some(0);
        if mode != SyncMode::Incremental {
            // With the ends before it: they are not left waiting for a long run.
            ends.runs.push(sync.clone());
            std::mem::take(ends)
                .store(&self.db, remembered.as_deref_mut())
                .await?;
        }

        let run = Uuid::now_v7();
        let seen = remembered.as_deref_mut().map(|m| m.seen(resource));
        let result = self
            .read_all(integration, resource, mode, since, run, &mut sync, seen)
            .await;
        let finished = Utc::now();
        let mut reconciled_at = None;
        match &result {
            Ok(report) => {
                if resource.scanned() && mode != SyncMode::Incremental {
                    store::set_reconciled(&self.db, id, resource.as_str(), finished).await?;
                    reconciled_at = Some(finished);
                }
                sync.finish(None, finished);
                cursor.watermark = Some(
                    started
                        - chrono::Duration::from_std(self.overlap)
                            .unwrap_or(chrono::Duration::zero()),
                );
                cursor.polled_at = Some(finished);
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
                sync.finish(Some(e.to_string()), finished);
                tracing::warn!(error = %e, "MailChimp sync failed; the watermark stays");
            }
        }
        cursor.records += sync.published;
        cursor.parked += sync.parked;
        cursor.updated_at = finished;
        if let Some(memory) = remembered.as_deref_mut() {
            memory.ended(&cursor, reconciled_at);
        }
        ends.cursors.push(cursor);
        ends.runs.push(sync);
        if mode != SyncMode::Incremental {
            std::mem::take(ends).store(&self.db, remembered).await?;
        }
        result
    }

    /// Whether the resource's last full-record pass (`last`) is older than the
    /// reconciliation interval.
    fn reconcile_due(&self, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        let every =
            chrono::Duration::from_std(self.reconcile_every).unwrap_or(chrono::Duration::MAX);
        last.is_none_or(|t| now - t >= every)
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
impl PollServed for Ingester {
    type Integration = Integration;

    fn served(&self) -> &ferry_platform::connector::Integrations<Integration> {
        &self.integrations
    }

    async fn poll_integration(&self, integration: Arc<Integration>) -> Result<u64, PollError> {
        let id = integration.id();
        let mut changes = 0;
        let mut first_error: Option<PollError> = None;
        // One poll, every resource, under the integration's sync lock (an admin sync of this
        // process waits for the poll): the cursors and reconciliation times remembered from
        // the previous poll of this lease, or read at once.
        let mut memory = integration.sync_lock.lock().await;
        let mut remembered = memory.current();
        let starts = Remembered::starts(remembered.as_deref_mut(), &self.db, id).await?;
        let mut ends = Ends::default();
        for resource in Resource::all() {
            if !integration.connection.resources.contains(&resource) {
                continue;
            }
            let never = starts
                .cursor(resource)
                .is_none_or(|c| c.watermark.is_none());
            if never && !self.initial_sync {
                continue;
            }
            match self
                .sync_from(
                    &integration,
                    resource,
                    SyncMode::Incremental,
                    &starts,
                    &mut ends,
                    remembered.as_deref_mut(),
                )
                .await
            {
                Ok(report) => changes += report.published + report.rejected,
                Err(error) => {
                    tracing::warn!(integration = %id, resource = resource.as_str(), %error, "MailChimp poll failed");
                    first_error.get_or_insert(Box::new(error));
                }
            }
        }
        // An idle poll's ends wait (the memory has them) unless their last store is old.
        let idle = changes == 0 && first_error.is_none();
        if (!idle || remembered.as_ref().is_none_or(|m| m.store_due()))
            && let Err(error) = ends.store(&self.db, remembered).await
        {
            first_error.get_or_insert(Box::new(error));
        }
        first_error.map_or(Ok(changes), Err)
    }

    /// An operator's sync ([`SyncRequest`]) handed to this replica, the poll owner.
    async fn serve_request(
        &self,
        integration: Arc<Integration>,
        request: String,
    ) -> Result<u64, PollError> {
        let request: SyncRequest = match serde_json::from_str(&request) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(integration = %integration.id(), %error, "unreadable sync request dropped; polling instead");
                return self.poll_integration(integration).await;
            }
        };
        tracing::info!(integration = %integration.id(), mode = request.mode.as_str(), "requested MailChimp sync running on the poll owner");
        Ok(self.run_request(&integration, &request).await?)
    }
}

/// An operator's sync ([`Ingester::request_sync`]): a mode and the resources, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The mode.
    pub mode: SyncMode,
    /// The resources, synced in this order.
    pub resources: Vec<Resource>,
}

/// The ends of syncs not stored yet: their cursors and runs.
#[derive(Debug, Default)]
pub(super) struct Ends {
    cursors: Vec<cursor_row::Model>,
    runs: Vec<run_row::Model>,
}

impl Ends {
    /// Stores them: two statements, however many syncs ended. Tells `remembered` whether
    /// they were stored.
    async fn store(
        self,
        db: &DatabaseConnection,
        remembered: Option<&mut Remembered>,
    ) -> Result<(), DbErr> {
        let result = async {
            store::CURSORS.put(db, &self.cursors).await?;
            store::CURSORS.put_runs(db, &self.runs).await
        }
        .await;
        if let Some(memory) = remembered {
            memory.stored(result.is_ok());
        }
        result
    }
}
