//! The connector's tables (all prefixed `mailchimp_`, keyed by integration id):
//!
//! | table | key | holds |
//! | --- | --- | --- |
//! | `mailchimp_connections` | integration | store id, list id, base URL override, limits, resources (never the API key or webhook secret: those stay in memory, see [`crate::integrations`]) |
//! | `mailchimp_cursors` | integration, resource | the poll watermark and the progress of the last full sync |
//!
//! Cross-references (MailChimp id <-> canonical key, with the fingerprint of the last version
//! published) are the connector kit's `connector_xrefs` ([`XREFS`]). The fingerprint (the
//! record's `updated_at`/`last_changed`) makes ingestion exactly-once per version: a record is published only when its fingerprint differs, and the new fingerprint
//! is written in the same transaction as the outbox rows of its events.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ferry_platform::connector::{Xref, Xrefs};
use ferry_proto::{IntegrationId, System};
use sea_orm::Schema;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Index, OnConflict};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};

/// This connector's cross-references (the kit's table `connector_xrefs`; the external id is
/// the MailChimp id, `product_id/variant_id` for variants).
pub const XREFS: Xrefs = Xrefs::new(System::Mailchimp);

/// Kinds of cross-references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XrefKind {
    /// E-commerce customer id <-> e-mail.
    Customer,
    /// Audience member (subscriber hash) <-> e-mail.
    Member,
    /// Product id <-> product SKU.
    Product,
    /// `product_id/variant_id` <-> variant SKU.
    Variant,
    /// Order id <-> external order id.
    Order,
    /// Category key <-> product `type` (MailChimp has no categories).
    Category,
}

impl XrefKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Member => "member",
            Self::Product => "product",
            Self::Variant => "variant",
            Self::Order => "order",
            Self::Category => "category",
        }
    }
}

/// `mailchimp_connections`.
pub mod connection {
    use super::*;

    /// One integration's connection settings (no secrets).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mailchimp_connections")]
    pub struct Model {
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// The e-commerce store.
        pub store_id: String,
        /// The audience.
        pub list_id: String,
        /// Base URL override.
        pub base_url: Option<String>,
        /// The key's data center.
        pub data_center: String,
        /// Simultaneous calls for the account.
        pub concurrency: i32,
        /// Resources read, as a JSON array of names.
        pub resources: Json,
        /// When the settings were last loaded.
        pub updated_at: DateTime<Utc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `mailchimp_cursors`.
pub mod cursor {
    use super::*;

    /// Poll position and full-sync progress of one resource of one integration.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mailchimp_cursors")]
    pub struct Model {
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// `members`, `customers`, `products`, `orders`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub resource: String,
        /// Records changed since this instant are read by the next poll (`None`: never
        /// synced; the next sync is a full one).
        pub watermark: Option<DateTime<Utc>>,
        /// When the last poll completed.
        pub last_poll_at: Option<DateTime<Utc>>,
        /// `idle`, `running`, `done` or `failed`.
        pub sync_state: String,
        /// `full` or `incremental`.
        pub sync_mode: String,
        /// Records the running (or last) sync has to read.
        pub sync_total: i64,
        /// Records it has read.
        pub sync_done: i64,
        /// Records it published.
        pub sync_published: i64,
        /// Records it parked as invalid.
        pub sync_rejected: i64,
        /// When it started.
        pub sync_started_at: Option<DateTime<Utc>>,
        /// When it ended.
        pub sync_finished_at: Option<DateTime<Utc>>,
        /// Why it failed.
        pub last_error: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Legacy: the previous release's `mailchimp_xrefs`, moved into the kit's `connector_xrefs`
/// by [`MoveXrefsToKit`]; the table stays (empty) for one release.
pub mod xref {
    use super::*;

