//! Change detection: per integration and entity, read what changed since the cursor (sync
//! markers; `stockId` for stock), publish canonical `mpluskassa.<entity>.observed` events and
//! advance the cursor.
//!
//! Durability: a page's events are written to the outbox **in the same transaction** that
//! advances the cursor, so the cursor never passes a record whose event is not committed; the
//! outbox relay publishes them with broker confirmation afterwards. A crash before the commit
//! reads the page again; after it, the relay publishes what is left.
//!
//! Invalid records (no usable e-mail, an empty description, a line without quantity) are
//! parked: sent with their reason and raw record to this service's dead-letter queue (the
//! parking lot takes them from there and alerts), before the cursor moves past them. They are
//! observed again when they change in MplusKASSA.
//!
//! A full initial sync is a pass from cursor 0. How far each entity's pass is (cursor against
//! the installation's marker when the pass started, records read, recent samples for the rate
//! and time left) is kept in `mpluskassa_progress` ([`store::progress_row`]): written when a
//! pass starts with something to read, in every page's transaction (fenced, like the cursor)
//! and when it ends, so any replica answers the admin API (`GET .../progress`, `GET
//! /mpluskassa/stats`), not only the one polling the integration. A pass that finds nothing
//! writes nothing, except a replica's first one per entity (and one after storing failed):
//! it mends the stored row (a pass left `running` by a crash is marked done; an entity that
//! never had anything to read gets a row, so it does not read as never synced).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{Bus, BusMessage, Exchange, Subscription, headers, queues};
use ferry_proto::messages::{
    CategoryObserved, CustomerObserved, OrderObserved, ProductObserved, StockObserved,
};
use ferry_proto::{Envelope, IntegrationId, Message, Sku, System};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::client::{Listed, MplusError};
use crate::config::{SkuSource, SyncConfig};
use crate::convert;
use crate::integrations::{Integration, Integrations};
use crate::soap::Element;
use crate::soap::requests::{Page, ProductQuery};
use crate::soap::types::{self as mk, VatScale};
use ferry_platform::connector::Xref;
use ferry_platform::connector::poll::PollScheduler;
use ferry_platform::connector::progress::{Run, Sample, Samples, SyncState};

use crate::store::{self, SyncEntity, XREFS, kind};

mod invoices;

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// MplusKASSA failed.
    #[error(transparent)]
    Api(#[from] MplusError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// The bus refused a parked record.
    #[error("bus: {0}")]
    Bus(String),
}

/// How far one entity of one integration is.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// Whether a pass of this entity runs now.
    pub running: bool,
    /// The current pass started from cursor 0 (a full sync).
    pub full_sync: bool,
    /// The committed cursor.
    pub cursor: i64,
    /// The installation's current marker at the start of the pass.
    pub target: i64,
    /// Records observed in this pass.
    pub observed: u64,
    /// Records parked in this pass.
    pub parked: u64,
    /// Records skipped in this pass (inactive, deleted, or created by Ferry).
    pub skipped: u64,
    /// When the last pass started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the last pass finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last pass's error.
    pub last_error: Option<String>,
}

/// What one entity pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityReport {
    /// Events committed.
    pub observed: u64,
    /// Records parked.
    pub parked: u64,
    /// Records skipped.
    pub skipped: u64,
}

impl Progress {
    /// The stats' view of a stored pass.
    pub fn of(row: &store::progress_row::Model) -> Self {
        Self {
            running: SyncState::parse(&row.state) == SyncState::Running,
            full_sync: row.full_sync,
            cursor: row.marker,
            target: row.target,
            observed: u64::try_from(row.observed).unwrap_or(0),
            parked: u64::try_from(row.parked).unwrap_or(0),
            skipped: u64::try_from(row.skipped).unwrap_or(0),
            started_at: row.started_at,
            finished_at: row.finished_at,
            last_error: row.last_error.clone(),
        }
    }
}

/// A stored pass as the connector kit's progress run: records read (observed, parked or
/// skipped) of no known total; percent and time left measured in sync markers, from the
/// pass's start cursor to the installation's marker when it started.
pub fn run(row: &store::progress_row::Model) -> Run {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let span = |to: i64| u64::try_from(to.saturating_sub(row.start_marker)).unwrap_or(0);
    Run {
        state: SyncState::parse(&row.state),
        mode: Some(if row.full_sync { "full" } else { "incremental" }.to_owned()),
        done: count(row.observed) + count(row.parked) + count(row.skipped),
        total: None,
        position: span(row.marker),
        position_total: Some(span(row.target)),
        started_at: row.started_at,
        finished_at: row.finished_at,
        last_error: row.last_error.clone(),
        samples: Samples::from_json(row.samples.as_ref()),
    }
}

