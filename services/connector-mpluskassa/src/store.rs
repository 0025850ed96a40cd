//! The service's table: the (non-secret) connection settings of each integration.
//!
//! | table | key | what |
//! | --- | --- | --- |
//! | `mpluskassa_connections` | integration | endpoint, ident, branch, SKU source (never the secret) |
//!
//! The rest is the connector kit's:
//!
//! | table | key | what |
//! | --- | --- | --- |
//! | `connector_xrefs` ([`XREFS`], kinds in [`kind`]) | system, integration, kind, id | e-mail -> relation number, SKU -> article number, extOrderId -> orderId, category key -> group number |
//! | `connector_leases` | system, integration, record | who executes a command on a record now |
//! | `connector_cursors` ([`CURSORS`]) | system, integration, entity | highest sync marker (or stockId) whose events are committed, with the records and parked records committed so far |
//! | `connector_runs` ([`CURSORS`]) | system, integration, entity | the running or last pass that had something to read: state, markers (start, committed, target), counts, recent samples (rate and time left), so that any replica answers the admin API |
//!
//! The legacy tables `mpluskassa_xrefs`, `mpluskassa_locks`, `mpluskassa_cursors` and
//! `mpluskassa_progress` stay, empty, for one release.

use chrono::Utc;
use ferry_platform::connector::cursors::{cursor_row as kit_cursor, run_row};
use ferry_platform::connector::tables::{create_index, create_tables, drop_tables, replace};
use ferry_platform::connector::{Cursors, Xref, Xrefs};
use ferry_proto::{IntegrationId, System};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Schema};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use serde::Serialize;

/// Legacy: the previous release's cursors, moved into the kit's `connector_cursors` by
/// [`MoveCursorsToKit`]; the table stays (empty) for one release.
pub mod cursor_row {
    use sea_orm::entity::prelude::*;

    /// One cursor.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mpluskassa_cursors")]
    pub struct Model {
        /// Integration id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: String,
        /// Entity (`relations`, `products`, `article_groups`, `stock`, `orders`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub entity: String,
        /// Highest marker whose records are committed (published through the outbox).
        pub marker: i64,
        /// Records observed in total.
        pub records: i64,
        /// Records parked as invalid in total.
        pub parked: i64,
        /// Last advance.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Legacy: the previous release's passes, moved into the kit's `connector_runs` by
/// [`MoveCursorsToKit`]; the table stays (empty) for one release.
pub mod progress_row {
    use sea_orm::entity::prelude::*;

    /// One entity's pass.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mpluskassa_progress")]
    pub struct Model {
        /// Integration id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: String,
        /// Entity ([`super::SyncEntity::as_str`]).
        #[sea_orm(primary_key, auto_increment = false)]
        pub entity: String,
        /// `running`, `done` or `failed`.
        pub state: String,
        /// The pass started from cursor 0 (a full sync).
        pub full_sync: bool,
        /// The cursor the pass started from.
        pub start_marker: i64,
        /// The committed cursor.
        pub marker: i64,
        /// The installation's marker when the pass started.
        pub target: i64,
        /// Records observed by the pass.
        pub observed: i64,
        /// Records parked by the pass.
        pub parked: i64,
        /// Records skipped by the pass.
        pub skipped: i64,
        /// When it started.
        pub started_at: Option<DateTimeUtc>,
        /// When it ended.
        pub finished_at: Option<DateTimeUtc>,
        /// Why it failed.
        #[sea_orm(column_type = "Text", nullable)]
        pub last_error: Option<String>,
        /// Recent samples (`ferry_platform::connector::progress::Samples` as JSON).
        #[sea_orm(nullable)]
        pub samples: Option<Json>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Legacy: the cross-references of the previous release, moved into the kit's
/// `connector_xrefs` by [`MoveXrefsToKit`]; the table stays (empty) for one release.
pub mod xref_row {
    use sea_orm::entity::prelude::*;

    /// One cross-reference.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mpluskassa_xrefs")]
    pub struct Model {
        /// Integration id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: String,
        /// Kind (see [`super::kind`]).
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        /// Canonical key (e-mail, SKU, external order id, category key).
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// The MplusKASSA id.
        pub target_id: String,
        /// Last write.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Connection settings (without secrets).
pub mod connection_row {
    use sea_orm::entity::prelude::*;

