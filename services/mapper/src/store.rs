//! The mapper's tables: settings and mappings per integration, versioned.
//!
//! `mapper_config_versions` keeps every version of every document: (integration id, kind,
//! version) is the key, `kind` is `settings` or `mappings`, the newest version is the current
//! one. A save names the version it was based on; when another save came first, it is a
//! conflict rather than a lost update. Rows are keyed by integration id only, so an
//! integration registry can sit beside them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ferry_proto::IntegrationId;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Index;
use sea_orm::{QueryOrder, QuerySelect, Schema, Set, SqlErr};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// Which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// [`crate::settings::Settings`].
    Settings,
    /// [`crate::rules::Mappings`].
    Mappings,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Settings => "settings",
            Kind::Mappings => "mappings",
        }
    }
}

/// The table.
pub mod config_version {
    use super::*;

    /// One version of one document.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mapper_config_versions")]
    pub struct Model {
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// `settings` or `mappings`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        /// 1, 2, 3, ...
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        /// The document.
        pub document: Json,
        /// Who saved it (the admin token's name).
        pub changed_by: String,
        /// When.
        pub changed_at: DateTime<Utc>,
        /// Why, if they said.
        pub comment: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `mapper_config_versions`.
pub struct CreateConfigVersions;

impl MigrationName for CreateConfigVersions {
    fn name(&self) -> &str {
        "m20261124_000001_mapper_config_versions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateConfigVersions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(config_version::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("mapper_config_versions_changed_at")
                    .table(config_version::Entity)
                    .col(config_version::Column::ChangedAt)
                    .to_owned(),
            )
            .await
    }
}

/// A stored version.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Version<T> {
    /// Version number (0: nothing saved yet, the defaults apply).
    pub version: i64,
    /// Who saved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// When.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The document.
    pub document: T,
}

/// Why a save failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else saved first.
    #[error("version {current} is current, the change was based on version {expected}")]
    Conflict {
        /// The version the change was based on.
        expected: i64,
        /// The current version.
        current: i64,
    },
    /// A stored document no longer reads as its type.
    #[error("stored {kind} version {version} of integration {integration} is unreadable: {reason}")]
    Corrupt {
        /// The integration.
        integration: IntegrationId,
        /// Which document.
        kind: &'static str,
        /// Its version.
        version: i64,
        /// Why.
        reason: String,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

fn decode<T: DeserializeOwned>(
    integration: IntegrationId,
    kind: Kind,
    row: config_version::Model,
) -> Result<Version<T>, StoreError> {
    let document = serde_json::from_value(row.document).map_err(|e| StoreError::Corrupt {
        integration,
        kind: kind.as_str(),
        version: row.version,
        reason: e.to_string(),
    })?;
    Ok(Version {
        version: row.version,
        changed_by: Some(row.changed_by),
        changed_at: Some(row.changed_at),
        comment: row.comment,
        document,
    })
}

/// The current version of a document, or version 0 with `T::default()`.
pub async fn current<T: DeserializeOwned + Default, C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
    kind: Kind,
) -> Result<Version<T>, StoreError> {
    let row = config_version::Entity::find()
        .filter(config_version::Column::IntegrationId.eq(integration.as_uuid()))
        .filter(config_version::Column::Kind.eq(kind.as_str()))
        .order_by_desc(config_version::Column::Version)
        .one(db)
        .await?;
    match row {
        Some(row) => decode(integration, kind, row),
        None => Ok(Version {
            version: 0,
            changed_by: None,
            changed_at: None,
            comment: None,
            document: T::default(),
        }),
    }
}

/// The current version numbers of settings and mappings (0 when never saved).
pub async fn current_versions<C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
) -> Result<(i64, i64), StoreError> {
    let found = current_versions_of_many(db, &[integration]).await?;
    Ok(found.get(&integration).copied().unwrap_or_default())
}

/// [`current_versions`] of several integrations in one query; those without any saved
/// version are left out (their versions are `(0, 0)`).
pub async fn current_versions_of_many<C: ConnectionTrait>(
    db: &C,
    integrations: &[IntegrationId],
) -> Result<HashMap<IntegrationId, (i64, i64)>, StoreError> {
    let rows: Vec<(Uuid, String, Option<i64>)> = config_version::Entity::find()
        .select_only()
        .column(config_version::Column::IntegrationId)
        .column(config_version::Column::Kind)
        .column_as(config_version::Column::Version.max(), "version")
        .filter(
            config_version::Column::IntegrationId
                .is_in(integrations.iter().map(IntegrationId::as_uuid)),
        )
        .group_by(config_version::Column::IntegrationId)
        .group_by(config_version::Column::Kind)
        .into_tuple()
        .all(db)
        .await?;
    let mut found: HashMap<IntegrationId, (i64, i64)> = HashMap::new();
    for (integration, kind, version) in rows {
        let Ok(integration) = IntegrationId::from_uuid(integration) else {
            continue;
        };
        let versions = found.entry(integration).or_default();
        let version = version.unwrap_or(0);
        if kind == Kind::Settings.as_str() {
            versions.0 = version;
        } else if kind == Kind::Mappings.as_str() {
            versions.1 = version;
        }
    }
    Ok(found)
}

/// Every version, newest first (at most `limit`).
pub async fn history<T: DeserializeOwned, C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
    kind: Kind,
    limit: u64,
) -> Result<Vec<Version<T>>, StoreError> {
    let rows = config_version::Entity::find()
        .filter(config_version::Column::IntegrationId.eq(integration.as_uuid()))
        .filter(config_version::Column::Kind.eq(kind.as_str()))
        .order_by_desc(config_version::Column::Version)
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|r| decode(integration, kind, r))
        .collect()
}

/// Saves a new version based on `expected` (the version the editor saw; `None`: whatever is
/// current). Returns the new version number.
pub async fn save<T: Serialize, C: ConnectionTrait>(
    db: &C,
    integration: IntegrationId,
    kind: Kind,
    document: &T,
    changed_by: &str,
    comment: Option<String>,
    expected: Option<i64>,
) -> Result<i64, StoreError> {
    let (settings, mappings) = current_versions(db, integration).await?;
    let current = match kind {
        Kind::Settings => settings,
        Kind::Mappings => mappings,
    };
    if let Some(expected) = expected
        && expected != current
    {
        return Err(StoreError::Conflict { expected, current });
    }
    let version = current + 1;
    let document = serde_json::to_value(document).map_err(|e| DbErr::Custom(e.to_string()))?;
    let row = config_version::ActiveModel {
        integration_id: Set(integration.as_uuid()),
        kind: Set(kind.as_str().to_owned()),
        version: Set(version),
        document: Set(document),
        changed_by: Set(changed_by.to_owned()),
        changed_at: Set(Utc::now()),
        comment: Set(comment),
    };
    match config_version::Entity::insert(row)
        .exec_without_returning(db)
        .await
    {
        Ok(_) => Ok(version),
        // Another save took this version number between our read and our insert.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(StoreError::Conflict {
                expected: expected.unwrap_or(current),
                current: version,
            })
        }
        Err(e) => Err(e.into()),
    }
}
