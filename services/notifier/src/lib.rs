//! The notifier: Ferry's activity log, its monitoring and alerts, and its dashboard.
//!
//! - **Activity log** ([`activity`], [`classify`]): every event and command on the bus
//!   (queue `notifier`, bound to `#` on both exchanges) becomes one row per message per
//!   integration: direction, flow, entity, record key, routing key, status
//!   (observed/sent/succeeded/failed/parked), error, what came from the source and what was
//!   sent to the target, timing, trace and correlation id. A reply completes its command's row.
//!   Rows are purged after their integration's retention (default 30 days) and can be erased
//!   by e-mail address (GDPR).
//! - **Parking lot**: hosts [`ParkingLot`] for every service's dead-letter queue (unless
//!   `host_parking_lot = false`), with its admin routes.
//! - **Alerts** ([`alerts`], [`rules`], [`channels`], [`delivery`]): rules raise one alert per
//!   problem (deduplicated by key, reminders throttled), resolve it when it clears, and notify
//!   webhook / Slack / e-mail / PagerDuty channels through persisted, retried deliveries.
//! - **Names** ([`directory`]): every integration's name and state, from the registry's
//!   `integration.changed` announcements and the configured integrations.
//! - **Dashboard** ([`dashboard`]): `/dashboard/`, a static page calling the admin API.
//!
//! Admin API (under `/api/v1`, see [`admin`]): `GET /activity`, `GET /activity/stats`,
//! `GET /activity/{id}`, `POST /activity/purge`, `GET /integration-health`, `GET /alerts`,
//! `GET /alerts/{id}`, `POST /alerts/{id}/resolve`, `POST /gdpr/erase`, `GET /retention`,
//! `PUT /retention/{integration_id}`, and the dead-letter routes of the parking lot.

pub mod activity;
pub mod admin;
pub mod alerts;
pub mod channels;
pub mod charts;
pub mod classify;
pub mod config;
pub mod consume;
pub mod dashboard;
pub mod delivery;
pub mod directory;
pub mod erased;
pub mod freshness;
pub mod gdpr;
pub mod plain;
pub mod rules;
pub mod store;
pub mod story;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_platform::admin::dead_letters::{self, DeadLetterApi};
use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::parking::ParkingLot;
use ferry_platform::bus::{self, Binding, BusMigration, Subscription};
use ferry_platform::service::{Runtime, Started};
use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::MigrationTrait;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

use crate::alerts::AlertBook;
use crate::channels::Channel;
pub use crate::config::NotifierConfig;
use crate::delivery::{Dispatcher, PassReport};

/// The service name (queue, inbox consumer, migration table).
pub const SERVICE: &str = "notifier";

/// The notifier's own migrations.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(store::Migration),
        Box::new(store::DirectoryMigration),
        Box::new(store::AlertSummaryMigration),
        Box::new(store::ErasedMigration),
        // A person's erase (GDPR): audit and tombstones, shared by every service.
        Box::new(ferry_platform::gdpr::Migration),
    ]
}

ferry_platform::service_migrator! {
    /// The bus tables plus the notifier's, in `ferry_migrations_notifier`.
    pub struct Migrator(SERVICE) = [BusMigration] + migrations();
}

/// A handle on a running notifier: what the admin API uses, and what tests drive with a
/// chosen clock.
#[derive(Clone)]
pub struct Notifier {
    db: DatabaseConnection,
    bus: Arc<dyn bus::Bus>,
    book: AlertBook,
    dispatcher: Dispatcher,
    lot: Option<ParkingLot>,
    config: Arc<NotifierConfig>,
}

impl Notifier {
    /// Evaluates the time-based rules (unreachable API, error rate, no sync, parked messages
    /// replayed or discarded) as of `now`, then wakes the delivery worker.
    pub async fn evaluate_at(&self, now: DateTime<Utc>) -> Result<(), DbErr> {
        rules::evaluate(
            &self.book,
            &self.db,
            self.lot.as_ref(),
            &self.config.rules,
            now,
        )
        .await?;
        self.dispatcher.wake();
        Ok(())
    }

