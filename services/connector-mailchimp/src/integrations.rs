//! The integrations this connector serves and their MailChimp connections.
//!
//! Connections come from the service configuration (`[[integrations]]`, through
//! [`ConnectionSource`], always live) and from the integration registry
//! ([`crate::registry`]: `integration.changed` calls [`Integrations::upsert`],
//! [`set_active`](ferry_platform::connector::Integrations::set_active) and [`Integrations::remove`]); the kit's
//! [`Integrations`](ferry_platform::connector::Integrations) keeps which are served and live. Only active integrations are
//! polled and get their commands executed; a paused or draft one keeps its connection (for
//! tests) and its cursors, so changes made meanwhile are read when it is live again.
//! The non-secret settings are written to `mailchimp_connections` (for the admin API and
//! other replicas); the API key and webhook secret stay in memory only, wrapped in
//! [`Secret`]/[`ApiKey`], so they are never logged, serialized or stored in plain text.

use ferry_proto::messages::AudienceStatus;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use ferry_mailchimp_wire as wire;
use ferry_platform::config::Secret;
use ferry_platform::connector::slots::ConnectionSlots;
use ferry_platform::connector::{self, FromConfig, Served};
use ferry_platform::egress::EgressGuard;
use ferry_proto::{CurrencyCode, IntegrationId};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::json;

use crate::client::{ApiKey, ClientError, ClientSettings, MailchimpClient, segment};
use crate::config::{IntegrationConfig, MailchimpSection};
use crate::resource::Resource;
use crate::store;

pub use ferry_platform::connector::{ConfigSource, ConnectionSource};

/// One integration's MailChimp connection.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The integration.
    pub integration_id: IntegrationId,
    /// The API key.
    pub api_key: ApiKey,
    /// Base URL override (sandbox).
    pub base_url: Option<String>,
    /// The e-commerce store.
    pub store_id: String,
    /// The audience.
    pub list_id: String,
    /// Store name used when Ferry creates the store.
    pub store_name: String,
    /// Store currency.
    pub currency: CurrencyCode,
    /// Simultaneous calls for the account, all replicas together.
    pub concurrency: u32,
    /// Secret of the webhook URL.
    pub webhook_secret: Option<Secret>,
    /// Merge field with the company name.
    pub company_merge_field: String,
    /// Resources read.
    pub resources: Vec<Resource>,
    /// Publish `stock.observed`.
    pub publish_stock: bool,
    /// Customers also become audience members, new ones without consent with this status.
    pub audience_members: Option<AudienceStatus>,
}

impl Connection {
    /// A connection from the configuration (already validated).
    pub fn from_config(
        c: &IntegrationConfig,
    ) -> Result<Self, ferry_platform::service::ServiceError> {
        Ok(Self {
            integration_id: c.integration_id,
            api_key: ApiKey::parse(c.api_key.expose())?,
            base_url: c.base_url.clone(),
            store_id: c.store_id.clone(),
            list_id: c.list_id.clone(),
            store_name: c.store_name.clone(),
            currency: CurrencyCode::parse(&c.currency_code)?,
            concurrency: c.concurrency.max(1),
            webhook_secret: c.webhook_secret.clone(),
            company_merge_field: c.company_merge_field.clone(),
            resources: c.resources.clone(),
            publish_stock: c.publish_stock,
            audience_members: c.audience_members,
        })
    }
}

impl FromConfig<IntegrationConfig> for Connection {
    fn from_config(
        config: &IntegrationConfig,
    ) -> Result<Self, ferry_platform::service::ServiceError> {
        Connection::from_config(config)
    }
}

/// An integration being served: its connection and its client (shared by every flow).
#[derive(Debug)]
pub struct Integration {
    /// The connection.
    pub connection: Connection,
    /// The client.
    pub client: MailchimpClient,
    store_ready: AtomicBool,
    /// Serializes syncs of one integration (a poll and an admin-triggered sync never overlap),
    /// and holds what the poll owner remembers between polls ([`crate::ingest::Remembered`]).
    pub sync_lock: tokio::sync::Mutex<crate::ingest::PollMemory<crate::ingest::Remembered>>,
}

impl Served for Integration {
    fn id(&self) -> IntegrationId {
        Integration::id(self)
    }
}

impl Integration {
    /// The integration's id.
    pub fn id(&self) -> IntegrationId {
        self.connection.integration_id
    }

    /// `/ecommerce/stores/{store_id}`.
    pub fn store_path(&self) -> String {
        format!("/ecommerce/stores/{}", segment(&self.connection.store_id))
    }

    /// `/lists/{list_id}`.
    pub fn list_path(&self) -> String {
        format!("/lists/{}", segment(&self.connection.list_id))
    }

    /// The collection `resource` is read from: `{list}/members` or `{store}/<resource>`.
    pub fn collection(&self, resource: Resource) -> String {
        match resource {
            Resource::Members => format!("{}/members", self.list_path()),
            _ => format!("{}/{}", self.store_path(), resource.as_str()),
        }
    }

