//! Upgrading from the release before the connector kit: the cross-references kept in
//! `mpluskassa_xrefs` move into the kit's `connector_xrefs` (found by key and by id as before)
//! and the legacy table is left empty, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use ferry_connector_mpluskassa::store::{self, XREFS, kind, xref_row};
use ferry_connector_mpluskassa::{Migrator, SERVICE};
use ferry_platform::bus::BusMigration;
use ferry_platform::db::{self, testing};
use ferry_proto::IntegrationId;
use sea_orm::{EntityTrait, PaginatorTrait, Set};
use sea_orm_migration::prelude::{DynIden, MigrationTrait, MigratorTrait};

/// The migrations of the release before the kit.
struct Previous;

#[async_trait::async_trait]
impl MigratorTrait for Previous {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(BusMigration),
            Box::new(ferry_platform::registry::MirrorMigration),
            Box::new(store::CreateTables),
        ]
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table(SERVICE)
    }
}

async fn upgrade(config: &ferry_platform::config::DatabaseConfig) {
    let conn = db::connect(config).await.expect("connect");
    db::migrate::<Previous>(&conn)
        .await
        .expect("previous release");
    let integration = IntegrationId::new();
    let legacy = [
        (kind::RELATION, "jan@example.nl", "1001"),
        (kind::ARTICLE, "4000001", "77"),
        (kind::ORDER, "WEB-1", "ord-9"),
    ];
    for (k, key, target) in legacy {
        xref_row::Entity::insert(xref_row::ActiveModel {
            integration_id: Set(integration.to_string()),
            kind: Set(k.to_owned()),
            key: Set(key.to_owned()),
            target_id: Set(target.to_owned()),
            updated_at: Set(Utc::now()),
        })
        .exec_without_returning(&conn)
        .await
        .expect("legacy row");
    }

    db::migrate::<Migrator>(&conn).await.expect("upgrade");

    for (k, key, target) in legacy {
        assert_eq!(
            XREFS
                .id_of(&conn, integration, k, key)
                .await
                .unwrap()
                .as_deref(),
            Some(target),
            "{k} {key}"
        );
        let row = XREFS.by_id(&conn, integration, k, target).await.unwrap();
        assert_eq!(row.and_then(|r| r.canonical_key).as_deref(), Some(key));
    }
    assert_eq!(xref_row::Entity::find().count(&conn).await.unwrap(), 0);
    // Migrating again changes nothing.
    db::migrate::<Migrator>(&conn).await.expect("again");
    assert_eq!(
        XREFS
            .id_of(&conn, integration, kind::RELATION, "jan@example.nl")
            .await
            .unwrap()
            .as_deref(),
        Some("1001")
    );
}

#[tokio::test]
async fn legacy_cross_references_move_into_the_kit_on_sqlite() {
    let db = testing::sqlite_temp();
    upgrade(db.config()).await;
}

#[tokio::test]
async fn legacy_cross_references_move_into_the_kit_on_postgres() {
    let db = testing::postgres_schema().await.expect("schema");
    upgrade(db.config()).await;
}
