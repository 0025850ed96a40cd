//! The connector's tables (all prefixed `mailchimp_`, keyed by integration id):
//!
//! | table | key | holds |
//! | --- | --- | --- |
//! | `mailchimp_connections` | integration | store id, list id, base URL override, limits, resources (never the API key or webhook secret: those stay in memory, see [`crate::integrations`]) |
//! | `mailchimp_seen` | integration, resource, record id | the `updated_at` of the version last read in full (the fast path's change detection) |
//! | `mailchimp_reconciled` | integration, resource | when the last complete full-record pass (full sync or reconciliation) ended |
//!
//! Cross-references (MailChimp id <-> canonical key, with the fingerprint of the last version
//! published) are the connector kit's `connector_xrefs` ([`XREFS`]); each resource's poll
//! watermark (and when the last poll completed) is its `connector_cursors` row, and its running
//! or last sync (counts, total, recent samples: rate and time left) its `connector_runs` row
//! ([`CURSORS`]). The legacy tables `mailchimp_xrefs` and `mailchimp_cursors` stay, empty, for
//! one release.
//!
//! The fingerprint (a digest of the record's content without links, statistics and change
//! times) makes ingestion exactly-once per version: a record is published only when its
//! fingerprint differs, and the new fingerprint is written in the same transaction as the
//! outbox rows of its events (and as its `mailchimp_seen` row).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ferry_platform::connector::cursors::{cursor_row, run_row};
use ferry_platform::connector::tables::{create_index, create_tables, drop_tables, replace};
use ferry_platform::connector::{Cursors, Xref, Xrefs};
use ferry_proto::{IntegrationId, System};
use sea_orm::Schema;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};

/// This connector's cross-references (the kit's table `connector_xrefs`; the external id is
/// the MailChimp id, `product_id/variant_id` for variants).
pub const XREFS: Xrefs = Xrefs::new(System::Mailchimp);

/// This connector's cursors and sync runs (the kit's tables `connector_cursors` and
/// `connector_runs`; the resource is [`crate::Resource::as_str`]).
pub const CURSORS: Cursors = Cursors::new(System::Mailchimp);

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

/// Legacy: the previous release's `mailchimp_cursors`, moved into the kit's `connector_cursors`
/// and `connector_runs` by [`MoveCursorsToKit`]; the table stays (empty) for one release.
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
        /// The sync's recent progress samples (`ferry_platform::connector::progress::Samples`
        /// as JSON), for its rate and time left; `None` before the first sync of this release.
        #[sea_orm(nullable)]
        pub sync_samples: Option<Json>,
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

/// `mailchimp_seen`.
pub mod seen {
    use super::*;

    /// The change time of the version of one e-commerce record last read in full.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mailchimp_seen")]
    pub struct Model {
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// `customers`, `products`, `orders`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub resource: String,
        /// The record's id in MailChimp.
        #[sea_orm(primary_key, auto_increment = false)]
        pub record_id: String,
        /// Its `updated_at`, as MailChimp wrote it.
        pub version: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `mailchimp_reconciled`.
pub mod reconciled {
    use super::*;

