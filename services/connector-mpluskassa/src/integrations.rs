//! The installations this service talks to, one per integration.
//!
//! They come from the service configuration through [`ConfigSource`] (always live) and from
//! the integration registry ([`crate::registry`]: `integration.changed` calls
//! [`Integrations::upsert`], [`set_active`](ferry_platform::connector::Integrations::set_active) and
//! [`Integrations::remove`]); the kit's [`Integrations`](ferry_platform::connector::Integrations) keeps which are served
//! and live. Only active integrations are polled and get their commands executed; a draft or paused one keeps
//! its client and cursors, so changes made meanwhile are read once it is live again.
//! The non-secret settings are stored in `mpluskassa_connections`; the secret lives only in
//! memory here (and sealed in the registry), never in this service's tables, logs or messages.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use chrono::Utc;
use ferry_platform::coalesce::Coalescer;
use ferry_platform::connector::{self, FromConfig, Served};
use ferry_proto::{CurrencyCode, IntegrationId};
use sea_orm::DatabaseConnection;
use tokio::sync::Mutex;

use crate::client::{ClientSettings, Connection, MplusClient, MplusError};
use crate::config::{Entities, IntegrationConfig, SalesSettings, SkuSource};
use crate::soap::requests::{ORDERS_BY_EXT_IDS_MAX, ProductQuery};
use crate::soap::types::{Article, Order, TurnoverGroup, VatGroup, VatScale};
use crate::store::{self, connection_row};

pub use ferry_platform::connector::{ConfigSource, ConnectionSource};

/// Everything about one integration's installation.
#[derive(Debug, Clone)]
pub struct IntegrationSettings {
    /// The integration.
    pub id: IntegrationId,
    /// Endpoint and credentials.
    pub connection: Connection,
    /// Branch for stock and orders.
    pub branch: i32,
    /// Workplace for orders.
    pub workplace: Option<i32>,
    /// Which article field is the SKU.
    pub sku_source: SkuSource,
    /// Currency of the installation's amounts.
    pub currency: CurrencyCode,
    /// Turnover group of new articles.
    pub default_turnover_group: Option<i32>,
    /// VAT code of new articles whose rate matches no group.
    pub default_vat_code: Option<i32>,
    /// Entity types observed.
    pub observe: Entities,
    /// Sales read and sales without a customer.
    pub sales: SalesSettings,
}

impl From<&IntegrationConfig> for IntegrationSettings {
    fn from(c: &IntegrationConfig) -> Self {
        Self {
            id: c.integration_id,
            connection: Connection {
                endpoint: c.endpoint.clone(),
                ident: c.ident.clone(),
                secret: c.secret.clone(),
            },
            branch: c.branch,
            workplace: c.workplace,
            sku_source: c.sku_source,
            currency: c.currency(),
            default_turnover_group: c.default_turnover_group,
            default_vat_code: c.default_vat_code,
            observe: c.observe,
            sales: c.orders,
        }
    }
}

impl FromConfig<IntegrationConfig> for IntegrationSettings {
    fn from_config(
        config: &IntegrationConfig,
    ) -> Result<Self, ferry_platform::service::ServiceError> {
        Ok(Self::from(config))
    }
}

/// One served integration: its settings, its client and cached reference data.
#[derive(Debug)]
pub struct Integration {
    /// Settings.
    pub settings: IntegrationSettings,
    /// The SOAP client.
    pub client: MplusClient,
    vat: Mutex<Option<(Vec<VatGroup>, VatScale)>>,
    /// The installation's turnover groups and when they were read.
    turnover_groups: Mutex<Option<(std::time::Instant, Vec<TurnoverGroup>)>>,
    /// `order.find`s in flight at once share one `getOrdersByExtOrderIds`.
    order_lookups: Coalescer<String, Order, MplusError>,
    /// Article lookups by SKU in flight at once share one `getProducts`.
    article_lookups: Coalescer<String, (i64, Article), MplusError>,
}

impl Served for Integration {
    fn id(&self) -> IntegrationId {
        Integration::id(self)
    }
}

impl Integration {
    /// The integration id.
    pub fn id(&self) -> IntegrationId {
        self.settings.id
    }

    /// The id as stored in the tables.
    pub fn key(&self) -> String {
        self.settings.id.to_string()
    }