    /// One integration's installation.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mpluskassa_connections")]
    pub struct Model {
        /// Integration id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: String,
        /// SOAP endpoint.
        pub endpoint: String,
        /// `ident` credential (not secret; the secret is never stored here).
        pub ident: String,
        /// Branch.
        pub branch: i32,
        /// Workplace.
        pub workplace: Option<i32>,
        /// `plu_number` or `article_number`.
        pub sku_source: String,
        /// Last change.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The entity types with a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncEntity {
    /// Relations (sync marker).
    Relations,
    /// Products and their articles (sync marker).
    Products,
    /// Article groups (sync marker).
    ArticleGroups,
    /// Stock (stockId).
    Stock,
    /// Orders (sync marker).
    Orders,
    /// Invoices: till and back-office sales (sync marker).
    Invoices,
}

impl SyncEntity {
    /// All, in the order a pass runs them (categories before the products that refer to them).
    pub const ALL: [SyncEntity; 6] = [
        SyncEntity::ArticleGroups,
        SyncEntity::Products,
        SyncEntity::Stock,
        SyncEntity::Relations,
        SyncEntity::Orders,
        SyncEntity::Invoices,
    ];

    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Relations => "relations",
            Self::Products => "products",
            Self::ArticleGroups => "article_groups",
            Self::Stock => "stock",
            Self::Orders => "orders",
            Self::Invoices => "invoices",
        }
    }

    /// Parses [`SyncEntity::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// Legacy: the leases of the previous release (now the kit's `connector_leases`); the table
/// stays for one release so that release can still run on this schema.
pub mod lock_row {
    use sea_orm::entity::prelude::*;