    /// Purges activity older than each integration's retention as of `now`.
    pub async fn purge_at(&self, now: DateTime<Utc>) -> Result<u64, DbErr> {
        let overrides =
            activity::retention_overrides(&self.db, &self.config.activity.retention_overrides)
                .await?;
        activity::purge(
            &self.db,
            now,
            self.config.activity.retention_days,
            &overrides,
        )
        .await
    }

    /// Deletes the messages parked longer than `activity.parked_retention_days` as of `now`.
    pub async fn purge_parked_at(&self, now: DateTime<Utc>) -> Result<u64, DbErr> {
        let Some(lot) = &self.lot else {
            return Ok(0);
        };
        let days = i64::from(self.config.activity.parked_retention_days);
        lot.purge_older_than(now - chrono::Duration::days(days))
            .await
    }

    /// Sends the alert notifications due at `now` (the worker does this by itself).
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<PassReport, DbErr> {
        self.dispatcher.pass(now).await
    }

    /// Erases every trace of `email` on behalf of `by` (a token's name): activity rows,
    /// alerts and parked messages redacted, the erase audited, and every service told to erase
    /// its own rows (`ferry.person.erase-requested`, one per integration).
    pub async fn erase_email(
        &self,
        email: &ferry_proto::Email,
        by: &str,
    ) -> Result<activity::EraseReport, DbErr> {
        let configured: Vec<String> = self
            .config
            .integrations
            .iter()
            .map(|i| i.id.clone())
            .collect();
        gdpr::erase_everywhere(
            &self.db,
            &self.bus,
            self.lot.as_ref(),
            &configured,
            email,
            by,
        )
        .await
    }

    /// Freshness and backlog of every integration, as of now: its queries read one snapshot
    /// (a repeatable-read transaction on PostgreSQL, a read transaction on SQLite, whose WAL
    /// keeps the snapshot of its first read), so the last change seen, the last delivered and
    /// the backlog agree with each other even while recordings commit.
    pub async fn freshness(&self) -> Result<freshness::Freshness, DbErr> {
        use sea_orm::{AccessMode, ConnectionTrait, IsolationLevel, TransactionTrait};
        let snapshot = match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                self.db
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await?
            }
            _ => self.db.begin().await?,
        };
        let measured =
            freshness::measure(&snapshot, &self.bus, self.lot.as_ref(), Utc::now()).await;
        snapshot.rollback().await?;
        measured
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The parking lot, when this notifier hosts or shares one.
    pub fn parking_lot(&self) -> Option<&ParkingLot> {
        self.lot.as_ref()
    }

    /// The integrations' names and states.
    pub fn directory(&self) -> &directory::Directory {
        self.book.directory()
    }

    /// The configuration.
    pub fn config(&self) -> &NotifierConfig {
        &self.config
    }
}

/// Starts the notifier on `runtime` (the service contract).
pub async fn start(
    runtime: Runtime,
    config: NotifierConfig,
) -> Result<Started, ferry_platform::service::ServiceError> {
    Ok(start_notifier(runtime, config, None).await?.1)
}

