//! Ferry's MailChimp connector: reads changes from a MailChimp account (audience members,
//! e-commerce customers, products, orders) and publishes them as canonical events, and
//! executes canonical commands against MailChimp, replying with result events.
//!
//! | file | concern |
//! | --- | --- |
//! | [`client`] | the MailChimp API client: auth, data center, limits, retries, errors, metrics |
//! | [`records`] | MailChimp records -> canonical records |
//! | [`ingest`] | change detection on the connector kit's ingest pipeline: polling with durable cursors, full sync, exactly-once publishing; one poll of one integration for the kit's scheduler (which replica polls which integration, when, how many at once) |
//! | [`webhook`] | list webhooks (secret-protected endpoint) and their registration |
//! | [`commands`] | executing `mailchimp.*` commands idempotently |
//! | [`integrations`] | the connections served (configuration and registry), live or not |
//! | [`registry`] | following the integration registry (`ferry.integration.changed`) |
//! | [`resource`] | what is read: members, customers, products, orders |
//! | [`store`] | the tables: connections, cursors, cross-references |
//! | [`variants`] | whole catalogues: variants beyond the 50 MailChimp shows inline |
//! | [`admin`] | the admin API |
//! | [`config`] | configuration |
//!
//! Messages: consumes commands `mailchimp.#` (queue `connector-mailchimp`); publishes
//! `mailchimp.customer.observed`, `mailchimp.product.observed`, `mailchimp.order.observed`,
//! `mailchimp.stock.observed` (optional), the replies `mailchimp.customer.upserted`,
//! `.customer.found`, `.product.upserted`, `.category.upserted`, `.stock.set-done`,
//! `.order.found`, `.order.created`, `.products.verified`, `mailchimp.<entity>.failed`, and
//! to itself `mailchimp.record.recheck`.

pub mod admin;
pub mod client;
pub mod commands;
pub mod config;
pub mod ingest;
pub mod integrations;
pub mod records;
pub mod registry;
pub mod resource;
pub mod store;
pub mod variants;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use ferry_platform::bus::inbox::{self, Inbox};
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{Binding, BusMigration, RetryPolicy, Subscription, queues};
use ferry_platform::connector::Executor;
use ferry_platform::connector::slots::{ConnectionSlots, SlotSettings};
use ferry_platform::registry::{MirrorMigration, RegistryFollower};
use ferry_platform::service::{Runtime, Started};
use ferry_proto::System;
use sea_orm_migration::prelude::MigrationTrait;
use utoipa::OpenApi;

pub use config::{ConnectorConfig, IntegrationConfig, MailchimpSection};
pub use ingest::{Ingester, SyncMode, SyncReport};
pub use integrations::{ConfigSource, Connection, ConnectionSource, Integrations};
pub use resource::Resource;

/// The service name (queue, outbox source, inbox consumer, migration table).
pub const SERVICE: &str = "connector-mailchimp";

/// The connector's own migrations (its tables only).
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(store::CreateTables),
        Box::new(ferry_platform::connector::store::CreateTables),
        Box::new(store::MoveXrefsToKit),
        Box::new(store::CreateSeenTables),
        // A person's erase (GDPR): audit and tombstones, shared by every service.
        Box::new(ferry_platform::gdpr::Migration),
        Box::new(ferry_platform::connector::poll::CreatePollTables),
        Box::new(store::AddSyncSamples),
        Box::new(ferry_platform::connector::cursors::CreateCursorTables),
        Box::new(store::MoveCursorsToKit),
        Box::new(ferry_platform::connector::poll::CreatePollRequests),
    ]
}

ferry_platform::service_migrator! {
    /// The migrator for a database of its own: the bus tables plus the connector's.
    pub struct Migrator(SERVICE) = [BusMigration, MirrorMigration] + migrations();
}

/// What the connector's queue receives: every command addressed to MailChimp, and the
/// integration registry's changes.
pub fn bindings() -> Vec<Binding> {
    queues::bindings(queues::CONNECTOR_MAILCHIMP)
}

/// Starts the connector on `runtime`: the command consumer, the outbox relay, the inbox purge,
/// the poller, webhook registration, the admin API and the webhook endpoint.
pub async fn start(
    runtime: Runtime,
    config: ConnectorConfig,
) -> Result<Started, ferry_platform::service::ServiceError> {
    start_with_ingester(runtime, config)
        .await
        .map(|(started, _)| started)
}