    /// Makes sure the e-commerce store exists (creates it, connected to the list, when it
    /// does not). Looks up before it creates, and again after an ambiguous create.
    pub async fn ensure_store(&self) -> Result<(), ClientError> {
        if self.store_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let path = self.store_path();
        for _ in 0..3 {
            if self
                .client
                .get_opt("stores.get", &path, &[])
                .await?
                .is_some()
            {
                self.store_ready.store(true, Ordering::Release);
                return Ok(());
            }
            let c = &self.connection;
            let body = wire::Store {
                id: Some(c.store_id.clone()),
                list_id: Some(c.list_id.clone()),
                name: Some(c.store_name.clone()),
                platform: Some("Ferry".into()),
                currency_code: Some(c.currency.as_str().to_owned()),
                ..wire::Store::default()
            };
            match self
                .client
                .post_once("stores.post", "/ecommerce/stores", &body)
                .await
            {
                Ok(_) => {
                    tracing::info!(integration = %self.id(), store = %c.store_id, "created the MailChimp store");
                    self.store_ready.store(true, Ordering::Release);
                    return Ok(());
                }
                Err(e) if e.is_transient() => continue,
                // Created concurrently by another replica: the next lookup finds it.
                Err(ClientError::Rejected { status: 400, .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        self.client.get("stores.get", &path, &[]).await?;
        self.store_ready.store(true, Ordering::Release);
        Ok(())
    }
}

/// The integrations served by this process.
pub struct Integrations {
    section: MailchimpSection,
    egress: EgressGuard,
    served: connector::Integrations<Integration>,
    /// Connection limits per MailChimp account: integrations sharing an account (API key)
    /// share its limit, and so do the replicas (connection slots).
    slots: ConnectionSlots,
}

impl Integrations {
    /// No integrations yet; connection limits within this process only; public `https://`
    /// destinations only.
    pub fn new(section: MailchimpSection) -> Self {
        Self::with_slots(section, EgressGuard::default(), ConnectionSlots::local())
    }

    /// No integrations yet; calls through `egress`; connection limits through `slots`
    /// (shared by the replicas).
    pub fn with_slots(
        section: MailchimpSection,
        egress: EgressGuard,
        slots: ConnectionSlots,
    ) -> Self {
        Self {
            section,
            egress,
            served: connector::Integrations::default(),
            slots,
        }
    }

    /// The connection limits.
    pub fn slots(&self) -> &ConnectionSlots {
        &self.slots
    }

    /// The client settings of this deployment.
    pub fn section(&self) -> &MailchimpSection {
        &self.section
    }

    /// Where the clients may go.
    pub fn egress(&self) -> &EgressGuard {
        &self.egress
    }

    /// The settings of a client for an account allowing `concurrency` connections, through
    /// this deployment's egress guard.
    pub fn client_settings(&self, concurrency: u32) -> ClientSettings {
        ClientSettings {
            egress: self.egress.clone(),
            ..self.section.client_settings(concurrency)
        }
    }

    /// Loads every connection of `source`, recording their settings in the database.
    pub async fn load<C: ConnectionTrait>(
        &self,
        db: &C,
        source: &dyn ConnectionSource<Connection>,
    ) -> Result<(), ferry_platform::service::ServiceError> {
        for connection in source.connections().await? {
            self.upsert(db, connection).await?;
        }
        Ok(())
    }

    /// Starts (or replaces) serving one connection.
    pub async fn upsert<C: ConnectionTrait>(
        &self,
        db: &C,
        connection: Connection,
    ) -> Result<Arc<Integration>, UpsertError> {
        let settings = self.client_settings(connection.concurrency);
        let limit = self
            .slots
            .key(&connection.api_key.account_digest(), settings.concurrency);
        let client = MailchimpClient::with_limit(
            connection.api_key.clone(),
            connection.base_url.as_deref(),
            settings,
            limit,
        )?;
        store::save_connection(
            db,
            store::connection::Model {
                integration_id: connection.integration_id.as_uuid(),
                store_id: connection.store_id.clone(),
                list_id: connection.list_id.clone(),
                base_url: connection.base_url.clone(),
                data_center: connection.api_key.data_center().to_owned(),
                concurrency: i32::try_from(connection.concurrency).unwrap_or(i32::MAX),
                resources: json!(connection.resources),
                updated_at: Utc::now(),
            },
        )
        .await?;
        let integration = Arc::new(Integration {
            connection,
            client,
            store_ready: AtomicBool::new(false),
            sync_lock: tokio::sync::Mutex::default(),
        });
        self.served.insert(integration.clone());
        Ok(integration)
    }

    /// Stops serving an integration; with `erase`, forgets its connection settings, cursors
    /// and cross-references.
    pub async fn remove<C: ConnectionTrait>(
        &self,
        db: &C,
        id: IntegrationId,
        erase: bool,
    ) -> Result<(), DbErr> {
        self.served.stop_serving(id);
        if erase {
            store::forget_integration(db, id).await?;
        }
        Ok(())
    }
}

/// The served integrations: `get`, `all`, `active`, `is_active`, `set_active`.
impl Deref for Integrations {
    type Target = connector::Integrations<Integration>;

    fn deref(&self) -> &Self::Target {
        &self.served
    }
}

/// Why a connection could not be served.
#[derive(Debug, thiserror::Error)]
pub enum UpsertError {
    /// The client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The settings could not be stored.
    #[error("cannot store the connection settings: {0}")]
    Db(#[from] DbErr),
}
