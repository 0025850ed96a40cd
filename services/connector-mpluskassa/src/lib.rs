//! connector-mpluskassa: Ferry's connector to MplusKASSA's SOAP API (MplusQAPI).
//!
//! - [`client`]: the SOAP 1.1 client, `transport` (HTTP, timeouts, the response size/depth
//!   guard, credentials never logged) with `connection`, `retry` (only where repeating is
//!   safe) and `error` (fault classification), apart from `operations` (one method per
//!   MplusQAPI operation).
//! - [`soap`]: what Ferry reads (`types`) and writes (`requests`) of MplusQAPI, per record
//!   family, on top of the shared wire crate `ferry-mplusqapi` (serde types from the WSDL,
//!   also used by the sandbox).
//! - [`ingest`]: change detection with sync markers per entity on the connector kit's ingest
//!   pipeline (cursors committed with the events through the outbox, invalid records
//!   parked); publishes `mpluskassa.<entity>.observed`; orders and invoices (till sales) both
//!   as `order.observed`; one pass of one integration for the kit's poll scheduler.
//! - [`commands`]: executes `mpluskassa.*` commands idempotently and replies.
//! - [`convert`]: MplusKASSA records <-> canonical models, one file per entity.
//! - [`store`]: cursors, cross-references, connection settings (tables and migration).
//! - [`integrations`]: the installations served (configuration and registry), live or not.
//! - [`registry`]: following the integration registry (`ferry.integration.changed`).
//! - [`admin`]: connection test, reference data, sync trigger, cursors, stats.
//! - [`config`]: the service configuration.
//!
//! # Guarantees
//! - **No lost observation**: a page's events and its cursor commit in one transaction (the
//!   outbox); a full page never splits a run of equal sync markers; refused records are parked
//!   on this service's dead-letter queue (with reason and raw record) before the cursor passes.
//! - **No duplicate record in MplusKASSA**: commands that change a record hold a lease on it
//!   (`mpluskassa_locks`, across replicas); relations are found by e-mail, products by SKU and
//!   article groups by recorded key or name before anything is created; orders go through
//!   `createOrderV3` with the command's idempotency key, retried with the same key.
//! - **Secrets**: the `secret` lives in memory only (never in a table, log line, message or
//!   admin response); the URL that carries it is never logged.
//!
//! Messages consumed (queue `connector-mpluskassa`: commands exchange `mpluskassa.#`, and
//! events `ferry.integration.changed` from the registry):
//! `customer.upsert`, `customer.find`, `product.upsert`, `category.upsert`, `stock.set`,
//! `order.find`, `order.create`, `products.verify`. Published (events): `customer.upserted`,
//! `customer.found`, `product.upserted`, `category.upserted`, `stock.set-done`, `order.found`,
//! `order.created`, `products.verified`, `<entity>.failed` (`command.failed`), and the observed
//! events `customer.observed`, `product.observed`, `category.observed`, `stock.observed`,
//! `order.observed`, all with system `mpluskassa`.

pub mod admin;
pub mod client;
pub mod commands;
pub mod config;
pub mod convert;
pub mod ingest;
pub mod integrations;
pub mod registry;
pub mod soap;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use ferry_platform::bus::inbox::{self, Inbox};
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{BusMigration, RetryPolicy, Subscription, queues};
use ferry_platform::connector::Executor;
use ferry_platform::registry::MirrorMigration;
use ferry_platform::service::{Runtime, Started};
use sea_orm_migration::prelude::*;
use utoipa::OpenApi;

pub use config::{ConnectorConfig, SERVICE};

/// This service's migrations (its own tables only).
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(store::CreateTables),
        Box::new(ferry_platform::connector::store::CreateTables),
        Box::new(store::MoveXrefsToKit),
        // A person's erase (GDPR): audit and tombstones, shared by every service.
        Box::new(ferry_platform::gdpr::Migration),
        Box::new(ferry_platform::connector::poll::CreatePollTables),
        Box::new(store::CreateProgressTable),
        Box::new(ferry_platform::connector::cursors::CreateCursorTables),
        Box::new(store::MoveCursorsToKit),
        Box::new(ferry_platform::connector::poll::CreatePollRequests),
    ]
}

ferry_platform::service_migrator! {
    /// The bus tables plus this service's, in its own migration table.
    pub struct Migrator(SERVICE) = [BusMigration, MirrorMigration] + migrations();
}

/// The subscription of the command consumer.
pub fn subscription(bus: &ferry_platform::config::BusConfig) -> Subscription {
    Subscription::new(
        queues::CONNECTOR_MPLUSKASSA,
        queues::bindings(queues::CONNECTOR_MPLUSKASSA),
    )
    .prefetch(bus.prefetch)
    .retry(RetryPolicy::from_config(bus))
}

/// Starts the service on `runtime`: loads the integrations, consumes commands, runs change
/// detection (when enabled) and the outbox relay, and hands back the admin routes.
pub async fn start(
    runtime: Runtime,
    config: ConnectorConfig,
) -> Result<Started, ferry_platform::service::ServiceError> {
    let integrations =
        integrations::Integrations::new(runtime.db.clone(), config.client_settings()?);
    integrations
        .load(&integrations::ConfigSource(config.integrations.clone()))
        .await?;

    let outbox = Outbox::new(SERVICE);
    let relay = outbox
        .relay(runtime.db.clone(), runtime.bus.clone())
        .spawn(runtime.shutdown.clone());
    let purge = inbox::spawn_purge(
        runtime.db.clone(),
        Duration::from_secs(7 * 24 * 3600),
        Duration::from_secs(3600),
        runtime.shutdown.clone(),
    );

    let registry = Arc::new(registry::RegistryListener::new(
        ferry_platform::registry::RegistryFollower::new(SERVICE, config.keyring.clone())?,
        runtime.db.clone(),
        Arc::new(integrations.clone()),
    ));
    let target = commands::MplusTarget::new(integrations.clone()).with_registry(registry.clone());
    let subscription = subscription(&config.common.bus);
    let commands = Executor::new(
        Arc::new(target),
        runtime.db.clone(),
        Inbox::new(queues::CONNECTOR_MPLUSKASSA),
        outbox.clone(),
        subscription.retry,
    );
    let consumer = runtime
        .bus
        .subscribe(
            subscription,
            Arc::new(ferry_platform::gdpr::ErasingHandler::new(
                SERVICE,
                runtime.db.clone(),
                Arc::new(store::XREFS),
                Arc::new(commands),
            )),
        )
        .await?;

    let ingest = ingest::Ingest::new(
        runtime.db.clone(),
        runtime.bus.clone(),
        outbox,
        integrations.clone(),
        config.sync,
    );
    let mut started = Started::default()
        .subscription(consumer)
        .task(relay)
        .task(purge)
        .task(registry.spawn_refresh(
            ferry_platform::registry::REFRESH_INTERVAL,
            runtime.shutdown.clone(),
        ));
    if config.sync.enabled {
        started = started.task(ingest.clone().spawn(runtime.shutdown.clone()));
    }
    let state = admin::AdminState::new(integrations, ingest, runtime.db.clone())
        .with_registry(registry.clone());
    Ok(started.api(
        move |cfg| admin::configure(cfg, state.clone()),
        admin::MplusAdminApi::openapi(),
    ))
}
