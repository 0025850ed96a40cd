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
//! - [`registry`]: the integration registry: connections, sealed credentials, lifecycle,
//!   `integration.changed` events.
//! - [`admin`]: the admin API (settings, mappings, history, preview).
//! - [`registry_admin`]: the registry's admin API.
//! - [`config`]: the service configuration.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod defaults;
pub mod error;
pub mod expr;
pub mod mapper;
pub mod registry;
pub mod registry_admin;
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
use ferry_platform::secrets::{Keyring, SecretError};
use ferry_platform::service::{Runtime, Started};
use sea_orm_migration::prelude::MigrationTrait;
use utoipa::OpenApi;

pub use config::{MapperConfig, RegistrySection};
pub use error::{MappingError, MappingErrorKind, MappingFailure};
pub use mapper::{Command, IntegrationConfig, Mapped, Observed, Skip, map};
pub use rules::{Mappings, Rule};
pub use settings::Settings;

/// The service name (queue, outbox source, inbox consumer, migration table).
pub const SERVICE: &str = "mapper";

/// The mapper's own migrations (its tables only).
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(store::CreateConfigVersions),
        Box::new(registry::CreateIntegrations),
        // A person's erase (GDPR): audit and tombstones, shared by every service.
        Box::new(ferry_platform::gdpr::Migration),
    ]
}

ferry_platform::service_migrator! {
    /// The mapper's migrator for a database of its own: the bus tables plus its tables.
    pub struct Migrator(SERVICE) = [BusMigration] + migrations();
}

/// Starts the mapper on `runtime`: the consumer of the `mapper` queue, the outbox relay, the
/// inbox purge, the admin API and the integration registry (which republishes every
/// integration at start, so the connectors learn the current state).
pub async fn start(
    runtime: Runtime,
    config: MapperConfig,
) -> Result<Started, ferry_platform::service::ServiceError> {
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
        .subscribe(
            subscription,
            Arc::new(ferry_platform::gdpr::ErasingHandler::new(
                SERVICE,
                runtime.db.clone(),
                Arc::new(ferry_platform::gdpr::NothingElse),
                Arc::new(handler),
            )),
        )
        .await?;
    let keyring = match config.keyring.clone() {
        Some(keyring) => Some(keyring),
        None => match Keyring::from_env() {
            Ok(keyring) => Some(keyring),
            Err(SecretError::Missing) => {
                tracing::warn!(
                    "no credentials key ({}): the integration registry cannot store credentials",
                    ferry_platform::secrets::KEYRING_ENV
                );
                None
            }
            Err(e) => return Err(e.into()),
        },
    };
    let registry = registry::Registry::new(runtime.db.clone(), outbox, keyring)
        .with_egress(ferry_platform::egress::EgressGuard::new(&config.egress)?);
    let published = registry.publish_all().await?;
    let republish = {
        let registry = registry.clone();
        let every = Duration::from_secs(config.mapper.registry.republish_interval_secs.max(1));
        let shutdown = runtime.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                if let Err(error) = registry.publish_all().await {
                    tracing::warn!(%error, "cannot republish the integration registry; next interval");
                }
            }
        })
    };
    let registry_state = Arc::new(registry_admin::RegistryState::new(
        registry.clone(),
        config.mapper.registry.clone(),
    )?);
    let state = Arc::new(admin::AdminState::new(runtime.db.clone(), registry));
    tracing::info!(
        queue = queues::MAPPER,
        integrations = published,
        "mapper started"
    );
    Ok(Started::default()
        .subscription(subscription)
        .task(relay)
        .task(purge)
        .task(republish)
        .api(
            move |cfg| registry_admin::configure(cfg, registry_state.clone()),
            registry_admin::RegistryApi::openapi(),
        )
        .api(
            move |cfg| admin::configure(cfg, state.clone()),
            admin::MapperApi::openapi(),
        ))
}