    /// The installation's VAT groups and percentage scale (read once, then cached).
    pub async fn vat(&self) -> Result<(Vec<VatGroup>, VatScale), MplusError> {
        let mut cached = self.vat.lock().await;
        if let Some(v) = cached.as_ref() {
            return Ok(v.clone());
        }
        let fresh = self.client.vat_groups().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// The installation's turnover groups: read once, and again when `fresh_for` has passed
    /// since (a group added in the back office is then found).
    pub async fn turnover_groups(
        &self,
        fresh_for: std::time::Duration,
    ) -> Result<Vec<TurnoverGroup>, MplusError> {
        let mut cached = self.turnover_groups.lock().await;
        if let Some((read, groups)) = cached.as_ref()
            && read.elapsed() < fresh_for
        {
            return Ok(groups.clone());
        }
        let groups = self.client.turnover_groups().await?;
        *cached = Some((std::time::Instant::now(), groups.clone()));
        Ok(groups)
    }

    /// The turnover group booking to revenue account `account` (its `accountNumber`); a miss
    /// reads the groups again unless that was done in the last minute.
    pub async fn turnover_group_of_account(
        &self,
        account: i32,
    ) -> Result<Result<i32, Vec<TurnoverGroup>>, MplusError> {
        let find = |groups: &[TurnoverGroup]| {
            groups
                .iter()
                .find(|g| g.account_number == Some(account))
                .map(|g| g.number)
        };
        let groups = self.turnover_groups(TURNOVER_GROUPS_FRESH).await?;
        if let Some(number) = find(&groups) {
            return Ok(Ok(number));
        }
        let groups = self.turnover_groups(TURNOVER_GROUPS_REREAD).await?;
        Ok(find(&groups).ok_or(groups))
    }

    /// The order with `ext_order_id`, if MplusKASSA has one: asked together with the other
    /// lookups in flight (one `getOrdersByExtOrderIds` for all of them).
    pub async fn find_order(&self, ext_order_id: &str) -> Result<Option<Order>, MplusError> {
        self.order_lookups
            .load(ext_order_id.to_owned(), |ids| async move {
                self.client.orders_by_ext_ids(&ids).await
            })
            .await
    }

    /// The articles with `skus` (by the integration's SKU source) and their product numbers,
    /// by SKU: asked together with the other article lookups in flight (one `getProducts`).
    pub async fn articles(
        &self,
        skus: Vec<String>,
    ) -> Result<HashMap<String, (i64, Article)>, MplusError> {
        let source = self.settings.sku_source;
        self.article_lookups
            .load_many(skus, |skus| async move {
                let mut found = HashMap::new();
                for chunk in skus.chunks(ARTICLES_PER_CALL) {
                    let mut query = ProductQuery {
                        include_all_articles: true,
                        ..ProductQuery::default()
                    };
                    match source {
                        SkuSource::PluNumber => query.plu_numbers = chunk.to_vec(),
                        SkuSource::ArticleNumber => {
                            query.article_numbers =
                                chunk.iter().filter_map(|s| s.parse().ok()).collect();
                            if query.article_numbers.is_empty() {
                                continue;
                            }
                        }
                    }
                    for (p, _) in self
                        .client
                        .products(&query)
                        .await?
                        .into_iter()
                        .filter_map(crate::client::Listed::ok)
                    {
                        for a in p.articles {
                            if let Ok(sku) = crate::convert::article_sku(source, &a)
                                && chunk.iter().any(|s| s == sku.as_str())
                            {
                                found.insert(sku.to_string(), (p.product_number, a));
                            }
                        }
                    }
                }
                Ok(found)
            })
            .await
    }
}

/// How long turnover groups are used without reading them again.
pub const TURNOVER_GROUPS_FRESH: std::time::Duration = std::time::Duration::from_secs(600);

/// The shortest time between two reads of the turnover groups because an account was missing.
const TURNOVER_GROUPS_REREAD: std::time::Duration = std::time::Duration::from_secs(60);

/// Most SKUs one article lookup (`getProducts`) asks for.
const ARTICLES_PER_CALL: usize = 200;

/// The registry of served integrations. Clones share it.
#[derive(Clone)]
pub struct Integrations {
    db: DatabaseConnection,
    client: ClientSettings,
    served: Arc<connector::Integrations<Integration>>,
}

impl Integrations {
    /// An empty registry storing settings in `db`.
    pub fn new(db: DatabaseConnection, client: ClientSettings) -> Self {
        Self {
            db,
            client,
            served: Arc::default(),
        }
    }

    /// Loads every integration of `source`.
    pub async fn load(
        &self,
        source: &dyn ConnectionSource<IntegrationSettings>,
    ) -> Result<(), ferry_platform::service::ServiceError> {
        for settings in source.connections().await? {
            self.upsert(settings).await?;
        }
        Ok(())
    }

    /// Adds or replaces an integration (and stores its non-secret settings).
    pub async fn upsert(
        &self,
        settings: IntegrationSettings,
    ) -> Result<Arc<Integration>, ferry_platform::service::ServiceError> {
        let client = MplusClient::new(&settings.connection, self.client.clone())?;
        store::save_connection(
            &self.db,
            connection_row::Model {
                integration_id: settings.id.to_string(),
                endpoint: settings.connection.endpoint.clone(),
                ident: settings.connection.ident.clone(),
                branch: settings.branch,
                workplace: settings.workplace,
                sku_source: match settings.sku_source {
                    SkuSource::PluNumber => "plu_number".into(),
                    SkuSource::ArticleNumber => "article_number".into(),
                },
                updated_at: Utc::now(),
            },
        )
        .await?;
        let integration = Arc::new(Integration {
            settings,
            client,
            vat: Mutex::new(None),
            turnover_groups: Mutex::new(None),
            order_lookups: Coalescer::new(ORDERS_BY_EXT_IDS_MAX),
            article_lookups: Coalescer::new(ARTICLES_PER_CALL),
        });
        self.served.insert(integration.clone());
        tracing::info!(integration = %integration.id(), endpoint = integration.client.endpoint(), "MplusKASSA integration loaded");
        Ok(integration)
    }

    /// Stops serving an integration; with `erase`, forgets its cursors and cross-references.
    pub async fn remove(
        &self,
        id: IntegrationId,
        erase: bool,
    ) -> Result<(), ferry_platform::service::ServiceError> {
        self.served.stop_serving(id);
        if erase {
            store::forget_integration(&self.db, &id.to_string()).await?;
        }
        Ok(())
    }

    /// Client settings new integrations get (with the deployment's egress guard).
    pub fn client_settings(&self) -> ClientSettings {
        self.client.clone()
    }
}

/// The served integrations: `get`, `all`, `active`, `is_active`, `set_active`.
impl Deref for Integrations {
    type Target = connector::Integrations<Integration>;

    fn deref(&self) -> &Self::Target {
        &self.served
    }
}
