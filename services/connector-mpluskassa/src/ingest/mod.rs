//! Change detection: per integration and entity, read what changed since the cursor (sync
//! markers; `stockId` for stock), publish canonical `mpluskassa.<entity>.observed` events and
//! advance the cursor, on the connector kit's ingest pipeline
//! ([`ferry_platform::connector::ingest`]).
//!
//! | module | what |
//! | --- | --- |
//! | this one | [`Ingest`]: passes over an integration's entities, one at a time per integration; the kit's poller ([`PollServed`]) |
//! | `pass` | one entity's pass: the kit's [`Checkpoint`](ferry_platform::connector::ingest::Checkpoint) (cursor and progress committed with each page); `Paged`, an entity read by sync marker, which `ByMarker` makes the kit's [`Source`](ferry_platform::connector::ingest::Source) (parse-or-park, a full page never splitting a sync marker) |
//! | `catalogue` | relations, products and article groups, each `Paged` |
//! | `orders` | orders |
//! | `invoices` | invoices (till and back-office sales) |
//! | `stock` | stock levels (read since a `stockId`, not paged) |
//! | `progress` | each entity's pass progress, kept in the kit's `connector_runs` |
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
//! and time left) is kept as its run in the kit's `connector_runs` ([`store::CURSORS`]): written when a
//! pass starts with something to read, in every page's transaction (fenced, like the cursor)
//! and when it ends, so any replica answers the admin API (`GET .../progress`, `GET
//! /mpluskassa/stats`), not only the one polling the integration. A pass that finds nothing
//! writes nothing, except a replica's first one per entity (and one after storing failed):
//! it mends the stored row (a pass left `running` by a crash is marked done; an entity that
//! never had anything to read gets a row, so it does not read as never synced).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use chrono::Utc;
use ferry_platform::bus::Bus;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::queues;
use ferry_platform::connector::cursors::run_row;
use ferry_platform::connector::ingest::{PageError, Pipeline};
use ferry_platform::connector::poll::{PollError, PollScheduler, PollServed};
use ferry_proto::{IntegrationId, System};
use sea_orm::{DatabaseConnection, DbErr};
use tokio_util::sync::CancellationToken;

use crate::client::MplusError;
use crate::config::SyncConfig;
use crate::integrations::{Integration, Integrations};
use crate::soap::types as mk;
use crate::store::{self, SyncEntity};

mod catalogue;
mod invoices;
mod orders;
mod pass;
mod progress;
mod stock;

pub use ferry_platform::connector::ingest::Drained as EntityReport;
pub use progress::Progress;
use progress::{ProgressMap, Tracked};

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// MplusKASSA failed.
    #[error(transparent)]
    Api(#[from] MplusError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// A page was not committed (a parked record refused by the bus, the database, a lost
    /// poll lease).
    #[error(transparent)]
    Page(#[from] PageError),
}

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
    pipeline: Pipeline,
    integrations: Integrations,
    config: SyncConfig,
    progress: Arc<Mutex<ProgressMap>>,
    /// One pass at a time per integration (a reset waits for the pass in progress).
    pass_locks: Arc<Mutex<HashMap<IntegrationId, Arc<tokio::sync::Mutex<()>>>>>,
    /// The replica's poll scheduler, once polling runs.
    scheduler: Arc<OnceLock<PollScheduler>>,
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
            pipeline: Pipeline::new(
                db,
                bus,
                outbox,
                System::Mpluskassa,
                queues::CONNECTOR_MPLUSKASSA,
            )
            .with_backlog(config.backfill_backlog),
            integrations,
            config,
            progress: Arc::default(),
            pass_locks: Arc::default(),
            scheduler: Arc::default(),
        }
    }

    fn db(&self) -> &DatabaseConnection {
        self.pipeline.db()
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
    ) -> Result<Vec<(SyncEntity, run_row::Model)>, DbErr> {
        let rows = store::CURSORS.runs(self.db(), integration).await?;
        Ok(SyncEntity::ALL
            .into_iter()
            .filter_map(|e| {
                rows.iter()
                    .find(|r| r.resource == e.as_str())
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

    /// Polls through the connector kit's scheduler (which replica polls which installation,
    /// when, and how many at once) until `shutdown`; each poll is a [`Ingest::run_pass`].
    pub fn spawn(self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let scheduler = PollScheduler::new(
            self.db().clone(),
            System::Mpluskassa,
            Arc::new(self.clone()),
            self.config.poll_settings(),
        );
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
        let resources: Vec<&str> = entities.iter().map(|e| e.as_str()).collect();
        store::CURSORS
            .reset(self.db(), integration, &resources)
            .await
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
        first_error.map_or(Ok(changes), Err)
    }

    /// Reads and publishes everything of `entity` after its cursor.
    pub async fn sync_entity(
        &self,
        integration: &Integration,
        entity: SyncEntity,
        target: i64,
    ) -> Result<EntityReport, IngestError> {
        let (id, resource) = (integration.id(), entity.as_str());
        let start = store::CURSORS.marker(self.db(), id, resource).await?;
        let mode = if start == 0 { "full" } else { "incremental" };
        let row = store::CURSORS.start_run(id, resource, mode, Utc::now(), start, Some(target));
        // Stored at once only when the installation announced something to read: a pass
        // that finds nothing costs no write (a page found anyway stores it with the page).
        let clean = self.tracked(id, entity).is_some_and(|t| t.clean);
        let stored = target > start && self.store_progress(&row, false).await;
        self.set_progress(id, entity, Tracked { row, stored, clean });
        let result = match entity {
            SyncEntity::Stock => self.sync_stock(integration, start).await,
            _ => self.sync_paged(integration, entity, start).await,
        };
        let cursor = store::CURSORS
            .marker(self.db(), id, resource)
            .await
            .unwrap_or(start);
        self.finish_progress(id, entity, cursor, &result).await;
        result
    }
}

/// MplusKASSA's side of the kit's polling: one poll is one pass over an integration's
/// entities.
#[async_trait]
impl PollServed for Ingest {
    type Integration = Integration;

    fn served(&self) -> &ferry_platform::connector::Integrations<Integration> {
        &self.integrations
    }

    async fn poll_integration(&self, integration: Arc<Integration>) -> Result<u64, PollError> {
        Ok(self.run_pass(&integration).await?)
    }
}