    /// One held lease.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mpluskassa_locks")]
    pub struct Model {
        /// Integration id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: String,
        /// The record (`customer:a@b.nl`, `order:WEB-1`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// Who holds it.
        pub holder: Uuid,
        /// When the lease ends if it is not released (a crashed holder).
        pub expires_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Kinds of cross-reference (the kit's `connector_xrefs.kind`).
pub mod kind {
    /// E-mail (lower case) -> relation number.
    pub const RELATION: &str = "relation";
    /// SKU -> article number.
    pub const ARTICLE: &str = "article";
    /// External order id -> orderId.
    pub const ORDER: &str = "order";
    /// Category key -> article group number.
    pub const CATEGORY: &str = "category";
}

/// This connector's cross-references (the kit's table).
pub const XREFS: Xrefs = Xrefs::new(System::Mpluskassa);

/// This connector's cursors and passes (the kit's tables `connector_cursors` and
/// `connector_runs`; the resource is [`SyncEntity::as_str`]).
pub const CURSORS: Cursors = Cursors::new(System::Mpluskassa);

/// A cursor as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Cursor {
    /// The entity.
    pub entity: String,
    /// Highest marker committed.
    pub marker: i64,
    /// Records observed in total.
    pub records: i64,
    /// Records parked as invalid in total.
    pub parked: i64,
    /// Last advance.
    pub updated_at: chrono::DateTime<Utc>,
}

/// Every cursor of an integration, as the admin API shows them.
pub async fn cursors<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
) -> Result<Vec<Cursor>, DbErr> {
    Ok(CURSORS
        .all(db, integration)
        .await?
        .into_iter()
        .map(|r| Cursor {
            entity: r.resource,
            marker: r.marker,
            records: r.records,
            parked: r.parked,
            updated_at: r.updated_at,
        })
        .collect())
}

/// Stores an integration's (non-secret) connection settings.
pub async fn save_connection<C: ConnectionTrait>(
    db: &C,
    row: connection_row::Model,
) -> Result<(), DbErr> {
    replace(db, connection_row::ActiveModel::from(row)).await
}

/// Forgets an integration: its connection, cursors, passes and cross-references.
pub async fn forget_integration<C: ConnectionTrait>(
    db: &C,
    integration: &str,
) -> Result<(), DbErr> {
    connection_row::Entity::delete_many()
        .filter(connection_row::Column::IntegrationId.eq(integration))
        .exec(db)
        .await?;
    if let Ok(id) = IntegrationId::parse(integration) {
        CURSORS.forget(db, id).await?;
        XREFS.forget(db, id).await?;
    }
    Ok(())
}

/// Creates the three tables.
pub struct CreateTables;

impl MigrationName for CreateTables {
    fn name(&self) -> &str {
        "m20261124_000001_connector_mpluskassa_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        create_tables(
            manager,
            [
                schema.create_table_from_entity(cursor_row::Entity),
                schema.create_table_from_entity(xref_row::Entity),
                schema.create_table_from_entity(connection_row::Entity),
                schema.create_table_from_entity(lock_row::Entity),
            ],
        )
        .await?;
        create_index(
            manager,
            "mpluskassa_xrefs_target",
            xref_row::Entity,
            [
                xref_row::Column::IntegrationId,
                xref_row::Column::Kind,
                xref_row::Column::TargetId,
            ],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "mpluskassa_locks",
                "mpluskassa_connections",
                "mpluskassa_xrefs",
                "mpluskassa_cursors",
            ],
        )
        .await
    }
}

/// Creates `mpluskassa_progress` (issue 16: progress any replica can answer).
pub struct CreateProgressTable;

impl MigrationName for CreateProgressTable {
    fn name(&self) -> &str {
        "m20261207_000001_mpluskassa_progress"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProgressTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        create_tables(
            manager,
            [schema.create_table_from_entity(progress_row::Entity)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["mpluskassa_progress"]).await
    }
}

/// Moves the previous release's cross-references into the kit's `connector_xrefs` (and
/// empties `mpluskassa_xrefs`, which stays for one release).
pub struct MoveXrefsToKit;

impl MigrationName for MoveXrefsToKit {
    fn name(&self) -> &str {
        "m20261206_000002_mpluskassa_xrefs_to_kit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MoveXrefsToKit {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let rows = xref_row::Entity::find().all(db).await?;
        let mut by_integration: std::collections::BTreeMap<String, Vec<Xref>> =
            std::collections::BTreeMap::new();
        for row in rows {
            let kind = match row.kind.as_str() {
                "relation" => kind::RELATION,
                "article" => kind::ARTICLE,
                "order" => kind::ORDER,
                "category" => kind::CATEGORY,
                _ => continue,
            };
            by_integration
                .entry(row.integration_id)
                .or_default()
                .push(Xref::new(kind, row.key, row.target_id));
        }
        for (integration, xrefs) in by_integration {
            let Ok(id) = IntegrationId::parse(&integration) else {
                continue;
            };
            XREFS.put(db, id, &xrefs).await?;
        }
        xref_row::Entity::delete_many().exec(db).await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// Moves the previous release's cursors and passes into the kit's `connector_cursors` and
/// `connector_runs` (and empties `mpluskassa_cursors` and `mpluskassa_progress`, which stay
/// for one release); run again, it finds nothing to move.
pub struct MoveCursorsToKit;

impl MigrationName for MoveCursorsToKit {
    fn name(&self) -> &str {
        "m20261208_000002_mpluskassa_cursors_to_kit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MoveCursorsToKit {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let mut cursors = Vec::new();
        for row in cursor_row::Entity::find().all(db).await? {
            let Ok(id) = IntegrationId::parse(&row.integration_id) else {
                continue;
            };
            cursors.push(kit_cursor::Model {
                marker: row.marker,
                records: row.records,
                parked: row.parked,
                updated_at: row.updated_at,
                ..CURSORS.unmoved(id, &row.entity)
            });
        }
        let mut runs = Vec::new();
        for row in progress_row::Entity::find().all(db).await? {
            let Ok(id) = IntegrationId::parse(&row.integration_id) else {
                continue;
            };
            let mode = if row.full_sync { "full" } else { "incremental" };
            runs.push(run_row::Model {
                state: row.state,
                published: row.observed,
                parked: row.parked,
                skipped: row.skipped,
                position: row.marker,
                started_at: row.started_at,
                finished_at: row.finished_at,
                last_error: row.last_error,
                samples: row.samples,
                ..CURSORS.start_run(
                    id,
                    &row.entity,
                    mode,
                    Utc::now(),
                    row.start_marker,
                    Some(row.target),
                )
            });
        }
        CURSORS.put(db, &cursors).await?;
        CURSORS.put_runs(db, &runs).await?;
        cursor_row::Entity::delete_many().exec(db).await?;
        progress_row::Entity::delete_many().exec(db).await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
