//! Ferry's mapper: turns the canonical records a source connector observed into the target
//! system's commands, applying the default mappings, the integration's user mappings and its
//! settings.
//!
//! | consumes (events, queue `mapper`) | publishes (through the outbox) |
//! | --- | --- |
//! | `<source>.customer.observed` | `<target>.customer.upsert` |
//! | `<source>.product.observed` | `<target>.product.upsert` (`overwrite_existing` from the settings) |
//! | `<source>.category.observed` | `<target>.category.upsert` |
//! | `<source>.stock.observed` | `<target>.stock.set` (quantity per the stock calculation, `manage_stock`) |
//! | `<source>.order.observed` | `<target>.order.mapped` (the saga's start) |
//!
//! Which records are mapped, and to where, is each flow's switch and direction in the
//! integration's [`settings`]. A record that cannot be mapped (a non-numeric SKU for
//! MailChimp, a country without VAT code, a missing required field, an expression that
//! fails or gives a value the target refuses) is parked with a reason naming the integration,
//! the record and every field; nothing is changed silently.
//!
//! # Layout
//! - [`settings`]: the settings questions and their defaults.
//! - [`defaults`]: the default mapping of every flow.
//! - [`expr`]: the expression language of user mappings (CEL) and its functions.
//! - [`rules`]: user mappings: rules, value maps, validation, application.
//! - [`mapper`]: the mapping of one record, free of I/O.
//! - [`store`]: the versioned settings and mappings tables.
//! - [`consumer`]: the bus handler (inbox, outbox).
//! - [`admin`]: the admin API (settings, mappings, history, preview).
//! - [`config`]: the service configuration.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod defaults;
pub mod error;
pub mod expr;
pub mod mapper;
pub mod rules;
pub mod samples;
pub mod settings;
pub mod store;
pub mod validation;

use std::sync::Arc;
use std::time::Duration;

use ferry_platform::bus::inbox::{self, Inbox};
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{BusMigration, RetryPolicy, Subscription, queues};
use ferry_platform::db;
use ferry_platform::service::{Runtime, Started};
use sea_orm_migration::prelude::{DynIden, MigrationTrait, MigratorTrait};
use utoipa::OpenApi;

pub use config::MapperConfig;
pub use error::{MappingError, MappingErrorKind, MappingFailure};
pub use mapper::{Command, IntegrationConfig, Mapped, Observed, Skip, map};
pub use rules::{Mappings, Rule};
pub use settings::Settings;

/// The service name (queue, outbox source, inbox consumer, migration table).
pub const SERVICE: &str = "mapper";

/// The mapper's own migrations (its tables only).
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(store::CreateConfigVersions)]
}

/// The mapper's migrator for a database of its own: the bus tables plus its tables.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all: Vec<Box<dyn MigrationTrait>> = vec![Box::new(BusMigration)];
        all.extend(migrations());
        all
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table(SERVICE)
    }
}

/// Starts the mapper on `runtime`: the consumer of the `mapper` queue, the outbox relay, the
/// inbox purge and the admin API.
pub async fn start(runtime: Runtime, config: MapperConfig) -> anyhow::Result<Started> {
    let outbox = Outbox::new(SERVICE);
    let configs = Arc::new(consumer::ConfigCache::default());
    let handler = consumer::MapperHandler::new(
        runtime.db.clone(),
        Inbox::new(queues::MAPPER),
        outbox.clone(),
        configs,
    );
    let prefetch = config.mapper.prefetch.unwrap_or(config.common.bus.prefetch);
    let subscription = Subscription::new(queues::MAPPER, consumer::bindings())
        .prefetch(prefetch)
        .retry(RetryPolicy::from_config(&config.common.bus));
    let relay = outbox
        .relay(runtime.db.clone(), runtime.bus.clone())
        .spawn(runtime.shutdown.clone());
    let purge = inbox::spawn_purge(
        runtime.db.clone(),
        Duration::from_secs(u64::from(config.mapper.inbox_retention_hours) * 3600),
        Duration::from_secs(3600),
        runtime.shutdown.clone(),
    );
    let subscription = runtime
        .bus
        .subscribe(subscription, Arc::new(handler))
        .await?;
    let state = Arc::new(admin::AdminState::new(runtime.db.clone()));
    tracing::info!(queue = queues::MAPPER, "mapper started");
    Ok(Started::default()
        .subscription(subscription)
        .task(relay)
        .task(purge)
        .api(
            move |cfg| admin::configure(cfg, state.clone()),
            admin::MapperApi::openapi(),
        ))
}