/// The running or last pass of an entity in this replica.
#[derive(Clone)]
struct Tracked {
    row: store::progress_row::Model,
    /// This pass stored its start or a page: its end is stored too.
    stored: bool,
    /// The stored row is this replica's last finished pass (or an older one, finished): a pass
    /// finding nothing needs to store nothing. False until this replica stored or checked
    /// it, and after storing failed.
    clean: bool,
}

/// How many times a pass's start or end is tried before it is left (the page transactions
/// keep the counts; the next pass finding nothing mends a state left `running`).
const STORE_ATTEMPTS: u32 = 5;

type ProgressMap = HashMap<(IntegrationId, SyncEntity), Tracked>;

/// Whether `entity` is read for `integration` (its observe settings and sale sources).
pub fn enabled(integration: &Integration, entity: SyncEntity) -> bool {
    let observe = integration.settings.observe;
    let sources = integration.settings.sales.source_types;
    match entity {
        SyncEntity::ArticleGroups => observe.categories,
        SyncEntity::Products => observe.products,
        SyncEntity::Stock => observe.stock,
        SyncEntity::Relations => observe.customers,
        SyncEntity::Orders => observe.orders && sources.orders(),
        SyncEntity::Invoices => observe.orders && sources.invoices(),
    }
}

/// The installation's current marker of `entity`.
fn marker_of(markers: &mk::SyncMarkers, entity: SyncEntity) -> i64 {
    match entity {
        SyncEntity::ArticleGroups => markers.article_group,
        SyncEntity::Products => markers.article,
        SyncEntity::Stock => markers.stock_id,
        SyncEntity::Relations => markers.relation,
        SyncEntity::Orders => markers.order,
        SyncEntity::Invoices => markers.invoice,
    }
}

/// Change detection for every integration.
#[derive(Clone)]
pub struct Ingest {
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    outbox: Outbox,
    integrations: Integrations,
    config: SyncConfig,
    progress: Arc<Mutex<ProgressMap>>,
    /// One pass at a time per integration (a reset waits for the pass in progress).
    pass_locks: Arc<Mutex<HashMap<IntegrationId, Arc<tokio::sync::Mutex<()>>>>>,
    /// The replica's poll scheduler, once polling runs.
    scheduler: Arc<OnceLock<PollScheduler>>,
}

/// A page converted: events to commit and records to park.
struct Converted {
    events: Vec<BusMessage>,
    parked: Vec<BusMessage>,
    skipped: u64,
    max_marker: i64,
    xrefs: Vec<(String, String)>,
}

impl Converted {
    fn new() -> Self {
        Self {
            events: Vec::new(),
            parked: Vec::new(),
            skipped: 0,
            max_marker: 0,
            xrefs: Vec::new(),
        }
    }
}

impl Ingest {
    /// Change detection publishing through `outbox`.
    pub fn new(
        db: DatabaseConnection,
        bus: Arc<dyn Bus>,
        outbox: Outbox,
        integrations: Integrations,
        config: SyncConfig,
    ) -> Self {
        Self {
            db,
            bus,
            outbox,
            integrations,
            config,
            progress: Arc::default(),
            pass_locks: Arc::default(),
            scheduler: Arc::default(),
        }
    }

    fn pass_lock(&self, integration: IntegrationId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.pass_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(integration).or_default().clone()
    }

    /// The integrations.
    pub fn integrations(&self) -> &Integrations {
        &self.integrations
    }

    /// The change-detection settings.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// The stored pass of every entity of `integration` that ever had something to read, in
    /// pass order.
    pub async fn progress(
        &self,
        integration: IntegrationId,
    ) -> Result<Vec<(SyncEntity, store::progress_row::Model)>, DbErr> {
        let rows = store::progress(&self.db, &integration.to_string()).await?;
        Ok(SyncEntity::ALL
            .into_iter()
            .filter_map(|e| {
                rows.iter()
                    .find(|r| r.entity == e.as_str())
                    .map(|r| (e, r.clone()))
            })
            .collect())
    }

    /// Asks for a pass of `integration` now: through the poll scheduler, which runs it in
    /// the replica owning the integration's polling; without polling, here.
    pub async fn request_pass(&self, integration: Arc<Integration>) -> Result<(), DbErr> {
        if let Some(scheduler) = self.scheduler.get() {
            return scheduler.trigger(integration.id()).await;
        }
        let ingest = self.clone();
        tokio::spawn(async move {
            if let Err(error) = ingest.run_pass(&integration).await {
                tracing::warn!(integration = %integration.id(), %error, "requested MplusKASSA sync failed");
            }
        });
        Ok(())
    }

