//! Ferry's order orchestrator: one actix actor per in-flight order drives the order saga
//! (see [`saga`] for the state machine):
//!
//! 1. `<target>.order.find` (by external id) -> `order.found`; found: skip, done;
//! 2. `<target>.customer.upsert` -> `customer.upserted`: the target finds the customer by
//!    e-mail and updates it, or creates it, in one command (`created` tells which); or the
//!    default debtor of the mapped order's plan;
//! 3. `<target>.products.verify` -> `products.verified`; missing SKUs park the saga
//!    (`ferry.saga.parked`) until they appear (`product.upserted`, periodic re-verification)
//!    or an operator retries;
//! 4. `<target>.order.create` with the order's idempotency key and the article ids step 3
//!    found -> `order.created`.
//!
//! Every transition is part of one database transaction with the outbox row of the command
//! it sends, shared with the transitions of other sagas that arrive at the same time
//! ([`engine`]); replies are deduplicated by the inbox and checked against the current
//! step; timeouts and retryable failures retry with backoff, and after `max_attempts` the
//! saga fails (`ferry.saga.failed`). Sagas of one customer run their customer steps one at
//! a time (a customer lock row); a saga that resolved its customer records the resolution,
//! and further orders of that customer with the same customer data take it over for
//! `saga.customer_reuse_secs` instead of queueing for the lock. Replicas share the work
//! through row locks and leases.
//!
//! | module | concern |
//! | --- | --- |
//! | [`config`] | `[saga]` settings |
//! | [`saga`] | the state machine, commands, replies (no I/O) |
//! | [`store`] | tables and migration |
//! | [`engine`] | transactions: transitions (in groups), customer locks, due timers, purge |
//! | `batch` | a group's transaction: saga rows locked up front, timeline and outbox inserts at its end |
//! | [`actors`] | actix actors (one per saga) on several arbiters |
//! | [`consumer`] | the bus queue |
//! | [`sweeper`] | due timers from the database, queued sagas, retention |
//! | [`gdpr`] | a person's erase: sagas, timelines, resolutions, locks |
//! | [`admin`] | `/api/v1/sagas` |
//! | [`crash`] | crash points for the crash-recovery tests |

pub mod actors;
pub mod admin;
mod batch;
pub mod config;
pub mod consumer;
pub mod crash;
pub mod engine;
pub mod gdpr;
pub mod saga;
pub mod store;
pub mod sweeper;

use std::sync::Arc;

use actix_web::web;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{BusMigration, RetryPolicy, queues};
use ferry_platform::service::{Runtime, Started};
use sea_orm_migration::MigrationTrait;
use utoipa::OpenApi;

pub use config::{OrchestratorConfig, SagaSettings};

/// The service name (queue, outbox source, migration table).
pub const SERVICE: &str = queues::ORDER_ORCHESTRATOR;

/// How long processed reply ids are kept (redeliveries arrive within minutes).
const INBOX_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The orchestrator's own migrations.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(store::Migration),
        Box::new(store::ResolutionMigration),
        Box::new(store::VerifiedProductsMigration),
        // A person's erase (GDPR): audit and tombstones, shared by every service.
        Box::new(ferry_platform::gdpr::Migration),
        Box::new(store::SagasByOrderMigration),
        Box::new(store::WaitingForCustomerMigration),
    ]
}

ferry_platform::service_migrator! {
    /// The bus tables plus the orchestrator's.
    pub struct Migrator(SERVICE) = [BusMigration] + migrations();
}

/// Starts the orchestrator on `runtime`: the actor system, the outbox relay, the queue
/// consumer and the sweeper; hands back the admin API.
pub async fn start(
    runtime: Runtime,
    config: OrchestratorConfig,
) -> Result<Started, ferry_platform::service::ServiceError> {
    let settings = config.saga.clone();
    let node = format!("{}-{}", SERVICE, uuid::Uuid::now_v7().simple());
    let outbox = Outbox::new(SERVICE);
    let engine = engine::Engine::new(runtime.db.clone(), outbox.clone(), settings.clone(), node);
    let actors = actors::SagaActors::start(engine, settings.arbiter_count())?;

    let relay = outbox
        .relay(runtime.db.clone(), runtime.bus.clone())
        .spawn(runtime.shutdown.clone());
    let sweeper = sweeper::spawn(actors.clone(), runtime.shutdown.clone());
    ferry_platform::metrics::global().add_probe(Arc::new(ferry_platform::db::CountProbe::new(
        "failed_sagas",
        runtime.db.clone(),
        "SELECT COUNT(*) FROM order_orchestrator_sagas WHERE state = 'failed'",
        ferry_platform::metrics::Metrics::set_sagas_failed,
    )));
    let inbox_purge = ferry_platform::bus::inbox::spawn_purge(
        runtime.db.clone(),
        INBOX_RETENTION,
        std::time::Duration::from_secs(3600),
        runtime.shutdown.clone(),
    );

    let subscription = consumer::subscription(
        config.common.bus.prefetch,
        RetryPolicy::from_config(&config.common.bus),
    );
    let handle = runtime
        .bus
        .subscribe(
            subscription,
            Arc::new(ferry_platform::gdpr::ErasingHandler::new(
                SERVICE,
                runtime.db.clone(),
                Arc::new(gdpr::SagaEraser),
                Arc::new(consumer::SagaConsumer::new(actors.clone())),
            )),
        )
        .await?;

    // The actor system stops with the process.
    let stopper = {
        let actors = actors.clone();
        let shutdown = runtime.shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            actors.stop().await;
        })
    };

    tracing::info!(
        arbiters = settings.arbiter_count(),
        max_in_flight = settings.max_in_flight,
        "order orchestrator started"
    );
    let state = web::Data::new(admin::AdminState { actors });
    Ok(Started::default()
        .api(
            move |cfg| admin::configure(cfg, state.clone()),
            admin::SagaApi::openapi(),
        )
        .subscription(handle)
        .task(relay)
        .task(sweeper)
        .task(inbox_purge)
        .task(stopper))
}