/// Starts the notifier and returns its handle too. With `shared_lot`, the host owns the
/// parking lot (takes the dead letters and serves their routes) and the notifier only
/// follows its announcements; without, it hosts one when `config.host_parking_lot`.
pub async fn start_notifier(
    runtime: Runtime,
    config: NotifierConfig,
    shared_lot: Option<ParkingLot>,
) -> Result<(Notifier, Started), ferry_platform::service::ServiceError> {
    let config = Arc::new(config);
    ferry_platform::metrics::global().add_probe(Arc::new(ferry_platform::db::CountProbe::new(
        "open_alerts",
        runtime.db.clone(),
        "SELECT COUNT(*) FROM notifier_alerts WHERE state = 'open'",
        ferry_platform::metrics::Metrics::set_alerts_open,
    )));
    let guard = ferry_platform::egress::EgressGuard::new(&config.egress)?;
    let http = guard
        .client_builder()
        .user_agent(concat!("ferry-notifier/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let timeout = Duration::from_millis(config.delivery.timeout_ms);
    let channels = config
        .channels
        .iter()
        .map(|c| Channel::new(c.clone(), http.clone(), timeout, guard.clone()))
        .collect();
    let dispatcher = Dispatcher::new(runtime.db.clone(), channels, config.delivery.clone());
    let directory = directory::Directory::new(&config.integrations);
    let book = AlertBook::new(
        &config.channels,
        config.rules.reminder_minutes,
        config.dashboard_url.clone(),
    )
    .with_directory(directory);

    let hosted = shared_lot.is_none() && config.host_parking_lot;
    let lot = match shared_lot {
        Some(lot) => Some(lot),
        None if config.host_parking_lot => {
            Some(ParkingLot::new(runtime.db.clone(), runtime.bus.clone()))
        }
        None => None,
    };
    let notifier = Notifier {
        db: runtime.db.clone(),
        bus: runtime.bus.clone(),
        book: book.clone(),
        dispatcher: dispatcher.clone(),
        lot: lot.clone(),
        config: config.clone(),
    };

    let mut started = Started::default()
        .api(
            {
                let notifier = notifier.clone();
                move |cfg| admin::configure(cfg, notifier.clone())
            },
            admin::NotifierApi::openapi(),
        )
        .public(dashboard::configure)
        .task(dispatcher.spawn(runtime.shutdown.clone()))
        .task(spawn_evaluator(notifier.clone(), runtime.shutdown.clone()))
        .task(spawn_purge(notifier.clone(), runtime.shutdown.clone()));

    if let Some(lot) = &lot {
        started = started.task(consume::spawn_parked_watcher(
            runtime.db.clone(),
            book.clone(),
            lot.clone(),
            dispatcher.clone(),
            runtime.shutdown.clone(),
        ));
    }
    if let (true, Some(lot)) = (hosted, &lot) {
        let routes = lot.clone();
        started = started.api(
            move |cfg| dead_letters::configure(cfg, routes.clone()),
            DeadLetterApi::openapi(),
        );
        for taker in lot.watch_queues(&bus::queues::ALL).await? {
            started = started.subscription(taker);
        }
    }

    let subscription = Subscription::new(
        bus::queues::NOTIFIER,
        vec![Binding::events("#"), Binding::commands("#")],
    )
    .prefetch(64)
    .retry(bus::RetryPolicy::from_config(&config.common.bus));
    let recorder =
        consume::ActivityRecorder::new(runtime.db.clone(), Inbox::new(SERVICE), book, dispatcher);
    // The notifier erased its own rows when the erase was asked; the recorder drops the
    // messages about an erased person still queued, reading the tombstones in its recording
    // transaction (once per integration and batch), so the wrapper does not read them again.
    let recorder = ferry_platform::gdpr::ErasingHandler::new(
        SERVICE,
        runtime.db.clone(),
        Arc::new(ferry_platform::gdpr::NothingElse),
        Arc::new(recorder),
    )
    .tombstones_checked_by_inner();
    let handle = runtime
        .bus
        .subscribe(subscription, Arc::new(recorder))
        .await?;
    started = started.subscription(handle);
    tracing::info!(
        channels = config.channels.len(),
        parking_lot = hosted,
        "notifier started"
    );
    Ok((notifier, started))
}

fn spawn_evaluator(notifier: Notifier, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(notifier.config.evaluate_every_seconds.max(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(error) = notifier.evaluate_at(Utc::now()).await {
                tracing::warn!(%error, "alert rule evaluation failed; will try again");
            }
        }
    })
}

fn spawn_purge(notifier: Notifier, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(notifier.config.activity.purge_every_minutes.max(1) * 60);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            match notifier.purge_at(Utc::now()).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "purged activity past its retention"),
                Err(error) => tracing::warn!(%error, "activity purge failed; will try again"),
            }
            match notifier.purge_parked_at(Utc::now()).await {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(removed, "purged parked messages past their retention")
                }
                Err(error) => tracing::warn!(%error, "parked message purge failed; will try again"),
            }
        }
    })
}