/// [`start`], also handing back the ingester (to trigger syncs from tests and tools).
pub async fn start_with_ingester(
    runtime: Runtime,
    config: ConnectorConfig,
) -> Result<(Started, Arc<Ingester>), ferry_platform::service::ServiceError> {
    let section = config.mailchimp.clone();
    if let Some(replicas) = section.replicas {
        tracing::warn!(
            replicas,
            "mailchimp.replicas is deprecated and ignored: the replicas share each account's \
             connection limit through the database; remove the setting"
        );
    }
    let outbox = Outbox::new(SERVICE);
    let slots = ConnectionSlots::shared(
        runtime.db.clone(),
        System::Mailchimp,
        SlotSettings::for_timeout(Duration::from_secs(section.request_timeout_secs)),
    );
    let egress = ferry_platform::egress::EgressGuard::new(&config.egress)?;
    let integrations = Arc::new(Integrations::with_slots(
        section.clone(),
        egress,
        slots.clone(),
    ));
    integrations
        .load(&runtime.db, &ConfigSource(config.integrations.clone()))
        .await?;
    let ingester = Arc::new(Ingester::new(
        runtime.db.clone(),
        runtime.bus.clone(),
        outbox.clone(),
        integrations.clone(),
    ));

    let retry = RetryPolicy::from_config(&config.common.bus);
    let prefetch = section.prefetch.unwrap_or(config.common.bus.prefetch);
    let subscription = Subscription::new(queues::CONNECTOR_MAILCHIMP, bindings())
        .prefetch(prefetch)
        .retry(retry);
    let target = commands::MailchimpTarget::new(
        runtime.db.clone(),
        Inbox::new(queues::CONNECTOR_MAILCHIMP),
        outbox.clone(),
        ingester.clone(),
    )
    .waiting_for_first_product_sync(section.poll_enabled && section.initial_sync);
    let registry = Arc::new(registry::RegistryListener::new(
        RegistryFollower::new(SERVICE, config.keyring.clone())?,
        runtime.db.clone(),
        Arc::new(registry::Target::new(
            runtime.db.clone(),
            integrations.clone(),
        )),
    ));
    let handler = Executor::new(
        Arc::new(target.with_registry(registry.clone())),
        runtime.db.clone(),
        Inbox::new(queues::CONNECTOR_MAILCHIMP),
        outbox.clone(),
        retry,
    );
    let handler = ferry_platform::gdpr::ErasingHandler::new(
        SERVICE,
        runtime.db.clone(),
        Arc::new(store::XREFS),
        Arc::new(handler),
    );
    let subscription = runtime
        .bus
        .subscribe(subscription, Arc::new(handler))
        .await?;
    let relay = outbox
        .relay(runtime.db.clone(), runtime.bus.clone())
        .spawn(runtime.shutdown.clone());
    let purge = inbox::spawn_purge(
        runtime.db.clone(),
        Duration::from_secs(u64::from(section.inbox_retention_hours) * 3600),
        Duration::from_secs(3600),
        runtime.shutdown.clone(),
    );
    let mut started = Started::default()
        .subscription(subscription)
        .task(relay)
        .task(purge)
        .task(registry.spawn_refresh(
            ferry_platform::registry::REFRESH_INTERVAL,
            runtime.shutdown.clone(),
        ));
    if let Some(manager) = slots.spawn(runtime.shutdown.clone()) {
        started = started.task(manager);
    }
    if section.poll_enabled {
        let scheduler = ferry_platform::connector::poll::PollScheduler::new(
            runtime.db.clone(),
            ferry_proto::System::Mailchimp,
            ingester.clone(),
            section.poll_settings(),
        );
        ingester.set_scheduler(scheduler.clone());
        started = started.task(scheduler.spawn(runtime.shutdown.clone()));
    }
    if let Some(public) = section.webhook_public_url.clone() {
        let integrations = integrations.clone();
        started = started.task(tokio::spawn(async move {
            for integration in integrations.all() {
                match webhook::ensure_registered(&integration, &public).await {
                    Ok(true) => tracing::info!(integration = %integration.id(), "MailChimp list webhook registered"),
                    Ok(false) => {}
                    Err(error) => tracing::warn!(integration = %integration.id(), %error, "cannot register the MailChimp list webhook; polling still finds every change"),
                }
            }
        }));
    }
    let admin_state = Arc::new(admin::AdminState {
        db: runtime.db.clone(),
        ingester: ingester.clone(),
        shutdown: runtime.shutdown.clone(),
        registry: Some(registry.clone()),
    });
    let webhook_state = Arc::new(webhook::WebhookState {
        db: runtime.db.clone(),
        outbox,
        integrations: integrations.clone(),
    });
    tracing::info!(
        queue = queues::CONNECTOR_MAILCHIMP,
        integrations = integrations.all().len(),
        "connector-mailchimp started"
    );
    let started = started
        .api(
            move |cfg| admin::configure(cfg, admin_state.clone()),
            admin::ConnectorApi::openapi(),
        )
        .public(move |cfg| webhook::configure(cfg, webhook_state.clone()));
    Ok((started, ingester))
}