    /// When the last complete full-record pass over one resource ended.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mailchimp_reconciled")]
    pub struct Model {
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// `customers`, `products`, `orders`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub resource: String,
        /// When it ended.
        pub at: DateTime<Utc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `mailchimp_seen` and `mailchimp_reconciled` (cheap change detection, issue 16).
pub struct CreateSeenTables;

impl MigrationName for CreateSeenTables {
    fn name(&self) -> &str {
        "m20261206_000003_mailchimp_seen"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateSeenTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        create_tables(
            manager,
            [
                schema.create_table_from_entity(seen::Entity),
                schema.create_table_from_entity(reconciled::Entity),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[seen::Entity.table_name(), reconciled::Entity.table_name()],
        )
        .await
    }
}

/// Adds `mailchimp_cursors.sync_samples` (issue 16: a sync's rate and time left). Nullable:
/// the previous release writes cursors without it.
pub struct AddSyncSamples;

impl MigrationName for AddSyncSamples {
    fn name(&self) -> &str {
        "m20261207_000001_mailchimp_sync_samples"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddSyncSamples {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use sea_orm::sea_query::{ColumnDef, Table};
        if manager
            .has_column(cursor::Entity.table_name(), "sync_samples")
            .await?
        {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(cursor::Entity)
                    .add_column(ColumnDef::new(cursor::Column::SyncSamples).json().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use sea_orm::sea_query::Table;
        manager
            .alter_table(
                Table::alter()
                    .table(cursor::Entity)
                    .drop_column(cursor::Column::SyncSamples)
                    .to_owned(),
            )
            .await
    }
}

/// The versions last read in full of the records `ids` of a resource, by id.
pub async fn seen_versions<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
    resource: &str,
    ids: &[String],
) -> Result<HashMap<String, String>, DbErr> {
    let mut out = HashMap::with_capacity(ids.len());
    // Bounded IN lists (SQLite's variable limit).
    for chunk in ids.chunks(500) {
        let rows = seen::Entity::find()
            .filter(seen::Column::IntegrationId.eq(integration.as_uuid()))
            .filter(seen::Column::Resource.eq(resource))
            .filter(seen::Column::RecordId.is_in(chunk.iter().cloned()))
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|r| (r.record_id, r.version)));
    }
    Ok(out)
}

/// Every version last read in full of a resource, each given to `each` as `(id, version)`
/// (streamed: a store's 100,000 records are not held twice).
pub async fn each_seen<C>(
    db: &C,
    integration: IntegrationId,
    resource: &str,
    mut each: impl FnMut(&str, &str),
) -> Result<(), DbErr>
where
    C: ConnectionTrait + sea_orm::StreamTrait,
{
    use futures::TryStreamExt;
    use sea_orm::QuerySelect;
    let mut rows = seen::Entity::find()
        .select_only()
        .column(seen::Column::RecordId)
        .column(seen::Column::Version)
        .filter(seen::Column::IntegrationId.eq(integration.as_uuid()))
        .filter(seen::Column::Resource.eq(resource))
        .into_tuple::<(String, String)>()
        .stream(db)
        .await?;
    while let Some((id, version)) = rows.try_next().await? {
        each(&id, &version);
    }
    Ok(())
}

/// Records the versions (`(id, updated_at)`) read in full.
pub async fn put_seen<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
    resource: &str,
    versions: &[(String, String)],
) -> Result<(), DbErr> {
    for chunk in versions.chunks(200) {
        let rows = chunk.iter().map(|(id, version)| seen::ActiveModel {
            integration_id: sea_orm::Set(integration.as_uuid()),
            resource: sea_orm::Set(resource.to_owned()),
            record_id: sea_orm::Set(id.clone()),
            version: sea_orm::Set(version.clone()),
        });
        seen::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    seen::Column::IntegrationId,
                    seen::Column::Resource,
                    seen::Column::RecordId,
                ])
                .update_column(seen::Column::Version)
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// When the last full-record pass over a resource ended.
pub async fn reconciled_at<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
    resource: &str,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(
        reconciled::Entity::find_by_id((integration.as_uuid(), resource.to_owned()))
            .one(db)
            .await?
            .map(|r| r.at),
    )
}

/// When the last full-record pass over each resource of `integration` ended, by resource.
pub async fn reconciled<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
) -> Result<HashMap<String, DateTime<Utc>>, DbErr> {
    Ok(reconciled::Entity::find()
        .filter(reconciled::Column::IntegrationId.eq(integration.as_uuid()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.resource, r.at))
        .collect())
}

/// Records the end of a full-record pass.
pub async fn set_reconciled<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
    resource: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = reconciled::Model {
        integration_id: integration.as_uuid(),
        resource: resource.to_owned(),
        at,
    };
    replace(db, reconciled::ActiveModel::from(row)).await
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
        create_tables(
            manager,
            [
                schema.create_table_from_entity(connection::Entity),
                schema.create_table_from_entity(cursor::Entity),
                schema.create_table_from_entity(xref::Entity),
            ],
        )
        .await?;
        create_index(
            manager,
            "mailchimp_xrefs_canonical_key",
            xref::Entity,
            [
                xref::Column::IntegrationId,
                xref::Column::Kind,
                xref::Column::CanonicalKey,
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                xref::Entity.table_name(),
                cursor::Entity.table_name(),
                connection::Entity.table_name(),
            ],
        )
        .await
    }
}

/// Writes an integration's connection settings.
pub async fn save_connection<C: ConnectionTrait>(
    db: &C,
    model: connection::Model,
) -> Result<(), DbErr> {
    replace(db, connection::ActiveModel::from(model)).await
}

/// Forgets an integration (deleted from the registry): its connection settings, cursors, sync
/// runs and cross-references (which hold e-mail addresses).
pub async fn forget_integration<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
) -> Result<(), DbErr> {
    let id = integration.as_uuid();
    XREFS.forget(db, integration).await?;
    seen::Entity::delete_many()
        .filter(seen::Column::IntegrationId.eq(id))
        .exec(db)
        .await?;
    reconciled::Entity::delete_many()
        .filter(reconciled::Column::IntegrationId.eq(id))
        .exec(db)
        .await?;
    CURSORS.forget(db, integration).await?;
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

/// Moves the previous release's `mailchimp_cursors` into the kit's tables: each row's
/// watermark and last poll into `connector_cursors`, its sync into `connector_runs` (records
/// read and neither published nor parked were unchanged: skipped). Empties `mailchimp_cursors`,
/// which stays for one release; run again, it finds nothing to move.
pub struct MoveCursorsToKit;

impl MigrationName for MoveCursorsToKit {
    fn name(&self) -> &str {
        "m20261208_000002_mailchimp_cursors_to_kit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MoveCursorsToKit {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let mut cursors = Vec::new();
        let mut runs = Vec::new();
        for row in cursor::Entity::find().all(db).await? {
            let Ok(integration) = IntegrationId::from_uuid(row.integration_id) else {
                continue;
            };
            cursors.push(cursor_row::Model {
                watermark: row.watermark,
                polled_at: row.last_poll_at,
                ..CURSORS.unmoved(integration, &row.resource)
            });
            runs.push(run_row::Model {
                state: row.sync_state,
                published: row.sync_published,
                parked: row.sync_rejected,
                skipped: (row.sync_done - row.sync_published - row.sync_rejected).max(0),
                total: Some(row.sync_total),
                started_at: row.sync_started_at,
                finished_at: row.sync_finished_at,
                last_error: row.last_error,
                samples: row.sync_samples,
                ..CURSORS.start_run(
                    integration,
                    &row.resource,
                    &row.sync_mode,
                    Utc::now(),
                    0,
                    None,
                )
            });
        }
        CURSORS.put(db, &cursors).await?;
        CURSORS.put_runs(db, &runs).await?;
        cursor::Entity::delete_many().exec(db).await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