    /// One MailChimp record and its canonical key.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mailchimp_xrefs")]
    pub struct Model {
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// See [`XrefKind`].
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        /// The record's id in MailChimp.
        #[sea_orm(primary_key, auto_increment = false)]
        pub mailchimp_id: String,
        /// The canonical key; `None` for a record that could not be parsed.
        pub canonical_key: Option<String>,
        /// The version last published (or parked).
        pub fingerprint: Option<String>,
        /// When the row changed.
        pub updated_at: DateTime<Utc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates the three tables.
pub struct CreateTables;

impl MigrationName for CreateTables {
    fn name(&self) -> &str {
        "m20261124_000001_mailchimp_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(connection::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                schema
                    .create_table_from_entity(cursor::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                schema
                    .create_table_from_entity(xref::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("mailchimp_xrefs_canonical_key")
                    .table(xref::Entity)
                    .col(xref::Column::IntegrationId)
                    .col(xref::Column::Kind)
                    .col(xref::Column::CanonicalKey)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            xref::Entity.table_name(),
            cursor::Entity.table_name(),
            connection::Entity.table_name(),
        ] {
            manager
                .get_connection()
                .execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}

/// The cursor of one resource.
pub async fn cursor<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
    resource: &str,
) -> Result<Option<cursor::Model>, DbErr> {
    cursor::Entity::find_by_id((integration.as_uuid(), resource.to_owned()))
        .one(db)
        .await
}

/// Every cursor of an integration.
pub async fn cursors<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
) -> Result<Vec<cursor::Model>, DbErr> {
    use sea_orm::QueryOrder;
    cursor::Entity::find()
        .filter(cursor::Column::IntegrationId.eq(integration.as_uuid()))
        .order_by_asc(cursor::Column::Resource)
        .all(db)
        .await
}

/// Writes a cursor (insert or replace).
pub async fn save_cursor<C: ConnectionTrait>(db: &C, model: cursor::Model) -> Result<(), DbErr> {
    let active: cursor::ActiveModel = model.into();
    cursor::Entity::insert(active.reset_all())
        .on_conflict(
            OnConflict::columns([cursor::Column::IntegrationId, cursor::Column::Resource])
                .update_columns([
                    cursor::Column::Watermark,
                    cursor::Column::LastPollAt,
                    cursor::Column::SyncState,
                    cursor::Column::SyncMode,
                    cursor::Column::SyncTotal,
                    cursor::Column::SyncDone,
                    cursor::Column::SyncPublished,
                    cursor::Column::SyncRejected,
                    cursor::Column::SyncStartedAt,
                    cursor::Column::SyncFinishedAt,
                    cursor::Column::LastError,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes an integration's connection settings.
pub async fn save_connection<C: ConnectionTrait>(
    db: &C,
    model: connection::Model,
) -> Result<(), DbErr> {
    let active: connection::ActiveModel = model.into();
    connection::Entity::insert(active.reset_all())
        .on_conflict(
            OnConflict::column(connection::Column::IntegrationId)
                .update_columns([
                    connection::Column::StoreId,
                    connection::Column::ListId,
                    connection::Column::BaseUrl,
                    connection::Column::DataCenter,
                    connection::Column::Concurrency,
                    connection::Column::Resources,
                    connection::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Forgets an integration (deleted from the registry): its connection settings, cursors and
/// cross-references (which hold e-mail addresses).
pub async fn forget_integration<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
) -> Result<(), DbErr> {
    let id = integration.as_uuid();
    XREFS.forget(db, integration).await?;
    cursor::Entity::delete_many()
        .filter(cursor::Column::IntegrationId.eq(id))
        .exec(db)
        .await?;
    connection::Entity::delete_many()
        .filter(connection::Column::IntegrationId.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves the previous release's cross-references into the kit's `connector_xrefs` (and
/// empties `mailchimp_xrefs`, which stays for one release).
pub struct MoveXrefsToKit;

impl MigrationName for MoveXrefsToKit {
    fn name(&self) -> &str {
        "m20261206_000002_mailchimp_xrefs_to_kit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MoveXrefsToKit {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let kinds = [
            XrefKind::Customer,
            XrefKind::Member,
            XrefKind::Product,
            XrefKind::Variant,
            XrefKind::Order,
            XrefKind::Category,
        ];
        let mut by_integration: HashMap<IntegrationId, Vec<Xref>> = HashMap::new();
        for row in xref::Entity::find().all(db).await? {
            let Some(kind) = kinds.iter().find(|k| k.as_str() == row.kind) else {
                continue;
            };
            let Ok(integration) = IntegrationId::from_uuid(row.integration_id) else {
                continue;
            };
            by_integration.entry(integration).or_default().push(Xref {
                kind: kind.as_str(),
                external_id: row.mailchimp_id,
                canonical_key: row.canonical_key,
                fingerprint: row.fingerprint,
            });
        }
        for (integration, xrefs) in by_integration {
            XREFS.put(db, integration, &xrefs).await?;
        }
        xref::Entity::delete_many().exec(db).await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