    /// Polls through the connector kit's scheduler (see [`crate::poll`]) until `shutdown`.
    pub fn spawn(self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let scheduler = crate::poll::MplusPoller::new(self.clone()).scheduler(self.db.clone());
        let _ = self.scheduler.set(scheduler.clone());
        scheduler.spawn(shutdown)
    }

    /// Sets cursors back so the next pass re-reads everything of `entities`. Waits for a
    /// pass in progress: its commit would otherwise move the cursor past the reset.
    pub async fn reset(
        &self,
        integration: IntegrationId,
        entities: &[SyncEntity],
    ) -> Result<(), DbErr> {
        let lock = self.pass_lock(integration);
        let _no_pass_meanwhile = lock.lock().await;
        store::reset_cursors(&self.db, &integration.to_string(), entities).await
    }

    /// One pass over every enabled entity of `integration`; answers the records observed or
    /// parked. Passes of one integration are serialized.
    #[tracing::instrument(skip_all, fields(integration = %integration.id()))]
    pub async fn run_pass(&self, integration: &Integration) -> Result<u64, IngestError> {
        let lock = self.pass_lock(integration.id());
        let _one_at_a_time = lock.lock().await;
        let markers = integration.client.sync_markers().await?;
        let mut first_error = None;
        let mut changes = 0;
        for entity in SyncEntity::ALL {
            if !enabled(integration, entity) {
                continue;
            }
            let target = marker_of(&markers, entity);
            match self.sync_entity(integration, entity, target).await {
                Ok(report) => changes += report.observed + report.parked,
                Err(e) => {
                    tracing::warn!(entity = entity.as_str(), error = %e, "entity pass failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_none() {
            ferry_platform::metrics::global().poll_succeeded(
                "mpluskassa",
                &integration.id().to_string(),
                chrono::Utc::now().timestamp() as f64,
            );
        }
        first_error.map_or(Ok(changes), Err)
    }

    /// Reads and publishes everything of `entity` after its cursor.
    pub async fn sync_entity(
        &self,
        integration: &Integration,
        entity: SyncEntity,
        target: i64,
    ) -> Result<EntityReport, IngestError> {
        let key = integration.key();
        let start = store::cursor(&self.db, &key, entity).await?;
        let now = Utc::now();
        let row = store::progress_row::Model {
            integration_id: key.clone(),
            entity: entity.as_str().to_owned(),
            state: SyncState::Running.as_str().to_owned(),
            full_sync: start == 0,
            start_marker: start,
            marker: start,
            target,
            observed: 0,
            parked: 0,
            skipped: 0,
            started_at: Some(now),
            finished_at: None,
            last_error: None,
            samples: Some(Samples::started(now).to_json()),
        };
        // Stored at once only when the installation announced something to read: a pass
        // that finds nothing costs no write (a page found anyway stores it with the page).
        let clean = self
            .tracked(integration.id(), entity)
            .is_some_and(|t| t.clean);
        let stored = target > start && self.store_progress(&row, false).await;
        self.set_progress(integration.id(), entity, Tracked { row, stored, clean });
        let result = match entity {
            SyncEntity::Stock => self.sync_stock(integration, start).await,
            _ => self.sync_paged(integration, entity, start).await,
        };
        let cursor = store::cursor(&self.db, &key, entity).await.unwrap_or(start);
        if let Some(mut tracked) = self.tracked(integration.id(), entity) {
            let row = &mut tracked.row;
            row.state = match &result {
                Ok(_) => SyncState::Done,
                Err(_) => SyncState::Failed,
            }
            .as_str()
            .to_owned();
            row.marker = cursor;
            row.finished_at = Some(Utc::now());
            row.last_error = result.as_ref().err().map(ToString::to_string);
            if tracked.stored || result.is_err() {
                tracked.clean = self.store_progress(&tracked.row, false).await;
            } else if !tracked.clean {
                // Found nothing, and the stored row is not known to be finished (never
                // checked by this replica, or an end that could not be stored): mend it.
                tracked.clean = self.store_progress(&tracked.row, true).await;
            }
            self.set_progress(integration.id(), entity, tracked);
        }
        result
    }

    fn tracked(&self, id: IntegrationId, entity: SyncEntity) -> Option<Tracked> {
        let map = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(id, entity)).cloned()
    }

    fn set_progress(&self, id: IntegrationId, entity: SyncEntity, tracked: Tracked) {
        let mut map = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((id, entity), tracked);
    }

    /// Stores a pass's start or end (with `settle`: only mends the stored row, see
    /// [`store::settle_progress`]), only while this replica still owns the integration's
    /// polling (a replica that lost it leaves the new owner's progress alone). Tried
    /// [`STORE_ATTEMPTS`] times (SQLite refuses a write racing another one); a failure is
    /// logged, never the pass's failure. Answers whether it was stored.
    async fn store_progress(&self, row: &store::progress_row::Model, settle: bool) -> bool {
        let mut pause = std::time::Duration::from_millis(50);
        for attempt in 1..=STORE_ATTEMPTS {
            let stored = async {
                let txn = self.db.begin().await?;
                ferry_platform::connector::poll::check_current(&txn).await?;
                if settle {
                    store::settle_progress(&txn, row.clone()).await?;
                } else {
                    store::save_progress(&txn, row.clone()).await?;
                }
                txn.commit().await
            }
            .await;
            let error = match stored {
                Ok(()) => return true,
                Err(error) => error,
            };
            let lost = error
                .to_string()
                .contains(ferry_platform::connector::poll::LEASE_LOST);
            if lost || attempt == STORE_ATTEMPTS {
                tracing::warn!(entity = %row.entity, %error, "MplusKASSA pass progress not stored");
                return false;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        false
    }

    /// The entity's pass progress after the page `c` commits: its counts, its cursor, a
    /// sample. `None` when no pass of it is tracked (never: a page belongs to a pass).
    fn page_progress(
        &self,
        id: IntegrationId,
        entity: SyncEntity,
        c: &Converted,
    ) -> Option<store::progress_row::Model> {
        let mut row = self.tracked(id, entity)?.row;
        row.marker = row.marker.max(c.max_marker);
        row.observed += c.events.len() as i64;
        row.parked += c.parked.len() as i64;
        row.skipped += i64::try_from(c.skipped).unwrap_or(0);
        let done = [row.observed, row.parked, row.skipped]
            .into_iter()
            .map(|n| u64::try_from(n).unwrap_or(0))
            .sum();
        let mut samples = Samples::from_json(row.samples.as_ref());
        samples.record(Sample {
            at: Utc::now(),
            done,
            position: u64::try_from(row.marker.saturating_sub(row.start_marker)).unwrap_or(0),
        });
        row.samples = Some(samples.to_json());
        Some(row)
    }

    async fn sync_paged(
        &self,
        integration: &Integration,
        entity: SyncEntity,
        mut cursor: i64,
    ) -> Result<EntityReport, IngestError> {
        let limit = self.config.page_size.clamp(1, 1000);
        let mut report = EntityReport::default();
        let run = Uuid::now_v7();
        let mut scale = None;
        let mut tree: Option<HashMap<i32, i32>> = None;
        loop {
            let page = Page {
                from: cursor + 1,
                limit,
            };
            let (converted, fetched) = match entity {
                SyncEntity::Relations => {
                    let records = integration.client.relations(page).await?;
                    let n = records.len();
                    let records = complete_markers(records, limit);
                    (self.convert_relations(integration, run, records), n)
                }
                SyncEntity::Products => {
                    let vat = vat_scale(integration, &mut scale).await?;
                    let query = ProductQuery {
                        page: Some(page),
                        ..ProductQuery::default()
                    };
                    let records = integration.client.products(&query).await?;
                    let n = records.len();
                    let records = complete_markers(records, limit);
                    (self.convert_products(integration, run, vat, records), n)
                }
                SyncEntity::ArticleGroups => {
                    if tree.is_none() {
                        let groups = integration.client.article_group_tree().await?;
                        tree = Some(groups.iter().map(|g| (g.group_number, g.parent)).collect());
                    }
                    let records = integration.client.article_group_changes(page).await?;
                    let n = records.len();
                    let records = complete_markers(records, limit);
                    let parents = tree.as_ref().map_or_else(HashMap::new, Clone::clone);
                    (self.convert_groups(integration, run, &parents, records), n)
                }
                SyncEntity::Orders => {
                    let vat = vat_scale(integration, &mut scale).await?;
                    let records = integration.client.orders(page).await?;
                    let n = records.len();
                    let records = complete_markers(records, limit);
                    (
                        self.convert_orders(integration, run, vat, records).await?,
                        n,
                    )
                }
                SyncEntity::Invoices => {
                    let vat = vat_scale(integration, &mut scale).await?;
                    let records = integration.client.invoices(page).await?;
                    let n = records.len();
                    let records = complete_markers(records, limit);
                    (
                        self.convert_invoices(integration, run, vat, records)
                            .await?,
                        n,
                    )
                }
                SyncEntity::Stock => unreachable_stock(),
            };
            if fetched == 0 || converted.max_marker <= cursor {
                break;
            }
            let step = self.commit(integration, entity, converted).await?;
            report.observed += step.observed;
            report.parked += step.parked;
            report.skipped += step.skipped;
            cursor = store::cursor(&self.db, &integration.key(), entity).await?;
            if fetched < limit as usize {
                break;
            }
        }
        Ok(report)
    }

    async fn sync_stock(
        &self,
        integration: &Integration,
        cursor: i64,
    ) -> Result<EntityReport, IngestError> {
        let settings = &integration.settings;
        let since = (cursor > 0).then_some(cursor + 1);
        let records = integration
            .client
            .stock(settings.branch, &[], since)
            .await?;
        if records.is_empty() {
            return Ok(EntityReport::default());
        }
        let run = Uuid::now_v7();
        let mut converted = Converted::new();
        converted.max_marker = cursor;
        let skus = self.article_skus(integration, &records).await?;
        for Listed {
            element: node,
            record,
        } in records
        {
            match record {
                Ok(s) => {
                    converted.max_marker = converted.max_marker.max(s.stock_id);
                    let Some(sku) = skus.get(&s.article_number).cloned() else {
                        self.park_into(
                            &mut converted,
                            integration,
                            "stock",
                            &s.article_number.to_string(),
                            s.stock_id,
                            &format!(
                                "stock of article {}: the article has no usable SKU",
                                s.article_number
                            ),
                            &node,
                        );
                        continue;
                    };
                    match convert::stock(&s, sku) {
                        Ok(level) => self.event_into(
                            &mut converted,
                            integration,
                            run,
                            StockObserved {
                                source: System::Mpluskassa,
                                stock: level,
                                raw: node.to_json(),
                            },
                        ),
                        Err(why) => self.park_into(
                            &mut converted,
                            integration,
                            "stock",
                            &s.article_number.to_string(),
                            s.stock_id,
                            &why,
                            &node,
                        ),
                    }
                }
                Err(e) => {
                    let marker = node.num::<i64>("stockId").ok().flatten().unwrap_or(0);
                    converted.max_marker = converted.max_marker.max(marker);
                    self.park_into(
                        &mut converted,
                        integration,
                        "stock",
                        &node.string("articleNumber"),
                        marker,
                        &e.to_string(),
                        &node,
                    );
                }
            }
        }
        if converted.max_marker <= cursor
            && converted.events.is_empty()
            && converted.parked.is_empty()
        {
            return Ok(EntityReport::default());
        }
        self.commit(integration, SyncEntity::Stock, converted).await
    }

    /// SKUs of the articles in a stock answer: from the cross-references the product pass
    /// recorded, else from `getProducts`.
    async fn article_skus(
        &self,
        integration: &Integration,
        records: &[Listed<mk::ArticleStock>],
    ) -> Result<HashMap<i64, Sku>, IngestError> {
        let numbers: HashSet<i64> = records
            .iter()
            .filter_map(|r| r.record.as_ref().ok().map(|s| s.article_number))
            .collect();
        let mut out = HashMap::new();
        if integration.settings.sku_source == SkuSource::ArticleNumber {
            for n in numbers {
                if let Ok(sku) = Sku::parse(&n.to_string()) {
                    out.insert(n, sku);
                }
            }
            return Ok(out);
        }
        let mut unknown = Vec::new();
        for n in numbers {
            match XREFS
                .by_id(&self.db, integration.id(), kind::ARTICLE, &n.to_string())
                .await?
                .and_then(|x| x.canonical_key)
            {
                Some(sku) => {
                    if let Ok(sku) = Sku::parse(&sku) {
                        out.insert(n, sku);
                    }
                }
                None => unknown.push(n),
            }
        }
        for chunk in unknown.chunks(500) {
            let query = ProductQuery {
                article_numbers: chunk.to_vec(),
                ..ProductQuery::default()
            };
            for (p, _) in integration
                .client
                .products(&query)
                .await?
                .into_iter()
                .filter_map(Listed::ok)
            {
                for a in p.articles {
                    if let Ok(sku) = convert::article_sku(SkuSource::PluNumber, &a) {
                        out.insert(a.article_number, sku);
                    }
                }
            }
        }
        Ok(out)
    }

    fn event_into<P: Message + Serialize>(
        &self,
        c: &mut Converted,
        integration: &Integration,
        run: Uuid,
        payload: P,
    ) {
        // Each observed record starts a trace of its own, linked to the sync run.
        let envelope = ferry_platform::bus::with_new_trace(
            Envelope::new(integration.id(), payload).with_correlation(run),
        );
        match BusMessage::from_envelope(&envelope) {
            Ok(message) => c.events.push(message),
            Err(e) => {
                let key = envelope.payload.record_key().unwrap_or_default();
                let raw = serde_json::to_value(&envelope.payload).unwrap_or_default();
                c.parked.push(park_message(
                    integration,
                    P::MESSAGE_TYPE,
                    &key,
                    0,
                    &format!("cannot encode the event: {e}"),
                    raw,
                ));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn park_into(
        &self,
        c: &mut Converted,
        integration: &Integration,
        entity: &str,
        key: &str,
        marker: i64,
        reason: &str,
        node: &Element,
    ) {
        tracing::warn!(integration = %integration.id(), entity, record = key, marker, reason, "MplusKASSA record parked");
        c.parked.push(park_message(
            integration,
            &format!("{entity}.observed"),
            key,
            marker,
            reason,
            node.to_json(),
        ));
    }

    fn convert_relations(
        &self,
        integration: &Integration,
        run: Uuid,
        records: Vec<Listed<mk::Relation>>,
    ) -> Converted {
        let mut c = Converted::new();
        for Listed {
            element: node,
            record,
        } in records
        {
            match record {
                Ok(r) => {
                    c.max_marker = c.max_marker.max(r.sync_marker);
                    if !r.active {
                        c.skipped += 1;
                        continue;
                    }
                    match convert::customer(&r) {
                        Ok(customer) => {
                            c.xrefs
                                .push((customer.email.to_string(), r.relation_number.to_string()));
                            self.event_into(
                                &mut c,
                                integration,
                                run,
                                CustomerObserved {
                                    source: System::Mpluskassa,
                                    customer,
                                    raw: node.to_json(),
                                },
                            );
                        }
                        Err(why) => self.park_into(
                            &mut c,
                            integration,
                            "customer",
                            &r.relation_number.to_string(),
                            r.sync_marker,
                            &why,
                            &node,
                        ),
                    }
                }
                Err(e) => {
                    let marker = node.num::<i64>("syncMarker").ok().flatten().unwrap_or(0);
                    c.max_marker = c.max_marker.max(marker);
                    self.park_into(
                        &mut c,
                        integration,
                        "customer",
                        &node.string("relationNumber"),
                        marker,
                        &e.to_string(),
                        &node,
                    );
                }
            }
        }
        c
    }

    fn convert_products(
        &self,
        integration: &Integration,
        run: Uuid,
        scale: VatScale,
        records: Vec<Listed<mk::Product>>,
    ) -> Converted {
        let settings = &integration.settings;
        let mut c = Converted::new();
        for Listed {
            element: node,
            record,
        } in records
        {
            match record {
                Ok(p) => {
                    c.max_marker = c.max_marker.max(p.sync_marker);
                    match convert::product(&p, settings.sku_source, settings.currency, scale) {
                        Ok(Some(product)) => {
                            for a in p.articles.iter().filter(|a| a.active) {
                                if let Ok(sku) = convert::article_sku(settings.sku_source, a) {
                                    c.xrefs
                                        .push((sku.to_string(), a.article_number.to_string()));
                                }
                            }
                            self.event_into(
                                &mut c,
                                integration,
                                run,
                                ProductObserved {
                                    source: System::Mpluskassa,
                                    product,
                                    raw: node.to_json(),
                                },
                            );
                        }
                        Ok(None) => c.skipped += 1,
                        Err(why) => self.park_into(
                            &mut c,
                            integration,
                            "product",
                            &p.product_number.to_string(),
                            p.sync_marker,
                            &why,
                            &node,
                        ),
                    }
                }
                Err(e) => {
                    let marker = node.num::<i64>("syncMarker").ok().flatten().unwrap_or(0);
                    c.max_marker = c.max_marker.max(marker);
                    self.park_into(
                        &mut c,
                        integration,
                        "product",
                        &node.string("productNumber"),
                        marker,
                        &e.to_string(),
                        &node,
                    );
                }
            }
        }
        c
    }

    fn convert_groups(
        &self,
        integration: &Integration,
        run: Uuid,
        parents: &HashMap<i32, i32>,
        records: Vec<Listed<mk::ArticleGroup>>,
    ) -> Converted {
        let mut c = Converted::new();
        for Listed {
            element: node,
            record,
        } in records
        {
            match record {
                Ok(mut g) => {
                    c.max_marker = c.max_marker.max(g.sync_marker);
                    if g.is_deleted {
                        c.skipped += 1;
                        continue;
                    }
                    g.parent = parents.get(&g.group_number).copied().unwrap_or(0);
                    match convert::category(&g) {
                        Ok(category) => self.event_into(
                            &mut c,
                            integration,
                            run,
                            CategoryObserved {
                                source: System::Mpluskassa,
                                category,
                                raw: node.to_json(),
                            },
                        ),
                        Err(why) => self.park_into(
                            &mut c,
                            integration,
                            "category",
                            &g.group_number.to_string(),
                            g.sync_marker,
                            &why,
                            &node,
                        ),
                    }
                }
                Err(e) => {
                    let marker = node.num::<i64>("syncMarker").ok().flatten().unwrap_or(0);
                    c.max_marker = c.max_marker.max(marker);
                    self.park_into(
                        &mut c,
                        integration,
                        "category",
                        &node.string("groupNumber"),
                        marker,
                        &e.to_string(),
                        &node,
                    );
                }
            }
        }
        c
    }

    async fn convert_orders(
        &self,
        integration: &Integration,
        run: Uuid,
        scale: VatScale,
        records: Vec<Listed<mk::Order>>,
    ) -> Result<Converted, IngestError> {
        let settings = &integration.settings;
        let mut c = Converted::new();
        let mut relations: HashMap<i64, Option<mk::Relation>> = HashMap::new();
        for Listed {
            element: node,
            record,
        } in records
        {
            let o = match record {
                Ok(o) => o,
                Err(e) => {
                    let marker = node.num::<i64>("syncMarker").ok().flatten().unwrap_or(0);
                    c.max_marker = c.max_marker.max(marker);
                    self.park_into(
                        &mut c,
                        integration,
                        "order",
                        &node.string("orderId"),
                        marker,
                        &e.to_string(),
                        &node,
                    );
                    continue;
                }
            };
            c.max_marker = c.max_marker.max(o.sync_marker);
            let created_by_ferry = XREFS
                .by_id(&self.db, integration.id(), kind::ORDER, &o.order_id)
                .await?
                .is_some();
            // An order Ferry created comes back only when it is cancelled here (a cancellation
            // at the till reaches the order's source); a cancelled order of this system is
            // sent with its status, and the order saga decides (it is not created).
            if created_by_ferry && !o.is_cancelled() {
                c.skipped += 1;
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) =
                relations.entry(o.relation_number)
            {
                slot.insert(integration.client.relation(o.relation_number).await?);
            }
            let Some(Some(relation)) = relations.get(&o.relation_number) else {
                self.park_into(
                    &mut c,
                    integration,
                    "order",
                    &o.order_id,
                    o.sync_marker,
                    &format!(
                        "order {}: relation {} does not exist",
                        o.order_id, o.relation_number
                    ),
                    &node,
                );
                continue;
            };
            let converted = convert::order(
                &o,
                relation,
                settings.currency,
                scale,
                line_sku(settings.sku_source),
            );
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
                    "order",
                    &o.order_id,
                    o.sync_marker,
                    &why,
                    &node,
                ),
            }
        }
        Ok(c)
    }

    /// Parks the refused records (with broker confirmation), then commits the events with
    /// the cursor in one transaction.
    async fn commit(
        &self,
        integration: &Integration,
        entity: SyncEntity,
        c: Converted,
    ) -> Result<EntityReport, IngestError> {
        let dlq = Subscription::dead_letter_queue(queues::CONNECTOR_MPLUSKASSA);
        for message in &c.parked {
            self.bus
                .send_to_queue(&dlq, message.clone())
                .await
                .map_err(|e| IngestError::Bus(e.to_string()))?;
        }
        let key = integration.key();
        let progress = self.page_progress(integration.id(), entity, &c);
        let txn = self.db.begin().await?;
        for message in &c.events {
            self.outbox.enqueue(&txn, message).await?;
        }
        let xref_kind = match entity {
            SyncEntity::Relations => Some(kind::RELATION),
            SyncEntity::Products => Some(kind::ARTICLE),
            _ => None,
        };
        if let Some(xref_kind) = xref_kind {
            let xrefs: Vec<Xref> = c
                .xrefs
                .iter()
                .map(|(key, id)| Xref::new(xref_kind, key.as_str(), id.as_str()))
                .collect();
            XREFS.put(&txn, integration.id(), &xrefs).await?;
        }
        let observed = c.events.len() as u64;
        let parked = c.parked.len() as u64;
        store::advance_cursor(
            &txn,
            &key,
            entity,
            c.max_marker,
            observed as i64,
            parked as i64,
        )
        .await?;
        if let Some(row) = &progress {
            store::save_progress(&txn, row.clone()).await?;
        }
        // Only while this replica still owns the integration's polling (connector kit).
        ferry_platform::connector::poll::check_current(&txn).await?;
        txn.commit().await?;
        self.outbox.wake();
        if let Some(row) = progress {
            let clean = self
                .tracked(integration.id(), entity)
                .is_some_and(|t| t.clean);
            self.set_progress(
                integration.id(),
                entity,
                Tracked {
                    row,
                    stored: true,
                    clean,
                },
            );
        }
        Ok(EntityReport {
            observed,
            parked,
            skipped: c.skipped,
        })
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

/// The installation's VAT percentage scale, read once per pass.
async fn vat_scale(
    integration: &Integration,
    cached: &mut Option<VatScale>,
) -> Result<VatScale, IngestError> {
    if let Some(s) = *cached {
        return Ok(s);
    }
    let s = integration.vat().await?.1;
    *cached = Some(s);
    Ok(s)
}

/// The SKU of an order or invoice line, from the configured article field.
fn line_sku(source: SkuSource) -> impl Fn(&mk::OrderLine) -> Result<Sku, String> {
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

fn unreachable_stock() -> (Converted, usize) {
    // Stock is read by `sync_stock`, never paged by marker.
    (Converted::new(), 0)
}

/// A refused record as a dead letter of this service's queue: the reason in the headers, the
/// raw record in the body.
fn park_message(
    integration: &Integration,
    message_type: &str,
    key: &str,
    marker: i64,
    reason: &str,
    raw: serde_json::Value,
) -> BusMessage {
    let body = serde_json::json!({
        "integration_id": integration.id(),
        "system": "mpluskassa",
        "message_type": message_type,
        "record": key,
        "sync_marker": marker,
        "reason": reason,
        "raw": bounded_raw(raw),
    });
    let routing_key = format!("mpluskassa.{message_type}");
    BusMessage::new(
        Exchange::Events,
        routing_key.clone(),
        Uuid::now_v7(),
        serde_json::to_vec(&body).unwrap_or_default(),
    )
    .with_header(headers::MESSAGE_TYPE, message_type)
    .with_header(headers::INTEGRATION_ID, integration.id().to_string())
    .with_header(
        headers::DEAD_REASON,
        format!("invalid MplusKASSA record {key}: {reason}; it is observed again once it changes in MplusKASSA"),
    )
    .with_header(headers::DEAD_QUEUE, queues::CONNECTOR_MPLUSKASSA)
    .with_header(headers::ORIGINAL_EXCHANGE, Exchange::Events.base_name())
    .with_header(headers::ORIGINAL_ROUTING_KEY, routing_key)
    .with_header(headers::ATTEMPT, "1")
}

/// Largest raw record (as JSON text) a parked message carries whole. Bigger ones (a 10 MB
/// description) are cut to an excerpt, so that the parked message stays far below the bus's
/// message size limit: otherwise its publish fails and the entity's pass never completes,
/// holding up every record after it.
const MAX_PARKED_RAW_BYTES: usize = 64 * 1024;

/// `raw` itself when small enough, else `{truncated, bytes, excerpt}` with the start of its
/// JSON text.
fn bounded_raw(raw: serde_json::Value) -> serde_json::Value {
    let text = raw.to_string();
    if text.len() <= MAX_PARKED_RAW_BYTES {
        return raw;
    }
    let mut end = MAX_PARKED_RAW_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({"truncated": true, "bytes": text.len(), "excerpt": &text[..end]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_raw_record_is_cut_to_an_excerpt_below_the_bus_limit() {
        let small = serde_json::json!({"description": "short"});
        assert_eq!(bounded_raw(small.clone()), small);
        let huge = serde_json::json!({"description": "é".repeat(10 * 1024 * 1024)});
        let bounded = bounded_raw(huge);
        assert_eq!(bounded["truncated"], true);
        assert!(bounded["bytes"].as_u64().unwrap_or(0) > 10 * 1024 * 1024);
        let size = bounded.to_string().len();
        assert!(
            size < ferry_platform::bus::DEFAULT_MAX_MESSAGE_BYTES / 4,
            "{size} bytes"
        );
    }

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
